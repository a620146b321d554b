// blitz-timeout: 60
// Condition variables as NPTL (glibc 2.36): condattr clocks (MONOTONIC accepted
// and honoured, MONOTONIC_RAW/CPU clocks EINVAL); pthread_cond_wait woken by
// signal (sent holding the mutex or after unlocking it); broadcast wakes every
// one of 16 waiters in wait/timedwait/clockwait; signal wakes at least one
// (token hand-out); a signal with nobody waiting is not remembered; timedwait
// (CLOCK_REALTIME by default, the condattr clock when set) and clockwait
// (MONOTONIC, REALTIME) answer ETIMEDOUT at or after their deadline, at once
// for an expired one, EINVAL for a bad tv_nsec or clock, and 0 when signalled
// in time; a recursive mutex locked once works.  On every return path the
// caller holds the mutex again (checked with an errorcheck mutex: relock ->
// EDEADLK).  Cancellation of a thread waiting in cond_wait/timedwait/clockwait
// re-acquires the mutex before the cleanup handlers run (the canceller holds
// the mutex for a while first: the handler must wait for it), the handler
// unlocks it and then another thread can lock it.  Last, a race of short
// timeouts against signals and broadcasts (8 threads x 150 waits).  Every
// predicate is re-checked in a loop (spurious wake-ups are allowed).  Blocking
// calls that cancellation must end are timed first (5 s), and the untimed
// form is tried only if the timed ones worked, so the program always ends.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

static pthread_mutex_t em = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP; /* lock by owner: EDEADLK */
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

/* the caller holds em */
#define HELD() (pthread_mutex_lock(&em) == EDEADLK)

static void wait_flag(int *flag)
{
    for (int i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        nap_ms(1);
}

/* polls (nap 1 ms, at most 10 s) until *count >= n, reading it under em */
static void wait_count(int *count, int n)
{
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&em);
        int c = *count;
        pthread_mutex_unlock(&em);
        if (c >= n)
            return;
        nap_ms(1);
    }
}

/* --- attributes ---------------------------------------------------------------------- */

static void attributes(void)
{
    int before = failures;
    pthread_condattr_t a;
    clockid_t c = -1;
    int ps = -1;
    EXPECT_ERR(pthread_condattr_init(&a), 0);
    EXPECT_ERR(pthread_condattr_getclock(&a, &c), 0);
    EXPECT(c, CLOCK_REALTIME);
    EXPECT_ERR(pthread_condattr_getpshared(&a, &ps), 0);
    EXPECT(ps, PTHREAD_PROCESS_PRIVATE);
    EXPECT_ERR(pthread_condattr_setclock(&a, CLOCK_MONOTONIC_RAW), EINVAL);
    EXPECT_ERR(pthread_condattr_setclock(&a, CLOCK_PROCESS_CPUTIME_ID), EINVAL);
    EXPECT_ERR(pthread_condattr_setclock(&a, CLOCK_THREAD_CPUTIME_ID), EINVAL);
    EXPECT_ERR(pthread_condattr_setclock(&a, (clockid_t)12345), EINVAL);
    EXPECT_ERR(pthread_condattr_setclock(&a, CLOCK_MONOTONIC), 0);
    EXPECT_ERR(pthread_condattr_getclock(&a, &c), 0);
    EXPECT(c, CLOCK_MONOTONIC);
    EXPECT_ERR(pthread_condattr_setclock(&a, CLOCK_REALTIME), 0);
    EXPECT_ERR(pthread_condattr_destroy(&a), 0);
    if (failures == before)
        printf("ok condattr clock: REALTIME by default, MONOTONIC accepted, other clocks EINVAL\n");
}

/* --- signal ---------------------------------------------------------------------------- */

static int pred, in_wait, waiter_held, woken;

static void *signal_waiter(void *arg)
{
    pthread_mutex_lock(&em);
    in_wait = 1;
    int rc = 0, loops = 0;
    while (!pred && rc == 0 && loops++ < 1000000)
        rc = pthread_cond_wait(&cv, &em);
    TCHECK(rc == 0, "pthread_cond_wait answered %d", rc);
    waiter_held = HELD() && pthread_mutex_trylock(&em) == EBUSY;
    woken = 1;
    pthread_mutex_unlock(&em);
    return NULL;
}

