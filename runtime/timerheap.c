#include <stdlib.h>
#include "timerheap.h"

int blitz_timerheap_init(blitz_timerheap *h)
{
    h->lock = (blitz_lock)BLITZ_LOCK_INIT;
    h->n = 0;
    h->cap = 64;
    h->a = aligned_alloc(64, sizeof(*h->a) * h->cap);
    atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
    return h->a ? 0 : -1;
}

void blitz_timerheap_destroy(blitz_timerheap *h)
{
    free(h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

static void set(blitz_timerheap *h, uint32_t i, blitz_heap_entry e)
{
    h->a[i] = e;
    atomic_store_explicit(&e.t->idx, i + 1, memory_order_relaxed);
}

/* Marks t as no longer queued. Release: pairs with the acquire load in cancel's lock-free
 * path, so a canceller that reads 0 also sees `firing` set by the expirer before it. */
static void set_unqueued(blitz_timer *t)
{
    atomic_store_explicit(&t->idx, 0, memory_order_release);
}

/* A 4-ary heap: half the depth of a binary one, and the four children of a node share one
 * cache line, so a pop touches fewer lines and moves fewer timers. */
#define ARITY 4u

static void sift_up(blitz_timerheap *h, uint32_t i)
{
    blitz_heap_entry e = h->a[i];
    while (i > 0) {
        uint32_t p = (i - 1) / ARITY;
        if (h->a[p].deadline <= e.deadline)
            break;
        set(h, i, h->a[p]);
        i = p;
    }
    set(h, i, e);
}

static uint32_t sift_down(blitz_timerheap *h, uint32_t i)
{
    blitz_heap_entry e = h->a[i];
    for (;;) {
        uint32_t first = ARITY * i + 1, c = first;
        if (first >= h->n)
            break;
        uint32_t end = first + ARITY < h->n ? first + ARITY : h->n;
        for (uint32_t k = first + 1; k < end; k++)
            if (h->a[k].deadline < h->a[c].deadline)
                c = k;
        if (h->a[c].deadline >= e.deadline)
            break;
        set(h, i, h->a[c]);
        i = c;
    }
    set(h, i, e);
    return i;
}

static void publish_min(blitz_timerheap *h)
{
    atomic_store_explicit(&h->min, h->n ? h->a[0].deadline : UINT64_MAX, memory_order_relaxed);
}

static void remove_at(blitz_timerheap *h, uint32_t i)
{
    set_unqueued(h->a[i].t);
    h->n--;
    if (i != h->n) {
        h->a[i] = h->a[h->n];
        sift_up(h, sift_down(h, i));
    }
}

int blitz_timerheap_add(blitz_timerheap *h, blitz_timer *t)
{
    blitz_lock_acquire(&h->lock);
    if (h->n == h->cap) {
        blitz_heap_entry *na = realloc(h->a, sizeof(*na) * h->cap * 2);
        if (!na) {
            blitz_lock_release(&h->lock);
            return -1;
        }
        h->a = na;
        h->cap *= 2;
    }
    t->heap = h;
    h->a[h->n] = (blitz_heap_entry){ t->deadline, t };
    h->n++;
    sift_up(h, h->n - 1);
    publish_min(h);
    blitz_lock_release(&h->lock);
    return 0;
}

int blitz_timerheap_cancel(blitz_timer *t)
{
    blitz_timerheap *h = t->heap;
    int queued = 0;
    /* Fast path: already popped (the usual case after a timeout). idx only goes from
     * non-zero to zero under the lock, so a zero read needs no lock. */
    if (h && atomic_load_explicit(&t->idx, memory_order_acquire)) {
        blitz_lock_acquire(&h->lock);
        uint32_t idx = atomic_load_explicit(&t->idx, memory_order_relaxed);
        if (idx) {
            queued = 1;
            remove_at(h, idx - 1);
            publish_min(h);
        }
        blitz_lock_release(&h->lock);
    }
    /* Pairs with the release store after fire(): the expiring processor is done with t. */
    while (atomic_load_explicit(&t->firing, memory_order_acquire))
        __builtin_ia32_pause();
    return queued;
}

unsigned blitz_timerheap_expire(blitz_timerheap *h, uint64_t now)
{
    if (blitz_timerheap_min(h) > now)
        return 0;
    blitz_timer *due = NULL, **tail = &due;
    unsigned k = 0;
    blitz_lock_acquire(&h->lock);
    while (h->n && h->a[0].deadline <= now) {
        blitz_timer *t = h->a[0].t;
        atomic_store_explicit(&t->firing, 1, memory_order_relaxed); /* before idx drops to 0 */
        remove_at(h, 0);
        t->next_due = NULL;
        *tail = t;
        tail = &t->next_due;
        k++;
    }
    publish_min(h);
    blitz_lock_release(&h->lock);
    while (due) {
        blitz_timer *t = due;
        due = t->next_due;
        t->fire(t);
        atomic_store_explicit(&t->firing, 0, memory_order_release);
    }
    return k;
}
