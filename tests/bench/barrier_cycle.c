/* barrier_cycle: T threads go through one pthread_barrier_t R times, doing a tiny bit of work
 * (a few dozen ns) before each wait.
 *   -t T   threads (default 4)
 *   -r R   cycles (default 20000)
 * Result: metric=cycles_per_s. Verified: in every cycle exactly one thread got
 * PTHREAD_BARRIER_SERIAL_THREAD and the others 0, every thread did R cycles, and nobody left a
 * cycle before all T threads had arrived at it (checked with an arrival counter: after cycle i,
 * at least (i+1)*T and fewer than (i+2)*T arrivals were counted). */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include "bench.h"

#define MAXT 256

static long rounds, nthreads;
static pthread_barrier_t barrier;
static atomic_int *serial;              /* serial[i]: threads that got SERIAL in cycle i */
static atomic_long arrivals, early, bad_ret;
static long cycles_done[MAXT];
static volatile unsigned sink;

static void work(int k)
{
    unsigned x = 1;
    for (int i = 0; i < k; i++)
        x = x * 1103515245u + 12345u;
    sink = x;
}

static void *body(void *arg)
{
    long id = (long)arg, done = 0;
    for (long i = 0; i < rounds; i++) {
        work(20);
        atomic_fetch_add_explicit(&arrivals, 1, memory_order_relaxed);
        int rc = pthread_barrier_wait(&barrier);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add_explicit(&serial[i], 1, memory_order_relaxed);
        else if (rc != 0)
            atomic_fetch_add(&bad_ret, 1);
        long a = atomic_load_explicit(&arrivals, memory_order_relaxed);
        if (a < (i + 1) * nthreads || a >= (i + 2) * nthreads)
            atomic_fetch_add(&early, 1);
        done++;
    }
    cycles_done[id] = done;
    return NULL;
}

int main(int argc, char **argv)
{
    int c;
    nthreads = 4;
    rounds = 20000;
    while ((c = getopt(argc, argv, "t:r:")) != -1) {
        switch (c) {
        case 't': nthreads = parse_size(optarg); break;
        case 'r': rounds = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-r cycles]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1 || nthreads > MAXT || rounds < 1) {
        fprintf(stderr, "t must be 1..%d, r >= 1\n", MAXT);
        return 2;
    }
    serial = calloc(rounds, sizeof *serial);
    if (!serial) {
        perror("calloc");
        return 2;
    }
    if ((errno = pthread_barrier_init(&barrier, NULL, nthreads))) {
        perror("pthread_barrier_init");
        return 1;
    }
    pthread_t th[MAXT];
    double t0 = now_s();
    for (long i = 0; i < nthreads; i++)
        if ((errno = pthread_create(&th[i], NULL, body, (void *)i))) {
            perror("pthread_create");
            return 1;
        }
    for (long i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - t0;
    long serial_total = 0, bad_cycles = 0, short_threads = 0;
    for (long i = 0; i < rounds; i++) {
        int s = atomic_load(&serial[i]);
        serial_total += s;
        bad_cycles += s != 1;
    }
    for (long i = 0; i < nthreads; i++)
        short_threads += cycles_done[i] != rounds;
    int destroy_rc = pthread_barrier_destroy(&barrier);
    int ok = serial_total == rounds && !bad_cycles && !short_threads && !atomic_load(&early) &&
             !atomic_load(&bad_ret) && !destroy_rc;
    if (!ok)
        fprintf(stderr, "barrier_cycle: serial=%ld bad_cycles=%ld short_threads=%ld early=%ld bad_ret=%ld destroy=%d\n",
                serial_total, bad_cycles, short_threads, atomic_load(&early), atomic_load(&bad_ret), destroy_rc);
    emit("barrier_cycle", ok, "cycles_per_s", rounds / secs,
         "threads=%ld rounds=%ld serial=%ld bad_cycles=%ld early=%ld secs=%.6f", nthreads, rounds,
         serial_total, bad_cycles, atomic_load(&early), secs);
    free(serial);
    return ok ? 0 : 1;
}
