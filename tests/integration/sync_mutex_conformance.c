// blitz-timeout: 60
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS (robust mutexes are glibc's and record glibc's per-thread owner id)
// pthread mutexes behave as NPTL (glibc 2.36) makes them, for every kind and
// every way of initialising one: attributes NORMAL, DEFAULT, ERRORCHECK,
// RECURSIVE, ADAPTIVE_NP, a NULL attribute, the four static initializers and a
// mutex in calloc'ed memory.  For each: lock/trylock/unlock, timedlock
// (CLOCK_REALTIME absolute: expired, 30 ms -> ETIMEDOUT never early, invalid
// tv_nsec -> EINVAL), clocklock (MONOTONIC and REALTIME; invalid clocks EINVAL,
// also on a free mutex, which must stay free), destroy of a locked mutex EBUSY,
// the owner's own relock (EDEADLK for errorcheck, counting for recursive,
// ETIMEDOUT for a timed relock of a normal one), unlock by a non-owner or of an
// unlocked mutex EPERM (errorcheck, recursive), and a thread that waits in
// lock/timedlock/clocklock until the holder, sleeping meanwhile, unlocks.
// Robust mutexes: owner exits holding -> EOWNERDEAD for the next locker
// (timedlock, trylock, lock, and a waiter already blocked when the owner
// exits), pthread_mutex_consistent, and ENOTRECOVERABLE for everybody after an
// unlock without it.  Priority inheritance (also contended) and priority
// protection attributes.  A mutex held across nanosleep and pthread_join.
// Every expectation was checked against native glibc 2.36.  The calls that rely
// on the kernel knowing the owner (robust, PI) are made with timeouts first, and
// their untimed forms only when the timed ones worked, so the program always ends.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

enum { K_NORMAL, K_ERRORCHECK, K_RECURSIVE }; /* behaviour of a kind towards its owner */

/* --- one operation made by a fresh thread ------------------------------------------ */

enum {
    OP_TRYLOCK,         /* trylock, unlocked again when it succeeded */
    OP_TIMED_PAST,      /* timedlock, deadline 1 s ago (CLOCK_REALTIME) */
    OP_TIMED_30,        /* timedlock, now + 30 ms (CLOCK_REALTIME) */
    OP_CLOCK_MONO_30,   /* clocklock CLOCK_MONOTONIC, now + 30 ms */
    OP_CLOCK_RT_30,     /* clocklock CLOCK_REALTIME, now + 30 ms */
    OP_CLOCK_MONO_PAST, /* clocklock CLOCK_MONOTONIC, deadline 0.0 */
    OP_TIMED_BADNSEC,   /* timedlock, tv_nsec = 1e9 */
    OP_TIMED_NEGNSEC,   /* timedlock, tv_nsec = -1 */
    OP_CLOCK_BAD,       /* clocklock with clock 12345 */
    OP_CLOCK_CPU,       /* clocklock with CLOCK_PROCESS_CPUTIME_ID */
    OP_UNLOCK,          /* unlock (of a mutex this thread does not hold) */
};

struct opreq {
    pthread_mutex_t *m;
    int op;
    int rc;
    int early; /* ETIMEDOUT before the deadline */
};

static void *op_thread(void *arg)
{
    struct opreq *r = arg;
    struct timespec dl;
    clockid_t c = CLOCK_REALTIME;
    switch (r->op) {
    case OP_TRYLOCK:
        r->rc = pthread_mutex_trylock(r->m);
        if (r->rc == 0)
            pthread_mutex_unlock(r->m);
        return NULL;
    case OP_TIMED_PAST:
        dl = deadline_ms(CLOCK_REALTIME, -1000);
        r->rc = pthread_mutex_timedlock(r->m, &dl);
        break;
    case OP_TIMED_30:
        dl = deadline_ms(CLOCK_REALTIME, 30);
        r->rc = pthread_mutex_timedlock(r->m, &dl);
        break;
    case OP_CLOCK_MONO_30:
        c = CLOCK_MONOTONIC;
        dl = deadline_ms(c, 30);
        r->rc = pthread_mutex_clocklock(r->m, c, &dl);
        break;
    case OP_CLOCK_RT_30:
        dl = deadline_ms(c, 30);
        r->rc = pthread_mutex_clocklock(r->m, c, &dl);
        break;
    case OP_CLOCK_MONO_PAST:
        c = CLOCK_MONOTONIC;
        dl = (struct timespec){ 0, 0 };
        r->rc = pthread_mutex_clocklock(r->m, c, &dl);
        break;
    case OP_TIMED_BADNSEC:
        dl = deadline_ms(CLOCK_REALTIME, 1000);
        dl.tv_nsec = 1000000000L;
        r->rc = pthread_mutex_timedlock(r->m, &dl);
        break;
    case OP_TIMED_NEGNSEC:
        dl = deadline_ms(CLOCK_REALTIME, 1000);
        dl.tv_nsec = -1;
        r->rc = pthread_mutex_timedlock(r->m, &dl);
        break;
    case OP_CLOCK_BAD:
        dl = deadline_ms(CLOCK_MONOTONIC, 1000);
        r->rc = pthread_mutex_clocklock(r->m, (clockid_t)12345, &dl);
        break;
    case OP_CLOCK_CPU:
        dl = deadline_ms(CLOCK_MONOTONIC, 1000);
        r->rc = pthread_mutex_clocklock(r->m, CLOCK_PROCESS_CPUTIME_ID, &dl);
        break;
    case OP_UNLOCK:
        r->rc = pthread_mutex_unlock(r->m);
        return NULL;
    }
    if (r->rc == ETIMEDOUT && !reached(c, dl))
        r->early = 1;
    if (r->rc == 0) /* it got the mutex after all: give it back */
        pthread_mutex_unlock(r->m);
    return NULL;
}

