// blitz-timeout: 60
// C11 <threads.h> as glibc 2.36: thrd_create/join (result codes, thrd_exit),
// thrd_detach, thrd_current/thrd_equal (and, as in glibc where thrd_t is a
// pthread_t, thrd_current() == pthread_self(), in main and in threads),
// thrd_sleep (never early; an invalid duration answers a negative value other
// than -1), thrd_yield; mtx_init for plain, timed, plain|recursive,
// timed|recursive: lock, trylock (thrd_busy from another thread, and from the
// owner of a non-recursive one), timedlock (thrd_timedout never early, from
// another thread), recursive counting, a thread waiting in mtx_lock/
// mtx_timedlock until the holder (sleeping) unlocks, 4 threads x 500
// increments; cnd_signal/broadcast/wait/timedwait (broadcast wakes 6 waiters,
// thrd_timedout never early, thrd_error for a bad tv_nsec with the mutex still
// held, a 500-round ping-pong); tss_create/get/set/delete with destructors run
// at thread exit with each thread's value; call_once from 8 threads runs its
// function once and every caller returns after it finished.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

#include "check.h"

static void wait_flag(int *flag)
{
    for (int i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        nap_ms(1);
}

/* TIME_UTC deadline in ms */
static struct timespec utc_in_ms(long ms)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    } else if (ts.tv_nsec < 0) {
        ts.tv_sec--;
        ts.tv_nsec += 1000000000L;
    }
    return ts;
}

/* --- threads ------------------------------------------------------------------------------ */

#define NT 8
static thrd_t self_seen[NT];
static int self_is_pthread_self[NT];
static int detached_done;

static int worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    self_seen[i] = thrd_current();
    self_is_pthread_self[i] = pthread_equal((pthread_t)thrd_current(), pthread_self()) != 0;
    thrd_yield();
    if (i == NT - 1)
        thrd_exit(1000 + i); /* same as returning it */
    return i * 3;
}

static int detached(void *arg)
{
    nap_ms(5);
    __atomic_store_n(&detached_done, 1, __ATOMIC_RELEASE);
    return 0;
}

static void threads(void)
{
    int before = failures;
    thrd_t t[NT];
    for (int i = 0; i < NT; i++)
        EXPECT(thrd_create(&t[i], worker, (void *)(intptr_t)i), thrd_success);
    for (int i = 0; i < NT; i++) {
        int res = -1;
        EXPECT(thrd_join(t[i], &res), thrd_success);
        EXPECT(res, i == NT - 1 ? 1000 + i : i * 3);
        CHECK(thrd_equal(self_seen[i], t[i]), "thread %d: thrd_current() differs from its handle", i);
        CHECK(!thrd_equal(thrd_current(), t[i]), "main's thrd_current() equals thread %d", i);
        CHECK(self_is_pthread_self[i], "thread %d: thrd_current() is not its pthread_self()", i);
    }
    CHECK(thrd_equal(thrd_current(), thrd_current()), "thrd_current() not equal to itself");
    CHECK(pthread_equal((pthread_t)thrd_current(), pthread_self()), "main: thrd_current() is not pthread_self()");
    thrd_t d;
    EXPECT(thrd_create(&d, detached, NULL), thrd_success);
    EXPECT(thrd_detach(d), thrd_success);
    wait_flag(&detached_done);
    CHECK(detached_done, "the detached thread did not run");

    struct timespec dur = { 0, 20 * 1000000L }, rem = { -1, -1 };
    long long t0 = now_ns();
    EXPECT(thrd_sleep(&dur, &rem), 0);
    CHECK(now_ns() - t0 >= 20 * 1000000LL, "thrd_sleep(20 ms) returned early");
    dur.tv_nsec = 1000000000L;
    int rc = thrd_sleep(&dur, NULL);
    CHECK(rc < -1, "thrd_sleep with tv_nsec 1e9 answered %d", rc);
    thrd_yield();
    if (failures == before)
        printf("ok thrd_create/join/exit/detach/current/equal/sleep/yield\n");
}

/* --- mutexes ------------------------------------------------------------------------------- */

struct mreq {
    mtx_t *m;
    int op; /* 0 trylock, 1 timedlock 30 ms, 2 lock, 3 timedlock 10 s */
    int arrived, acquired, rc, early;
};