static void signal_one(int unlock_first)
{
    pthread_t t;
    pred = in_wait = waiter_held = woken = 0;
    EXPECT_ERR(pthread_create(&t, NULL, signal_waiter, NULL), 0);
    wait_count(&in_wait, 1); /* in_wait is set under em, so the waiter is in cond_wait now */
    nap_ms(5);
    pthread_mutex_lock(&em);
    CHECK(!woken, "the waiter returned before the signal");
    pred = 1;
    if (unlock_first) {
        pthread_mutex_unlock(&em);
        EXPECT_ERR(pthread_cond_signal(&cv), 0);
    } else {
        EXPECT_ERR(pthread_cond_signal(&cv), 0);
        pthread_mutex_unlock(&em);
    }
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(woken && waiter_held, "signalled waiter: woken %d, held the mutex %d", woken, waiter_held);
}

static void signals(void)
{
    int before = failures;
    signal_one(0);
    signal_one(1);
    /* nobody waiting: accepted and not remembered */
    EXPECT_ERR(pthread_cond_signal(&cv), 0);
    EXPECT_ERR(pthread_cond_broadcast(&cv), 0);
    pthread_mutex_lock(&em);
    struct timespec dl = deadline_ms(CLOCK_REALTIME, 20);
    EXPECT_ERR(pthread_cond_timedwait(&cv, &em, &dl), ETIMEDOUT);
    CHECK(HELD(), "timedwait after an unheard signal returned without the mutex");
    pthread_mutex_unlock(&em);
    if (failures == before)
        printf("ok pthread_cond_signal wakes a waiter, which holds the mutex again; no waiter, no memory\n");
}

/* --- broadcast ------------------------------------------------------------------------- */

#define NB 16
static int gen, arrived_b, woken_b, held_b;

static void *broadcast_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    pthread_mutex_lock(&em);
    int my_gen = gen;
    arrived_b++;
    int rc = 0, loops = 0;
    struct timespec dl;
    while (gen == my_gen && rc == 0 && loops++ < 1000000) {
        if (i % 4 < 2)
            rc = pthread_cond_wait(&cv, &em);
        else if (i % 4 == 2) {
            dl = deadline_ms(CLOCK_REALTIME, 10000);
            rc = pthread_cond_timedwait(&cv, &em, &dl);
        } else {
            dl = deadline_ms(CLOCK_MONOTONIC, 10000);
            rc = pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC, &dl);
        }
    }
    TCHECK(rc == 0, "broadcast waiter %d: wait answered %d", i, rc);
    if (HELD())
        held_b++;
    woken_b++;
    pthread_mutex_unlock(&em);
    return NULL;
}

static void broadcasts(void)
{
    int before = failures;
    pthread_t t[NB];
    for (int round = 0; round < 3; round++) {
        arrived_b = woken_b = held_b = 0;
        for (int i = 0; i < NB; i++)
            EXPECT_ERR(pthread_create(&t[i], NULL, broadcast_waiter, (void *)(intptr_t)i), 0);
        wait_count(&arrived_b, NB);
        pthread_mutex_lock(&em);
        CHECK(arrived_b == NB && woken_b == 0, "round %d: %d waiting, %d woken before the broadcast", round,
              arrived_b, woken_b);
        gen++;
        EXPECT_ERR(pthread_cond_broadcast(&cv), 0); /* once: every waiter must wake */
        pthread_mutex_unlock(&em);
        for (int i = 0; i < NB; i++)
            EXPECT_ERR(pthread_join(t[i], NULL), 0);
        CHECK(woken_b == NB && held_b == NB, "round %d: broadcast woke %d of %d, %d held the mutex", round, woken_b,
              NB, held_b);
    }
    if (failures == before)
        printf("ok one pthread_cond_broadcast wakes all %d waiters (wait, timedwait, clockwait), 3 rounds\n", NB);
}

/* --- signal hands out tokens ------------------------------------------------------------ */

#define NTOK 6
static int tokens, taken, tok_waiting;