/* the result of operation op made by another thread */
static int other(pthread_mutex_t *m, int op)
{
    struct opreq r = { m, op, -1, 0 };
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

/* --- a thread that waits for a mutex the main thread holds ---------------------------- */

enum { HOW_LOCK, HOW_TIMED, HOW_CLOCK_MONO, HOW_CLOCK_RT };

struct waitreq {
    pthread_mutex_t *m;
    int how;
    int kind;
    int arrived;  /* atomic: about to lock */
    int acquired; /* atomic: got it */
    int rc;
    int owner_ok; /* it held the mutex after the call (errorcheck: relock EDEADLK;
                     recursive: trylock counts) */
};

static void *waiter(void *arg)
{
    struct waitreq *w = arg;
    struct timespec dl;
    __atomic_store_n(&w->arrived, 1, __ATOMIC_RELEASE);
    switch (w->how) {
    case HOW_LOCK:
        w->rc = pthread_mutex_lock(w->m);
        break;
    case HOW_TIMED:
        dl = deadline_ms(CLOCK_REALTIME, 10000);
        w->rc = pthread_mutex_timedlock(w->m, &dl);
        break;
    case HOW_CLOCK_MONO:
        dl = deadline_ms(CLOCK_MONOTONIC, 10000);
        w->rc = pthread_mutex_clocklock(w->m, CLOCK_MONOTONIC, &dl);
        break;
    default:
        dl = deadline_ms(CLOCK_REALTIME, 10000);
        w->rc = pthread_mutex_clocklock(w->m, CLOCK_REALTIME, &dl);
        break;
    }
    if (w->rc != 0)
        return NULL;
    __atomic_store_n(&w->acquired, 1, __ATOMIC_RELEASE);
    if (w->kind == K_ERRORCHECK)
        w->owner_ok = pthread_mutex_lock(w->m) == EDEADLK;
    else if (w->kind == K_RECURSIVE)
        w->owner_ok = pthread_mutex_trylock(w->m) == 0 && pthread_mutex_unlock(w->m) == 0;
    else
        w->owner_ok = pthread_mutex_trylock(w->m) == EBUSY;
    pthread_mutex_unlock(w->m);
    return NULL;
}

static void wait_flag(int *flag)
{
    for (int i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        nap_ms(1);
}

/* main holds m (depth times), a thread waits for it `how`; main sleeps, checks the
   waiter did not get in, unlocks, and the waiter must get it */
static void check_waits(const char *name, pthread_mutex_t *m, int kind, int how)
{
    int depth = kind == K_RECURSIVE ? 2 : 1;
    struct waitreq w = { m, how, kind, 0, 0, -1, 0 };
    pthread_t t;
    for (int i = 0; i < depth; i++)
        EXPECT_ERR(pthread_mutex_lock(m), 0);
    EXPECT_ERR(pthread_create(&t, NULL, waiter, &w), 0);
    wait_flag(&w.arrived);
    nap_ms(15);
    CHECK(!__atomic_load_n(&w.acquired, __ATOMIC_ACQUIRE), "%s: way %d got the mutex while main held it", name, how);
    for (int i = 0; i < depth; i++) {
        if (i == depth - 1)
            CHECK(!__atomic_load_n(&w.acquired, __ATOMIC_ACQUIRE), "%s: got the mutex held at depth %d", name, depth);
        EXPECT_ERR(pthread_mutex_unlock(m), 0);
        if (i < depth - 1)
            nap_ms(5);
    }
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(w.rc == 0 && w.acquired, "%s: waiter (way %d) answered %d", name, how, w.rc);
    CHECK(w.owner_ok, "%s: the waiter did not hold the mutex after way %d", name, how);
}

/* --- the checks every mutex goes through ---------------------------------------------- */

static void check_mutex(const char *name, pthread_mutex_t *m, int kind)
{
    int before = failures;
    struct timespec dl;

    /* free */
    EXPECT_ERR(other(m, OP_TRYLOCK), 0);
    dl = deadline_ms(CLOCK_MONOTONIC, 1000);
    EXPECT_ERR(pthread_mutex_clocklock(m, (clockid_t)12345, &dl), EINVAL);
    EXPECT_ERR(pthread_mutex_clocklock(m, CLOCK_PROCESS_CPUTIME_ID, &dl), EINVAL);
    EXPECT_ERR(pthread_mutex_clocklock(m, CLOCK_MONOTONIC_RAW, &dl), EINVAL);
    EXPECT_ERR(other(m, OP_CLOCK_BAD), EINVAL);
    EXPECT_ERR(other(m, OP_TRYLOCK), 0); /* an invalid clock did not lock it */
    dl = deadline_ms(CLOCK_REALTIME, -1000);
    EXPECT_ERR(pthread_mutex_timedlock(m, &dl), 0); /* free: an expired deadline does not matter */
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    dl = (struct timespec){ 0, 0 };
    EXPECT_ERR(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl), 0);
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    dl = deadline_ms(CLOCK_REALTIME, 1000);
    dl.tv_nsec = 1000000000L;
    /* POSIX need not check the timeout of a mutex it can lock at once; NPTL does not */
    int rc = pthread_mutex_timedlock(m, &dl);
    CHECK(rc == 0 || rc == EINVAL, "%s: timedlock of a free mutex with tv_nsec 1e9: %d", name, rc);
    if (rc == 0)
        EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), 0);

    /* held by main, as seen from other threads */
    EXPECT_ERR(pthread_mutex_lock(m), 0);
    EXPECT_ERR(pthread_mutex_destroy(m), EBUSY);
    EXPECT_ERR(other(m, OP_TRYLOCK), EBUSY);
    EXPECT_ERR(other(m, OP_TIMED_PAST), ETIMEDOUT);
    EXPECT_ERR(other(m, OP_CLOCK_MONO_PAST), ETIMEDOUT);
    EXPECT_ERR(other(m, OP_TIMED_30), ETIMEDOUT);
    EXPECT_ERR(other(m, OP_CLOCK_MONO_30), ETIMEDOUT);
    EXPECT_ERR(other(m, OP_CLOCK_RT_30), ETIMEDOUT);
    EXPECT_ERR(other(m, OP_TIMED_BADNSEC), EINVAL);
    EXPECT_ERR(other(m, OP_TIMED_NEGNSEC), EINVAL);
    EXPECT_ERR(other(m, OP_CLOCK_BAD), EINVAL);
    EXPECT_ERR(other(m, OP_CLOCK_CPU), EINVAL);
    if (kind != K_NORMAL)
        EXPECT_ERR(other(m, OP_UNLOCK), EPERM); /* (undefined for a normal mutex) */

    /* held by main, main again */
    if (kind == K_NORMAL) {
        EXPECT_ERR(pthread_mutex_trylock(m), EBUSY);
        dl = deadline_ms(CLOCK_REALTIME, -1000);
        EXPECT_ERR(pthread_mutex_timedlock(m, &dl), ETIMEDOUT);
        dl = deadline_ms(CLOCK_MONOTONIC, 20);
        EXPECT_ERR(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl), ETIMEDOUT); /* waits for itself */
        CHECK(reached(CLOCK_MONOTONIC, dl), "%s: timed relock by the owner ended early", name);
    } else if (kind == K_ERRORCHECK) {
        EXPECT_ERR(pthread_mutex_lock(m), EDEADLK);
        EXPECT_ERR(pthread_mutex_trylock(m), EBUSY);
        dl = deadline_ms(CLOCK_REALTIME, -1000);
        EXPECT_ERR(pthread_mutex_timedlock(m, &dl), EDEADLK);
        dl = deadline_ms(CLOCK_MONOTONIC, 20);
        EXPECT_ERR(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl), EDEADLK);
    } else {
        /* recursive: 4 levels, through each locking call */
        EXPECT_ERR(pthread_mutex_trylock(m), 0);
        dl = deadline_ms(CLOCK_REALTIME, -1000);
        EXPECT_ERR(pthread_mutex_timedlock(m, &dl), 0);
        dl = deadline_ms(CLOCK_MONOTONIC, -1000);
        EXPECT_ERR(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl), 0);
        for (int i = 0; i < 3; i++) {
            EXPECT_ERR(pthread_mutex_unlock(m), 0);
            EXPECT_ERR(other(m, OP_TRYLOCK), EBUSY);
            EXPECT_ERR(other(m, OP_UNLOCK), EPERM);
        }
    }
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), 0);
    if (kind != K_NORMAL)
        EXPECT_ERR(pthread_mutex_unlock(m), EPERM); /* unlocked */
    if (kind == K_RECURSIVE) {
        /* lock 3x, unlock 3x, then another thread gets it */
        for (int i = 0; i < 3; i++)
            EXPECT_ERR(pthread_mutex_lock(m), 0);
        for (int i = 0; i < 3; i++) {
            EXPECT_ERR(other(m, OP_TRYLOCK), EBUSY);
            EXPECT_ERR(pthread_mutex_unlock(m), 0);
        }
        EXPECT_ERR(other(m, OP_TRYLOCK), 0);
        EXPECT_ERR(pthread_mutex_unlock(m), EPERM);
    }

    /* waiting for a holder that sleeps, through each locking call */
    check_waits(name, m, kind, HOW_LOCK);
    check_waits(name, m, kind, HOW_TIMED);
    check_waits(name, m, kind, HOW_CLOCK_MONO);
    check_waits(name, m, kind, HOW_CLOCK_RT);

    EXPECT_ERR(other(m, OP_TRYLOCK), 0);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);
    if (failures == before)
        printf("ok %s\n", name);
}

