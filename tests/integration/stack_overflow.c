// blitz-expect-exit: 139
// A thread with a 256 KiB stack recurses without bound: the process dies of SIGSEGV, as
// natively (the shim also names the thread and its stack size on stderr first; see
// tests/overflow_report.sh).
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static volatile int limit = 1 << 30; /* never reached: keeps the compiler from proving
                                       * the recursion infinite */
static int deep(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return n < limit ? deep(n + 1) + pad[0] : 0;
}

static void *run(void *a)
{
    return (void *)(long)deep(0);
}

int main(void)
{
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 * 1024);
    pthread_t t;
    printf("starting\n");
    fflush(stdout);
    pthread_create(&t, &at, run, NULL);
    pthread_join(t, NULL);
    printf("survived (unexpected)\n");
    return 0;
}
