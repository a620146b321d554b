// blitz-timeout: 60
// Corners of NPTL's behaviour that conformance suites (glibc's nptl tests, the Open POSIX
// Test Suite) check and that a threading library easily gets wrong:
//  1. a pending deferred cancellation is acted on at a cancellation point that would not
//     have to wait: write() to a pipe with room, read() of a pipe with data, poll() with a
//     ready descriptor (the thread is cancelled there; the call's effect is not required)
//  2. a writer-preferring rwlock: a timed writer that gives up (ETIMEDOUT) while a reader
//     holds the lock must not keep later readers out: a new rdlock succeeds at once
//  3. two barriers used in turn, each destroyed and initialised again by its serial thread
//     every round while the other threads are being released (glibc supports it; the other
//     barrier keeps any thread from entering the re-initialised one early): 200 rounds
//  4. pthread_kill with a signal the target blocks does not end its pthread_cond_timedwait:
//     one call, which times out (ETIMEDOUT) after 200 ms; the signal is pending afterwards
//  5. pthread_kill(pthread_self(), SIGUSR2) with SIGUSR2 blocked and at its default action
//     leaves it pending (the process lives, although another thread accepts SIGUSR2);
//     sigwait takes it
//  6. pthread_create attributes: pthread_attr_setsigmask_np's mask is the new thread's;
//     PTHREAD_EXPLICIT_SCHED with SCHED_FIFO/1 is reported by pthread_getschedparam in the
//     thread (run as root); without explicit scheduling the thread inherits its creator's
//     parameters
//  7. System V / XSI signal calls, in main and in a thread: sigset(SIGUSR1, SIG_HOLD) after sigaction
//     returns the handler and blocks the signal, so a raise() stays pending; sigrelse runs the
//     handler; sigset(SIGUSR1, SIG_DFL) returns it again; sighold + sigpending; sigignore
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* part 7 tests the old calls */

/* ---- 1 ---- */
static int cp_pipe[2];
static int reached_after; /* atomic: the thread got past its cancellation point */

static void *cancel_at(void *arg)
{
    long which = (long)arg;
    char c = 'x';
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    while (!__atomic_load_n(&reached_after, __ATOMIC_ACQUIRE)) /* main cancels, then opens */
        sched_yield();
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    if (which == 0) {
        if (write(cp_pipe[1], &c, 1) < 0)
            return NULL;
    } else if (which == 1) {
        if (read(cp_pipe[0], &c, 1) < 0)
            return NULL;
    } else {
        struct pollfd p = { cp_pipe[1], POLLOUT, 0 };
        poll(&p, 1, 1000);
    }
    __atomic_store_n(&reached_after, 2, __ATOMIC_RELEASE);
    return NULL;
}

/* ---- 2 ---- */
static pthread_rwlock_t rw2;
static void *timed_writer(void *arg)
{
    struct timespec ts = deadline_ms(CLOCK_REALTIME, 50);
    *(int *)arg = pthread_rwlock_timedwrlock(&rw2, &ts);
    return NULL;
}
static void *late_reader(void *arg)
{
    struct timespec ts = deadline_ms(CLOCK_REALTIME, 2000);
    int rc = pthread_rwlock_timedrdlock(&rw2, &ts);
    *(int *)arg = rc;
    if (rc == 0)
        pthread_rwlock_unlock(&rw2);
    return NULL;
}

/* ---- 3 ---- */
#define BTHREADS 4
#define BROUNDS 200
static pthread_barrier_t bar[2];
static void *barrier_loop(void *arg)
{
    (void)arg;
    for (int r = 0; r < BROUNDS; r++) {
        for (int k = 0; k < 2; k++) {
            int rc = pthread_barrier_wait(&bar[k]);
            if (rc == PTHREAD_BARRIER_SERIAL_THREAD) {
                TCHECK(pthread_barrier_destroy(&bar[k]) == 0, "destroy");
                TCHECK(pthread_barrier_init(&bar[k], NULL, BTHREADS) == 0, "init");
            } else {
                TCHECK(rc == 0, "barrier wait returned %d", rc);
            }
        }
    }
    return NULL;
}

