// blitz-timeout: 60
// Read-write locks as NPTL (glibc 2.36), on PTHREAD_RWLOCK_INITIALIZER, on
// pthread_rwlock_init(NULL) and on a PREFER_WRITER_NONRECURSIVE_NP lock:
// readers share (a reader holding it twice, others tryrdlock), a writer
// excludes (trywrlock/tryrdlock EBUSY, timed/clock rd/wr locks ETIMEDOUT never
// early, expired deadlines ETIMEDOUT), the write holder's own wrlock/rdlock
// (plain, timed, clock) EDEADLK, bad tv_nsec and invalid clocks EINVAL even on
// a free lock (which stays free), readers and writers that wait for a holder
// who sleeps.  Four readers inside at once.  Stress: 12 threads x 400 random
// read/write operations through every locking call, with random yields and
// sleeps while holding, checked with in-counters and a 16-word record a writer
// updates one word at a time (a reader must never see it torn).  A writer is
// not starved by a stream of readers on a PREFER_WRITER_NONRECURSIVE_NP lock
// (bounded: the readers give up after 10 s).
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

static void wait_flag(int *flag)
{
    for (int i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        nap_ms(1);
}

/* --- an operation made by a fresh thread --------------------------------------------- */

enum {
    OP_TRYRD, OP_TRYWR,        /* released again on success */
    OP_TIMEDRD_30, OP_TIMEDWR_30,
    OP_CLOCKRD_MONO_30, OP_CLOCKWR_MONO_30,
    OP_CLOCKRD_RT_30, OP_CLOCKWR_RT_30,
    OP_TIMEDRD_PAST, OP_TIMEDWR_PAST,
};

struct opreq {
    pthread_rwlock_t *l;
    int op, rc, early;
};

static void *op_thread(void *arg)
{
    struct opreq *r = arg;
    struct timespec dl = { 0, 0 };
    clockid_t c = CLOCK_REALTIME;
    switch (r->op) {
    case OP_TRYRD: r->rc = pthread_rwlock_tryrdlock(r->l); break;
    case OP_TRYWR: r->rc = pthread_rwlock_trywrlock(r->l); break;
    case OP_TIMEDRD_30:
        dl = deadline_ms(c, 30);
        r->rc = pthread_rwlock_timedrdlock(r->l, &dl);
        break;
    case OP_TIMEDWR_30:
        dl = deadline_ms(c, 30);
        r->rc = pthread_rwlock_timedwrlock(r->l, &dl);
        break;
    case OP_CLOCKRD_MONO_30:
        c = CLOCK_MONOTONIC;
        dl = deadline_ms(c, 30);
        r->rc = pthread_rwlock_clockrdlock(r->l, c, &dl);
        break;
    case OP_CLOCKWR_MONO_30:
        c = CLOCK_MONOTONIC;
        dl = deadline_ms(c, 30);
        r->rc = pthread_rwlock_clockwrlock(r->l, c, &dl);
        break;
    case OP_CLOCKRD_RT_30:
        dl = deadline_ms(c, 30);
        r->rc = pthread_rwlock_clockrdlock(r->l, c, &dl);
        break;
    case OP_CLOCKWR_RT_30:
        dl = deadline_ms(c, 30);
        r->rc = pthread_rwlock_clockwrlock(r->l, c, &dl);
        break;
    case OP_TIMEDRD_PAST:
        dl = deadline_ms(c, -1000);
        r->rc = pthread_rwlock_timedrdlock(r->l, &dl);
        break;
    case OP_TIMEDWR_PAST:
        dl = deadline_ms(c, -1000);
        r->rc = pthread_rwlock_timedwrlock(r->l, &dl);
        break;
    }
    if (r->rc == ETIMEDOUT && !reached(c, dl))
        r->early = 1;
    if (r->rc == 0)
        pthread_rwlock_unlock(r->l);
    return NULL;
}

static int other(pthread_rwlock_t *l, int op)
{
    struct opreq r = { l, op, -1, 0 };
    pthread_t t;
    if (pthread_create(&t, NULL, op_thread, &r) != 0 || pthread_join(t, NULL) != 0) {
        printf("FAIL: could not run a helper thread\n");
        failures++;
        return -1;
    }
    if (r.early) {
        printf("FAIL: operation %d answered ETIMEDOUT before its deadline\n", op);
        failures++;
    }
    return r.rc;
}

/* --- a thread that waits for main's hold ------------------------------------------------- */

enum { W_RD, W_WR, W_TIMEDRD, W_TIMEDWR, W_CLOCKRD, W_CLOCKWR };

struct waitreq {
    pthread_rwlock_t *l;
    int how, arrived, acquired, rc;
};

static void *waiter(void *arg)
{
    struct waitreq *w = arg;
    struct timespec dl;
    __atomic_store_n(&w->arrived, 1, __ATOMIC_RELEASE);
    switch (w->how) {
    case W_RD: w->rc = pthread_rwlock_rdlock(w->l); break;
    case W_WR: w->rc = pthread_rwlock_wrlock(w->l); break;
    case W_TIMEDRD:
        dl = deadline_ms(CLOCK_REALTIME, 10000);
        w->rc = pthread_rwlock_timedrdlock(w->l, &dl);
        break;
    case W_TIMEDWR:
        dl = deadline_ms(CLOCK_REALTIME, 10000);
        w->rc = pthread_rwlock_timedwrlock(w->l, &dl);
        break;
    case W_CLOCKRD:
        dl = deadline_ms(CLOCK_MONOTONIC, 10000);
        w->rc = pthread_rwlock_clockrdlock(w->l, CLOCK_MONOTONIC, &dl);
        break;
    default:
        dl = deadline_ms(CLOCK_MONOTONIC, 10000);
        w->rc = pthread_rwlock_clockwrlock(w->l, CLOCK_MONOTONIC, &dl);
        break;
    }
    if (w->rc == 0) {
        __atomic_store_n(&w->acquired, 1, __ATOMIC_RELEASE);
        pthread_rwlock_unlock(w->l);
    }
    return NULL;
}

/* main holds l (write or read), a thread waits `how`, main sleeps, releases */
static void check_wait(const char *name, pthread_rwlock_t *l, int main_writes, int how)
{
    struct waitreq w = { l, how, 0, 0, -1 };
    pthread_t t;
    EXPECT_ERR(main_writes ? pthread_rwlock_wrlock(l) : pthread_rwlock_rdlock(l), 0);
    EXPECT_ERR(pthread_create(&t, NULL, waiter, &w), 0);
    wait_flag(&w.arrived);
    nap_ms(15);
    CHECK(!__atomic_load_n(&w.acquired, __ATOMIC_ACQUIRE), "%s: way %d got in while main held it (%s)", name, how,
          main_writes ? "write" : "read");
    EXPECT_ERR(pthread_rwlock_unlock(l), 0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(w.rc == 0 && w.acquired, "%s: waiter (way %d) answered %d", name, how, w.rc);
}

static void check_lock(const char *name, pthread_rwlock_t *l)
{
    int before = failures;
    struct timespec dl;

    /* free: invalid timeouts and clocks are refused at once and leave it free */
    dl = deadline_ms(CLOCK_REALTIME, 1000);
    dl.tv_nsec = 1000000000L;
    EXPECT_ERR(pthread_rwlock_timedrdlock(l, &dl), EINVAL);
    EXPECT_ERR(pthread_rwlock_timedwrlock(l, &dl), EINVAL);
    dl.tv_nsec = -1;
    EXPECT_ERR(pthread_rwlock_timedrdlock(l, &dl), EINVAL);
    EXPECT_ERR(pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, &dl), EINVAL);
    dl = deadline_ms(CLOCK_MONOTONIC, 1000);
    EXPECT_ERR(pthread_rwlock_clockrdlock(l, (clockid_t)12345, &dl), EINVAL);
    EXPECT_ERR(pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC_RAW, &dl), EINVAL);
    EXPECT_ERR(pthread_rwlock_clockrdlock(l, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    EXPECT_ERR(other(l, OP_TRYWR), 0);
    dl = deadline_ms(CLOCK_REALTIME, -1000);
    EXPECT_ERR(pthread_rwlock_timedwrlock(l, &dl), 0); /* free: the deadline does not matter */
    EXPECT_ERR(pthread_rwlock_unlock(l), 0);
    EXPECT_ERR(pthread_rwlock_timedrdlock(l, &dl), 0);
    EXPECT_ERR(pthread_rwlock_unlock(l), 0);

    /* read-held by main, twice */
    EXPECT_ERR(pthread_rwlock_rdlock(l), 0);
    EXPECT_ERR(pthread_rwlock_tryrdlock(l), 0);
    EXPECT_ERR(other(l, OP_TRYRD), 0);
    EXPECT_ERR(other(l, OP_TIMEDRD_30), 0);
    EXPECT_ERR(other(l, OP_CLOCKRD_MONO_30), 0);
    EXPECT_ERR(other(l, OP_TRYWR), EBUSY);
    EXPECT_ERR(other(l, OP_TIMEDWR_PAST), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_TIMEDWR_30), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_CLOCKWR_MONO_30), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_CLOCKWR_RT_30), ETIMEDOUT);
    EXPECT_ERR(pthread_rwlock_trywrlock(l), EBUSY); /* its own upgrade */
    EXPECT_ERR(pthread_rwlock_unlock(l), 0);
    EXPECT_ERR(other(l, OP_TRYWR), EBUSY);
    EXPECT_ERR(pthread_rwlock_unlock(l), 0);
    EXPECT_ERR(other(l, OP_TRYWR), 0);

    /* write-held by main */
    EXPECT_ERR(pthread_rwlock_wrlock(l), 0);
    EXPECT_ERR(pthread_rwlock_wrlock(l), EDEADLK);
    EXPECT_ERR(pthread_rwlock_rdlock(l), EDEADLK);
    dl = deadline_ms(CLOCK_REALTIME, 20);
    EXPECT_ERR(pthread_rwlock_timedwrlock(l, &dl), EDEADLK);
    EXPECT_ERR(pthread_rwlock_timedrdlock(l, &dl), EDEADLK);
    dl = deadline_ms(CLOCK_MONOTONIC, -1000);
    EXPECT_ERR(pthread_rwlock_clockwrlock(l, CLOCK_MONOTONIC, &dl), EDEADLK);
    EXPECT_ERR(pthread_rwlock_clockrdlock(l, CLOCK_MONOTONIC, &dl), EDEADLK);
    EXPECT_ERR(pthread_rwlock_trywrlock(l), EBUSY);
    EXPECT_ERR(pthread_rwlock_tryrdlock(l), EBUSY);
    EXPECT_ERR(other(l, OP_TRYRD), EBUSY);
    EXPECT_ERR(other(l, OP_TRYWR), EBUSY);
    EXPECT_ERR(other(l, OP_TIMEDRD_PAST), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_TIMEDRD_30), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_TIMEDWR_30), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_CLOCKRD_MONO_30), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_CLOCKRD_RT_30), ETIMEDOUT);
    EXPECT_ERR(other(l, OP_CLOCKWR_RT_30), ETIMEDOUT);
    EXPECT_ERR(pthread_rwlock_unlock(l), 0);
    EXPECT_ERR(other(l, OP_TRYRD), 0);
    EXPECT_ERR(other(l, OP_TRYWR), 0);

    /* waiting for a holder who sleeps */
    check_wait(name, l, 1, W_RD);
    check_wait(name, l, 1, W_WR);
    check_wait(name, l, 0, W_WR);
    check_wait(name, l, 1, W_TIMEDRD);
    check_wait(name, l, 0, W_TIMEDWR);
    check_wait(name, l, 1, W_CLOCKRD);
    check_wait(name, l, 1, W_CLOCKWR);
    if (failures == before)
        printf("ok %s\n", name);
}

