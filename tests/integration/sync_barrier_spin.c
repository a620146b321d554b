// blitz-timeout: 60
// Barriers and spin locks as NPTL (glibc 2.36).  Barriers: attribute checks,
// count 0 EINVAL, count 1 answers PTHREAD_BARRIER_SERIAL_THREAD every time;
// 8 threads x 200 cycles on one barrier: every cycle exactly one thread gets
// PTHREAD_BARRIER_SERIAL_THREAD, the others 0, and nobody leaves a cycle before
// everybody arrived (arrival marks); arrivals in random order (yields/sleeps);
// then the barrier is destroyed, initialised again for 3 threads and reused.
// Spin locks: init/lock/trylock (EBUSY, also from another thread)/unlock/
// destroy; 4 threads x 1,000 increments under one spin lock, the holder now and
// then calling sched_yield() or nanosleep while holding it -- with green threads on
// one worker a spinner that never yields would spin forever while the holder
// waits for the worker -- counts and an owner tag verified.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

/* --- barriers ---------------------------------------------------------------------------- */

#define NB 8
#define CYCLES 200
static pthread_barrier_t bar;
static int arrived[NB][CYCLES];  /* atomics */
static int serials[CYCLES];      /* atomics */
static int others[CYCLES];       /* atomics: threads answered 0 */

struct bargs {
    int me, n, cycles;
};

static void *barrier_thread(void *arg)
{
    struct bargs *b = arg;
    unsigned seed = (unsigned)b->me * 7u + 3u;
    for (int c = 0; c < b->cycles; c++) {
        if (lcg_next(&seed) % 4 == 0)
            pause_rand(&seed);
        __atomic_store_n(&arrived[b->me][c], 1, __ATOMIC_RELEASE);
        int rc = pthread_barrier_wait(&bar);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            __atomic_fetch_add(&serials[c], 1, __ATOMIC_RELAXED);
        else if (rc == 0)
            __atomic_fetch_add(&others[c], 1, __ATOMIC_RELAXED);
        else
            TCHECK(0, "thread %d cycle %d: pthread_barrier_wait answered %d", b->me, c, rc);
        for (int k = 0; k < b->n; k++)
            TCHECK(__atomic_load_n(&arrived[k][c], __ATOMIC_ACQUIRE),
                   "thread %d left cycle %d before thread %d arrived", b->me, c, k);
    }
    return NULL;
}

