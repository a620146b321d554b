/* A small futex-based lock for the runtime's own short critical sections (never held across
 * a park or a context switch). Usable from tasks, scheduler contexts and plain OS threads.
 * It exists because runtime/ must not call pthread_mutex_* (interposed by the shim).
 * State: 0 free, 1 held, 2 held with (possible) sleepers. Acquire on lock pairs with
 * release on unlock. */
#ifndef BLITZ_LOCK_H
#define BLITZ_LOCK_H
#include <stdatomic.h>
#include <stdint.h>

typedef struct blitz_lock {
    _Atomic uint32_t v;
} blitz_lock;
#define BLITZ_LOCK_INIT { 0 }

void blitz_lock_slow(blitz_lock *l);
void blitz_lock_wake(blitz_lock *l);

static inline void blitz_lock_acquire(blitz_lock *l)
{
    uint32_t c = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(&l->v, &c, 1, memory_order_acquire,
                                                                 memory_order_relaxed), 1))
        return;
    blitz_lock_slow(l);
}

static inline void blitz_lock_release(blitz_lock *l)
{
    if (__builtin_expect(atomic_exchange_explicit(&l->v, 0, memory_order_release) == 2, 0))
        blitz_lock_wake(l);
}

/* Raw futex helpers (private futexes). timeout_abs_mono: CLOCK_MONOTONIC ns, 0 = forever.
 * Returns 0, or -1 with errno (ETIMEDOUT, EAGAIN, EINTR). */
int blitz_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_abs_mono);
void blitz_futex_wake(_Atomic uint32_t *addr, int n);
#endif