/* ---- 4 ---- */
static pthread_mutex_t m4 = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c4 = PTHREAD_COND_INITIALIZER;
static int in_wait4; /* atomic */
static void *timed_waiter(void *arg)
{
    int *res = arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    pthread_mutex_lock(&m4);
    struct timespec ts = deadline_ms(CLOCK_REALTIME, 200);
    __atomic_store_n(&in_wait4, 1, __ATOMIC_RELEASE);
    int rc, calls = 0;
    do
        rc = pthread_cond_timedwait(&c4, &m4, &ts), calls++;
    while (rc == 0 && calls < 100); /* nobody signals: only the timeout ends it */
    res[0] = rc;
    res[4] = calls; /* 1: the blocked signal did not end the wait early */
    res[1] = reached(CLOCK_REALTIME, ts);
    pthread_mutex_unlock(&m4);
    sigset_t p;
    sigpending(&p);
    res[2] = sigismember(&p, SIGUSR1);
    int sig = 0;
    if (res[2] == 1)
        sigwait(&s, &sig);
    res[3] = sig;
    return NULL;
}

/* ---- 7 ---- */
static volatile sig_atomic_t usr1_hits;
static void on_usr1(int sig) { (void)sig; usr1_hits++; }
static void *xsi_calls(void *arg)
{
    int *res = arg;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    res[0] = sigset(SIGUSR1, SIG_HOLD) == on_usr1;
    raise(SIGUSR1);
    res[1] = usr1_hits;                    /* 0: held */
    sigset_t p;
    sigpending(&p);
    res[2] = sigismember(&p, SIGUSR1);     /* 1 */
    sigrelse(SIGUSR1);
    res[3] = usr1_hits;                    /* 1: delivered on release */
    res[4] = sigset(SIGUSR1, SIG_DFL) == on_usr1;
    sighold(SIGUSR2);
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    res[5] = sigismember(&m, SIGUSR2);     /* 1 */
    sigrelse(SIGUSR2);
    res[6] = sigignore(SIGUSR2) == 0 && signal(SIGUSR2, SIG_DFL) == SIG_IGN;
    return NULL;
}

/* ---- 5 ---- */
static int other_stop; /* atomic */
static void *other_alive(void *arg)
{
    (void)arg;
    gate_wait(&other_stop);
    return NULL;
}

