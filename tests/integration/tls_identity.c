// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// blitz-linked
// __thread variables are per thread, for the thread's whole life: 500 threads,
// all alive at once, each checks that it starts with the initial values (an int
// with a non-zero initializer, a zero array, a NULL pointer), stores its identity
// in them (the pointer points at one of its locals), then checks after every one
// of 2,000 sched_yield()/nanosleep(0..100 us) calls, in a per-thread order, that
// the values are still its own and that &var has not changed -- read directly
// (%fs:offset), through an address computed once before the loop (compiled code
// keeps such addresses across calls) and through a fresh address from a
// non-inlined function.  The variables have external linkage so that the
// compiler reloads them after every call.  Afterwards the 500 TLS blocks must be
// distinct, main's values intact, and a second generation of 300 threads (after
// the first one exited, so recycled memory) must again start with the initial
// values.  Breaks if tasks share their worker's TLS, or keep the old worker's
// TLS after moving to another worker, or reuse a TLS block without resetting it.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"

#define N 500
#define N2 300
#define OPS 2000
#define ARR 16
#define INIT_ID 12345

__thread int t_id = INIT_ID;  /* .tdata */
__thread unsigned t_arr[ARR]; /* .tbss */
__thread int *t_local;        /* points at a local of its thread */

static int *addr_id[N];
static int go;
static int fresh_ok, ops_ok; /* atomics (__atomic builtins) */

__attribute__((noipa)) static int *fresh_id_addr(void) { return &t_id; }
__attribute__((noipa)) static unsigned *fresh_arr_addr(void) { return t_arr; }
__attribute__((noipa)) static int **fresh_local_addr(void) { return &t_local; }

/* the initial values of a thread that has not touched its TLS yet */
static int starts_fresh(void)
{
    int ok = t_id == INIT_ID && t_local == NULL;
    for (int k = 0; k < ARR; k++)
        ok &= t_arr[k] == 0;
    return ok;
}

static void *first_gen(void *arg)
{
    int i = (int)(intptr_t)arg;
    int fresh = starts_fresh();
    TCHECK(fresh, "thread %d did not start with the initial values: t_id %d, t_local %p, t_arr[0] %u", i, t_id,
           (void *)t_local, t_arr[0]);
    int local = i; /* its address goes into t_local (external), so it stays in memory */
    int id = 100000 + i;
    unsigned expect[ARR];
    int *pid = &t_id; /* kept across all the calls below */
    unsigned *parr = t_arr;
    int **ploc = &t_local;
    t_id = id;
    for (int k = 0; k < ARR; k++)
        parr[k] = expect[k] = (unsigned)i * 1000u + (unsigned)k;
    t_local = &local;
    addr_id[i] = pid;

    gate_wait(&go); /* every thread of this generation is alive from here on */

    unsigned seed = (unsigned)i * 2654435761u + 1u;
    int bad = 0;
    for (int op = 0; op < OPS && bad < 3; op++) {
        pause_rand(&seed);
        int ok = t_id == id && *pid == id && fresh_id_addr() == pid;
        ok &= fresh_arr_addr() == parr && fresh_local_addr() == ploc;
        ok &= t_local == &local && *ploc == &local && *t_local == i;
        unsigned k = lcg_next(&seed) % ARR;
        ok &= t_arr[k] == expect[k] && parr[(k + 5) % ARR] == expect[(k + 5) % ARR];
        if (!ok) {
            bad++;
            TCHECK(0, "thread %d after %d yields/sleeps: t_id %d (want %d), &t_id %p (was %p), t_local %p (want %p)",
                   i, op + 1, t_id, id, (void *)fresh_id_addr(), (void *)pid, (void *)t_local, (void *)&local);
        }
        /* writes: through the cached address, read back directly, and the other way */
        if (op % 4 == 0) {
            expect[k] += 7;
            parr[k] = expect[k];
        } else if (op % 4 == 2) {
            k = (k + 3) % ARR;
            expect[k] ^= 0x5a5a;
            t_arr[k] = expect[k];
        }
    }
    if (bad == 0)
        __atomic_fetch_add(&ops_ok, 1, __ATOMIC_RELAXED);
    if (fresh)
        __atomic_fetch_add(&fresh_ok, 1, __ATOMIC_RELAXED);
    return NULL;
}

