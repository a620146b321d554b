// blitz-timeout: 60
// Mutex stress: 32 threads increment shared counters under mutexes, with random
// sched_yield()/short nanosleep (per-thread LCG) inside and outside the critical
// sections, locking through lock, trylock (retried), timedlock and clocklock.
// The increments are split read / pause / write, so a lost exclusion shows up as
// a lost count; an owner tag is checked on the way out.  Phase 1: one default
// mutex, 32 x 600.  Phase 2: 8 mutexes, each iteration takes two of them in
// index order (32 x 300).  Phase 3: a recursive mutex taken 1-3 levels deep and
// an errorcheck mutex (16 x 300).  No thread may starve: every thread must finish
// its quota, each phase within a bounded time (30 s), and each thread must have
// got the mutex at least once by the time the fastest one finished phase 1.
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

#define NT 32
#define ITERS1 600
#define ITERS2 300
#define NT3 16
#define ITERS3 300
#define NM 8
#define PHASE_LIMIT_NS (30 * 1000000000LL)

static int go;
static long long phase_end; /* monotonic ns: a thread still running then gives up */

/* lock m one of four ways; 0 on success */
static int lock_some_way(pthread_mutex_t *m, unsigned *seed)
{
    unsigned way = lcg_next(seed) % 10;
    struct timespec dl;
    if (way < 6)
        return pthread_mutex_lock(m);
    if (way < 8) {
        for (int tries = 0; tries < 100000; tries++) {
            int rc = pthread_mutex_trylock(m);
            if (rc != EBUSY)
                return rc;
            sched_yield();
        }
        return pthread_mutex_lock(m);
    }
    if (way < 9) {
        dl = deadline_ms(CLOCK_REALTIME, 20000);
        return pthread_mutex_timedlock(m, &dl);
    }
    dl = deadline_ms(CLOCK_MONOTONIC, 20000);
    return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl);
}

/* --- phase 1: one mutex ------------------------------------------------------------ */

static pthread_mutex_t m1 = PTHREAD_MUTEX_INITIALIZER;
static long counter1;
static int owner1 = -1;
static int progress1[NT];       /* atomics: acquisitions so far */
static int first_done = -1;     /* atomic: index of the first thread to finish */
static int progress_at_first[NT];
/* Whether a thread had passed the start gate (it polls with 5 ms sleeps, so threads pass it
 * up to 5 ms apart) and had waited for the mutex for 5 ms when the first thread finished:
 * only such a thread counts as starved if it had not got the mutex by then. */
static long waiting_since[NT];  /* atomics: now_ns() of its first lock attempt, 0 before */
static int waited_at_first[NT];
static int done1[NT];

