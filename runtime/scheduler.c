#include <errno.h>
#include "rawsys.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "clock.h"
#include "netpoll.h"
#include "overflow.h"
#include "scheduler.h"
#include "tls.h"
#include "self.h"
#include "waiter.h"

/* Gives the CPU away without going through the (interposed) sched_yield symbol. */
static void sched_yield_os(void) { blitz_syscall(SYS_sched_yield, 0, 0, 0, 0, 0, 0); }
/* close() is interposed by the shim. */
static void close_raw(int fd) { blitz_raw_syscall6(SYS_close, fd, 0, 0, 0, 0, 0); }

/* Scheduler-wide state. Nothing here is touched per context switch except through the
 * owning processor; the idle mask and spinning count are touched when work appears or runs
 * out, the inject queue only when it is non-empty. */
static blitz_proc *g_procs;
static blitz_machine *g_machines;
static int g_nprocs;
static blitz_injectq g_inject;
static blitz_rt_os g_os;
static _Atomic int g_shutdown;
static _Atomic int g_nspinning;
static _Atomic int g_netpoll_owner = -1; /* processor sleeping on the I/O set, or -1 */
/* Bit i set: processor i is idle (blocked in its loop, or about to). Set by the processor
 * itself with seq_cst before its final re-check; cleared by a waker (which then sends its
 * wake-up) or by the processor when it wakes on its own. */
static _Atomic uint64_t g_idle[BLITZ_MAX_WORKERS / 64];

#define INJECT_EVERY 61u
#define STEAL_ROUNDS 3

int blitz_rt_workers(void) { return g_nprocs; }

/* ---------------------------------------------------------------- idle processors */

static void idle_set(blitz_proc *p)
{
    atomic_fetch_or(&g_idle[p->id / 64], 1ull << (p->id % 64));
}

static void idle_clear(blitz_proc *p)
{
    atomic_fetch_and(&g_idle[p->id / 64], ~(1ull << (p->id % 64)));
}

/* Makes p's loop return. Not libev's ev_async: its write() would go through the shim's
 * interposed write when called from a task. The exchange keeps it to one write per sleep
 * (acq_rel: pairs with the reset in wake_io_cb). */
static void proc_wake(blitz_proc *p)
{
    if (atomic_exchange_explicit(&p->wake_pending, 1, memory_order_acq_rel))
        return;
    uint64_t one = 1;
    blitz_raw_syscall6(SYS_write, p->wake_fd, (long)&one, sizeof one, 0, 0, 0);
}

/* Wakes one idle processor, if any. Returns 1 if it woke one. */
static int wake_idle(void)
{
    for (int w = 0; w < (g_nprocs + 63) / 64; w++) {
        uint64_t bits = atomic_load(&g_idle[w]);
        while (bits) {
            int b = __builtin_ctzll(bits);
            uint64_t bit = 1ull << b;
            if (atomic_fetch_and(&g_idle[w], ~bit) & bit) {
                blitz_proc *p = &g_procs[w * 64 + b];
                atomic_fetch_add_explicit(&p->stats.wakeups, 1, memory_order_relaxed);
                proc_wake(p);
                return 1;
            }
            bits &= ~bit;
        }
    }
    return 0;
}

/* Called after work became stealable. Pairs with the seq_cst idle_set + re-check in
 * block_idle: either the idle processor sees the work, or we see its idle bit. */
static void maybe_wake_idle(void)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&g_nspinning, memory_order_relaxed) == 0)
        wake_idle();
}

/* ---------------------------------------------------------------- queues */

static void inject_batch(blitz_task *const *tasks, uint32_t n)
{
    /* Out of memory for the ring: retry; a task must never be dropped. */
    while (blitz_injectq_push(&g_inject, tasks, n) != 0)
        sched_yield_os();
}

/* Queues t on p's run queue and, when at least `wake_at` tasks wait there, makes sure an
 * idle processor comes to steal. */
static void runq_put(blitz_proc *p, blitz_task *t, uint32_t wake_at)
{
    if (!blitz_runq_push(&p->runq, t)) {
        /* Full: move half of it to the global queue, as Go does, in small chunks (this can
         * run on a task's stack, which may be only 16 KiB), then t. */
        blitz_task *batch[64];
        for (uint32_t moved = 0, n; moved < BLITZ_RUNQ_SIZE / 2; moved += n) {
            if (!(n = blitz_runq_pop_batch(&p->runq, 64, batch)))
                break;
            inject_batch(batch, n);
        }
        if (!blitz_runq_push(&p->runq, t))
            inject_batch(&t, 1);
    }
    if (blitz_runq_len(&p->runq) >= wake_at)
        maybe_wake_idle();
}

