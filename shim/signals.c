/* Signals as a thread-per-connection program expects them: a handler interrupts the blocked
 * call of the thread it is delivered to (EINTR, or a restart under SA_RESTART where the
 * kernel would restart), and pthread_kill reaches the thread it names.
 *
 * The kernel delivers a signal to some worker thread, in whatever context runs there. For
 * every signal a program handles (fault signals excepted), the kernel is given `tramp`
 * instead of the program's handler; the program's own disposition is kept in g_disp and is
 * what sigaction reports back.
 *  - pthread_kill to a task that is not running: the signal is queued on the task and the
 *    task's interruptible wait is ended; the task runs the handler on its own stack and its
 *    call returns EINTR (shim_interrupted). A running task gets it through a kick to its
 *    worker, run there only if the task still is (aim); one parked in a wait no signal
 *    ends takes it at its next wait. It never runs on another task.
 *  - a process-directed signal (kill, alarm, a terminal's SIGINT, ...) goes, as the kernel
 *    prefers, to the main thread: if main's task waits interruptibly and does not block the
 *    signal, the handler is deferred to it (through the courier thread, because a signal
 *    handler may take no lock); otherwise the handler runs where the signal landed.
 *  - anything else (raise, SIGPIPE, a fault) runs at once where it landed, which is the
 *    thread it was meant for.
 * Masks are per task, as per thread natively. The kernel sees one mask on every worker: the
 * signals every task blocks (so a signal nobody accepts stays pending in the process, for
 * sigwait, and a signal somebody accepts reaches a worker). A signal that lands on a task
 * blocking it goes to main's task or, failing that, runs in a scheduler context: natively it
 * would have gone to another thread. A signal sent to a task that blocks it is queued on the
 * task until it unblocks it or takes it with sigwait. sigwait, sigwaitinfo, sigtimedwait,
 * pause and sigsuspend wait as tasks. */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "clock.h"
#include "lock.h"
#include "netpoll.h"
#include "rawsys.h"
#include "real.h"
#include "scheduler.h"
#include "task.h"
#include "waiter.h"
#include "thread_state.h"

#define NSIGS 64 /* signals 1..64: one bit each in a uint64_t */

typedef struct disp {
    _Atomic uintptr_t handler; /* the program's sa_handler / sa_sigaction */
    _Atomic int flags;         /* the program's sa_flags */
    _Atomic int ours;          /* the kernel runs tramp for it */
    sigset_t mask;             /* the program's sa_mask, reported back */
} disp;

static disp g_disp[NSIGS + 1];
static _Atomic int g_active;                 /* runtime started: interpose */
static blitz_task *_Atomic g_root;           /* main's task */
static _Atomic uint64_t g_proc_pend;         /* process-directed, left for main's task */
static siginfo_t g_proc_info[NSIGS + 1];     /* written before the bit (release) */
static _Atomic uint64_t g_sigintr;           /* siginterrupt(sig, 1) was called */
static blitz_lock g_lock = BLITZ_LOCK_INIT;  /* sigaction updates; taken with signals blocked */
/* Every live task, so the courier can find one that accepts a process-directed signal: one
 * list per creating worker, so creations and exits on different workers take different
 * locks. Never taken in tramp. */
#define ALL_SHARDS 16
static struct {
    blitz_lock lock;
    shim_thread *head;
} g_all[ALL_SHARDS] __attribute__((aligned(64)));

/* The workers' kernel mask: signals every live task blocks. Counted under g_mask_lock;
 * g_tasks is also bumped without it while no task blocks anything (g_anyblock == 0). */
static blitz_lock g_mask_lock = BLITZ_LOCK_INIT;
#define TASK_SHARDS 64
static struct {
    _Atomic long n; /* tasks created minus ended on this shard (may go negative) */
    char pad[64 - sizeof(long)];
} g_tasks[TASK_SHARDS] __attribute__((aligned(64)));
static _Atomic long g_blocking[NSIGS + 1];
static _Atomic uint64_t g_anyblock;
static _Atomic int g_fast_active;      /* lock-free count updates in progress */
static _Atomic unsigned g_fast_gen;    /* ... and done (recompute_locked retries on either) */
static _Atomic uint64_t g_wmask;
static uint64_t bit(int sig) { return 1ull << (sig - 1); }

/* Masks: every signal a thread can block (not SIGKILL/SIGSTOP; 32 and 33 are glibc's). */
#define MASK_BITS (~(bit(SIGKILL) | bit(SIGSTOP) | bit(32) | bit(33)))
/* Handlers: those, less the faults, which run where they happen. */
#define FAULT_BITS (bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGFPE) | bit(SIGTRAP) | bit(SIGSYS))
#define ROUTABLE_BITS (MASK_BITS & ~FAULT_BITS)

/* Signals whose handlers the shim routes. */
static int routable(int sig) { return sig >= 1 && sig <= NSIGS && (ROUTABLE_BITS & bit(sig)); }

/* glibc's sigset_t keeps signal s in bit s-1 of its first word. */
_Static_assert(sizeof(((sigset_t *)0)->__val[0]) == sizeof(uint64_t), "64-bit sigset words");
static uint64_t *word0(sigset_t *s) { return (uint64_t *)&s->__val[0]; }

static void call_handler(uintptr_t h, int flags, int sig, siginfo_t *si, void *uc)
{
    if (flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))h)(sig, si, uc);
    else
        ((void (*)(int))h)(sig);
}

/* Runs the program's handler for sig. `deferred`: not from the kernel's delivery (the
 * kernel did not apply SA_RESETHAND), so it is applied here. */
static void run_handler(int sig, siginfo_t *si, void *uc, int deferred)
{
    uintptr_t h = atomic_load_explicit(&g_disp[sig].handler, memory_order_acquire);
    int flags = atomic_load_explicit(&g_disp[sig].flags, memory_order_relaxed);
    if (h == (uintptr_t)SIG_IGN)
        return;
    if (h == (uintptr_t)SIG_DFL) {
        /* Reset while queued: the kernel's default action, on this thread. */
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
        return;
    }
    if (deferred && (flags & SA_RESETHAND)) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        atomic_store(&g_disp[sig].handler, (uintptr_t)SIG_DFL);
        atomic_store(&g_disp[sig].ours, 0);
        REAL(sigaction)(sig, &dfl, NULL);
    }
    call_handler(h, flags, sig, si, uc);
}

