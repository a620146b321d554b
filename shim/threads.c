/* The thread family: creation, joining, detaching, identity, names and the per-thread
 * attributes a task can report. Outside a green task every call goes to libc; a handle that
 * is not a task (a thread the shim does not own) goes to libc too. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include "attr.h"
#include "clock.h"
#include "rawsys.h"
#include "real.h"
#include "scheduler.h"
#include "thread_state.h"
#include "waiter.h"

static char g_process_name[16];

void shim_set_process_name(const char *name)
{
    strncpy(g_process_name, name, sizeof g_process_name - 1);
}

/* What pthread_create read from its attributes for the child it is creating on this
 * thread (blitz_task_spawn calls shim_thread_init_child before it returns). */
typedef struct child_init {
    int has_mask, explicit_sched;
    sigset_t mask;
    struct sched_param sp;
    int policy;
} child_init;
static __thread const child_init *t_child_init;
static int check_sched(int policy, const struct sched_param *sp);

/* Reads attr (NULL: the defaults) once; EINVAL/EPERM for explicit scheduling the kernel
 * would refuse, as glibc's pthread_create answers. */
static int read_child_init(const pthread_attr_t *attr, child_init *ci)
{
    ci->has_mask = attr ? pthread_attr_getsigmask_np(attr, &ci->mask) == 0
                        : shim_default_sigmask(&ci->mask);
    int inherit = PTHREAD_INHERIT_SCHED;
    ci->explicit_sched = attr && pthread_attr_getinheritsched(attr, &inherit) == 0 &&
                         inherit == PTHREAD_EXPLICIT_SCHED;
    if (!ci->explicit_sched)
        return 0;
    pthread_attr_getschedpolicy(attr, &ci->policy);
    pthread_attr_getschedparam(attr, &ci->sp);
    return check_sched(ci->policy, &ci->sp);
}

void shim_thread_init_child(blitz_task *child, blitz_task *parent)
{
    /* A new thread starts with its creator's name, signal mask and scheduling parameters,
     * as with clone(), unless the attributes give a mask or explicit scheduling. */
    shim_thread *st = shim_of(child);
    const child_init *ci = parent ? t_child_init : NULL;
    memcpy(st->name, parent ? shim_of(parent)->name : g_process_name, 16);
    shim_signals_init_child(child, parent, ci && ci->has_mask ? &ci->mask : NULL);
    if (ci && ci->explicit_sched) {
        st->sched_policy = ci->policy;
        st->sched_priority = ci->sp.sched_priority;
    } else if (parent) {
        st->sched_policy = shim_of(parent)->sched_policy;
        st->sched_priority = shim_of(parent)->sched_priority;
    }
}

int shim_start_service_thread(void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    sigset_t all;
    sigfillset(&all);
    pthread_attr_init(&a); /* default stack size: a small one fails with a big static TLS */
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setsigmask_np(&a, &all); /* never picked for a signal */
    pthread_t th;
    int rc = REAL(pthread_create)(&th, &a, fn, arg);
    pthread_attr_destroy(&a);
    return rc;
}

void shim_task_exit_hook(blitz_task *t)
{
    shim_thread *st = shim_of(t);
    st->exiting = 1;
    st->cancel_disabled = 1;
    atomic_fetch_and(&st->intr, ~SHIM_INTR_CANCEL);
    shim_keys_run_destructors(t);
    shim_signals_exit(t);
}

static blitz_task *task_of(pthread_t th, int *freed)
{
    return blitz_task_from_handle((uintptr_t)th, freed);
}

/* Declares t, the task behind handle th; for a handle that is not a live task, returns
 * ESRCH (a thread already joined) or the result of the libc call (a thread we do not own). */
#define TASK_OR_LIBC(t, th, libc_call)                                                   \
    int t##_freed;                                                                       \
    blitz_task *t = task_of(th, &t##_freed);                                             \
    if (!t)                                                                              \
    return t##_freed ? ESRCH : (libc_call)

/* Tasks run the program's start routine directly; the runtime's exit hook does the rest. */
BLITZ_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                                void *(*fn)(void *), void *arg)
{
    blitz_task *self = shim_task();
    if (!self)
        return REAL(pthread_create)(th, attr, fn, arg);
    blitz_spawn_attr sa;
    int rc = shim_attr_to_spawn(attr, &sa);
    if (rc)
        return rc;
    child_init ci;
    if ((rc = read_child_init(attr, &ci)))
        return rc;
    sa.prepare = shim_thread_init_child;
    t_child_init = &ci;
    blitz_task *t = blitz_task_spawn(fn, arg, &sa);
    t_child_init = NULL;
    if (!t)
        return errno == EINVAL ? EINVAL : EAGAIN;
    *th = (pthread_t)t;
    return 0;
}

BLITZ_EXPORT pthread_t pthread_self(void)
{
    blitz_task *t = shim_task();
    return t ? (pthread_t)t : REAL(pthread_self)();
}

