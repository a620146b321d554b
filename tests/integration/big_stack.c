// Threads really get the stacks NPTL would give them: with default attributes
// (RLIMIT_STACK = 8 MiB; run.sh sets ulimit -s 8192) a thread writes a 7 MiB
// local array and recurses through it; with pthread_attr_setstacksize(32 MiB)
// a thread recurses through 30 MiB of 64 KiB frames.  pthread_getattr_np must
// report a stack >= the requested size whose range contains the thread's
// locals, and frames must survive intact (no overlap with other stacks).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "check.h"

#define MiB (1024UL * 1024UL)
#define FRAME (64 * 1024)

struct job {
    size_t requested;  /* stack size asked for (0: default attributes) */
    size_t use;        /* bytes of stack to use */
    int array;         /* 1: one big local array; 0: recursion of FRAME-sized frames */
    /* results */
    int ok_frames;
    int ok_attr;
    size_t reported;
};

static __attribute__((noinline)) long recurse(long depth, unsigned seed)
{
    volatile unsigned char frame[FRAME];
    for (size_t k = 0; k < FRAME; k += 256)
        frame[k] = (unsigned char)(seed + depth + k);
    struct timespec ts = { 0, 0 };
    long bad = 0;
    if (depth > 0)
        bad = recurse(depth - 1, seed);
    else
        nanosleep(&ts, NULL); /* a possible switch point at the deepest level */
    for (size_t k = 0; k < FRAME; k += 256)
        bad += frame[k] != (unsigned char)(seed + depth + k);
    return bad;
}

static __attribute__((noinline)) long big_array(size_t size, unsigned seed)
{
    volatile unsigned char *arr = __builtin_alloca(size);
    /* touch from the top (closest to the caller) downwards, page by page */
    for (size_t k = size; k >= 128; k -= 128)
        arr[k - 128] = (unsigned char)(seed + k);
    struct timespec ts = { 0, 1000 };
    nanosleep(&ts, NULL);
    sched_yield();
    long bad = 0;
    for (size_t k = size; k >= 128; k -= 128)
        bad += arr[k - 128] != (unsigned char)(seed + k);
    /* and a recursion below the array for good measure */
    return bad + recurse(4, seed);
}

static void *worker(void *arg)
{
    struct job *j = arg;
    int local = 0;
    pthread_attr_t a;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
        pthread_attr_getstack(&a, &addr, &size);
        pthread_attr_destroy(&a);
    }
    j->reported = size;
    j->ok_attr = size >= j->requested && (char *)&local >= (char *)addr && (char *)&local < (char *)addr + size;
    long bad;
    if (j->array)
        bad = big_array(j->use, 17);
    else
        bad = recurse((long)(j->use / FRAME), 29);
    j->ok_frames = bad == 0;
    return (void *)(uintptr_t)0x5a;
}

static void run(struct job *j, const char *what)
{
    pthread_attr_t attr, *ap = NULL;
    if (j->requested && !j->array) {
        pthread_attr_init(&attr);
        int rc = pthread_attr_setstacksize(&attr, j->requested);
        CHECK(rc == 0, "setstacksize(%zu) = %d", j->requested, rc);
        ap = &attr;
    }
    pthread_t t;
    int rc = pthread_create(&t, ap, worker, j);
    CHECK(rc == 0, "%s: pthread_create = %d", what, rc);
    if (rc)
        return;
    void *ret = NULL;
    pthread_join(t, &ret);
    if (ap)
        pthread_attr_destroy(ap);
    CHECK(ret == (void *)(uintptr_t)0x5a, "%s: thread did not return normally", what);
    CHECK(j->ok_attr, "%s: getattr_np reported %zu bytes (asked %zu) or the range misses the locals", what,
          j->reported, j->requested);
    CHECK(j->ok_frames, "%s: stack contents corrupted", what);
    if (ret == (void *)(uintptr_t)0x5a && j->ok_attr && j->ok_frames)
        printf("ok %s\n", what);
}

int main(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < 8 * MiB) {
        printf("FAIL: RLIMIT_STACK must be finite and >= 8 MiB for this test (ulimit -s 8192)\n");
        return 1;
    }
    pthread_attr_t fresh;
    size_t def = 0;
    pthread_attr_init(&fresh);
    pthread_attr_getstacksize(&fresh, &def);
    pthread_attr_destroy(&fresh);
    CHECK(def >= 8 * MiB, "default attr stack size %zu < 8 MiB", def);

    struct job d_arr = { .requested = def, .use = 7 * MiB, .array = 1 };
    run(&d_arr, "default attributes: 7 MiB local array");
    struct job d_rec = { .requested = def, .use = 7 * MiB, .array = 0 };
    d_rec.requested = 0; /* default attributes, no attr object */
    run(&d_rec, "default attributes: 7 MiB of recursion");
    CHECK(d_rec.reported >= def, "default thread stack reported %zu < default %zu", d_rec.reported, def);
    struct job big = { .requested = 32 * MiB, .use = 30 * MiB, .array = 0 };
    run(&big, "setstacksize(32 MiB): 30 MiB of recursion");

    /* several big-stack threads at once must not overlap */
    enum { K = 4 };
    struct job many[K];
    pthread_t t[K];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 16 * MiB);
    for (int i = 0; i < K; i++) {
        many[i] = (struct job){ .requested = 16 * MiB, .use = 14 * MiB, .array = 0 };
        pthread_create(&t[i], &attr, worker, &many[i]);
    }
    int ok = 1;
    for (int i = 0; i < K; i++) {
        pthread_join(t[i], NULL);
        ok &= many[i].ok_frames && many[i].ok_attr;
    }
    pthread_attr_destroy(&attr);
    CHECK(ok, "concurrent 16 MiB stacks corrupted or misreported");
    if (ok)
        printf("ok %d concurrent threads each using 14 of 16 MiB\n", K);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
