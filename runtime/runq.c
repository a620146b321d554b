#include "runq.h"

#define MASK (BLITZ_RUNQ_SIZE - 1)

void blitz_runq_init(blitz_runq *q)
{
    atomic_store_explicit(&q->head, 0, memory_order_relaxed);
    atomic_store_explicit(&q->tail, 0, memory_order_relaxed);
}

int blitz_runq_push(blitz_runq *q, struct blitz_task *t)
{
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
    if (tl - h >= BLITZ_RUNQ_SIZE)
        return 0;
    atomic_store_explicit(&q->buf[tl & MASK], t, memory_order_relaxed);
    atomic_store_explicit(&q->tail, tl + 1, memory_order_release);
    return 1;
}

struct blitz_task *blitz_runq_pop(blitz_runq *q)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (tl == h)
            return 0;
        struct blitz_task *t = atomic_load_explicit(&q->buf[h & MASK], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1, memory_order_release,
                                                  memory_order_relaxed))
            return t;
    }
}

uint32_t blitz_runq_pop_batch(blitz_runq *q, uint32_t n, struct blitz_task **out)
{
    for (;;) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&q->tail, memory_order_relaxed);
        uint32_t avail = tl - h;
        uint32_t k = avail < n ? avail : n;
        if (k == 0)
            return 0;
        for (uint32_t i = 0; i < k; i++)
            out[i] = atomic_load_explicit(&q->buf[(h + i) & MASK], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + k, memory_order_release,
                                                  memory_order_relaxed))
            return k;
    }
}

struct blitz_task *blitz_runq_steal(blitz_runq *victim, blitz_runq *dst)
{
    uint32_t dt = atomic_load_explicit(&dst->tail, memory_order_relaxed);
    uint32_t dh = atomic_load_explicit(&dst->head, memory_order_acquire);
    for (;;) {
        uint32_t h = atomic_load_explicit(&victim->head, memory_order_acquire);
        uint32_t tl = atomic_load_explicit(&victim->tail, memory_order_acquire);
        uint32_t n = tl - h;
        n = n - n / 2;
        if (n == 0)
            return 0;
        if (n > BLITZ_RUNQ_SIZE / 2)
            continue; /* read head and tail at different moments: retry */
        if (n > BLITZ_RUNQ_SIZE - (dt - dh))
            n = BLITZ_RUNQ_SIZE - (dt - dh);
        if (n == 0)
            return 0;
        for (uint32_t i = 0; i < n; i++) {
            struct blitz_task *t = atomic_load_explicit(&victim->buf[(h + i) & MASK],
                                                        memory_order_relaxed);
            atomic_store_explicit(&dst->buf[(dt + i) & MASK], t, memory_order_relaxed);
        }
        if (!atomic_compare_exchange_weak_explicit(&victim->head, &h, h + n, memory_order_release,
                                                   memory_order_relaxed))
            continue;
        /* The last stolen task runs now; the others become visible in dst. */
        n--;
        struct blitz_task *t = atomic_load_explicit(&dst->buf[(dt + n) & MASK], memory_order_relaxed);
        if (n)
            atomic_store_explicit(&dst->tail, dt + n, memory_order_release);
        return t;
    }
}

uint32_t blitz_runq_len(blitz_runq *q)
{
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t tl = atomic_load_explicit(&q->tail, memory_order_acquire);
    return tl - h;
}
