#include "unit.h"
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "clock.h"
#include "rt_fixture.h"
#include "waiter.h"

static void *ret_arg(void *a) { return a; }

Test(sched, spawn_and_join_from_a_plain_thread)
{
    rt_up(2);
    for (long i = 0; i < 1000; i++)
        cr_assert_eq((long)rt_run(ret_arg, (void *)i), i);
    rt_down();
}

/* Many tasks, random yields and nested spawns; every increment must be counted. */
static _Atomic long counter;
static void *yielder(void *a)
{
    unsigned seed = (unsigned)(uintptr_t)a * 2654435761u;
    for (int i = 0; i < 200; i++) {
        atomic_fetch_add(&counter, 1);
        if (rt_rand(&seed) % 3 == 0)
            blitz_yield();
        if (rt_rand(&seed) % 97 == 0) {
            blitz_task *c = blitz_task_spawn(ret_arg, a, NULL);
            void *r;
            cr_assert_eq(blitz_task_join(c, &r, 0, 0, NULL), 0);
            cr_assert_eq(r, a);
        }
    }
    return NULL;
}

static void *spawner(void *n)
{
    long count = (long)n;
    blitz_task **ts = malloc(sizeof *ts * (size_t)count);
    for (long i = 0; i < count; i++)
        ts[i] = blitz_task_spawn(yielder, (void *)(i + 1), NULL);
    for (long i = 0; i < count; i++)
        cr_assert_eq(blitz_task_join(ts[i], NULL, 0, 0, NULL), 0);
    free(ts);
    return NULL;
}

Test(sched, random_yield_stress, .timeout = 120)
{
    rt_up(4);
    for (int round = 0; round < 5; round++) {
        atomic_store(&counter, 0);
        rt_run(spawner, (void *)2000L);
        cr_assert_eq(atomic_load(&counter), 2000L * 200);
    }
    blitz_rt_stats st;
    blitz_rt_stats_get(&st);
    cr_assert_gt(st.switches, 0);
    rt_down();
}

static void *sleeper(void *a)
{
    uint64_t d = (uint64_t)(uintptr_t)a;
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = blitz_now_ns();
        blitz_sleep_until(t0 + d, NULL);
        uint64_t t1 = blitz_now_ns();
        cr_assert_geq(t1 - t0, d, "slept %llu ns < %llu", (unsigned long long)(t1 - t0),
                      (unsigned long long)d);
    }
    return NULL;
}

static void *sleep_many(void *unused)
{
    blitz_task *ts[500];
    for (int i = 0; i < 500; i++)
        ts[i] = blitz_task_spawn(sleeper, (void *)(uintptr_t)(50000 + (i % 37) * 20000), NULL);
    for (int i = 0; i < 500; i++)
        blitz_task_join(ts[i], NULL, 0, 0, NULL);
    return NULL;
}

Test(sched, sleeps_never_end_early, .timeout = 60)
{
    rt_up(2);
    rt_run(sleep_many, NULL);
    rt_down();
}

/* Join semantics. */
static void *sleep_a_bit(void *a)
{
    blitz_sleep_until(blitz_now_ns() + 20000000, NULL);
    return a;
}

static void *join_checks(void *unused)
{
    blitz_task *t = blitz_task_spawn(sleep_a_bit, (void *)5, NULL);
    cr_assert_eq(blitz_task_join(t, NULL, 1, 0, NULL), EBUSY);
    cr_assert_eq(blitz_task_join(t, NULL, 0, blitz_now_ns() + 1000000, NULL), ETIMEDOUT);
    cr_assert_eq(blitz_task_join(blitz_self(), NULL, 0, 0, NULL), EDEADLK);
    void *r;
    cr_assert_eq(blitz_task_join(t, &r, 0, 0, NULL), 0);
    cr_assert_eq(r, (void *)5);
    blitz_task *d = blitz_task_spawn(sleep_a_bit, NULL, NULL);
    cr_assert_eq(blitz_task_detach(d), 0);
    cr_assert_eq(blitz_task_detach(d), EINVAL);
    cr_assert_eq(blitz_task_join(d, NULL, 0, 0, NULL), EINVAL);
    return NULL;
}

Test(sched, join_errors_and_timeouts)
{
    rt_up(2);
    rt_run(join_checks, NULL);
    rt_down();
}