static pthread_mutex_t s_plain = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t s_recursive = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static pthread_mutex_t s_errorcheck = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static pthread_mutex_t s_adaptive = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;

static void kinds(void)
{
    pthread_mutexattr_t a;
    pthread_mutex_t m;
    int t = -1;

    EXPECT_ERR(pthread_mutexattr_init(&a), 0);
    EXPECT_ERR(pthread_mutexattr_gettype(&a, &t), 0);
    EXPECT(t, PTHREAD_MUTEX_DEFAULT);
    EXPECT_ERR(pthread_mutexattr_settype(&a, 99), EINVAL);
    EXPECT_ERR(pthread_mutexattr_settype(&a, -1), EINVAL);
    EXPECT_ERR(pthread_mutexattr_setrobust(&a, 5), EINVAL);
    EXPECT_ERR(pthread_mutexattr_setprotocol(&a, 7), EINVAL);

    static const struct {
        const char *name;
        int type, kind;
    } attr_kinds[] = {
        { "PTHREAD_MUTEX_NORMAL", PTHREAD_MUTEX_NORMAL, K_NORMAL },
        { "PTHREAD_MUTEX_DEFAULT", PTHREAD_MUTEX_DEFAULT, K_NORMAL },
        { "PTHREAD_MUTEX_ERRORCHECK", PTHREAD_MUTEX_ERRORCHECK, K_ERRORCHECK },
        { "PTHREAD_MUTEX_RECURSIVE", PTHREAD_MUTEX_RECURSIVE, K_RECURSIVE },
        { "PTHREAD_MUTEX_ADAPTIVE_NP", PTHREAD_MUTEX_ADAPTIVE_NP, K_NORMAL },
    };
    for (size_t i = 0; i < sizeof attr_kinds / sizeof attr_kinds[0]; i++) {
        EXPECT_ERR(pthread_mutexattr_settype(&a, attr_kinds[i].type), 0);
        EXPECT_ERR(pthread_mutexattr_gettype(&a, &t), 0);
        EXPECT(t, attr_kinds[i].type);
        EXPECT_ERR(pthread_mutex_init(&m, &a), 0);
        check_mutex(attr_kinds[i].name, &m, attr_kinds[i].kind);
    }
    EXPECT_ERR(pthread_mutexattr_destroy(&a), 0);

    EXPECT_ERR(pthread_mutex_init(&m, NULL), 0);
    check_mutex("pthread_mutex_init(NULL attributes)", &m, K_NORMAL);

    check_mutex("PTHREAD_MUTEX_INITIALIZER", &s_plain, K_NORMAL);
    check_mutex("PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP", &s_recursive, K_RECURSIVE);
    check_mutex("PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP", &s_errorcheck, K_ERRORCHECK);
    check_mutex("PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP", &s_adaptive, K_NORMAL);

    /* zeroed memory is a default mutex; a few of them side by side */
    pthread_mutex_t *z = calloc(3, sizeof *z);
    if (!z) {
        printf("FAIL: calloc\n");
        failures++;
        return;
    }
    check_mutex("mutex in calloc'ed memory", &z[1], K_NORMAL);
    check_mutex("mutex in calloc'ed memory (neighbour)", &z[2], K_NORMAL);
    free(z);
}

