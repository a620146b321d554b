/* Condition variables that park the waiting task. The waiters are the parking lot's queue on
 * the condvar's address; the object itself only keeps what glibc's init wrote (its clock and
 * process-shared bits in __wrefs), so zeroed memory and PTHREAD_COND_INITIALIZER work.
 *
 * A waiter queues itself before it releases the mutex (parklot's before_sleep), so a signal
 * sent by anyone who took the mutex afterwards finds it. The mutex is taken again before
 * return on every path: wake-up, timeout, and cancellation (then the cancellation unwinds
 * with the mutex held, as NPTL does, for the cleanup handlers to release it).
 *
 * Process-shared condition variables stay with libc. A task waits on one in slices of
 * SLICE_NS (libc's timed wait) and yields between them, returning as a spurious wake-up
 * when a slice ends: its worker is held for at most a slice at a time. With a mutex left to
 * libc (robust, process-shared) the wait is still ours and only the mutex calls are libc's. */
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include "parklot.h"
#include "real.h"
#include "scheduler.h"
#include "sync.h"

#define COND_PSHARED 1u
#define COND_MONOTONIC 2u

int shim_mutex_is_libc(pthread_mutex_t *m);
int shim_mutex_unlock_depth(pthread_mutex_t *m, int all, unsigned *depth);
int shim_mutex_relock(pthread_mutex_t *m, unsigned depth);

static int libc_only(pthread_cond_t *c)
{
    return shim_sync_native || (c->__data.__wrefs & COND_PSHARED);
}

#define SLICE_NS 500000u

/* libc's wait for a process-shared condvar; from a task, one slice of it. */
static int libc_wait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                     const struct timespec *abstime)
{
    blitz_task *t = shim_task();
    if (!t)
        return abstime ? REAL(pthread_cond_clockwait)(c, m, clk, abstime)
                       : REAL(pthread_cond_wait)(c, m);
    if (abstime && (abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000L))
        return EINVAL;
    struct timespec slice;
    clock_gettime(clk, &slice);
    slice.tv_nsec += SLICE_NS;
    if (slice.tv_nsec >= 1000000000L) {
        slice.tv_sec++;
        slice.tv_nsec -= 1000000000L;
    }
    int last = abstime && (abstime->tv_sec < slice.tv_sec ||
                           (abstime->tv_sec == slice.tv_sec && abstime->tv_nsec <= slice.tv_nsec));
    int rc = REAL(pthread_cond_clockwait)(c, m, clk, last ? abstime : &slice);
    if (rc == ETIMEDOUT && !last) {
        blitz_yield(); /* with the mutex held, as after any wake-up */
        rc = 0;
    }
    return rc;
}

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
    int st = blitz_park(c, NULL, release_mutex, &w, deadline, t ? shim_cancel_flag(t) : NULL,
                        NULL);
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
    if (libc_only(c))
        return libc_wait(c, m, cond_clock(c), NULL);
    return wait(c, m, CLOCK_REALTIME, NULL);
}

BLITZ_EXPORT int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                        const struct timespec *abstime)
{
    if (libc_only(c))
        return libc_wait(c, m, cond_clock(c), abstime);
    return wait(c, m, cond_clock(c), abstime);
}

BLITZ_EXPORT int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                                        const struct timespec *abstime)
{
    if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
        return EINVAL;
    if (libc_only(c))
        return libc_wait(c, m, clk, abstime);
    return wait(c, m, clk, abstime);
}

BLITZ_EXPORT int pthread_cond_signal(pthread_cond_t *c)
{
    if (libc_only(c))
        return REAL(pthread_cond_signal)(c);
    blitz_unpark_one(c, NULL, NULL);
    return 0;
}

BLITZ_EXPORT int pthread_cond_broadcast(pthread_cond_t *c)
{
    if (libc_only(c))
        return REAL(pthread_cond_broadcast)(c);
    blitz_unpark_n(c, UINT32_MAX);
    return 0;
}

BLITZ_EXPORT int pthread_cond_destroy(pthread_cond_t *c)
{
    if (libc_only(c))
        return REAL(pthread_cond_destroy)(c);
    return 0;
}