static int mtx_op(void *arg)
{
    struct mreq *r = arg;
    struct timespec dl;
    __atomic_store_n(&r->arrived, 1, __ATOMIC_RELEASE);
    switch (r->op) {
    case 0: r->rc = mtx_trylock(r->m); break;
    case 1:
        dl = utc_in_ms(30);
        r->rc = mtx_timedlock(r->m, &dl);
        if (r->rc == thrd_timedout && !reached(CLOCK_REALTIME, dl))
            r->early = 1;
        break;
    case 2: r->rc = mtx_lock(r->m); break;
    default:
        dl = utc_in_ms(10000);
        r->rc = mtx_timedlock(r->m, &dl);
        break;
    }
    if (r->rc == thrd_success) {
        __atomic_store_n(&r->acquired, 1, __ATOMIC_RELEASE);
        mtx_unlock(r->m);
    }
    return 0;
}

static int other(mtx_t *m, int op)
{
    struct mreq r = { m, op, 0, 0, -1, 0 };
    thrd_t t;
    if (thrd_create(&t, mtx_op, &r) != thrd_success || thrd_join(t, NULL) != thrd_success) {
        printf("FAIL: could not run a helper thread\n");
        failures++;
        return -1;
    }
    CHECK(!r.early, "mtx_timedlock answered thrd_timedout before its deadline");
    return r.rc;
}

/* main holds m; a thread waits in mtx_lock (op 2) or mtx_timedlock (op 3) */
static void waits_for_holder(mtx_t *m, int op)
{
    struct mreq r = { m, op, 0, 0, -1, 0 };
    thrd_t t;
    EXPECT(mtx_lock(m), thrd_success);
    EXPECT(thrd_create(&t, mtx_op, &r), thrd_success);
    wait_flag(&r.arrived);
    nap_ms(15);
    CHECK(!__atomic_load_n(&r.acquired, __ATOMIC_ACQUIRE), "op %d got the mutex while main held it", op);
    EXPECT(mtx_unlock(m), thrd_success);
    EXPECT(thrd_join(t, NULL), thrd_success);
    CHECK(r.rc == thrd_success && r.acquired, "waiter (op %d) answered %d", op, r.rc);
}

static mtx_t cm;
static long ccount;

static int incrementer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 11u + 1u;
    for (int i = 0; i < 500; i++) {
        if (mtx_lock(&cm) != thrd_success) {
            TCHECK(0, "mtx_lock failed");
            return 1;
        }
        long v = ccount;
        if (lcg_next(&seed) % 4 == 0)
            pause_rand(&seed);
        ccount = v + 1;
        mtx_unlock(&cm);
        if (lcg_next(&seed) % 2 == 0)
            thrd_yield();
    }
    return 0;
}

static void mutexes(void)
{
    static const struct {
        const char *name;
        int type;
    } types[] = {
        { "mtx_plain", mtx_plain },
        { "mtx_timed", mtx_timed },
        { "mtx_plain | mtx_recursive", mtx_plain | mtx_recursive },
        { "mtx_timed | mtx_recursive", mtx_timed | mtx_recursive },
    };
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        int before = failures;
        int timed = (types[k].type & mtx_timed) != 0, rec = (types[k].type & mtx_recursive) != 0;
        mtx_t m;
        EXPECT(mtx_init(&m, types[k].type), thrd_success);
        EXPECT(other(&m, 0), thrd_success);
        EXPECT(mtx_lock(&m), thrd_success);
        EXPECT(other(&m, 0), thrd_busy);
        if (timed)
            EXPECT(other(&m, 1), thrd_timedout);
        if (rec) {
            EXPECT(mtx_lock(&m), thrd_success);
            EXPECT(mtx_trylock(&m), thrd_success);
            if (timed) {
                struct timespec dl = utc_in_ms(-1000);
                EXPECT(mtx_timedlock(&m, &dl), thrd_success);
                EXPECT(mtx_unlock(&m), thrd_success);
            }
            EXPECT(mtx_unlock(&m), thrd_success);
            EXPECT(other(&m, 0), thrd_busy);
            EXPECT(mtx_unlock(&m), thrd_success);
            EXPECT(other(&m, 0), thrd_busy);
        } else {
            EXPECT(mtx_trylock(&m), thrd_busy);
            if (timed) {
                struct timespec dl = utc_in_ms(-1000);
                EXPECT(mtx_timedlock(&m, &dl), thrd_timedout);
            }
        }
        EXPECT(mtx_unlock(&m), thrd_success);
        EXPECT(other(&m, 0), thrd_success);
        waits_for_holder(&m, 2);
        if (timed)
            waits_for_holder(&m, 3);
        mtx_destroy(&m);
        if (failures == before)
            printf("ok %s\n", types[k].name);
    }

    int before = failures;
    thrd_t t[4];
    EXPECT(mtx_init(&cm, mtx_plain), thrd_success);
    for (int i = 0; i < 4; i++)
        EXPECT(thrd_create(&t[i], incrementer, (void *)(intptr_t)i), thrd_success);
    for (int i = 0; i < 4; i++) {
        int res = -1;
        EXPECT(thrd_join(t[i], &res), thrd_success);
        EXPECT(res, 0);
    }
    CHECK(ccount == 2000, "4 x 500 increments under mtx_lock: %ld", ccount);
    mtx_destroy(&cm);
    if (failures == before)
        printf("ok mtx_lock: 4 threads x 500 increments\n");
}

