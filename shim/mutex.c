/* Mutexes that park the waiting task, not its worker.
 *
 * State lives in the program's pthread_mutex_t, in glibc's own fields, so zeroed memory and
 * every static initializer work: __lock holds LOCKED and PARKED bits (the upper bits a
 * priority-protect mutex keeps its ceiling in are left alone), __owner the owner id (sync.h),
 * __count the recursion depth, __kind the type glibc's init or initializer wrote. Waiters
 * park in the parking lot on &__lock.
 *
 * Fairness: an unlock with waiters wakes the oldest; it normally competes for the lock again
 * (so a busy lock is not handed around at the pace of context switches), but once it has
 * waited FAIR_NS the unlocker hands the lock over directly, so nobody starves. While a woken
 * waiter has not run yet (WAKING), further unlocks wake nobody else (as Go's mutex does).
 * A lock handed over is marked HANDED until its new owner runs: that owner may be queued
 * behind the very task that would spin for it on the same worker, so nobody spins on it.
 *
 * Left to libc (robust and process-shared mutexes: their owner ids and wait queues involve
 * the kernel or another process): tasks poll them with growing sleeps instead of blocking
 * the worker. Priority inheritance/protection is accepted and ignored for the others: all
 * tasks of a worker share its OS thread's priority. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <time.h>
#include "parklot.h"
#include "real.h"
#include "sync.h"

#define LOCKED 1
#define PARKED 2
#define WAKING 4 /* a woken waiter has not run yet: unlocks need not wake another */
#define HANDED 8 /* handed to a parked waiter that has not run yet: spinning cannot win it */
#define STATE (LOCKED | PARKED)
#define FAIR_NS 100000u
#ifndef SPIN
#define SPIN 64 /* pauses (~25 ns each here) before parking */
#endif

#define KIND_TYPE 3
#define KIND_ROBUST 16
#define KIND_PI 32
#define KIND_PSHARED 128
#define KIND_ELISION 0x300 /* glibc's elision request bits: no meaning here */
enum { HANDOFF = 1 };

static _Atomic int *word(pthread_mutex_t *m) { return (_Atomic int *)&m->__data.__lock; }
static int kind(pthread_mutex_t *m) { return m->__data.__kind; }

/* Left to libc: robust (glibc also marks those with the pshared bit) and process-shared. */
int shim_mutex_is_libc(pthread_mutex_t *m)
{
    return shim_sync_native || (kind(m) & (KIND_ROBUST | KIND_PSHARED));
}

static int try_acquire(_Atomic int *w)
{
    int s = atomic_load_explicit(w, memory_order_relaxed);
    while (!(s & LOCKED))
        if (atomic_compare_exchange_weak_explicit(w, &s, s | LOCKED, memory_order_acquire,
                                                  memory_order_relaxed))
            return 1;
    return 0;
}

static int park_validate(void *ctx)
{
    int s = atomic_load_explicit((_Atomic int *)ctx, memory_order_relaxed);
    return (s & STATE) == STATE;
}

