// blitz-timeout: 60
// Condition-variable hand-offs.  Ping-pong: two threads pass a ball 2,000 round
// trips through one mutex and two condvars (ping, pong); each side checks the
// value it receives is the one it expects (strict alternation).  Bounded
// queue: 4 producers x 3,000 items through an 8-slot ring to 4 consumers
// (not_full / not_empty condvars), once waking with pthread_cond_signal and once
// with pthread_cond_broadcast; every item is consumed exactly once (count, sum,
// per-item marks) and each consumer sees every producer's items in increasing
// order.  Predicates are re-checked in loops (spurious wake-ups allowed).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* --- ping-pong ----------------------------------------------------------------------- */

#define ROUNDS 2000
static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ping = PTHREAD_COND_INITIALIZER, pong = PTHREAD_COND_INITIALIZER;
static long ball; /* even: ping's turn, odd: pong's */

static void *ponger(void *arg)
{
    for (long i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&pm);
        while (ball % 2 == 0)
            pthread_cond_wait(&pong, &pm);
        TCHECK(ball == 2 * i + 1, "pong expected %ld, got %ld", 2 * i + 1, ball);
        ball++;
        pthread_cond_signal(&ping);
        pthread_mutex_unlock(&pm);
    }
    return NULL;
}

static void *pinger(void *arg)
{
    for (long i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&pm);
        while (ball % 2 == 1)
            pthread_cond_wait(&ping, &pm);
        TCHECK(ball == 2 * i, "ping expected %ld, got %ld", 2 * i, ball);
        ball++;
        /* half of the signals after the unlock */
        if (i % 2) {
            pthread_cond_signal(&pong);
            pthread_mutex_unlock(&pm);
        } else {
            pthread_mutex_unlock(&pm);
            pthread_cond_signal(&pong);
        }
    }
    return NULL;
}

static void pingpong(void)
{
    int before = failures;
    pthread_t a, b;
    EXPECT_ERR(pthread_create(&b, NULL, ponger, NULL), 0);
    EXPECT_ERR(pthread_create(&a, NULL, pinger, NULL), 0);
    EXPECT_ERR(pthread_join(a, NULL), 0);
    EXPECT_ERR(pthread_join(b, NULL), 0);
    CHECK(ball == 2 * ROUNDS, "ping-pong: ball %ld, expected %d", ball, 2 * ROUNDS);
    if (failures == before)
        printf("ok ping-pong: %d round trips through a mutex and two condvars\n", ROUNDS);
}

/* --- bounded queue ---------------------------------------------------------------------- */

#define NP 4
#define NC 4
#define PER_PRODUCER 3000
#define CAP 8

static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static long ring[CAP];
static int head, count, producers_left;
static int use_broadcast;
static unsigned char seen[NP][PER_PRODUCER];
static long consumed_sum[NC], consumed_n[NC];

static void wake(pthread_cond_t *c)
{
    if (use_broadcast)
        pthread_cond_broadcast(c);
    else
        pthread_cond_signal(c);
}

static void *producer(void *arg)
{
    int p = (int)(intptr_t)arg;
    unsigned seed = (unsigned)p * 977u + 1u;
    for (int i = 0; i < PER_PRODUCER; i++) {
        long item = (long)p * 1000000L + i;
        pthread_mutex_lock(&qm);
        while (count == CAP)
            pthread_cond_wait(&not_full, &qm);
        ring[(head + count) % CAP] = item;
        count++;
        wake(&not_empty);
        pthread_mutex_unlock(&qm);
        if (lcg_next(&seed) % 16 == 0)
            pause_rand(&seed);
    }
    pthread_mutex_lock(&qm);
    producers_left--;
    pthread_cond_broadcast(&not_empty); /* consumers may stop */
    pthread_mutex_unlock(&qm);
    return NULL;
}

static void *consumer(void *arg)
{
    int c = (int)(intptr_t)arg;
    unsigned seed = (unsigned)c * 613u + 7u;
    int last[NP];
    for (int p = 0; p < NP; p++)
        last[p] = -1;
    for (;;) {
        pthread_mutex_lock(&qm);
        while (count == 0 && producers_left > 0)
            pthread_cond_wait(&not_empty, &qm);
        if (count == 0) { /* empty and no producer left */
            pthread_mutex_unlock(&qm);
            break;
        }
        long item = ring[head];
        head = (head + 1) % CAP;
        count--;
        wake(&not_full);
        pthread_mutex_unlock(&qm);

        int p = (int)(item / 1000000L), i = (int)(item % 1000000L);
        if (p < 0 || p >= NP || i < 0 || i >= PER_PRODUCER) {
            TCHECK(0, "consumer %d: bad item %ld", c, item);
            continue;
        }
        TCHECK(i > last[p], "consumer %d: producer %d's item %d after %d", c, p, i, last[p]);
        last[p] = i;
        __atomic_fetch_add(&seen[p][i], 1, __ATOMIC_RELAXED);
        consumed_sum[c] += item;
        consumed_n[c]++;
        if (lcg_next(&seed) % 16 == 0)
            pause_rand(&seed);
    }
    return NULL;
}

static void queue(int broadcast)
{
    int before = failures;
    pthread_t pt[NP], ct[NC];
    use_broadcast = broadcast;
    head = count = 0;
    producers_left = NP;
    memset(seen, 0, sizeof seen);
    memset(consumed_sum, 0, sizeof consumed_sum);
    memset(consumed_n, 0, sizeof consumed_n);
    for (int c = 0; c < NC; c++)
        EXPECT_ERR(pthread_create(&ct[c], NULL, consumer, (void *)(intptr_t)c), 0);
    for (int p = 0; p < NP; p++)
        EXPECT_ERR(pthread_create(&pt[p], NULL, producer, (void *)(intptr_t)p), 0);
    for (int p = 0; p < NP; p++)
        EXPECT_ERR(pthread_join(pt[p], NULL), 0);
    for (int c = 0; c < NC; c++)
        EXPECT_ERR(pthread_join(ct[c], NULL), 0);

    long n = 0, sum = 0, want_sum = 0;
    for (int c = 0; c < NC; c++) {
        n += consumed_n[c];
        sum += consumed_sum[c];
    }
    int bad = 0;
    for (int p = 0; p < NP; p++)
        for (int i = 0; i < PER_PRODUCER; i++) {
            want_sum += (long)p * 1000000L + i;
            bad += seen[p][i] != 1;
        }
    CHECK(n == NP * PER_PRODUCER, "queue (%s): %ld items consumed, expected %d", broadcast ? "broadcast" : "signal",
          n, NP * PER_PRODUCER);
    CHECK(sum == want_sum, "queue (%s): sum %ld, expected %ld", broadcast ? "broadcast" : "signal", sum, want_sum);
    CHECK(bad == 0, "queue (%s): %d items not consumed exactly once", broadcast ? "broadcast" : "signal", bad);
    CHECK(count == 0, "queue left with %d items", count);
    if (failures == before)
        printf("ok bounded queue (%s): %d producers x %d items, %d consumers, each item once, in order per producer\n",
               broadcast ? "broadcast" : "signal", NP, PER_PRODUCER, NC);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    pingpong();
    queue(0);
    queue(1);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
