#include <errno.h>
#include <stddef.h>
#include "clock.h"
#include "scheduler.h"
#include "self.h"
#include "task.h"
#include "waiter.h"

void blitz_waiter_init(blitz_waiter *w)
{
    atomic_store_explicit(&w->state, BLITZ_W_WAITING, memory_order_relaxed);
    w->task = blitz_self();
    w->next = w->prev = NULL;
    w->data = 0;
}

int blitz_waiter_wake(blitz_waiter *w, uint32_t reason)
{
    /* Read before the CAS: once it succeeds the waiter may return and its frame vanish. */
    blitz_task *t = w->task;
    uint32_t e = BLITZ_W_WAITING;
    if (!atomic_compare_exchange_strong_explicit(&w->state, &e, reason, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return 0;
    if (t)
        blitz_ready(t);
    else
        blitz_futex_wake(&w->state, 1); /* a stale address at worst: futex wakes are advisory */
    return 1;
}

int blitz_waiter_claim(blitz_waiter *w)
{
    uint32_t e = BLITZ_W_WAITING;
    return atomic_compare_exchange_strong_explicit(&w->state, &e, BLITZ_W_CLAIMED,
                                                   memory_order_acq_rel, memory_order_relaxed);
}

void blitz_waiter_complete(blitz_waiter *w)
{
    blitz_task *t = w->task; /* before the store: the waiter may return right after it */
    /* seq_cst: pairs with blitz_park_if's check of the word (see blitz_ready). */
    atomic_store_explicit(&w->state, BLITZ_W_WOKEN, memory_order_seq_cst);
    if (t)
        blitz_ready(t);
    else
        blitz_futex_wake(&w->state, 1);
}

static void timer_fire(blitz_timer *tm)
{
    blitz_task *t = (blitz_task *)((char *)tm - offsetof(blitz_task, timer));
    blitz_waiter_wake(t->timed_waiter, BLITZ_W_TIMEDOUT);
}

static uint32_t os_wait(blitz_waiter *w, uint64_t deadline, const _Atomic int *intr)
{
    int saved = errno;
    for (;;) {
        uint32_t s = atomic_load_explicit(&w->state, memory_order_acquire);
        if (s == BLITZ_W_CLAIMED) { /* a waker is completing: no deadline any more */
            blitz_futex_wait(&w->state, BLITZ_W_CLAIMED, 0);
            continue;
        }
        if (s != BLITZ_W_WAITING)
            break;
        uint32_t e = BLITZ_W_WAITING;
        if (intr && atomic_load(intr) &&
            atomic_compare_exchange_strong(&w->state, &e, BLITZ_W_INTERRUPTED))
            break;
        if (blitz_futex_wait(&w->state, BLITZ_W_WAITING, deadline) != 0 && errno == ETIMEDOUT) {
            e = BLITZ_W_WAITING;
            atomic_compare_exchange_strong(&w->state, &e, BLITZ_W_TIMEDOUT);
        }
    }
    errno = saved;
    return atomic_load_explicit(&w->state, memory_order_acquire);
}

static void set_intr_waiter(blitz_task *t, blitz_waiter *w)
{
    blitz_lock_acquire(&t->intr_lock);
    t->intr_waiter = w;
    blitz_lock_release(&t->intr_lock);
}

uint32_t blitz_waiter_wait(blitz_waiter *w, uint64_t deadline, const _Atomic int *intr)
{
    blitz_task *t = w->task;
    if (!t)
        return os_wait(w, deadline, intr);
    if (intr) {
        /* Publish, then check: an interrupter sets the flag, then looks for the waiter under
         * intr_lock, so one of us sees the other. */
        set_intr_waiter(t, w);
        if (atomic_load(intr))
            blitz_waiter_wake(w, BLITZ_W_INTERRUPTED);
    }
    int armed = 0;
    if (deadline) {
        /* A deadline already past fires at the scheduler's next look at its timers. */
        if (atomic_load_explicit(&w->state, memory_order_relaxed) == BLITZ_W_WAITING) {
            t->timed_waiter = w;
            t->timer.deadline = deadline;
            t->timer.fire = timer_fire;
            while (blitz_timerheap_add(&t->m->p->timers, &t->timer) != 0)
                blitz_yield(); /* out of memory for the heap: try again shortly */
            armed = 1;
        }
    }
    uint32_t s;
    while ((s = atomic_load_explicit(&w->state, memory_order_acquire)) == BLITZ_W_WAITING ||
           s == BLITZ_W_CLAIMED)
        blitz_park_if(&w->state, s);
    if (armed)
        blitz_timerheap_cancel(&t->timer);
    if (intr)
        set_intr_waiter(t, NULL);
    return atomic_load_explicit(&w->state, memory_order_acquire);
}

uint32_t blitz_sleep_until(uint64_t deadline, const _Atomic int *intr)
{
    blitz_waiter w;
    blitz_waiter_init(&w);
    uint32_t st = blitz_waiter_wait(&w, deadline ? deadline : 1, intr);
    return st == BLITZ_W_INTERRUPTED ? BLITZ_W_INTERRUPTED : 0;
}

int blitz_task_in_intr_wait(blitz_task *t)
{
    blitz_lock_acquire(&t->intr_lock);
    int in = t->intr_waiter != NULL;
    blitz_lock_release(&t->intr_lock);
    return in;
}

int blitz_task_interrupt(blitz_task *t)
{
    int woke = 0;
    blitz_lock_acquire(&t->intr_lock);
    if (t->intr_waiter)
        woke = blitz_waiter_wake(t->intr_waiter, BLITZ_W_INTERRUPTED);
    blitz_lock_release(&t->intr_lock);
    return woke;
}
