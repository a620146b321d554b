/* Condition variables that park the waiting task. The waiters are the parking lot's queue on
 * the condvar's address; the object itself only keeps what glibc's init wrote (its clock and
 * process-shared bits in __wrefs), so zeroed memory and PTHREAD_COND_INITIALIZER work.
 *
 * A waiter queues itself before it releases the mutex (parklot's before_sleep), so a signal
 * sent by anyone who took the mutex afterwards finds it. The mutex is taken again before
 * return on every path: wake-up, timeout, and cancellation (then the cancellation unwinds
 * with the mutex held, as NPTL does, for the cleanup handlers to release it).
 *
 * Process-shared condition variables need a wake-up that crosses processes, which only the
 * kernel gives: their state is a sequence word in the object (__g_signals[0], which glibc's
 * init zeroes) that signal and broadcast bump before a futex wake. A waiter notes it before
 * it releases the mutex and waits on it in the kernel (a task through a helper thread,
 * xwait.c), as glibc's condvar of old did: signal may wake more than one (POSIX allows it).
 * All processes sharing one must run under the shim: glibc's own algorithm on the same
 * object would not see these signals. With a mutex left to libc (robust, process-shared)
 * the wait is still ours and only the mutex calls are libc's. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "clock.h"
#include "parklot.h"
#include "real.h"
#include "scheduler.h"
#include "sync.h"

#define COND_PSHARED 1u
#define COND_MONOTONIC 2u

int shim_mutex_is_libc(pthread_mutex_t *m);
int shim_mutex_unlock_depth(pthread_mutex_t *m, int all, unsigned *depth);
int shim_mutex_relock(pthread_mutex_t *m, unsigned depth);

struct wait_ctx {
    pthread_mutex_t *m;
    unsigned depth;
    int unlock_rc;
};

static void release_mutex(void *arg)
{
    struct wait_ctx *w = arg;
    if (shim_mutex_is_libc(w->m))
        w->unlock_rc = REAL(pthread_mutex_unlock)(w->m);
    else
        w->unlock_rc = shim_mutex_unlock_depth(w->m, 1, &w->depth);
}

static _Atomic unsigned *pshared_seq(pthread_cond_t *c)
{
    return (_Atomic unsigned *)&c->__data.__g_signals[0];
}

/* Moves the sequence on and wakes one waiter or all, in any process. */
static int pshared_signal(pthread_cond_t *c, int all)
{
    atomic_fetch_add_explicit(pshared_seq(c), 1, memory_order_release);
    shim_shared_wake(pshared_seq(c), all);
    return 0;
}

/* Waiters of a process-shared condvar that may still read it: destroy waits for none (as
 * glibc's does), so that a broadcast, destroy and reuse of the memory is safe. */
static _Atomic unsigned *pshared_users(pthread_cond_t *c)
{
    return (_Atomic unsigned *)&c->__data.__g_signals[1];
}

static int wait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                const struct timespec *abstime)
{
    uint64_t deadline = 0;
    if (abstime) {
        int rc = shim_deadline(clk, abstime, &deadline);
        if (rc)
            return rc;
    }
    int type = m->__data.__kind & 3;
    if (!shim_mutex_is_libc(m) && type != PTHREAD_MUTEX_NORMAL && type != PTHREAD_MUTEX_ADAPTIVE_NP &&
        m->__data.__owner != shim_owner_id())
        return EPERM;
    blitz_task *t = shim_task();
    if (t)
        shim_testcancel(t);
    struct wait_ctx w = { m, 0, 0 };
    const _Atomic int *intr = t ? shim_cancel_flag(t) : NULL;
    int st;
    if (c->__data.__wrefs & COND_PSHARED) {
        /* Noted before the mutex is released: a signal sent after that moves it. */
        atomic_fetch_add(pshared_users(c), 1);
        unsigned seen = atomic_load_explicit(pshared_seq(c), memory_order_acquire);
        release_mutex(&w);
        /* libc's mutex may say EPERM: then nothing was released and nothing is waited. */
        st = w.unlock_rc ? BLITZ_W_WOKEN : shim_shared_wait(pshared_seq(c), seen, deadline, intr);
        atomic_fetch_sub(pshared_users(c), 1); /* c is not touched after this */
        shim_shared_wake(pshared_users(c), 1); /* a destroy may wait for it */
        if (w.unlock_rc)
            return w.unlock_rc;
    } else {
        st = blitz_park(c, NULL, release_mutex, &w, deadline, intr, NULL);
    }
    int relock = shim_mutex_relock(m, w.depth);
    if (st == BLITZ_W_INTERRUPTED)
        shim_interrupted(t); /* a cancellation unwinds with the mutex held; after a signal
                              * handler the wait returns as a spurious wake-up */
    if (relock)
        return relock;
    if (st == BLITZ_W_TIMEDOUT && shim_deadline_passed(clk, abstime))
        return ETIMEDOUT;
    return 0; /* woken, or a timeout before the clock got there: a spurious wake-up */
}

static clockid_t cond_clock(pthread_cond_t *c)
{
    return c->__data.__wrefs & COND_MONOTONIC ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

BLITZ_EXPORT int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    if (shim_sync_native)
        return REAL(pthread_cond_wait)(c, m);
    return wait(c, m, CLOCK_REALTIME, NULL);
}

BLITZ_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                        const struct timespec *abstime)
{
    if (shim_sync_native)
        return REAL(pthread_cond_timedwait)(c, m, abstime);
    return wait(c, m, cond_clock(c), abstime);
}

BLITZ_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                                        const struct timespec *abstime)
{
    if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
        return EINVAL;
    if (shim_sync_native)
        return REAL(pthread_cond_clockwait)(c, m, clk, abstime);
    return wait(c, m, clk, abstime);
}

BLITZ_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
    if (shim_sync_native)
        return REAL(pthread_cond_signal)(c);
    if (c->__data.__wrefs & COND_PSHARED)
        return pshared_signal(c, 0);
    blitz_unpark_one(c, NULL, NULL);
    return 0;
}

BLITZ_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
    if (shim_sync_native)
        return REAL(pthread_cond_broadcast)(c);
    if (c->__data.__wrefs & COND_PSHARED)
        return pshared_signal(c, 1);
    blitz_unpark_n(c, UINT32_MAX);
    return 0;
}

BLITZ_EXPORT int pthread_cond_destroy(pthread_cond_t *c)
{
    if (shim_sync_native)
        return REAL(pthread_cond_destroy)(c);
    if (c->__data.__wrefs & COND_PSHARED) {
        /* Waiters still blocked are woken (destroying them is undefined; glibc would wait
         * for them forever); then it waits for every waiter to let go of the object. */
        pshared_signal(c, 1);
        unsigned n;
        while ((n = atomic_load(pshared_users(c))) != 0)
            shim_shared_wait(pshared_users(c), n, 0, NULL);
    }
    return 0;
}