/* --- robust mutexes ------------------------------------------------------------------ */

static int robust_ok = 1; /* the timed forms worked: the untimed ones will not hang */

struct dier {
    pthread_mutex_t *m;
    int times;
    int rc;
};

static void *lock_and_exit(void *arg)
{
    struct dier *d = arg;
    d->rc = 0;
    for (int i = 0; i < d->times; i++)
        if (pthread_mutex_lock(d->m) != 0)
            d->rc = -1;
    return NULL; /* exits holding it */
}

static void die_holding(pthread_mutex_t *m, int times)
{
    struct dier d = { m, times, -1 };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, lock_and_exit, &d), 0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    EXPECT(d.rc, 0);
}

static void robust_init(pthread_mutex_t *m, int type)
{
    pthread_mutexattr_t a;
    int r = -1;
    pthread_mutexattr_init(&a);
    EXPECT_ERR(pthread_mutexattr_getrobust(&a, &r), 0);
    EXPECT(r, PTHREAD_MUTEX_STALLED);
    EXPECT_ERR(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST), 0);
    EXPECT_ERR(pthread_mutexattr_getrobust(&a, &r), 0);
    EXPECT(r, PTHREAD_MUTEX_ROBUST);
    EXPECT_ERR(pthread_mutexattr_settype(&a, type), 0);
    EXPECT_ERR(pthread_mutex_init(m, &a), 0);
    pthread_mutexattr_destroy(&a);
}

