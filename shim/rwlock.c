/* Read-write locks that park the waiting task. State in glibc's pthread_rwlock_t fields:
 * __readers holds WRITER, writer-waiting and reader-waiting bits and the reader count,
 * __cur_writer the write owner's id (EDEADLK as NPTL gives it), __flags the kind (with
 * PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP new readers queue behind waiting writers;
 * otherwise readers go first, as in glibc). Readers park on &__readers, writers on
 * &__writers. Process-shared rwlocks stay with libc; a task polls them. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include "parklot.h"
#include "real.h"
#include "sync.h"

#define WRITER (1u << 31)
#define WWAIT (1u << 30)
#define RWAIT (1u << 29)
#define COUNT (RWAIT - 1)
#define SPIN 64

static _Atomic unsigned *st(pthread_rwlock_t *rw) { return (_Atomic unsigned *)&rw->__data.__readers; }
static void *wkey(pthread_rwlock_t *rw) { return &rw->__data.__writers; }
static int prefer_writer(pthread_rwlock_t *rw)
{
    return rw->__data.__flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}
static int libc_only(pthread_rwlock_t *rw) { return shim_sync_native || rw->__data.__shared; }

static int reader_blocked(pthread_rwlock_t *rw, unsigned s)
{
    return (s & WRITER) || (prefer_writer(rw) && (s & WWAIT));
}

static int rd_validate(void *ctx)
{
    pthread_rwlock_t *rw = ctx;
    unsigned s = atomic_load(st(rw));
    return reader_blocked(rw, s) && (s & RWAIT);
}

static int wr_validate(void *ctx)
{
    pthread_rwlock_t *rw = ctx;
    unsigned s = atomic_load(st(rw));
    return (s & (WRITER | COUNT)) && (s & WWAIT);
}

static int libc_tryrd(void *rw) { return REAL(pthread_rwlock_tryrdlock)(rw); }
static int libc_trywr(void *rw) { return REAL(pthread_rwlock_trywrlock)(rw); }

static int libc_lock(pthread_rwlock_t *rw, int write, clockid_t clk, const struct timespec *ts)
{
    if (!shim_task()) {
        if (write)
            return ts ? REAL(pthread_rwlock_clockwrlock)(rw, clk, ts) : REAL(pthread_rwlock_wrlock)(rw);
        return ts ? REAL(pthread_rwlock_clockrdlock)(rw, clk, ts) : REAL(pthread_rwlock_rdlock)(rw);
    }
    uint64_t deadline = 0;
    if (ts && shim_deadline(clk, ts, &deadline))
        return EINVAL;
    int rc = write ? libc_trywr(rw) : libc_tryrd(rw);
    if (rc != EBUSY)
        return rc;
    return shim_poll_until(write ? libc_trywr : libc_tryrd, rw, deadline, SHIM_POLL_LOCK);
}

static uintptr_t writer_woken(void *ctx, const blitz_unpark_result *r);

/* A writer whose time ran out may have been the one that kept new readers out (WWAIT, with
 * writers preferred): the bit is cleared and the readers woken to look again; one other
 * writer, if any, is woken to mark it again before it parks. */
static void writer_gave_up(pthread_rwlock_t *rw)
{
    _Atomic unsigned *w = st(rw);
    if (!(atomic_load(w) & WWAIT))
        return;
    atomic_fetch_and(w, ~WWAIT);
    blitz_unpark_one(wkey(rw), writer_woken, rw);
    if (atomic_fetch_and(w, ~RWAIT) & RWAIT)
        blitz_unpark_n(w, UINT32_MAX);
}

static int lock(pthread_rwlock_t *rw, int write, int try, clockid_t clk,
                const struct timespec *abstime)
{
    uint64_t deadline = 0;
    if (abstime && shim_deadline(clk, abstime, &deadline))
        return EINVAL;
    if (libc_only(rw)) {
        if (try)
            return write ? libc_trywr(rw) : libc_tryrd(rw);
        return libc_lock(rw, write, clk, abstime);
    }
    int me = shim_owner_id();
    if (atomic_load_explicit((_Atomic int *)&rw->__data.__cur_writer, memory_order_relaxed) == me)
        return try ? EBUSY : EDEADLK;
    _Atomic unsigned *w = st(rw);
    int spins = 0;
    for (;;) {
        unsigned s = atomic_load_explicit(w, memory_order_relaxed);
        if (write ? !(s & (WRITER | COUNT)) : !reader_blocked(rw, s)) {
            if (!write && (s & COUNT) == COUNT)
                return EAGAIN;
            unsigned n = write ? s | WRITER : s + 1;
            if (atomic_compare_exchange_weak_explicit(w, &s, n, memory_order_acquire,
                                                      memory_order_relaxed)) {
                if (write)
                    atomic_store_explicit((_Atomic int *)&rw->__data.__cur_writer, me,
                                          memory_order_relaxed);
                return 0;
            }
            continue;
        }
        if (try)
            return EBUSY;
        /* Critical sections under a rwlock are usually short and the holder may be running on
         * another worker: a few hundred cycles of waiting cost less than a park and a wake. */
        if (spins++ < SPIN) {
            __builtin_ia32_pause();
            continue;
        }
        unsigned bit = write ? WWAIT : RWAIT;
        if (!(s & bit) && !atomic_compare_exchange_weak_explicit(w, &s, s | bit,
                                                                 memory_order_relaxed,
                                                                 memory_order_relaxed))
            continue;
        blitz_task *self = shim_task();
        int r = blitz_park(write ? wkey(rw) : (void *)w, write ? wr_validate : rd_validate, NULL,
                           rw, deadline, self ? shim_signal_flag(self) : NULL, NULL);
        if (r == BLITZ_W_INTERRUPTED) {
            shim_signals_run(self); /* a handler runs on this thread; the wait goes on */
            continue;
        }
        if (r == BLITZ_W_TIMEDOUT) {
            if (shim_deadline_passed(clk, abstime)) {
                if (write)
                    writer_gave_up(rw);
                return ETIMEDOUT;
            }
            shim_deadline(clk, abstime, &deadline);
        }
    }
}

