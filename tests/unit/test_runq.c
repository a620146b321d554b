#include "unit.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "runq.h"
#include "task.h"

static blitz_task tasks[100000];

Test(runq, fifo_order_and_capacity)
{
    static blitz_runq q;
    blitz_runq_init(&q);
    for (unsigned i = 0; i < BLITZ_RUNQ_SIZE; i++)
        cr_assert(blitz_runq_push(&q, &tasks[i]));
    cr_assert_not(blitz_runq_push(&q, &tasks[999]), "a full queue refuses");
    cr_assert_eq(blitz_runq_len(&q), BLITZ_RUNQ_SIZE);
    for (unsigned i = 0; i < BLITZ_RUNQ_SIZE; i++)
        cr_assert_eq(blitz_runq_pop(&q), &tasks[i]);
    cr_assert_null(blitz_runq_pop(&q));
}

Test(runq, steal_takes_half)
{
    static blitz_runq a, b;
    blitz_runq_init(&a);
    blitz_runq_init(&b);
    for (unsigned i = 0; i < 10; i++)
        blitz_runq_push(&a, &tasks[i]);
    blitz_task *t = blitz_runq_steal(&a, &b);
    cr_assert_not_null(t);
    cr_assert_eq(blitz_runq_len(&a), 5);
    cr_assert_eq(blitz_runq_len(&b), 4, "one of the five stolen is returned to run");
    cr_assert_eq(blitz_runq_pop(&a), &tasks[5], "the oldest are stolen");
}

/* Stress: one owner pushing/popping, three thieves; every task is taken exactly once. */
#define STRESS_N 100000
static blitz_runq sq, thief_q[3];
static _Atomic int taken[STRESS_N];
static _Atomic int owner_done;

static void take(blitz_task *t)
{
    long i = t - tasks;
    cr_assert(i >= 0 && i < STRESS_N);
    atomic_fetch_add(&taken[i], 1);
}

static void *thief(void *arg)
{
    blitz_runq *mine = arg;
    for (;;) {
        int done = atomic_load(&owner_done);
        blitz_task *t = blitz_runq_steal(&sq, mine);
        if (t)
            take(t);
        while ((t = blitz_runq_pop(mine)))
            take(t);
        if (!t && done && blitz_runq_len(&sq) == 0)
            return NULL;
    }
}

Test(runq, concurrent_steal_stress, .timeout = 60)
{
    blitz_runq_init(&sq);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        blitz_runq_init(&thief_q[i]);
        pthread_create(&th[i], NULL, thief, &thief_q[i]);
    }
    unsigned seed = 1;
    for (int i = 0; i < STRESS_N;) {
        if (blitz_runq_push(&sq, &tasks[i]))
            i++;
        seed = seed * 1103515245 + 12345;
        if ((seed >> 16) % 3 == 0) {
            blitz_task *t = blitz_runq_pop(&sq);
            if (t)
                take(t);
        }
    }
    atomic_store(&owner_done, 1);
    blitz_task *t;
    while ((t = blitz_runq_pop(&sq)))
        take(t);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < STRESS_N; i++)
        cr_assert_eq(atomic_load(&taken[i]), 1, "task %d taken %d times", i, atomic_load(&taken[i]));
}
