// Return values through pthread_join: plain return, pthread_exit from the start
// routine and from deep recursion, NULL, small integers, (void*)-2, pointers to
// static and heap data, join with a NULL retval pointer; PTHREAD_CANCELED must
// never appear for threads that were not cancelled (and does for one that
// explicitly calls pthread_exit(PTHREAD_CANCELED)).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static const char static_msg[] = "static data";
struct result {
    int a;
    char text[32];
};

static void *ret_null(void *arg) { return NULL; }
static void *ret_arg(void *arg) { return arg; }
static void *ret_minus2(void *arg) { return (void *)(intptr_t)-2; }
static void *ret_static(void *arg) { return (void *)static_msg; }
static void *ret_heap(void *arg)
{
    struct result *r = malloc(sizeof *r);
    r->a = 4242;
    strcpy(r->text, "from the heap");
    return r;
}
static void *exit_direct(void *arg)
{
    pthread_exit((void *)(uintptr_t)77);
    return (void *)1; /* not reached */
}
static __attribute__((noinline)) int deep(int n, uintptr_t v)
{
    volatile char pad[256];
    pad[0] = (char)n;
    if (n == 0) {
        if (v != 0)
            pthread_exit((void *)v);
        return 0;
    }
    return deep(n - 1, v) + pad[0];
}
static void *exit_deep(void *arg)
{
    deep(500, (uintptr_t)arg);
    return NULL;
}
static void *exit_canceled(void *arg) { pthread_exit(PTHREAD_CANCELED); }
static void *ret_after_sleep(void *arg)
{
    struct timespec ts = { 0, 1000000L * ((uintptr_t)arg % 7) };
    nanosleep(&ts, NULL);
    if ((uintptr_t)arg % 2)
        pthread_exit((void *)((uintptr_t)arg * 7));
    return (void *)((uintptr_t)arg * 7);
}

static void *join1(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    void *ret = (void *)(uintptr_t)0xdeadbeef;
    int rc = pthread_create(&t, NULL, fn, arg);
    CHECK(rc == 0, "pthread_create = %d", rc);
    rc = pthread_join(t, &ret);
    CHECK(rc == 0, "pthread_join = %d", rc);
    return ret;
}

int main(void)
{
    void *r;
    r = join1(ret_null, NULL);
    CHECK(r == NULL, "NULL return");
    r = join1(ret_arg, (void *)(uintptr_t)12345);
    CHECK(r == (void *)(uintptr_t)12345, "integer return");
    r = join1(ret_minus2, NULL);
    CHECK(r == (void *)(intptr_t)-2, "(void*)-2 return");
    r = join1(ret_static, NULL);
    CHECK(r == static_msg && strcmp(r, "static data") == 0, "static pointer return");
    r = join1(ret_heap, NULL);
    CHECK(r && ((struct result *)r)->a == 4242 && !strcmp(((struct result *)r)->text, "from the heap"),
          "heap pointer return");
    free(r);
    r = join1(exit_direct, NULL);
    CHECK(r == (void *)(uintptr_t)77, "pthread_exit value");
    r = join1(exit_deep, (void *)(uintptr_t)31337);
    CHECK(r == (void *)(uintptr_t)31337, "pthread_exit from depth 500");
    r = join1(exit_canceled, NULL);
    CHECK(r == PTHREAD_CANCELED, "explicit pthread_exit(PTHREAD_CANCELED)");
    printf("ok single-thread return values\n");

    /* join with a NULL retval pointer */
    pthread_t t;
    pthread_create(&t, NULL, ret_arg, (void *)(uintptr_t)5);
    CHECK(pthread_join(t, NULL) == 0, "join with NULL retval");
    printf("ok join with NULL retval pointer\n");

    /* 1000 threads, mixed return/pthread_exit, joined in reverse order */
    enum { N = 1000 };
    static pthread_t ts[N];
    for (uintptr_t i = 0; i < N; i++) {
        int rc = pthread_create(&ts[i], NULL, ret_after_sleep, (void *)i);
        CHECK(rc == 0, "pthread_create #%lu = %d", (unsigned long)i, rc);
        if (rc)
            return 1;
    }
    int canceled = 0, wrong = 0;
    for (int i = N - 1; i >= 0; i--) {
        void *v = NULL;
        CHECK(pthread_join(ts[i], &v) == 0, "join #%d", i);
        if (v == PTHREAD_CANCELED)
            canceled++;
        else if (v != (void *)((uintptr_t)i * 7))
            wrong++;
    }
    CHECK(canceled == 0 && wrong == 0, "%d PTHREAD_CANCELED, %d wrong values among %d threads", canceled, wrong, N);
    printf("ok %d threads returned their values, no PTHREAD_CANCELED\n", N);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
