// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// __thread variables of a module dlopen()ed while 1,000 threads already exist
// (libtls_dlopen_mod.so, next to this executable: global-dynamic model, so every
// thread gets its block from __tls_get_addr on first use).  The threads wait at
// a start line (an atomic flag polled with nanosleep) until main has loaded the
// module; then each one checks that it sees the initial values (4242, 0, zero
// buffer), sets its own, and over 300 yields/sleeps checks them through the
// module's functions and through the addresses the module gave it at first.
// Afterwards: 1,000 distinct blocks, main's values intact, and 200 threads
// created after the dlopen start with the initial values too.  Breaks if tasks
// share their worker's dynamic TLS (DTV) or keep the old worker's after moving.
// tls_dlopen_ie.c runs the same program with an initial-exec module.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

#ifndef MODULE_NAME
#define MODULE_NAME "libtls_dlopen_mod.so"
#endif

#define N 1000
#define N2 200
#define OPS 300

static void (*mod_addrs)(int **, long **, char **);
static int (*mod_fresh)(void);
static void (*mod_set)(int, long);
static int (*mod_check)(int, long);

static int arrived, go; /* atomics */
static int fresh_ok, ops_ok;
static int *addr_of[N];

static void *first_gen(void *arg)
{
    int i = (int)(intptr_t)arg;
    __atomic_fetch_add(&arrived, 1, __ATOMIC_RELEASE);
    gate_wait(&go); /* the module is loaded from here on */
    int fresh = mod_fresh();
    int id = 1000 + i;
    int *pi;
    long *pz;
    char *pb;
    mod_addrs(&pi, &pz, &pb);
    TCHECK(fresh, "thread %d: the module's variables did not have their initial values: %d (want 4242), %ld, '%.23s'",
           i, *pi, *pz, pb);
    mod_set(id, -(long)id);
    addr_of[i] = pi;
    unsigned seed = (unsigned)i * 2246822519u + 5u;
    int bad = 0;
    for (int op = 0; op < OPS && bad < 3; op++) {
        pause_rand(&seed);
        int *qi;
        long *qz;
        char *qb;
        mod_addrs(&qi, &qz, &qb);
        int ok = mod_check(id, -(long)id) && qi == pi && qz == pz && qb == pb && *pi == id && *pz == -(long)id;
        if (!ok) {
            bad++;
            TCHECK(0, "thread %d after %d yields/sleeps: module value %d (want %d), address %p (was %p)", i, op + 1,
                   *qi, id, (void *)qi, (void *)pi);
        }
        if (op % 50 == 49) { /* write through the kept addresses, read through the module */
            id += N;
            *pi = id;
            *pz = -(long)id;
            snprintf(pb, 24, "owner %d", id);
        }
    }
    if (bad == 0)
        __atomic_fetch_add(&ops_ok, 1, __ATOMIC_RELAXED);
    if (fresh)
        __atomic_fetch_add(&fresh_ok, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void *second_gen(void *arg)
{
    int i = (int)(intptr_t)arg;
    int fresh = mod_fresh();
    mod_set(-i, i);
    unsigned seed = (unsigned)i;
    for (int op = 0; op < 10; op++)
        pause_rand(&seed);
    int ok = mod_check(-i, i);
    TCHECK(fresh && ok, "thread %d created after dlopen: started with the initial values %d, kept its own %d", i,
           fresh, ok);
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
    for (int i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, first_gen, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < N)
        nap_ms(1);

    /* the module lives next to this executable */
    char exe[PATH_MAX], path[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        printf("FAIL: readlink /proc/self/exe\n");
        return 1;
    }
    exe[n] = 0;
    snprintf(path, sizeof path, "%s/%s", dirname(exe), MODULE_NAME);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("FAIL: dlopen %s: %s\n", MODULE_NAME, dlerror());
        return 1;
    }
    *(void **)&mod_addrs = dlsym(h, "mod_addrs");
    *(void **)&mod_fresh = dlsym(h, "mod_fresh");
    *(void **)&mod_set = dlsym(h, "mod_set");
    *(void **)&mod_check = dlsym(h, "mod_check");
    if (!mod_addrs || !mod_fresh || !mod_set || !mod_check) {
        printf("FAIL: dlsym: %s\n", dlerror());
        return 1;
    }
    CHECK(mod_fresh(), "main: the module's variables did not have their initial values");
    mod_set(-1, -2);
    int *main_pi;
    long *pz;
    char *pb;
    mod_addrs(&main_pi, &pz, &pb);
    printf("ok %s loaded after %d threads started\n", MODULE_NAME, N);

    gate_open(&go);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    CHECK(fresh_ok == N, "%d of %d threads saw the module's initial values", fresh_ok, N);
    CHECK(ops_ok == N, "%d of %d threads kept their own values of the module's variables", ops_ok, N);
    if (fresh_ok == N && ops_ok == N)
        printf("ok %d threads saw the initial values and kept their own across %d yields/sleeps each\n", N, OPS);
    qsort(addr_of, N, sizeof addr_of[0], cmp_ptr);
    int distinct = 1;
    for (int i = 0; i < N; i++)
        distinct &= addr_of[i] != NULL && addr_of[i] != main_pi && (i == 0 || addr_of[i] != addr_of[i - 1]);
    CHECK(distinct, "threads alive at once shared a TLS block of the module");
    if (distinct)
        printf("ok %d distinct blocks for the module\n", N);

    fresh_ok = 0;
    for (int b = 0; b < N2; b += 100) {
        for (int i = b; i < b + 100; i++)
            if (pthread_create(&t[i], NULL, second_gen, (void *)(intptr_t)i) != 0) {
                printf("FAIL: pthread_create (after dlopen)\n");
                return 1;
            }
        for (int i = b; i < b + 100; i++)
            pthread_join(t[i], NULL);
    }
    CHECK(fresh_ok == N2, "%d of %d threads created after dlopen started with the initial values", fresh_ok, N2);
    if (fresh_ok == N2)
        printf("ok %d threads created after dlopen started with the initial values\n", N2);

    int *pi;
    mod_addrs(&pi, &pz, &pb);
    int main_ok = pi == main_pi && mod_check(-1, -2);
    CHECK(main_ok, "main's values of the module's variables changed");
    if (main_ok)
        printf("ok main's values intact\n");
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