static void *token_taker(void *arg)
{
    pthread_mutex_lock(&em);
    tok_waiting++;
    int rc = 0, loops = 0;
    while (tokens == 0 && rc == 0 && loops++ < 1000000)
        rc = pthread_cond_wait(&cv, &em);
    TCHECK(rc == 0 && tokens > 0, "token taker: rc %d, tokens %d", rc, tokens);
    TCHECK(HELD(), "token taker woke without the mutex");
    tokens--;
    taken++;
    pthread_mutex_unlock(&em);
    return NULL;
}

static void token_signals(void)
{
    int before = failures;
    pthread_t t[NTOK];
    tokens = taken = tok_waiting = 0;
    for (int i = 0; i < NTOK; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, token_taker, NULL), 0);
    wait_count(&tok_waiting, NTOK);
    for (int i = 0; i < NTOK; i++) {
        pthread_mutex_lock(&em);
        tokens++;
        EXPECT_ERR(pthread_cond_signal(&cv), 0);
        pthread_mutex_unlock(&em);
        if (i % 2)
            nap_ms(2);
    }
    for (int i = 0; i < NTOK; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(taken == NTOK && tokens == 0, "tokens: %d taken, %d left", taken, tokens);
    if (failures == before)
        printf("ok pthread_cond_signal, once per token, lets all %d takers through\n", NTOK);
}

/* --- timeouts and errors ---------------------------------------------------------------- */

static void timeouts(void)
{
    int before = failures;
    pthread_cond_t mc;
    pthread_condattr_t a;
    struct timespec dl;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    EXPECT_ERR(pthread_cond_init(&mc, &a), 0);
    pthread_condattr_destroy(&a);

    pthread_mutex_lock(&em);
    /* default clock: REALTIME */
    dl = deadline_ms(CLOCK_REALTIME, 30);
    EXPECT_ERR(pthread_cond_timedwait(&cv, &em, &dl), ETIMEDOUT);
    CHECK(reached(CLOCK_REALTIME, dl), "timedwait (REALTIME) returned before its deadline");
    CHECK(HELD(), "timedwait timeout: mutex not held");
    dl = deadline_ms(CLOCK_REALTIME, -1000);
    EXPECT_ERR(pthread_cond_timedwait(&cv, &em, &dl), ETIMEDOUT);
    CHECK(HELD(), "timedwait, expired deadline: mutex not held");
    dl = (struct timespec){ 0, 0 };
    EXPECT_ERR(pthread_cond_timedwait(&cv, &em, &dl), ETIMEDOUT);
    CHECK(HELD(), "timedwait, deadline 0: mutex not held");
    dl = deadline_ms(CLOCK_REALTIME, 1000);
    dl.tv_nsec = 1000000000L;
    EXPECT_ERR(pthread_cond_timedwait(&cv, &em, &dl), EINVAL);
    CHECK(HELD(), "timedwait EINVAL: mutex not held");
    dl.tv_nsec = -1;
    EXPECT_ERR(pthread_cond_timedwait(&cv, &em, &dl), EINVAL);
    CHECK(HELD(), "timedwait EINVAL: mutex not held");

    /* condattr clock MONOTONIC: the deadline is on that clock (as REALTIME it would be
       decades ago and answer at once) */
    dl = deadline_ms(CLOCK_MONOTONIC, 30);
    EXPECT_ERR(pthread_cond_timedwait(&mc, &em, &dl), ETIMEDOUT);
    CHECK(reached(CLOCK_MONOTONIC, dl), "timedwait on a MONOTONIC condvar returned before its deadline");
    CHECK(HELD(), "timedwait (MONOTONIC condvar) timeout: mutex not held");
    dl = deadline_ms(CLOCK_MONOTONIC, -1000);
    EXPECT_ERR(pthread_cond_timedwait(&mc, &em, &dl), ETIMEDOUT);
    dl.tv_nsec = 1000000000L;
    EXPECT_ERR(pthread_cond_timedwait(&mc, &em, &dl), EINVAL);
    CHECK(HELD(), "timedwait (MONOTONIC condvar) EINVAL: mutex not held");

    /* clockwait: its own clock, whatever the condvar's */
    dl = deadline_ms(CLOCK_MONOTONIC, 30);
    EXPECT_ERR(pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    CHECK(reached(CLOCK_MONOTONIC, dl), "clockwait (MONOTONIC) returned before its deadline");
    CHECK(HELD(), "clockwait timeout: mutex not held");
    dl = deadline_ms(CLOCK_REALTIME, 30);
    EXPECT_ERR(pthread_cond_clockwait(&cv, &em, CLOCK_REALTIME, &dl), ETIMEDOUT);
    CHECK(reached(CLOCK_REALTIME, dl), "clockwait (REALTIME) returned before its deadline");
    dl = deadline_ms(CLOCK_REALTIME, 30);
    EXPECT_ERR(pthread_cond_clockwait(&mc, &em, CLOCK_REALTIME, &dl), ETIMEDOUT);
    CHECK(reached(CLOCK_REALTIME, dl), "clockwait (REALTIME) on a MONOTONIC condvar returned early");
    CHECK(HELD(), "clockwait timeout: mutex not held");
    dl = deadline_ms(CLOCK_MONOTONIC, -5);
    EXPECT_ERR(pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC, &dl), ETIMEDOUT);
    dl = deadline_ms(CLOCK_MONOTONIC, 1000);
    EXPECT_ERR(pthread_cond_clockwait(&cv, &em, (clockid_t)12345, &dl), EINVAL);
    EXPECT_ERR(pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC_RAW, &dl), EINVAL);
    EXPECT_ERR(pthread_cond_clockwait(&cv, &em, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    CHECK(HELD(), "clockwait EINVAL (clock): mutex not held");
    dl.tv_nsec = 1000000000L;
    EXPECT_ERR(pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC, &dl), EINVAL);
    CHECK(HELD(), "clockwait EINVAL (tv_nsec): mutex not held");
    pthread_mutex_unlock(&em);

    EXPECT_ERR(pthread_cond_destroy(&mc), 0);
    if (failures == before)
        printf("ok timedwait/clockwait: ETIMEDOUT never early (REALTIME, condattr MONOTONIC, clockwait), EINVAL, "
               "mutex held on return\n");
}