/* second generation: created one batch at a time after the first exited */
static void *second_gen(void *arg)
{
    int i = (int)(intptr_t)arg;
    int fresh = starts_fresh();
    TCHECK(fresh, "second-generation thread %d did not start with the initial values: t_id %d, t_local %p", i, t_id,
           (void *)t_local);
    unsigned seed = (unsigned)i + 77u;
    int local = i;
    t_id = -i;
    t_arr[i % ARR] = 0xdead0000u + (unsigned)i;
    t_local = &local;
    int ok = 1;
    for (int op = 0; op < 20; op++) {
        pause_rand(&seed);
        ok &= t_id == -i && t_arr[i % ARR] == 0xdead0000u + (unsigned)i && t_local == &local;
    }
    TCHECK(ok, "second-generation thread %d lost its values", i);
    if (fresh && ok)
        __atomic_fetch_add(&fresh_ok, 1, __ATOMIC_RELAXED);
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (int *const *)a, y = (uintptr_t) * (int *const *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    static pthread_t t[N];
    int main_local = -1;
    t_id = 7;
    t_arr[3] = 33;
    t_local = &main_local;
    int *main_pid = &t_id;

    for (int i = 0; i < N; i++) {
        int rc = pthread_create(&t[i], NULL, first_gen, (void *)(intptr_t)i);
        if (rc != 0) {
            printf("FAIL: pthread_create #%d = %d\n", i, rc);
            return 1;
        }
    }
    gate_open(&go);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    int fresh1 = fresh_ok, ops1 = ops_ok;
    CHECK(fresh1 == N, "%d of %d threads started with the initial __thread values", fresh1, N);
    CHECK(ops1 == N, "%d of %d threads kept their own __thread values and addresses", ops1, N);
    if (fresh1 == N && ops1 == N)
        printf("ok %d threads started with the initial values and kept their own across %d yields/sleeps each\n",
               N, OPS);

    qsort(addr_id, N, sizeof addr_id[0], cmp_ptr);
    int distinct = 1, main_distinct = 1;
    for (int i = 0; i < N; i++) {
        if (i > 0 && addr_id[i] != addr_id[i - 1])
            distinct++;
        if (addr_id[i] == main_pid)
            main_distinct = 0;
    }
    CHECK(distinct == N && main_distinct, "%d distinct &t_id among %d threads alive at once (main's among them: %s)",
          distinct, N, main_distinct ? "no" : "yes");
    if (distinct == N && main_distinct)
        printf("ok %d threads alive at once had %d distinct TLS blocks, none of them main's\n", N, distinct);

    /* second generation, 100 at a time, after every first-generation thread exited */
    fresh_ok = 0;
    for (int b = 0; b < N2; b += 100) {
        for (int i = b; i < b + 100; i++)
            if (pthread_create(&t[i], NULL, second_gen, (void *)(intptr_t)i) != 0) {
                printf("FAIL: pthread_create (second generation)\n");
                return 1;
            }
        for (int i = b; i < b + 100; i++)
            pthread_join(t[i], NULL);
    }
    CHECK(fresh_ok == N2, "%d of %d later threads started with the initial values and kept theirs", fresh_ok, N2);
    if (fresh_ok == N2)
        printf("ok %d later threads started with the initial values again\n", N2);

    int main_ok = t_id == 7 && &t_id == main_pid && t_arr[3] == 33 && t_arr[4] == 0 && t_local == &main_local;
    CHECK(main_ok, "main's __thread values changed: t_id %d, t_arr[3] %u, t_local %p", t_id, t_arr[3],
          (void *)t_local);
    if (main_ok)
        printf("ok main's __thread values intact\n");
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