/* Set while tramp runs on this thread (in a task's TLS block or a worker's): calls made from
 * a handler that the shim would serve with locks or switches go to libc instead. The frame
 * address tells a live mark from one that a siglongjmp out of a handler left behind. */
static __thread uintptr_t t_tramp_sp __attribute__((tls_model("initial-exec")));

static int in_tramp(void)
{
    uintptr_t sp = t_tramp_sp;
    return sp && (uintptr_t)__builtin_frame_address(0) < sp;
}

/* Kernel-chosen receivers that natively could have been any thread: everything but signals
 * sent to one thread (tgkill: raise, pthread_kill) and those the kernel raises in the thread
 * that caused them. */
static int process_directed(int sig, const siginfo_t *si)
{
    if (si->si_code == SI_TKILL)
        return 0;
    /* The kernel raises these for the thread whose write failed, as if this process had
     * sent them (SI_USER, our pid); only another process's kill or sigqueue is for the
     * process. */
    if (sig == SIGPIPE || sig == SIGXFSZ)
        return (si->si_code == SI_USER || si->si_code == SI_QUEUE) && si->si_pid != getpid();
    return !(si->si_code == SI_QUEUE && si->si_pid == getpid());
}

static int blocks(blitz_task *t, int sig) { return (shim_of(t)->sigmask & bit(sig)) != 0; }

/* Whether main's task should run this process-directed signal instead of whoever has it: it
 * does not block it and waits interruptibly (a hint: async_deliver copes if that changed). */
static int leave_to_root(int sig)
{
    blitz_task *r = atomic_load_explicit(&g_root, memory_order_acquire);
    if (!r || r == blitz_self() || shim_of(r)->exiting || blocks(r, sig))
        return 0;
    return __atomic_load_n(&r->intr_waiter, __ATOMIC_RELAXED) != NULL;
}

/* The courier: one plain OS thread, started with the first handler the program installs,
 * that does for tramp what a signal handler may not (take locks, wake a task) as soon as
 * tramp kicks it through an eventfd. It blocks every signal, so the kernel never picks it. */
static void apply_wmask(void);
static int g_courier_fd = -1;
static _Atomic int g_courier_state; /* 0 none, 1 starting, 2 running */
static void async_deliver(void);

static void *courier_main(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t v;
        if (syscall(SYS_read, g_courier_fd, &v, sizeof v) < 0 && errno != EINTR)
            return NULL;
        /* While handlers run here, the workers' mask: a handler that resets its signal
         * and raises it again (to die of it) must get the default action. */
        sigset_t all;
        sigfillset(&all);
        apply_wmask();
        async_deliver();
        REAL(pthread_sigmask)(SIG_SETMASK, &all, NULL);
    }
}

static void courier_start(void)
{
    int idle = 0;
    if (!atomic_compare_exchange_strong(&g_courier_state, &idle, 1))
        return;
    g_courier_fd = (int)syscall(SYS_eventfd2, 0, EFD_CLOEXEC);
    int ok = g_courier_fd >= 0 && shim_start_service_thread(courier_main, NULL) == 0;
    atomic_store(&g_courier_state, ok ? 2 : 0);
}

/* Async-signal-safe. Returns 0 if there is no courier (the caller handles it itself). */
static int courier_kick(void)
{
    if (atomic_load(&g_courier_state) != 2)
        return 0;
    uint64_t one = 1;
    return syscall(SYS_write, g_courier_fd, &one, sizeof one) == sizeof one;
}

/* A handler is about to run at once on task cur (may be NULL): counted for its waits. */
static void count_handled(blitz_task *cur, int flags)
{
    if (!cur)
        return;
    atomic_fetch_add(&shim_of(cur)->handled, 1);
    if (!(flags & SA_RESTART))
        atomic_fetch_add(&shim_of(cur)->handled_eintr, 1);
}

/* The handler on the interrupted task (or scheduler context), as the kernel would run it. */
static void run_here(blitz_task *cur, int sig, siginfo_t *si, void *uc)
{
    count_handled(cur, atomic_load_explicit(&g_disp[sig].flags, memory_order_relaxed));
    run_handler(sig, si, uc, 0);
}

/* The kernel has already reset an SA_RESETHAND signal: run it now, once. */
static void run_reset(blitz_task *cur, int sig, int flags, siginfo_t *si, void *uc)
{
    uintptr_t h = atomic_load(&g_disp[sig].handler);
    atomic_store(&g_disp[sig].handler, (uintptr_t)SIG_DFL);
    atomic_store(&g_disp[sig].ours, 0);
    if (h != (uintptr_t)SIG_DFL && h != (uintptr_t)SIG_IGN) {
        count_handled(cur, flags);
        call_handler(h, flags, sig, si, uc);
    }
}

/* A kick (see aim) is the signal itself, queued to the worker the task runs on with a token
 * naming the task: the tag in the top bits, which no user-space address has, tells it from
 * a program's own pthread_sigqueue. Only compared, never dereferenced: the task may be gone. */
#define KICK_TAG ((uintptr_t)0xB1A5 << 48)

static void *kick_token(shim_thread *st) { return (void *)((uintptr_t)st | KICK_TAG); }

static int is_kick(const siginfo_t *si)
{
    return si->si_code == SI_QUEUE && si->si_pid == getpid() &&
           ((uintptr_t)si->si_value.sival_ptr & ~(((uintptr_t)1 << 48) - 1)) == KICK_TAG;
}

