#include <stddef.h>
#include "injectq.h"
#include "task.h"

void blitz_injectq_init(blitz_injectq *q)
{
    q->lock = (blitz_lock)BLITZ_LOCK_INIT;
    q->head = q->tail = NULL;
    atomic_store_explicit(&q->len, 0, memory_order_relaxed);
}

void blitz_injectq_push(blitz_injectq *q, struct blitz_task *first, struct blitz_task *last,
                        uint32_t n)
{
    last->next = NULL;
    blitz_lock_acquire(&q->lock);
    if (q->tail)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
    atomic_fetch_add_explicit(&q->len, n, memory_order_release);
    blitz_lock_release(&q->lock);
}

struct blitz_task *blitz_injectq_pop(blitz_injectq *q, uint32_t max, uint32_t *n)
{
    *n = 0;
    if (!blitz_injectq_len(q))
        return NULL;
    blitz_lock_acquire(&q->lock);
    struct blitz_task *first = q->head, *t = first, *prev = NULL;
    uint32_t k = 0;
    while (t && k < max) {
        prev = t;
        t = t->next;
        k++;
    }
    if (k) {
        q->head = t;
        if (!t)
            q->tail = NULL;
        prev->next = NULL;
        atomic_fetch_sub_explicit(&q->len, k, memory_order_relaxed);
    }
    blitz_lock_release(&q->lock);
    *n = k;
    return k ? first : NULL;
}