/* timed waits signalled well before their deadline answer 0 */
static int tw_state, tw_held[3], tw_rc[3];

static void *timed_waiter(void *arg)
{
    int way = (int)(intptr_t)arg;
    pthread_mutex_lock(&em);
    tw_state++;
    int rc = 0, loops = 0;
    struct timespec dl;
    while (tw_state < 100 && rc == 0 && loops++ < 1000000) {
        if (way == 0) {
            dl = deadline_ms(CLOCK_REALTIME, 10000);
            rc = pthread_cond_timedwait(&cv, &em, &dl);
        } else if (way == 1) {
            dl = deadline_ms(CLOCK_MONOTONIC, 10000);
            rc = pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC, &dl);
        } else {
            dl = deadline_ms(CLOCK_REALTIME, 10000);
            rc = pthread_cond_clockwait(&cv, &em, CLOCK_REALTIME, &dl);
        }
    }
    tw_rc[way] = rc;
    tw_held[way] = HELD();
    pthread_mutex_unlock(&em);
    return NULL;
}

static void timed_signalled(void)
{
    int before = failures;
    pthread_t t[3];
    tw_state = 0;
    for (int i = 0; i < 3; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, timed_waiter, (void *)(intptr_t)i), 0);
    wait_count(&tw_state, 3);
    nap_ms(5);
    for (int i = 0; i < 3; i++) {
        pthread_mutex_lock(&em);
        tw_state = 100;
        EXPECT_ERR(pthread_cond_signal(&cv), 0);
        pthread_mutex_unlock(&em);
    }
    for (int i = 0; i < 3; i++) {
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
        CHECK(tw_rc[i] == 0 && tw_held[i], "timed waiter %d: rc %d, held %d", i, tw_rc[i], tw_held[i]);
    }
    if (failures == before)
        printf("ok timedwait/clockwait signalled before the deadline answer 0 holding the mutex\n");
}

/* --- a recursive mutex locked once --------------------------------------------------------- */

static pthread_mutex_t rm = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int r_pred, r_waiting, r_ok;

