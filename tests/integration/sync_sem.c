// blitz-timeout: 60
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS (errno read through an address the compiler keeps across blocking calls)
// POSIX semaphores as glibc 2.36.  Unnamed: sem_init above SEM_VALUE_MAX
// EINVAL; getvalue; trywait EAGAIN; timedwait (CLOCK_REALTIME) and clockwait
// (MONOTONIC, REALTIME) ETIMEDOUT never early, at once when expired, EINVAL for
// a bad tv_nsec (even when the value is positive: glibc checks first) or clock,
// 0 when a unit is there; sem_post at SEM_VALUE_MAX EOVERFLOW; threads waiting
// in sem_wait/timedwait/clockwait until a post; a ping-pong of 2,000 round
// trips between two threads over two semaphores; a counting semaphore of 4
// shared by 16 threads x 200 acquisitions (never more than 4 inside, value back
// to 4).  Named: sem_open O_CREAT|O_EXCL with a name made unique by getpid(),
// EEXIST on a second exclusive create, opening it again by name, a forked child
// that opens it by name and posts while the parent waits (and the reverse),
// sem_close, sem_unlink, ENOENT after unlinking.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* -1/errno API: 0 on success, else errno */
#define SEMRC(call) ((call) == 0 ? 0 : errno)

static int value_of(sem_t *s)
{
    int v = -12345;
    if (sem_getvalue(s, &v) != 0)
        return -12345;
    return v;
}

static void wait_flag(int *flag)
{
    for (int i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        nap_ms(1);
}

/* --- conformance ---------------------------------------------------------------------- */

static void unnamed_basics(void)
{
    int before = failures;
    sem_t s;
    struct timespec dl;

    errno = 0;
    EXPECT(sem_init(&s, 0, (unsigned)SEM_VALUE_MAX + 1u), -1);
    EXPECT_ERR(errno, EINVAL);
    EXPECT_ERR(SEMRC(sem_init(&s, 0, 0)), 0);
    EXPECT(value_of(&s), 0);
    EXPECT_ERR(SEMRC(sem_trywait(&s)), EAGAIN);
    dl = deadline_ms(CLOCK_REALTIME, -1000);
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), ETIMEDOUT);
    dl = (struct timespec){ 0, 0 };
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), ETIMEDOUT);
    dl = deadline_ms(CLOCK_REALTIME, 30);
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), ETIMEDOUT);
    CHECK(reached(CLOCK_REALTIME, dl), "sem_timedwait returned before its deadline");
    dl = deadline_ms(CLOCK_MONOTONIC, 30);
    EXPECT_ERR(SEMRC(sem_clockwait(&s, CLOCK_MONOTONIC, &dl)), ETIMEDOUT);
    CHECK(reached(CLOCK_MONOTONIC, dl), "sem_clockwait (MONOTONIC) returned before its deadline");
    dl = deadline_ms(CLOCK_REALTIME, 30);
    EXPECT_ERR(SEMRC(sem_clockwait(&s, CLOCK_REALTIME, &dl)), ETIMEDOUT);
    CHECK(reached(CLOCK_REALTIME, dl), "sem_clockwait (REALTIME) returned before its deadline");
    dl = deadline_ms(CLOCK_MONOTONIC, -1);
    EXPECT_ERR(SEMRC(sem_clockwait(&s, CLOCK_MONOTONIC, &dl)), ETIMEDOUT);
    dl = deadline_ms(CLOCK_REALTIME, 1000);
    dl.tv_nsec = 1000000000L;
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), EINVAL);
    dl.tv_nsec = -1;
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), EINVAL);
    dl = deadline_ms(CLOCK_MONOTONIC, 1000);
    EXPECT_ERR(SEMRC(sem_clockwait(&s, (clockid_t)12345, &dl)), EINVAL);
    EXPECT_ERR(SEMRC(sem_clockwait(&s, CLOCK_MONOTONIC_RAW, &dl)), EINVAL);
    EXPECT_ERR(SEMRC(sem_clockwait(&s, CLOCK_PROCESS_CPUTIME_ID, &dl)), EINVAL);
    EXPECT(value_of(&s), 0);

    /* with a unit there */
    EXPECT_ERR(SEMRC(sem_post(&s)), 0);
    EXPECT(value_of(&s), 1);
    dl = deadline_ms(CLOCK_REALTIME, 1000);
    dl.tv_nsec = 1000000000L;
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), EINVAL); /* glibc checks the timeout first */
    dl = deadline_ms(CLOCK_MONOTONIC, 1000);
    EXPECT_ERR(SEMRC(sem_clockwait(&s, (clockid_t)12345, &dl)), EINVAL);
    EXPECT(value_of(&s), 1);
    dl = deadline_ms(CLOCK_REALTIME, -1000);
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), 0);
    for (int i = 0; i < 4; i++)
        EXPECT_ERR(SEMRC(sem_post(&s)), 0);
    EXPECT(value_of(&s), 4);
    EXPECT_ERR(SEMRC(sem_wait(&s)), 0);
    EXPECT_ERR(SEMRC(sem_trywait(&s)), 0);
    dl = (struct timespec){ 0, 0 };
    EXPECT_ERR(SEMRC(sem_clockwait(&s, CLOCK_MONOTONIC, &dl)), 0);
    dl = deadline_ms(CLOCK_REALTIME, 1000);
    EXPECT_ERR(SEMRC(sem_timedwait(&s, &dl)), 0);
    EXPECT(value_of(&s), 0);
    EXPECT_ERR(SEMRC(sem_trywait(&s)), EAGAIN);
    EXPECT_ERR(SEMRC(sem_destroy(&s)), 0);

    /* overflow */
    EXPECT_ERR(SEMRC(sem_init(&s, 0, SEM_VALUE_MAX)), 0);
    EXPECT(value_of(&s), SEM_VALUE_MAX);
    EXPECT_ERR(SEMRC(sem_post(&s)), EOVERFLOW);
    EXPECT(value_of(&s), SEM_VALUE_MAX);
    EXPECT_ERR(SEMRC(sem_trywait(&s)), 0);
    EXPECT_ERR(SEMRC(sem_post(&s)), 0);
    EXPECT_ERR(SEMRC(sem_post(&s)), EOVERFLOW);
    EXPECT_ERR(SEMRC(sem_destroy(&s)), 0);
    if (failures == before)
        printf("ok sem_init/post/wait/trywait/timedwait/clockwait/getvalue: EAGAIN, ETIMEDOUT never early, EINVAL, "
               "EOVERFLOW\n");
}

