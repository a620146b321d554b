// fork with threads: two pthread_atfork sets (prepare handlers in reverse
// registration order, parent/child handlers in registration order); fork from
// main while 4 other threads nap; the child creates and joins threads, sleeps,
// and exits with a status the parent checks through waitpid; then the same
// fork from a non-main thread.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char log_[64];
static atomic_int log_len, stop;

static void note(const char *s)
{
    int n = atomic_fetch_add(&log_len, 2);
    if (n + 2 < (int)sizeof log_) {
        log_[n] = s[0];
        log_[n + 1] = s[1];
    }
}
static void prepare1(void) { note("P1"); }
static void prepare2(void) { note("P2"); }
static void parent1(void) { note("A1"); }
static void parent2(void) { note("A2"); }
static void child1(void) { note("C1"); }
static void child2(void) { note("C2"); }

static void *napper(void *arg)
{
    while (!atomic_load(&stop)) {
        struct timespec ts = { 0, 2 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return arg;
}

static void *child_worker(void *arg)
{
    struct timespec ts = { 0, ((uintptr_t)arg % 4) * 1000000L };
    nanosleep(&ts, NULL);
    return (void *)((uintptr_t)arg * 2);
}

/* runs in the child: returns the exit status to use */
static int child_body(const char *who, int good_status)
{
    int ok = 1;
    /* the child's log must end with the child handlers, in order */
    int n = atomic_load(&log_len);
    ok &= n >= 8 && memcmp(log_ + n - 8, "P2P1C1C2", 8) == 0;
    pthread_t t[10];
    uintptr_t sum = 0;
    for (uintptr_t i = 0; i < 10; i++)
        if (pthread_create(&t[i], NULL, child_worker, (void *)i) != 0)
            return 10;
    for (int i = 0; i < 10; i++) {
        void *r = NULL;
        if (pthread_join(t[i], &r) != 0)
            return 11;
        sum += (uintptr_t)r;
    }
    ok &= sum == 90;
    long long t0 = now_ns();
    struct timespec ts = { 0, 30 * 1000000L };
    nanosleep(&ts, NULL);
    ok &= now_ns() - t0 >= 30 * 1000000LL;
    printf("child (forked from %s): handlers %s, 10 threads joined (sum %lu), slept\n", who,
           ok ? "in order" : "WRONG", (unsigned long)sum);
    fflush(stdout);
    return ok ? good_status : 12;
}

static int do_fork(const char *who, int good_status)
{
    fflush(stdout);
    atomic_store(&log_len, 0);
    memset(log_, 0, sizeof log_);
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL: fork: %m\n");
        return 1;
    }
    if (pid == 0)
        exit(child_body(who, good_status));
    int n = atomic_load(&log_len);
    int handlers_ok = n == 8 && memcmp(log_, "P2P1A1A2", 8) == 0;
    int status = 0;
    pid_t w = waitpid(pid, &status, 0);
    int failures = 0;
    if (!handlers_ok) {
        printf("FAIL: parent saw handler order %.*s (expected P2P1A1A2)\n", n, log_);
        failures++;
    }
    if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != good_status) {
        printf("FAIL: child forked from %s: waitpid %s, status 0x%x (expected exit %d)\n", who,
               w == pid ? "ok" : "failed", status, good_status);
        failures++;
    } else
        printf("parent: child forked from %s exited with %d, handlers in order\n", who, good_status);
    return failures;
}

static void *forking_thread(void *arg)
{
    return (void *)(uintptr_t)do_fork("a non-main thread", 43);
}

int main(void)
{
    pthread_atfork(prepare1, parent1, child1);
    pthread_atfork(prepare2, parent2, child2);
    pthread_t naps[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&naps[i], NULL, napper, (void *)i);
    struct timespec ts = { 0, 10 * 1000000L };
    nanosleep(&ts, NULL);

    int failures = do_fork("main", 42);

    pthread_t f;
    void *r = NULL;
    pthread_create(&f, NULL, forking_thread, NULL);
    pthread_join(f, &r);
    failures += (int)(uintptr_t)r;

    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        void *v = NULL;
        pthread_join(naps[i], &v);
        if (v != (void *)(uintptr_t)i) {
            printf("FAIL: napper %d returned a wrong value after the forks\n", i);
            failures++;
        }
    }
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
