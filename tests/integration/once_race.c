// pthread_once: 64 threads race on one once-control whose init routine sleeps
// (so the others must wait inside pthread_once); init runs exactly once and has
// completed when any pthread_once returns.  Also: an init routine that itself
// calls pthread_once on a different control (nested), 16 different controls
// called in thread-specific orders, and an init routine cancelled while
// sleeping, after which the next pthread_once runs init again (POSIX).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

#define NTHR 64
#define NCTL 16

static pthread_once_t once_a = PTHREAD_ONCE_INIT, once_b = PTHREAD_ONCE_INIT;
static atomic_int a_runs, b_runs, a_done, b_done, not_ready, gate;
static pthread_once_t ctl[NCTL];
static atomic_int ctl_runs[NCTL], ctl_done[NCTL];

static void init_b(void)
{
    atomic_fetch_add(&b_runs, 1);
    nap_ms(10);
    atomic_store(&b_done, 1);
}

static void init_a(void)
{
    atomic_fetch_add(&a_runs, 1);
    nap_ms(50);
    pthread_once(&once_b, init_b); /* nested, different control */
    if (!atomic_load(&b_done))
        atomic_fetch_add(&not_ready, 1);
    atomic_store(&a_done, 1);
}

#define CTL_INIT(i)                                                                                \
    static void init_ctl##i(void)                                                                  \
    {                                                                                              \
        atomic_fetch_add(&ctl_runs[i], 1);                                                         \
        if ((i) % 3 == 0)                                                                          \
            nap_ms(2);                                                                             \
        else                                                                                       \
            sched_yield();                                                                         \
        atomic_store(&ctl_done[i], 1);                                                             \
    }
CTL_INIT(0) CTL_INIT(1) CTL_INIT(2) CTL_INIT(3) CTL_INIT(4) CTL_INIT(5) CTL_INIT(6) CTL_INIT(7)
CTL_INIT(8) CTL_INIT(9) CTL_INIT(10) CTL_INIT(11) CTL_INIT(12) CTL_INIT(13) CTL_INIT(14) CTL_INIT(15)
static void (*ctl_fn[NCTL])(void) = { init_ctl0,  init_ctl1,  init_ctl2,  init_ctl3, init_ctl4,  init_ctl5,
                                      init_ctl6,  init_ctl7,  init_ctl8,  init_ctl9, init_ctl10, init_ctl11,
                                      init_ctl12, init_ctl13, init_ctl14, init_ctl15 };

static void *racer(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    while (!atomic_load(&gate))
        nap_ms(1);
    int rc = pthread_once(&once_a, init_a);
    if (rc != 0 || !atomic_load(&a_done) || !atomic_load(&b_done))
        atomic_fetch_add(&not_ready, 1);
    for (int k = 0; k < NCTL; k++) {
        int c = (int)((k * 5 + id) % NCTL); /* 5 is coprime with 16: a permutation */
        rc = pthread_once(&ctl[c], ctl_fn[c]);
        if (rc != 0 || !atomic_load(&ctl_done[c]))
            atomic_fetch_add(&not_ready, 1);
    }
    return NULL;
}

/* cancellation of the init routine resets the control */
static pthread_once_t once_c = PTHREAD_ONCE_INIT;
static atomic_int c_runs, c_started, c_completed;
static void init_c(void)
{
    int n = atomic_fetch_add(&c_runs, 1);
    atomic_store(&c_started, 1);
    if (n == 0) {
        for (;;)
            nap_ms(10); /* nanosleep is a cancellation point */
    }
    atomic_store(&c_completed, 1);
}
static void *t_c(void *arg)
{
    pthread_once(&once_c, init_c);
    return (void *)1;
}

int main(void)
{
    for (int i = 0; i < NCTL; i++)
        ctl[i] = (pthread_once_t)PTHREAD_ONCE_INIT;
    pthread_t t[NTHR];
    for (uintptr_t i = 0; i < NTHR; i++)
        if (pthread_create(&t[i], NULL, racer, (void *)i) != 0) {
            printf("FAIL: pthread_create\n");
            return 1;
        }
    nap_ms(20);
    atomic_store(&gate, 1);
    for (int i = 0; i < NTHR; i++)
        pthread_join(t[i], NULL);
    int failures = 0;
    if (a_runs == 1 && b_runs == 1)
        printf("ok init ran exactly once with %d racing threads (nested once too)\n", NTHR);
    else {
        printf("FAIL: init_a ran %d times, init_b %d times\n", a_runs, b_runs);
        failures++;
    }
    int bad = 0;
    for (int i = 0; i < NCTL; i++)
        bad += ctl_runs[i] != 1;
    if (bad == 0)
        printf("ok %d different controls each ran once\n", NCTL);
    else {
        printf("FAIL: %d of %d controls did not run exactly once\n", bad, NCTL);
        failures++;
    }
    if (not_ready == 0)
        printf("ok pthread_once never returned before init completed\n");
    else {
        printf("FAIL: pthread_once returned %d times before init completed\n", not_ready);
        failures++;
    }
    /* main calling again after completion: immediate, no new run */
    pthread_once(&once_a, init_a);
    pthread_once(&ctl[3], ctl_fn[3]);
    if (a_runs != 1 || ctl_runs[3] != 1) {
        printf("FAIL: init ran again on a completed control\n");
        failures++;
    }

    pthread_t c1, c2;
    pthread_create(&c1, NULL, t_c, NULL);
    while (!atomic_load(&c_started))
        nap_ms(1);
    nap_ms(20);
    pthread_cancel(c1);
    void *r1 = NULL, *r2 = NULL;
    pthread_join(c1, &r1);
    pthread_create(&c2, NULL, t_c, NULL);
    pthread_join(c2, &r2);
    if (r1 == PTHREAD_CANCELED && r2 == (void *)1 && c_runs == 2 && c_completed == 1)
        printf("ok cancelled init routine: the next pthread_once runs init again\n");
    else {
        printf("FAIL: cancelled init: first %s, second returned %s, init ran %d times, completed %d\n",
               r1 == PTHREAD_CANCELED ? "cancelled" : "NOT cancelled", r2 == (void *)1 ? "normally" : "oddly",
               c_runs, c_completed);
        failures++;
    }
    return failures ? 1 : 0;
}
