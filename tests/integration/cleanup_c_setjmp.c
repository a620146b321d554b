// blitz-cflags: -fno-exceptions
// Cleanup handlers in plain C compiled WITHOUT -fexceptions (glibc's
// setjmp-based pthread_cleanup_push/__pthread_register_cancel path): nested
// push/pop with execute 0/1, handlers run LIFO on pthread_exit (also from a
// nested function) and on deferred cancellation in nanosleep and in
// pthread_testcancel, and never on a normal return after all pops.
// cleanup_c_unwind.c compiles this same file with -fexceptions.
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

#ifdef EXPECT_EXCEPTIONS
#ifndef __EXCEPTIONS
#error "cleanup_c_unwind.c must be compiled with -fexceptions"
#endif
#define VARIANT "cleanup attribute / unwinder path (-fexceptions)"
#else
#ifdef __EXCEPTIONS
#error "cleanup_c_setjmp.c must be compiled without -fexceptions"
#endif
#define VARIANT "setjmp path (no -fexceptions)"
#endif

struct rec {
    char buf[128];
    atomic_int len;
    atomic_int ready;
};

static void handler(void *arg);
struct hctx {
    struct rec *r;
    int id;
};

static void handler(void *arg)
{
    struct hctx *h = arg;
    char tmp[16];
    int n = snprintf(tmp, sizeof tmp, "%d ", h->id);
    int at = atomic_fetch_add(&h->r->len, n);
    if (at + n < (int)sizeof h->r->buf)
        memcpy(h->r->buf + at, tmp, (size_t)n);
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A: nested push/pop with execute 0/1, then pthread_exit */
static void *t_exit(void *arg)
{
    struct rec *r = arg;
    struct hctx h1 = { r, 1 }, h2 = { r, 2 }, h3 = { r, 3 }, h4 = { r, 4 };
    pthread_cleanup_push(handler, &h1);
    pthread_cleanup_push(handler, &h2);
    pthread_cleanup_push(handler, &h3);
    pthread_cleanup_pop(0); /* 3 not run */
    pthread_cleanup_pop(1); /* 2 runs now */
    pthread_cleanup_push(handler, &h4);
    nap_ms(1);
    pthread_exit((void *)(uintptr_t)7); /* runs 4 then 1 */
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

/* B: pthread_exit from a nested function runs handlers of all callers' frames */
static __attribute__((noinline)) void inner(struct rec *r, int depth)
{
    struct hctx h = { r, 10 + depth };
    pthread_cleanup_push(handler, &h);
    if (depth < 3)
        inner(r, depth + 1);
    else if (depth == 3)
        pthread_exit((void *)(uintptr_t)8);
    pthread_cleanup_pop(0);
}
static void *t_exit_nested(void *arg)
{
    struct rec *r = arg;
    struct hctx h = { r, 9 };
    pthread_cleanup_push(handler, &h);
    inner(r, 0);
    pthread_cleanup_pop(0);
    return NULL;
}

/* C: deferred cancellation while blocked in nanosleep */
static void *t_cancel_sleep(void *arg)
{
    struct rec *r = arg;
    struct hctx h1 = { r, 21 }, h2 = { r, 22 }, h3 = { r, 23 };
    pthread_cleanup_push(handler, &h1);
    pthread_cleanup_push(handler, &h2);
    pthread_cleanup_push(handler, &h3);
    pthread_cleanup_pop(0);
    atomic_store(&r->ready, 1);
    for (;;)
        nap_ms(1000);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

/* D: cancellation acted upon in pthread_testcancel */
static void *t_cancel_test(void *arg)
{
    struct rec *r = arg;
    struct hctx h1 = { r, 31 }, h2 = { r, 32 };
    pthread_cleanup_push(handler, &h1);
    pthread_cleanup_push(handler, &h2);
    atomic_store(&r->ready, 1);
    for (unsigned long i = 0;; i++) {
        pthread_testcancel();
        if (i % 64 == 0)
            sched_yield();
    }
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

/* E: all popped, then a normal return: only the pop(1) handler ran */
static void *t_return(void *arg)
{
    struct rec *r = arg;
    struct hctx h1 = { r, 41 }, h2 = { r, 42 };
    pthread_cleanup_push(handler, &h1);
    pthread_cleanup_push(handler, &h2);
    nap_ms(1);
    pthread_cleanup_pop(1);
    pthread_cleanup_pop(0);
    return (void *)(uintptr_t)9;
}

/* F: a handler that itself pushes/pops and sleeps while running on exit */
static void sleepy_handler(void *arg)
{
    struct hctx *h = arg;
    struct hctx inner_h = { h->r, 52 };
    nap_ms(2);
    pthread_cleanup_push(handler, &inner_h);
    pthread_cleanup_pop(1);
    handler(h);
}
static void *t_sleepy(void *arg)
{
    struct rec *r = arg;
    struct hctx h1 = { r, 51 }, h2 = { r, 53 };
    pthread_cleanup_push(handler, &h1);
    pthread_cleanup_push(sleepy_handler, &h2);
    pthread_exit((void *)(uintptr_t)10);
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static int failures;

static void run(const char *name, void *(*fn)(void *), int cancel, void *want_ret, const char *want_log)
{
    struct rec r;
    memset(&r, 0, sizeof r);
    pthread_t t;
    if (pthread_create(&t, NULL, fn, &r) != 0) {
        printf("FAIL: %s: pthread_create\n", name);
        failures++;
        return;
    }
    if (cancel) {
        while (!atomic_load(&r.ready))
            nap_ms(1);
        nap_ms(5);
        pthread_cancel(t);
    }
    void *ret = NULL;
    pthread_join(t, &ret);
    int n = atomic_load(&r.len);
    r.buf[n < (int)sizeof r.buf ? n : (int)sizeof r.buf - 1] = 0;
    if (ret == want_ret && strcmp(r.buf, want_log) == 0)
        printf("ok %s: handlers [%s]\n", name, r.buf);
    else {
        printf("FAIL: %s: handlers [%s] (expected [%s]), %s\n", name, r.buf, want_log,
               ret == want_ret ? "right value" : ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "wrong value");
        failures++;
    }
}

int main(void)
{
    printf("variant: %s\n", VARIANT);
    run("pthread_exit after nested push/pop", t_exit, 0, (void *)(uintptr_t)7, "2 4 1 ");
    run("pthread_exit from a nested function", t_exit_nested, 0, (void *)(uintptr_t)8, "13 12 11 10 9 ");
    run("cancel in nanosleep", t_cancel_sleep, 1, PTHREAD_CANCELED, "22 21 ");
    run("cancel in pthread_testcancel", t_cancel_test, 1, PTHREAD_CANCELED, "32 31 ");
    run("normal return after pops", t_return, 0, (void *)(uintptr_t)9, "42 ");
    run("handler that sleeps and pushes", t_sleepy, 0, (void *)(uintptr_t)10, "52 53 51 ");
    /* many concurrent threads cancelled while in nanosleep */
    enum { K = 50 };
    struct rec rs[K];
    pthread_t ts[K];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < K; i++)
        pthread_create(&ts[i], NULL, t_cancel_sleep, &rs[i]);
    for (int i = 0; i < K; i++)
        while (!atomic_load(&rs[i].ready))
            nap_ms(1);
    for (int i = 0; i < K; i++)
        pthread_cancel(ts[i]);
    int good = 0;
    for (int i = 0; i < K; i++) {
        void *ret = NULL;
        pthread_join(ts[i], &ret);
        rs[i].buf[sizeof rs[i].buf - 1] = 0;
        good += ret == PTHREAD_CANCELED && atomic_load(&rs[i].len) == 6 && memcmp(rs[i].buf, "22 21 ", 6) == 0;
    }
    if (good == K)
        printf("ok %d threads cancelled in nanosleep ran their handlers\n", K);
    else {
        printf("FAIL: only %d of %d cancelled threads ran their handlers correctly\n", good, K);
        failures++;
    }
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
