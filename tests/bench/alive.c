/* alive: how many blocked threads fit, and what each one costs.
 *   -n N      target thread count (default 10000); creation stops early if pthread_create fails
 *   -s SIZE   stack size, e.g. 64k (default 0 = default attributes, no setstacksize)
 *   -p P      each thread loops nanosleep(P) until the stop flag is set (default 1s)
 *   -u BYTES  stack each thread touches before blocking (default 0)
 * Memory is sampled before creation and once every thread has started (so lazily started threads
 * are counted): process VmRSS / VmHWM plus system-wide KernelStack, PageTables and SUnreclaim from
 * /proc/meminfo (run nothing else meanwhile). Then stop is set, all threads are joined and counted.
 * Result: metric=bytes_per_thread = (dVmRSS + dKernelStack + dPageTables + dSUnreclaim) / peak.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include "bench.h"

static long period_ns, touch;
static atomic_int stop;
static atomic_long started, finished;

static void *body(void *arg)
{
    if (touch) {
        volatile char *buf = __builtin_alloca(touch);
        for (long i = 0; i < touch; i += 512)
            buf[i] = (char)i;
    }
    atomic_fetch_add(&started, 1);
    while (!atomic_load(&stop))
        sleep_ns(period_ns);
    atomic_fetch_add(&finished, 1);
    return arg;
}

struct mem { long rss, kstack, ptables, sunreclaim; };

static struct mem sample(void)
{
    return (struct mem){
        proc_kb("/proc/self/status", "VmRSS"), proc_kb("/proc/meminfo", "KernelStack"),
        proc_kb("/proc/meminfo", "PageTables"), proc_kb("/proc/meminfo", "SUnreclaim"),
    };
}

int main(int argc, char **argv)
{
    long target = 10000, stack = 0;
    int c;
    period_ns = 1000000000L;
    while ((c = getopt(argc, argv, "n:s:p:u:")) != -1) {
        switch (c) {
        case 'n': target = parse_size(optarg); break;
        case 's': stack = parse_size(optarg); break;
        case 'p': period_ns = parse_ns(optarg); break;
        case 'u': touch = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-n threads] [-s stacksize] [-p period] [-u touch_bytes]\n", argv[0]);
            return 2;
        }
    }
    if (target < 1) {
        fprintf(stderr, "need -n >= 1\n");
        return 2;
    }

    pthread_t *t = malloc(target * sizeof *t);
    memset(t, 0, target * sizeof *t);       /* touch it now so it is not counted per thread */
    pthread_attr_t attr, *pattr = NULL;
    if (stack) {
        pthread_attr_init(&attr);
        if ((errno = pthread_attr_setstacksize(&attr, stack))) {
            perror("pthread_attr_setstacksize");
            return 2;
        }
        pattr = &attr;
    }

    struct mem before = sample();
    double t0 = now_s();
    long peak = 0;
    int create_rc = 0;
    for (; peak < target; peak++)
        if ((create_rc = pthread_create(&t[peak], pattr, body, (void *)(long)peak)))
            break;
    double create_s = now_s() - t0;
    if (create_rc)
        fprintf(stderr, "alive: pthread_create failed after %ld threads: %s\n", peak, strerror(create_rc));

    /* Wait (bounded) until every created thread has run up to its blocking point. */
    double w0 = now_s();
    while (atomic_load(&started) < peak && now_s() - w0 < 60)
        sleep_ns(1000000);
    double settle_s = now_s() - w0;
    long started_at_peak = atomic_load(&started);
    struct mem at = sample();
    long hwm = proc_kb("/proc/self/status", "VmHWM");

    atomic_store(&stop, 1);
    long join_err = 0, bad_ret = 0;
    double j0 = now_s();
    for (long i = 0; i < peak; i++) {
        void *ret;
        if (pthread_join(t[i], &ret))
            join_err++;
        else if (ret != (void *)i)
            bad_ret++;
    }
    double join_s = now_s() - j0;

    long d_rss = at.rss - before.rss, d_ks = at.kstack - before.kstack,
         d_pt = at.ptables - before.ptables, d_su = at.sunreclaim - before.sunreclaim;
    double per = peak ? (d_rss + d_ks + d_pt + d_su) * 1024.0 / peak : 0;
    int ok = peak > 0 && started_at_peak == peak && !join_err && !bad_ret && atomic_load(&finished) == peak;
    if (!ok)
        fprintf(stderr, "alive: peak=%ld started=%ld join_err=%ld bad_ret=%ld finished=%ld\n",
                peak, started_at_peak, join_err, bad_ret, atomic_load(&finished));
    emit("alive", ok, "bytes_per_thread", per,
         "target=%ld stack=%ld period_ns=%ld touch=%ld peak=%ld stopped_by=%s create_s=%.6f "
         "creates_per_s=%.1f settle_s=%.6f join_s=%.6f vmrss_kb=%ld vmhwm_kb=%ld d_vmrss_kb=%ld "
         "d_kernelstack_kb=%ld d_pagetables_kb=%ld d_sunreclaim_kb=%ld user_bytes_per_thread=%.0f "
         "kernel_bytes_per_thread=%.0f",
         target, stack, period_ns, touch, peak, create_rc ? (create_rc == EAGAIN ? "EAGAIN" : "error") : "target",
         create_s, peak / create_s, settle_s, join_s, at.rss, hwm, d_rss, d_ks, d_pt, d_su,
         peak ? d_rss * 1024.0 / peak : 0, peak ? (d_ks + d_pt + d_su) * 1024.0 / peak : 0);
    return ok ? 0 : 1;
}