/* A task waiting for a thread the shim does not own must not block its worker: poll. */
static int join_foreign(pthread_t th, void **ret, blitz_task *self)
{
    uint64_t nap = 20000;
    for (;;) {
        int rc = REAL(pthread_tryjoin_np)(th, ret);
        if (rc != EBUSY)
            return rc;
        if (blitz_sleep_until(blitz_now_ns() + nap, shim_cancel_flag(self)))
            shim_interrupted(self); /* joins are not interrupted by signal handlers */
        if (nap < 5000000)
            nap *= 2;
    }
}

/* Shared by the join family: deadline is CLOCK_MONOTONIC ns (0: none); for realtime
 * deadlines the caller re-checks. */
static int join_task(blitz_task *t, void **ret, int nonblocking, uint64_t deadline)
{
    blitz_task *self = shim_task();
    for (;;) {
        const _Atomic int *intr = self ? shim_cancel_flag(self) : NULL;
        if (intr && !nonblocking)
            shim_testcancel(self);
        int rc = blitz_task_join(t, ret, nonblocking, deadline, intr);
        if (rc != EINTR)
            return rc;
        shim_interrupted(self); /* acts on a cancellation; after a signal handler, waits on */
    }
}

static int clockjoin(pthread_t th, void **ret, clockid_t clk, const struct timespec *abs)
{
    int freed;
    blitz_task *t = task_of(th, &freed);
    if (freed)
        return ESRCH;
    if (t->detached)
        return EINVAL;
    if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
        return EINVAL; /* glibc checks the clock even without a time */
    /* glibc 2.36 waits without a timeout when tv_nsec is out of range (its futex wait fails
     * with EINVAL, which the join loop ignores): do the same. */
    if (!abs || abs->tv_nsec < 0 || abs->tv_nsec >= 1000000000)
        return join_task(t, ret, 0, 0);
    for (;;) {
        uint64_t dl = blitz_abs_to_mono(clk, abs);
        int rc = join_task(t, ret, 0, dl ? dl : 1); /* 0 would mean "no deadline" */
        if (rc != ETIMEDOUT)
            return rc;
        struct timespec now;
        clock_gettime(clk, &now);
        if (now.tv_sec > abs->tv_sec || (now.tv_sec == abs->tv_sec && now.tv_nsec >= abs->tv_nsec))
            return ETIMEDOUT; /* never early, even if the clock was set back meanwhile */
    }
}

BLITZ_EXPORT int pthread_join(pthread_t th, void **ret)
{
    int freed;
    blitz_task *t = task_of(th, &freed);
    blitz_task *self = shim_task();
    if (!t) {
        if (freed)
            return ESRCH;
        return self ? join_foreign(th, ret, self) : REAL(pthread_join)(th, ret);
    }
    return join_task(t, ret, 0, 0);
}

BLITZ_EXPORT int pthread_tryjoin_np(pthread_t th, void **ret)
{
    TASK_OR_LIBC(t, th, REAL(pthread_tryjoin_np)(th, ret));
    return join_task(t, ret, 1, 0);
}

BLITZ_EXPORT int pthread_timedjoin_np(pthread_t th, void **ret, const struct timespec *abs)
{
    int freed;
    if (!task_of(th, &freed) && !freed) {
        if (shim_task() && abs == NULL)
            return join_foreign(th, ret, shim_task());
        return REAL(pthread_timedjoin_np)(th, ret, abs);
    }
    return clockjoin(th, ret, CLOCK_REALTIME, abs);
}

BLITZ_EXPORT int pthread_clockjoin_np(pthread_t th, void **ret, clockid_t clk,
                                      const struct timespec *abs)
{
    int freed;
    if (!task_of(th, &freed) && !freed) {
        if (shim_task() && abs == NULL)
            return join_foreign(th, ret, shim_task());
        return REAL(pthread_clockjoin_np)(th, ret, clk, abs);
    }
    return clockjoin(th, ret, clk, abs);
}

BLITZ_EXPORT int pthread_detach(pthread_t th)
{
    TASK_OR_LIBC(t, th, REAL(pthread_detach)(th));
    return blitz_task_detach(t);
}

BLITZ_EXPORT int pthread_getattr_np(pthread_t th, pthread_attr_t *attr)
{
    TASK_OR_LIBC(t, th, REAL(pthread_getattr_np)(th, attr));
    int rc = pthread_attr_init(attr);
    if (rc)
        return rc;
    blitz_stack *s = t->stack;
    pthread_attr_setstack(attr, s->lo, (size_t)(s->hi - s->lo)); /* all of it is usable */
    pthread_attr_setguardsize(attr, s->guard);
    pthread_attr_setdetachstate(attr, t->detached ? PTHREAD_CREATE_DETACHED
                                                  : PTHREAD_CREATE_JOINABLE);
    shim_thread *st = shim_of(t);
    struct sched_param sp = { .sched_priority = st->sched_priority };
    pthread_attr_setschedpolicy(attr, st->sched_policy);
    pthread_attr_setschedparam(attr, &sp);
    return 0;
}