static void run_barrier(int n, int cycles)
{
    pthread_t t[NB];
    struct bargs a[NB];
    for (int i = 0; i < n; i++) {
        a[i] = (struct bargs){ i, n, cycles };
        EXPECT_ERR(pthread_create(&t[i], NULL, barrier_thread, &a[i]), 0);
    }
    for (int i = 0; i < n; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    int bad = 0;
    for (int c = 0; c < cycles; c++)
        if (serials[c] != 1 || others[c] != n - 1) {
            if (bad++ < 5)
                CHECK(0, "%d threads, cycle %d: %d serial, %d zero", n, c, serials[c], others[c]);
        }
    CHECK(bad == 0, "%d threads: %d of %d cycles wrong", n, bad, cycles);
}

static void barriers(void)
{
    int before = failures;
    pthread_barrierattr_t a;
    int ps = -1;
    EXPECT_ERR(pthread_barrierattr_init(&a), 0);
    EXPECT_ERR(pthread_barrierattr_getpshared(&a, &ps), 0);
    EXPECT(ps, PTHREAD_PROCESS_PRIVATE);
    EXPECT_ERR(pthread_barrierattr_setpshared(&a, 5), EINVAL);
    EXPECT_ERR(pthread_barrier_init(&bar, &a, 0), EINVAL);
    EXPECT_ERR(pthread_barrier_init(&bar, NULL, 0), EINVAL);
    EXPECT_ERR(pthread_barrier_init(&bar, &a, 1), 0);
    for (int i = 0; i < 5; i++)
        EXPECT_ERR(pthread_barrier_wait(&bar), PTHREAD_BARRIER_SERIAL_THREAD);
    EXPECT_ERR(pthread_barrier_destroy(&bar), 0);
    pthread_barrierattr_destroy(&a);

    EXPECT_ERR(pthread_barrier_init(&bar, NULL, NB), 0);
    run_barrier(NB, CYCLES);
    EXPECT_ERR(pthread_barrier_destroy(&bar), 0);
    if (failures == before)
        printf("ok barrier: %d threads x %d cycles, one PTHREAD_BARRIER_SERIAL_THREAD per cycle\n", NB, CYCLES);

    before = failures;
    for (int k = 0; k < NB; k++)
        for (int c = 0; c < CYCLES; c++)
            arrived[k][c] = 0;
    for (int c = 0; c < CYCLES; c++)
        serials[c] = others[c] = 0;
    EXPECT_ERR(pthread_barrier_init(&bar, NULL, 3), 0);
    run_barrier(3, 50);
    EXPECT_ERR(pthread_barrier_destroy(&bar), 0);
    if (failures == before)
        printf("ok barrier destroyed and initialised again: 3 threads x 50 cycles\n");
}

/* --- spin locks ------------------------------------------------------------------------- */

#define NS 4
#define SPINS 1000
static pthread_spinlock_t sl;
static long spin_counter;
static int spin_owner = -1;

struct oparg {
    pthread_spinlock_t *l;
    int rc;
};

static void *try_spin(void *arg)
{
    struct oparg *o = arg;
    o->rc = pthread_spin_trylock(o->l);
    if (o->rc == 0)
        pthread_spin_unlock(o->l);
    return NULL;
}

static int other_trylock(pthread_spinlock_t *l)
{
    struct oparg o = { l, -1 };
    pthread_t t;
    if (pthread_create(&t, NULL, try_spin, &o) != 0 || pthread_join(t, NULL) != 0)
        return -1;
    return o.rc;
}

static void *spinner(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me * 1009u + 17u;
    for (int i = 0; i < SPINS; i++) {
        int rc = 0;
        if (lcg_next(&seed) % 4 == 0) {
            int tries = 0;
            while ((rc = pthread_spin_trylock(&sl)) == EBUSY && tries++ < 100000)
                sched_yield();
            if (rc == EBUSY)
                rc = pthread_spin_lock(&sl);
        } else
            rc = pthread_spin_lock(&sl);
        if (rc != 0) {
            TCHECK(0, "spinner %d: lock answered %d", me, rc);
            return NULL;
        }
        TCHECK(spin_owner == -1, "spinner %d got the lock while %d held it", me, spin_owner);
        spin_owner = me;
        long v = spin_counter;
        unsigned r = lcg_next(&seed);
        if (r % 64 == 0)
            sched_yield(); /* holding it */
        else if (r % 256 == 1)
            nap_us((long)(r / 256 % 50)); /* sleeping with it */
        spin_counter = v + 1;
        TCHECK(spin_owner == me, "spinner %d lost the lock to %d", me, spin_owner);
        spin_owner = -1;
        TCHECK(pthread_spin_unlock(&sl) == 0, "spinner %d: unlock failed", me);
        if (lcg_next(&seed) % 2 == 0)
            sched_yield();
    }
    return NULL;
}

static void spinlocks(void)
{
    int before = failures;
    pthread_spinlock_t l;
    EXPECT_ERR(pthread_spin_init(&l, PTHREAD_PROCESS_PRIVATE), 0);
    EXPECT_ERR(pthread_spin_lock(&l), 0);
    EXPECT_ERR(pthread_spin_trylock(&l), EBUSY);
    EXPECT_ERR(other_trylock(&l), EBUSY);
    EXPECT_ERR(pthread_spin_unlock(&l), 0);
    EXPECT_ERR(other_trylock(&l), 0);
    EXPECT_ERR(pthread_spin_trylock(&l), 0);
    EXPECT_ERR(pthread_spin_unlock(&l), 0);
    EXPECT_ERR(pthread_spin_destroy(&l), 0);
    EXPECT_ERR(pthread_spin_init(&l, PTHREAD_PROCESS_SHARED), 0);
    EXPECT_ERR(pthread_spin_lock(&l), 0);
    EXPECT_ERR(other_trylock(&l), EBUSY);
    EXPECT_ERR(pthread_spin_unlock(&l), 0);
    EXPECT_ERR(pthread_spin_destroy(&l), 0);
    if (failures == before)
        printf("ok spin lock: lock, trylock EBUSY, unlock\n");

    before = failures;
    EXPECT_ERR(pthread_spin_init(&sl, PTHREAD_PROCESS_PRIVATE), 0);
    pthread_t t[NS];
    for (int i = 0; i < NS; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, spinner, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NS; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(spin_counter == (long)NS * SPINS, "spin lock: counter %ld, expected %ld", spin_counter, (long)NS * SPINS);
    EXPECT_ERR(pthread_spin_destroy(&sl), 0);
    if (failures == before)
        printf("ok spin lock: %d threads x %d increments, yielding and sleeping while holding it\n", NS, SPINS);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    barriers();
    spinlocks();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
