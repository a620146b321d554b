#include "clock.h"

uint64_t blitz_clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return blitz_ts_to_ns(&ts);
}

uint64_t blitz_now_ns(void)
{
    return blitz_clock_ns(CLOCK_MONOTONIC);
}

uint64_t blitz_abs_to_mono(clockid_t clk, const struct timespec *abs)
{
    uint64_t mono = blitz_now_ns();
    if (clk == CLOCK_MONOTONIC)
        return blitz_ts_to_ns(abs);
    uint64_t now = blitz_clock_ns(clk), want = blitz_ts_to_ns(abs);
    return want > now ? mono + (want - now) : mono;
}
