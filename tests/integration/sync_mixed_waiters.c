// blitz-timeout: 60
// One mutex and condvars shared by two kinds of threads: 2 threads created by a
// constructor before main (under the shim they are native OS threads) and 4
// threads created by main (green tasks under the shim).  Phase 1: a mutex
// alone, 6 x 2,000 increments with random yields/sleeps inside.  Phase 2: a
// token ring, 6 participants x 1,000 rounds: each waits (cond_wait, timedwait or
// clockwait by round) for its turn and broadcasts to the next, so each kind
// wakes the other all the time; the order is checked.  Phase 3: two bounded
// queues (pthread_cond_signal), a native producer to two green consumers and
// two green producers to a native consumer, 4,000 items each way; counts and
// sums checked.
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

#define NNAT 2   /* created by the constructor */
#define NGREEN 4 /* created by main */
#define NALL (NNAT + NGREEN)
#define INCS 2000
#define ROUNDS 1000
#define ITEMS 4000
#define QCAP 4

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_cv = PTHREAD_COND_INITIALIZER;
static int phase_go[4]; /* gates, opened by main */
static int ctor_created = -1;
static pthread_t natives[NNAT];

/* phase 1 */
static long counter1;
static int owner1 = -1;

/* phase 2 */
static long turn;

/* phase 3 */
struct queue {
    pthread_cond_t not_full, not_empty;
    long ring[QCAP];
    int head, count;
    long produced, consumed; /* items, under m */
    long sum_in, sum_out;
};
static struct queue q_n2g = { .not_full = PTHREAD_COND_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER },
                    q_g2n = { .not_full = PTHREAD_COND_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER };

static void phase1(int me)
{
    unsigned seed = (unsigned)me * 3301u + 1u;
    for (int i = 0; i < INCS; i++) {
        if (pthread_mutex_lock(&m) != 0) {
            TCHECK(0, "phase 1: participant %d: lock failed", me);
            return;
        }
        TCHECK(owner1 == -1, "phase 1: participant %d got the mutex while %d held it", me, owner1);
        owner1 = me;
        long v = counter1;
        if (lcg_next(&seed) % 4 == 0)
            pause_rand(&seed);
        counter1 = v + 1;
        owner1 = -1;
        pthread_mutex_unlock(&m);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
    }
}

static void phase2(int me)
{
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&m);
        int rc = 0;
        while (turn % NALL != me && rc == 0) {
            struct timespec dl;
            if (r % 3 == 0)
                rc = pthread_cond_wait(&turn_cv, &m);
            else if (r % 3 == 1) {
                dl = deadline_ms(CLOCK_REALTIME, 10000);
                rc = pthread_cond_timedwait(&turn_cv, &m, &dl);
            } else {
                dl = deadline_ms(CLOCK_MONOTONIC, 10000);
                rc = pthread_cond_clockwait(&turn_cv, &m, CLOCK_MONOTONIC, &dl);
            }
        }
        if (rc != 0) {
            TCHECK(0, "phase 2: participant %d round %d: wait answered %d", me, r, rc);
            pthread_mutex_unlock(&m);
            return;
        }
        TCHECK(turn == (long)r * NALL + me, "phase 2: participant %d round %d: turn %ld", me, r, turn);
        turn++;
        pthread_cond_broadcast(&turn_cv);
        pthread_mutex_unlock(&m);
    }
}

static void produce(struct queue *q, long item)
{
    pthread_mutex_lock(&m);
    while (q->count == QCAP)
        pthread_cond_wait(&q->not_full, &m);
    q->ring[(q->head + q->count) % QCAP] = item;
    q->count++;
    q->produced++;
    q->sum_in += item;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&m);
}