/* Puts t in p's LIFO slot, so it runs as soon as p's current task blocks; the task it
 * displaces goes to the run queue, where others may steal it. */
static void lifo_put(blitz_proc *p, blitz_task *t)
{
    atomic_store_explicit(&p->lifo_stamp,
                          atomic_load_explicit(&p->lifo_stamp, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    blitz_task *old = atomic_exchange_explicit(&p->lifo, t, memory_order_acq_rel);
    if (old) {
        runq_put(p, old, 1);
        return;
    }
    /* If this processor's machine blocks in a call we cannot see, the task would sit here
     * forever: an idle worker must come and look (it steals a LIFO task only once it has
     * waited LIFO_STALE_NS, so the usual hand-off stays on this core). A spinning worker is
     * already looking, so this costs a system call only when every other worker sleeps. */
    maybe_wake_idle();
}

static void inject(blitz_task *t)
{
    inject_batch(&t, 1);
    maybe_wake_idle();
}

/* Takes a batch from the global queue, no more than fits the local run queue: runs the
 * first, queues the rest locally. */
static blitz_task *inject_take(blitz_proc *p)
{
    uint32_t len = blitz_injectq_len(&g_inject);
    if (!len)
        return NULL;
    uint32_t room = BLITZ_RUNQ_SIZE - blitz_runq_len(&p->runq);
    uint32_t max = len / (uint32_t)g_nprocs + 1;
    if (max > BLITZ_RUNQ_SIZE / 2)
        max = BLITZ_RUNQ_SIZE / 2;
    if (max > room + 1)
        max = room + 1;
    blitz_task *batch[BLITZ_RUNQ_SIZE / 2];
    uint32_t n = blitz_injectq_pop(&g_inject, batch, max);
    if (!n)
        return NULL;
    for (uint32_t i = 1; i < n; i++)
        blitz_runq_push(&p->runq, batch[i]); /* fits: only this processor fills its queue */
    return batch[0];
}

void blitz_ready(blitz_task *t)
{
    for (;;) {
        int s = atomic_load_explicit(&t->state, memory_order_seq_cst);
        if (s == BLITZ_T_PARKING) {
            /* Still switching out on its machine: the scheduler there requeues it. */
            if (atomic_compare_exchange_weak_explicit(&t->state, &s, BLITZ_T_WOKEN,
                                                      memory_order_acq_rel, memory_order_acquire))
                return;
            continue;
        }
        if (s != BLITZ_T_PARKED)
            return; /* already runnable or running: nothing to do */
        if (atomic_compare_exchange_weak_explicit(&t->state, &s, BLITZ_T_RUNNABLE,
                                                  memory_order_acq_rel, memory_order_acquire))
            break;
    }
    /* Keep the woken task on the waker's processor (a task, or a scheduler context firing
     * timers or finishing a task): cross-core wake-ups are what costs most here. */
    blitz_task *self = blitz_self();
    blitz_machine *m = self ? self->m : blitz_tls_machine();
    if (m && m->p) {
        /* Timer wake-ups queue FIFO: a task polling with zero sleeps must not starve the
         * run queue through the LIFO slot. */
        if (!self && m->p->firing_timers)
            runq_put(m->p, t, 1);
        else
            lifo_put(m->p, t);
    } else {
        inject(t);
    }
}

void blitz_sched_submit_new(blitz_task *t)
{
    atomic_store_explicit(&t->state, BLITZ_T_PARKED, memory_order_relaxed);
    blitz_ready(t);
}

blitz_stack_cache *blitz_sched_stack_cache(void)
{
    blitz_task *self = blitz_self();
    if (self)
        return &self->m->p->stacks;
    blitz_machine *m = blitz_tls_machine();
    return m && m->p ? &m->p->stacks : NULL;
}

static inline void bump(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- switching */

static void switch_to_sched(blitz_task *t, int intent)
{
    blitz_machine *m = t->m;
    m->intent = intent;
    blitz_san_before(&t->san, &m->san, intent == BLITZ_INTENT_EXIT);
    blitz_ctx_switch(&t->ctx, &m->sched_ctx);
    /* Resumed, possibly on another machine. */
    blitz_san_after(&t->san, NULL);
}

void blitz_yield(void)
{
    blitz_task *t = blitz_self();
    if (!t)
        return;
    switch_to_sched(t, BLITZ_INTENT_YIELD);
}

void blitz_park_if(const _Atomic uint32_t *word, uint32_t val)
{
    blitz_task *t = blitz_self();
    atomic_store_explicit(&t->state, BLITZ_T_PARKING, memory_order_seq_cst);
    if (atomic_load_explicit(word, memory_order_seq_cst) != val) {
        /* Already woken: stay. A blitz_ready racing with us may have moved PARKING to
         * WOKEN; either way nobody queued us, so we just keep running. */
        atomic_store_explicit(&t->state, BLITZ_T_RUNNING, memory_order_relaxed);
        return;
    }
    switch_to_sched(t, BLITZ_INTENT_PARK);
}

void blitz_sched_exit_current(void)
{
    blitz_task *t = blitz_self();
    switch_to_sched(t, BLITZ_INTENT_EXIT);
    __builtin_unreachable();
}

static void run_task(blitz_machine *m, blitz_task *t)
{
    blitz_proc *p = m->p;
    t->m = m;
    atomic_store_explicit(&m->cur, t, memory_order_relaxed);
    atomic_store_explicit(&t->state, BLITZ_T_RUNNING, memory_order_relaxed);
    bump(&p->stats.switches);
    void *tp = t->tp;
    if (tp) {
        /* Task TLS: its own block says who it is and holds its errno. */
        blitz_tls_set_tp(tp);
    } else {
        blitz_tls_set_self(t);
        errno = t->saved_errno;
    }
    blitz_san_before(&m->san, &t->san, 0);
    blitz_ctx_switch(&m->sched_ctx, &t->ctx);
    blitz_san_after(&m->san, &t->san);
    if (tp) {
        blitz_tls_set_tp(m->tp);
    } else {
        t->saved_errno = errno;
        blitz_tls_set_self(NULL);
    }
    atomic_store_explicit(&m->cur, NULL, memory_order_relaxed);

    if ((uintptr_t)t->ctx.sp < t->sp_min)
        t->sp_min = (uintptr_t)t->ctx.sp;
    if (t->canary && *t->canary != BLITZ_STACK_CANARY) {
        blitz_overflow_report(t, "the canary below its stack was overwritten");
        abort();
    }

    p = m->p; /* a fork in the task may have rebuilt the runtime around this machine */
    switch (m->intent) {
    case BLITZ_INTENT_YIELD:
        atomic_store_explicit(&t->state, BLITZ_T_RUNNABLE, memory_order_relaxed);
        runq_put(p, t, 2); /* alone, it runs again at once: nobody needs waking */
        break;
    case BLITZ_INTENT_PARK: {
        bump(&p->stats.parks);
        int s2 = BLITZ_T_PARKING;
        if (!atomic_compare_exchange_strong_explicit(&t->state, &s2, BLITZ_T_PARKED,
                                                     memory_order_acq_rel, memory_order_acquire)) {
            /* Woken while switching out. */
            atomic_store_explicit(&t->state, BLITZ_T_RUNNABLE, memory_order_relaxed);
            lifo_put(p, t);
        }
        break;
    }
    case BLITZ_INTENT_EXIT:
        blitz_san_fiber_destroy(t->san.fiber);
        t->san.fiber = NULL;
        blitz_task_finish(t);
        break;
    }
    m->intent = BLITZ_INTENT_NONE;
}

/* ---------------------------------------------------------------- timers and the loop */

static void arm_timerfd(blitz_proc *p, uint64_t extra)
{
    uint64_t d = blitz_timerheap_min(&p->timers);
    if (extra < d)
        d = extra;
    if (d == p->timer_armed)
        return;
    struct itimerspec its = { { 0, 0 }, { 0, 0 } };
    if (d != UINT64_MAX) {
        its.it_value = blitz_ns_to_ts(d ? d : 1);
    }
    timerfd_settime(p->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    p->timer_armed = d;
}

static void timer_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    blitz_proc *p = w->data;
    uint64_t ticks;
    /* An EAGAIN means a disarm raced the expiry: nothing to read. */
    blitz_raw_syscall6(SYS_read, p->timer_fd, (long)&ticks, sizeof ticks, 0, 0, 0);
    p->timer_armed = UINT64_MAX; /* a fired timerfd is disarmed */
}

static void wake_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    blitz_proc *p = w->data;
    uint64_t v;
    /* Drain first, then allow the next write: the other order can swallow a write made in
     * between and leave wake_pending set with nothing to read, so no later waker would
     * write again. A waker that sees the flag still set here is fine: this worker is awake
     * and looks at every queue before it sleeps again. */
    blitz_raw_syscall6(SYS_read, p->wake_fd, (long)&v, sizeof v, 0, 0, 0);
    atomic_store_explicit(&p->wake_pending, 0, memory_order_release);
}

/* Readies the tasks whose descriptors became ready; they queue FIFO like timer wake-ups.
 * Returns the number of events. */
static int poll_io(blitz_proc *p)
{
    if (!blitz_netpoll_active())
        return 0;
    p->firing_timers = 1;
    int n = blitz_netpoll_poll();
    p->firing_timers = 0;
    return n;
}

static void netpoll_io_cb(struct ev_loop *loop, ev_io *w, int revents) { poll_io(w->data); }

/* Fires q's due timers from processor p's scheduler context (q may be another processor
 * whose machine is busy or stuck: its sleepers must still wake on time). */
static void run_timers_of(blitz_proc *p, blitz_proc *q, uint64_t now)
{
    if (blitz_timerheap_min(&q->timers) > now)
        return;
    p->firing_timers = 1;
    blitz_timerheap_expire(&q->timers, now);
    p->firing_timers = 0;
}

static void run_timers(blitz_proc *p)
{
    if (blitz_timerheap_min(&p->timers) == UINT64_MAX)
        return;
    run_timers_of(p, p, blitz_now_ns());
}

/* A worker that is idle, or between tasks now and then, fires the other workers' overdue
 * timers (theirs may be busy or stuck). */
static void run_foreign_timers(blitz_proc *p, uint64_t now)
{
    for (int i = 0; i < g_nprocs; i++) {
        blitz_proc *q = &g_procs[i];
        if (q != p && blitz_timerheap_min(&q->timers) <= now)
            run_timers_of(p, q, now);
    }
}

/* Earliest deadline among the other processors whose machines are running a task (an idle
 * one fires its own). */
static uint64_t foreign_busy_min(blitz_proc *p)
{
    uint64_t d = UINT64_MAX;
    for (int i = 0; i < g_nprocs; i++) {
        blitz_proc *q = &g_procs[i];
        if (q != p && q->m && atomic_load_explicit(&q->m->cur, memory_order_relaxed)) {
            uint64_t x = blitz_timerheap_min(&q->timers);
            if (x < d)
                d = x;
        }
    }
    return d;
}

/* A task has waited in v's LIFO slot for at least LIFO_STALE_NS (v's machine is busy with
 * one task or stuck in a call we cannot see): stealing it is now worth a cross-core move. */
#define LIFO_STALE_NS 20000u
static int lifo_stale(blitz_proc *p, blitz_proc *v, uint64_t now)
{
    if (!atomic_load_explicit(&v->lifo, memory_order_relaxed))
        return 0;
    uint64_t stamp = atomic_load_explicit(&v->lifo_stamp, memory_order_relaxed);
    if (p->lifo_seen_stamp[v->id] != stamp) {
        p->lifo_seen_stamp[v->id] = stamp;
        p->lifo_seen_ns[v->id] = now;
        return 0;
    }
    return now - p->lifo_seen_ns[v->id] >= LIFO_STALE_NS;
}

static int any_lifo_occupied(blitz_proc *p)
{
    for (int i = 0; i < g_nprocs; i++)
        if (&g_procs[i] != p && atomic_load_explicit(&g_procs[i].lifo, memory_order_relaxed))
            return 1;
    return 0;
}

static blitz_task *steal_work(blitz_proc *p, int take_lifo)
{
    uint64_t now = take_lifo ? blitz_now_ns() : 0;
    int n = g_nprocs;
    if (n < 2)
        return NULL;
    int start = (int)(p->tick % (uint32_t)n);
    for (int i = 0; i < n; i++) {
        blitz_proc *v = &g_procs[(start + i) % n];
        if (v == p)
            continue;
        blitz_task *t = blitz_runq_steal(&v->runq, &p->runq);
        if (!t && take_lifo && lifo_stale(p, v, now))
            t = atomic_exchange_explicit(&v->lifo, NULL, memory_order_acq_rel);
        if (t) {
            bump(&p->stats.steals);
            return t;
        }
    }
    return NULL;
}

/* LIFO first (the hand-off stays hot in cache), but never more than LIFO_STREAK_MAX times in
 * a row while the run queue waits: two tasks waking each other must not starve the rest. */
#define LIFO_STREAK_MAX 32u
static blitz_task *local_work(blitz_proc *p)
{
    blitz_task *t = NULL;
    if (p->lifo_streak >= LIFO_STREAK_MAX) {
        p->lifo_streak = 0;
        if ((t = blitz_runq_pop(&p->runq)))
            return t;
    }
    if (atomic_load_explicit(&p->lifo, memory_order_relaxed))
        t = atomic_exchange_explicit(&p->lifo, NULL, memory_order_acq_rel);
    if (t) {
        p->lifo_streak++;
        return t;
    }
    p->lifo_streak = 0;
    return blitz_runq_pop(&p->runq);
}

static _Atomic unsigned g_sync_gen;

static int anyone_has_work(void)
{
    if (blitz_injectq_len(&g_inject))
        return 1;
    for (int i = 0; i < g_nprocs; i++)
        if (blitz_runq_len(&g_procs[i].runq))
            return 1;
    return 0;
}

/* Before blocking, an idle worker waits on the CPU (a) for one of its timers due within
 * g_timer_spin_ns and (b) for up to STEAL_SPIN_NS while another worker runs tasks, ready
 * to steal what they make runnable. A kernel wake-up from idle costs more than that on some
 * machines (about 10 ms on the development VM, where a 1 ms sleep would otherwise take 11
 * and every cross-worker hand-off would wait for a sleeping vCPU). Returns 1 when it is
 * time to look for work again, 0 when the worker should block. */
static uint64_t g_timer_spin_ns = 1000000;
/* (b) is much shorter: a worker that waits for others to make work burns a CPU that another
 * process (a load generator, the next program) may need. */
#define STEAL_SPIN_NS 50000u

static int others_running(blitz_proc *p)
{
    for (int i = 0; i < g_nprocs; i++) {
        blitz_proc *o = &g_procs[i];
        if (o != p && o->m && atomic_load_explicit(&o->m->cur, memory_order_relaxed))
            return 1;
    }
    return 0;
}

static int spin_before_block(blitz_proc *p)
{
    if (!g_timer_spin_ns)
        return 0;
    /* Counted as spinning: producers then skip the wake-up of a sleeping worker. */
    atomic_fetch_add(&g_nspinning, 1);
    uint64_t now = blitz_now_ns();
    uint64_t spin_end = now + (g_timer_spin_ns < STEAL_SPIN_NS ? g_timer_spin_ns : STEAL_SPIN_NS);
    int found = 0;
    for (unsigned i = 0;; i++) {
        if (anyone_has_work() || atomic_load_explicit(&g_shutdown, memory_order_relaxed)) {
            found = 1;
            break;
        }
        uint64_t due = blitz_timerheap_min(&p->timers);
        if (due <= now) {
            found = 1;
            break;
        }
        if (i % 64 == 0) {
            run_foreign_timers(p, now);
            if (poll_io(p)) {
                found = 1;
                break;
            }
            if (any_lifo_occupied(p)) {
                blitz_task *t = steal_work(p, 1);
                if (t) { /* stale LIFO task: run it next from our own queue */
                    lifo_put(p, t);
                    found = 1;
                    break;
                }
            }
        }
        int timer_soon = due != UINT64_MAX && due - now <= g_timer_spin_ns;
        if (!timer_soon && (now >= spin_end || (i % 64 == 0 && !others_running(p))))
            break;
        for (int k = 0; k < 32; k++)
            __builtin_ia32_pause();
        now = blitz_now_ns();
    }
    if (atomic_fetch_sub(&g_nspinning, 1) == 1 && found)
        maybe_wake_idle();
    return found;
}

static void block_idle(blitz_proc *p)
{
    if (spin_before_block(p))
        return;
    idle_set(p);
    atomic_thread_fence(memory_order_seq_cst);
    if (anyone_has_work() || atomic_load(&g_shutdown)) {
        idle_clear(p);
        return;
    }
    /* Wake for the timers of workers busy with one task, and come back soon to check on a
     * task sitting in another worker's LIFO slot. */
    uint64_t extra = foreign_busy_min(p);
    if (any_lifo_occupied(p)) {
        uint64_t soon = blitz_now_ns() + 2 * LIFO_STALE_NS;
        if (soon < extra)
            extra = soon;
    }
    arm_timerfd(p, extra);
    /* One idle worker at a time sleeps on the I/O set (as in Go): an event then wakes one
     * vCPU, not all of them. The others sleep on their own wake-up and timers; the owner
     * wakes them when it readies more than it can run. */
    int own_io = blitz_netpoll_active() &&
                 atomic_compare_exchange_strong(&g_netpoll_owner, &(int){ -1 }, p->id);
    ev_run(own_io ? p->io_loop : p->loop, EVRUN_ONCE);
    if (own_io)
        atomic_store(&g_netpoll_owner, -1);
    idle_clear(p);
    run_foreign_timers(p, blitz_now_ns());
}

/* Per-OS-thread state every worker keeps in step (the shim's signal mask): a generation
 * each machine compares with what it last applied. */
static void (*g_sync_fn)(void);

void blitz_sched_set_worker_sync(void (*fn)(void)) { g_sync_fn = fn; }

unsigned blitz_sched_sync_workers(void)
{
    unsigned g = atomic_fetch_add_explicit(&g_sync_gen, 1, memory_order_release) + 1;
    for (int i = 0; i < g_nprocs; i++)
        proc_wake(&g_procs[i]);
    return g;
}

int blitz_sched_synced(unsigned gen)
{
    for (int i = 0; i < g_nprocs; i++) {
        blitz_machine *m = g_procs[i].m;
        /* Pairs with the release store in run_sync: the worker's call has returned. */
        if (m && (int)(atomic_load_explicit(&m->sync_seen, memory_order_acquire) - gen) < 0)
            return 0;
    }
    return 1;
}

void blitz_sched_synced_self(unsigned gen)
{
    blitz_task *t = blitz_self();
    blitz_machine *m = t ? t->m : blitz_tls_machine();
    if (m && (int)(atomic_load_explicit(&m->sync_seen, memory_order_relaxed) - gen) < 0)
        atomic_store_explicit(&m->sync_seen, gen, memory_order_release);
}

static void run_sync(blitz_machine *m)
{
    unsigned g = atomic_load_explicit(&g_sync_gen, memory_order_acquire);
    if (g != atomic_load_explicit(&m->sync_seen, memory_order_relaxed)) {
        if (g_sync_fn)
            g_sync_fn();
        atomic_store_explicit(&m->sync_seen, g, memory_order_release);
    }
}

static blitz_task *find_runnable(blitz_machine *m)
{
    for (;;) {
        blitz_proc *p = m->p;
        blitz_task *t;
        p->tick++;
        run_sync(m);
        run_timers(p);
        if (p->tick % INJECT_EVERY == 0) {
            /* A worker held by a task that never yields cannot fire its own timers, and a
             * busy worker never idles to fire them for it: look at theirs now and then. */
            run_foreign_timers(p, blitz_now_ns());
            if ((t = inject_take(p)))
                return t;
            poll_io(p); /* I/O must not wait for this worker to run out of tasks */
        }
        if ((t = local_work(p)) || (t = inject_take(p)))
            return t;
        if (atomic_load_explicit(&g_shutdown, memory_order_relaxed))
            return NULL;
        if (poll_io(p) && (t = local_work(p)))
            return t;
        /* Spin a little, stealing, unless enough others already do. */
        if (2 * atomic_load_explicit(&g_nspinning, memory_order_relaxed) < g_nprocs) {
            atomic_fetch_add(&g_nspinning, 1);
            for (int r = 0; r < STEAL_ROUNDS && !t; r++)
                t = steal_work(p, r == STEAL_ROUNDS - 1);
            if (atomic_fetch_sub(&g_nspinning, 1) == 1 && t)
                maybe_wake_idle(); /* last spinner found work: let another look too */
            if (t)
                return t;
        }
        block_idle(p);
    }
}

/* With thousands of tasks each switch misses the cache on the task's header and the top of
 * its stack, which sit next to each other: start loading the next task's while this one
 * runs. Prefetches never fault, so a stale hint costs nothing. */
static inline void prefetch_task(blitz_task *t)
{
    if (!t)
        return;
    const char *c = (const char *)t;
    for (int i = -8; i < 3; i++)
        __builtin_prefetch(c + 64 * i, 1, 3);
}

static void machine_loop(blitz_machine *m)
{
    m->tp = blitz_tls_tp();
    blitz_tls_set_machine(m);
    blitz_overflow_thread_setup();
    m->san.fiber = blitz_san_fiber_current();
    for (;;) {
        blitz_task *t = find_runnable(m);
        if (!t)
            return; /* shutdown */
        prefetch_task(blitz_runq_peek(&m->p->runq, 0));
        run_task(m, t);
    }
}

static void *machine_main(void *arg)
{
    machine_loop(arg);
    return NULL;
}

/* ---------------------------------------------------------------- set-up */

static int proc_init(blitz_proc *p, int id)
{
    memset(p, 0, sizeof *p);
    p->id = id;
    blitz_runq_init(&p->runq);
    if (blitz_timerheap_init(&p->timers) != 0)
        return ENOMEM;
    /* Two loops over the same wake-up and timer descriptors: `loop` for sleeping, `io_loop`
     * (which also watches the shared I/O set) for sleeping as the one worker that waits for
     * I/O. Keeping the I/O set registered in io_loop for good matters: adding an epoll set
     * into another costs a walk over every descriptor in it, and ownership changes often. */
    p->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK | EVFLAG_NOENV);
    p->io_loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK | EVFLAG_NOENV);
    if (!p->loop || !p->io_loop)
        return EAGAIN;
    /* Raw calls: the shim interposes eventfd and timerfd_create. */
    p->wake_fd = (int)blitz_syscall(SYS_eventfd2, 0, EFD_NONBLOCK | EFD_CLOEXEC, 0, 0, 0, 0);
    if (p->wake_fd < 0)
        return errno;
    p->timer_fd = (int)blitz_syscall(SYS_timerfd_create, CLOCK_MONOTONIC,
                                     TFD_NONBLOCK | TFD_CLOEXEC, 0, 0, 0, 0);
    if (p->timer_fd < 0)
        return errno;
    struct ev_loop *loops[2] = { p->loop, p->io_loop };
    for (int i = 0; i < 2; i++) {
        ev_io_init(&p->wake_io[i], wake_io_cb, p->wake_fd, EV_READ);
        p->wake_io[i].data = p;
        ev_io_start(loops[i], &p->wake_io[i]);
        ev_io_init(&p->timer_io[i], timer_io_cb, p->timer_fd, EV_READ);
        p->timer_io[i].data = p;
        ev_io_start(loops[i], &p->timer_io[i]);
    }
    ev_io_init(&p->netpoll_io, netpoll_io_cb, blitz_netpoll_fd(), EV_READ);
    p->netpoll_io.data = p;
    ev_io_start(p->io_loop, &p->netpoll_io);
    p->timer_armed = UINT64_MAX;
    return 0;
}

