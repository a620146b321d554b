/* sleep_storm: T threads each doing R iterations of nanosleep(D), all starting at the same instant.
 *   -t T      threads (default 10000)
 *   -r R      iterations per thread (default 100)
 *   -d D      sleep per iteration, e.g. 1ms, 500us (default 1ms)
 *   -s SIZE   thread stack size, e.g. 64k (default 64k; 0 = default attributes)
 *   -p P      start-flag poll period (default 500ms; short periods swamp native creation)
 * Start barrier without mutex/condvar: threads poll an atomic start time with nanosleep(P); once
 * all are created, main publishes start = now + 2P; each thread then nanosleeps until that instant
 * and runs its R sleeps. wall = (latest thread finish) - start; ideal = R*D.
 * Verified: every thread ran R sleeps, none returned an error or woke before D had elapsed.
 * Result: metric=wall_over_ideal (1.0 is perfect).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include "bench.h"

static long iters, dur_ns, poll_ns;
static _Atomic double start_at;        /* 0 until released */
static atomic_long late_starts, early_wakeups, sleep_errors;

/* Per-thread results, counted in locals: a shared counter bumped per sleep would make every
 * sleep a cross-core cache-line transfer, and the benchmark would measure that instead. */
struct slot { double begin, end; long done; };

static void *body(void *arg)
{
    struct slot *s = arg;
    double t0;
    while ((t0 = atomic_load(&start_at)) == 0)
        sleep_ns(poll_ns);
    double wait = t0 - now_s();
    if (wait > 0)
        sleep_ns((long)(wait * 1e9));
    else
        atomic_fetch_add(&late_starts, 1);
    s->begin = now_s();
    long done = 0;
    for (long i = 0; i < iters; i++) {
        struct timespec ts = { dur_ns / 1000000000L, dur_ns % 1000000000L };
        double a = now_s();
        if (nanosleep(&ts, NULL) != 0)
            atomic_fetch_add(&sleep_errors, 1);
        if (now_s() - a < dur_ns * 1e-9)
            atomic_fetch_add(&early_wakeups, 1);
        done++;
    }
    s->end = now_s();
    s->done = done;
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long nthreads = 10000, stack = 64 * 1024;
    int c;
    iters = 100, dur_ns = 1000000, poll_ns = 500000000;
    while ((c = getopt(argc, argv, "t:r:d:s:p:")) != -1) {
        switch (c) {
        case 't': nthreads = parse_size(optarg); break;
        case 'r': iters = parse_size(optarg); break;
        case 'd': dur_ns = parse_ns(optarg); break;
        case 's': stack = parse_size(optarg); break;
        case 'p': poll_ns = parse_ns(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-r iters] [-d sleep] [-s stacksize] [-p poll]\n", argv[0]);
            return 2;
        }
    }
    if (nthreads < 1 || iters < 0) {
        fprintf(stderr, "need -t >= 1, -r >= 0\n");
        return 2;
    }

    pthread_t *t = calloc(nthreads, sizeof *t);
    struct slot *slots = calloc(nthreads, sizeof *slots);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stack && (errno = pthread_attr_setstacksize(&attr, stack))) {
        perror("pthread_attr_setstacksize");
        return 2;
    }

    double c0 = now_s();
    long made = 0;
    int create_rc = 0;
    for (; made < nthreads; made++)
        if ((create_rc = pthread_create(&t[made], &attr, body, &slots[made])))
            break;
    double create_s = now_s() - c0;
    double t0 = now_s() + 2 * poll_ns * 1e-9;
    atomic_store(&start_at, t0);

    long join_err = 0;
    for (long i = 0; i < made; i++)
        join_err += pthread_join(t[i], NULL) != 0;
    double total_s = now_s() - c0;

    double last_end = t0, *per = calloc(made ? made : 1, sizeof *per);
    long sleeps_done = 0;
    for (long i = 0; i < made; i++) {
        sleeps_done += slots[i].done;
        if (slots[i].end > last_end) last_end = slots[i].end;
        per[i] = slots[i].end - slots[i].begin;
    }
    qsort(per, made, sizeof *per, cmp_double);
    double wall = last_end - t0, ideal = iters * dur_ns * 1e-9;

    int ok = made == nthreads && !join_err && sleeps_done == made * iters &&
             !atomic_load(&sleep_errors) && !atomic_load(&early_wakeups);
    if (!ok)
        fprintf(stderr, "sleep_storm: made=%ld/%ld (%s) join_err=%ld sleeps=%ld/%ld errors=%ld early=%ld\n",
                made, nthreads, strerror(create_rc), join_err, sleeps_done, made * iters,
                atomic_load(&sleep_errors), atomic_load(&early_wakeups));
    emit("sleep_storm", ok, "wall_over_ideal", ideal > 0 ? wall / ideal : 0,
         "threads=%ld iters=%ld sleep_ns=%ld stack=%ld wall_s=%.6f ideal_s=%.6f thread_median_s=%.6f "
         "thread_max_s=%.6f create_s=%.6f total_s=%.6f late_starts=%ld early_wakeups=%ld",
         nthreads, iters, dur_ns, stack, wall, ideal, made ? per[made / 2] : 0, made ? per[made - 1] : 0,
         create_s, total_s, atomic_load(&late_starts), atomic_load(&early_wakeups));
    return ok ? 0 : 1;
}
