// 10,000 threads with 64 KiB stacks (pthread_attr_setstacksize) alive at once:
// each one announces itself, then naps in nanosleep until main raises a shared
// atomic flag.  Main verifies all 10,000 were alive simultaneously (none had
// exited before the flag), joins them all and checks the count/return values.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define N 10000
#define STACK (64 * 1024)

static atomic_int started, exited, go, bad_stack;
static pthread_t tids[N];

static void *worker(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    volatile char scratch[16 * 1024]; /* use a quarter of the small stack */
    for (size_t k = 0; k < sizeof scratch; k += 512)
        scratch[k] = (char)(i + k);
    if (i == 0 || i == N - 1) {
        pthread_attr_t a;
        size_t sz = 0;
        void *addr = NULL;
        if (pthread_getattr_np(pthread_self(), &a) != 0 || pthread_attr_getstack(&a, &addr, &sz) != 0 ||
            sz < STACK || (char *)&scratch[0] < (char *)addr || (char *)&scratch[0] >= (char *)addr + sz)
            atomic_fetch_add(&bad_stack, 1);
        pthread_attr_destroy(&a);
    }
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&go))
        nap_ms(250); /* long naps: 10,000 pollers must not saturate 2 cores */
    int sum = 0;
    for (size_t k = 0; k < sizeof scratch; k += 512)
        sum += scratch[k] == (char)(i + k);
    atomic_fetch_add(&exited, 1);
    return (void *)(uintptr_t)(sum == (int)(sizeof scratch / 512) ? i + 1 : 0);
}

int main(void)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int rc = pthread_attr_setstacksize(&attr, STACK);
    if (rc != 0) {
        printf("FAIL: pthread_attr_setstacksize(64 KiB) = %d\n", rc);
        return 1;
    }
    for (int i = 0; i < N; i++) {
        rc = pthread_create(&tids[i], &attr, worker, (void *)(uintptr_t)i);
        if (rc != 0) {
            printf("FAIL: pthread_create #%d = %d (%s)\n", i, rc, strerror(rc));
            atomic_store(&go, 1);
            return 1;
        }
    }
    pthread_attr_destroy(&attr);
    /* wait (bounded) until every thread has started */
    for (int waited = 0; atomic_load(&started) < N; waited += 10) {
        if (waited > 100000) {
            printf("FAIL: only %d of %d threads started after 100 s\n", atomic_load(&started), N);
            atomic_store(&go, 1);
            return 1;
        }
        nap_ms(10);
    }
    int alive_at_once = atomic_load(&started) - atomic_load(&exited);
    atomic_store(&go, 1);
    unsigned long long sum = 0;
    int joined = 0, failures = 0;
    for (int i = 0; i < N; i++) {
        void *ret = NULL;
        rc = pthread_join(tids[i], &ret);
        if (rc != 0) {
            printf("FAIL: pthread_join #%d = %d\n", i, rc);
            return 1;
        }
        joined++;
        if ((uintptr_t)ret != (uintptr_t)i + 1 && failures++ < 5)
            printf("FAIL: thread %d returned a wrong value (stack corrupted?)\n", i);
        sum += (uintptr_t)ret;
    }
    if (alive_at_once == N)
        printf("ok %d threads alive at once\n", N);
    else {
        printf("FAIL: only %d threads alive at once\n", alive_at_once);
        failures++;
    }
    if (atomic_load(&bad_stack) != 0) {
        printf("FAIL: pthread_getattr_np does not describe a >= 64 KiB stack holding the thread's locals\n");
        failures++;
    } else
        printf("ok getattr_np stack size >= 64 KiB and contains locals\n");
    printf("joined %d, exited %d\n", joined, atomic_load(&exited));
    if (sum == (unsigned long long)N * (N + 1) / 2)
        printf("ok return value sum\n");
    else {
        printf("FAIL: return value sum %llu\n", sum);
        failures++;
    }
    return failures ? 1 : 0;
}
