/* yield_switch: T threads each calling sched_yield() R times; measures the cost of one
 * switch from a thread to the next runnable one (natively: the kernel's; under the shim: a
 * green-task switch through the scheduler, including the TLS switch of BLITZ_TLS=task).
 *   -t T   threads (default 100)
 *   -r R   yields per thread (default 100000)
 * Result: metric=ns_per_yield (wall time x cores in use / total yields; lower is better;
 * cores in use = min(T, online CPUs), so 1-core and 2-core runs compare per core).
 * Verified: every thread completed R yields. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>
#include "bench.h"

static long rounds;
static atomic_long done_total;

static void *body(void *arg)
{
    long n = 0;
    for (long i = 0; i < rounds; i++) {
        sched_yield();
        n++;
    }
    atomic_fetch_add(&done_total, n);
    return NULL;
}

int main(int argc, char **argv)
{
    long nthreads = 100;
    int c;
    rounds = 100000;
    while ((c = getopt(argc, argv, "t:r:")) != -1) {
        switch (c) {
        case 't': nthreads = parse_size(optarg); break;
        case 'r': rounds = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-r yields]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1 || rounds < 1) {
        fprintf(stderr, "t and r must be >= 1\n");
        return 2;
    }
    pthread_t *t = calloc(nthreads, sizeof *t);
    long made = 0;
    double t0 = now_s();
    for (; made < nthreads; made++)
        if (pthread_create(&t[made], NULL, body, NULL) != 0)
            break;
    for (long i = 0; i < made; i++)
        pthread_join(t[i], NULL);
    double secs = now_s() - t0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long cores = nthreads < cpus ? nthreads : cpus;
    long total = atomic_load(&done_total);
    int ok = made == nthreads && total == nthreads * rounds;
    if (!ok)
        fprintf(stderr, "yield_switch: made=%ld/%ld yields=%ld/%ld\n", made, nthreads, total,
                nthreads * rounds);
    emit("yield_switch", ok, "ns_per_yield", total ? secs * 1e9 * cores / total : 0,
         "threads=%ld rounds=%ld secs=%.6f cores=%ld", nthreads, rounds, secs, cores);
    return ok ? 0 : 1;
}
