/* Per-processor timer heap (binary min-heap on CLOCK_MONOTONIC deadlines, ns precision).
 * Timers fire in the owning processor's scheduler context; the worker arms a timerfd on its
 * libev loop for the earliest deadline only when it is about to block, so a busy worker
 * pays no system call per timer.
 * Thread-safety: every function takes the heap's lock; add/expire are called by the owner,
 * cancel from any thread (a task woken on another processor removes its own timer). A timer
 * node belongs to its caller and must stay valid until fired or cancelled. */
#ifndef BLITZ_TIMERHEAP_H
#define BLITZ_TIMERHEAP_H
#include <stdatomic.h>
#include <stdint.h>
#include "lock.h"

typedef struct blitz_timer {
    uint64_t deadline;
    _Atomic uint32_t idx;               /* 1-based heap position; 0 = not queued. Written
                                         * under the heap lock; read without it by cancel. */
    struct blitz_timerheap *heap;       /* heap it is queued in */
    void (*fire)(struct blitz_timer *); /* called without the lock held */
    struct blitz_timer *next_due;       /* scratch list while expiring */
    _Atomic uint32_t firing;            /* popped, fire() not finished: cancel waits */
} blitz_timer;

/* Deadlines sit in the array next to their timers so sifting touches no timer nodes. */
typedef struct blitz_heap_entry {
    uint64_t deadline;
    blitz_timer *t;
} blitz_heap_entry;

typedef struct blitz_timerheap {
    blitz_lock lock;
    blitz_heap_entry *a;
    uint32_t n, cap;
    _Atomic uint64_t min;               /* earliest deadline, UINT64_MAX when empty */
} blitz_timerheap;

int blitz_timerheap_init(blitz_timerheap *h);
void blitz_timerheap_destroy(blitz_timerheap *h);
/* Queues t (which must not be queued). Returns 0, or -1 if memory ran out. */
int blitz_timerheap_add(blitz_timerheap *h, blitz_timer *t);
/* Removes t from whatever heap holds it; returns 1 if it was queued (so it will not fire).
 * If it is firing right now, waits until fire() has returned, so t may be reused at once. */
int blitz_timerheap_cancel(blitz_timer *t);
/* Fires every timer due at `now`; returns how many. */
unsigned blitz_timerheap_expire(blitz_timerheap *h, uint64_t now);
static inline uint64_t blitz_timerheap_min(blitz_timerheap *h)
{
    return atomic_load_explicit(&h->min, memory_order_relaxed);
}
#endif
