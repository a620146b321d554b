// pthread_key_create destructors: run at thread exit (return and pthread_exit)
// with the thread's value and with the slot already NULL; a destructor that
// sets its key again is called again, for PTHREAD_DESTRUCTOR_ITERATIONS rounds;
// NULL values are skipped; pthread_key_delete prevents the destructor; values
// are per thread; 200 keys per thread in 8 threads.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

static void run1(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    CHECK(rc == 0, "pthread_create = %d", rc);
    if (rc == 0) {
        rc = pthread_join(t, NULL);
        CHECK(rc == 0, "pthread_join = %d", rc);
    }
}

/* --- 1. basic: destructor called once with the value, slot already NULL --- */
static pthread_key_t k_basic;
static int tag_a, tag_b;
static atomic_int basic_calls, basic_bad;
static void *basic_seen;
static void d_basic(void *v)
{
    atomic_fetch_add(&basic_calls, 1);
    basic_seen = v;
    if (pthread_getspecific(k_basic) != NULL)
        atomic_fetch_add(&basic_bad, 1);
}
static void *t_basic_return(void *arg)
{
    pthread_setspecific(k_basic, &tag_a);
    return NULL;
}
static void *t_basic_exit(void *arg)
{
    pthread_setspecific(k_basic, &tag_b);
    pthread_exit(NULL);
}

/* --- 2. destructor re-setting its key --- */
static pthread_key_t k_again;
static atomic_int again_calls;
static int again_vals[16];
static void d_again(void *v)
{
    int n = atomic_fetch_add(&again_calls, 1);
    if (n < 16)
        again_vals[n] = (int)(uintptr_t)v;
    pthread_setspecific(k_again, (void *)((uintptr_t)v + 1));
}
static void *t_again(void *arg)
{
    pthread_setspecific(k_again, (void *)(uintptr_t)100);
    return NULL;
}

/* --- 2b. destructor that sets ANOTHER key which was already processed --- */
static pthread_key_t k_x, k_y;
static atomic_int x_calls, y_calls;
static void d_y(void *v) { atomic_fetch_add(&y_calls, 1); }
static void d_x(void *v)
{
    atomic_fetch_add(&x_calls, 1);
    if (atomic_load(&x_calls) == 1)
        pthread_setspecific(k_y, (void *)(uintptr_t)7); /* must be destroyed too */
}
static void *t_xy(void *arg)
{
    pthread_setspecific(k_x, (void *)(uintptr_t)1);
    return NULL;
}

/* --- 3. NULL value: no call; value set then reset to NULL: no call --- */
static pthread_key_t k_null;
static atomic_int null_calls;
static void d_null(void *v) { atomic_fetch_add(&null_calls, 1); }
static void *t_nothing(void *arg) { return arg; }
static void *t_null(void *arg)
{
    pthread_setspecific(k_null, &tag_a);
    pthread_setspecific(k_null, NULL);
    return NULL;
}

/* --- 4. pthread_key_delete prevents the destructor --- */
static pthread_key_t k_del;
static atomic_int del_calls, del_stage;
static void d_del(void *v) { atomic_fetch_add(&del_calls, 1); }
static void *t_del(void *arg)
{
    pthread_setspecific(k_del, &tag_a);
    atomic_store(&del_stage, 1);
    while (atomic_load(&del_stage) != 2)
        nap_ms(1);
    return NULL;
}

/* --- 5. values are per thread --- */
static pthread_key_t k_own;
static int main_val, thr_val;
static void *t_own(void *arg)
{
    int ok = pthread_getspecific(k_own) == NULL;
    pthread_setspecific(k_own, &thr_val);
    nap_ms(5);
    sched_yield();
    ok = ok && pthread_getspecific(k_own) == &thr_val;
    return (void *)(uintptr_t)ok;
}

/* --- 6. many keys per thread --- */
#define NKEYS 200
#define NTHR 8
static pthread_key_t many[NKEYS];
static atomic_int many_calls;
static atomic_ullong many_sum;
static void d_many(void *v)
{
    atomic_fetch_add(&many_calls, 1);
    atomic_fetch_add(&many_sum, (unsigned long long)(uintptr_t)v);
}
static void *t_many(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    for (int k = 0; k < NKEYS; k++)
        pthread_setspecific(many[k], (void *)(t * 1000 + k + 1));
    nap_ms(2);
    int ok = 1;
    for (int k = 0; k < NKEYS; k++)
        ok &= pthread_getspecific(many[k]) == (void *)(t * 1000 + k + 1);
    if (t % 2)
        pthread_exit((void *)(uintptr_t)ok);
    return (void *)(uintptr_t)ok;
}