static void tramp(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;
    uintptr_t outer = t_tramp_sp;
    t_tramp_sp = (uintptr_t)__builtin_frame_address(0);
    int flags = atomic_load_explicit(&g_disp[sig].flags, memory_order_relaxed);
    blitz_task *cur = blitz_self();
    int cur_blocks = cur && blocks(cur, sig);
    if ((bit(sig) & atomic_load(&g_wmask)) && uc) {
        /* Every task blocks it; this worker had not applied that yet. It belongs pending in
         * the process: queue it there again, and block it here once the handler returns. */
        sigaddset(&((ucontext_t *)uc)->uc_sigmask, sig);
        syscall(SYS_rt_sigqueueinfo, getpid(), sig, si);
    } else if (is_kick(si) &&
               !(cur && si->si_value.sival_ptr == kick_token(shim_of(cur)) && !cur_blocks &&
                 (atomic_fetch_and(&shim_of(cur)->sigpend, ~bit(sig)) & bit(sig)))) {
        /* A kick for a task that left before the kernel delivered it: aim() finds it, or it
         * takes the signal at its next wait. One for the task running here (it took the
         * signal off its queue just now) goes on like any signal for this thread. */
    } else if (flags & SA_RESETHAND) {
        run_reset(cur, sig, flags, si, uc);
    } else if (process_directed(sig, si)) {
        /* Landed on a task that blocks it, or in a scheduler context (no thread of the
         * program: running it here would end nobody's wait, while natively a thread blocked
         * in a call and alone in accepting it would get EINTR): the courier finds it a task
         * (async_deliver). A task that accepts it and runs gets it here, as natively. */
        if (cur_blocks || !cur || leave_to_root(sig)) {
            /* Not for this task: main's, or another that waits, or the courier runs it. */
            g_proc_info[sig] = *si;
            atomic_fetch_or_explicit(&g_proc_pend, bit(sig), memory_order_release);
            if (!courier_kick() && (atomic_fetch_and(&g_proc_pend, ~bit(sig)) & bit(sig)))
                run_here(cur, sig, si, uc);
        } else {
            run_here(cur, sig, si, uc);
        }
    } else if (cur_blocks) {
        atomic_fetch_or(&shim_of(cur)->sigpend, bit(sig)); /* stays pending on the task */
    } else {
        run_here(cur, sig, si, uc);
    }
    t_tramp_sp = outer;
    errno = saved;
}

/* Marks t as having signals to handle: its interruptible waits end early. */
static void flag_signal(shim_thread *st)
{
    atomic_store(&st->sig_intr, 1);
    atomic_fetch_or(&st->intr, SHIM_INTR_SIGNAL);
}

/* Runs the process-directed signals in `bits` here. Returns 1 if every handler restarts. */
static int run_proc(uint64_t bits)
{
    int restart = 1;
    while (bits) {
        int sig = __builtin_ctzll(bits) + 1;
        bits &= bits - 1;
        siginfo_t info = g_proc_info[sig];
        restart &= (atomic_load(&g_disp[sig].flags) & SA_RESTART) != 0;
        run_handler(sig, &info, NULL, 1);
    }
    return restart;
}

static blitz_task *task_of_st(shim_thread *st)
{
    return (blitz_task *)((char *)st - offsetof(blitz_task, shim));
}

/* Hands sig (pending in g_proc_pend) to a task that does not block it and waits
 * interruptibly: it is woken and takes the signal itself (shim_signals_run). Returns 1 if
 * one was woken. Courier only (takes locks). */
static int hand_to_waiter(int sig)
{
    int woke = 0;
    for (int i = 0; i < ALL_SHARDS && !woke; i++) {
        blitz_lock_acquire(&g_all[i].lock); /* held: no task in this list can be freed */
        for (shim_thread *st = g_all[i].head; st && !woke; st = st->all_next) {
            blitz_task *u = task_of_st(st);
            if (st->exiting || (st->sigmask & bit(sig)))
                continue;
            /* A polling wait between two looks sees the flag at its next one, or on its
             * way out (shim_poll_until). */
            int polling = atomic_load(&st->polling);
            if (!polling && !blitz_task_in_intr_wait(u))
                continue;
            atomic_fetch_or(&st->proc_take, bit(sig));
            flag_signal(st);
            woke = blitz_task_interrupt(u) || polling;
            if (!woke) /* if it took the signal meanwhile, g_proc_pend no longer has it */
                atomic_fetch_and(&st->proc_take, ~bit(sig));
        }
        blitz_lock_release(&g_all[i].lock);
    }
    return woke;
}

/* The courier, after tramp left process-directed signals: main's task takes those it does
 * not block if it is waiting (it is woken to run them); then any other task that does not
 * block one and waits interruptibly takes it (natively the kernel gives a signal to a
 * thread that accepts it, and its blocking call ends); the rest run here. Main counts
 * those as delivered to it if it does not block them (a pause() or sigsuspend() in main
 * returns, as when the kernel gives main the signal). */
static void async_deliver(void)
{
    uint64_t bits = atomic_load_explicit(&g_proc_pend, memory_order_acquire);
    if (!bits)
        return;
    blitz_task *r = atomic_load(&g_root);
    uint64_t rmask = r ? shim_of(r)->sigmask : ~0ull;
    if (r && !shim_of(r)->exiting && (bits & ~rmask)) {
        flag_signal(shim_of(r));
        if (blitz_task_interrupt(r))
            bits &= rmask;
    }
    for (uint64_t b = bits; b; b &= b - 1)
        if (hand_to_waiter(__builtin_ctzll(b) + 1))
            bits &= ~(b & -b);
    uint64_t mine = atomic_fetch_and_explicit(&g_proc_pend, ~bits, memory_order_acquire) & bits;
    if (!mine)
        return;
    run_proc(mine);
    if (r && !shim_of(r)->exiting && (mine & ~rmask)) {
        atomic_fetch_add(&shim_of(r)->handled, 1);
        flag_signal(shim_of(r)); /* a pause() about to park must not miss it */
        blitz_task_interrupt(r);
    }
}

int shim_interrupted(blitz_task *t)
{
    shim_testcancel(t);
    return shim_signals_run(t);
}

int shim_signals_run(blitz_task *t)
{
    shim_thread *st = shim_of(t);
    if (!(atomic_load(&st->intr) & SHIM_INTR_SIGNAL) && !atomic_load(&st->sig_intr))
        return SHIM_SIG_NONE;
    atomic_store(&st->sig_intr, 0);
    atomic_fetch_and(&st->intr, ~SHIM_INTR_SIGNAL);
    /* Blocked ones stay queued (delivered when unblocked, or taken by sigwait). */
    uint64_t mask = st->sigmask;
    uint64_t own = atomic_fetch_and(&st->sigpend, mask) & ~mask;
    uint64_t want = atomic_exchange(&st->proc_take, 0) & ~mask;
    if (t == atomic_load(&g_root))
        want |= ~mask;
    uint64_t proc = want ? atomic_fetch_and_explicit(&g_proc_pend, ~want, memory_order_acquire) & want : 0;
    if (!own && !proc)
        return SHIM_SIG_NONE;
    atomic_fetch_add(&st->handled, 1);
    int restart = 1;
    while (own) {
        int sig = __builtin_ctzll(own) + 1;
        own &= own - 1;
        siginfo_t info;
        memset(&info, 0, sizeof info);
        info.si_signo = sig;
        info.si_code = SI_TKILL;
        info.si_pid = getpid();
        info.si_uid = getuid();
        restart &= (atomic_load(&g_disp[sig].flags) & SA_RESTART) != 0;
        run_handler(sig, &info, NULL, 1);
    }
    restart &= run_proc(proc);
    return restart ? SHIM_SIG_RESTART : SHIM_SIG_EINTR;
}

