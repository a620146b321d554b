// blitz-timeout: 90
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's thread identity between its tasks by design; glibc checks a process-shared recursive mutex's owner against it (part 4 migrates between lock and unlock)
// Process-shared condition variables and mutexes, used as conformance suites use them:
//  1. threads of one process: 6 waiters (3 with pthread_cond_wait, 3 with
//     pthread_cond_timedwait, 10 s) on a PTHREAD_PROCESS_SHARED condvar and mutex; main
//     waits until all are inside, sets the predicate, broadcasts, unlocks, destroys the
//     condvar and overwrites it with 0xFF bytes (safe: nobody is blocked after the
//     broadcast), then re-initialises it. 20 rounds; every waiter returns 0 each round.
//  2. cancellation: a thread waiting on a process-shared condvar is cancelled; its cleanup
//     handler runs with the mutex held (the handler unlocks it) and the join returns
//     PTHREAD_CANCELED.
//  3. processes: 4 children forked from main wait on a condvar in a MAP_SHARED mapping;
//     the parent broadcasts, destroys it and zeroes it at once; every child must still
//     return from its wait (exit 0), 10 rounds.
//  4. siblings: two children forked from the same thread and a process-shared recursive
//     mutex: while child A holds it, child B's trylock is EBUSY and its lock waits until
//     A unlocks (an owner id shared by siblings would let B in at once).
// A missing wake-up ends the program with a FAIL line (alarm after 60 s).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define WAITERS 6
#define ROUNDS 20
#define CHILDREN 4

struct shared {
    pthread_mutex_t m;
    pthread_cond_t c;
    int inside, predicate, out;
    pthread_mutex_t rec;
    int a_holds, b_tried;
};

static struct shared *sh;
static pthread_condattr_t ca;

static void init_cond(void) { EXPECT_ERR(pthread_cond_init(&sh->c, &ca), 0); }

static int wait_pred(int timed)
{
    int rc = 0;
    struct timespec ts = deadline_ms(CLOCK_REALTIME, 10000);
    while (rc == 0 && !sh->predicate)
        rc = timed ? pthread_cond_timedwait(&sh->c, &sh->m, &ts) : pthread_cond_wait(&sh->c, &sh->m);
    return rc;
}

static void *waiter(void *arg)
{
    long idx = (long)arg;
    TCHECK(pthread_mutex_lock(&sh->m) == 0, "lock");
    sh->inside++;
    int rc = wait_pred(idx & 1);
    TCHECK(rc == 0, "waiter %ld: wait returned %d", idx, rc);
    sh->inside--;
    TCHECK(pthread_mutex_unlock(&sh->m) == 0, "unlock");
    return NULL;
}

/* Waits (polling under the mutex, as the suites do) until `inside` reaches n. */
static void until_inside(int n)
{
    for (;;) {
        pthread_mutex_lock(&sh->m);
        int k = sh->inside;
        pthread_mutex_unlock(&sh->m);
        if (k == n)
            return;
        sched_yield();
    }
}

static void unlock_cleanup(void *arg)
{
    int *ran = arg;
    *ran = pthread_mutex_unlock(&sh->m) == 0 ? 1 : -1;
}

static void *cancel_victim(void *arg)
{
    int *ran = arg;
    pthread_mutex_lock(&sh->m);
    sh->inside++;
    pthread_cleanup_push(unlock_cleanup, ran);
    while (1)
        pthread_cond_wait(&sh->c, &sh->m);
    pthread_cleanup_pop(0);
    return NULL;
}

