// blitz-timeout: 60
// The dedicated signal thread pattern: main blocks SIGUSR1, SIGTERM and SIGUSR2 with
// pthread_sigmask before it creates any thread, so every thread inherits the mask, and one
// thread takes the signals with sigwait().
//  1. a sigwait thread loops on sigwait({SIGUSR1, SIGTERM}), recording each signal, and leaves
//     after SIGTERM; 4 workers nanosleep 20 ms x 10 (never interrupted: 0 each time) and then
//     compute a little.  Once the workers run, main sends kill(getpid(), SIGUSR1), naps 50 ms
//     and sends kill(getpid(), SIGTERM).  The process is not killed by SIGTERM; the sigwait
//     thread gets SIGUSR1 then SIGTERM (had both been pending, sigwait takes the lower
//     number first: still this order); the workers finish; everything joins.
//  2. a new sigwait thread in sigwait: pthread_kill(it, SIGUSR1) ~100 ms later is received by
//     its sigwait; pthread_kill(it, SIGTERM) ends it.
//  3. with SIGUSR2 blocked everywhere and nobody waiting for it (another thread alive),
//     kill(getpid(), SIGUSR2) leaves it pending: sigpending() in main shows it at once; then
//     sigwait({SIGUSR2}) in main returns it at once and it is no longer pending.
//  4. ping-pong: 300 times, main sends kill(getpid(), SIGUSR1) and waits (poll, 5 s at most)
//     for a byte on a pipe; a thread takes each signal with sigwaitinfo (si_signo SIGUSR1,
//     si_pid our pid) and writes the byte. Every signal is answered: none is lost while the
//     thread waits. Then sigtimedwait: with nothing sent it returns EAGAIN no earlier than
//     its 50 ms timeout; with SIGUSR1 sent 30 ms into a 10 s timeout it returns SIGUSR1.
// A signal that never arrives ends the program with a FAIL line after 5 s (sigwait has no
// timeout; the harness would otherwise only see a hang).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sig_common.h"

#define MS 1000000LL
#define FALLBACK_MS 5000
#define WORKERS 4

/* gives up on the whole program: a thread is stuck in sigwait for a signal that never came */
static void wait_or_die(int *flag, const char *what)
{
    if (!wait_flag(flag, FALLBACK_MS)) {
        printf("FAIL: %s: not within %d ms\n", what, FALLBACK_MS);
        fflush(stdout);
        exit(1);
    }
}

static const char *sig_name(int sig)
{
    switch (sig) {
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGTERM: return "SIGTERM";
    default: return "another signal";
    }
}

/* ---- the sigwait thread ---- */

struct waiter {
    int waits;   /* atomic: sigwait calls begun */
    int ngot;    /* atomic: signals received */
    int got[8];
    int done;    /* atomic */
    int errs;
};

static void *sigwait_thread(void *arg)
{
    struct waiter *w = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    for (;;) {
        int sig = 0;
        __atomic_fetch_add(&w->waits, 1, __ATOMIC_RELEASE);
        int r = sigwait(&set, &sig);
        if (r != 0) {
            w->errs++;
            break;
        }
        int n = __atomic_load_n(&w->ngot, __ATOMIC_RELAXED);
        if (n < 8)
            w->got[n] = sig;
        __atomic_store_n(&w->ngot, n + 1, __ATOMIC_RELEASE);
        if (sig == SIGTERM || n + 1 >= 8)
            break;
    }
    gate_open(&w->done);
    return NULL;
}

static void report(struct waiter *w, const char *who)
{
    for (int i = 0; i < w->ngot && i < 8; i++)
        printf("%s: got %s\n", who, sig_name(w->got[i]));
    EXPECT(w->errs, 0);
    EXPECT(w->ngot, 2);
    EXPECT(w->got[0], SIGUSR1);
    EXPECT(w->got[1], SIGTERM);
}

/* ---- the workers ---- */

static int workers_started; /* atomic */