static pthread_rwlock_t s_lock = PTHREAD_RWLOCK_INITIALIZER;

static void conformance(void)
{
    pthread_rwlockattr_t a;
    pthread_rwlock_t l;
    int v = -1;
    EXPECT_ERR(pthread_rwlockattr_init(&a), 0);
    EXPECT_ERR(pthread_rwlockattr_getkind_np(&a, &v), 0);
    EXPECT(v, PTHREAD_RWLOCK_PREFER_READER_NP);
    EXPECT_ERR(pthread_rwlockattr_getpshared(&a, &v), 0);
    EXPECT(v, PTHREAD_PROCESS_PRIVATE);
    EXPECT_ERR(pthread_rwlockattr_setkind_np(&a, 99), EINVAL);
    EXPECT_ERR(pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP), 0);
    EXPECT_ERR(pthread_rwlockattr_getkind_np(&a, &v), 0);
    EXPECT(v, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);

    check_lock("PTHREAD_RWLOCK_INITIALIZER", &s_lock);
    EXPECT_ERR(pthread_rwlock_init(&l, NULL), 0);
    check_lock("pthread_rwlock_init(NULL attributes)", &l);
    EXPECT_ERR(pthread_rwlock_destroy(&l), 0);
    EXPECT_ERR(pthread_rwlock_init(&l, &a), 0);
    check_lock("PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP", &l);
    EXPECT_ERR(pthread_rwlock_destroy(&l), 0);
    pthread_rwlockattr_destroy(&a);
}

