// Detached threads (PTHREAD_CREATE_DETACHED attr and pthread_detach) outlive
// main, which calls pthread_exit.  The process must exit with status 0 only
// after the last thread finishes (as if exit(0) were called then, so the
// atexit handler runs), and the output written by the last thread must appear.
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

#define N_ATTR 20
#define N_CALL 20
#define N (N_ATTR + N_CALL + 1) /* + one grandchild created after main is gone */

static atomic_int done;

static void say(const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(1, s, len);
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

static void at_exit_handler(void)
{
    /* runs when the last thread terminates: everything must be done by then */
    char buf[128];
    snprintf(buf, sizeof buf, "atexit: %d of %d threads done\n", atomic_load(&done), N);
    say(buf);
}

static void *worker(void *arg);

static void *grandchild(void *arg)
{
    /* created by a detached thread after main exited; finishes last */
    struct timespec ts = { 0, 700 * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
    if (atomic_fetch_add(&done, 1) + 1 == N)
        say("last detached thread finished (the grandchild)\n");
    return NULL;
}

static void *worker(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    if (i == 0) {
        struct timespec d = { 0, 50 * 1000000L };
        nanosleep(&d, NULL);
        pthread_t g;
        int rc = pthread_create(&g, NULL, grandchild, NULL);
        if (rc != 0 || pthread_detach(g) != 0) {
            say("FAIL: creating the detached grandchild\n");
            atomic_fetch_add(&done, 1);
        }
    }
    /* 100..490 ms: main has long called pthread_exit by then */
    struct timespec ts = { 0, (long)(100 + (i % 40) * 10) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
    int n = atomic_fetch_add(&done, 1) + 1;
    if (n == N)
        say("FAIL: the grandchild should have finished last\n");
    return NULL;
}

int main(void)
{
    atexit(at_exit_handler);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int ds = -1;
    pthread_attr_getdetachstate(&attr, &ds);
    if (ds != PTHREAD_CREATE_DETACHED)
        printf("FAIL: getdetachstate round trip\n");
    for (int i = 0; i < N_ATTR; i++) {
        pthread_t t;
        int rc = pthread_create(&t, &attr, worker, (void *)(uintptr_t)i);
        if (rc != 0) {
            printf("FAIL: pthread_create(detached) = %d\n", rc);
            return 1;
        }
    }
    pthread_attr_destroy(&attr);
    for (int i = N_ATTR; i < N_ATTR + N_CALL; i++) {
        pthread_t t;
        int rc = pthread_create(&t, NULL, worker, (void *)(uintptr_t)i);
        if (rc != 0) {
            printf("FAIL: pthread_create = %d\n", rc);
            return 1;
        }
        rc = pthread_detach(t);
        if (rc != 0) {
            printf("FAIL: pthread_detach = %d\n", rc);
            return 1;
        }
    }
    printf("main: created %d detached threads, calling pthread_exit\n", N_ATTR + N_CALL);
    fflush(stdout);
    pthread_exit(NULL);
}