/* expects EOWNERDEAD from a call; when it is something else, clears robust_ok and
   returns from the scenario, abandoning the mutex (it may be held by an exited thread,
   and the later steps would wait for it forever) */
#define EXPECT_OWNERDEAD(expr)                                                                     \
    do {                                                                                           \
        int r_ = (expr);                                                                           \
        EXPECT_ERR(r_, EOWNERDEAD);                                                                \
        if (r_ != EOWNERDEAD) {                                                                    \
            robust_ok = 0;                                                                         \
            return;                                                                                \
        }                                                                                          \
    } while (0)

struct blocked {
    pthread_mutex_t *m;
    int untimed;
    int owner_locked, waiter_arrived; /* atomics */
    int rc, consistent_rc, unlock_rc;
};

static void *robust_owner(void *arg)
{
    struct blocked *b = arg;
    if (pthread_mutex_lock(b->m) != 0)
        return NULL;
    __atomic_store_n(&b->owner_locked, 1, __ATOMIC_RELEASE);
    wait_flag(&b->waiter_arrived);
    nap_ms(20);
    return NULL; /* exits holding it while the other one waits */
}

static void *robust_waiter(void *arg)
{
    struct blocked *b = arg;
    wait_flag(&b->owner_locked);
    __atomic_store_n(&b->waiter_arrived, 1, __ATOMIC_RELEASE);
    if (b->untimed)
        b->rc = pthread_mutex_lock(b->m);
    else {
        struct timespec dl = deadline_ms(CLOCK_REALTIME, 5000);
        b->rc = pthread_mutex_timedlock(b->m, &dl);
    }
    if (b->rc == EOWNERDEAD) {
        b->consistent_rc = pthread_mutex_consistent(b->m);
        b->unlock_rc = pthread_mutex_unlock(b->m);
    }
    return NULL;
}

/* the mutexes of the scenarios; never reused (an abandoned one may stay held) */
static pthread_mutex_t rm[8];

/* a waiter already blocked (timedlock, or lock) when the owner exits */
static void robust_blocked_waiter(pthread_mutex_t *m, int untimed)
{
    struct blocked b = { m, untimed, 0, 0, -1, -1, -1 };
    pthread_t o, w;
    robust_init(m, PTHREAD_MUTEX_NORMAL);
    EXPECT_ERR(pthread_create(&w, NULL, robust_waiter, &b), 0);
    EXPECT_ERR(pthread_create(&o, NULL, robust_owner, &b), 0);
    EXPECT_ERR(pthread_join(o, NULL), 0);
    EXPECT_ERR(pthread_join(w, NULL), 0);
    EXPECT_OWNERDEAD(b.rc);
    EXPECT_ERR(b.consistent_rc, 0);
    EXPECT_ERR(b.unlock_rc, 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), 0);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);
}

/* timedlock after the owner exited: EOWNERDEAD, consistent, usable again */
static void robust_timedlock(pthread_mutex_t *m)
{
    robust_init(m, PTHREAD_MUTEX_NORMAL);
    die_holding(m, 1);
    struct timespec dl = deadline_ms(CLOCK_REALTIME, 5000);
    EXPECT_OWNERDEAD(pthread_mutex_timedlock(m, &dl));
    EXPECT_ERR(pthread_mutex_consistent(m), 0);
    EXPECT_ERR(pthread_mutex_consistent(m), EINVAL); /* consistent already */
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), 0);
    EXPECT_ERR(pthread_mutex_lock(m), 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), EBUSY);
    EXPECT_ERR(other(m, OP_UNLOCK), EPERM);
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);
}

