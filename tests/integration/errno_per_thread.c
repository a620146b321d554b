// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-cflags: -O2
// errno is per thread: 200 threads each set errno to a distinct value, then
// sched_yield / nanosleep / usleep / create+join many times (successful calls
// must not change errno) and check their own value is intact; failing calls
// (close(-1), an invalid nanosleep) set errno only in the calling thread.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define N 200
#define ROUNDS 30

static atomic_int bad_after_yield, bad_after_sleep, bad_after_usleep, bad_after_fail, bad_after_join;
static atomic_int go;

static void *nothing(void *arg) { errno = 1; return arg; }

static void *worker(void *arg)
{
    int id = 1000 + (int)(uintptr_t)arg;
    while (!atomic_load(&go)) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    errno = id;
    for (int r = 0; r < ROUNDS; r++) {
        sched_yield();
        if (errno != id)
            atomic_fetch_add(&bad_after_yield, 1), errno = id;
        struct timespec ts = { 0, (long)((id * 31 + r * 17) % 500) * 1000L };
        nanosleep(&ts, NULL);
        if (errno != id)
            atomic_fetch_add(&bad_after_sleep, 1), errno = id;
        if (r % 5 == 0) {
            usleep(100);
            if (errno != id)
                atomic_fetch_add(&bad_after_usleep, 1), errno = id;
            /* a failing call sets errno in this thread only */
            if (close(-1) != -1 || errno != EBADF)
                atomic_fetch_add(&bad_after_fail, 1);
            struct timespec bad = { 0, 2000000000L };
            if (nanosleep(&bad, NULL) != -1 || errno != EINVAL)
                atomic_fetch_add(&bad_after_fail, 1);
            sched_yield();
            ts.tv_nsec = 50000;
            nanosleep(&ts, NULL);
            if (errno != EINVAL)
                atomic_fetch_add(&bad_after_fail, 1);
            errno = id;
        }
        if (r % 10 == 3) {
            pthread_t t;
            pthread_create(&t, NULL, nothing, NULL); /* the child scribbles on ITS errno */
            pthread_join(t, NULL);
            if (errno != id)
                atomic_fetch_add(&bad_after_join, 1), errno = id;
        }
    }
    return (void *)(uintptr_t)(errno == id);
}

int main(void)
{
    static pthread_t t[N];
    for (uintptr_t i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0) {
            printf("FAIL: pthread_create\n");
            return 1;
        }
    errno = 77;
    struct timespec ts = { 0, 20 * 1000000L };
    nanosleep(&ts, NULL);
    atomic_store(&go, 1);
    int intact = 0;
    for (int i = 0; i < N; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        intact += r == (void *)1;
    }
    int failures = 0;
    if (bad_after_yield || bad_after_sleep || bad_after_usleep || bad_after_fail || bad_after_join ||
        intact != N) {
        printf("FAIL: errno clobbered: after yield %d, sleep %d, usleep %d, failing call %d, join %d; intact %d/%d\n",
               bad_after_yield, bad_after_sleep, bad_after_usleep, bad_after_fail, bad_after_join, intact, N);
        failures++;
    } else
        printf("ok %d threads kept their own errno across %d rounds of yield/sleep/create\n", N, ROUNDS);
    if (errno != 77) {
        printf("FAIL: main's errno changed to %d while it slept and joined\n", errno);
        failures++;
    } else
        printf("ok main's errno intact\n");
    return failures ? 1 : 0;
}
