/* Unnamed process-private semaphores that park the waiting task. glibc's sem_t layout is
 * kept: a 64-bit word with the value in the low half (our waiter count in the high half),
 * then the "private" field sem_init writes (nonzero for process-shared ones). Waiters park
 * on the semaphore's address.
 *
 * Process-shared and named semaphores (sem_open) stay with libc; a task waiting on one polls
 * with growing sleeps instead of holding its worker. */
#include <errno.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include "parklot.h"
#include "real.h"
#include "sync.h"

typedef struct {
    _Atomic uint64_t data; /* value | waiters << 32 */
    int shared;            /* glibc's "private" field: nonzero when process-shared */
    int pad;
} blitz_sem;

#define VALUE(d) ((uint32_t)(d))
#define WAITER ((uint64_t)1 << 32)

static blitz_sem *S(sem_t *s) { return (blitz_sem *)s; }
static int libc_only(sem_t *s) { return shim_sync_native || S(s)->shared; }

static int try_take(blitz_sem *b)
{
    uint64_t d = atomic_load_explicit(&b->data, memory_order_relaxed);
    while (VALUE(d) > 0)
        if (atomic_compare_exchange_weak_explicit(&b->data, &d, d - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return 1;
    return 0;
}

static int empty(void *ctx) { return VALUE(atomic_load(&((blitz_sem *)ctx)->data)) == 0; }

static int libc_trywait(void *s) { return REAL(sem_trywait)(s) == 0 ? 0 : errno; }

static int libc_wait(sem_t *s, clockid_t clk, const struct timespec *abstime)
{
    if (!shim_task())
        return abstime ? REAL(sem_clockwait)(s, clk, abstime) : REAL(sem_wait)(s);
    uint64_t deadline = 0;
    int rc = libc_trywait(s);
    if (rc == EAGAIN && abstime)
        rc = shim_deadline(clk, abstime, &deadline) ? EINVAL : EAGAIN;
    if (rc == EAGAIN)
        rc = shim_poll_until(libc_trywait, s, deadline, SHIM_POLL_SEM);
    if (rc) {
        errno = rc;
        return -1;
    }
    return 0;
}

/* sem_wait / timedwait / clockwait: a cancellation point, like NPTL's. */
static int wait(sem_t *s, clockid_t clk, const struct timespec *abstime)
{
    blitz_task *t = shim_task();
    if (t)
        shim_testcancel(t);
    uint64_t deadline = 0;
    if (abstime && shim_deadline(clk, abstime, &deadline)) { /* glibc checks it first */
        errno = EINVAL;
        return -1;
    }
    if (libc_only(s))
        return libc_wait(s, clk, abstime);
    blitz_sem *b = S(s);
    if (try_take(b))
        return 0;
    for (;;) {
        atomic_fetch_add(&b->data, WAITER);
        int st = blitz_park(b, empty, NULL, b, deadline, t ? shim_cancel_flag(t) : NULL, NULL);
        atomic_fetch_sub(&b->data, WAITER);
        /* A signal's handler runs before the wait returns, whatever it returns. */
        int sig = st == BLITZ_W_INTERRUPTED ? shim_interrupted(t) : SHIM_SIG_NONE;
        if (try_take(b))
            return 0;
        if (st == BLITZ_W_INTERRUPTED) {
            /* As the kernel's futex wait: a handler with SA_RESTART restarts an untimed
             * wait; any other handler ends it with EINTR. */
            if (shim_sig_ends_wait(sig, !abstime)) {
                errno = EINTR;
                return -1;
            }
        }
        if (st == BLITZ_W_TIMEDOUT) {
            if (shim_deadline_passed(clk, abstime)) {
                errno = ETIMEDOUT;
                return -1;
            }
            shim_deadline(clk, abstime, &deadline);
        }
    }
}

BLITZ_EXPORT int sem_wait(sem_t *s) { return wait(s, CLOCK_REALTIME, NULL); }

BLITZ_EXPORT int sem_timedwait(sem_t *s, const struct timespec *abstime)
{
    return wait(s, CLOCK_REALTIME, abstime);
}

BLITZ_EXPORT int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abstime)
{
    if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC) {
        errno = EINVAL;
        return -1;
    }
    return wait(s, clk, abstime);
}

BLITZ_EXPORT int sem_trywait(sem_t *s)
{
    if (libc_only(s))
        return REAL(sem_trywait)(s);
    if (try_take(S(s)))
        return 0;
    errno = EAGAIN;
    return -1;
}

BLITZ_EXPORT int sem_post(sem_t *s)
{
    if (libc_only(s))
        return REAL(sem_post)(s);
    blitz_sem *b = S(s);
    uint64_t d = atomic_load_explicit(&b->data, memory_order_relaxed);
    do {
        if (VALUE(d) >= SEM_VALUE_MAX) {
            errno = EOVERFLOW;
            return -1;
        }
    } while (!atomic_compare_exchange_weak_explicit(&b->data, &d, d + 1, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* seq_cst with the waiter's count increment: either it sees the new value when it
     * validates, or we see its count here. */
    if (d >> 32)
        blitz_unpark_one(b, NULL, NULL);
    return 0;
}

BLITZ_EXPORT int sem_getvalue(sem_t *s, int *v)
{
    if (libc_only(s))
        return REAL(sem_getvalue)(s, v);
    *v = (int)VALUE(atomic_load(&S(s)->data));
    return 0;
}
