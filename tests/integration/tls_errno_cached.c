// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// blitz-linked
// errno through an address the compiler computed once: __errno_location() is
// declared const, so at -O2 a function takes &errno once and keeps it in a
// register across every call (checked here by taking `int *e = &errno` by hand,
// which is what the compiled code does anyway).  200 threads, all alive at once,
// each set *e to their own value and, over 2,000 rounds in a per-thread order,
// call sched_yield(), nanosleep(0..100 us), failing close(-1) (EBADF must land
// in *e), an invalid nanosleep (EINVAL) or create+join a thread that sets its
// own errno; after each, *e must hold this thread's value and a fresh &errno
// (from a function the compiler cannot see through) must still equal e.
// Breaks when a task that moved to another worker keeps the old worker's errno
// address: it then reads and writes the errno of whatever runs there.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define N 200
#define ROUNDS 2000

static int go;
static int intact; /* atomic */
static int *addr_of[N];

__attribute__((noipa)) static int *fresh_errno_addr(void) { return &errno; }

static void *child(void *arg)
{
    errno = (int)(intptr_t)arg; /* its own errno */
    return NULL;
}

__attribute__((noinline)) static int run(int i)
{
    int *e = &errno; /* once, as -O2 code does */
    int id = 5000 + i;
    unsigned seed = (unsigned)i * 40503u + 11u;
    int bad = 0;
    *e = id;
    addr_of[i] = e;
    gate_wait(&go);
    *e = id; /* gate_wait's nanosleep may not touch it, but be exact */
    for (int r = 0; r < ROUNDS && bad < 3; r++) {
        unsigned op = lcg_next(&seed) % 32;
        int want = id;
        if (op < 20) {
            sched_yield();
        } else if (op < 26) {
            nap_us(lcg_next(&seed) % 101);
        } else if (op < 29) {
            if (close(-1) != -1) {
                bad++;
                TCHECK(0, "close(-1) succeeded");
            }
            want = EBADF;
        } else if (op < 31) {
            struct timespec inval = { 0, 1000000000L };
            if (nanosleep(&inval, NULL) != -1) {
                bad++;
                TCHECK(0, "nanosleep with tv_nsec 1e9 succeeded");
            }
            want = EINVAL;
        } else {
            pthread_t t;
            if (pthread_create(&t, NULL, child, (void *)(intptr_t)(9000 + i)) == 0)
                pthread_join(t, NULL);
        }
        int got = *e;
        int *now = fresh_errno_addr();
        if (got != want || now != e) {
            bad++;
            TCHECK(0, "thread %d round %d (op %u): *e = %d, expected %d; &errno %p, was %p", i, r, op, got, want,
                   (void *)now, (void *)e);
        }
        if (want != id) {
            sched_yield(); /* the error code must survive a switch too */
            if (*e != want) {
                bad++;
                TCHECK(0, "thread %d round %d: errno %d after a yield, expected %d", i, r, *e, want);
            }
            *e = id;
        }
    }
    return bad == 0 && errno == id;
}

static void *worker(void *arg)
{
    if (run((int)(intptr_t)arg))
        __atomic_fetch_add(&intact, 1, __ATOMIC_RELAXED);
    return NULL;
}

int main(void)
{
    static pthread_t t[N];
    for (int i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    int *e = &errno;
    *e = 77;
    gate_open(&go);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    CHECK(intact == N, "%d of %d threads kept their errno through a cached &errno", intact, N);
    if (intact == N)
        printf("ok %d threads kept their own errno through a cached &errno across %d rounds\n", N, ROUNDS);
    int distinct = 1;
    for (int i = 0; i < N; i++) {
        distinct &= addr_of[i] != e;
        for (int j = 0; j < i; j++)
            distinct &= addr_of[i] != addr_of[j];
    }
    CHECK(distinct, "two threads alive at once had the same &errno");
    if (distinct)
        printf("ok %d threads alive at once had distinct &errno\n", N);
    CHECK(*e == 77 && fresh_errno_addr() == e, "main's errno %d (want 77), &errno %p (was %p)", *e,
          (void *)fresh_errno_addr(), (void *)e);
    if (*e == 77 && fresh_errno_addr() == e)
        printf("ok main's errno intact\n");
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