static void *worker(void *arg)
{
    long idx = (long)arg;
    __atomic_fetch_add(&workers_started, 1, __ATOMIC_RELEASE);
    int interrupted = 0;
    for (int i = 0; i < 10; i++) {
        struct timespec ts = { 0, 20 * MS };
        if (nanosleep(&ts, NULL) != 0)
            interrupted++;
    }
    TCHECK(interrupted == 0, "worker %ld: nanosleep interrupted %d times", idx, interrupted);
    unsigned long long sum = 0;
    for (unsigned long long k = 1; k <= 100000; k++)
        sum += k * k + (unsigned long long)idx;
    unsigned long long want = 100000ULL * 100001ULL * 200001ULL / 6 + 100000ULL * (unsigned long long)idx;
    return (void *)(long)(sum == want && interrupted == 0);
}

static int sig_pending(int sig)
{
    sigset_t p;
    sigemptyset(&p);
    EXPECT(sigpending(&p), 0);
    return sigismember(&p, sig) == 1;
}

static int idle_release; /* atomic */
static void *idle_thread(void *arg)
{
    (void)arg;
    gate_wait(&idle_release);
    return NULL;
}

/* ---- ping-pong ---- */

#define ROUNDS 300
static int pp_pipe[2];

static void *pingpong_thread(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    int bad = 0;
    for (int i = 0; i < ROUNDS; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int sig = sigwaitinfo(&set, &si);
        if (sig != SIGUSR1 || si.si_signo != SIGUSR1 || si.si_pid != getpid())
            bad++;
        char c = 'x';
        if (write(pp_pipe[1], &c, 1) != 1)
            bad++;
    }
    return (void *)(long)bad;
}

