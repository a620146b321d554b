// blitz-expect-exit: 5
// A non-main thread calls exit(5) while main is blocked in pthread_join (of a
// thread that never ends) and other threads sleep or spin: the process ends
// with status 5, the atexit handler runs exactly once, stdio is flushed.
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

static atomic_int handler_runs;
static volatile unsigned long spins;

static void handler(void)
{
    int n = atomic_fetch_add(&handler_runs, 1) + 1;
    printf("atexit handler ran (run #%d)\n", n);
}

static void *sleeper(void *arg)
{
    for (;;)
        sleep(100);
    return NULL;
}

static void *spinner(void *arg)
{
    for (;;) {
        spins++;
        sched_yield();
    }
    return NULL;
}

static void *exiter(void *arg)
{
    struct timespec ts = { 0, 100 * 1000000L };
    nanosleep(&ts, NULL);
    printf("thread: calling exit(5)\n");
    exit(5);
}

int main(void)
{
    atexit(handler);
    pthread_t s1, s2, sp, ex;
    pthread_create(&s1, NULL, sleeper, NULL);
    pthread_create(&s2, NULL, sleeper, NULL);
    pthread_create(&sp, NULL, spinner, NULL);
    pthread_create(&ex, NULL, exiter, NULL);
    printf("main: joining a thread that never ends\n");
    pthread_join(s1, NULL);
    printf("FAIL: main's join returned\n");
    return 1;
}
