/* syscall(): libraries that wait with the futex system call themselves (libstdc++'s futures,
 * std::atomic::wait, latch, barrier, counting_semaphore) call it through libc's syscall().
 * A task's FUTEX_WAIT parks it on the parking lot instead of blocking its worker; FUTEX_WAKE
 * wakes parked tasks first and passes the rest to the kernel for OS threads. Every other
 * system call, and futex waits of threads that are not tasks, go to the kernel unchanged. */
#include <errno.h>
#include <linux/futex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include "clock.h"
#include "parklot.h"
#include "rawsys.h"
#include "real.h"
#include "sync.h"

struct fwait {
    const _Atomic uint32_t *addr;
    uint32_t val;
};

static int still_val(void *ctx)
{
    struct fwait *f = ctx;
    return atomic_load(f->addr) == f->val;
}

/* A task's FUTEX_WAIT / FUTEX_WAIT_BITSET: same results as the kernel's. */
static long task_wait(int op, uint32_t *addr, uint32_t val, const struct timespec *ts)
{
    uint64_t deadline = 0;
    if (ts) {
        if (ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L || ts->tv_sec < 0) {
            errno = EINVAL;
            return -1;
        }
        uint64_t ns = blitz_ts_to_ns(ts);
        if ((op & FUTEX_CMD_MASK) == FUTEX_WAIT) {
            deadline = blitz_now_ns() + ns; /* relative */
        } else if (op & FUTEX_CLOCK_REALTIME) {
            uint64_t now = blitz_clock_ns(CLOCK_REALTIME);
            deadline = ns <= now ? 1 : blitz_now_ns() + (ns - now);
        } else {
            deadline = ns ? ns : 1; /* absolute CLOCK_MONOTONIC */
        }
    }
    struct fwait f = { (const _Atomic uint32_t *)addr, val };
    blitz_task *self = shim_task();
    int st;
    /* As the kernel's: a handler runs on this thread; it ends a timed wait, and an untimed
     * one unless it has SA_RESTART (the wait then starts again, checking the value). */
    while ((st = blitz_park(addr, still_val, NULL, &f, deadline, shim_signal_flag(self), NULL)) ==
           BLITZ_W_INTERRUPTED) {
        int sig = shim_signals_run(self);
        if (shim_sig_ends_wait(sig, !deadline)) {
            errno = EINTR;
            return -1;
        }
    }
    if (st == BLITZ_PARK_INVALID) {
        errno = EAGAIN;
        return -1;
    }
    if (st == BLITZ_W_TIMEDOUT) {
        errno = ETIMEDOUT;
        return -1;
    }
    return 0;
}

BLITZ_EXPORT long syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long),
         d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_futex && !shim_sync_native) {
        int op = (int)b, cmd = op & FUTEX_CMD_MASK;
        if ((cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) && shim_task())
            return task_wait(op, (uint32_t *)a, (uint32_t)c, (const struct timespec *)d);
        if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET) {
            long want = (int)c, woken = blitz_unpark_n((void *)a, (unsigned)(want > 0 ? want : 0));
            if (woken < want) {
                long k = blitz_syscall(n, a, b, want - woken, d, e, f);
                return k < 0 ? (woken ? woken : k) : woken + k;
            }
            return woken;
        }
    }
    return blitz_syscall(n, a, b, c, d, e, f);
}
