// Deferred cancellation: a thread blocked in nanosleep, clock_nanosleep,
// sleep(), usleep(), pthread_join, or looping on pthread_testcancel is
// cancelled promptly and pthread_join returns PTHREAD_CANCELED; a cancelled
// joiner leaves its target joinable; PTHREAD_CANCEL_DISABLE defers the cancel
// (a disabled sleep completes in full) until re-enabled and a cancellation point
// is reached; a pending cancel acts at the next cancellation point; self-cancel;
// pthread_cancel of a finished-but-unjoined thread returns 0 and join then
// yields the thread's real return value.
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

static atomic_int ready, after_block;

static void *in_nanosleep(void *arg)
{
    atomic_store(&ready, 1);
    struct timespec ts = { 100, 0 };
    nanosleep(&ts, NULL);
    atomic_store(&after_block, 1);
    return NULL;
}
static void *in_clock_nanosleep(void *arg)
{
    atomic_store(&ready, 1);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += 100;
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    atomic_store(&after_block, 1);
    return NULL;
}
static void *in_sleep(void *arg)
{
    atomic_store(&ready, 1);
    sleep(100);
    atomic_store(&after_block, 1);
    return NULL;
}
static void *in_usleep(void *arg)
{
    atomic_store(&ready, 1);
    for (int i = 0; i < 100; i++)
        usleep(999999);
    atomic_store(&after_block, 1);
    return NULL;
}
static void *in_testcancel(void *arg)
{
    atomic_store(&ready, 1);
    for (unsigned long i = 0;; i++) {
        pthread_testcancel();
        if (i % 128 == 0)
            sched_yield();
    }
    atomic_store(&after_block, 1);
    return NULL;
}
static pthread_t forever;
static void *sleeps_forever(void *arg)
{
    for (;;)
        sleep(100);
    return NULL;
}
static void *in_join(void *arg)
{
    atomic_store(&ready, 1);
    pthread_join(forever, NULL);
    atomic_store(&after_block, 1);
    return NULL;
}

static void cancel_blocked(const char *what, void *(*fn)(void *))
{
    atomic_store(&ready, 0);
    atomic_store(&after_block, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, NULL) == 0, "create");
    while (!atomic_load(&ready))
        nap_ms(1);
    nap_ms(20); /* let it block */
    long long t0 = now_ns();
    int rc = pthread_cancel(t);
    void *ret = NULL;
    int jrc = pthread_join(t, &ret);
    double secs = (now_ns() - t0) / 1e9;
    CHECK(rc == 0 && jrc == 0, "%s: cancel %d join %d", what, rc, jrc);
    CHECK(ret == PTHREAD_CANCELED, "%s: join did not return PTHREAD_CANCELED", what);
    CHECK(!atomic_load(&after_block), "%s: code after the cancellation point ran", what);
    CHECK(secs < 10, "%s: cancellation took %.1f s", what, secs);
    if (ret == PTHREAD_CANCELED && secs < 10 && !atomic_load(&after_block))
        printf("ok cancel while blocked in %s\n", what);
}

/* PTHREAD_CANCEL_DISABLE */
static atomic_int d_stage, d_slept_fully, d_after_enable, d_after_testcancel;
static void *disabled(void *arg)
{
    int old = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    if (old != PTHREAD_CANCEL_ENABLE)
        return (void *)(uintptr_t)1;
    atomic_store(&d_stage, 1);
    while (atomic_load(&d_stage) != 2) /* main cancels us meanwhile */
        nap_ms(1);
    long long t0 = now_ns();
    struct timespec ts = { 0, 100 * 1000000L };
    int rc = nanosleep(&ts, NULL); /* a cancellation point, but disabled */
    atomic_store(&d_slept_fully, rc == 0 && now_ns() - t0 >= 100 * 1000000LL);
    usleep(1000);
    sleep(0);
    pthread_testcancel();
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    if (old != PTHREAD_CANCEL_DISABLE)
        return (void *)(uintptr_t)2;
    atomic_store(&d_after_enable, 1); /* re-enabling is not itself a cancellation point (deferred type) */
    pthread_testcancel();
    atomic_store(&d_after_testcancel, 1);
    return (void *)(uintptr_t)3;
}

/* pending cancel acted upon at the next cancellation point */
static atomic_int p_stage, p_before;
static void *pending(void *arg)
{
    atomic_store(&p_stage, 1);
    volatile unsigned long spin = 0;
    while (atomic_load(&p_stage) != 2) { /* no cancellation point in this loop */
        spin++;
        if (spin % 1024 == 0)
            sched_yield();
    }
    atomic_store(&p_before, 1);
    struct timespec ts = { 0, 1000000L };
    nanosleep(&ts, NULL);
    return (void *)(uintptr_t)4;
}

