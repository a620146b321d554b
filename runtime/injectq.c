#include <stdlib.h>
#include <string.h>
#include "injectq.h"

void blitz_injectq_init(blitz_injectq *q)
{
    q->lock = (blitz_lock)BLITZ_LOCK_INIT;
    q->buf = NULL;
    q->head = q->cap = 0;
    atomic_store_explicit(&q->len, 0, memory_order_relaxed);
}

void blitz_injectq_destroy(blitz_injectq *q)
{
    free(q->buf);
    blitz_injectq_init(q);
}

/* Caller holds the lock. */
static int grow(blitz_injectq *q, uint32_t need)
{
    uint32_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    uint32_t cap = q->cap ? q->cap : 256;
    while (cap < len + need)
        cap *= 2;
    if (cap == q->cap)
        return 0;
    struct blitz_task **nb = malloc(sizeof(*nb) * cap);
    if (!nb)
        return -1;
    for (uint32_t i = 0; i < len; i++)
        nb[i] = q->buf[(q->head + i) & (q->cap - 1)];
    free(q->buf);
    q->buf = nb;
    q->head = 0;
    q->cap = cap;
    return 0;
}

int blitz_injectq_push(blitz_injectq *q, struct blitz_task *const *tasks, uint32_t n)
{
    blitz_lock_acquire(&q->lock);
    if (grow(q, n) != 0) {
        blitz_lock_release(&q->lock);
        return -1;
    }
    uint32_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        q->buf[(q->head + len + i) & (q->cap - 1)] = tasks[i];
    atomic_store_explicit(&q->len, len + n, memory_order_release);
    blitz_lock_release(&q->lock);
    return 0;
}

uint32_t blitz_injectq_pop(blitz_injectq *q, struct blitz_task **out, uint32_t max)
{
    if (!blitz_injectq_len(q))
        return 0;
    blitz_lock_acquire(&q->lock);
    uint32_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
    uint32_t k = len < max ? len : max;
    for (uint32_t i = 0; i < k; i++)
        out[i] = q->buf[(q->head + i) & (q->cap - 1)];
    q->head = (q->head + k) & (q->cap ? q->cap - 1 : 0);
    atomic_store_explicit(&q->len, len - k, memory_order_relaxed);
    blitz_lock_release(&q->lock);
    return k;
}