/* ---- 6 ---- */
struct seen6 {
    int usr1_blocked, hup_blocked;
    int policy, prio;
};
static void *report_attrs(void *arg)
{
    struct seen6 *s = arg;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    s->usr1_blocked = sigismember(&cur, SIGUSR1);
    s->hup_blocked = sigismember(&cur, SIGHUP);
    struct sched_param sp;
    pthread_getschedparam(pthread_self(), &s->policy, &sp);
    s->prio = sp.sched_priority;
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* 1 */
    const char *names[] = { "write to a pipe with room", "read of a pipe with data",
                            "poll of a ready descriptor" };
    for (long w = 0; w < 3; w++) {
        EXPECT(pipe(cp_pipe), 0);
        if (w == 1)
            EXPECT(write(cp_pipe[1], "d", 1), 1);
        __atomic_store_n(&reached_after, 0, __ATOMIC_RELEASE);
        pthread_t th;
        EXPECT_ERR(pthread_create(&th, NULL, cancel_at, (void *)w), 0);
        EXPECT_ERR(pthread_cancel(th), 0);
        __atomic_store_n(&reached_after, 1, __ATOMIC_RELEASE);
        void *res = NULL;
        EXPECT_ERR(pthread_join(th, &res), 0);
        printf("pending cancel, %s: %s\n", names[w],
               res == PTHREAD_CANCELED ? "cancelled there" : "NOT cancelled");
        CHECK(res == PTHREAD_CANCELED, "%s is a cancellation point", names[w]);
        EXPECT(__atomic_load_n(&reached_after, __ATOMIC_ACQUIRE), 1);
        close(cp_pipe[0]);
        close(cp_pipe[1]);
    }

    /* 2 */
    {
        pthread_rwlockattr_t ra;
        pthread_rwlockattr_init(&ra);
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        EXPECT_ERR(pthread_rwlock_init(&rw2, &ra), 0);
        EXPECT_ERR(pthread_rwlock_rdlock(&rw2), 0);
        int wres = -1;
        pthread_t w;
        EXPECT_ERR(pthread_create(&w, NULL, timed_writer, &wres), 0);
        EXPECT_ERR(pthread_join(w, NULL), 0);
        int rres = -1;
        pthread_t r;
        EXPECT_ERR(pthread_create(&r, NULL, late_reader, &rres), 0);
        EXPECT_ERR(pthread_join(r, NULL), 0);
        printf("prefer-writer rwlock: timed writer %s, later reader %s\n",
               wres == ETIMEDOUT ? "ETIMEDOUT" : "?", rres == 0 ? "got it at once" : "kept out");
        EXPECT_ERR(wres, ETIMEDOUT);
        EXPECT_ERR(rres, 0);
        pthread_rwlock_unlock(&rw2);
        pthread_rwlock_destroy(&rw2);
    }

    /* 3 */
    {
        EXPECT_ERR(pthread_barrier_init(&bar[0], NULL, BTHREADS), 0);
        EXPECT_ERR(pthread_barrier_init(&bar[1], NULL, BTHREADS), 0);
        pthread_t th[BTHREADS];
        for (int i = 0; i < BTHREADS; i++)
            EXPECT_ERR(pthread_create(&th[i], NULL, barrier_loop, NULL), 0);
        for (int i = 0; i < BTHREADS; i++)
            EXPECT_ERR(pthread_join(th[i], NULL), 0);
        printf("barrier destroyed and initialised by its serial thread: %d rounds done\n", BROUNDS);
        pthread_barrier_destroy(&bar[0]);
        pthread_barrier_destroy(&bar[1]);
    }

    /* 4 */
    {
        int res[5] = { -1, -1, -1, -1, -1 };
        pthread_t th;
        EXPECT_ERR(pthread_create(&th, NULL, timed_waiter, res), 0);
        gate_wait(&in_wait4);
        nap_ms(30);
        EXPECT_ERR(pthread_kill(th, SIGUSR1), 0);
        EXPECT_ERR(pthread_join(th, NULL), 0);
        printf("cond_timedwait with a blocked signal sent: %s, %s, signal %s, sigwait got %s\n",
               res[0] == ETIMEDOUT ? "ETIMEDOUT" : "not ETIMEDOUT",
               res[1] ? "at its deadline" : "EARLY", res[2] == 1 ? "pending" : "NOT pending",
               res[3] == SIGUSR1 ? "SIGUSR1" : "nothing");
        EXPECT_ERR(res[0], ETIMEDOUT);
        EXPECT(res[1], 1);
        EXPECT(res[2], 1);
        EXPECT(res[3], SIGUSR1);
        EXPECT(res[4], 1);
    }

    /* 5 (with another thread alive that does not block SIGUSR2, so that a signal that
     * escaped to it would kill the process) */
    {
        pthread_t other;
        __atomic_store_n(&other_stop, 0, __ATOMIC_RELEASE);
        EXPECT_ERR(pthread_create(&other, NULL, other_alive, NULL), 0);
        sigset_t s, old;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR2);
        pthread_sigmask(SIG_BLOCK, &s, &old);
        EXPECT_ERR(pthread_kill(pthread_self(), SIGUSR2), 0);
        sigset_t p;
        sigpending(&p);
        int pending = sigismember(&p, SIGUSR2);
        int sig = 0;
        if (pending == 1)
            sigwait(&s, &sig);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        printf("pthread_kill(self) of a blocked default-action signal: %s, sigwait got %s\n",
               pending == 1 ? "pending" : "NOT pending", sig == SIGUSR2 ? "SIGUSR2" : "nothing");
        EXPECT(pending, 1);
        EXPECT(sig, SIGUSR2);
        gate_open(&other_stop);
        EXPECT_ERR(pthread_join(other, NULL), 0);
    }

    /* 6 */
    {
        pthread_attr_t a;
        pthread_attr_init(&a);
        sigset_t want;
        sigemptyset(&want);
        sigaddset(&want, SIGUSR1);
        EXPECT_ERR(pthread_attr_setsigmask_np(&a, &want), 0);
        struct seen6 s1 = { -1, -1, -1, -1 };
        sigset_t s, old;
        sigemptyset(&s);
        sigaddset(&s, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &s, &old); /* the creator blocks SIGHUP, the attr does not */
        pthread_t th;
        EXPECT_ERR(pthread_create(&th, &a, report_attrs, &s1), 0);
        EXPECT_ERR(pthread_join(th, NULL), 0);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        printf("attr sigmask: SIGUSR1 %s, SIGHUP %s\n", s1.usr1_blocked == 1 ? "blocked" : "open",
               s1.hup_blocked == 1 ? "blocked" : "open");
        EXPECT(s1.usr1_blocked, 1);
        EXPECT(s1.hup_blocked, 0);
        pthread_attr_destroy(&a);

        pthread_attr_init(&a);
        EXPECT_ERR(pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED), 0);
        EXPECT_ERR(pthread_attr_setschedpolicy(&a, SCHED_FIFO), 0);
        struct sched_param sp = { .sched_priority = 1 };
        EXPECT_ERR(pthread_attr_setschedparam(&a, &sp), 0);
        struct seen6 s2 = { -1, -1, -1, -1 };
        int rc = pthread_create(&th, &a, report_attrs, &s2);
        if (rc == EPERM) {
            printf("explicit SCHED_FIFO: EPERM (not root), skipped\n");
        } else {
            EXPECT_ERR(rc, 0);
            if (rc == 0)
                EXPECT_ERR(pthread_join(th, NULL), 0);
            printf("explicit SCHED_FIFO/1: thread reports policy %d priority %d\n", s2.policy, s2.prio);
            EXPECT(s2.policy, SCHED_FIFO);
            EXPECT(s2.prio, 1);
        }
        pthread_attr_destroy(&a);

        struct seen6 s3 = { -1, -1, -1, -1 };
        EXPECT_ERR(pthread_create(&th, NULL, report_attrs, &s3), 0);
        EXPECT_ERR(pthread_join(th, NULL), 0);
        int mypol;
        struct sched_param mine;
        pthread_getschedparam(pthread_self(), &mypol, &mine);
        printf("inherited scheduling: policy %s, priority %s\n", s3.policy == mypol ? "same" : "DIFFERENT",
               s3.prio == mine.sched_priority ? "same" : "DIFFERENT");
        EXPECT(s3.policy, mypol);
        EXPECT(s3.prio, mine.sched_priority);
    }

    /* 7 */
    {
      for (int in_thread = 0; in_thread < 2; in_thread++) {
        int res[7] = { -1, -1, -1, -1, -1, -1, -1 };
        usr1_hits = 0;
        if (in_thread) {
            pthread_t th;
            EXPECT_ERR(pthread_create(&th, NULL, xsi_calls, res), 0);
            EXPECT_ERR(pthread_join(th, NULL), 0);
        } else {
            xsi_calls(res);
        }
        printf("XSI signals: sigset(HOLD) gave the handler %d, held %d, pending %d, released %d, "
               "sigset(DFL) gave it %d, sighold %d, sigignore %d\n",
               res[0], res[1] == 0, res[2], res[3] == 1, res[4], res[5], res[6]);
        EXPECT(res[0], 1);
        EXPECT(res[1], 0);
        EXPECT(res[2], 1);
        EXPECT(res[3], 1);
        EXPECT(res[4], 1);
        EXPECT(res[5], 1);
        EXPECT(res[6], 1);
      }
    }

    printf("%s\n", failures ? "FAILED" : "nptl edges: ok");
    return failures ? 1 : 0;
}