/* Takes the lock word; 0, or ETIMEDOUT / EINVAL (bad timeout, checked only if it must wait). */
static int acquire(pthread_mutex_t *m, clockid_t clk, const struct timespec *abstime)
{
    _Atomic int *w = word(m);
    if (try_acquire(w))
        return 0;
    uint64_t deadline = 0;
    if (abstime) {
        int rc = shim_deadline(clk, abstime, &deadline);
        if (rc)
            return rc;
    }
    for (;;) {
        for (int spin = 0; spin < SPIN; spin++) { /* the holder may be on another worker */
            if (try_acquire(w))
                return 0;
            if (atomic_load_explicit(w, memory_order_relaxed) & HANDED)
                break;
            __builtin_ia32_pause();
        }
        if (try_acquire(w))
            return 0;
        int s = atomic_load_explicit(w, memory_order_relaxed);
        if (!(s & LOCKED))
            continue;
        if (!(s & PARKED) && !atomic_compare_exchange_weak_explicit(w, &s, s | PARKED,
                                                                    memory_order_relaxed,
                                                                    memory_order_relaxed))
            continue;
        uintptr_t token = 0;
        blitz_task *self = shim_task();
        int st = blitz_park(w, park_validate, NULL, (void *)w, deadline,
                            self ? shim_signal_flag(self) : NULL, &token);
        if (st == BLITZ_W_INTERRUPTED) {
            shim_signals_run(self); /* a handler runs on this thread; the wait goes on */
            continue;
        }
        if (st == BLITZ_W_WOKEN && token == HANDOFF) {
            atomic_fetch_and_explicit(w, ~HANDED, memory_order_relaxed);
            return 0;
        }
        if (st == BLITZ_W_WOKEN)
            atomic_fetch_and_explicit(w, ~WAKING, memory_order_relaxed);
        if (st == BLITZ_W_TIMEDOUT) {
            if (try_acquire(w))
                return 0;
            if (shim_deadline_passed(clk, abstime))
                return ETIMEDOUT;
            shim_deadline(clk, abstime, &deadline); /* the clock was set back: wait on */
        }
    }
}

static uintptr_t unlock_cb(void *ctx, const blitz_unpark_result *r)
{
    _Atomic int *w = ctx;
    int keep = atomic_load_explicit(w, memory_order_relaxed) & ~STATE;
    int keep_hi = keep & ~WAKING;
    if (r->woke && r->waited >= FAIR_NS) {
        atomic_store_explicit(w, keep_hi | LOCKED | HANDED | (r->more ? PARKED : 0),
                              memory_order_release);
        return HANDOFF;
    }
    atomic_store_explicit(w, keep_hi | (r->more ? PARKED : 0) | (r->woke ? WAKING : 0),
                          memory_order_release);
    return 0;
}

static void release(pthread_mutex_t *m)
{
    _Atomic int *w = word(m);
    int s = atomic_load_explicit(w, memory_order_relaxed);
    while (!(s & PARKED) || (s & WAKING))
        if (atomic_compare_exchange_weak_explicit(w, &s, s & ~LOCKED, memory_order_release,
                                                  memory_order_relaxed))
            return;
    blitz_unpark_one(w, unlock_cb, w);
}

/* One non-blocking attempt through libc's lock path (a timed lock whose time is up): unlike
 * glibc's trylock, it leaves a not-recoverable robust mutex unlocked. EBUSY while held. */
static int libc_trylock(void *m)
{
    static const struct timespec past = { 0, 0 };
    int rc = REAL(pthread_mutex_clocklock)(m, CLOCK_MONOTONIC, &past);
    return rc == ETIMEDOUT ? EBUSY : rc;
}

static int libc_lock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abstime)
{
    if (!shim_task()) {
        if (!abstime)
            return REAL(pthread_mutex_lock)(m);
        return REAL(pthread_mutex_clocklock)(m, clk, abstime);
    }
    uint64_t deadline = 0;
    int rc = libc_trylock(m);
    if (rc != EBUSY)
        return rc;
    if (abstime && (rc = shim_deadline(clk, abstime, &deadline)))
        return rc;
    return shim_poll_until(libc_trylock, m, deadline, SHIM_POLL_LOCK);
}

/* lock, timedlock, clocklock and trylock (try). */
static int lock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abstime, int try)
{
    if (shim_mutex_is_libc(m))
        return try ? REAL(pthread_mutex_trylock)(m) : libc_lock(m, clk, abstime);
    int type = kind(m) & KIND_TYPE, me = shim_owner_id();
    if (type == PTHREAD_MUTEX_RECURSIVE && m->__data.__owner == me) {
        if (m->__data.__count == UINT_MAX)
            return EAGAIN;
        m->__data.__count++;
        return 0;
    }
    if (type == PTHREAD_MUTEX_ERRORCHECK && m->__data.__owner == me)
        return try && !(kind(m) & KIND_PI) ? EBUSY : EDEADLK;
    int rc;
    if (try)
        rc = try_acquire(word(m)) ? 0 : EBUSY;
    else
        rc = acquire(m, clk, abstime);
    if (rc)
        return rc;
    m->__data.__owner = me;
    m->__data.__count = 1;
    return 0;
}

