// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 30
// set*id() in a threaded process: the kernel keeps credentials per OS thread,
// so glibc's setuid/setgid/setresuid/... signal every thread they know
// (SIGSETXID), each thread's handler makes the same system call and clears a
// flag in its own struct pthread (found through the thread pointer), and the
// caller waits until every thread has answered.  20 threads sleep (nanosleep
// 50-200 us) and yield in loops; a thread calls setgid(getgid()),
// setuid(getuid()), setresuid(-1,-1,-1), setresgid(-1,-1,-1),
// setreuid(-1,-1), setregid(-1,-1), seteuid(geteuid()), setegid(getegid())
// 50 times while main makes the same calls, and a third thread keeps creating
// and joining short-lived threads meanwhile.  Every call must return 0 and the
// program must finish; afterwards every thread must still see the same ids.
// As root, a change every thread can see is made too, and undone: the saved
// group id is set to 4242 by the calling thread (the real and effective ids,
// and so the privileges, stay as they are); every thread must then see 4242 as
// its own saved gid -- a thread the caller did not reach keeps the old one --
// and the original one after it is restored.
// Breaks if the signal handler clears the flag in another block than the one
// the caller waits on (a task's struct pthread instead of its worker's: the
// caller hangs), if a worker is missed, or if a set*id() made by a task hangs
// or fails.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define NS 20    /* sleeping threads */
#define CALLS 50 /* rounds of set*id() calls by the calling thread and by main */
#define SAVED_GID 4242

static uid_t ruid0, euid0, suid0;
static gid_t rgid0, egid0, sgid0;

/* the ids every thread must see at check number `epoch` (published before it) */
static gid_t want_sgid;
static int epoch, stop, go; /* atomics */
static int acked[NS];       /* atomic: the last epoch thread i checked */
static int setter_done;     /* atomic */
static int sleep_errors;    /* atomic: nanosleep errors other than EINTR */
static int churned;         /* atomic: short-lived threads that ran */

__thread int t_me = -1;

/* the ids of the calling thread against the original ones (sgid: want) */
static int ids_ok(gid_t want_sg, char *why, size_t n)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0) {
        snprintf(why, n, "getresuid/getresgid failed: %m");
        return 0;
    }
    if (r != ruid0 || e != euid0 || s != suid0 || rg != rgid0 || eg != egid0 || sg != want_sg ||
        getuid() != ruid0 || getgid() != rgid0 || geteuid() != euid0 || getegid() != egid0) {
        snprintf(why, n, "uids %d/%d/%d gids %d/%d/%d (want %d/%d/%d and %d/%d/%d)", (int)r, (int)e, (int)s,
                 (int)rg, (int)eg, (int)sg, (int)ruid0, (int)euid0, (int)suid0, (int)rgid0, (int)egid0,
                 (int)want_sg);
        return 0;
    }
    return 1;
}

/* one round of no-op set*id() calls; returns how many did not return 0 */
static int noop_round(const char *who, int round)
{
    int bad = 0;
#define NOOP(call)                                                                                 \
    do {                                                                                           \
        errno = 0;                                                                                 \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) {                                                                            \
            bad++;                                                                                 \
            TCHECK(0, "%s round %d: %s = %d (errno %d)", who, round, #call, rc_, errno);           \
        }                                                                                          \
    } while (0)
    NOOP(setgid(getgid()));
    NOOP(setuid(getuid()));
    NOOP(setresuid((uid_t)-1, (uid_t)-1, (uid_t)-1));
    NOOP(setresgid((gid_t)-1, (gid_t)-1, (gid_t)-1));
    NOOP(setreuid((uid_t)-1, (uid_t)-1));
    NOOP(setregid((gid_t)-1, (gid_t)-1));
    NOOP(seteuid(geteuid()));
    NOOP(setegid(getegid()));
#undef NOOP
    return bad;
}

static void *sleeper(void *arg)
{
    int i = (int)(intptr_t)arg;
    unsigned seed = (unsigned)i * 7919u + 3u;
    t_me = i;
    char why[200];
    int seen = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        int e = __atomic_load_n(&epoch, __ATOMIC_ACQUIRE);
        if (e != seen) {
            seen = e;
            int ok = ids_ok(__atomic_load_n(&want_sgid, __ATOMIC_RELAXED), why, sizeof why);
            TCHECK(ok, "thread %d at check %d: %s", i, e, why);
            __atomic_store_n(&acked[i], e, __ATOMIC_RELEASE);
        }
        unsigned r = lcg_next(&seed);
        if (r % 4 == 0) {
            sched_yield();
        } else {
            struct timespec ts = { 0, (50 + (long)(r % 151)) * 1000L };
            errno = 0;
            if (nanosleep(&ts, NULL) != 0 && errno != EINTR) /* EINTR: SIGSETXID (natively) */
                __atomic_fetch_add(&sleep_errors, 1, __ATOMIC_RELAXED);
        }
        TCHECK(t_me == i, "thread %d: its __thread value became %d", i, t_me);
    }
    return NULL;
}

static void *setter(void *arg)
{
    (void)arg;
    unsigned seed = 4711;
    t_me = 1000;
    gate_wait(&go);
    intptr_t bad = 0;
    for (int k = 0; k < CALLS; k++) {
        bad += noop_round("thread", k);
        pause_rand(&seed);
    }
    TCHECK(t_me == 1000, "the calling thread's __thread value became %d", t_me);
    char why[200];
    int ok = ids_ok(sgid0, why, sizeof why);
    TCHECK(ok, "the calling thread after its calls: %s", why);
    __atomic_store_n(&setter_done, 1, __ATOMIC_RELEASE);
    return (void *)bad;
}