/* --- condition variables ------------------------------------------------------------------- */

#define NW 6
static mtx_t qm;
static cnd_t qc, ping_c, pong_c;
static int gen, arrived, woken;
static long ball;

static int bwaiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    mtx_lock(&qm);
    int my = gen, rc = thrd_success;
    arrived++;
    while (gen == my && rc == thrd_success) {
        if (i % 2) {
            struct timespec dl = utc_in_ms(10000);
            rc = cnd_timedwait(&qc, &qm, &dl);
        } else
            rc = cnd_wait(&qc, &qm);
    }
    TCHECK(rc == thrd_success, "broadcast waiter %d: %d", i, rc);
    woken++;
    mtx_unlock(&qm);
    return 0;
}

static int ponger(void *arg)
{
    for (long i = 0; i < 500; i++) {
        mtx_lock(&qm);
        while (ball % 2 == 0)
            cnd_wait(&pong_c, &qm);
        TCHECK(ball == 2 * i + 1, "pong: %ld, expected %ld", ball, 2 * i + 1);
        ball++;
        cnd_signal(&ping_c);
        mtx_unlock(&qm);
    }
    return 0;
}

static void conditions(void)
{
    int before = failures;
    EXPECT(mtx_init(&qm, mtx_timed), thrd_success);
    EXPECT(cnd_init(&qc), thrd_success);
    EXPECT(cnd_init(&ping_c), thrd_success);
    EXPECT(cnd_init(&pong_c), thrd_success);

    /* timeouts and errors, with the mutex held on return */
    mtx_lock(&qm);
    struct timespec dl = utc_in_ms(-1000);
    EXPECT(cnd_timedwait(&qc, &qm, &dl), thrd_timedout);
    EXPECT(mtx_trylock(&qm), thrd_busy);
    dl = utc_in_ms(30);
    EXPECT(cnd_timedwait(&qc, &qm, &dl), thrd_timedout);
    CHECK(reached(CLOCK_REALTIME, dl), "cnd_timedwait returned before its deadline");
    EXPECT(mtx_trylock(&qm), thrd_busy);
    dl = utc_in_ms(1000);
    dl.tv_nsec = 1000000000L;
    EXPECT(cnd_timedwait(&qc, &qm, &dl), thrd_error);
    EXPECT(mtx_trylock(&qm), thrd_busy);
    mtx_unlock(&qm);
    EXPECT(cnd_signal(&qc), thrd_success); /* nobody waiting */
    EXPECT(cnd_broadcast(&qc), thrd_success);

    /* broadcast wakes every waiter */
    thrd_t t[NW];
    for (int i = 0; i < NW; i++)
        EXPECT(thrd_create(&t[i], bwaiter, (void *)(intptr_t)i), thrd_success);
    for (int i = 0; i < 10000; i++) {
        mtx_lock(&qm);
        int a = arrived;
        mtx_unlock(&qm);
        if (a == NW)
            break;
        nap_ms(1);
    }
    mtx_lock(&qm);
    CHECK(arrived == NW && woken == 0, "%d waiting, %d woken before the broadcast", arrived, woken);
    gen++;
    EXPECT(cnd_broadcast(&qc), thrd_success);
    mtx_unlock(&qm);
    for (int i = 0; i < NW; i++)
        EXPECT(thrd_join(t[i], NULL), thrd_success);
    CHECK(woken == NW, "cnd_broadcast woke %d of %d", woken, NW);

    /* ping-pong with cnd_signal */
    thrd_t p;
    EXPECT(thrd_create(&p, ponger, NULL), thrd_success);
    for (long i = 0; i < 500; i++) {
        mtx_lock(&qm);
        while (ball % 2 == 1)
            cnd_wait(&ping_c, &qm);
        CHECK(ball == 2 * i, "ping: %ld, expected %ld", ball, 2 * i);
        ball++;
        cnd_signal(&pong_c);
        mtx_unlock(&qm);
    }
    EXPECT(thrd_join(p, NULL), thrd_success);
    CHECK(ball == 1000, "ping-pong: %ld", ball);

    cnd_destroy(&qc);
    cnd_destroy(&ping_c);
    cnd_destroy(&pong_c);
    mtx_destroy(&qm);
    if (failures == before)
        printf("ok cnd_wait/timedwait/signal/broadcast: thrd_timedout, thrd_error, %d waiters woken, ping-pong\n", NW);
}

