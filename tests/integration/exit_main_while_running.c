// blitz-expect-exit: 3
// exit(3) from main while other threads run: some sleep in nanosleep/sleep,
// some spin with sched_yield, one is blocked in pthread_join.  The atexit
// handler must print exactly once, stdio is flushed, and the status is 3.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_int handler_runs, running;
static volatile unsigned long spins[2];

static void handler(void)
{
    int n = atomic_fetch_add(&handler_runs, 1) + 1;
    printf("atexit handler ran (run #%d)\n", n);
}

static void *sleeper(void *arg)
{
    atomic_fetch_add(&running, 1);
    for (;;) {
        if ((uintptr_t)arg % 2) {
            struct timespec ts = { 0, 3 * 1000000L };
            nanosleep(&ts, NULL);
        } else
            sleep(100);
    }
    return NULL;
}

static void *spinner(void *arg)
{
    atomic_fetch_add(&running, 1);
    for (;;) {
        spins[(uintptr_t)arg]++;
        sched_yield();
    }
    return NULL;
}

static void *joiner(void *arg)
{
    atomic_fetch_add(&running, 1);
    pthread_join(*(pthread_t *)arg, NULL); /* never returns */
    printf("FAIL: join of an endless sleeper returned\n");
    return NULL;
}

int main(void)
{
    atexit(handler);
    static pthread_t t[7];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, sleeper, (void *)i);
    for (uintptr_t i = 0; i < 2; i++)
        pthread_create(&t[4 + i], NULL, spinner, (void *)i);
    pthread_create(&t[6], NULL, joiner, &t[0]);
    struct timespec ts = { 0, 1000000L };
    for (int waited = 0; atomic_load(&running) < 7 && waited < 20000; waited++)
        nanosleep(&ts, NULL);
    if (atomic_load(&running) != 7)
        printf("FAIL: only %d of 7 threads running after 20 s\n", atomic_load(&running));
    ts.tv_nsec = 100 * 1000000L; /* let them sleep and spin a while */
    nanosleep(&ts, NULL);
    printf("main: calling exit(3)\n"); /* stays in the stdio buffer until exit flushes it */
    exit(3);
}