static void *timedwait_thread(void *arg)
{
    int *result = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    struct timespec ts = { 10, 0 };
    __atomic_store_n(&result[1], 1, __ATOMIC_RELEASE);
    result[0] = sigtimedwait(&set, NULL, &ts);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR2);
    EXPECT_ERR(pthread_sigmask(SIG_BLOCK, &block, NULL), 0);

    /* 1. process-directed signals taken by the sigwait thread while workers run */
    {
        struct waiter w = { 0 };
        pthread_t sw, wk[WORKERS];
        EXPECT_ERR(pthread_create(&sw, NULL, sigwait_thread, &w), 0);
        for (long i = 0; i < WORKERS; i++)
            EXPECT_ERR(pthread_create(&wk[i], NULL, worker, (void *)i), 0);
        while (__atomic_load_n(&workers_started, __ATOMIC_ACQUIRE) < WORKERS)
            nap_ms(1);
        EXPECT(kill(getpid(), SIGUSR1), 0);
        nap_ms(50);
        EXPECT(kill(getpid(), SIGTERM), 0);
        wait_or_die(&w.done, "the sigwait thread did not get SIGUSR1 and SIGTERM");
        EXPECT_ERR(pthread_join(sw, NULL), 0);
        int ok = 0;
        for (int i = 0; i < WORKERS; i++) {
            void *r = NULL;
            EXPECT_ERR(pthread_join(wk[i], &r), 0);
            ok += r != NULL;
        }
        report(&w, "sigwait thread (kill)");
        EXPECT(ok, WORKERS);
        printf("workers: %d of %d finished, sleeps not interrupted\n", ok, WORKERS);
        CHECK(!sig_pending(SIGUSR1) && !sig_pending(SIGTERM), "SIGUSR1 or SIGTERM still pending");
    }
    /* 2. thread-directed: pthread_kill to the sigwait thread */
    {
        struct waiter w = { 0 };
        pthread_t sw;
        EXPECT_ERR(pthread_create(&sw, NULL, sigwait_thread, &w), 0);
        gate_wait(&w.waits);
        nap_ms(100);
        EXPECT_ERR(pthread_kill(sw, SIGUSR1), 0);
        wait_or_die(&w.ngot, "pthread_kill(SIGUSR1) did not reach the sigwait thread");
        EXPECT_ERR(pthread_kill(sw, SIGTERM), 0);
        wait_or_die(&w.done, "pthread_kill(SIGTERM) did not reach the sigwait thread");
        EXPECT_ERR(pthread_join(sw, NULL), 0);
        report(&w, "sigwait thread (pthread_kill)");
    }
    /* 3. sigpending, then sigwait in main */
    {
        pthread_t idle;
        EXPECT_ERR(pthread_create(&idle, NULL, idle_thread, NULL), 0);
        CHECK(!sig_pending(SIGUSR2), "SIGUSR2 pending before it was sent");
        EXPECT(kill(getpid(), SIGUSR2), 0);
        int pending = sig_pending(SIGUSR2);
        printf("sigpending after kill(SIGUSR2): %s\n", pending ? "SIGUSR2 pending" : "NOT pending");
        CHECK(pending, "SIGUSR2 is not pending after kill() with SIGUSR2 blocked");
        if (pending) {
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGUSR2);
            int sig = 0;
            long long t0 = now_ns();
            EXPECT_ERR(sigwait(&set, &sig), 0);
            long long took = now_ns() - t0;
            printf("sigwait in main: got %s\n", sig_name(sig));
            EXPECT(sig, SIGUSR2);
            CHECK(took < 1000 * MS, "sigwait for a pending SIGUSR2 took %lld ms", took / MS);
            CHECK(!sig_pending(SIGUSR2), "SIGUSR2 still pending after sigwait took it");
        }
        gate_open(&idle_release);
        EXPECT_ERR(pthread_join(idle, NULL), 0);
    }

    /* 4. ping-pong through sigwaitinfo, then sigtimedwait */
    {
        EXPECT(pipe(pp_pipe), 0);
        pthread_t th;
        EXPECT_ERR(pthread_create(&th, NULL, pingpong_thread, NULL), 0);
        int answered = 0;
        for (int i = 0; i < ROUNDS; i++) {
            EXPECT(kill(getpid(), SIGUSR1), 0);
            struct pollfd p = { pp_pipe[0], POLLIN, 0 };
            char c;
            if (poll(&p, 1, FALLBACK_MS) != 1 || read(pp_pipe[0], &c, 1) != 1) {
                printf("FAIL: round %d: kill(SIGUSR1) not answered within %d ms\n", i, FALLBACK_MS);
                fflush(stdout);
                exit(1);
            }
            answered++;
        }
        void *bad = NULL;
        EXPECT_ERR(pthread_join(th, &bad), 0);
        printf("ping-pong: %d of %d signals answered, %ld bad\n", answered, ROUNDS, (long)bad);
        EXPECT((long)bad, 0);
        close(pp_pipe[0]);
        close(pp_pipe[1]);

        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        struct timespec ts = { 0, 50 * MS };
        long long t0 = now_ns();
        int r = sigtimedwait(&set, NULL, &ts);
        int e = errno;
        long long took = now_ns() - t0;
        EXPECT(r, -1);
        EXPECT(e, EAGAIN);
        CHECK(took >= 50 * MS, "sigtimedwait timed out early, after %lld ns", took);
        printf("sigtimedwait with nothing sent: %s\n", r == -1 && e == EAGAIN ? "EAGAIN" : "?");

        int result[2] = { 0, 0 };
        EXPECT_ERR(pthread_create(&th, NULL, timedwait_thread, result), 0);
        gate_wait(&result[1]);
        nap_ms(30);
        EXPECT(kill(getpid(), SIGUSR1), 0);
        EXPECT_ERR(pthread_join(th, NULL), 0);
        printf("sigtimedwait with SIGUSR1 sent meanwhile: %s\n", sig_name(result[0]));
        EXPECT(result[0], SIGUSR1);
    }

    printf("%s\n", failures ? "FAILED" : "sigwait: ok");
    return failures ? 1 : 0;
}