static int start_machine(blitz_machine *m)
{
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    int rc = g_os.thread_create(&m->thread, &a, machine_main, m);
    pthread_attr_destroy(&a);
    return rc;
}

int blitz_rt_start(const blitz_rt_config *cfg, const blitz_rt_os *os, int adopt_caller)
{
    int n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > BLITZ_MAX_WORKERS)
        n = BLITZ_MAX_WORKERS;
    blitz_stack_setup(cfg->stack_size ? cfg->stack_size : (8u << 20),
                      cfg->guard_size ? cfg->guard_size : 4096);
    g_os = *os;
    g_nprocs = n;
    g_timer_spin_ns = (uint64_t)cfg->timer_spin_us * 1000u;
    blitz_injectq_init(&g_inject);
    int nrc = blitz_netpoll_init();
    if (nrc)
        return nrc;
    g_procs = aligned_alloc(64, sizeof(blitz_proc) * (size_t)n);
    g_machines = aligned_alloc(64, sizeof(blitz_machine) * (size_t)n);
    if (g_machines)
        memset(g_machines, 0, sizeof(blitz_machine) * (size_t)n);
    if (!g_procs || !g_machines)
        return ENOMEM;
    for (int i = 0; i < n; i++) {
        int rc = proc_init(&g_procs[i], i);
        if (rc)
            return rc;
        g_machines[i].index = i;
        g_machines[i].p = &g_procs[i];
        g_procs[i].m = &g_machines[i];
    }
    for (int i = adopt_caller ? 1 : 0; i < n; i++) {
        int rc = start_machine(&g_machines[i]);
        if (rc)
            return rc;
    }
    return 0;
}