static void *phase1(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me * 7919u + 1u;
    gate_wait(&go);
    __atomic_store_n(&waiting_since[me], now_ns(), __ATOMIC_RELAXED);
    for (int i = 0; i < ITERS1; i++) {
        if (now_ns() > phase_end) {
            TCHECK(0, "phase 1: thread %d starved, %d of %d done after 30 s", me, i, ITERS1);
            return NULL;
        }
        int rc = lock_some_way(&m1, &seed);
        if (rc != 0) {
            TCHECK(0, "phase 1: thread %d: lock answered %d", me, rc);
            return NULL;
        }
        TCHECK(owner1 == -1, "phase 1: thread %d got the mutex while %d held it", me, owner1);
        owner1 = me;
        long v = counter1;
        if (lcg_next(&seed) % 8 == 0)
            pause_rand(&seed);
        counter1 = v + 1;
        TCHECK(owner1 == me, "phase 1: thread %d lost the mutex to %d", me, owner1);
        owner1 = -1;
        __atomic_store_n(&progress1[me], i + 1, __ATOMIC_RELAXED);
        TCHECK(pthread_mutex_unlock(&m1) == 0, "phase 1: thread %d: unlock failed", me);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
    }
    done1[me] = 1;
    int none = -1;
    if (__atomic_compare_exchange_n(&first_done, &none, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        for (int k = 0; k < NT; k++)
        {
            progress_at_first[k] = __atomic_load_n(&progress1[k], __ATOMIC_RELAXED);
            long since = __atomic_load_n(&waiting_since[k], __ATOMIC_RELAXED);
            waited_at_first[k] = since && now_ns() - since > 5000000;
        }
    return NULL;
}

/* --- phase 2: two of eight mutexes at a time -------------------------------------------- */

static pthread_mutex_t m2[NM];
static long counter2[NM];
static long pairs2;
static long picks2[NT][NM];
static int done2[NT];

static void *phase2(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me * 104729u + 3u;
    gate_wait(&go);
    for (int i = 0; i < ITERS2; i++) {
        if (now_ns() > phase_end) {
            TCHECK(0, "phase 2: thread %d starved, %d of %d done after 30 s", me, i, ITERS2);
            return NULL;
        }
        int a = (int)(lcg_next(&seed) % NM), b = (int)(lcg_next(&seed) % (NM - 1));
        if (b >= a)
            b++;
        int lo = a < b ? a : b, hi = a < b ? b : a;
        int rc = lock_some_way(&m2[lo], &seed);
        if (rc == 0) {
            if (lcg_next(&seed) % 16 == 0)
                pause_rand(&seed); /* holding one, wanting the other */
            rc = lock_some_way(&m2[hi], &seed);
            if (rc != 0)
                pthread_mutex_unlock(&m2[lo]);
        }
        if (rc != 0) {
            TCHECK(0, "phase 2: thread %d: lock answered %d", me, rc);
            return NULL;
        }
        long vl = counter2[lo], vh = counter2[hi];
        if (lcg_next(&seed) % 8 == 0)
            pause_rand(&seed);
        counter2[lo] = vl + 1;
        counter2[hi] = vh + 1;
        picks2[me][lo]++;
        picks2[me][hi]++;
        if (lcg_next(&seed) % 2) { /* either order */
            pthread_mutex_unlock(&m2[hi]);
            pthread_mutex_unlock(&m2[lo]);
        } else {
            pthread_mutex_unlock(&m2[lo]);
            pthread_mutex_unlock(&m2[hi]);
        }
        __atomic_fetch_add(&pairs2, 1, __ATOMIC_RELAXED);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
    }
    done2[me] = 1;
    return NULL;
}

/* --- phase 3: recursive and errorcheck ------------------------------------------------ */

static pthread_mutex_t m3r = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t m3e = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static long counter3r, counter3e;
static int depth3 = 0;
static int done3[NT3];

static void *phase3(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me * 31337u + 5u;
    gate_wait(&go);
    for (int i = 0; i < ITERS3; i++) {
        if (now_ns() > phase_end) {
            TCHECK(0, "phase 3: thread %d starved, %d of %d done after 30 s", me, i, ITERS3);
            return NULL;
        }
        int levels = 1 + (int)(lcg_next(&seed) % 3);
        for (int l = 0; l < levels; l++) {
            int rc = lock_some_way(&m3r, &seed);
            TCHECK(rc == 0, "phase 3: thread %d: recursive lock level %d answered %d", me, l + 1, rc);
            TCHECK(depth3 == l, "phase 3: thread %d: depth %d at level %d (shared with another thread?)", me, depth3,
                   l + 1);
            depth3 = l + 1;
            if (lcg_next(&seed) % 8 == 0)
                pause_rand(&seed);
        }
        long v = counter3r;
        if (lcg_next(&seed) % 8 == 0)
            pause_rand(&seed);
        counter3r = v + 1;
        for (int l = levels; l > 0; l--) {
            depth3 = l - 1;
            TCHECK(pthread_mutex_unlock(&m3r) == 0, "phase 3: thread %d: recursive unlock failed", me);
        }

        int rc = lock_some_way(&m3e, &seed);
        TCHECK(rc == 0, "phase 3: thread %d: errorcheck lock answered %d", me, rc);
        TCHECK(pthread_mutex_lock(&m3e) == EDEADLK, "phase 3: thread %d: errorcheck relock not EDEADLK", me);
        v = counter3e;
        if (lcg_next(&seed) % 8 == 0)
            pause_rand(&seed);
        counter3e = v + 1;
        TCHECK(pthread_mutex_unlock(&m3e) == 0, "phase 3: thread %d: errorcheck unlock failed", me);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
    }
    done3[me] = 1;
    return NULL;
}

static void run_phase(void *(*fn)(void *), int n)
{
    pthread_t t[NT];
    __atomic_store_n(&go, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < n; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, fn, (void *)(intptr_t)i), 0);
    phase_end = now_ns() + PHASE_LIMIT_NS;
    gate_open(&go);
    for (int i = 0; i < n; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
}

static int count_done(const int *done, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += done[i];
    return k;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    run_phase(phase1, NT);
    int before = failures;
    CHECK(counter1 == (long)NT * ITERS1, "phase 1: counter %ld, expected %ld", counter1, (long)NT * ITERS1);
    CHECK(count_done(done1, NT) == NT, "phase 1: %d of %d threads finished their quota", count_done(done1, NT), NT);
    int starved = 0;
    for (int k = 0; k < NT; k++)
        starved += waited_at_first[k] && progress_at_first[k] == 0;
    CHECK(first_done >= 0 && starved == 0, "phase 1: %d threads had not got the mutex once when thread %d finished",
          starved, first_done);
    if (failures == before)
        printf("ok phase 1: %d threads x %d increments under one mutex, none starved\n", NT, ITERS1);

    before = failures;
    for (int i = 0; i < NM; i++)
        EXPECT_ERR(pthread_mutex_init(&m2[i], NULL), 0);
    run_phase(phase2, NT);
    long sum = 0;
    for (int j = 0; j < NM; j++) {
        long want = 0;
        for (int i = 0; i < NT; i++)
            want += picks2[i][j];
        CHECK(counter2[j] == want, "phase 2: mutex %d: counter %ld, expected %ld", j, counter2[j], want);
        sum += counter2[j];
        EXPECT_ERR(pthread_mutex_destroy(&m2[j]), 0);
    }
    CHECK(pairs2 == (long)NT * ITERS2 && sum == 2 * pairs2, "phase 2: %ld pairs, counters sum %ld", pairs2, sum);
    CHECK(count_done(done2, NT) == NT, "phase 2: %d of %d threads finished their quota", count_done(done2, NT), NT);
    if (failures == before)
        printf("ok phase 2: %d threads x %d iterations holding two of %d mutexes\n", NT, ITERS2, NM);

    before = failures;
    run_phase(phase3, NT3);
    CHECK(counter3r == (long)NT3 * ITERS3, "phase 3: recursive counter %ld", counter3r);
    CHECK(counter3e == (long)NT3 * ITERS3, "phase 3: errorcheck counter %ld", counter3e);
    CHECK(count_done(done3, NT3) == NT3, "phase 3: %d of %d threads finished", count_done(done3, NT3), NT3);
    EXPECT_ERR(pthread_mutex_trylock(&m3r), 0);
    EXPECT_ERR(pthread_mutex_unlock(&m3r), 0);
    EXPECT_ERR(pthread_mutex_unlock(&m3e), EPERM);
    if (failures == before)
        printf("ok phase 3: %d threads x %d iterations on a recursive and an errorcheck mutex\n", NT3, ITERS3);

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