/* pthread_kill of a handled signal t does not block, from another thread: t runs the
 * handler itself. Queued on t first, with its interrupt flag set, so any interruptible wait
 * it starts from now on ends at once and runs it. Then, for up to 2 ms while t has not taken
 * it: a wait t is in is ended; if t runs, its worker gets a kick (tramp runs the handler if t
 * is still there); if t moved, or is queued to run, this looks again (a queued task also takes
 * it when it yields). After that, or for a task parked in a wait no signal ends, the signal
 * stays queued on t for its next wait: it never runs on another thread. */
static int aim(blitz_task *t, int sig)
{
    shim_thread *st = shim_of(t);
    atomic_fetch_or(&st->sigpend, bit(sig));
    flag_signal(st);
    uint64_t now = blitz_now_ns(), give_up = now + 2000000, kicked_at = 0;
    blitz_machine *kicked_m = NULL;
    for (;;) {
        if (blitz_task_interrupt(t) || !(atomic_load(&st->sigpend) & bit(sig)))
            return 0;
        int s = atomic_load(&t->state);
        if (s == BLITZ_T_DONE || (s == BLITZ_T_RUNNABLE && atomic_load(&st->polling)))
            return 0;
        /* PARKED with its interruptible wait still open: another waker (a timer, a post) won
         * that wait and is about to ready it; look again. */
        if (s == BLITZ_T_PARKED && !blitz_task_in_intr_wait(t))
            return 0;
        blitz_machine *m = t->m;
        /* One kick per worker it is seen running on, again after 200 us (a standard signal
         * already pending there absorbs a second one). */
        if (s == BLITZ_T_RUNNING && m && (m != kicked_m || now - kicked_at > 200000)) {
            union sigval v = { .sival_ptr = kick_token(st) };
            REAL(pthread_sigqueue)(m->thread, sig, v);
            kicked_m = m;
            kicked_at = now;
        }
        if ((now = blitz_now_ns()) >= give_up)
            return 0;
        if (shim_task())
            blitz_yield();
        else
            REAL(sched_yield)();
    }
}

int shim_signal_task(blitz_task *t, int sig, const union sigval *val)
{
    shim_thread *st = shim_of(t);
    /* A thread that has not run yet has no worker to signal: let it start (natively the
     * signal is delivered as soon as it runs). */
    for (int i = 0; !__atomic_load_n(&t->m, __ATOMIC_ACQUIRE) && i < 10000 && !in_tramp(); i++) {
        if (shim_task())
            blitz_yield();
        else
            REAL(sched_yield)();
    }
    blitz_task *self = shim_task();
    if (atomic_load(&g_active) && routable(sig) && !in_tramp()) {
        if (blocks(t, sig)) {
            /* Pending on the task until it unblocks it (set_mask delivers it then) or takes
             * it with sigwait; only a sigwait is woken for it: no other wait of a thread
             * notices a signal it blocks. seq_cst with take_signal's sigwaiting store and
             * sigpend load: one of the two sees the other. */
            atomic_fetch_or(&st->sigpend, bit(sig));
            if (t != self && atomic_load(&st->sigwaiting)) {
                flag_signal(st);
                blitz_task_interrupt(t);
            }
            return 0;
        }
        if (t != self && !val && atomic_load(&g_disp[sig].ours))
            return aim(t, sig);
    }
    blitz_machine *m = t->m;
    if (!m)
        return 0;
    return val ? REAL(pthread_sigqueue)(m->thread, sig, *val) : REAL(pthread_kill)(m->thread, sig);
}

/* ---------------------------------------------------------------- masks */

static uint64_t mask_bits(const sigset_t *s) { return *word0((sigset_t *)s) & MASK_BITS; }

static void bits_mask(uint64_t b, sigset_t *s)
{
    sigemptyset(s);
    *word0(s) = b;
}

/* On each worker (blitz_sched_sync_workers) and on a task's own worker when it changed the
 * set: the kernel mask becomes g_wmask for the signals the shim routes. */
static void apply_wmask(void)
{
    uint64_t w = atomic_load(&g_wmask);
    sigset_t on, off;
    bits_mask(w, &on);
    bits_mask(MASK_BITS & ~w, &off);
    REAL(pthread_sigmask)(SIG_BLOCK, &on, NULL);
    REAL(pthread_sigmask)(SIG_UNBLOCK, &off, NULL);
}

static long tasks_alive(void)
{
    long n = 0;
    for (int i = 0; i < TASK_SHARDS; i++)
        n += atomic_load(&g_tasks[i].n);
    return n;
}

/* g_mask_lock held: recomputes what every task blocks. Returns the workers' sync generation
 * if it changed (0 if not); *wait says whether the caller should wait for the workers. */
static unsigned recompute_locked(int *wait)
{
    uint64_t any = 0, all = 0;
    for (int sig = 1; sig <= NSIGS; sig++)
        if (atomic_load(&g_blocking[sig]) > 0)
            any |= bit(sig);
    /* Stored before the shards are summed (seq_cst): see count_task. */
    atomic_store(&g_anyblock, any);
    /* A consistent read: no lock-free update (count_task) in progress or done meanwhile. */
    for (;;) {
        unsigned gen = atomic_load(&g_fast_gen);
        while (atomic_load(&g_fast_active))
            __builtin_ia32_pause();
        long n = tasks_alive();
        all = 0;
        for (int sig = 1; sig <= NSIGS; sig++)
            if (n > 0 && atomic_load(&g_blocking[sig]) >= n)
                all |= bit(sig);
        if (!atomic_load(&g_fast_active) && atomic_load(&g_fast_gen) == gen)
            break;
    }
    uint64_t was = atomic_load(&g_wmask);
    *wait = 0;
    if (all == was)
        return 0;
    atomic_store(&g_wmask, all);
    /* A newly blocked signal needs the other workers before the caller goes on: arriving
     * meanwhile, one without a handler of the program's would take its default action, and a
     * handled one, which tramp puts back in the process, would queue behind later ones. */
    *wait = (all & ~was) != 0;
    return blitz_sched_sync_workers();
}

