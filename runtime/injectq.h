/* Global injection queue: tasks made runnable by threads that own no processor, and the
 * overflow of full local run queues. FIFO in a growable ring of task pointers, so moving a
 * batch is a copy and never walks (cold) task structures. A lock guards the ring; the atomic
 * length lets processors skip the lock while the queue is empty, the common case on their
 * hot path (release on push pairs with acquire in blitz_injectq_len).
 * Thread-safety: all functions from any thread. */
#ifndef BLITZ_INJECTQ_H
#define BLITZ_INJECTQ_H
#include <stdatomic.h>
#include <stdint.h>
#include "lock.h"

struct blitz_task;

typedef struct blitz_injectq {
    blitz_lock lock;
    struct blitz_task **buf;
    uint32_t head, cap;   /* cap is a power of two (0 before the first push) */
    _Atomic uint32_t len;
} blitz_injectq;

void blitz_injectq_init(blitz_injectq *q);
void blitz_injectq_destroy(blitz_injectq *q);
/* Appends n tasks. Returns 0, or -1 if the ring could not grow (nothing queued). */
int blitz_injectq_push(blitz_injectq *q, struct blitz_task *const *tasks, uint32_t n);
/* Takes up to max tasks into out; returns how many. */
uint32_t blitz_injectq_pop(blitz_injectq *q, struct blitz_task **out, uint32_t max);
static inline uint32_t blitz_injectq_len(blitz_injectq *q)
{
    return atomic_load_explicit(&q->len, memory_order_acquire);
}
#endif
