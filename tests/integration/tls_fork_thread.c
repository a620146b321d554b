// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// fork() from a non-main thread while other threads sleep, 5 times, each time
// from another thread.  In the child only the forking thread exists: it must
// still see its own __thread values at the same addresses.  It then creates
// 20 threads, all alive at once, each of which must start with the initial
// __thread values (.tdata and .tbss) in a TLS block of its own, keep the values
// it stores and its own errno across yields and sleeps, and return its result;
// the forking thread keeps its errno meanwhile.  It joins them, calls
// setuid(getuid()) and setgid(getgid()) (glibc signals every thread it knows
// and waits for each: this must not hang, nor wait for a thread of the parent
// that did not come along) and exits through _exit.  The child prints nothing
// (stdout is flushed before the fork so its buffer is not written twice) and
// reports through its exit status, which the parent checks with waitpid (a
// child still running after 10 s is killed and reported).  The parent's
// sleeping threads must keep their own __thread values throughout.
// Breaks if the child's forking task does not get its own TLS block back as
// the one running thread, if threads created in the child share or reuse a
// TLS block without resetting it, or if set*id() in the child waits for a
// worker or task that does not exist there.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define NSLEEP 6  /* parent threads that sleep meanwhile */
#define NFORK 5   /* forks, each from its own thread */
#define NCHILD 20 /* threads created in each child */
#define INIT_VAL 42

__thread int t_val = INIT_VAL; /* .tdata */
__thread char t_name[24];      /* .tbss */

static int turn, stop; /* atomics */

/* the child's exit statuses */
enum {
    CH_OK = 0,
    CH_FORKER_TLS = 10, /* the forking thread lost its __thread values or their address */
    CH_FORKER_ERRNO,    /* ... or its errno while its threads ran */
    CH_CREATE,          /* pthread_create failed */
    CH_JOIN,            /* pthread_join failed */
    CH_THREAD_FRESH,    /* a child thread did not start with the initial __thread values */
    CH_THREAD_TLS,      /* a child thread lost its __thread values */
    CH_THREAD_ERRNO,    /* a child thread lost its errno */
    CH_TLS_SHARED,      /* two child threads had the same &t_val */
    CH_SETUID,          /* setuid(getuid()) or setgid(getgid()) did not return 0 */
    CH_AFTER,           /* the forking thread's values changed after the threads ran */
};
static const char *ch_what(int st)
{
    switch (st) {
    case CH_FORKER_TLS: return "the forking thread lost its __thread values or their address";
    case CH_FORKER_ERRNO: return "the forking thread's errno changed while its threads ran";
    case CH_CREATE: return "pthread_create failed";
    case CH_JOIN: return "pthread_join failed";
    case CH_THREAD_FRESH: return "a thread did not start with the initial __thread values";
    case CH_THREAD_TLS: return "a thread lost its __thread values";
    case CH_THREAD_ERRNO: return "a thread lost its errno";
    case CH_TLS_SHARED: return "two threads had the same &t_val";
    case CH_SETUID: return "setuid(getuid())/setgid(getgid()) did not return 0";
    case CH_AFTER: return "the forking thread's values changed after its threads ran";
    default: return "unknown status";
    }
}

/* ---- in the child ---- */

static int *child_addr[NCHILD];
static int child_go; /* all the child's threads exist: their TLS blocks are distinct */

static void *child_thread(void *arg)
{
    int j = (int)(intptr_t)arg;
    if (t_val != INIT_VAL || t_name[0] != 0 || t_name[sizeof t_name - 1] != 0)
        return (void *)(intptr_t)CH_THREAD_FRESH;
    child_addr[j] = &t_val;
    t_val = 2000 + j;
    snprintf(t_name, sizeof t_name, "child-%d", j);
    gate_wait(&child_go);
    unsigned seed = (unsigned)j * 2654435761u + 5u;
    for (int k = 0; k < 30; k++) {
        errno = 0;
        if (k % 3 == 0 && close(-1) == 0) /* sets this thread's errno */
            return (void *)(intptr_t)CH_THREAD_ERRNO;
        int want = k % 3 == 0 ? EBADF : 0;
        if (k % 3 == 1)
            errno = want = 100 + j;
        pause_rand(&seed);
        if (errno != want)
            return (void *)(intptr_t)CH_THREAD_ERRNO;
        char expect[sizeof t_name];
        snprintf(expect, sizeof expect, "child-%d", j);
        if (t_val != 2000 + j || &t_val != child_addr[j] || strcmp(t_name, expect) != 0)
            return (void *)(intptr_t)CH_THREAD_TLS;
    }
    return NULL;
}

