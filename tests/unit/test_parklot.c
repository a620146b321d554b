#include "unit.h"
#include <stdatomic.h>
#include <stdint.h>
#include "clock.h"
#include "parklot.h"
#include "rt_fixture.h"

/* A counting semaphore on the parking lot, used by tasks and plain threads at once, with
 * random yields and short timeouts racing the wake-ups: no token may be lost or duplicated. */
static _Atomic long sem_value, taken, timeouts;

static int empty(void *ctx) { return atomic_load(&sem_value) <= 0; }

static void sem_take(void)
{
    for (;;) {
        long v = atomic_load(&sem_value);
        if (v > 0) {
            if (atomic_compare_exchange_weak(&sem_value, &v, v - 1))
                return;
            continue;
        }
        int st = blitz_park(&sem_value, empty, NULL, NULL, blitz_now_ns() + 20000, NULL, NULL);
        if (st == BLITZ_W_TIMEDOUT)
            atomic_fetch_add(&timeouts, 1);
    }
}

static void sem_give(void)
{
    atomic_fetch_add(&sem_value, 1);
    blitz_unpark_one(&sem_value, NULL, NULL);
}

static void *consumer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 500; i++) {
        sem_take();
        atomic_fetch_add(&taken, 1);
        if (blitz_self() && rt_rand(&seed) % 4 == 0)
            blitz_yield();
    }
    return NULL;
}

static void *producer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 500; i++) {
        sem_give();
        if (blitz_self() && rt_rand(&seed) % 3 == 0)
            blitz_yield();
    }
    return NULL;
}

Test(parklot, tasks_and_threads_share_a_semaphore_without_losing_wakeups)
{
    rt_up(2);
    blitz_task *ts[16];
    pthread_t os[4];
    for (int i = 0; i < 8; i++)
        cr_assert(ts[i] = blitz_task_spawn(consumer, (void *)(uintptr_t)(i + 1), NULL));
    for (int i = 0; i < 2; i++)
        pthread_create(&os[i], NULL, consumer, (void *)(uintptr_t)(100 + i));
    for (int i = 8; i < 16; i++)
        cr_assert(ts[i] = blitz_task_spawn(producer, (void *)(uintptr_t)(i + 1), NULL));
    for (int i = 2; i < 4; i++)
        pthread_create(&os[i], NULL, producer, (void *)(uintptr_t)(200 + i));
    for (int i = 0; i < 16; i++)
        cr_assert_eq(blitz_task_join(ts[i], NULL, 0, 0, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(os[i], NULL);
    cr_assert_eq(atomic_load(&taken), 10 * 500);
    cr_assert_eq(atomic_load(&sem_value), 0);
    rt_down();
}

/* unpark_one hands its token only to a party whose wake-up it claimed. */
static uintptr_t give_token(void *ctx, const blitz_unpark_result *r)
{
    *(int *)ctx = r->woke;
    return 42;
}

static void *parks_once(void *arg)
{
    uintptr_t token = 0;
    int st = blitz_park(arg, NULL, NULL, NULL, 0, NULL, &token);
    return (void *)(uintptr_t)(st == BLITZ_W_WOKEN && token == 42);
}

Test(parklot, token_reaches_the_woken_party_and_timeouts_leave_the_queue)
{
    static int key;
    rt_up(2);
    blitz_task *t = blitz_task_spawn(parks_once, &key, NULL);
    int woke = 0;
    while (!blitz_unpark_one(&key, give_token, &woke))
        ;
    cr_assert_eq(woke, 1);
    void *r;
    cr_assert_eq(blitz_task_join(t, &r, 0, 0, NULL), 0);
    cr_assert_eq((uintptr_t)r, 1);
    /* a timed-out party is gone from the queue */
    cr_assert_eq(blitz_park(&key, NULL, NULL, NULL, blitz_now_ns() + 1000000, NULL, NULL),
                 BLITZ_W_TIMEDOUT);
    woke = -1;
    cr_assert_eq(blitz_unpark_one(&key, give_token, &woke), 0);
    cr_assert_eq(woke, 0);
    rt_down();
}
