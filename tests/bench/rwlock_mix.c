/* rwlock_mix: a read-mostly mix on one pthread_rwlock_t protecting a small table (64 longs).
 * T threads share N operations; each operation is a write with probability W% (wrlock, bump the
 * version and rewrite every entry to it) or else a read (rdlock, check that every entry equals
 * the version and sum them). A little work (a few dozen ns) is done outside the lock too.
 *   -t T     threads (default 8)
 *   -n N     operations in total, split among the threads (default 200000)
 *   -w PCT   percentage of writes, 0..100, fractions allowed (default 10)
 * Result: metric=ops_per_s. Verified: the version (and every entry) equals the number of writes
 * done, no reader or writer ever saw a torn table, and every thread did its share. min/max
 * per-thread finishing times show whether anybody starved (e.g. writers behind readers). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include "bench.h"

#define ENTRIES 64
#define MAXT 256

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static long table[ENTRIES];
static long version;
static uint64_t write_threshold;            /* rng < threshold (of 2^32) -> write */
static volatile unsigned sink;

struct worker {
    long id, ops, reads, writes, bad;
    double done_at;
} __attribute__((aligned(64)));
static struct worker w[MAXT];

static void work(int k)
{
    unsigned x = 1;
    for (int i = 0; i < k; i++)
        x = x * 1103515245u + 12345u;
    sink = x;
}

static void *body(void *arg)
{
    struct worker *me = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (me->id + 1);
    for (long i = 0; i < me->ops; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;     /* xorshift64 */
        if ((rng >> 32) < write_threshold) {
            pthread_rwlock_wrlock(&lock);
            long v = version;
            for (int j = 0; j < ENTRIES; j++)                     /* writer-writer overlap? */
                if (table[j] != v)
                    me->bad++;
            version = ++v;
            for (int j = 0; j < ENTRIES; j++)
                table[j] = v;
            pthread_rwlock_unlock(&lock);
            me->writes++;
        } else {
            pthread_rwlock_rdlock(&lock);
            long v = version, sum = 0;
            for (int j = 0; j < ENTRIES; j++)
                sum += table[j];
            if (sum != v * ENTRIES)                               /* torn by a writer? */
                me->bad++;
            pthread_rwlock_unlock(&lock);
            me->reads++;
        }
        work(20);
    }
    me->done_at = now_s();
    return NULL;
}

int main(int argc, char **argv)
{
    long t = 8, n = 200000;
    double pct = 10;
    char *end;
    int c;
    while ((c = getopt(argc, argv, "t:n:w:")) != -1) {
        switch (c) {
        case 't': t = parse_size(optarg); break;
        case 'n': n = parse_size(optarg); break;
        case 'w':
            pct = strtod(optarg, &end);
            if (end == optarg || *end || pct < 0 || pct > 100) {
                fprintf(stderr, "bad write percentage: %s\n", optarg);
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: %s [-t threads] [-n total_ops] [-w write_pct]\n", argv[0]);
            return 2;
        }
    }
    if (t < 1 || t > MAXT || n < t) {
        fprintf(stderr, "t must be 1..%d and n >= t\n", MAXT);
        return 2;
    }
    write_threshold = (uint64_t)(pct / 100.0 * 4294967296.0);
    pthread_t th[MAXT];
    double t0 = now_s();
    for (long i = 0; i < t; i++) {
        w[i].id = i;
        w[i].ops = n / t + (i < n % t);
        if ((errno = pthread_create(&th[i], NULL, body, &w[i]))) {
            perror("pthread_create");
            return 1;
        }
    }
    for (long i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    double secs = now_s() - t0, first = w[0].done_at, last = w[0].done_at;
    long reads = 0, writes = 0, bad = 0, table_bad = 0;
    for (long i = 0; i < t; i++) {
        reads += w[i].reads;
        writes += w[i].writes;
        bad += w[i].bad;
        if (w[i].reads + w[i].writes != w[i].ops)
            bad++;
        if (w[i].done_at < first) first = w[i].done_at;
        if (w[i].done_at > last) last = w[i].done_at;
    }
    for (int j = 0; j < ENTRIES; j++)
        table_bad += table[j] != version;
    int ok = version == writes && !table_bad && !bad && reads + writes == n;
    if (!ok)
        fprintf(stderr, "rwlock_mix: version=%ld writes=%ld reads=%ld n=%ld bad=%ld table_bad=%ld\n",
                version, writes, reads, n, bad, table_bad);
    emit("rwlock_mix", ok, "ops_per_s", n / secs,
         "threads=%ld ops=%ld write_pct=%g reads=%ld writes=%ld bad=%ld secs=%.6f first_done_s=%.6f "
         "last_done_s=%.6f",
         t, n, pct, reads, writes, bad + table_bad, secs, first - t0, last - t0);
    return ok ? 0 : 1;
}