/* After the lock: this worker's mask now (a signal it unblocks may be delivered right
 * here, so never under the lock); the other workers at their next pass, waited for when a
 * signal is newly blocked: a signal sent right after the call must find every worker with
 * the new mask, as it would find every thread's. Idle workers answer within microseconds
 * (more when workers outnumber CPUs); one busy with a task that does not block is not
 * waited for past 50 ms. */
static void sync_after(unsigned gen, int wait)
{
    if (!gen)
        return;
    if (shim_task()) {
        apply_wmask();
        blitz_sched_synced_self(gen);
    }
    if (!wait || !shim_task())
        return;
    uint64_t now = blitz_now_ns(), spin_end = now + 200000, end = now + 50000000;
    while (!blitz_sched_synced(gen) && (now = blitz_now_ns()) < end) {
        if (now < spin_end)
            __builtin_ia32_pause();
        else
            blitz_yield();
    }
}

/* A task arrives (add 1) or leaves (-1) with mask m. The count is sharded by worker: every
 * thread creation and exit passes here, and takes no lock when the workers' mask cannot
 * change: a task arriving that blocks everything every task blocks, or one leaving while
 * nobody blocks a signal it does not block. Such updates are bracketed by g_fast_active
 * and g_fast_gen (seq_cst), so a recount under the lock never uses half of one; the task
 * count and g_anyblock are both seq_cst, so either an update sees a blocker (and recounts
 * under the lock) or the blocker's recount sees the update. */
static void count_task(uint64_t m, int add)
{
    blitz_task *self = shim_task();
    int shard = self && self->m ? self->m->index % TASK_SHARDS : 0;
    if (!m) {
        /* The usual thread, blocking nothing: one counter of this worker's (a single value,
         * so no recount can see half of it). */
        atomic_fetch_add(&g_tasks[shard].n, add);
        if (!atomic_load(&g_anyblock) || (add > 0 && !atomic_load(&g_wmask)))
            return;
        blitz_lock_acquire(&g_mask_lock);
        int wait;
        unsigned gen = recompute_locked(&wait);
        blitz_lock_release(&g_mask_lock);
        sync_after(gen, 0);
        return;
    }
    int fast = add > 0 ? !(atomic_load(&g_wmask) & ~m) : !(atomic_load(&g_anyblock) & ~m);
    if (fast) {
        atomic_fetch_add(&g_fast_active, 1);
        for (uint64_t b = m; b; b &= b - 1)
            atomic_fetch_add(&g_blocking[__builtin_ctzll(b) + 1], add);
        atomic_fetch_add(&g_tasks[shard].n, add);
        atomic_fetch_add(&g_fast_gen, 1);
        atomic_fetch_sub(&g_fast_active, 1);
        /* Still true after the update? (A mask change may have raced with it.) */
        if (add > 0 ? !(atomic_load(&g_wmask) & ~m) : !(atomic_load(&g_anyblock) & ~m))
            return;
        blitz_lock_acquire(&g_mask_lock);
    } else {
        blitz_lock_acquire(&g_mask_lock);
        for (uint64_t b = m; b; b &= b - 1)
            atomic_fetch_add(&g_blocking[__builtin_ctzll(b) + 1], add);
        atomic_fetch_add(&g_tasks[shard].n, add);
    }
    int wait;
    unsigned gen = recompute_locked(&wait);
    blitz_lock_release(&g_mask_lock);
    sync_after(gen, 0); /* a new or ending thread is not a mask change: nobody waits */
}

void shim_signals_init_child(blitz_task *child, blitz_task *parent, const sigset_t *mask)
{
    shim_thread *st = shim_of(child);
    atomic_store(&st->sigpend, 0);
    if (mask) {
        st->sigmask = mask_bits(mask);
    } else if (parent) {
        st->sigmask = shim_of(parent)->sigmask;
    } else {
        sigset_t cur;
        REAL(pthread_sigmask)(SIG_BLOCK, NULL, &cur);
        st->sigmask = mask_bits(&cur);
    }
    count_task(st->sigmask, 1);
    atomic_store(&st->proc_take, 0);
    blitz_task *self = shim_task();
    st->all_shard = self && self->m ? self->m->index % ALL_SHARDS : 0;
    blitz_lock_acquire(&g_all[st->all_shard].lock);
    st->all_prev = NULL;
    st->all_next = g_all[st->all_shard].head;
    if (st->all_next)
        st->all_next->all_prev = st;
    g_all[st->all_shard].head = st;
    blitz_lock_release(&g_all[st->all_shard].lock);
}

void shim_signals_exit(blitz_task *t)
{
    blitz_task *self = t;
    /* Main's task leaving (pthread_exit in main): nobody to prefer any more. */
    atomic_compare_exchange_strong(&g_root, &self, NULL);
    shim_thread *st = shim_of(t);
    blitz_lock_acquire(&g_all[st->all_shard].lock);
    if (st->all_prev)
        st->all_prev->all_next = st->all_next;
    else if (g_all[st->all_shard].head == st)
        g_all[st->all_shard].head = st->all_next;
    if (st->all_next)
        st->all_next->all_prev = st->all_prev;
    st->all_next = st->all_prev = NULL;
    blitz_lock_release(&g_all[st->all_shard].lock);
    count_task(st->sigmask, -1);
}

/* Makes `now` t's mask: the counts, the workers' mask, and the signals it unblocked that were
 * queued on it (delivered before the call returns, as natively). */
static void task_mask_to(blitz_task *t, uint64_t now)
{
    shim_thread *st = shim_of(t);
    uint64_t was = st->sigmask;
    if (now == was)
        return;
    /* Handled signals every task blocked wait in the process, queued by the kernel in order.
     * Natively the thread unblocking them gets them all, in that order, before the call
     * returns; once the workers unblock them they would be delivered on every worker at
     * once. So this task takes them first, while the workers still block them. */
    uint64_t held = was & ~now & atomic_load(&g_wmask);
    for (uint64_t b = held; b; b &= b - 1)
        if (!atomic_load(&g_disp[__builtin_ctzll(b) + 1].ours))
            held &= ~(b & -b);
    if (held) {
        sigset_t set;
        bits_mask(held, &set);
        siginfo_t info;
        const struct timespec zero = { 0, 0 };
        int sig;
        while ((sig = REAL(sigtimedwait)(&set, &info, &zero)) > 0) {
            atomic_fetch_add(&st->handled, 1);
            run_handler(sig, &info, NULL, 1);
        }
        /* A handler may have changed the mask (counted as such); what it did ends with it,
         * as when the kernel restores the mask on return from a handler. */
        was = st->sigmask;
        if (now == was)
            return;
    }
    blitz_lock_acquire(&g_mask_lock);
    for (int sig = 1; sig <= NSIGS; sig++) {
        if ((now & ~was) & bit(sig))
            atomic_fetch_add(&g_blocking[sig], 1);
        if ((was & ~now) & bit(sig))
            atomic_fetch_sub(&g_blocking[sig], 1);
    }
    st->sigmask = now;
    int wait;
    unsigned gen = recompute_locked(&wait);
    blitz_lock_release(&g_mask_lock);
    sync_after(gen, wait);
    if (atomic_load(&st->sigpend) & ~now) {
        flag_signal(st);
        shim_signals_run(t);
    }
}