/* Interrupting a sleep: the wait ends early with INTERRUPTED once the flag is set. */
static _Atomic int intr_flag;
static void *interruptible(void *unused)
{
    uint32_t r = blitz_sleep_until(blitz_now_ns() + 10ull * 1000000000ull, &intr_flag);
    return (void *)(uintptr_t)r;
}

Test(sched, interrupt_ends_a_wait)
{
    rt_up(2);
    blitz_task *t = blitz_task_spawn(interruptible, NULL, NULL);
    struct timespec ts = { 0, 20000000 };
    nanosleep(&ts, NULL);
    atomic_store(&intr_flag, 1);
    blitz_task_interrupt(t);
    void *r;
    uint64_t t0 = blitz_now_ns();
    cr_assert_eq(blitz_task_join(t, &r, 0, 0, NULL), 0);
    cr_assert_lt(blitz_now_ns() - t0, 5ull * 1000000000ull);
    cr_assert_eq((uintptr_t)r, BLITZ_W_INTERRUPTED);
    rt_down();
}

/* Mixed waiters: plain threads and tasks wait on waiters woken by both kinds. */
#define PAIRS 200
static blitz_waiter *_Atomic slots[PAIRS];
static _Atomic int woken;

static void *wait_on_slot(void *a)
{
    long i = (long)a;
    blitz_waiter w;
    blitz_waiter_init(&w);
    atomic_store(&slots[i], &w);
    uint32_t st = blitz_waiter_wait(&w, 0, NULL);
    cr_assert_eq(st, BLITZ_W_WOKEN);
    atomic_fetch_add(&woken, 1);
    return NULL;
}

static void wake_slot(long i)
{
    blitz_waiter *w;
    while (!(w = atomic_exchange(&slots[i], NULL)))
        blitz_yield();
    cr_assert(blitz_waiter_wake(w, BLITZ_W_WOKEN));
}

static void *task_waker(void *a)
{
    for (long i = 0; i < PAIRS; i += 2)
        wake_slot(i);
    return NULL;
}

static void *thread_waiter(void *a) { return wait_on_slot(a); }

Test(sched, tasks_and_threads_wake_each_other, .timeout = 60)
{
    rt_up(2);
    static pthread_t th[PAIRS];
    static blitz_task *tk[PAIRS];
    for (long i = 0; i < PAIRS; i++) {
        if (i % 4 < 2)
            pthread_create(&th[i], NULL, thread_waiter, (void *)i);
        else
            tk[i] = blitz_task_spawn(wait_on_slot, (void *)i, NULL);
    }
    blitz_task *waker = blitz_task_spawn(task_waker, NULL, NULL); /* even slots */
    for (long i = 1; i < PAIRS; i += 2)                            /* odd slots from here */
        wake_slot(i);
    blitz_task_join(waker, NULL, 0, 0, NULL);
    for (long i = 0; i < PAIRS; i++) {
        if (i % 4 < 2)
            pthread_join(th[i], NULL);
        else
            cr_assert_eq(blitz_task_join(tk[i], NULL, 0, 0, NULL), 0);
    }
    cr_assert_eq(atomic_load(&woken), PAIRS);
    rt_down();
}

/* Every worker makes the sync call on its own thread, and synced() says when all have. */
#define SYNC_WORKERS 3
static _Atomic long sync_tids[64];
static _Atomic int sync_n;
static void on_sync(void)
{
    long tid = syscall(SYS_gettid);
    for (int i = 0; i < atomic_load(&sync_n); i++)
        if (atomic_load(&sync_tids[i]) == tid)
            return;
    int k = atomic_fetch_add(&sync_n, 1);
    if (k < 64)
        atomic_store(&sync_tids[k], tid);
}

Test(sched, sync_workers_reaches_every_worker, .timeout = 60)
{
    rt_up(SYNC_WORKERS);
    blitz_sched_set_worker_sync(on_sync);
    for (int round = 0; round < 20; round++) {
        atomic_store(&sync_n, 0);
        unsigned gen = blitz_sched_sync_workers();
        uint64_t t0 = blitz_now_ns();
        while (!blitz_sched_synced(gen)) {
            cr_assert_lt(blitz_now_ns() - t0, 5ull * 1000000000ull, "round %d never synced", round);
            sched_yield();
        }
        cr_assert_eq(atomic_load(&sync_n), SYNC_WORKERS, "round %d: %d distinct workers", round,
                     atomic_load(&sync_n));
    }
    blitz_sched_set_worker_sync(NULL);
    rt_down();
}
