/* A parking lot: wait queues keyed by address, so that a synchronization object needs no
 * queue of its own (its state stays in the program's object, which may start as zeroed
 * memory) and green tasks and plain OS threads wait on it alike. The design of WebKit's and
 * Rust's parking_lot, on top of blitz_waiter: a fixed table of buckets, each a lock and a
 * FIFO of parked parties; park checks the object's state under the bucket lock, so a wake-up
 * between the check and the sleep is never lost.
 *
 * Thread-safety: every function, from tasks and OS threads. Callbacks run with the bucket
 * lock held and must not park, lock other buckets or call back into the lot. */
#ifndef BLITZ_PARKLOT_H
#define BLITZ_PARKLOT_H
#include <stdint.h>
#include "waiter.h"

typedef struct blitz_parker {
    blitz_waiter w;
    const void *key;
    struct blitz_parker *next, *prev;
    uintptr_t token;  /* set by the waker (see unpark_one) */
    uint64_t since;   /* CLOCK_MONOTONIC ns when it parked */
    int queued;       /* guarded by the bucket lock */
} blitz_parker;

enum { BLITZ_PARK_INVALID = -1 }; /* validate() said no: the caller did not wait */

/* Parks the caller on key if validate(ctx) (called under the bucket lock) returns nonzero;
 * before_sleep(ctx) (may be NULL) runs after the caller is queued and the bucket lock is
 * dropped (e.g. a condition variable unlocks its mutex there). deadline: CLOCK_MONOTONIC ns
 * (0: none); intr: interruptible-wait flag (waiter.h). Returns BLITZ_PARK_INVALID, or the
 * waiter's final state (BLITZ_W_WOKEN, _TIMEDOUT, _INTERRUPTED); *token gets the waker's token
 * when woken. */
int blitz_park(const void *key, int (*validate)(void *ctx), void (*before_sleep)(void *ctx),
               void *ctx, uint64_t deadline, const _Atomic int *intr, uintptr_t *token);

/* What unpark_one's callback learns. */
typedef struct blitz_unpark_result {
    int woke;        /* a party was woken (its wake-up is claimed: it gets the token) */
    int more;        /* other parties remain on the key */
    uint64_t waited; /* how long the woken party waited, ns */
} blitz_unpark_result;

/* Wakes the oldest party parked on key. callback (may be NULL) runs under the bucket lock
 * after the choice and returns the token handed to the woken party. Returns 1 if one was
 * woken. */
int blitz_unpark_one(const void *key,
                     uintptr_t (*callback)(void *ctx, const blitz_unpark_result *r), void *ctx);

/* Wakes up to n parties parked on key, oldest first (n = UINT32_MAX: all); returns how
 * many. */
unsigned blitz_unpark_n(const void *key, unsigned n);
#endif