/* pthread_sigmask for a task; returns 0 or EINVAL. */
static int set_task_mask(blitz_task *t, int how, const sigset_t *setp, sigset_t *old)
{
    shim_thread *st = shim_of(t);
    if (setp && how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK)
        return EINVAL;
    sigset_t set;
    if (setp)
        set = *setp; /* before *old is written: they may be the same object */
    uint64_t was = st->sigmask;
    if (old) {
        /* The task's own, with the kernel's word for what no thread can block. */
        REAL(pthread_sigmask)(SIG_BLOCK, NULL, old);
        *word0(old) = (*word0(old) & ~MASK_BITS) | was;
    }
    if (!setp)
        return 0;
    uint64_t b = mask_bits(&set);
    uint64_t now = how == SIG_BLOCK ? was | b : how == SIG_UNBLOCK ? was & ~b : b;
    task_mask_to(t, now);
    return 0;
}

BLITZ_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active) || in_tramp())
        return REAL(pthread_sigmask)(how, set, old);
    return set_task_mask(t, how, set, old);
}

BLITZ_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active) || in_tramp())
        return REAL(sigprocmask)(how, set, old);
    int rc = set_task_mask(t, how, set, old);
    if (rc) {
        errno = rc;
        return -1;
    }
    return 0;
}

BLITZ_EXPORT int sigpending(sigset_t *set)
{
    blitz_task *t = shim_task();
    int rc = REAL(sigpending)(set);
    if (rc == 0 && t && atomic_load(&g_active)) {
        *word0(set) |= atomic_load(&shim_of(t)->sigpend);
    }
    return rc;
}

int shim_call_mask(blitz_task *t, const sigset_t *mask)
{
    shim_thread *st = shim_of(t);
    st->call_saved = st->sigmask;
    if (!atomic_load(&g_active) || in_tramp())
        return 0;
    unsigned seen = atomic_load(&st->handled);
    task_mask_to(t, mask_bits(mask));
    return atomic_load(&st->handled) != seen;
}

void shim_call_mask_end(blitz_task *t)
{
    if (atomic_load(&g_active) && !in_tramp())
        task_mask_to(t, shim_of(t)->call_saved);
}

/* ---------------------------------------------------------------- waiting for signals */

/* A signal pending for the process that every task blocks stays with the kernel, and
 * nothing tells a task when one arrives: a waiting task watches a signalfd for its set
 * (readable while one of them is pending for the process or the polling worker; the kernel
 * wakes its watchers on every signal sent), through the reactor like any descriptor, and
 * takes the signal with sigtimedwait. The signalfd is only a bell: it is never read. */
typedef struct sig_bell {
    int fd; /* -1: none yet; -2: signalfd or the reactor refused, poll instead */
    blitz_fd *e;
    uint32_t gen;
} sig_bell;

static void bell_open(sig_bell *b, const sigset_t *set)
{
    if (b->fd != -1)
        return;
    long fd = blitz_syscall(SYS_signalfd4, -1, (long)set, 8, SFD_NONBLOCK | SFD_CLOEXEC, 0, 0);
    b->fd = -2;
    if (fd < 0)
        return;
    blitz_fd_forget((int)fd); /* the number may have named another file before */
    if ((b->e = blitz_fd_get((int)fd))) {
        b->fd = (int)fd;
        b->gen = blitz_fd_gen(b->e);
    } else {
        blitz_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
    }
}

static void bell_close(sig_bell *b)
{
    /* If the program closed the number meanwhile (a close-everything loop), it is no longer
     * ours to close. */
    if (b->fd >= 0 && blitz_fd_gen(b->e) == b->gen) {
        blitz_fd_closing(b->fd);
        blitz_syscall(SYS_close, b->fd, 0, 0, 0, 0, 0);
    }
    b->fd = -1;
}

/* Waits for the bell (or until `until`, 0 = no limit); BLITZ_W_INTERRUPTED or not. */
static int bell_wait(sig_bell *b, blitz_task *t, uint64_t until)
{
    if (b->fd >= 0) {
        int rc = blitz_fd_wait(b->fd, b->e, b->gen, BLITZ_IO_IN, until, shim_cancel_flag(t));
        if (rc == BLITZ_IO_INTERRUPTED)
            return BLITZ_W_INTERRUPTED;
        if (rc == BLITZ_IO_READY || rc == BLITZ_IO_TIMEDOUT)
            return BLITZ_W_WOKEN;
        bell_close(b); /* closed by the program, or refused: poll from now on */
        b->fd = -2;
        return BLITZ_W_WOKEN;
    }
    return blitz_sleep_until(until, shim_cancel_flag(t));
}

/* sigwait and friends in a task: the signal may be queued on the task (pthread_kill) or
 * pending in the process (every task blocks it, so the kernel keeps it). Returns the signal,
 * or -1 with errno EAGAIN (deadline passed) or EINTR (a handler ran for another signal). */
