// blitz-skip-config: shim-w1 with one worker, a thread that spins without making a call holds the only worker and nothing else runs until it stops (no preemption yet)
// blitz-timeout: 60
// Progress while one thread spins on a flag without making any call (a busy-wait), and two
// others keep yielding: main sleeps 20 ms, 20 times, and each sleep must end (within 1 s:
// a lenient bound, what matters is that it ends at all); then main sets the flag and every
// thread is joined.  Under a runtime without preemption the spinner holds one worker for
// good; the sleeps still end if the other worker, busy with the yielding threads, fires
// the timers the held worker cannot.
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

static volatile int stop;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *spinner(void *arg)
{
    (void)arg;
    while (!stop)
        ;
    return NULL;
}

static void *yielder(void *arg)
{
    (void)arg;
    while (!stop)
        sched_yield();
    return NULL;
}

int main(void)
{
    pthread_t spin, y[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&y[i], NULL, yielder, NULL);
    struct timespec ms5 = { 0, 5000000 };
    nanosleep(&ms5, NULL);
    pthread_create(&spin, NULL, spinner, NULL);
    int late = 0;
    long long worst = 0;
    for (int i = 0; i < 20; i++) {
        long long t0 = now_ns();
        struct timespec d = { 0, 20000000 };
        nanosleep(&d, NULL);
        long long over = now_ns() - t0 - 20000000;
        if (over > worst)
            worst = over;
        if (over > 1000000000LL)
            late++;
    }
    stop = 1;
    pthread_join(spin, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(y[i], NULL);
    fprintf(stderr, "worst oversleep %.1f ms\n", worst / 1e6);
    printf("20 sleeps of 20 ms while a thread spins: %s\n", late ? "FAIL: some ended late" : "all ended");
    return late ? 1 : 0;
}
