// blitz-linked
// blitz-args: 100000
// Creates and joins 100,000 threads in batches of 100; checks every return value
// and the total.  Stands for a legacy server that spawns a thread per request.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 100

static void *worker(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    /* a little work so that the thread is not trivially empty */
    uintptr_t v = i;
    for (int k = 0; k < 8; k++)
        v = v * 2654435761u % 1000003u;
    (void)v;
    return (void *)(i * 3 + 1);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (n <= 0 || n % BATCH != 0) {
        printf("FAIL: bad thread count %ld (must be a positive multiple of %d)\n", n, BATCH);
        return 2;
    }
    pthread_t tids[BATCH];
    unsigned long long sum = 0, expect = 0;
    long created = 0, joined = 0, bad = 0;
    for (long base = 0; base < n; base += BATCH) {
        for (int j = 0; j < BATCH; j++) {
            int rc = pthread_create(&tids[j], NULL, worker, (void *)(uintptr_t)(base + j));
            if (rc != 0) {
                printf("FAIL: pthread_create #%ld returned %d (%s)\n", base + j, rc, strerror(rc));
                return 1;
            }
            created++;
        }
        for (int j = 0; j < BATCH; j++) {
            void *ret = NULL;
            int rc = pthread_join(tids[j], &ret);
            if (rc != 0) {
                printf("FAIL: pthread_join #%ld returned %d (%s)\n", base + j, rc, strerror(rc));
                return 1;
            }
            joined++;
            if ((uintptr_t)ret != (uintptr_t)(base + j) * 3 + 1) {
                if (bad++ < 5)
                    printf("FAIL: thread #%ld returned a wrong value\n", base + j);
            }
            sum += (uintptr_t)ret;
            expect += (unsigned long long)(base + j) * 3 + 1;
        }
    }
    printf("created %ld threads, joined %ld\n", created, joined);
    if (bad == 0 && sum == expect)
        printf("ok return values (sum %llu)\n", sum);
    else
        printf("FAIL: %ld wrong return values, sum %llu expected %llu\n", bad, sum, expect);
    return bad == 0 && sum == expect ? 0 : 1;
}