void blitz_rt_run_caller(void)
{
    g_machines[0].thread = g_os.thread_self();
    machine_loop(&g_machines[0]);
    abort(); /* only a shutdown returns, and it is not used with an adopted caller */
}

void blitz_rt_shutdown(void)
{
    atomic_store(&g_shutdown, 1);
    for (int i = 0; i < g_nprocs; i++)
        proc_wake(&g_procs[i]);
    for (int i = 0; i < g_nprocs; i++)
        g_os.thread_join(g_machines[i].thread, NULL);
    for (int i = 0; i < g_nprocs; i++) {
        blitz_proc *p = &g_procs[i];
        ev_loop_destroy(p->loop);
        ev_loop_destroy(p->io_loop);
        close_raw(p->timer_fd);
        close_raw(p->wake_fd);
        blitz_timerheap_destroy(&p->timers);
        blitz_stack_cache_drain(&p->stacks);
    }
    blitz_injectq_destroy(&g_inject);
    free(g_procs);
    free(g_machines);
    g_procs = NULL;
    g_machines = NULL;
    g_nprocs = 0;
    atomic_store(&g_shutdown, 0);
}

/* ---------------------------------------------------------------- fork */

void blitz_rt_fork_prepare(void) { blitz_stack_fork_lock(); }
void blitz_rt_fork_parent(void) { blitz_stack_fork_unlock(); }