static void *self_cancel(void *arg)
{
    pthread_cancel(pthread_self());
    atomic_store(&after_block, 1);
    pthread_testcancel();
    return (void *)(uintptr_t)5;
}

static atomic_int f_done;
static void *finishes(void *arg)
{
    atomic_store(&f_done, 1);
    return (void *)(uintptr_t)42;
}

int main(void)
{
    cancel_blocked("nanosleep", in_nanosleep);
    cancel_blocked("clock_nanosleep TIMER_ABSTIME", in_clock_nanosleep);
    cancel_blocked("sleep", in_sleep);
    cancel_blocked("usleep", in_usleep);
    cancel_blocked("a pthread_testcancel loop", in_testcancel);
    CHECK(pthread_create(&forever, NULL, sleeps_forever, NULL) == 0, "create");
    cancel_blocked("pthread_join", in_join);
    /* the cancelled joiner must leave its target joinable */
    CHECK(pthread_cancel(forever) == 0, "cancel target");
    void *ret = NULL;
    CHECK(pthread_join(forever, &ret) == 0 && ret == PTHREAD_CANCELED, "target of a cancelled joiner not joinable");
    printf("ok target of a cancelled joiner stays joinable\n");

    pthread_t t;
    pthread_create(&t, NULL, disabled, NULL);
    while (atomic_load(&d_stage) != 1)
        nap_ms(1);
    CHECK(pthread_cancel(t) == 0, "cancel disabled");
    atomic_store(&d_stage, 2);
    ret = NULL;
    pthread_join(t, &ret);
    CHECK(ret == PTHREAD_CANCELED, "disabled thread: join returned %s",
          ret == PTHREAD_CANCELED ? "CANCELED" : "a value");
    CHECK(d_slept_fully, "disabled thread's nanosleep was cut short");
    CHECK(d_after_enable && !d_after_testcancel, "re-enabled thread: after enable %d, after testcancel %d",
          d_after_enable, d_after_testcancel);
    printf("ok PTHREAD_CANCEL_DISABLE defers the cancel until re-enabled\n");

    pthread_create(&t, NULL, pending, NULL);
    while (atomic_load(&p_stage) != 1)
        nap_ms(1);
    CHECK(pthread_cancel(t) == 0, "cancel pending");
    atomic_store(&p_stage, 2);
    ret = NULL;
    pthread_join(t, &ret);
    CHECK(ret == PTHREAD_CANCELED && p_before, "pending cancel not acted upon at the next nanosleep");
    printf("ok pending cancel acts at the next cancellation point\n");

    atomic_store(&after_block, 0);
    pthread_create(&t, NULL, self_cancel, NULL);
    ret = NULL;
    pthread_join(t, &ret);
    CHECK(ret == PTHREAD_CANCELED && after_block, "self-cancel");
    printf("ok self-cancel acts at pthread_testcancel\n");

    pthread_create(&t, NULL, finishes, NULL);
    while (!atomic_load(&f_done))
        nap_ms(1);
    nap_ms(50); /* now it has surely terminated */
    int rc = pthread_cancel(t);
    ret = NULL;
    int jrc = pthread_join(t, &ret);
    CHECK(rc == 0, "pthread_cancel of a finished thread = %d (%s)", rc, strerror(rc));
    CHECK(jrc == 0 && ret == (void *)(uintptr_t)42, "join after late cancel: %d, value %s", jrc,
          ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : ret == (void *)(uintptr_t)42 ? "42" : "other");
    printf("ok pthread_cancel of a finished thread returns %d, join gets its value\n", rc);

    /* cancel many sleeping threads at once */
    enum { K = 200 };
    static pthread_t ts[K];
    atomic_store(&ready, 0);
    for (int i = 0; i < K; i++)
        pthread_create(&ts[i], NULL, in_nanosleep, NULL);
    nap_ms(50);
    int n = 0;
    long long t0 = now_ns();
    for (int i = 0; i < K; i++)
        pthread_cancel(ts[i]);
    for (int i = 0; i < K; i++) {
        ret = NULL;
        pthread_join(ts[i], &ret);
        n += ret == PTHREAD_CANCELED;
    }
    CHECK(n == K && (now_ns() - t0) < 10000000000LL, "only %d of %d sleepers cancelled (%.1f s)", n, K,
          (now_ns() - t0) / 1e9);
    printf("ok %d sleeping threads cancelled\n", K);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
