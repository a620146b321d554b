/* Per-processor bounded run queue: single producer (the owning processor), multiple
 * consumers (the owner pops, other processors steal half). The design follows Go's runq.
 *
 * Memory orders: the owner writes a slot (relaxed) then publishes it with a release store of
 * tail; consumers load tail with acquire before reading slots. Consumers claim slots with a
 * release CAS on head; the owner loads head with acquire before reusing a slot, so a slot is
 * never overwritten while a stealer may still read it for a CAS that will succeed.
 * Thread-safety: push/pop only from the owner; steal from any thread. */
#ifndef BLITZ_RUNQ_H
#define BLITZ_RUNQ_H
#include <stdatomic.h>
#include <stdint.h>

#define BLITZ_RUNQ_SIZE 1024u

struct blitz_task;

typedef struct blitz_runq {
    _Atomic uint32_t head;
    char pad0[60];
    _Atomic uint32_t tail;
    char pad1[60];
    struct blitz_task *_Atomic buf[BLITZ_RUNQ_SIZE];
} blitz_runq;

void blitz_runq_init(blitz_runq *q);
/* Owner: appends t; returns 0 when the queue is full (nothing changed). */
int blitz_runq_push(blitz_runq *q, struct blitz_task *t);
/* Owner: takes the oldest task or NULL. */
struct blitz_task *blitz_runq_pop(blitz_runq *q);
/* Owner: removes up to n oldest tasks (for overflow to the global queue); returns the count
 * and links them through ->next in *first .. *last. */
uint32_t blitz_runq_pop_batch(blitz_runq *q, uint32_t n, struct blitz_task **out);
/* Any thread: moves about half of victim's tasks into dst (whose owner must be the caller)
 * and returns one of them to run now, or NULL. */
struct blitz_task *blitz_runq_steal(blitz_runq *victim, blitz_runq *dst);
/* Owner: the task k places behind the head, or NULL; a hint only (a stealer may take it), for
 * prefetching. */
static inline struct blitz_task *blitz_runq_peek(blitz_runq *q, uint32_t k)
{
    uint32_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (tl - h <= k)
        return 0;
    return atomic_load_explicit(&q->buf[(h + k) & (BLITZ_RUNQ_SIZE - 1)], memory_order_relaxed);
}
/* Approximate length (any thread). */
uint32_t blitz_runq_len(blitz_runq *q);
#endif
