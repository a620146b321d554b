/* Waiting on a futex word that another process may change (process-shared condition
 * variables). Only the kernel can tell us another process's wake-up, and a futex wait blocks
 * the thread that makes it, so a task hands the wait to a helper: a plain OS thread that
 * makes the futex wait for it and wakes the task when it returns. Helpers are started on
 * demand, one per concurrent wait (as many OS threads as native threads would block there),
 * and kept on an idle stack for the next wait. Polling the word instead would miss a change
 * that is undone before the next look (a condvar re-initialised right after a broadcast).
 *
 * Ownership: a request lives in the waiting task's frame; its helper stops touching it once
 * it has set `done` (release), and the task does not return before it sees that (acquire).
 * The idle stack is guarded by g_idle_lock. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include "clock.h"
#include "lock.h"
#include "rawsys.h"
#include "real.h"
#include "scheduler.h"
#include "sync.h"
#include "thread_state.h"
#include "waiter.h"

typedef struct xw_req {
    const _Atomic unsigned *addr;
    unsigned val;
    uint64_t deadline;  /* CLOCK_MONOTONIC ns, 0: none */
    blitz_waiter w;
    uint32_t result;    /* BLITZ_W_WOKEN or BLITZ_W_TIMEDOUT, written before the wake */
    _Atomic int done;   /* the helper is finished with this request */
} xw_req;

typedef struct xw_helper {
    _Atomic unsigned ring;      /* futex word: a request is in `box` */
    xw_req *box;                /* written before ring (release) */
    struct xw_helper *next;     /* idle stack link */
} xw_helper;

static blitz_lock g_idle_lock = BLITZ_LOCK_INIT;
static xw_helper *g_idle;

static long futex(const _Atomic unsigned *addr, int op, unsigned val, const struct timespec *ts)
{
    return blitz_raw_syscall6(SYS_futex, (long)addr, op, val, (long)ts, 0,
                              (long)FUTEX_BITSET_MATCH_ANY);
}

/* The kernel's wait on a possibly shared word (no FUTEX_PRIVATE_FLAG): BLITZ_W_WOKEN (woken,
 * the word had changed, or a spurious return) or BLITZ_W_TIMEDOUT. */
static uint32_t kernel_wait(const _Atomic unsigned *addr, unsigned val, uint64_t deadline)
{
    struct timespec ts = { (time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u) };
    long r = futex(addr, FUTEX_WAIT_BITSET, val, deadline ? &ts : NULL);
    return r == -ETIMEDOUT ? BLITZ_W_TIMEDOUT : BLITZ_W_WOKEN;
}

static void serve(xw_req *q)
{
    q->result = kernel_wait(q->addr, q->val, q->deadline);
    blitz_waiter_wake(&q->w, BLITZ_W_WOKEN); /* loses to an interruption: fine */
    atomic_store_explicit(&q->done, 1, memory_order_release);
}

static void *helper_main(void *arg)
{
    xw_helper *h = arg;
    for (;;) {
        while (!atomic_load_explicit(&h->ring, memory_order_acquire))
            futex(&h->ring, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, NULL);
        atomic_store_explicit(&h->ring, 0, memory_order_relaxed);
        serve(h->box);
        blitz_lock_acquire(&g_idle_lock);
        h->next = g_idle;
        g_idle = h;
        blitz_lock_release(&g_idle_lock);
    }
    return NULL;
}

/* Gives q to an idle helper, or to a new one. Returns 0, or -1 if no helper could start. */
static int submit(xw_req *q)
{
    blitz_lock_acquire(&g_idle_lock);
    xw_helper *h = g_idle;
    if (h)
        g_idle = h->next;
    blitz_lock_release(&g_idle_lock);
    if (h) {
        h->box = q;
        atomic_store_explicit(&h->ring, 1, memory_order_release); /* pairs with its acquire */
        futex(&h->ring, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL);
        return 0;
    }
    if (!(h = calloc(1, sizeof *h)))
        return -1;
    h->box = q;
    atomic_store_explicit(&h->ring, 1, memory_order_relaxed); /* published by thread start */
    if (shim_start_service_thread(helper_main, h)) {
        free(h);
        return -1;
    }
    return 0;
}

uint32_t shim_shared_wait(const _Atomic unsigned *addr, unsigned val, uint64_t deadline,
                          const _Atomic int *intr)
{
    if (atomic_load_explicit(addr, memory_order_acquire) != val)
        return BLITZ_W_WOKEN;
    if (!shim_task())
        return kernel_wait(addr, val, deadline);
    xw_req q = { addr, val, deadline, { 0 }, BLITZ_W_WOKEN, 0 };
    blitz_waiter_init(&q.w);
    if (submit(&q)) { /* out of threads or memory: look again a little later */
        uint64_t now = blitz_now_ns(), soon = now + 1000000;
        if (deadline && now >= deadline)
            return BLITZ_W_TIMEDOUT;
        if (blitz_sleep_until(deadline && deadline < soon ? deadline : soon, intr))
            return BLITZ_W_INTERRUPTED;
        return deadline && blitz_now_ns() >= deadline ? BLITZ_W_TIMEDOUT : BLITZ_W_WOKEN;
    }
    uint32_t st = blitz_waiter_wait(&q.w, 0, intr);
    /* Woken by the helper: it lets go of q right after. Interrupted: it may still sleep in
     * the kernel with q, so wake everybody waiting on the word (spurious wake-ups are
     * allowed to them) until it lets go. */
    for (int i = 0; !atomic_load_explicit(&q.done, memory_order_acquire); i++) {
        if (st == BLITZ_W_INTERRUPTED)
            futex(addr, FUTEX_WAKE, INT_MAX, NULL);
        if (st != BLITZ_W_INTERRUPTED && i < 64)
            blitz_yield();
        else
            blitz_sleep_until(blitz_now_ns() + 20000, NULL);
    }
    /* The helper may have been woken by a signal meant for one waiter just before the
     * interruption won: pass it on, as glibc's cancelled waiter does. */
    if (st == BLITZ_W_INTERRUPTED)
        futex(addr, FUTEX_WAKE, 1, NULL);
    return st == BLITZ_W_INTERRUPTED ? st : q.result;
}

void shim_shared_wake(const _Atomic unsigned *addr, int all)
{
    futex(addr, FUTEX_WAKE, all ? INT_MAX : 1, NULL);
}

void shim_shared_fork_child(void)
{
    g_idle = NULL; /* the helpers stayed in the parent */
    g_idle_lock = (blitz_lock)BLITZ_LOCK_INIT;
}