/* A child must not outlive a parent that failed or was killed by the harness's timeout. */
static pid_t fork_child(void)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(9);
    }
    return pid;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: a wait was never woken (60 s)\n";
    if (write(1, msg, sizeof msg - 1) < 0)
        _exit(2);
    _exit(1);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, on_alarm);
    alarm(60);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    EXPECT_ERR(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED), 0);
    EXPECT_ERR(pthread_mutex_init(&sh->m, &ma), 0);
    pthread_condattr_init(&ca);
    EXPECT_ERR(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED), 0);

    /* 1. threads, broadcast, destroy and reuse */
    int ok_rounds = 0;
    for (int r = 0; r < ROUNDS; r++) {
        init_cond();
        sh->predicate = 0;
        pthread_t th[WAITERS];
        for (long i = 0; i < WAITERS; i++)
            EXPECT_ERR(pthread_create(&th[i], NULL, waiter, (void *)i), 0);
        until_inside(WAITERS);
        pthread_mutex_lock(&sh->m);
        sh->predicate = 1;
        EXPECT_ERR(pthread_cond_broadcast(&sh->c), 0);
        pthread_mutex_unlock(&sh->m);
        EXPECT_ERR(pthread_cond_destroy(&sh->c), 0);
        memset(&sh->c, 0xFF, sizeof sh->c);
        for (int i = 0; i < WAITERS; i++)
            EXPECT_ERR(pthread_join(th[i], NULL), 0);
        ok_rounds += sh->inside == 0;
    }
    printf("threads: %d of %d rounds, every waiter woken\n", ok_rounds, ROUNDS);
    EXPECT(ok_rounds, ROUNDS);

    /* 2. cancelling a waiter */
    {
        init_cond();
        sh->inside = 0;
        int ran = 0;
        pthread_t th;
        EXPECT_ERR(pthread_create(&th, NULL, cancel_victim, &ran), 0);
        until_inside(1);
        EXPECT_ERR(pthread_cancel(th), 0);
        void *res = NULL;
        EXPECT_ERR(pthread_join(th, &res), 0);
        printf("cancelled waiter: %s, cleanup %s\n", res == PTHREAD_CANCELED ? "cancelled" : "NOT cancelled",
               ran == 1 ? "unlocked the mutex" : "did not run or the mutex was not held");
        CHECK(res == PTHREAD_CANCELED, "the waiter was not cancelled");
        EXPECT(ran, 1);
        EXPECT_ERR(pthread_mutex_trylock(&sh->m), 0);
        pthread_mutex_unlock(&sh->m);
        EXPECT_ERR(pthread_cond_destroy(&sh->c), 0);
        sh->inside = 0;
    }

    /* 3. processes, broadcast, destroy and zero at once */
    int ok_proc = 0;
    for (int r = 0; r < 10; r++) {
        init_cond();
        sh->predicate = 0;
        pid_t kid[CHILDREN];
        for (int i = 0; i < CHILDREN; i++) {
            kid[i] = fork_child();
            if (kid[i] == 0) {
                pthread_mutex_lock(&sh->m);
                sh->inside++;
                int rc = wait_pred(i & 1);
                sh->inside--;
                pthread_mutex_unlock(&sh->m);
                _exit(rc == 0 ? 0 : 3);
            }
        }
        until_inside(CHILDREN);
        pthread_mutex_lock(&sh->m);
        sh->predicate = 1;
        pthread_cond_broadcast(&sh->c);
        pthread_mutex_unlock(&sh->m);
        EXPECT_ERR(pthread_cond_destroy(&sh->c), 0);
        memset(&sh->c, 0, sizeof sh->c);
        int good = 0;
        for (int i = 0; i < CHILDREN; i++) {
            int status = 0;
            waitpid(kid[i], &status, 0);
            good += WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        ok_proc += good == CHILDREN;
    }
    printf("processes: %d of 10 rounds, every child woken\n", ok_proc);
    EXPECT(ok_proc, 10);

    /* 4. sibling processes and a recursive process-shared mutex */
    {
        pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
        EXPECT_ERR(pthread_mutex_init(&sh->rec, &ma), 0);
        sh->a_holds = sh->b_tried = 0;
        pid_t a = fork_child();
        if (a == 0) {
            if (pthread_mutex_lock(&sh->rec) != 0)
                _exit(3);
            __atomic_store_n(&sh->a_holds, 1, __ATOMIC_RELEASE);
            gate_wait(&sh->b_tried);
            nap_ms(50);
            pthread_mutex_unlock(&sh->rec);
            _exit(0);
        }
        gate_wait(&sh->a_holds);
        pid_t b = fork_child();
        if (b == 0) {
            int busy = pthread_mutex_trylock(&sh->rec);
            __atomic_store_n(&sh->b_tried, 1, __ATOMIC_RELEASE);
            if (busy == 0)
                _exit(4); /* got a mutex its sibling holds */
            long long t0 = now_ns();
            if (pthread_mutex_lock(&sh->rec) != 0)
                _exit(5);
            long long waited = now_ns() - t0;
            pthread_mutex_unlock(&sh->rec);
            _exit(busy == EBUSY && waited >= 20000000LL ? 0 : 6);
        }
        int sa = 0, sb = 0;
        waitpid(a, &sa, 0);
        waitpid(b, &sb, 0);
        printf("siblings: holder exit %d, second exit %d (0: EBUSY, then waited for the holder)\n",
               WEXITSTATUS(sa), WEXITSTATUS(sb));
        CHECK(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, "the holder failed");
        CHECK(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, "the sibling got the mutex its sibling held");
    }

    printf("%s\n", failures ? "FAILED" : "pshared condvars: ok");
    return failures ? 1 : 0;
}