/* --- readers share ---------------------------------------------------------------------- */

#define NSHARE 4
static pthread_rwlock_t share_l = PTHREAD_RWLOCK_INITIALIZER;
static int share_in, share_max; /* atomics */

static void *sharer(void *arg)
{
    if (pthread_rwlock_rdlock(&share_l) != 0)
        return (void *)1;
    int n = __atomic_add_fetch(&share_in, 1, __ATOMIC_ACQ_REL);
    for (int i = 0; i < 10000 && __atomic_load_n(&share_in, __ATOMIC_ACQUIRE) < NSHARE; i++)
        nap_ms(1); /* holding the read lock until every reader is inside */
    n = __atomic_load_n(&share_in, __ATOMIC_ACQUIRE);
    int m = __atomic_load_n(&share_max, __ATOMIC_RELAXED);
    while (n > m && !__atomic_compare_exchange_n(&share_max, &m, n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    nap_ms(5);
    pthread_rwlock_unlock(&share_l);
    return NULL;
}

static void readers_share(void)
{
    int before = failures;
    pthread_t t[NSHARE];
    for (int i = 0; i < NSHARE; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, sharer, NULL), 0);
    for (int i = 0; i < NSHARE; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(share_max == NSHARE, "readers share: at most %d of %d inside at once", share_max, NSHARE);
    EXPECT_ERR(pthread_rwlock_trywrlock(&share_l), 0);
    EXPECT_ERR(pthread_rwlock_unlock(&share_l), 0);
    if (failures == before)
        printf("ok %d readers hold the read lock at once\n", NSHARE);
}

/* --- stress ------------------------------------------------------------------------------ */

#define NST 12
#define OPS 400
#define WORDS 16
static pthread_rwlock_t st_l = PTHREAD_RWLOCK_INITIALIZER;
static int readers_in, writers_in; /* atomics */
static long record[WORDS];
static long writes_done; /* under the write lock */

static int take(int write, unsigned *seed)
{
    unsigned way = lcg_next(seed) % 8;
    struct timespec dl;
    if (way < 4)
        return write ? pthread_rwlock_wrlock(&st_l) : pthread_rwlock_rdlock(&st_l);
    if (way < 6) {
        for (int i = 0; i < 100000; i++) {
            int rc = write ? pthread_rwlock_trywrlock(&st_l) : pthread_rwlock_tryrdlock(&st_l);
            if (rc != EBUSY)
                return rc;
            sched_yield();
        }
        return write ? pthread_rwlock_wrlock(&st_l) : pthread_rwlock_rdlock(&st_l);
    }
    if (way == 6) {
        dl = deadline_ms(CLOCK_REALTIME, 20000);
        return write ? pthread_rwlock_timedwrlock(&st_l, &dl) : pthread_rwlock_timedrdlock(&st_l, &dl);
    }
    dl = deadline_ms(CLOCK_MONOTONIC, 20000);
    return write ? pthread_rwlock_clockwrlock(&st_l, CLOCK_MONOTONIC, &dl)
                 : pthread_rwlock_clockrdlock(&st_l, CLOCK_MONOTONIC, &dl);
}

static void *stresser(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me * 48271u + 11u;
    int writer_bias = me < 4; /* 4 mostly-writers */
    for (int i = 0; i < OPS; i++) {
        int write = (int)(lcg_next(&seed) % 8) < (writer_bias ? 5 : 1);
        int rc = take(write, &seed);
        if (rc != 0) {
            TCHECK(0, "stress thread %d: %s lock answered %d", me, write ? "write" : "read", rc);
            return NULL;
        }
        if (write) {
            int w = __atomic_add_fetch(&writers_in, 1, __ATOMIC_ACQ_REL);
            int r = __atomic_load_n(&readers_in, __ATOMIC_ACQUIRE);
            TCHECK(w == 1 && r == 0, "stress: writer %d inside with %d writers, %d readers", me, w, r);
            long v = record[0];
            for (int k = 0; k < WORDS; k++) {
                TCHECK(record[k] == v, "stress: writer %d found word %d = %ld, word 0 = %ld", me, k, record[k], v);
                record[k] = v + 1;
                if (k % 8 == 7 && lcg_next(&seed) % 4 == 0)
                    pause_rand(&seed);
            }
            writes_done++;
            __atomic_sub_fetch(&writers_in, 1, __ATOMIC_ACQ_REL);
        } else {
            __atomic_add_fetch(&readers_in, 1, __ATOMIC_ACQ_REL);
            int w = __atomic_load_n(&writers_in, __ATOMIC_ACQUIRE);
            TCHECK(w == 0, "stress: reader %d inside with %d writers", me, w);
            long v = __atomic_load_n(&record[0], __ATOMIC_RELAXED);
            if (lcg_next(&seed) % 4 == 0)
                pause_rand(&seed);
            for (int k = 1; k < WORDS; k++) {
                long x = __atomic_load_n(&record[k], __ATOMIC_RELAXED);
                TCHECK(x == v, "stress: reader %d saw a torn record: word %d = %ld, word 0 = %ld", me, k, x, v);
            }
            __atomic_sub_fetch(&readers_in, 1, __ATOMIC_ACQ_REL);
        }
        TCHECK(pthread_rwlock_unlock(&st_l) == 0, "stress thread %d: unlock failed", me);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
    }
    return NULL;
}

static void stress(void)
{
    int before = failures;
    pthread_t t[NST];
    for (int i = 0; i < NST; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, stresser, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NST; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(record[0] == writes_done && record[WORDS - 1] == writes_done, "stress: record %ld/%ld after %ld writes",
          record[0], record[WORDS - 1], writes_done);
    CHECK(readers_in == 0 && writers_in == 0, "stress: %d readers, %d writers left inside", readers_in, writers_in);
    if (failures == before)
        printf("ok stress: %d threads x %d read/write operations with yields and sleeps while holding\n", NST, OPS);
}

/* --- a writer and a stream of readers (prefer writer) -------------------------------------- */

#define NSTREAM 4
#define WRITES 10
static pthread_rwlock_t pw_l;
static int stop_readers;           /* atomic */
static long reads;                 /* atomic */
static int readers_gave_up;        /* atomic */
static int writer_got[WRITES];

static void *stream_reader(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me + 100u;
    long long end = now_ns() + 10 * 1000000000LL;
    while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
        if (now_ns() > end) {
            __atomic_fetch_add(&readers_gave_up, 1, __ATOMIC_RELAXED);
            break;
        }
        if (pthread_rwlock_rdlock(&pw_l) != 0) {
            TCHECK(0, "stream reader %d: rdlock failed", me);
            break;
        }
        __atomic_fetch_add(&reads, 1, __ATOMIC_RELAXED);
        nap_us(100 + lcg_next(&seed) % 200); /* readers overlap all the time */
        pthread_rwlock_unlock(&pw_l);
        if (lcg_next(&seed) % 4 == 0)
            sched_yield();
    }
    return NULL;
}

static void *stream_writer(void *arg)
{
    for (int i = 0; i < 10000 && __atomic_load_n(&reads, __ATOMIC_RELAXED) < 50; i++)
        nap_ms(1);
    for (int i = 0; i < WRITES; i++) {
        if (pthread_rwlock_wrlock(&pw_l) != 0)
            break;
        writer_got[i] = !__atomic_load_n(&readers_gave_up, __ATOMIC_RELAXED); /* readers still streaming */
        pthread_rwlock_unlock(&pw_l);
        nap_ms(2);
    }
    __atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void prefer_writer(void)
{
    int before = failures;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    EXPECT_ERR(pthread_rwlock_init(&pw_l, &a), 0);
    pthread_rwlockattr_destroy(&a);
    pthread_t r[NSTREAM], w;
    for (int i = 0; i < NSTREAM; i++)
        EXPECT_ERR(pthread_create(&r[i], NULL, stream_reader, (void *)(intptr_t)i), 0);
    EXPECT_ERR(pthread_create(&w, NULL, stream_writer, NULL), 0);
    EXPECT_ERR(pthread_join(w, NULL), 0);
    for (int i = 0; i < NSTREAM; i++)
        EXPECT_ERR(pthread_join(r[i], NULL), 0);
    int got = 0;
    for (int i = 0; i < WRITES; i++)
        got += writer_got[i];
    CHECK(got == WRITES && readers_gave_up == 0,
          "prefer-writer: the writer got in %d of %d times while readers streamed (%d readers gave up)", got, WRITES,
          readers_gave_up);
    EXPECT_ERR(pthread_rwlock_destroy(&pw_l), 0);
    if (failures == before)
        printf("ok PREFER_WRITER_NONRECURSIVE_NP: a writer gets in %d times through a stream of %d readers\n", WRITES,
               NSTREAM);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    conformance();
    readers_share();
    stress();
    prefer_writer();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
