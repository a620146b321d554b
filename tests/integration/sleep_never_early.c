// The sleep family never returns early: nanosleep (also with a NULL rem),
// clock_nanosleep relative and TIMER_ABSTIME on CLOCK_REALTIME and
// CLOCK_MONOTONIC, usleep, sleep(1); 200 threads each sleeping varied short
// durations through all of them check elapsed >= requested.  Also the error
// conventions: nanosleep/usleep return -1 with errno EINVAL for an invalid
// timespec, clock_nanosleep RETURNS EINVAL (errno untouched) for an invalid
// clock or timespec and ENOTSUP for CLOCK_MONOTONIC_RAW; zero and past
// deadlines return 0 at once; successful calls leave errno alone.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static struct timespec ts_of_ns(long long ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };
    return ts;
}

enum { NANOSLEEP, NANOSLEEP_REM, CN_REL_MONO, CN_REL_REAL, CN_ABS_MONO, CN_ABS_REAL, USLEEP, NKIND };
static const char *const kind_name[NKIND] = {
    "nanosleep", "nanosleep(rem)", "clock_nanosleep(MONOTONIC)", "clock_nanosleep(REALTIME)",
    "clock_nanosleep(MONOTONIC, ABSTIME)", "clock_nanosleep(REALTIME, ABSTIME)", "usleep",
};
static atomic_int early[NKIND], errors[NKIND], done[NKIND];

/* sleeps `ns` with API `kind`; returns 1 when it was not early */
static int one_sleep(int kind, long long ns)
{
    long long m0 = ns_of(CLOCK_MONOTONIC);
    long long r0 = ns_of(CLOCK_REALTIME);
    struct timespec ts = ts_of_ns(ns), rem = { 0, 0 };
    int rc = 0;
    errno = 4242;
    switch (kind) {
    case NANOSLEEP:
        rc = nanosleep(&ts, NULL);
        break;
    case NANOSLEEP_REM:
        rc = nanosleep(&ts, &rem);
        break;
    case CN_REL_MONO:
        rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        break;
    case CN_REL_REAL:
        rc = clock_nanosleep(CLOCK_REALTIME, 0, &ts, &rem);
        break;
    case CN_ABS_MONO:
        ts = ts_of_ns(m0 + ns);
        rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        break;
    case CN_ABS_REAL:
        ts = ts_of_ns(r0 + ns);
        rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
        break;
    case USLEEP:
        ns = (ns / 1000) * 1000;
        rc = usleep((useconds_t)(ns / 1000));
        break;
    }
    long long m1 = ns_of(CLOCK_MONOTONIC), r1 = ns_of(CLOCK_REALTIME);
    if (rc != 0 || errno != 4242)
        atomic_fetch_add(&errors[kind], 1);
    int ok;
    if (kind == CN_ABS_REAL)
        ok = r1 >= r0 + ns; /* the deadline is on the realtime clock */
    else
        ok = m1 - m0 >= ns;
    if (!ok)
        atomic_fetch_add(&early[kind], 1);
    atomic_fetch_add(&done[kind], 1);
    return ok;
}

static void *sleeper(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (int round = 0; round < NKIND; round++) {
        int kind = (int)((id + round) % NKIND);
        long long ns = 50000 + (long long)((id * 7919 + round * 104729) % 3000) * 1000; /* 50 us .. 3.05 ms */
        one_sleep(kind, ns);
    }
    return NULL;
}

/* Its own function so that errno is looked up after the sleeps above: code that keeps
 * &errno across blocking calls needs per-task TLS under the shim (see README). */
static __attribute__((noinline)) void check_error_conventions(void)
{
    /* error conventions */
    struct timespec bad = { 0, 1000000000L };
    errno = 0;
    EXPECT(nanosleep(&bad, NULL), -1);
    EXPECT(errno, EINVAL);
    bad.tv_nsec = -1;
    errno = 0;
    EXPECT(nanosleep(&bad, NULL), -1);
    EXPECT(errno, EINVAL);
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    errno = 0;
    EXPECT(nanosleep(&bad, NULL), -1);
    EXPECT(errno, EINVAL);
    struct timespec ok = { 0, 1000 };
    errno = 0;
    EXPECT(clock_nanosleep((clockid_t)12345, 0, &ok, NULL), EINVAL);
    EXPECT(errno, 0);
    EXPECT(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &ok, NULL), EINVAL);
    EXPECT(clock_nanosleep(CLOCK_MONOTONIC_RAW, 0, &ok, NULL), ENOTSUP);
    bad.tv_sec = 0;
    bad.tv_nsec = 1000000000L;
    EXPECT(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
    EXPECT(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &bad, NULL), EINVAL);
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    EXPECT(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
    EXPECT(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &bad, NULL), EINVAL);
    EXPECT(errno, 0);
    printf("ok invalid arguments: nanosleep -1/EINVAL, clock_nanosleep returns EINVAL/ENOTSUP\n");
}

int main(void)
{
    /* single-threaded: each kind with a few durations, including < 1 tick and > 1 s */
    static const long long durations[] = { 1, 1000, 100000, 2000000, 20000000, 1000000001LL };
    for (int k = 0; k < NKIND; k++)
        for (size_t d = 0; d < sizeof durations / sizeof durations[0]; d++)
            if (durations[d] < 1000000000LL || k == CN_ABS_MONO)
                one_sleep(k, durations[d]);
    long long t0 = ns_of(CLOCK_MONOTONIC);
    errno = 4242;
    EXPECT(sleep(1), 0);
    CHECK(ns_of(CLOCK_MONOTONIC) - t0 >= 1000000000LL, "sleep(1) returned early");
    CHECK(errno == 4242, "sleep(1) changed errno");
    EXPECT(sleep(0), 0);
    t0 = ns_of(CLOCK_MONOTONIC);
    EXPECT(usleep(1000000), 0); /* glibc accepts usleep(>= 1 s) */
    CHECK(ns_of(CLOCK_MONOTONIC) - t0 >= 1000000000LL, "usleep(1000000) returned early");

    /* 200 threads sleeping varied short durations through every API */
    enum { N = 200 };
    static pthread_t t[N];
    for (uintptr_t i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, sleeper, (void *)i) != 0) {
            printf("FAIL: pthread_create\n");
            return 1;
        }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < NKIND; k++) {
        if (early[k] || errors[k]) {
            printf("FAIL: %s: %d of %d sleeps early, %d errors or errno changes\n", kind_name[k], early[k],
                   done[k], errors[k]);
            failures++;
        } else
            printf("ok %s never early\n", kind_name[k]);
    }
    printf("ok sleep(1) and usleep(1000000) never early\n");

    check_error_conventions();

    /* zero durations and past deadlines return 0 promptly */
    struct timespec zero = { 0, 0 };
    t0 = ns_of(CLOCK_MONOTONIC);
    EXPECT(nanosleep(&zero, NULL), 0);
    EXPECT(clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, NULL), 0);
    struct timespec past = ts_of_ns(ns_of(CLOCK_MONOTONIC) - 1000000000LL);
    EXPECT(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL), 0);
    past = ts_of_ns(ns_of(CLOCK_REALTIME) - 1000000000LL);
    EXPECT(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &past, NULL), 0);
    EXPECT(usleep(0), 0);
    CHECK(ns_of(CLOCK_MONOTONIC) - t0 < 2000000000LL, "zero/past sleeps took %lld ms", (ns_of(CLOCK_MONOTONIC) - t0) / 1000000);
    printf("ok zero durations and past deadlines return 0\n");

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