/* trylock after the owner exited; unlock without consistent: not recoverable, for
   every later locker */
static void robust_not_recoverable(pthread_mutex_t *m)
{
    robust_init(m, PTHREAD_MUTEX_NORMAL);
    die_holding(m, 1);
    EXPECT_OWNERDEAD(pthread_mutex_trylock(m));
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(pthread_mutex_lock(m), ENOTRECOVERABLE);
    EXPECT_ERR(other(m, OP_TIMED_30), ENOTRECOVERABLE);
    EXPECT_ERR(other(m, OP_CLOCK_MONO_30), ENOTRECOVERABLE);
    struct timespec dl = deadline_ms(CLOCK_REALTIME, -1000);
    EXPECT_ERR(pthread_mutex_timedlock(m, &dl), ENOTRECOVERABLE);
    EXPECT_ERR(pthread_mutex_lock(m), ENOTRECOVERABLE);
    EXPECT_ERR(pthread_mutex_consistent(m), EINVAL);
    /* last: glibc 2.36's trylock answers ENOTRECOVERABLE but leaves the lock word held
       by the caller (after it, lock by the caller would wait forever) */
    EXPECT_ERR(pthread_mutex_trylock(m), ENOTRECOVERABLE);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);
}

/* clocklock (MONOTONIC), errorcheck type: the new owner is the caller */
static void robust_errorcheck(pthread_mutex_t *m)
{
    robust_init(m, PTHREAD_MUTEX_ERRORCHECK);
    die_holding(m, 1);
    struct timespec dl = deadline_ms(CLOCK_MONOTONIC, 5000);
    EXPECT_OWNERDEAD(pthread_mutex_clocklock(m, CLOCK_MONOTONIC, &dl));
    EXPECT_ERR(pthread_mutex_lock(m), EDEADLK);
    EXPECT_ERR(pthread_mutex_consistent(m), 0);
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(pthread_mutex_unlock(m), EPERM);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);
}

/* recursive type, the owner exits holding it twice: the new owner holds it once */
static void robust_recursive(pthread_mutex_t *m)
{
    robust_init(m, PTHREAD_MUTEX_RECURSIVE);
    die_holding(m, 2);
    struct timespec dl = deadline_ms(CLOCK_REALTIME, 5000);
    EXPECT_OWNERDEAD(pthread_mutex_timedlock(m, &dl));
    EXPECT_ERR(pthread_mutex_consistent(m), 0);
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), 0);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);
}

/* the untimed lock after the owner exited */
static void robust_lock(pthread_mutex_t *m)
{
    robust_init(m, PTHREAD_MUTEX_NORMAL);
    die_holding(m, 1);
    EXPECT_OWNERDEAD(pthread_mutex_lock(m));
    EXPECT_ERR(pthread_mutex_consistent(m), 0);
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), 0);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);
}

static void robust(void)
{
    int before = failures;
    pthread_mutex_t *m = rm;

    /* robust, held normally: nothing special */
    robust_init(m, PTHREAD_MUTEX_NORMAL);
    EXPECT_ERR(pthread_mutex_lock(m), 0);
    EXPECT_ERR(other(m, OP_TRYLOCK), EBUSY);
    EXPECT_ERR(other(m, OP_TIMED_30), ETIMEDOUT);
    EXPECT_ERR(other(m, OP_UNLOCK), EPERM);
    EXPECT_ERR(pthread_mutex_consistent(m), EINVAL);
    EXPECT_ERR(pthread_mutex_unlock(m), 0);
    EXPECT_ERR(pthread_mutex_destroy(m), 0);

    robust_timedlock(&rm[1]);
    robust_not_recoverable(&rm[2]);
    robust_errorcheck(&rm[3]);
    robust_recursive(&rm[4]);
    robust_blocked_waiter(&rm[5], 0);
    /* the untimed forms only when the others worked (else they would wait forever) */
    if (robust_ok) {
        robust_lock(&rm[6]);
        robust_blocked_waiter(&rm[7], 1);
    } else {
        printf("FAIL: robust mutexes: untimed lock not tried (the other forms did not answer EOWNERDEAD)\n");
        failures++;
    }
    if (failures == before)
        printf("ok robust mutexes: EOWNERDEAD, consistent, ENOTRECOVERABLE\n");
}

/* --- priority protocols ------------------------------------------------------------- */

