/* create_join: N thread create+join pairs with default attributes.
 *   -n N   total threads (default 100000)
 *   -b K   batch: create K threads, then join those K (default 1 = create, join immediately)
 * Each thread adds its argument to a shared atomic and returns arg ^ MAGIC; every pthread_create /
 * pthread_join return value, every returned value and the final sum are verified.
 * Result: metric=creates_per_s (threads created and joined per second of wall time).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>
#include "bench.h"

#define MAGIC ((uintptr_t)0x5a5a5a5a)

static atomic_ulong sum;

static void *body(void *arg)
{
    atomic_fetch_add_explicit(&sum, (uintptr_t)arg, memory_order_relaxed);
    return (void *)((uintptr_t)arg ^ MAGIC);
}

int main(int argc, char **argv)
{
    long n = 100000, k = 1;
    int c;
    while ((c = getopt(argc, argv, "n:b:")) != -1) {
        switch (c) {
        case 'n': n = parse_size(optarg); break;
        case 'b': k = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-n threads] [-b batch]\n", argv[0]);
            return 2;
        }
    }
    if (n < 1 || k < 1) {
        fprintf(stderr, "n and b must be >= 1\n");
        return 2;
    }

    pthread_t *t = calloc(k, sizeof *t);
    long create_err = 0, join_err = 0, bad_ret = 0, done = 0;
    int first_err = 0;
    double t0 = now_s();
    while (done < n) {
        long batch = n - done < k ? n - done : k, made = 0;
        for (long i = 0; i < batch; i++) {
            int rc = pthread_create(&t[i], NULL, body, (void *)(uintptr_t)(done + i + 1));
            if (rc) {
                create_err++;
                if (!first_err) first_err = rc;
                break;
            }
            made++;
        }
        for (long i = 0; i < made; i++) {
            void *ret;
            int rc = pthread_join(t[i], &ret);
            if (rc) {
                join_err++;
                if (!first_err) first_err = rc;
            } else if ((uintptr_t)ret != ((uintptr_t)(done + i + 1) ^ MAGIC)) {
                bad_ret++;
            }
        }
        done += made;
        if (made < batch)
            break;             /* create failed: report, do not spin */
    }
    double secs = now_s() - t0;

    unsigned long want = (unsigned long)done * (done + 1) / 2;
    int ok = done == n && !create_err && !join_err && !bad_ret && atomic_load(&sum) == want;
    if (!ok)
        fprintf(stderr, "create_join: done=%ld/%ld create_err=%ld join_err=%ld bad_ret=%ld sum=%lu want=%lu first_err=%s\n",
                done, n, create_err, join_err, bad_ret, atomic_load(&sum), want, strerror(first_err));
    emit("create_join", ok, "creates_per_s", done / secs,
         "n=%ld batch=%ld done=%ld secs=%.6f us_per_pair=%.3f create_err=%ld join_err=%ld",
         n, k, done, secs, secs * 1e6 / (done ? done : 1), create_err, join_err);
    free(t);
    return ok ? 0 : 1;
}
