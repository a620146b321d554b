// blitz-skip-config: shim-w1 with one worker, a thread blocked in a call the shim does not intercept (here pthread_cond_wait and poll) stops every other thread until the blocking-escape work lands
// Progress when a thread blocks its worker in a call the shim does not intercept:
//  1. a new thread must still run while its creator waits for it in pthread_cond_wait;
//  2. a thread's 20 ms sleep must still end on time while another thread sits in poll();
//  3. a thread polling with zero-length sleeps must not starve a thread it waits for.
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int flag;
static int pipefd[2];
static volatile int child_ran;

static void *signal_child(void *a)
{
    pthread_mutex_lock(&m);
    flag = 1;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
    return NULL;
}

static void *sleep_then_write(void *a)
{
    usleep(20000);
    if (write(pipefd[1], "x", 1) != 1)
        return (void *)1;
    return NULL;
}

static void *set_flag(void *a)
{
    child_ran = 1;
    return NULL;
}

static double ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1e3 + (b.tv_nsec - a->tv_nsec) / 1e6;
}

int main(void)
{
    int failures = 0;
    for (int i = 0; i < 200; i++) {
        pthread_t t;
        flag = 0;
        pthread_create(&t, NULL, signal_child, NULL);
        pthread_mutex_lock(&m);
        while (!flag)
            pthread_cond_wait(&c, &m);
        pthread_mutex_unlock(&m);
        pthread_join(t, NULL);
    }
    printf("ok 200 threads ran while their creators waited in pthread_cond_wait\n");

    if (pipe(pipefd) != 0)
        return 1;
    pthread_t t;
    pthread_create(&t, NULL, sleep_then_write, NULL);
    usleep(1000);
    struct timespec a;
    clock_gettime(CLOCK_MONOTONIC, &a);
    struct pollfd pf = { pipefd[0], POLLIN, 0 };
    int r = poll(&pf, 1, 3000);
    double ms = ms_since(&a);
    pthread_join(t, NULL);
    if (r == 1 && ms < 1500)
        printf("ok a 20 ms sleep ended while another thread sat in poll\n");
    else {
        printf("FAIL: poll returned %d after %.0f ms\n", r, ms);
        failures++;
    }

    pthread_t c1;
    pthread_create(&c1, NULL, set_flag, NULL);
    struct timespec zero = { 0, 0 };
    long n = 0;
    while (!child_ran && n < 50000000) {
        nanosleep(&zero, NULL);
        n++;
    }
    pthread_join(c1, NULL);
    if (child_ran)
        printf("ok a thread polling with zero sleeps did not starve its child\n");
    else {
        printf("FAIL: child never ran in %ld zero sleeps\n", n);
        failures++;
    }
    return failures ? 1 : 0;
}
