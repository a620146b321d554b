/* Starts and stops the runtime around a unit test. */
#ifndef RT_FIXTURE_H
#define RT_FIXTURE_H
#include <pthread.h>
#include "scheduler.h"

static inline void rt_up(int workers)
{
    blitz_rt_config cfg = { workers, 256 * 1024, 0, 1000 };
    blitz_rt_os os = { pthread_create, pthread_join, pthread_self };
    int rc = blitz_rt_start(&cfg, &os, 0);
    if (rc)
        abort();
}

static inline void rt_down(void) { blitz_rt_shutdown(); }

/* Spawns fn(arg) and joins it from this (non-task) thread. */
static inline void *rt_run(void *(*fn)(void *), void *arg)
{
    blitz_task *t = blitz_task_spawn(fn, arg, NULL);
    void *r = NULL;
    if (!t || blitz_task_join(t, &r, 0, 0, NULL) != 0)
        abort();
    return r;
}

/* A cheap thread-safe pseudo-random number (xorshift on a caller-owned state). */
static inline unsigned rt_rand(unsigned *s)
{
    unsigned x = *s ? *s : 2463534242u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}
#endif
