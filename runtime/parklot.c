#include <stdint.h>
#include "clock.h"
#include "lock.h"
#include "parklot.h"

/* 1,024 buckets of one cache line each: parties on different objects rarely share a lock. */
#define BUCKETS 1024u

typedef struct __attribute__((aligned(64))) bucket {
    blitz_lock lock;
    blitz_parker *head, *tail;
} bucket;

static bucket g_buckets[BUCKETS];

static bucket *bucket_of(const void *key)
{
    uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ull;
    return &g_buckets[h >> (64 - 10)];
}

static void unlink_parker(bucket *b, blitz_parker *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        b->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        b->tail = p->prev;
    p->queued = 0;
}

int blitz_park(const void *key, int (*validate)(void *ctx), void (*before_sleep)(void *ctx),
               void *ctx, uint64_t deadline, const _Atomic int *intr, uintptr_t *token)
{
    blitz_parker p;
    blitz_waiter_init(&p.w);
    p.key = key;
    p.token = 0;
    p.since = blitz_now_ns();
    bucket *b = bucket_of(key);
    blitz_lock_acquire(&b->lock);
    if (validate && !validate(ctx)) {
        blitz_lock_release(&b->lock);
        return BLITZ_PARK_INVALID;
    }
    p.next = NULL;
    p.prev = b->tail;
    if (b->tail)
        b->tail->next = &p;
    else
        b->head = &p;
    b->tail = &p;
    p.queued = 1;
    blitz_lock_release(&b->lock);
    if (before_sleep)
        before_sleep(ctx);
    uint32_t st = blitz_waiter_wait(&p.w, deadline, intr);
    if (st != BLITZ_W_WOKEN) {
        /* Timed out or interrupted: a waker that dequeued us could not claim us, and skipped. */
        blitz_lock_acquire(&b->lock);
        if (p.queued)
            unlink_parker(b, &p);
        blitz_lock_release(&b->lock);
    }
    if (token)
        *token = p.token;
    return (int)st;
}

int blitz_unpark_one(const void *key,
                     uintptr_t (*callback)(void *ctx, const blitz_unpark_result *r), void *ctx)
{
    bucket *b = bucket_of(key);
    blitz_unpark_result r = { 0, 0, 0 };
    blitz_lock_acquire(&b->lock);
    blitz_parker *p = b->head;
    while (p) {
        blitz_parker *next = p->next;
        if (p->key == key) {
            unlink_parker(b, p);
            if (blitz_waiter_claim(&p->w))
                break;
        }
        p = next;
    }
    if (p) {
        r.woke = 1;
        for (blitz_parker *q = b->head; q; q = q->next)
            if (q->key == key) {
                r.more = 1;
                break;
            }
        r.waited = blitz_now_ns() - p->since;
    }
    uintptr_t token = callback ? callback(ctx, &r) : 0;
    if (p)
        p->token = token;
    blitz_lock_release(&b->lock);
    if (p)
        blitz_waiter_complete(&p->w);
    return p != NULL;
}

unsigned blitz_unpark_n(const void *key, unsigned n)
{
    bucket *b = bucket_of(key);
    blitz_parker *woken = NULL, **tail = &woken;
    unsigned k = 0;
    blitz_lock_acquire(&b->lock);
    for (blitz_parker *p = b->head; p && k < n;) {
        blitz_parker *next = p->next;
        if (p->key == key) {
            unlink_parker(b, p);
            if (blitz_waiter_claim(&p->w)) {
                p->next = NULL;
                *tail = p;
                tail = &p->next;
                k++;
            }
        }
        p = next;
    }
    blitz_lock_release(&b->lock);
    /* Claimed parties wait for completion, so their frames (and links) are still valid. */
    while (woken) {
        blitz_parker *next = woken->next;
        blitz_waiter_complete(&woken->w);
        woken = next;
    }
    return k;
}
