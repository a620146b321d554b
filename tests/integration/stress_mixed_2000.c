// Stress: 2,000 threads alive together, each running a seeded random mix of
// sched_yield(), pthread_yield(), short nanosleeps and create+join of a child
// that adds to a shared atomic counter; the total is predicted from the seeds
// and checked.  sched_yield/pthread_yield must return 0.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* pthread_yield */

#define N 2000
#define STEPS 40

static atomic_long counter, yield_errors, create_errors, started;
static atomic_int go;

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static void *child(void *arg)
{
    atomic_fetch_add(&counter, (long)(uintptr_t)arg);
    if ((uintptr_t)arg % 3 == 0)
        if (sched_yield() != 0)
            atomic_fetch_add(&yield_errors, 1);
    return (void *)((uintptr_t)arg + 1);
}

/* what one thread adds to the counter: used both to run and to predict */
static long simulate(uintptr_t id, int run)
{
    unsigned seed = (unsigned)id * 2654435761u + 1;
    long total = 0;
    for (int s = 0; s < STEPS; s++) {
        unsigned r = next_rand(&seed);
        switch (r % 4) {
        case 0:
            total += 1;
            if (run) {
                if (sched_yield() != 0)
                    atomic_fetch_add(&yield_errors, 1);
                atomic_fetch_add(&counter, 1);
            }
            break;
        case 1:
            total += 2;
            if (run) {
                if (pthread_yield() != 0)
                    atomic_fetch_add(&yield_errors, 1);
                atomic_fetch_add(&counter, 2);
            }
            break;
        case 2:
            total += 3;
            if (run) {
                struct timespec ts = { 0, (long)(r % 200) * 1000L }; /* 0..199 us */
                nanosleep(&ts, NULL);
                atomic_fetch_add(&counter, 3);
            }
            break;
        case 3: {
            uintptr_t v = r % 100;
            total += (long)v;
            if (run) {
                pthread_t c;
                void *ret = NULL;
                if (pthread_create(&c, NULL, child, (void *)v) != 0 || pthread_join(c, &ret) != 0 ||
                    ret != (void *)(v + 1))
                    atomic_fetch_add(&create_errors, 1);
            }
            break;
        }
        }
    }
    return total;
}

static void *worker(void *arg)
{
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&go)) {
        struct timespec ts = { 0, 50 * 1000000L }; /* 2,000 pollers: keep wake-ups rare */
        nanosleep(&ts, NULL);
    }
    simulate((uintptr_t)arg, 1);
    return NULL;
}

int main(void)
{
    static pthread_t t[N];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (uintptr_t i = 0; i < N; i++)
        if (pthread_create(&t[i], &attr, worker, (void *)i) != 0) {
            printf("FAIL: pthread_create #%lu\n", (unsigned long)i);
            atomic_store(&go, 1);
            return 1;
        }
    pthread_attr_destroy(&attr);
    for (int i = 0; i < 20000 && atomic_load(&started) < N; i++) {
        struct timespec ts = { 0, 1000000L };
        nanosleep(&ts, NULL);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    long expect = 0;
    for (uintptr_t i = 0; i < N; i++)
        expect += simulate(i, 0);
    int failures = 0;
    if (counter == expect)
        printf("ok %d threads x %d random steps: counter %ld as predicted\n", N, STEPS, expect);
    else {
        printf("FAIL: counter %ld, expected %ld\n", (long)counter, expect);
        failures++;
    }
    if (yield_errors || create_errors) {
        printf("FAIL: %ld yields returned non-zero, %ld child create/join errors\n", (long)yield_errors,
               (long)create_errors);
        failures++;
    } else
        printf("ok sched_yield/pthread_yield returned 0; children created and joined\n");
    return failures ? 1 : 0;
}
