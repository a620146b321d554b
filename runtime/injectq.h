/* Global injection queue: tasks made runnable by threads that own no processor, and the
 * overflow of full local run queues. FIFO, intrusive through task->next. A lock guards the
 * list; the atomic length lets processors skip the lock when the queue is empty, which is
 * the common case on their hot path. Thread-safety: all functions from any thread. */
#ifndef BLITZ_INJECTQ_H
#define BLITZ_INJECTQ_H
#include <stdatomic.h>
#include <stdint.h>
#include "lock.h"

struct blitz_task;

typedef struct blitz_injectq {
    blitz_lock lock;
    struct blitz_task *head, *tail;
    _Atomic uint32_t len;
} blitz_injectq;

void blitz_injectq_init(blitz_injectq *q);
/* Appends the chain first..last (linked through ->next) of n tasks. */
void blitz_injectq_push(blitz_injectq *q, struct blitz_task *first, struct blitz_task *last,
                        uint32_t n);
/* Takes up to max tasks; returns the first, links the rest through ->next, *n = count. */
struct blitz_task *blitz_injectq_pop(blitz_injectq *q, uint32_t max, uint32_t *n);
static inline uint32_t blitz_injectq_len(blitz_injectq *q)
{
    return atomic_load_explicit(&q->len, memory_order_acquire);
}
#endif
