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

static void sleep_mono(blitz_task *t, uint64_t deadline)
{
    shim_testcancel(t);
    while (blitz_sleep_until(deadline, shim_cancel_flag(t)) == BLITZ_W_INTERRUPTED)
        shim_testcancel(t); /* interrupted for a cancellation: acts on it */
}

static void sleep_rel(blitz_task *t, const struct timespec *req)
{
    uint64_t ns = (uint64_t)req->tv_sec > UINT64_MAX / 1000000000ull ? UINT64_MAX / 2
                                                                      : blitz_ts_to_ns(req);
    sleep_mono(t, add_sat(blitz_now_ns(), ns));
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
    sleep_rel(t, req);
    return 0;
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
        sleep_rel(t, req);
        return 0;
    }
    for (;;) {
        uint64_t now = blitz_clock_ns(clk), want = blitz_ts_to_ns(req);
        if (now >= want)
            return 0;
        sleep_mono(t, add_sat(blitz_now_ns(), want - now));
    }
}

BLITZ_EXPORT int usleep(useconds_t us)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(usleep)(us);
    sleep_mono(t, add_sat(blitz_now_ns(), (uint64_t)us * 1000u));
    return 0;
}

BLITZ_EXPORT unsigned sleep(unsigned s)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(sleep)(s);
    sleep_mono(t, add_sat(blitz_now_ns(), (uint64_t)s * 1000000000ull));
    return 0;
}

BLITZ_EXPORT int sched_yield(void)
{
    if (!shim_task())
        return REAL(sched_yield)();
    blitz_yield();
    return 0;
}

/* glibc's header redirects pthread_yield to sched_yield; old binaries still import it. */
BLITZ_EXPORT int shim_pthread_yield(void) __asm__("pthread_yield");
int shim_pthread_yield(void)
{
    return sched_yield();
}