static void *recursive_waiter(void *arg)
{
    pthread_mutex_lock(&rm);
    r_waiting = 1;
    int rc = 0, loops = 0;
    while (!r_pred && rc == 0 && loops++ < 1000000)
        rc = pthread_cond_wait(&cv, &rm);
    /* held once: one more level, then both off */
    r_ok = rc == 0 && pthread_mutex_trylock(&rm) == 0 && pthread_mutex_unlock(&rm) == 0 &&
           pthread_mutex_unlock(&rm) == 0 && pthread_mutex_unlock(&rm) == EPERM;
    return NULL;
}

static void recursive_mutex(void)
{
    int before = failures;
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, recursive_waiter, NULL), 0);
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&rm);
        int w = r_waiting;
        if (w) {
            r_pred = 1;
            pthread_cond_signal(&cv);
        }
        pthread_mutex_unlock(&rm);
        if (w)
            break;
        nap_ms(1);
    }
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(r_ok, "cond_wait with a recursive mutex: not held once on return");
    EXPECT_ERR(pthread_mutex_trylock(&rm), 0);
    EXPECT_ERR(pthread_mutex_unlock(&rm), 0);
    if (failures == before)
        printf("ok pthread_cond_wait with a recursive mutex locked once\n");
}

/* --- cancellation -------------------------------------------------------------------- */

enum { CW_TIMED, CW_CLOCK, CW_PLAIN };
static int c_waiting, c_cleanup_ran, c_cleanup_held, c_cleanup_unlock, c_not_acted; /* atomics */

static void cancel_cleanup(void *arg)
{
    __atomic_store_n(&c_cleanup_held, HELD(), __ATOMIC_RELAXED);
    __atomic_store_n(&c_cleanup_unlock, pthread_mutex_unlock(&em), __ATOMIC_RELAXED);
    __atomic_store_n(&c_cleanup_ran, 1, __ATOMIC_RELEASE);
}

static void *cancel_waiter(void *arg)
{
    int way = (int)(intptr_t)arg;
    int rc = 0;
    pthread_mutex_lock(&em);
    pthread_cleanup_push(cancel_cleanup, NULL);
    __atomic_store_n(&c_waiting, 1, __ATOMIC_RELEASE);
    for (int loops = 0; loops < 1000000 && rc == 0; loops++) { /* the predicate is never true */
        struct timespec dl;
        if (way == CW_TIMED) {
            dl = deadline_ms(CLOCK_REALTIME, 5000);
            rc = pthread_cond_timedwait(&cv, &em, &dl);
        } else if (way == CW_CLOCK) {
            dl = deadline_ms(CLOCK_MONOTONIC, 5000);
            rc = pthread_cond_clockwait(&cv, &em, CLOCK_MONOTONIC, &dl);
        } else
            rc = pthread_cond_wait(&cv, &em);
    }
    /* only without cancellation: the wait timed out (or failed) */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    __atomic_store_n(&c_not_acted, rc ? rc : -1, __ATOMIC_RELAXED);
    pthread_cleanup_pop(0);
    pthread_mutex_unlock(&em);
    return (void *)1;
}

static int cancel_in_wait(int way)
{
    pthread_t t;
    void *ret = NULL;
    c_waiting = c_cleanup_ran = c_cleanup_held = c_not_acted = 0;
    c_cleanup_unlock = -1;
    EXPECT_ERR(pthread_create(&t, NULL, cancel_waiter, (void *)(intptr_t)way), 0);
    wait_flag(&c_waiting);
    EXPECT_ERR(pthread_mutex_lock(&em), 0); /* the waiter is inside the wait now */
    EXPECT_ERR(pthread_cancel(t), 0);
    nap_ms(20); /* the cancelled waiter needs the mutex back before its cleanup handler */
    CHECK(!__atomic_load_n(&c_cleanup_ran, __ATOMIC_ACQUIRE), "way %d: cleanup handler ran while main held the mutex",
          way);
    EXPECT_ERR(pthread_mutex_unlock(&em), 0);
    EXPECT_ERR(pthread_join(t, &ret), 0);
    if (c_not_acted) {
        printf("FAIL: way %d: the cancellation was not acted on in the wait (it answered %d)\n", way, c_not_acted);
        failures++;
        return 0;
    }
    CHECK(ret == PTHREAD_CANCELED, "way %d: join value %p, not PTHREAD_CANCELED", way, ret);
    CHECK(c_cleanup_ran && c_cleanup_held && c_cleanup_unlock == 0,
          "way %d: cleanup ran %d, held the mutex %d, its unlock answered %d", way, c_cleanup_ran, c_cleanup_held,
          c_cleanup_unlock);
    EXPECT_ERR(pthread_mutex_trylock(&em), 0); /* free again */
    EXPECT_ERR(pthread_mutex_unlock(&em), 0);
    return ret == PTHREAD_CANCELED;
}