static void *short_lived(void *arg)
{
    char why[200];
    int ok = ids_ok(sgid0, why, sizeof why);
    TCHECK(ok, "short-lived thread: %s", why);
    __atomic_fetch_add(&churned, 1, __ATOMIC_RELAXED);
    return arg;
}

/* setresgid(-1, -1, g): NULL or the errno */
static void *change_sgid(void *arg)
{
    errno = 0;
    if (setresgid((gid_t)-1, (gid_t)-1, (gid_t)(intptr_t)arg) != 0)
        return (void *)(intptr_t)(errno ? errno : -1);
    return NULL;
}

/* creates and joins threads, 4 at a time, while the set*id() calls run */
static void *churner(void *arg)
{
    (void)arg;
    gate_wait(&go);
    intptr_t bad = 0;
    int rounds = 0;
    while (!__atomic_load_n(&setter_done, __ATOMIC_ACQUIRE) || rounds < 10) {
        pthread_t t[4];
        for (int k = 0; k < 4; k++)
            if (pthread_create(&t[k], NULL, short_lived, (void *)(intptr_t)k) != 0) {
                bad++;
                t[k] = 0;
            }
        for (int k = 0; k < 4; k++) {
            void *r = NULL;
            if (t[k] && (pthread_join(t[k], &r) != 0 || r != (void *)(intptr_t)k))
                bad++;
        }
        rounds++;
    }
    return (void *)bad;
}

/* every sleeper and main check the ids */
static void check_everywhere(gid_t want_sg, const char *what)
{
    int before = __atomic_load_n(&failures, __ATOMIC_RELAXED);
    __atomic_store_n(&want_sgid, want_sg, __ATOMIC_RELAXED);
    int e = __atomic_add_fetch(&epoch, 1, __ATOMIC_ACQ_REL);
    char why[200];
    int ok = ids_ok(want_sg, why, sizeof why);
    TCHECK(ok, "main at check %d: %s", e, why);
    long long deadline = now_ns() + 10 * 1000000000LL;
    int answered = 0;
    while (now_ns() < deadline) {
        answered = 0;
        for (int i = 0; i < NS; i++)
            answered += __atomic_load_n(&acked[i], __ATOMIC_ACQUIRE) == e;
        if (answered == NS)
            break;
        nap_ms(1);
    }
    CHECK(answered == NS, "only %d of %d threads checked their ids (%s) within 10 s", answered, NS, what);
    if (answered == NS && __atomic_load_n(&failures, __ATOMIC_RELAXED) == before) {
        printf("ok main and %d sleeping threads see %s\n", NS, what);
    }
}

int main(void)
{
    if (getresuid(&ruid0, &euid0, &suid0) != 0 || getresgid(&rgid0, &egid0, &sgid0) != 0) {
        printf("FAIL: getresuid/getresgid: %m\n");
        return 1;
    }
    want_sgid = sgid0;
    t_me = 999;

    pthread_t ts[NS], st, ct;
    for (int i = 0; i < NS; i++)
        if (pthread_create(&ts[i], NULL, sleeper, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    if (pthread_create(&st, NULL, setter, NULL) != 0 || pthread_create(&ct, NULL, churner, NULL) != 0) {
        printf("FAIL: pthread_create (setter/churner)\n");
        return 1;
    }
    nap_ms(2); /* the sleepers are in their loops */
    gate_open(&go);

    int main_bad = 0;
    unsigned seed = 31337;
    for (int k = 0; k < CALLS; k++) {
        main_bad += noop_round("main", k);
        pause_rand(&seed);
    }
    void *setter_bad = NULL, *churn_bad = NULL;
    pthread_join(st, &setter_bad);
    pthread_join(ct, &churn_bad);
    CHECK(main_bad == 0 && setter_bad == NULL, "set*id() calls that did not return 0: %d in main, %ld in the thread",
          main_bad, (long)(intptr_t)setter_bad);
    if (main_bad == 0 && setter_bad == NULL)
        printf("ok %d rounds of 8 no-op set*id() calls returned 0 in a thread and %d in main, concurrently\n",
               CALLS, CALLS);
    CHECK(churn_bad == NULL && churned >= 40, "short-lived threads: %ld create/join errors, %d ran",
          (long)(intptr_t)churn_bad, churned);
    if (churn_bad == NULL && churned >= 40)
        printf("ok short-lived threads were created and joined meanwhile\n");

    check_everywhere(sgid0, "the original ids");

    if (geteuid() == 0) {
        /* a change every thread can see, made by a new thread (not main), then undone */
        gid_t to[2] = { SAVED_GID, sgid0 };
        const char *what[2] = { "the saved gid changed by another thread", "the saved gid restored" };
        for (int s = 0; s < 2; s++) {
            pthread_t c;
            void *r = NULL;
            if (pthread_create(&c, NULL, change_sgid, (void *)(intptr_t)to[s]) != 0) {
                printf("FAIL: pthread_create (change)\n");
                failures++;
                break;
            }
            pthread_join(c, &r);
            CHECK(r == NULL, "setresgid(-1, -1, %d) in a thread failed, errno %ld", (int)to[s], (long)(intptr_t)r);
            check_everywhere(to[s], what[s]);
        }
    } else {
        printf("ok not root: the saved gid is not changed\n");
    }

    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NS; i++)
        pthread_join(ts[i], NULL);
    CHECK(sleep_errors == 0, "%d nanosleep calls failed with an error other than EINTR", sleep_errors);
    CHECK(t_me == 999, "main's __thread value became %d", t_me);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