BLITZ_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
    TASK_OR_LIBC(t, th, REAL(pthread_setname_np)(th, name));
    if (strlen(name) > 15)
        return ERANGE;
    memset(shim_of(t)->name, 0, 16);
    memcpy(shim_of(t)->name, name, strlen(name));
    return 0;
}

BLITZ_EXPORT int pthread_getname_np(pthread_t th, char *buf, size_t len)
{
    TASK_OR_LIBC(t, th, REAL(pthread_getname_np)(th, buf, len));
    if (len < 16)
        return ERANGE;
    memcpy(buf, shim_of(t)->name, 16);
    buf[15] = 0;
    return 0;
}

/* The kernel's rule for a real-time policy: CAP_SYS_NICE, or a priority within
 * RLIMIT_RTPRIO. */
static int may_realtime(int prio)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_RTPRIO, &rl) == 0 && (rl.rlim_cur == RLIM_INFINITY ||
                                               (rlim_t)prio <= rl.rlim_cur))
        return 1;
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (blitz_syscall(SYS_capget, (long)&h, (long)d, 0, 0, 0, 0) != 0)
        return 1; /* cannot tell: let it through, as before */
    return (d[0].effective >> CAP_SYS_NICE) & 1;
}

/* Scheduling parameters of a task are validated like the kernel does and remembered, but
 * not applied: every task of a worker shares its OS thread's policy (see docs). */
static int check_sched(int policy, const struct sched_param *sp)
{
    if (policy != SCHED_OTHER && policy != SCHED_BATCH && policy != SCHED_IDLE &&
        policy != SCHED_FIFO && policy != SCHED_RR)
        return EINVAL;
    int lo = sched_get_priority_min(policy), hi = sched_get_priority_max(policy);
    if (sp->sched_priority < lo || sp->sched_priority > hi)
        return EINVAL;
    if ((policy == SCHED_FIFO || policy == SCHED_RR) && !may_realtime(sp->sched_priority))
        return EPERM; /* what the kernel would answer the thread */
    return 0;
}

BLITZ_EXPORT int pthread_setschedparam(pthread_t th, int policy, const struct sched_param *sp)
{
    TASK_OR_LIBC(t, th, REAL(pthread_setschedparam)(th, policy, sp));
    int rc = check_sched(policy, sp);
    if (rc)
        return rc;
    shim_of(t)->sched_policy = policy;
    shim_of(t)->sched_priority = sp->sched_priority;
    return 0;
}

BLITZ_EXPORT int pthread_getschedparam(pthread_t th, int *policy, struct sched_param *sp)
{
    TASK_OR_LIBC(t, th, REAL(pthread_getschedparam)(th, policy, sp));
    *policy = shim_of(t)->sched_policy;
    sp->sched_priority = shim_of(t)->sched_priority;
    return 0;
}

BLITZ_EXPORT int pthread_setschedprio(pthread_t th, int prio)
{
    TASK_OR_LIBC(t, th, REAL(pthread_setschedprio)(th, prio));
    struct sched_param sp = { .sched_priority = prio };
    int rc = check_sched(shim_of(t)->sched_policy, &sp);
    if (rc)
        return rc;
    shim_of(t)->sched_priority = prio;
    return 0;
}

BLITZ_EXPORT int pthread_getcpuclockid(pthread_t th, clockid_t *clk)
{
    TASK_OR_LIBC(t, th, REAL(pthread_getcpuclockid)(th, clk));
    return ENOENT; /* no per-task CPU clock: the kernel only counts OS threads */
}

BLITZ_EXPORT int pthread_setaffinity_np(pthread_t th, size_t n, const cpu_set_t *set)
{
    TASK_OR_LIBC(t, th, REAL(pthread_setaffinity_np)(th, n, set));
    return CPU_COUNT_S(n, set) ? 0 : EINVAL; /* accepted, not applied (docs) */
}

BLITZ_EXPORT int pthread_getaffinity_np(pthread_t th, size_t n, cpu_set_t *set)
{
    TASK_OR_LIBC(t, th, REAL(pthread_getaffinity_np)(th, n, set));
    return sched_getaffinity(0, n, set) == 0 ? 0 : errno;
}

/* Signals to a task reach the worker thread that runs it now (or ran it last); the signals
 * family refines this later. */
static int valid_signal(int sig)
{
    return sig >= 0 && sig < NSIG && sig != 32 && sig != 33; /* glibc's internal signals */
}

BLITZ_EXPORT int pthread_kill(pthread_t th, int sig)
{
    TASK_OR_LIBC(t, th, REAL(pthread_kill)(th, sig));
    if (!valid_signal(sig))
        return EINVAL;
    if (sig == 0 || t->done)
        return 0;
    return shim_signal_task(t, sig, NULL);
}

BLITZ_EXPORT int pthread_sigqueue(pthread_t th, int sig, const union sigval val)
{
    TASK_OR_LIBC(t, th, REAL(pthread_sigqueue)(th, sig, val));
    if (!valid_signal(sig))
        return EINVAL;
    if (sig == 0 || t->done)
        return 0;
    return shim_signal_task(t, sig, &val);
}