/* Unlock; with `all`, a recursive mutex is released whatever its depth, and *depth gets the
 * depth (condition variables release and restore it). */
int shim_mutex_unlock_depth(pthread_mutex_t *m, int all, unsigned *depth)
{
    int type = kind(m) & KIND_TYPE;
    /* NPTL checks the owner for these types, and for every priority-inheritance mutex. */
    if ((type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK ||
         (kind(m) & KIND_PI)) &&
        m->__data.__owner != shim_owner_id())
        return EPERM;
    if (depth)
        *depth = m->__data.__count;
    if (type == PTHREAD_MUTEX_RECURSIVE && !all && --m->__data.__count)
        return 0;
    m->__data.__owner = 0;
    m->__data.__count = 0;
    release(m);
    return 0;
}

/* Re-takes m after a condition wait, restoring a recursive depth. Returns 0, or what libc's
 * lock said for a mutex left to it (EOWNERDEAD for a robust one whose owner died), which the
 * wait returns, as glibc's does. */
int shim_mutex_relock(pthread_mutex_t *m, unsigned depth)
{
    if (shim_mutex_is_libc(m))
        return libc_lock(m, CLOCK_REALTIME, NULL);
    acquire(m, CLOCK_REALTIME, NULL);
    m->__data.__owner = shim_owner_id();
    m->__data.__count = depth ? depth : 1;
    return 0;
}

/* The kinds whose lock and unlock check nothing (normal, default and adaptive, with or
 * without glibc's elision flags): the common case, taken without the general path's checks
 * when the lock word is free (0) or held by the caller with nobody waiting (LOCKED). */
static int plain(pthread_mutex_t *m)
{
    unsigned k = (unsigned)kind(m) & ~(unsigned)KIND_ELISION;
    return (k == PTHREAD_MUTEX_NORMAL || k == PTHREAD_MUTEX_ADAPTIVE_NP) && !shim_sync_native;
}

BLITZ_EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
    int free = 0;
    if (__builtin_expect(plain(m), 1) &&
        atomic_compare_exchange_strong_explicit(word(m), &free, LOCKED, memory_order_acquire,
                                                memory_order_relaxed)) {
        m->__data.__owner = shim_owner_id();
        m->__data.__count = 1;
        return 0;
    }
    return lock(m, CLOCK_REALTIME, NULL, 0);
}

BLITZ_EXPORT int pthread_mutex_trylock(pthread_mutex_t *m)
{
    return lock(m, CLOCK_REALTIME, NULL, 1);
}

BLITZ_EXPORT int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
    return lock(m, CLOCK_REALTIME, abstime, 0);
}

BLITZ_EXPORT int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk,
                                         const struct timespec *abstime)
{
    if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
        return EINVAL;
    return lock(m, clk, abstime, 0);
}

BLITZ_EXPORT int pthread_mutex_unlock(pthread_mutex_t *m)
{
    int held = LOCKED;
    if (__builtin_expect(plain(m), 1)) {
        m->__data.__owner = 0;
        m->__data.__count = 0;
        if (!atomic_compare_exchange_strong_explicit(word(m), &held, 0, memory_order_release,
                                                     memory_order_relaxed))
            release(m); /* waiters, or a ceiling's bits: the general path */
        return 0;
    }
    if (shim_mutex_is_libc(m))
        return REAL(pthread_mutex_unlock)(m);
    return shim_mutex_unlock_depth(m, 0, NULL);
}

BLITZ_EXPORT int pthread_mutex_destroy(pthread_mutex_t *m)
{
    if (shim_mutex_is_libc(m))
        return REAL(pthread_mutex_destroy)(m);
    if (atomic_load_explicit(word(m), memory_order_relaxed) & LOCKED)
        return EBUSY;
    m->__data.__kind = -1; /* as glibc: a destroyed mutex is recognisably invalid */
    return 0;
}
