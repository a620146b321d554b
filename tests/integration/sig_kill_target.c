// blitz-timeout: 90
// pthread_kill(t, sig) runs the handler on t, exactly once, whatever t is doing when the
// signal is sent (POSIX: "the signal shall be delivered to the specified thread").
//  1. a moving target: the target and three other threads each loop on a short spin and a
//     random scheduling point (sched_yield, or a nanosleep of 0..100 us), so the target is
//     often between two runs when a signal is sent.  Main sends 1500 SIGUSR1, one at a
//     time (each after the previous one was handled, so none merge), with random gaps:
//     every one is handled once, on the target thread.
//  2. a yielding target: the target loops on sched_yield() alone (never sleeps), 500
//     signals sent as in 1: each handled once, on the target.
//  3. a waiting target that wakes up often: sem_wait on a process-shared semaphore with
//     value 0 (a futex wait natively), signalled after 0..2 ms, 300 rounds: -1 EINTR each
//     time, the handler ran once, on the target, before sem_wait returned.
//  4. a process-directed signal only one thread accepts (POSIX: "delivered to exactly one
//     of the threads ... that has not blocked delivery"): main blocks SIGUSR1, the target
//     waits, in turn: sem_wait on a process-shared semaphore, read() on an empty pipe and
//     pause(), with SIGUSR1 unblocked, or sigsuspend() and ppoll() on the pipe, with a mask
//     that accepts it for the call; main sends kill(getpid(), SIGUSR1), 75 rounds: -1 EINTR
//     each time, the handler ran once, on the target.
// A signal not handled within 2 s is counted as lost (and the round ended), so a broken run
// prints FAIL instead of hanging.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sig_common.h"

#define MOVING_ROUNDS 1500
#define MOVING_OTHERS 3
#define YIELD_ROUNDS 500
#define SEM_ROUNDS 300
#define PROC_ROUNDS 75
#define LOST_MS 2000

static pthread_t target;
static int wrong_thread; /* atomic: handler runs on another thread than the target */

static void on_sig(int sig)
{
    (void)sig;
    if (!pthread_equal(pthread_self(), target))
        __atomic_fetch_add(&wrong_thread, 1, __ATOMIC_RELAXED);
    record_hit();
}

/* ---- 1. and 2. busy targets ---- */

static int stop; /* atomic */

static void *yielder(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE))
        sched_yield();
    return NULL;
}

static void *mover(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    volatile unsigned sink = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < 2000; i++)
            sink += (unsigned)i;
        pause_rand(&seed);
    }
    return NULL;
}