static pthread_mutex_t pi_m;
static long pi_counter;
static int pi_ok = 1;

static void *pi_worker(void *arg)
{
    int untimed = (int)(intptr_t)arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    for (int i = 0; i < 300; i++) {
        int rc;
        if (untimed)
            rc = pthread_mutex_lock(&pi_m);
        else {
            struct timespec dl = deadline_ms(CLOCK_REALTIME, 2000);
            rc = pthread_mutex_timedlock(&pi_m, &dl);
        }
        if (rc != 0) {
            TCHECK(0, "contended PI mutex: lock answered %d", rc);
            __atomic_store_n(&pi_ok, 0, __ATOMIC_RELAXED);
            return NULL;
        }
        long v = pi_counter;
        if (lcg_next(&seed) % 4 == 0)
            pause_rand(&seed);
        pi_counter = v + 1;
        pthread_mutex_unlock(&pi_m);
        if (lcg_next(&seed) % 2 == 0)
            sched_yield();
    }
    return NULL;
}

static void pi_contended(int untimed)
{
    pthread_t t[4];
    pi_counter = 0;
    for (int i = 0; i < 4; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, pi_worker, (void *)(intptr_t)untimed), 0);
    for (int i = 0; i < 4; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(pi_counter == 4 * 300, "contended PI mutex (%s): counter %ld, expected 1200", untimed ? "lock" : "timedlock",
          pi_counter);
}

struct pp_result {
    pthread_mutex_t *m;
    int lock_rc, unlock_rc;
};

static void *pp_thread(void *arg)
{
    struct pp_result *r = arg;
    r->lock_rc = pthread_mutex_lock(r->m);
    if (r->lock_rc == 0)
        r->unlock_rc = pthread_mutex_unlock(r->m);
    return NULL;
}

static void priority(void)
{
    int before = failures;
    pthread_mutexattr_t a;
    int v = -1;

    /* inheritance */
    pthread_mutexattr_init(&a);
    EXPECT_ERR(pthread_mutexattr_getprotocol(&a, &v), 0);
    EXPECT(v, PTHREAD_PRIO_NONE);
    EXPECT_ERR(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT), 0);
    EXPECT_ERR(pthread_mutexattr_getprotocol(&a, &v), 0);
    EXPECT(v, PTHREAD_PRIO_INHERIT);
    EXPECT_ERR(pthread_mutex_init(&pi_m, &a), 0);
    EXPECT_ERR(pthread_mutex_lock(&pi_m), 0);
    EXPECT_ERR(pthread_mutex_trylock(&pi_m), EBUSY);
    EXPECT_ERR(other(&pi_m, OP_TRYLOCK), EBUSY);
    EXPECT_ERR(other(&pi_m, OP_TIMED_PAST), ETIMEDOUT);
    EXPECT_ERR(other(&pi_m, OP_UNLOCK), EPERM); /* PI mutexes always check the owner */
    EXPECT_ERR(pthread_mutex_unlock(&pi_m), 0);
    EXPECT_ERR(other(&pi_m, OP_TRYLOCK), 0);
    pi_contended(0);
    if (pi_ok)
        pi_contended(1);
    else {
        printf("FAIL: contended PI mutex: untimed lock not tried (timedlock failed)\n");
        failures++;
    }
    EXPECT_ERR(pthread_mutex_destroy(&pi_m), 0);

    /* inheritance, errorcheck and recursive types */
    pthread_mutex_t m;
    EXPECT_ERR(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK), 0);
    EXPECT_ERR(pthread_mutex_init(&m, &a), 0);
    EXPECT_ERR(pthread_mutex_lock(&m), 0);
    EXPECT_ERR(pthread_mutex_lock(&m), EDEADLK);
    EXPECT_ERR(pthread_mutex_trylock(&m), EDEADLK); /* PI errorcheck: trylock says EDEADLK too */
    EXPECT_ERR(pthread_mutex_unlock(&m), 0);
    EXPECT_ERR(pthread_mutex_unlock(&m), EPERM);
    EXPECT_ERR(pthread_mutex_destroy(&m), 0);
    EXPECT_ERR(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE), 0);
    EXPECT_ERR(pthread_mutex_init(&m, &a), 0);
    EXPECT_ERR(pthread_mutex_lock(&m), 0);
    EXPECT_ERR(pthread_mutex_trylock(&m), 0);
    EXPECT_ERR(other(&m, OP_TRYLOCK), EBUSY);
    EXPECT_ERR(pthread_mutex_unlock(&m), 0);
    EXPECT_ERR(other(&m, OP_TRYLOCK), EBUSY);
    EXPECT_ERR(pthread_mutex_unlock(&m), 0);
    EXPECT_ERR(other(&m, OP_TRYLOCK), 0);
    EXPECT_ERR(pthread_mutex_destroy(&m), 0);
    pthread_mutexattr_destroy(&a);

    /* protection: the attributes and the ceiling are kept; locking from a SCHED_OTHER thread
       answers EINVAL in glibc 2.36 (it cannot raise a SCHED_OTHER thread to the ceiling);
       a shim that locks it anyway must unlock it */
    pthread_mutexattr_init(&a);
    EXPECT_ERR(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_PROTECT), 0);
    EXPECT_ERR(pthread_mutexattr_getprotocol(&a, &v), 0);
    EXPECT(v, PTHREAD_PRIO_PROTECT);
    EXPECT_ERR(pthread_mutexattr_setprioceiling(&a, 0), EINVAL); /* below SCHED_FIFO's minimum */
    EXPECT_ERR(pthread_mutexattr_setprioceiling(&a, 1), 0);
    EXPECT_ERR(pthread_mutexattr_getprioceiling(&a, &v), 0);
    EXPECT(v, 1);
    EXPECT_ERR(pthread_mutex_init(&m, &a), 0);
    EXPECT_ERR(pthread_mutex_getprioceiling(&m, &v), 0);
    EXPECT(v, 1);
    int old = -1;
    EXPECT_ERR(pthread_mutex_setprioceiling(&m, 2, &old), 0);
    EXPECT(old, 1);
    EXPECT_ERR(pthread_mutex_getprioceiling(&m, &v), 0);
    EXPECT(v, 2);
    struct pp_result r = { &m, -1, -1 };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, pp_thread, &r), 0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(r.lock_rc == 0 || r.lock_rc == EINVAL, "priority-protect lock answered %d", r.lock_rc);
    if (r.lock_rc == 0)
        EXPECT_ERR(r.unlock_rc, 0);
    EXPECT_ERR(pthread_mutex_destroy(&m), 0);
    pthread_mutexattr_destroy(&a);
    if (failures == before)
        printf("ok priority inheritance (also contended) and priority protection mutexes\n");
}

