// blitz-timeout: 60
// Process-shared synchronization between a parent and a forked child, through
// a MAP_SHARED anonymous mapping: a PTHREAD_PROCESS_SHARED mutex and two
// condvars (200 round trips of ping-pong, alternately with pthread_cond_wait
// and pthread_cond_timedwait), two pshared unnamed semaphores (200 round trips,
// alternately sem_wait and sem_timedwait), then long waits: the parent waits
// about 100 ms on the condvar, on a semaphore and for the mutex the child holds,
// and meanwhile another thread of the parent (incrementing a counter between
// 1 ms sleeps) must keep running: the counter must advance during each wait.
// Attribute checks: pshared settable, EINVAL for other values.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define ROUNDS 200

struct shared {
    pthread_mutex_t m;
    pthread_cond_t to_parent, to_child;
    sem_t s_parent, s_child, s_go, s_locked;
    long ball;       /* even: the parent's turn */
    int flag;        /* set by the child under m */
    int child_fails; /* counted by the child */
};

static struct shared *sh;
static long ticks;   /* atomic: the parent's counter thread */
static int stop;     /* atomic */

static void *counter_thread(void *arg)
{
    for (int i = 0; i < 60000 && !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
        nap_ms(1);
        __atomic_fetch_add(&ticks, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static int timed_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    struct timespec dl = deadline_ms(CLOCK_REALTIME, 10000);
    return pthread_cond_timedwait(c, m, &dl);
}

static int timed_sem_wait(sem_t *s)
{
    struct timespec dl = deadline_ms(CLOCK_REALTIME, 10000);
    return sem_timedwait(s, &dl) == 0 ? 0 : errno;
}

/* --- child ------------------------------------------------------------------------------- */

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __atomic_fetch_add(&sh->child_fails, 1, __ATOMIC_RELAXED);                             \
    } while (0)

static void child(void)
{
    /* ping-pong through the mutex and condvars */
    for (long i = 0; i < ROUNDS; i++) {
        CHILD_CHECK(pthread_mutex_lock(&sh->m) == 0);
        int rc = 0;
        while (sh->ball % 2 == 0 && rc == 0)
            rc = i % 2 ? timed_cond_wait(&sh->to_child, &sh->m) : pthread_cond_wait(&sh->to_child, &sh->m);
        CHILD_CHECK(rc == 0 && sh->ball == 2 * i + 1);
        sh->ball++;
        CHILD_CHECK(pthread_cond_signal(&sh->to_parent) == 0);
        CHILD_CHECK(pthread_mutex_unlock(&sh->m) == 0);
    }
    /* ping-pong through the semaphores */
    for (long i = 0; i < ROUNDS; i++) {
        CHILD_CHECK((i % 2 ? timed_sem_wait(&sh->s_child) : sem_wait(&sh->s_child)) == 0);
        CHILD_CHECK(sh->ball == 2 * ROUNDS + 2 * i + 1);
        sh->ball++;
        CHILD_CHECK(sem_post(&sh->s_parent) == 0);
    }
    /* long wait 1: the parent waits on the condvar */
    CHILD_CHECK(sem_wait(&sh->s_go) == 0);
    nap_ms(100);
    CHILD_CHECK(pthread_mutex_lock(&sh->m) == 0);
    sh->flag = 1;
    CHILD_CHECK(pthread_cond_signal(&sh->to_parent) == 0);
    CHILD_CHECK(pthread_mutex_unlock(&sh->m) == 0);
    /* long wait 2: on a semaphore */
    CHILD_CHECK(sem_wait(&sh->s_go) == 0);
    nap_ms(100);
    CHILD_CHECK(sem_post(&sh->s_parent) == 0);
    /* long wait 3: for the mutex */
    CHILD_CHECK(sem_wait(&sh->s_go) == 0);
    CHILD_CHECK(pthread_mutex_lock(&sh->m) == 0);
    CHILD_CHECK(sem_post(&sh->s_locked) == 0);
    nap_ms(100);
    sh->flag = 3;
    CHILD_CHECK(pthread_mutex_unlock(&sh->m) == 0);
    _exit(0);
}

/* --- parent ------------------------------------------------------------------------------- */

static void init_shared(void)
{
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    int v = -1;
    EXPECT_ERR(pthread_mutexattr_init(&ma), 0);
    EXPECT_ERR(pthread_mutexattr_getpshared(&ma, &v), 0);
    EXPECT(v, PTHREAD_PROCESS_PRIVATE);
    EXPECT_ERR(pthread_mutexattr_setpshared(&ma, 5), EINVAL);
    EXPECT_ERR(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED), 0);
    EXPECT_ERR(pthread_mutexattr_getpshared(&ma, &v), 0);
    EXPECT(v, PTHREAD_PROCESS_SHARED);
    EXPECT_ERR(pthread_mutex_init(&sh->m, &ma), 0);
    pthread_mutexattr_destroy(&ma);
    EXPECT_ERR(pthread_condattr_init(&ca), 0);
    EXPECT_ERR(pthread_condattr_setpshared(&ca, 5), EINVAL);
    EXPECT_ERR(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED), 0);
    EXPECT_ERR(pthread_condattr_getpshared(&ca, &v), 0);
    EXPECT(v, PTHREAD_PROCESS_SHARED);
    EXPECT_ERR(pthread_cond_init(&sh->to_parent, &ca), 0);
    EXPECT_ERR(pthread_cond_init(&sh->to_child, &ca), 0);
    pthread_condattr_destroy(&ca);
    EXPECT(sem_init(&sh->s_parent, 1, 0), 0);
    EXPECT(sem_init(&sh->s_child, 1, 0), 0);
    EXPECT(sem_init(&sh->s_go, 1, 0), 0);
    EXPECT(sem_init(&sh->s_locked, 1, 0), 0);
}