static void cancellation(void)
{
    int before = failures;
    int ok = cancel_in_wait(CW_TIMED);
    ok &= cancel_in_wait(CW_CLOCK);
    if (ok)
        cancel_in_wait(CW_PLAIN);
    else {
        printf("FAIL: cancellation in pthread_cond_wait not tried (it failed in timedwait/clockwait)\n");
        failures++;
    }
    if (failures == before)
        printf("ok a thread cancelled in cond_wait/timedwait/clockwait gets the mutex back before its cleanup "
               "handler\n");
}

/* --- timeouts racing signals ---------------------------------------------------------- */

#define NR 8
#define RACE_WAITS 150
static pthread_cond_t rcv = PTHREAD_COND_INITIALIZER;
static int race_done, race_timeouts, race_wakes; /* atomics */

static void *race_waiter(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me * 2654435761u + 9u;
    for (int i = 0; i < RACE_WAITS; i++) {
        pthread_mutex_lock(&em);
        long us = (long)(lcg_next(&seed) % 300);
        struct timespec dl;
        int rc;
        if (i % 2) {
            dl = deadline_ms(CLOCK_MONOTONIC, 0);
            dl.tv_nsec += us * 1000;
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
            rc = pthread_cond_clockwait(&rcv, &em, CLOCK_MONOTONIC, &dl);
        } else {
            dl = deadline_ms(CLOCK_REALTIME, 0);
            dl.tv_nsec += us * 1000;
            if (dl.tv_nsec >= 1000000000L) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000L;
            }
            rc = pthread_cond_timedwait(&rcv, &em, &dl);
        }
        TCHECK(rc == 0 || rc == ETIMEDOUT, "race waiter %d: wait answered %d", me, rc);
        TCHECK(HELD(), "race waiter %d: returned (rc %d) without the mutex", me, rc);
        __atomic_fetch_add(rc ? &race_timeouts : &race_wakes, 1, __ATOMIC_RELAXED);
        if (lcg_next(&seed) % 4 == 0)
            pause_rand(&seed); /* holding it */
        pthread_mutex_unlock(&em);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
    }
    __atomic_fetch_add(&race_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *race_signaller(void *arg)
{
    unsigned seed = 4242u;
    for (long i = 0; i < 10000000 && __atomic_load_n(&race_done, __ATOMIC_ACQUIRE) < NR; i++) {
        unsigned r = lcg_next(&seed);
        if (r % 3 == 0) {
            pthread_mutex_lock(&em);
            pthread_cond_signal(&rcv);
            pthread_mutex_unlock(&em);
        } else if (r % 3 == 1)
            pthread_cond_signal(&rcv);
        else
            pthread_cond_broadcast(&rcv);
        pause_rand(&seed);
    }
    return NULL;
}

static void race(void)
{
    int before = failures;
    pthread_t t[NR], s;
    for (int i = 0; i < NR; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, race_waiter, (void *)(intptr_t)i), 0);
    EXPECT_ERR(pthread_create(&s, NULL, race_signaller, NULL), 0);
    for (int i = 0; i < NR; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    EXPECT_ERR(pthread_join(s, NULL), 0);
    CHECK(race_timeouts + race_wakes == NR * RACE_WAITS, "race: %d timeouts + %d wakes", race_timeouts, race_wakes);
    if (failures == before)
        printf("ok %d threads x %d short timed waits racing signals/broadcasts: mutex held on every return\n", NR,
               RACE_WAITS);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* a run that hangs still shows how far it got */
    attributes();
    signals();
    broadcasts();
    token_signals();
    timeouts();
    timed_signalled();
    recursive_mutex();
    race();
    cancellation();
    EXPECT_ERR(pthread_cond_destroy(&cv), 0);
    EXPECT_ERR(pthread_cond_destroy(&rcv), 0);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