/* 1 with an item, 0 when all ITEMS were consumed */
static int consume(struct queue *q, long *item)
{
    pthread_mutex_lock(&m);
    while (q->count == 0 && q->consumed < ITEMS)
        pthread_cond_wait(&q->not_empty, &m);
    if (q->count == 0) {
        pthread_mutex_unlock(&m);
        return 0;
    }
    *item = q->ring[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    q->consumed++;
    q->sum_out += *item;
    pthread_cond_signal(&q->not_full);
    if (q->consumed == ITEMS)
        pthread_cond_broadcast(&q->not_empty); /* the other consumers stop */
    pthread_mutex_unlock(&m);
    return 1;
}

/* roles: native 0 produces for the green consumers 4 and 5, green 2 and 3 produce
   for native consumer 1 */
static void phase3(int me)
{
    unsigned seed = (unsigned)me * 17u + 5u;
    long item;
    if (me == 0 || me == 2 || me == 3) {
        struct queue *q = me == 0 ? &q_n2g : &q_g2n;
        int n = me == 0 ? ITEMS : ITEMS / 2;
        for (int i = 0; i < n; i++) {
            produce(q, (long)me * 100000 + i);
            if (lcg_next(&seed) % 8 == 0)
                pause_rand(&seed);
        }
    } else {
        struct queue *q = me == 1 ? &q_g2n : &q_n2g;
        while (consume(q, &item))
            if (lcg_next(&seed) % 8 == 0)
                pause_rand(&seed);
    }
}

static void participate(int me)
{
    gate_wait(&phase_go[0]);
    phase1(me);
    gate_wait(&phase_go[1]);
    phase2(me);
    gate_wait(&phase_go[2]);
    phase3(me);
}

static void *participant(void *arg)
{
    participate((int)(intptr_t)arg);
    return NULL;
}

__attribute__((constructor)) static void start_natives(void)
{
    int n = 0;
    for (int i = 0; i < NNAT; i++)
        if (pthread_create(&natives[i], NULL, participant, (void *)(intptr_t)i) == 0)
            n++;
    ctor_created = n;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (ctor_created != NNAT) {
        printf("FAIL: the constructor created %d threads\n", ctor_created);
        return 1;
    }
    pthread_t green[NGREEN];
    for (int i = 0; i < NGREEN; i++)
        EXPECT_ERR(pthread_create(&green[i], NULL, participant, (void *)(intptr_t)(NNAT + i)), 0);

    /* each phase is over when every participant has done its share (polled) */
    gate_open(&phase_go[0]);
    for (int i = 0; i < 60000; i++) {
        pthread_mutex_lock(&m);
        long c = counter1;
        pthread_mutex_unlock(&m);
        if (c >= (long)NALL * INCS)
            break;
        nap_ms(1);
    }
    CHECK(counter1 == (long)NALL * INCS, "phase 1: counter %ld, expected %ld", counter1, (long)NALL * INCS);
    if (!failures)
        printf("ok phase 1: %d constructor threads and %d main threads x %d increments under one mutex\n", NNAT,
               NGREEN, INCS);

    int before = failures;
    gate_open(&phase_go[1]);
    for (int i = 0; i < 60000; i++) {
        pthread_mutex_lock(&m);
        long t = turn;
        pthread_mutex_unlock(&m);
        if (t >= (long)NALL * ROUNDS)
            break;
        nap_ms(1);
    }
    CHECK(turn == (long)NALL * ROUNDS, "phase 2: turn %ld, expected %ld", turn, (long)NALL * ROUNDS);
    if (failures == before)
        printf("ok phase 2: token ring of %d, %d rounds, both kinds waking each other\n", NALL, ROUNDS);

    before = failures;
    gate_open(&phase_go[2]);
    for (int i = 0; i < NGREEN; i++)
        EXPECT_ERR(pthread_join(green[i], NULL), 0);
    for (int i = 0; i < NNAT; i++)
        EXPECT_ERR(pthread_join(natives[i], NULL), 0);
    long want_n2g = 0, want_g2n = 0;
    for (int i = 0; i < ITEMS; i++)
        want_n2g += i;
    for (int p = 2; p <= 3; p++)
        for (int i = 0; i < ITEMS / 2; i++)
            want_g2n += (long)p * 100000 + i;
    CHECK(q_n2g.produced == ITEMS && q_n2g.consumed == ITEMS && q_n2g.sum_in == want_n2g &&
              q_n2g.sum_out == want_n2g,
          "native->green queue: %ld produced, %ld consumed, sums %ld/%ld (want %ld)", q_n2g.produced, q_n2g.consumed,
          q_n2g.sum_in, q_n2g.sum_out, want_n2g);
    CHECK(q_g2n.produced == ITEMS && q_g2n.consumed == ITEMS && q_g2n.sum_in == want_g2n &&
              q_g2n.sum_out == want_g2n,
          "green->native queue: %ld produced, %ld consumed, sums %ld/%ld (want %ld)", q_g2n.produced, q_g2n.consumed,
          q_g2n.sum_in, q_g2n.sum_out, want_g2n);
    if (failures == before)
        printf("ok phase 3: %d items each way between constructor threads and main threads\n", ITEMS);

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