/* ticks made by the counter thread while the parent waited */
static int advanced(long t0) { return __atomic_load_n(&ticks, __ATOMIC_RELAXED) - t0 >= 3; }

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        printf("FAIL: mmap\n");
        return 1;
    }
    init_shared();
    if (failures)
        return 1;
    printf("ok pshared attributes\n");

    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL: fork\n");
        return 1;
    }
    if (pid == 0)
        child();

    pthread_t counter;
    EXPECT_ERR(pthread_create(&counter, NULL, counter_thread, NULL), 0);

    int before = failures;
    for (long i = 0; i < ROUNDS; i++) {
        EXPECT_ERR(pthread_mutex_lock(&sh->m), 0);
        int rc = 0;
        while (sh->ball % 2 == 1 && rc == 0)
            rc = i % 2 ? timed_cond_wait(&sh->to_parent, &sh->m) : pthread_cond_wait(&sh->to_parent, &sh->m);
        if (rc != 0 || sh->ball != 2 * i) {
            CHECK(0, "condvar round %ld: rc %d, ball %ld", i, rc, sh->ball);
            pthread_mutex_unlock(&sh->m);
            break;
        }
        sh->ball++;
        EXPECT_ERR(pthread_cond_signal(&sh->to_child), 0);
        EXPECT_ERR(pthread_mutex_unlock(&sh->m), 0);
    }
    /* the child's last turn */
    EXPECT_ERR(pthread_mutex_lock(&sh->m), 0);
    while (sh->ball != 2 * ROUNDS && failures == before)
        if (timed_cond_wait(&sh->to_parent, &sh->m) != 0)
            break;
    CHECK(sh->ball == 2 * ROUNDS, "after the condvar ping-pong: ball %ld", sh->ball);
    EXPECT_ERR(pthread_mutex_unlock(&sh->m), 0);
    if (failures == before)
        printf("ok process-shared mutex + condvars: %d round trips with a forked child\n", ROUNDS);

    before = failures;
    for (long i = 0; i < ROUNDS; i++) {
        CHECK(sh->ball == 2 * ROUNDS + 2 * i, "semaphore round %ld: ball %ld", i, sh->ball);
        sh->ball++;
        EXPECT(sem_post(&sh->s_child), 0);
        int rc = i % 2 ? timed_sem_wait(&sh->s_parent) : (sem_wait(&sh->s_parent) == 0 ? 0 : errno);
        if (rc != 0) {
            CHECK(0, "semaphore round %ld: wait answered %d", i, rc);
            break;
        }
    }
    CHECK(sh->ball == 4 * ROUNDS, "after the semaphore ping-pong: ball %ld", sh->ball);
    if (failures == before)
        printf("ok process-shared semaphores: %d round trips with a forked child\n", ROUNDS);

    /* long waits; the counter thread must keep running meanwhile */
    before = failures;
    EXPECT(sem_post(&sh->s_go), 0);
    long t0 = __atomic_load_n(&ticks, __ATOMIC_RELAXED);
    EXPECT_ERR(pthread_mutex_lock(&sh->m), 0);
    while (!sh->flag)
        if (pthread_cond_wait(&sh->to_parent, &sh->m) != 0)
            break;
    EXPECT_ERR(pthread_mutex_unlock(&sh->m), 0);
    CHECK(advanced(t0), "the counter thread did not run while main waited on a process-shared condvar");

    EXPECT(sem_post(&sh->s_go), 0);
    t0 = __atomic_load_n(&ticks, __ATOMIC_RELAXED);
    EXPECT(sem_wait(&sh->s_parent), 0);
    CHECK(advanced(t0), "the counter thread did not run while main waited on a process-shared semaphore");

    EXPECT(sem_post(&sh->s_go), 0);
    EXPECT(sem_wait(&sh->s_locked), 0);
    t0 = __atomic_load_n(&ticks, __ATOMIC_RELAXED);
    EXPECT_ERR(pthread_mutex_lock(&sh->m), 0); /* the child holds it for 100 ms */
    CHECK(sh->flag == 3, "got the process-shared mutex before the child unlocked it");
    EXPECT_ERR(pthread_mutex_unlock(&sh->m), 0);
    CHECK(advanced(t0), "the counter thread did not run while main waited for a process-shared mutex");
    if (failures == before)
        printf("ok other threads keep running while main waits on process-shared objects\n");

    int status = -1;
    EXPECT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    CHECK(sh->child_fails == 0, "the child counted %d failures", sh->child_fails);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    EXPECT_ERR(pthread_join(counter, NULL), 0);

    EXPECT_ERR(pthread_mutex_destroy(&sh->m), 0);
    EXPECT_ERR(pthread_cond_destroy(&sh->to_parent), 0);
    EXPECT_ERR(pthread_cond_destroy(&sh->to_child), 0);
    EXPECT(sem_destroy(&sh->s_parent), 0);
    EXPECT(sem_destroy(&sh->s_child), 0);
    munmap(sh, sizeof *sh);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