/* --- held across nanosleep and pthread_join ---------------------------------------------- */

static pthread_mutex_t across = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
static int across_held, across_seq; /* atomics */

static void *sleeps_holding(void *arg)
{
    pthread_mutex_lock(&across);
    __atomic_store_n(&across_held, 1, __ATOMIC_RELEASE);
    nap_ms(30);
    __atomic_store_n(&across_seq, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&across);
    return NULL;
}

static void *waits_for_sleeper(void *arg)
{
    wait_flag(&across_held);
    if (pthread_mutex_lock(&across) != 0)
        return (void *)1;
    int seq = __atomic_load_n(&across_seq, __ATOMIC_ACQUIRE);
    pthread_mutex_unlock(&across);
    return seq == 1 ? NULL : (void *)2;
}

static void *tries_across(void *arg)
{
    int rc = pthread_mutex_trylock(&across);
    nap_ms(10);
    if (rc == 0)
        pthread_mutex_unlock(&across);
    return (void *)(intptr_t)rc;
}

static void held_across(void)
{
    int before = failures;
    pthread_t a, b;
    void *ra = (void *)-1, *rb = (void *)-1;

    /* a thread sleeps holding it while another waits in pthread_mutex_lock */
    EXPECT_ERR(pthread_create(&b, NULL, waits_for_sleeper, NULL), 0);
    EXPECT_ERR(pthread_create(&a, NULL, sleeps_holding, NULL), 0);
    EXPECT_ERR(pthread_join(a, &ra), 0);
    EXPECT_ERR(pthread_join(b, &rb), 0);
    CHECK(rb == NULL, "the waiter got the mutex while its holder slept (%p)", rb);

    /* main holds it across nanosleep and across pthread_join of a thread that tries it */
    EXPECT_ERR(pthread_mutex_lock(&across), 0);
    nap_ms(10);
    EXPECT_ERR(pthread_create(&a, NULL, tries_across, NULL), 0);
    ra = (void *)-1;
    EXPECT_ERR(pthread_join(a, &ra), 0);
    EXPECT((intptr_t)ra, EBUSY);
    EXPECT_ERR(pthread_mutex_lock(&across), EDEADLK); /* still main's */
    EXPECT_ERR(pthread_mutex_unlock(&across), 0);
    EXPECT_ERR(pthread_create(&a, NULL, tries_across, NULL), 0);
    EXPECT_ERR(pthread_join(a, &ra), 0);
    EXPECT((intptr_t)ra, 0);
    if (failures == before)
        printf("ok a mutex held across nanosleep and pthread_join\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* a run that hangs still shows how far it got */
    kinds();
    held_across();
    priority();
    robust();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