static int take_signal(blitz_task *t, const sigset_t *set, siginfo_t *info, uint64_t deadline,
                       sig_bell *bell)
{
    static const struct timespec zero = { 0, 0 };
    shim_thread *st = shim_of(t);
    uint64_t want = mask_bits(set), step = 500000;
    shim_testcancel(t);
    for (;;) {
        uint64_t got = atomic_load(&st->sigpend) & want;
        if (got) {
            int sig = __builtin_ctzll(got) + 1;
            if (!(atomic_fetch_and(&st->sigpend, ~bit(sig)) & bit(sig)))
                continue;
            if (info) {
                memset(info, 0, sizeof *info);
                info->si_signo = sig;
                info->si_code = SI_TKILL;
                info->si_pid = getpid();
                info->si_uid = getuid();
            }
            return sig;
        }
        int r = REAL(sigtimedwait)(set, info, &zero);
        if (r > 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
            return r;
        uint64_t now = blitz_now_ns();
        if (deadline && now >= deadline) {
            errno = EAGAIN;
            return -1;
        }
        bell_open(bell, set);
        /* Without a bell, poll: every 0.5 ms at first, then up to every 4 ms. */
        uint64_t until = bell->fd == -2 ? now + step : 0;
        if (deadline && (!until || until > deadline))
            until = deadline;
        if (bell_wait(bell, t, until) == BLITZ_W_INTERRUPTED) {
            bell_close(bell); /* a cancellation unwinds from shim_interrupted */
            if (shim_interrupted(t) != SHIM_SIG_NONE) {
                errno = EINTR;
                return -1;
            }
        }
        if (step < 4000000)
            step *= 2;
    }
}

static int task_sigwait(blitz_task *t, const sigset_t *set, siginfo_t *info, uint64_t deadline)
{
    sig_bell bell = { -1, NULL, 0 };
    shim_thread *st = shim_of(t);
    /* Set before take_signal looks at sigpend; a handler may sigwait inside a sigwait. */
    int outer = atomic_exchange(&st->sigwaiting, 1);
    int saved, r = take_signal(t, set, info, deadline, &bell);
    saved = errno;
    atomic_store(&st->sigwaiting, outer);
    bell_close(&bell);
    errno = saved;
    return r;
}

BLITZ_EXPORT int sigwait(const sigset_t *set, int *sig)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active))
        return REAL(sigwait)(set, sig);
    int r;
    do /* sigwait is never interrupted: handlers run and it waits on */
        r = task_sigwait(t, set, NULL, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno;
    *sig = r;
    return 0;
}

BLITZ_EXPORT int sigwaitinfo(const sigset_t *set, siginfo_t *info)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active))
        return REAL(sigwaitinfo)(set, info);
    return task_sigwait(t, set, info, 0);
}

BLITZ_EXPORT int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active))
        return REAL(sigtimedwait)(set, info, ts);
    if (ts && (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L || ts->tv_sec < 0)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t deadline = 0;
    if (ts) {
        uint64_t now = blitz_now_ns();
        uint64_t ns = (uint64_t)ts->tv_sec > (UINT64_MAX - now) / 2000000000u
                          ? UINT64_MAX / 2
                          : (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
        deadline = now + ns;
    }
    return task_sigwait(t, set, info, deadline);
}

/* Waits until a handler has run for this task since `seen` (its count of handlers then):
 * pause, and sigsuspend with its mask. Always -1 with EINTR. */
static int wait_for_handler(blitz_task *t, unsigned seen)
{
    shim_thread *st = shim_of(t);
    shim_testcancel(t);
    while (atomic_load(&st->handled) == seen)
        if (blitz_sleep_until(UINT64_MAX - 1, shim_cancel_flag(t)) == BLITZ_W_INTERRUPTED)
            shim_interrupted(t);
    errno = EINTR;
    return -1;
}

BLITZ_EXPORT int pause(void)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active))
        return REAL(pause)();
    return wait_for_handler(t, atomic_load(&shim_of(t)->handled));
}

BLITZ_EXPORT int sigsuspend(const sigset_t *mask)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active))
        return REAL(sigsuspend)(mask);
    shim_thread *st = shim_of(t);
    unsigned seen = atomic_load(&st->handled);
    uint64_t was = st->sigmask;
    task_mask_to(t, mask_bits(mask)); /* runs what the new mask lets through */
    int r = wait_for_handler(t, seen);
    task_mask_to(t, was);
    return r;
}

void shim_signals_fork_child(void)
{
    blitz_task *t = shim_task();
    if (!t || !atomic_load(&g_active))
        return;
    /* Only this thread came along: it is every task there is. */
    g_lock = (blitz_lock)BLITZ_LOCK_INIT;
    g_mask_lock = (blitz_lock)BLITZ_LOCK_INIT;
    for (int i = 0; i < ALL_SHARDS; i++) {
        g_all[i].lock = (blitz_lock)BLITZ_LOCK_INIT;
        g_all[i].head = NULL;
    }
    g_all[0].head = shim_of(t);
    shim_of(t)->all_shard = 0;
    shim_of(t)->all_next = shim_of(t)->all_prev = NULL;
    atomic_store(&shim_of(t)->proc_take, 0);
    /* The courier did not come along: the next handler installed (or the first kick's
     * fallback) does without it until then. */
    if (g_courier_fd >= 0)
        syscall(SYS_close, g_courier_fd);
    g_courier_fd = -1;
    atomic_store(&g_courier_state, 0);
    for (int sig = 1; sig <= NSIGS; sig++)
        if (atomic_load(&g_disp[sig].ours)) {
            courier_start();
            break;
        }
    /* It is the child's main thread now; a child starts with nothing pending. */
    atomic_store(&g_root, t);
    atomic_store(&g_proc_pend, 0);
    shim_thread *st = shim_of(t);
    atomic_store(&st->sigpend, 0);
    atomic_store(&st->sig_intr, 0);
    atomic_fetch_and(&st->intr, ~SHIM_INTR_SIGNAL);
    uint64_t m = shim_of(t)->sigmask;
    for (int i = 0; i < TASK_SHARDS; i++)
        atomic_store(&g_tasks[i].n, i == 0);
    atomic_store(&g_fast_active, 0); /* a thread that was mid-update did not come along */
    for (int sig = 1; sig <= NSIGS; sig++)
        g_blocking[sig] = (m & bit(sig)) ? 1 : 0;
    atomic_store(&g_anyblock, m);
    atomic_store(&g_wmask, m);
    apply_wmask();
    blitz_sched_sync_workers();
}

/* ---------------------------------------------------------------- dispositions */