/* the whole child, on the forking thread; prints nothing; returns the exit status */
static int child_main(int k, int *addr_before)
{
    char expect[sizeof t_name];
    snprintf(expect, sizeof expect, "forker-%d", k);
    if (t_val != 500 + k || &t_val != addr_before || strcmp(t_name, expect) != 0)
        return CH_FORKER_TLS;
    errno = 4000 + k; /* its own: the threads below set theirs */

    pthread_t t[NCHILD];
    memset(child_addr, 0, sizeof child_addr);
    for (int j = 0; j < NCHILD; j++)
        if (pthread_create(&t[j], NULL, child_thread, (void *)(intptr_t)j) != 0)
            return CH_CREATE;
    gate_open(&child_go);
    int st = CH_OK;
    for (int j = 0; j < NCHILD; j++) {
        void *r = NULL;
        if (pthread_join(t[j], &r) != 0)
            return CH_JOIN;
        if (r != NULL && st == CH_OK)
            st = (int)(intptr_t)r;
    }
    if (st != CH_OK)
        return st;
    if (errno != 4000 + k)
        return CH_FORKER_ERRNO;
    for (int a = 0; a < NCHILD; a++)
        for (int b = a + 1; b < NCHILD; b++)
            if (child_addr[a] == child_addr[b] || child_addr[a] == addr_before)
                return CH_TLS_SHARED;

    if (setuid(getuid()) != 0 || setgid(getgid()) != 0)
        return CH_SETUID;

    errno = 555;
    sched_yield();
    if (t_val != 500 + k || &t_val != addr_before || strcmp(t_name, expect) != 0 || errno != 555)
        return CH_AFTER;
    return CH_OK;
}

/* ---- in the parent ---- */

static void *sleeper(void *arg)
{
    int i = (int)(intptr_t)arg;
    unsigned seed = (unsigned)i + 17u;
    t_val = 1000 + i;
    int *addr = &t_val;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        errno = 200 + i;
        nap_us(100 + (long)(lcg_next(&seed) % 401));
        TCHECK(t_val == 1000 + i && &t_val == addr && errno == 200 + i,
               "sleeping thread %d: t_val %d, errno %d after a nap", i, t_val, errno);
    }
    return NULL;
}

static void *forker(void *arg)
{
    int k = (int)(intptr_t)arg;
    t_val = 500 + k;
    snprintf(t_name, sizeof t_name, "forker-%d", k);
    int *addr = &t_val;
    while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != k)
        nap_ms(1);

    fflush(stdout); /* or the child would inherit the buffered lines */
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_main(k, addr));
    if (pid < 0) {
        printf("FAIL: fork #%d: %m\n", k);
        __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
    } else {
        int status = 0;
        pid_t w = 0;
        long long deadline = now_ns() + 10 * 1000000000LL;
        while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ns() < deadline)
            nap_ms(2);
        if (w == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            printf("FAIL: the child of fork #%d (from thread %d) still ran after 10 s (killed)\n", k, k);
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        } else if (w != pid) {
            printf("FAIL: waitpid for the child of fork #%d: %m\n", k);
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        } else if (!WIFEXITED(status)) {
            printf("FAIL: the child of fork #%d was killed by signal %d\n", k, WTERMSIG(status));
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        } else if (WEXITSTATUS(status) != 0) {
            printf("FAIL: the child of fork #%d exited with %d: %s\n", k, WEXITSTATUS(status),
                   ch_what(WEXITSTATUS(status)));
            __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        } else {
            printf("ok fork #%d from thread %d: the child ran %d threads, setuid/setgid, exited 0\n", k, k,
                   NCHILD);
        }
    }
    char expect[sizeof t_name];
    snprintf(expect, sizeof expect, "forker-%d", k);
    TCHECK(t_val == 500 + k && &t_val == addr && strcmp(t_name, expect) == 0,
          "forking thread %d in the parent: t_val %d, t_name %s", k, t_val, t_name);
    __atomic_store_n(&turn, k + 1, __ATOMIC_RELEASE);
    return NULL;
}

int main(void)
{
    t_val = 7;
    pthread_t s[NSLEEP], f[NFORK];
    for (int i = 0; i < NSLEEP; i++)
        if (pthread_create(&s[i], NULL, sleeper, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create (sleeper %d)\n", i);
            return 1;
        }
    __atomic_store_n(&turn, -1, __ATOMIC_RELAXED);
    for (int k = 0; k < NFORK; k++)
        if (pthread_create(&f[k], NULL, forker, (void *)(intptr_t)k) != 0) {
            printf("FAIL: pthread_create (forker %d)\n", k);
            return 1;
        }
    nap_ms(5); /* the sleepers are asleep */
    __atomic_store_n(&turn, 0, __ATOMIC_RELEASE);
    for (int k = 0; k < NFORK; k++)
        pthread_join(f[k], NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < NSLEEP; i++)
        pthread_join(s[i], NULL);
    CHECK(t_val == 7, "main's t_val became %d", t_val);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
