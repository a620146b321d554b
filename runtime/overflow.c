#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "overflow.h"
#include "scheduler.h"
#include "self.h"

#define ALTSTACK_SIZE (64 * 1024)
static struct sigaction g_prev;
/* glibc's exported alias of sigaction, which the shim does not interpose. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);

void blitz_overflow_report(blitz_task *t, const char *how)
{
    char buf[200];
    int n = snprintf(buf, sizeof buf, "blitzshim: stack overflow in thread %llu (stack size %zu bytes, %s)\n",
                     (unsigned long long)t->id, t->stack_request, how);
    if (n > 0 && write(2, buf, (size_t)n) < 0) {
    }
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    /* In task TLS mode the handler runs on the task's thread block: self is the task. */
    blitz_task *t = blitz_self();
    blitz_machine *m = blitz_tls_machine();
    if (!t && m)
        t = atomic_load_explicit(&m->cur, memory_order_relaxed);
    if (t && blitz_stack_in_guard(t->stack, (uintptr_t)si->si_addr)) {
        blitz_overflow_report(t, "guard page hit");
    } else if ((g_prev.sa_flags & SA_SIGINFO) && g_prev.sa_sigaction) {
        g_prev.sa_sigaction(sig, si, uc);
        return;
    } else if (g_prev.sa_handler != SIG_DFL && g_prev.sa_handler != SIG_IGN) {
        g_prev.sa_handler(sig);
        return;
    }
    /* Back to the default action: the faulting instruction runs again and kills us.
     * __sigaction: the shim interposes sigaction and signal. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    __sigaction(SIGSEGV, &dfl, NULL);
}

void blitz_overflow_thread_setup(void)
{
    void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (mem == MAP_FAILED)
        return;
    stack_t ss = { .ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
}

void blitz_overflow_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    __sigaction(SIGSEGV, &sa, &g_prev);
}
