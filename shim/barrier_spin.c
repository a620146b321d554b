/* Barriers and spin locks, the two primitives where a green task must yield rather than
 * wait on the CPU: a spinner on the same worker as the holder would spin forever.
 *
 * Barrier (process-private): our own layout in pthread_barrier_t (initialised only by
 * pthread_barrier_init, there is no static initializer): one 64-bit word {round, arrived},
 * so arriving and learning the round is one atomic step, and the count. The last arriver
 * starts the next round and wakes everyone parked on the barrier; it alone gets
 * PTHREAD_BARRIER_SERIAL_THREAD. Process-shared barriers stay with libc (a task waiting on
 * one holds its worker).
 *
 * Spin locks: an int in glibc's x86-64 encoding (1 free, 0 held, so zeroed memory is a held
 * lock there too); a task that does not get it soon yields to the other tasks of its worker,
 * so a holder that yielded gets to run. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include "parklot.h"
#include "real.h"
#include "scheduler.h"
#include "sync.h"

#define MAGIC 0x62617272u /* "barr": ours, not glibc's process-shared layout */

typedef struct {
    _Atomic uint64_t word; /* round << 32 | arrived */
    uint32_t count;
    uint32_t magic;
} blitz_barrier;

_Static_assert(sizeof(blitz_barrier) <= sizeof(pthread_barrier_t), "barrier layout");

static blitz_barrier *B(pthread_barrier_t *b) { return (blitz_barrier *)b; }
static int ours(pthread_barrier_t *b) { return !shim_sync_native && B(b)->magic == MAGIC; }

BLITZ_EXPORT int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a,
                                      unsigned count)
{
    int pshared = 0;
    if (a)
        pthread_barrierattr_getpshared(a, &pshared);
    if (shim_sync_native || pshared == PTHREAD_PROCESS_SHARED)
        return REAL(pthread_barrier_init)(b, a, count);
    if (count == 0 || count > INT_MAX)
        return EINVAL;
    blitz_barrier *x = B(b);
    /* The round moves on rather than restarting at 0: threads just released from this
     * barrier (destroyed and initialised again by the serial thread, as glibc allows) may
     * not have looked at it yet, and must not find their round again. */
    uint32_t round = x->magic == MAGIC ? (uint32_t)(atomic_load(&x->word) >> 32) + 1 : 0;
    atomic_store(&x->word, (uint64_t)round << 32);
    x->count = count;
    x->magic = MAGIC;
    return 0;
}

struct round_ctx {
    blitz_barrier *x;
    uint32_t round;
};

static int same_round(void *ctx)
{
    struct round_ctx *r = ctx;
    return (uint32_t)(atomic_load(&r->x->word) >> 32) == r->round;
}

BLITZ_EXPORT int pthread_barrier_wait(pthread_barrier_t *b)
{
    if (!ours(b))
        return REAL(pthread_barrier_wait)(b);
    blitz_barrier *x = B(b);
    uint64_t old = atomic_fetch_add(&x->word, 1);
    struct round_ctx r = { x, (uint32_t)(old >> 32) };
    if ((uint32_t)old + 1 == x->count) {
        /* Everyone of this round has arrived; nobody arrives for the next before we wake. */
        atomic_store(&x->word, (uint64_t)(r.round + 1) << 32);
        blitz_unpark_n(x, UINT32_MAX);
        return PTHREAD_BARRIER_SERIAL_THREAD;
    }
    blitz_task *self = shim_task();
    while (same_round(&r))
        if (blitz_park(x, same_round, NULL, &r, 0, self ? shim_signal_flag(self) : NULL, NULL) ==
            BLITZ_W_INTERRUPTED)
            shim_signals_run(self); /* a handler runs on this thread; the wait goes on */
    return 0;
}

BLITZ_EXPORT int pthread_barrier_destroy(pthread_barrier_t *b)
{
    if (!ours(b))
        return REAL(pthread_barrier_destroy)(b);
    blitz_barrier *x = B(b);
    if ((uint32_t)atomic_load(&x->word) != 0)
        return EBUSY; /* threads are waiting in it */
    x->count = 0; /* the magic stays: an init that follows keeps counting rounds */
    return 0;
}

static _Atomic int *spin_word(pthread_spinlock_t *l) { return (_Atomic int *)l; }

#define SPIN_FREE 1
#define SPIN_HELD 0

static int spin_try(_Atomic int *w)
{
    int f = SPIN_FREE;
    return atomic_load_explicit(w, memory_order_relaxed) == SPIN_FREE &&
           atomic_compare_exchange_strong_explicit(w, &f, SPIN_HELD, memory_order_acquire,
                                                   memory_order_relaxed);
}

BLITZ_EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
    if (shim_sync_native)
        return REAL(pthread_spin_lock)(l);
    _Atomic int *w = spin_word(l);
    for (;;) {
        for (int i = 0; i < 100; i++) {
            if (spin_try(w))
                return 0;
            __builtin_ia32_pause();
        }
        if (shim_task())
            blitz_yield(); /* the holder may be a task of this worker */
        else
            REAL(sched_yield)();
    }
}

BLITZ_EXPORT int pthread_spin_trylock(pthread_spinlock_t *l)
{
    if (shim_sync_native)
        return REAL(pthread_spin_trylock)(l);
    return spin_try(spin_word(l)) ? 0 : EBUSY;
}

BLITZ_EXPORT int pthread_spin_unlock(pthread_spinlock_t *l)
{
    if (shim_sync_native)
        return REAL(pthread_spin_unlock)(l);
    atomic_store_explicit(spin_word(l), SPIN_FREE, memory_order_release);
    return 0;
}