/* Sends `rounds` signals to a target running fn among `nothers` threads running fn too. */
static void busy_target(const char *name, void *(*fn)(void *), int nothers, int rounds)
{
    pthread_t others[MOVING_OTHERS];
    reset_hits();
    __atomic_store_n(&wrong_thread, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
    EXPECT_ERR(pthread_create(&target, NULL, fn, (void *)1), 0);
    for (int i = 0; i < nothers; i++)
        EXPECT_ERR(pthread_create(&others[i], NULL, fn, (void *)(uintptr_t)(i + 2)), 0);
    unsigned seed = 99;
    int lost = 0;
    for (int r = 0; r < rounds; r++) {
        nap_us(lcg_next(&seed) % 200);
        EXPECT_ERR(pthread_kill(target, SIGUSR1), 0);
        long long t0 = now_ns();
        while (hits_now() < r + 1 - lost && now_ns() - t0 < LOST_MS * 1000000LL)
            nap_us(20);
        if (hits_now() < r + 1 - lost)
            lost++;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    EXPECT_ERR(pthread_join(target, NULL), 0);
    for (int i = 0; i < nothers; i++)
        EXPECT_ERR(pthread_join(others[i], NULL), 0);
    int wrong = __atomic_load_n(&wrong_thread, __ATOMIC_RELAXED);
    printf("%s: %d signals, %d handled, %d lost, %d on another thread\n", name, rounds,
           hits_now(), lost, wrong);
    EXPECT(hits_now(), rounds);
    EXPECT(lost, 0);
    EXPECT(wrong, 0);
}

/* ---- 3. and 4.: calls that must end with EINTR, one round each ---- */

struct tally {
    int not_eintr, wrong_count, lost;
};

static void tally_round(struct tally *t, int round, const char *call, int ret, int err, int hits_at_return)
{
    if (!(ret == -1 && err == EINTR) && t->not_eintr++ < 5)
        printf("round %d: %s returned %d (%s), handler ran %dx\n", round, call, ret,
               err ? strerrorname_np(err) : "no errno", hits_at_return);
    if (hits_at_return != 1 || hits_now() != 1)
        t->wrong_count++;
}

static void tally_report(const struct tally *t, const char *what, int rounds)
{
    int wrong = __atomic_load_n(&wrong_thread, __ATOMIC_RELAXED);
    printf("%s: %d rounds, %d not EINTR, %d with a handler count other than 1 at return, %d lost, "
           "%d on another thread\n",
           what, rounds, t->not_eintr, t->wrong_count, t->lost, wrong);
    EXPECT(t->not_eintr, 0);
    EXPECT(t->wrong_count, 0);
    EXPECT(t->lost, 0);
    EXPECT(wrong, 0);
}

/* ---- 3. process-shared sem_wait ---- */

struct waiter {
    sem_t *sem;
    int in_wait;          /* atomic: about to call sem_wait */
    int ret, err, hits_at_return;
};

static void *sem_waiter(void *arg)
{
    struct waiter *w = arg;
    __atomic_store_n(&w->in_wait, 1, __ATOMIC_RELEASE);
    err_clear();
    w->ret = sem_wait(w->sem);
    w->err = err_now();
    w->hits_at_return = hits_now();
    return NULL;
}

static void pshared_sem_wait(void)
{
    sem_t sem;
    EXPECT(sem_init(&sem, 1, 0), 0);
    unsigned seed = 7;
    struct tally t = { 0, 0, 0 };
    __atomic_store_n(&wrong_thread, 0, __ATOMIC_RELAXED);
    for (int r = 0; r < SEM_ROUNDS; r++) {
        struct waiter w = { .sem = &sem };
        reset_hits();
        EXPECT_ERR(pthread_create(&target, NULL, sem_waiter, &w), 0);
        gate_wait(&w.in_wait);
        nap_us(lcg_next(&seed) % 2000);
        EXPECT_ERR(pthread_kill(target, SIGUSR1), 0);
        if (!wait_flag(&hits, LOST_MS)) {
            t.lost++;
            sem_post(&sem); /* end the wait */
        }
        EXPECT_ERR(pthread_join(target, NULL), 0);
        tally_round(&t, r, "sem_wait", w.ret, w.err, w.hits_at_return);
    }
    tally_report(&t, "process-shared sem_wait", SEM_ROUNDS);
    EXPECT(sem_destroy(&sem), 0);
}

/* ---- 4. process-directed, one thread accepts ---- */

enum { ACC_SEM, ACC_READ, ACC_SIGSUSPEND, ACC_PPOLL, ACC_PAUSE, ACC_KINDS };
static const char *const acc_name[ACC_KINDS] = { "sem_wait", "read", "sigsuspend", "ppoll", "pause" };

struct accepter {
    int kind, fd;
    sem_t *sem;
    int in_wait, returned; /* atomic */
    int ret, err, hits_at_return;
};

static void *accepter_main(void *arg)
{
    struct accepter *a = arg;
    sigset_t usr1, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);
    /* sigsuspend and ppoll accept it only during the call */
    if (a->kind != ACC_SIGSUSPEND && a->kind != ACC_PPOLL)
        TCHECK(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL) == 0, "pthread_sigmask failed");
    __atomic_store_n(&a->in_wait, 1, __ATOMIC_RELEASE);
    err_clear();
    char c;
    struct pollfd pf = { .fd = a->fd, .events = POLLIN };
    switch (a->kind) {
    case ACC_SEM: a->ret = sem_wait(a->sem); break;
    case ACC_READ: a->ret = (int)read(a->fd, &c, 1); break;
    case ACC_SIGSUSPEND: a->ret = sigsuspend(&none); break;
    case ACC_PPOLL: a->ret = ppoll(&pf, 1, NULL, &none); break;
    default: a->ret = pause(); break;
    }
    a->err = err_now();
    a->hits_at_return = hits_now();
    gate_open(&a->returned);
    return NULL;
}

static void process_directed_one_accepts(void)
{
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    EXPECT_ERR(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
    sem_t sem;
    int p[2];
    EXPECT(sem_init(&sem, 1, 0), 0);
    EXPECT(pipe(p), 0);
    unsigned seed = 11;
    struct tally t = { 0, 0, 0 };
    __atomic_store_n(&wrong_thread, 0, __ATOMIC_RELAXED);
    for (int r = 0; r < PROC_ROUNDS; r++) {
        struct accepter a = { .kind = r % ACC_KINDS, .fd = p[0], .sem = &sem };
        reset_hits();
        EXPECT_ERR(pthread_create(&target, NULL, accepter_main, &a), 0);
        gate_wait(&a.in_wait);
        nap_us(1000 + lcg_next(&seed) % 2000);
        EXPECT(kill(getpid(), SIGUSR1), 0);
        if (!wait_flag(&hits, LOST_MS))
            t.lost++;
        if (!wait_flag(&a.returned, 500)) { /* still in the call: end it */
            if (a.kind == ACC_SEM)
                EXPECT(sem_post(&sem), 0);
            else if (a.kind == ACC_READ || a.kind == ACC_PPOLL)
                EXPECT(write(p[1], "x", 1), 1);
            else
                EXPECT_ERR(pthread_kill(target, SIGUSR1), 0);
            gate_wait(&a.returned);
            if (a.kind == ACC_PPOLL) { /* drain what the fallback wrote */
                char c;
                EXPECT(read(p[0], &c, 1), 1);
            }
        }
        EXPECT_ERR(pthread_join(target, NULL), 0);
        tally_round(&t, r, acc_name[a.kind], a.ret, a.err, a.hits_at_return);
    }
    tally_report(&t, "process-directed, one thread accepts", PROC_ROUNDS);
    EXPECT(sem_destroy(&sem), 0);
    close(p[0]);
    close(p[1]);
    EXPECT_ERR(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigemptyset(&sa.sa_mask);
    EXPECT(sigaction(SIGUSR1, &sa, NULL), 0);
    busy_target("moving target", mover, MOVING_OTHERS, MOVING_ROUNDS);
    busy_target("yielding target", yielder, 1, YIELD_ROUNDS);
    pshared_sem_wait();
    process_directed_one_accepts();
    if (failures)
        return 1;
    printf("PASS\n");
    return 0;
}