static uintptr_t writer_woken(void *ctx, const blitz_unpark_result *r)
{
    if (r->more)
        atomic_fetch_or(st(ctx), WWAIT);
    return 0;
}

BLITZ_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t *rw)
{
    if (libc_only(rw))
        return REAL(pthread_rwlock_unlock)(rw);
    _Atomic unsigned *w = st(rw);
    unsigned s = atomic_load_explicit(w, memory_order_relaxed), n;
    if (s & WRITER)
        atomic_store_explicit((_Atomic int *)&rw->__data.__cur_writer, 0, memory_order_relaxed);
    do
        n = s & WRITER ? s & ~WRITER : s - 1;
    while (!atomic_compare_exchange_weak_explicit(w, &s, n, memory_order_release,
                                                  memory_order_relaxed));
    if (n & (WRITER | COUNT))
        return 0; /* other readers still hold it */
    /* Free now. The wait bits are cleared before the wake-ups; a party that sets one again
     * and parks re-checks the state under the parking lot's lock, so none is lost. */
    if (n & WWAIT) {
        atomic_fetch_and(w, ~WWAIT);
        if (blitz_unpark_one(wkey(rw), writer_woken, rw) && prefer_writer(rw))
            return 0; /* readers stay queued behind the writer */
    }
    if (n & RWAIT) {
        atomic_fetch_and(w, ~RWAIT);
        blitz_unpark_n(w, UINT32_MAX);
    }
    return 0;
}

/* The uncontended cases without the general path's checks: a read lock while no writer
 * holds or waits (a caller holding the write lock sees WRITER and goes the long way, to its
 * EDEADLK), a write lock on a free rwlock. */
static int fast_rd(pthread_rwlock_t *rw)
{
    _Atomic unsigned *w = st(rw);
    unsigned s = atomic_load_explicit(w, memory_order_relaxed);
    return !(s & (WRITER | WWAIT)) && (s & COUNT) < COUNT - 1 &&
           atomic_compare_exchange_strong_explicit(w, &s, s + 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

static int fast_wr(pthread_rwlock_t *rw)
{
    unsigned s = 0;
    if (!atomic_compare_exchange_strong_explicit(st(rw), &s, WRITER, memory_order_acquire,
                                                 memory_order_relaxed))
        return 0;
    atomic_store_explicit((_Atomic int *)&rw->__data.__cur_writer, shim_owner_id(),
                          memory_order_relaxed);
    return 1;
}

BLITZ_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *rw)
{
    if (__builtin_expect(!libc_only(rw), 1) && fast_rd(rw))
        return 0;
    return lock(rw, 0, 0, CLOCK_REALTIME, NULL);
}
BLITZ_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t *rw)
{
    return lock(rw, 0, 1, CLOCK_REALTIME, NULL);
}
BLITZ_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t *rw, const struct timespec *t)
{
    return lock(rw, 0, 0, CLOCK_REALTIME, t);
}
BLITZ_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t *rw, clockid_t c,
                                            const struct timespec *t)
{
    return lock(rw, 0, 0, c, t);
}
BLITZ_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *rw)
{
    if (__builtin_expect(!libc_only(rw), 1) && fast_wr(rw))
        return 0;
    return lock(rw, 1, 0, CLOCK_REALTIME, NULL);
}
BLITZ_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t *rw)
{
    return lock(rw, 1, 1, CLOCK_REALTIME, NULL);
}
BLITZ_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t *rw, const struct timespec *t)
{
    return lock(rw, 1, 0, CLOCK_REALTIME, t);
}
BLITZ_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t *rw, clockid_t c,
                                            const struct timespec *t)
{
    return lock(rw, 1, 0, c, t);
}