/* --- waiting for a post ---------------------------------------------------------------- */

struct waitreq {
    sem_t *s;
    int how, arrived, done, rc;
};

static void *sem_waiter(void *arg)
{
    struct waitreq *w = arg;
    struct timespec dl;
    __atomic_store_n(&w->arrived, 1, __ATOMIC_RELEASE);
    if (w->how == 0)
        w->rc = SEMRC(sem_wait(w->s));
    else if (w->how == 1) {
        dl = deadline_ms(CLOCK_REALTIME, 10000);
        w->rc = SEMRC(sem_timedwait(w->s, &dl));
    } else {
        dl = deadline_ms(CLOCK_MONOTONIC, 10000);
        w->rc = SEMRC(sem_clockwait(w->s, CLOCK_MONOTONIC, &dl));
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void waits_for_post(void)
{
    int before = failures;
    sem_t s;
    EXPECT_ERR(SEMRC(sem_init(&s, 0, 0)), 0);
    for (int how = 0; how < 3; how++) {
        struct waitreq w = { &s, how, 0, 0, -1 };
        pthread_t t;
        EXPECT_ERR(pthread_create(&t, NULL, sem_waiter, &w), 0);
        wait_flag(&w.arrived);
        nap_ms(15);
        CHECK(!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE), "way %d: the waiter returned before the post", how);
        EXPECT_ERR(SEMRC(sem_post(&s)), 0);
        EXPECT_ERR(pthread_join(t, NULL), 0);
        CHECK(w.rc == 0, "way %d: the waiter answered %d", how, w.rc);
        EXPECT(value_of(&s), 0);
    }
    EXPECT_ERR(SEMRC(sem_destroy(&s)), 0);
    if (failures == before)
        printf("ok sem_wait/timedwait/clockwait wait for a post\n");
}

/* --- ping-pong -------------------------------------------------------------------------- */

#define ROUNDS 2000
static sem_t to_b, to_a;
static long volley; /* passed back and forth; the semaphores order the accesses */

static void *side_b(void *arg)
{
    for (long i = 0; i < ROUNDS; i++) {
        if (sem_wait(&to_b) != 0) {
            TCHECK(0, "side b: sem_wait failed");
            return NULL;
        }
        TCHECK(volley == 2 * i + 1, "side b: expected %ld, got %ld", 2 * i + 1, volley);
        volley++;
        sem_post(&to_a);
    }
    return NULL;
}

static void pingpong(void)
{
    int before = failures;
    pthread_t b;
    EXPECT_ERR(SEMRC(sem_init(&to_a, 0, 0)), 0);
    EXPECT_ERR(SEMRC(sem_init(&to_b, 0, 0)), 0);
    EXPECT_ERR(pthread_create(&b, NULL, side_b, NULL), 0);
    for (long i = 0; i < ROUNDS; i++) {
        CHECK(volley == 2 * i, "side a: expected %ld, got %ld", 2 * i, volley);
        volley++;
        sem_post(&to_b);
        if (sem_wait(&to_a) != 0) {
            CHECK(0, "side a: sem_wait failed");
            break;
        }
    }
    EXPECT_ERR(pthread_join(b, NULL), 0);
    CHECK(volley == 2 * ROUNDS, "ping-pong: %ld, expected %d", volley, 2 * ROUNDS);
    EXPECT(value_of(&to_a), 0);
    EXPECT(value_of(&to_b), 0);
    sem_destroy(&to_a);
    sem_destroy(&to_b);
    if (failures == before)
        printf("ok semaphore ping-pong: %d round trips\n", ROUNDS);
}

/* --- counting semaphore ------------------------------------------------------------------ */

#define NCOUNT 16
#define ACQ 200
#define UNITS 4
static sem_t pool;
static int inside, max_inside; /* atomics */
static long acquisitions;      /* atomic */

static int acquire(unsigned *seed)
{
    unsigned way = lcg_next(seed) % 8;
    struct timespec dl;
    if (way < 4)
        return SEMRC(sem_wait(&pool));
    if (way < 6) {
        for (int i = 0; i < 100000; i++) {
            if (sem_trywait(&pool) == 0)
                return 0;
            if (errno != EAGAIN)
                return errno;
            sched_yield();
        }
        return SEMRC(sem_wait(&pool));
    }
    if (way == 6) {
        dl = deadline_ms(CLOCK_REALTIME, 20000);
        return SEMRC(sem_timedwait(&pool, &dl));
    }
    dl = deadline_ms(CLOCK_MONOTONIC, 20000);
    return SEMRC(sem_clockwait(&pool, CLOCK_MONOTONIC, &dl));
}

static void *pool_user(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seed = (unsigned)me * 7177u + 1u;
    for (int i = 0; i < ACQ; i++) {
        int rc = acquire(&seed);
        if (rc != 0) {
            TCHECK(0, "pool user %d: acquire answered %d", me, rc);
            return NULL;
        }
        int n = __atomic_add_fetch(&inside, 1, __ATOMIC_ACQ_REL);
        TCHECK(n <= UNITS, "pool user %d: %d inside a pool of %d", me, n, UNITS);
        int m = __atomic_load_n(&max_inside, __ATOMIC_RELAXED);
        while (n > m && !__atomic_compare_exchange_n(&max_inside, &m, n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        __atomic_fetch_add(&acquisitions, 1, __ATOMIC_RELAXED);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
        __atomic_sub_fetch(&inside, 1, __ATOMIC_ACQ_REL);
        TCHECK(sem_post(&pool) == 0, "pool user %d: sem_post failed", me);
        if (lcg_next(&seed) % 2 == 0)
            pause_rand(&seed);
    }
    return NULL;
}

static void counting(void)
{
    int before = failures;
    pthread_t t[NCOUNT];
    EXPECT_ERR(SEMRC(sem_init(&pool, 0, UNITS)), 0);
    for (int i = 0; i < NCOUNT; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, pool_user, (void *)(intptr_t)i), 0);
    for (int i = 0; i < NCOUNT; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(acquisitions == NCOUNT * ACQ, "pool: %ld acquisitions, expected %d", acquisitions, NCOUNT * ACQ);
    CHECK(max_inside >= 1 && max_inside <= UNITS, "pool: at most %d inside", max_inside);
    EXPECT(value_of(&pool), UNITS);
    EXPECT_ERR(SEMRC(sem_destroy(&pool)), 0);
    if (failures == before)
        printf("ok counting semaphore of %d: %d threads x %d acquisitions\n", UNITS, NCOUNT, ACQ);
}

/* --- named semaphores -------------------------------------------------------------------- */

static void named(void)
{
    int before = failures;
    char n1[64], n2[64], n3[64];
    snprintf(n1, sizeof n1, "/blitz_sync_sem_a_%d", (int)getpid());
    snprintf(n2, sizeof n2, "/blitz_sync_sem_b_%d", (int)getpid());
    snprintf(n3, sizeof n3, "/blitz_sync_sem_c_%d", (int)getpid());
    sem_unlink(n1); /* a leftover of an earlier run with the same pid */
    sem_unlink(n2);

    sem_t *a = sem_open(n1, O_CREAT | O_EXCL, 0600, 0);
    sem_t *b = sem_open(n2, O_CREAT | O_EXCL, 0600, 0);
    if (a == SEM_FAILED || b == SEM_FAILED) {
        printf("FAIL: sem_open O_CREAT|O_EXCL: errno %d\n", errno);
        failures++;
        return;
    }
    errno = 0;
    CHECK(sem_open(n1, O_CREAT | O_EXCL, 0600, 0) == SEM_FAILED && errno == EEXIST,
          "second exclusive sem_open: errno %d", errno);
    errno = 0;
    CHECK(sem_open(n3, O_CREAT, 0600, (unsigned)SEM_VALUE_MAX + 1u) == SEM_FAILED && errno == EINVAL,
          "sem_open above SEM_VALUE_MAX: errno %d", errno);
    sem_unlink(n3); /* (not created) */
    sem_t *a2 = sem_open(n1, 0);
    CHECK(a2 != SEM_FAILED, "sem_open of an existing name: errno %d", errno);
    if (a2 != SEM_FAILED) {
        EXPECT_ERR(SEMRC(sem_post(a2)), 0);
        EXPECT(value_of(a), 1); /* the same semaphore */
        EXPECT_ERR(SEMRC(sem_trywait(a)), 0);
        EXPECT_ERR(SEMRC(sem_close(a2)), 0);
    }

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL: fork: errno %d\n", errno);
        failures++;
        return;
    }
    if (pid == 0) {
        /* child: opens them by name, posts 3 times, waits for the parent, posts once more */
        sem_t *ca = sem_open(n1, 0), *cb = sem_open(n2, 0);
        if (ca == SEM_FAILED || cb == SEM_FAILED)
            _exit(10);
        for (int i = 0; i < 3; i++) {
            nap_ms(10);
            if (sem_post(ca) != 0)
                _exit(11);
        }
        struct timespec dl = deadline_ms(CLOCK_REALTIME, 20000);
        if (sem_timedwait(cb, &dl) != 0)
            _exit(12);
        nap_ms(10);
        if (sem_post(ca) != 0)
            _exit(13);
        if (sem_close(ca) != 0 || sem_close(cb) != 0)
            _exit(14);
        _exit(0);
    }
    for (int i = 0; i < 3; i++)
        EXPECT_ERR(SEMRC(sem_wait(a)), 0); /* each post comes after the child's nap */
    nap_ms(10);
    EXPECT_ERR(SEMRC(sem_post(b)), 0);
    struct timespec dl = deadline_ms(CLOCK_REALTIME, 20000);
    EXPECT_ERR(SEMRC(sem_timedwait(a, &dl)), 0);
    int status = -1;
    EXPECT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    EXPECT(value_of(a), 0);
    EXPECT(value_of(b), 0);

    EXPECT_ERR(SEMRC(sem_close(a)), 0);
    EXPECT_ERR(SEMRC(sem_close(b)), 0);
    EXPECT_ERR(SEMRC(sem_unlink(n1)), 0);
    EXPECT_ERR(SEMRC(sem_unlink(n2)), 0);
    EXPECT_ERR(SEMRC(sem_unlink(n1)), ENOENT);
    errno = 0;
    CHECK(sem_open(n1, 0) == SEM_FAILED && errno == ENOENT, "sem_open after sem_unlink: errno %d", errno);
    if (failures == before)
        printf("ok named semaphores: O_CREAT|O_EXCL, EEXIST, shared with a forked child both ways, close, unlink, "
               "ENOENT\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    unnamed_basics();
    waits_for_post();
    pingpong();
    counting();
    named();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