void blitz_rt_fork_child(void)
{
    blitz_stack_fork_unlock();
    blitz_netpoll_fork_child(); /* before anything can close a descriptor */
    blitz_task *self = blitz_self();
    if (!self)
        return; /* forked by a thread the runtime does not own: the child runs no tasks */
    blitz_machine *m = self->m;
    blitz_task_fork_child(self);
    if (self->tp)
        blitz_tls_fork_child(self->tp, m->tp);
    /* Only this thread survived. Abandon every other task and processor (their memory stays
     * as the parent left it, like the stacks of the parent's other threads under NPTL) and
     * build fresh processors; this machine drives the new processor 0. */
    blitz_proc *old = g_procs;
    int n = g_nprocs;
    for (int i = 0; i < n; i++) {
        ev_loop_destroy(old[i].loop);
        ev_loop_destroy(old[i].io_loop);
        close_raw(old[i].timer_fd);
        close_raw(old[i].wake_fd);
    }
    for (int w = 0; w < BLITZ_MAX_WORKERS / 64; w++)
        atomic_store(&g_idle[w], 0);
    atomic_store(&g_nspinning, 0);
    atomic_store(&g_netpoll_owner, -1);
    blitz_injectq_init(&g_inject);
    blitz_proc *procs = aligned_alloc(64, sizeof(blitz_proc) * (size_t)n);
    blitz_machine *ms = aligned_alloc(64, sizeof(blitz_machine) * (size_t)n);
    if (ms)
        memset(ms, 0, sizeof(blitz_machine) * (size_t)n);
    if (!procs || !ms) {
        fprintf(stderr, "blitzshim: out of memory rebuilding the runtime after fork\n");
        abort();
    }
    for (int i = 0; i < n; i++) {
        if (proc_init(&procs[i], i) != 0) {
            fprintf(stderr, "blitzshim: cannot rebuild the runtime after fork: %s\n",
                    strerror(errno));
            abort();
        }
        ms[i].index = i;
        ms[i].p = &procs[i];
        procs[i].m = &ms[i];
    }
    g_procs = procs;
    g_machines = ms;
    /* This machine keeps its scheduler context (the loop it will return to) but now drives
     * processor 0; machine slot 0 stays unused. */
    m->p = &procs[0];
    procs[0].m = m;
    for (int i = 1; i < n; i++) {
        if (start_machine(&ms[i]) != 0) {
            fprintf(stderr, "blitzshim: cannot start worker %d after fork\n", i);
            abort();
        }
    }
}

/* ---------------------------------------------------------------- stats */

void blitz_rt_stats_get(blitz_rt_stats *out)
{
    memset(out, 0, sizeof *out);
    blitz_task_counts(&out->spawned, &out->peak_alive);
    out->alive = blitz_tasks_alive();
    for (int i = 0; i < g_nprocs; i++) {
        blitz_proc_stats *s = &g_procs[i].stats;
        uint64_t sw = atomic_load_explicit(&s->switches, memory_order_relaxed);
        out->switches += sw;
        if (sw > out->busiest_switches)
            out->busiest_switches = sw;
        out->steals += atomic_load_explicit(&s->steals, memory_order_relaxed);
        out->parks += atomic_load_explicit(&s->parks, memory_order_relaxed);
        out->wakeups += atomic_load_explicit(&s->wakeups, memory_order_relaxed);
    }
}
