/* The sleep family as task timers. Deadlines are CLOCK_MONOTONIC; absolute sleeps on other
 * clocks are converted and re-checked on wake-up, so a sleep never ends early. Each sleep is
 * a cancellation point. CPU-time clocks go to libc (they would block the worker; rare). */
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "real.h"
#include "scheduler.h"
#include "thread_state.h"
#include "waiter.h"

static int valid_ts(const struct timespec *ts)
{
    return ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000 && ts->tv_sec >= 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX - 1 : a + b; }

/* Sleeps until deadline. Returns 0, or -1 if a signal handler ran first: sleeps end with
 * EINTR then, SA_RESTART or not, as the kernel's do. */
static int sleep_mono(blitz_task *t, uint64_t deadline)
{
    shim_testcancel(t);
    while (blitz_sleep_until(deadline, shim_cancel_flag(t)) == BLITZ_W_INTERRUPTED)
        if (shim_interrupted(t) != SHIM_SIG_NONE)
            return -1;
    return 0;
}

/* What is left of a sleep to deadline, for the `rem` argument. */
static void left(uint64_t deadline, struct timespec *rem)
{
    uint64_t now = blitz_now_ns();
    if (rem)
        *rem = blitz_ns_to_ts(deadline > now ? deadline - now : 0);
}

static uint64_t rel_deadline(const struct timespec *req)
{
    uint64_t ns = (uint64_t)req->tv_sec > UINT64_MAX / 1000000000ull ? UINT64_MAX / 2
                                                                      : blitz_ts_to_ns(req);
    return add_sat(blitz_now_ns(), ns);
}

BLITZ_EXPORT int nanosleep(const struct timespec *req, struct timespec *rem)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(nanosleep)(req, rem);
    if (!valid_ts(req)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t deadline = rel_deadline(req);
    if (sleep_mono(t, deadline) == 0)
        return 0;
    left(deadline, rem);
    errno = EINTR;
    return -1;
}

BLITZ_EXPORT int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                                 struct timespec *rem)
{
    blitz_task *t = shim_task();
    int supported = clk == CLOCK_REALTIME || clk == CLOCK_MONOTONIC || clk == CLOCK_BOOTTIME ||
                    clk == CLOCK_TAI;
    if (!t || !supported)
        return REAL(clock_nanosleep)(clk, flags, req, rem);
    if (!valid_ts(req))
        return EINVAL;
    if (!(flags & TIMER_ABSTIME)) {
        uint64_t deadline = rel_deadline(req);
        if (sleep_mono(t, deadline) == 0)
            return 0;
        left(deadline, rem);
        return EINTR;
    }
    for (;;) {
        uint64_t now = blitz_clock_ns(clk), want = blitz_ts_to_ns(req);
        if (now >= want)
            return 0;
        if (sleep_mono(t, add_sat(blitz_now_ns(), want - now)) != 0)
            return EINTR; /* rem is not set for absolute sleeps */
    }
}

BLITZ_EXPORT int usleep(useconds_t us)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(usleep)(us);
    if (sleep_mono(t, add_sat(blitz_now_ns(), (uint64_t)us * 1000u)) != 0) {
        errno = EINTR;
        return -1;
    }
    return 0;
}

BLITZ_EXPORT unsigned sleep(unsigned s)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(sleep)(s);
    uint64_t deadline = add_sat(blitz_now_ns(), (uint64_t)s * 1000000000ull);
    if (sleep_mono(t, deadline) == 0)
        return 0;
    struct timespec r;
    left(deadline, &r);
    return (unsigned)r.tv_sec; /* unslept whole seconds, as glibc's sleep */
}

BLITZ_EXPORT int sched_yield(void)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(sched_yield)();
    blitz_yield();
    /* A signal sent while it was queued runs now, as on return from the system call. */
    shim_signals_run(t);
    return 0;
}

/* glibc's header redirects pthread_yield to sched_yield; old binaries still import it. */
BLITZ_EXPORT int shim_pthread_yield(void) __asm__("pthread_yield");
int shim_pthread_yield(void)
{
    return sched_yield();
}