/* --- thread-specific storage ------------------------------------------------------------------ */

static tss_t key, key_nodtor;
static int dtor_calls, dtor_sum; /* atomics */

static void dtor(void *v)
{
    __atomic_fetch_add(&dtor_calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&dtor_sum, *(int *)v, __ATOMIC_RELAXED);
    free(v);
}

static int tss_user(void *arg)
{
    int i = (int)(intptr_t)arg;
    if (tss_get(key) != NULL)
        return 1;
    int *v = malloc(sizeof *v);
    if (!v)
        return 2;
    *v = 100 + i;
    if (tss_set(key, v) != thrd_success || tss_set(key_nodtor, (void *)(intptr_t)(i + 1)) != thrd_success)
        return 3;
    unsigned seed = (unsigned)i + 1u;
    for (int k = 0; k < 50; k++) {
        pause_rand(&seed);
        if (tss_get(key) != v || tss_get(key_nodtor) != (void *)(intptr_t)(i + 1))
            return 4;
    }
    return 0;
}

static void tss(void)
{
    int before = failures;
    EXPECT(tss_create(&key, dtor), thrd_success);
    EXPECT(tss_create(&key_nodtor, NULL), thrd_success);
    CHECK(tss_get(key) == NULL, "tss_get in main: not NULL before tss_set");
    int mine = 7;
    EXPECT(tss_set(key_nodtor, &mine), thrd_success);
    thrd_t t[NT];
    for (int i = 0; i < NT; i++)
        EXPECT(thrd_create(&t[i], tss_user, (void *)(intptr_t)i), thrd_success);
    for (int i = 0; i < NT; i++) {
        int res = -1;
        EXPECT(thrd_join(t[i], &res), thrd_success);
        CHECK(res == 0, "tss thread %d: step %d failed", i, res);
    }
    CHECK(tss_get(key_nodtor) == &mine, "main's tss value changed");
    int want = 0;
    for (int i = 0; i < NT; i++)
        want += 100 + i;
    CHECK(dtor_calls == NT && dtor_sum == want, "tss destructors: %d calls, sum %d (want %d, %d)", dtor_calls,
          dtor_sum, NT, want);
    tss_delete(key);
    tss_delete(key_nodtor);
    if (failures == before)
        printf("ok tss_create/get/set/delete, destructors at thread exit\n");
}

/* --- call_once --------------------------------------------------------------------------- */

static once_flag once = ONCE_FLAG_INIT;
static int once_calls, once_finished; /* atomics */
static int saw_finished[NT];

static void once_fn(void)
{
    __atomic_fetch_add(&once_calls, 1, __ATOMIC_RELAXED);
    nap_ms(10); /* the others arrive meanwhile */
    __atomic_store_n(&once_finished, 1, __ATOMIC_RELEASE);
}

static int once_user(void *arg)
{
    int i = (int)(intptr_t)arg;
    call_once(&once, once_fn);
    saw_finished[i] = __atomic_load_n(&once_finished, __ATOMIC_ACQUIRE);
    return 0;
}

static void once_test(void)
{
    int before = failures;
    thrd_t t[NT];
    for (int i = 0; i < NT; i++)
        EXPECT(thrd_create(&t[i], once_user, (void *)(intptr_t)i), thrd_success);
    for (int i = 0; i < NT; i++)
        EXPECT(thrd_join(t[i], NULL), thrd_success);
    call_once(&once, once_fn);
    EXPECT(once_calls, 1);
    for (int i = 0; i < NT; i++)
        CHECK(saw_finished[i], "thread %d returned from call_once before the function finished", i);
    if (failures == before)
        printf("ok call_once: once for %d threads, all return after it finished\n", NT + 1);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    threads();
    mutexes();
    conditions();
    tss();
    once_test();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
