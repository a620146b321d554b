// blitz-timeout: 60
// Signal masks are per thread and inherited at creation, for every signal a thread can block
// (a fault signal such as SIGSEGV included): main blocks SIGSEGV and SIGUSR1, 8 threads
// (spread over the workers) each see exactly that mask and change their own without
// touching main's or each other's; then main's SIG_SETMASK reports the old mask through
// `old` and new threads inherit the new one; sigprocmask behaves the same.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "check.h"

#define THREADS 8

static int blocked(int sig)
{
    sigset_t s;
    pthread_sigmask(SIG_BLOCK, NULL, &s);
    return sigismember(&s, sig) == 1;
}

static int go; /* atomic */

/* Each thread checks what it inherited, then blocks SIGUSR2 for itself only. */
static void *first_gen(void *arg)
{
    long i = (long)arg;
    TCHECK(blocked(SIGSEGV) && blocked(SIGUSR1) && !blocked(SIGTERM),
           "thread %ld did not inherit {SIGSEGV, SIGUSR1}", i);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    TCHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0, "thread %ld: pthread_sigmask", i);
    gate_wait(&go); /* all have changed their masks before anyone looks again */
    nap_ms(1);
    TCHECK(blocked(SIGUSR2) && blocked(SIGSEGV) && blocked(SIGUSR1),
           "thread %ld lost its own mask", i);
    return NULL;
}

static void *second_gen(void *arg)
{
    long i = (long)arg;
    TCHECK(blocked(SIGTERM) && !blocked(SIGSEGV) && !blocked(SIGUSR1) && !blocked(SIGUSR2),
           "thread %ld did not inherit {SIGTERM}", i);
    return NULL;
}

int main(void)
{
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGSEGV);
    sigaddset(&s, SIGUSR1);
    EXPECT_ERR(pthread_sigmask(SIG_BLOCK, &s, NULL), 0);
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, first_gen, (void *)i), 0);
    nap_ms(50);
    gate_open(&go);
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    CHECK(!blocked(SIGUSR2), "main got a thread's SIGUSR2 block");
    printf("inherited by %d threads, each changed its own: %s\n", THREADS,
           failures ? "no" : "yes");

    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    EXPECT_ERR(pthread_sigmask(SIG_SETMASK, &s, &old), 0);
    EXPECT(sigismember(&old, SIGSEGV), 1);
    EXPECT(sigismember(&old, SIGUSR1), 1);
    EXPECT(sigismember(&old, SIGTERM), 0);
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, second_gen, (void *)i), 0);
    for (long i = 0; i < THREADS; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    EXPECT(sigprocmask(SIG_UNBLOCK, &s, &old), 0);
    EXPECT(sigismember(&old, SIGTERM), 1);
    CHECK(!blocked(SIGTERM), "sigprocmask(SIG_UNBLOCK) left SIGTERM blocked");
    printf("SIG_SETMASK old mask and second generation: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
