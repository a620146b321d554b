// blitz-timeout: 60
// Signal masks are per thread and inherited at creation, for every signal a thread can block
// (a fault signal such as SIGSEGV included): main blocks SIGSEGV and SIGUSR1, 8 threads
// (spread over the workers) each see exactly that mask and change their own without
// touching main's or each other's; then main's SIG_SETMASK reports the old mask through
// `old` and new threads inherit the new one; sigprocmask behaves the same.
// Last, with 4 threads alive that block it too, main blocks SIGRTMIN, queues it 20 times
// to the process with sigqueue (values 1..20), and 5 rounds later unblocks it: every one is
// handled before sigprocmask returns, on main, in the order sent (POSIX: queued real-time
// signals are delivered in FIFO order; the unblocking thread is the only one accepting it).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#define THREADS 8

static int blocked(int sig)
{
    sigset_t s;
    pthread_sigmask(SIG_BLOCK, NULL, &s);
    return sigismember(&s, sig) == 1;
}

static int go; /* atomic */

/* ---- queued real-time signals ---- */
#define QUEUED 20
static int rt_seen, rt_out_of_order, rt_not_main; /* atomic */
static pthread_t main_thread;
static void on_rt(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    int n = __atomic_add_fetch(&rt_seen, 1, __ATOMIC_ACQ_REL);
    if (si->si_value.sival_int != n)
        __atomic_fetch_add(&rt_out_of_order, 1, __ATOMIC_RELAXED);
    if (!pthread_equal(pthread_self(), main_thread))
        __atomic_fetch_add(&rt_not_main, 1, __ATOMIC_RELAXED);
}
static int rt_stop; /* atomic */
static void *rt_blocker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&rt_stop, __ATOMIC_ACQUIRE))
        nap_us(200);
    return NULL;
}
static void queued_rt_in_order(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_flags = SA_SIGINFO;
    sa.sa_sigaction = on_rt;
    sigemptyset(&sa.sa_mask);
    EXPECT(sigaction(SIGRTMIN, &sa, NULL), 0);
    main_thread = pthread_self();
    sigset_t rt, old;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN);
    int bad_rounds = 0, late = 0;
    for (int round = 0; round < 5; round++) {
        __atomic_store_n(&rt_seen, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&rt_stop, 0, __ATOMIC_RELEASE);
        EXPECT_ERR(pthread_sigmask(SIG_BLOCK, &rt, &old), 0);
        pthread_t t[4]; /* inherit the block */
        for (int i = 0; i < 4; i++)
            EXPECT_ERR(pthread_create(&t[i], NULL, rt_blocker, NULL), 0);
        for (int v = 1; v <= QUEUED; v++)
            EXPECT(sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = v }), 0);
        EXPECT(__atomic_load_n(&rt_seen, __ATOMIC_ACQUIRE), 0);
        EXPECT_ERR(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
        int at_return = __atomic_load_n(&rt_seen, __ATOMIC_ACQUIRE);
        if (at_return != QUEUED)
            late++;
        __atomic_store_n(&rt_stop, 1, __ATOMIC_RELEASE);
        for (int i = 0; i < 4; i++)
            EXPECT_ERR(pthread_join(t[i], NULL), 0);
        nap_ms(10);
        if (__atomic_load_n(&rt_seen, __ATOMIC_ACQUIRE) != QUEUED)
            bad_rounds++;
    }
    int order = __atomic_load_n(&rt_out_of_order, __ATOMIC_RELAXED);
    int elsewhere = __atomic_load_n(&rt_not_main, __ATOMIC_RELAXED);
    printf("queued SIGRTMIN x%d, 5 rounds: %d rounds short, %d rounds with some after sigprocmask "
           "returned, %d out of order, %d not on main\n",
           QUEUED, bad_rounds, late, order, elsewhere);
    EXPECT(bad_rounds, 0);
    EXPECT(late, 0);
    EXPECT(order, 0);
    EXPECT(elsewhere, 0);
}

/* Each thread checks what it inherited, then blocks SIGUSR2 for itself only. */
static void *first_gen(void *arg)
{
    long i = (long)arg;
    TCHECK(blocked(SIGSEGV) && blocked(SIGUSR1) && !blocked(SIGTERM),
           "thread %ld did not inherit {SIGSEGV, SIGUSR1}", i);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    TCHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0, "thread %ld: pthread_sigmask", i);
    gate_wait(&go); /* all have changed their masks before anyone looks again */
    nap_ms(1);
    TCHECK(blocked(SIGUSR2) && blocked(SIGSEGV) && blocked(SIGUSR1),
           "thread %ld lost its own mask", i);
    return NULL;
}

static void *second_gen(void *arg)
{
    long i = (long)arg;
    TCHECK(blocked(SIGTERM) && !blocked(SIGSEGV) && !blocked(SIGUSR1) && !blocked(SIGUSR2),
           "thread %ld did not inherit {SIGTERM}", i);
    return NULL;
}

int main(void)
{
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGSEGV);
    sigaddset(&s, SIGUSR1);
    EXPECT_ERR(pthread_sigmask(SIG_BLOCK, &s, NULL), 0);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, first_gen, (void *)i), 0);
    nap_ms(50);
    gate_open(&go);
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(!blocked(SIGUSR2), "main got a thread's SIGUSR2 block");
    printf("inherited by %d threads, each changed its own: %s\n", THREADS,
           failures ? "no" : "yes");

    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    EXPECT_ERR(pthread_sigmask(SIG_SETMASK, &s, &old), 0);
    EXPECT(sigismember(&old, SIGSEGV), 1);
    EXPECT(sigismember(&old, SIGUSR1), 1);
    EXPECT(sigismember(&old, SIGTERM), 0);
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, second_gen, (void *)i), 0);
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    EXPECT(sigprocmask(SIG_UNBLOCK, &s, &old), 0);
    EXPECT(sigismember(&old, SIGTERM), 1);
    CHECK(!blocked(SIGTERM), "sigprocmask(SIG_UNBLOCK) left SIGTERM blocked");
    printf("SIG_SETMASK old mask and second generation: %s\n", failures ? "FAILED" : "ok");
    queued_rt_in_order();
    return failures ? 1 : 0;
}
