// blitz-libs: -Wl,-z,execstack
// A program whose stack must be executable: GCC nested functions whose address is taken run
// through a trampoline written on the stack, so the executable is marked with an executable
// stack (PT_GNU_STACK with PF_X) and glibc maps every thread stack that way too. Threads run
// such code on their own stacks while sleeping and yielding.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include "check.h"

static long apply(long (*f)(long), long x) { return f(x); }

static void *worker(void *arg)
{
    long base = (long)(intptr_t)arg, sum = 0;
    long add_base(long x) { return x + base; } /* captures base: needs a trampoline */
    for (int i = 0; i < 100; i++) {
        sum += apply(add_base, i);
        if (i % 10 == 0)
            sched_yield();
    }
    return (void *)(intptr_t)sum;
}

int main(void)
{
    pthread_t t[16];
    for (long i = 0; i < 16; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) == 0, "create %ld", i);
    long total = 0;
    for (int i = 0; i < 16; i++) {
        void *r;
        pthread_join(t[i], &r);
        total += (long)(intptr_t)r;
    }
    printf("ok total=%ld\n", total);
    return failures != 0;
}