BLITZ_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!atomic_load(&g_active) || !routable(sig))
        return REAL(sigaction)(sig, act, old);
    /* No handler may run on this thread while it holds the lock (sigaction is
     * async-signal-safe: a handler may call it). */
    sigset_t all, prev;
    sigfillset(&all);
    REAL(pthread_sigmask)(SIG_SETMASK, &all, &prev);
    blitz_lock_acquire(&g_lock);
    disp *d = &g_disp[sig];
    uintptr_t was_h = atomic_load(&d->handler);
    int was_flags = atomic_load(&d->flags), was_ours = atomic_load(&d->ours);
    sigset_t was_mask = d->mask;
    struct sigaction kold;
    int rc;
    if (act) {
        struct sigaction k = *act;
        uintptr_t h = (uintptr_t)act->sa_handler; /* sa_sigaction shares its storage */
        int mine = h != (uintptr_t)SIG_DFL && h != (uintptr_t)SIG_IGN;
        if (mine) {
            k.sa_sigaction = tramp;
            k.sa_flags |= SA_SIGINFO;
        }
        /* The program's disposition first: tramp may run as soon as the kernel has it. */
        atomic_store(&d->flags, act->sa_flags);
        d->mask = act->sa_mask;
        atomic_store_explicit(&d->handler, h, memory_order_release);
        if (mine)
            courier_start();
        rc = REAL(sigaction)(sig, &k, &kold);
        if (rc == 0) {
            atomic_store(&d->ours, mine);
        } else {
            atomic_store(&d->flags, was_flags);
            d->mask = was_mask;
            atomic_store(&d->handler, was_h);
        }
    } else {
        rc = REAL(sigaction)(sig, NULL, &kold);
    }
    if (rc == 0 && old) {
        *old = kold;
        if (was_ours && (kold.sa_flags & SA_SIGINFO) && kold.sa_sigaction == tramp) {
            old->sa_handler = (void (*)(int))was_h;
            old->sa_flags = was_flags;
            old->sa_mask = was_mask;
        }
    }
    blitz_lock_release(&g_lock);
    REAL(pthread_sigmask)(SIG_SETMASK, &prev, NULL);
    return rc;
}

/* The one-call installers: h with flags, and the signal itself masked while it runs if
 * mask_self. Returns the previous handler, or SIG_ERR with errno. */
static sighandler_t install(int sig, sighandler_t h, int flags, int mask_self)
{
    if (h == SIG_ERR || sig < 1 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction a, o;
    memset(&a, 0, sizeof a);
    a.sa_handler = h;
    sigemptyset(&a.sa_mask);
    if (mask_self)
        sigaddset(&a.sa_mask, sig);
    a.sa_flags = flags;
    if (sigaction(sig, &a, &o) < 0)
        return SIG_ERR;
    return o.sa_handler;
}

/* signal() has glibc's BSD semantics: restart unless siginterrupt said otherwise. */
BLITZ_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
    if (!atomic_load(&g_active))
        return REAL(signal)(sig, h);
    int intr = sig >= 1 && sig <= NSIGS && (atomic_load(&g_sigintr) & bit(sig));
    return install(sig, h, intr ? 0 : SA_RESTART, 1);
}

BLITZ_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) { return signal(sig, h); }

BLITZ_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
    if (!atomic_load(&g_active))
        return REAL(sysv_signal)(sig, h);
    return install(sig, h, SA_RESETHAND | SA_NODEFER, 0);
}

BLITZ_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h) { return sysv_signal(sig, h); }

BLITZ_EXPORT int siginterrupt(int sig, int flag)
{
    if (!atomic_load(&g_active))
        return REAL(siginterrupt)(sig, flag);
    struct sigaction a;
    if (sig < 1 || sig > NSIGS || sigaction(sig, NULL, &a) < 0) {
        errno = EINVAL;
        return -1;
    }
    if (flag) {
        atomic_fetch_or(&g_sigintr, bit(sig));
        a.sa_flags &= ~SA_RESTART;
    } else {
        atomic_fetch_and(&g_sigintr, ~bit(sig));
        a.sa_flags |= SA_RESTART;
    }
    return sigaction(sig, &a, NULL);
}

void shim_signals_start(blitz_task *root)
{
    if (!atomic_load(&g_active)) {
        blitz_sched_set_worker_sync(apply_wmask);
        atomic_store(&g_active, 1);
        /* Handlers installed before main (constructors) are taken over. */
        for (int sig = 1; sig <= NSIGS; sig++) {
            struct sigaction cur;
            if (!routable(sig) || REAL(sigaction)(sig, NULL, &cur) != 0)
                continue;
            if (cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN)
                sigaction(sig, &cur, NULL);
        }
    }
    if (root)
        atomic_store_explicit(&g_root, root, memory_order_release);
}

/* ---------------------------------------------------------------- System V / XSI calls */

/* glibc implements these with its internal sigprocmask, sigaction and sigsuspend, which the
 * shim does not see: written here on the interposed ones, with glibc's semantics. */
static int mask_one(int how, int sig, sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    return sigaddset(&s, sig) < 0 ? -1 : sigprocmask(how, &s, old);
}

BLITZ_EXPORT int sighold(int sig) { return mask_one(SIG_BLOCK, sig, NULL); }
BLITZ_EXPORT int sigrelse(int sig) { return mask_one(SIG_UNBLOCK, sig, NULL); }
BLITZ_EXPORT int sigignore(int sig) { return install(sig, SIG_IGN, 0, 0) == SIG_ERR ? -1 : 0; }

/* Returns SIG_HOLD if sig was blocked before, else the previous disposition. */
BLITZ_EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
    sigset_t old;
    sighandler_t prev;
    if (disp == SIG_HOLD) {
        struct sigaction oact;
        if (mask_one(SIG_BLOCK, sig, &old) < 0 || sigaction(sig, NULL, &oact) < 0)
            return SIG_ERR;
        prev = oact.sa_handler;
    } else if ((prev = install(sig, disp, 0, 0)) == SIG_ERR ||
               mask_one(SIG_UNBLOCK, sig, &old) < 0) {
        return SIG_ERR;
    }
    return sigismember(&old, sig) ? SIG_HOLD : prev;
}

/* XSI sigpause (what <signal.h> maps sigpause to under _XOPEN_SOURCE): waits with sig
 * removed from the thread's mask. */
BLITZ_EXPORT int __xpg_sigpause(int sig)
{
    sigset_t s;
    if (sig <= 0 || sig > NSIGS) {
        errno = EINVAL;
        return -1;
    }
    sigprocmask(SIG_BLOCK, NULL, &s);
    sigdelset(&s, sig);
    return sigsuspend(&s);
}

/* BSD sigpause (the plain symbol, which <signal.h> no longer names): the argument is the
 * mask of the first 32 signals to wait with. */
BLITZ_EXPORT int shim_bsd_sigpause(int mask) __asm__("sigpause");
int shim_bsd_sigpause(int mask)
{
    sigset_t s;
    sigemptyset(&s);
    *word0(&s) = (unsigned)mask;
    return sigsuspend(&s);
}