int main(void)
{
    /* 1 */
    CHECK(pthread_key_create(&k_basic, d_basic) == 0, "key_create");
    run1(t_basic_return, NULL);
    CHECK(basic_calls == 1 && basic_seen == &tag_a, "destructor after return: %d calls", basic_calls);
    run1(t_basic_exit, NULL);
    CHECK(basic_calls == 2 && basic_seen == &tag_b, "destructor after pthread_exit: %d calls", basic_calls);
    CHECK(basic_bad == 0, "key value not NULL while its destructor runs");
    printf("ok destructor runs at return and pthread_exit with the value\n");

    /* 2 */
    CHECK(pthread_key_create(&k_again, d_again) == 0, "key_create");
    run1(t_again, NULL);
    int n = atomic_load(&again_calls);
    CHECK(n == PTHREAD_DESTRUCTOR_ITERATIONS, "re-setting destructor called %d times, expected %d", n,
          PTHREAD_DESTRUCTOR_ITERATIONS);
    for (int i = 0; i < n && i < 16; i++)
        CHECK(again_vals[i] == 100 + i, "round %d got value %d", i, again_vals[i]);
    printf("ok re-setting destructor called %d times (PTHREAD_DESTRUCTOR_ITERATIONS %d)\n", n,
           PTHREAD_DESTRUCTOR_ITERATIONS);
    CHECK(pthread_key_create(&k_y, d_y) == 0, "key_create");
    CHECK(pthread_key_create(&k_x, d_x) == 0, "key_create");
    run1(t_xy, NULL);
    CHECK(x_calls == 1 && y_calls == 1, "cross-key destructor: x %d y %d", x_calls, y_calls);
    printf("ok a value set by another key's destructor is destroyed too\n");

    /* 3 */
    CHECK(pthread_key_create(&k_null, d_null) == 0, "key_create");
    run1(t_null, NULL);
    pthread_t t;
    pthread_create(&t, NULL, t_nothing, NULL); /* never sets it */
    pthread_join(t, NULL);
    CHECK(null_calls == 0, "destructor called %d times for NULL values", null_calls);
    printf("ok no destructor call for NULL values\n");

    /* 4 */
    CHECK(pthread_key_create(&k_del, d_del) == 0, "key_create");
    CHECK(pthread_create(&t, NULL, t_del, NULL) == 0, "create");
    while (atomic_load(&del_stage) != 1)
        nap_ms(1);
    CHECK(pthread_key_delete(k_del) == 0, "key_delete");
    atomic_store(&del_stage, 2);
    pthread_join(t, NULL);
    CHECK(del_calls == 0, "destructor of a deleted key called %d times", del_calls);
    printf("ok pthread_key_delete prevents the destructor\n");

    /* 5 */
    CHECK(pthread_key_create(&k_own, NULL) == 0, "key_create");
    CHECK(pthread_getspecific(k_own) == NULL, "fresh key not NULL in main");
    pthread_setspecific(k_own, &main_val);
    void *ok = NULL;
    pthread_create(&t, NULL, t_own, NULL);
    pthread_join(t, &ok);
    CHECK(ok == (void *)1, "thread saw main's value or lost its own");
    CHECK(pthread_getspecific(k_own) == &main_val, "main's value changed by another thread");
    printf("ok values are per thread (creating thread vs others)\n");

    /* 6 */
    for (int k = 0; k < NKEYS; k++) {
        int rc = pthread_key_create(&many[k], d_many);
        CHECK(rc == 0, "key_create #%d = %d", k, rc);
    }
    pthread_t tt[NTHR];
    for (uintptr_t i = 0; i < NTHR; i++)
        pthread_create(&tt[i], NULL, t_many, (void *)i);
    int all_ok = 1;
    for (int i = 0; i < NTHR; i++) {
        void *r = NULL;
        pthread_join(tt[i], &r);
        all_ok &= r == (void *)1;
    }
    unsigned long long expect = 0;
    for (unsigned long long i = 0; i < NTHR; i++)
        for (int k = 0; k < NKEYS; k++)
            expect += i * 1000 + k + 1;
    CHECK(all_ok, "a thread lost one of its %d values", NKEYS);
    CHECK(many_calls == NKEYS * NTHR && many_sum == expect, "many keys: %d calls, sum %llu (expected %d, %llu)",
          many_calls, (unsigned long long)many_sum, NKEYS * NTHR, expect);
    printf("ok %d keys x %d threads: %d destructor calls\n", NKEYS, NTHR, atomic_load(&many_calls));
    for (int k = 0; k < NKEYS; k++)
        CHECK(pthread_key_delete(many[k]) == 0, "key_delete #%d", k);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
