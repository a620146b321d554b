// 10,000 threads with default (8 MiB) stacks alive at once, joined in a chain:
// thread i joins thread i-1 and returns its value + 1; thread 0 naps in
// nanosleep until main raises a shared atomic flag.  Main checks that all were
// alive simultaneously and joins only the last one, which must return 10,000.
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
#include <unistd.h>

#include "check.h"

#define N 10000

static atomic_int started, exited, go, join_errors;
static pthread_t tids[N];

static void *first(void *arg)
{
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&go))
        nap_ms(20);
    atomic_fetch_add(&exited, 1);
    return (void *)1;
}

static void *link_(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    atomic_fetch_add(&started, 1);
    void *prev = NULL;
    int rc = pthread_join(tids[i - 1], &prev);
    if (rc != 0) {
        atomic_fetch_add(&join_errors, 1);
        prev = NULL;
    }
    atomic_fetch_add(&exited, 1);
    return (void *)((uintptr_t)prev + 1);
}

int main(void)
{
    int rc = pthread_create(&tids[0], NULL, first, NULL);
    if (rc != 0) {
        printf("FAIL: pthread_create #0 = %d\n", rc);
        return 1;
    }
    for (int i = 1; i < N; i++) {
        /* tids[i-1] is fully written before thread i exists */
        rc = pthread_create(&tids[i], NULL, link_, (void *)(uintptr_t)i);
        if (rc != 0) {
            printf("FAIL: pthread_create #%d = %d (%s)\n", i, rc, strerror(rc));
            _exit(1);
        }
    }
    for (int waited = 0; atomic_load(&started) < N; waited += 10) {
        if (waited > 100000) {
            printf("FAIL: only %d of %d threads started after 100 s\n", atomic_load(&started), N);
            _exit(1);
        }
        nap_ms(10);
    }
    int alive_at_once = atomic_load(&started) - atomic_load(&exited);
    atomic_store(&go, 1);
    void *ret = NULL;
    rc = pthread_join(tids[N - 1], &ret);
    int failures = 0;
    if (rc != 0) {
        printf("FAIL: pthread_join(last) = %d\n", rc);
        return 1;
    }
    if (alive_at_once == N)
        printf("ok %d threads alive at once\n", N);
    else {
        printf("FAIL: only %d threads alive at once\n", alive_at_once);
        failures++;
    }
    if ((uintptr_t)ret == N && atomic_load(&join_errors) == 0)
        printf("ok chain of %d joins returned %d\n", N - 1, (int)(uintptr_t)ret);
    else {
        printf("FAIL: chain returned %lu with %d join errors\n", (unsigned long)(uintptr_t)ret,
               atomic_load(&join_errors));
        failures++;
    }
    printf("exited %d\n", atomic_load(&exited));
    return failures ? 1 : 0;
}
