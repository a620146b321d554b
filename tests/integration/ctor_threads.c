// blitz-linked
// Threads created from a constructor (__attribute__((constructor))), before
// main: the constructor creates and joins 4 threads (one of them sleeps and
// creates a grandchild), and starts one more thread that keeps running into
// main, which main joins.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

static atomic_int in_main, saw_main, ticks;
static int ctor_sum = -1, ctor_ran;
static pthread_t runner;
static int runner_rc = -1;

static void *grandchild(void *arg) { return (void *)((uintptr_t)arg + 100); }

static void *ctor_worker(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    if (i == 2) {
        nap_ms(5);
        pthread_t g;
        void *r = NULL;
        if (pthread_create(&g, NULL, grandchild, arg) != 0 || pthread_join(g, &r) != 0)
            return (void *)0;
        return r; /* 102 */
    }
    sched_yield();
    return (void *)(i * 10); /* 0, 10, 30 */
}

static void *runner_main(void *arg)
{
    /* started in the constructor; lives on until main has begun */
    int waited = 0;
    while (!atomic_load(&in_main) && waited < 60000) {
        nap_ms(2);
        waited += 2;
        atomic_fetch_add(&ticks, 1);
    }
    atomic_store(&saw_main, atomic_load(&in_main));
    nap_ms(10);
    return (void *)(uintptr_t)0xc0de;
}

__attribute__((constructor)) static void start_threads_early(void)
{
    ctor_ran = 1;
    pthread_t t[4];
    int sum = 0;
    for (uintptr_t i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, ctor_worker, (void *)i) != 0)
            return;
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        if (pthread_join(t[i], &r) != 0)
            return;
        sum += (int)(uintptr_t)r;
    }
    ctor_sum = sum;
    runner_rc = pthread_create(&runner, NULL, runner_main, NULL);
}

int main(void)
{
    int failures = 0;
    if (ctor_ran && ctor_sum == 0 + 10 + 102 + 30)
        printf("ok constructor created and joined 4 threads (sum %d)\n", ctor_sum);
    else {
        printf("FAIL: constructor ran %d, sum %d\n", ctor_ran, ctor_sum);
        failures++;
    }
    if (runner_rc != 0) {
        printf("FAIL: constructor could not start the runner thread (%d)\n", runner_rc);
        return 1;
    }
    /* the runner must keep running concurrently with main (bounded wait) */
    for (int waited = 0; atomic_load(&ticks) < 3 && waited < 20000; waited++)
        nap_ms(1);
    atomic_store(&in_main, 1);
    void *r = NULL;
    int rc = pthread_join(runner, &r);
    if (rc == 0 && r == (void *)(uintptr_t)0xc0de && saw_main)
        printf("ok thread started in the constructor ran into main and was joined\n");
    else {
        printf("FAIL: runner join %d, value ok %d, saw main %d\n", rc, r == (void *)(uintptr_t)0xc0de,
               atomic_load(&saw_main));
        failures++;
    }
    if (atomic_load(&ticks) < 3) {
        printf("FAIL: the runner did not run while main waited 20 s\n");
        failures++;
    }
    return failures ? 1 : 0;
}
