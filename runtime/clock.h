/* Monotonic time in nanoseconds (vDSO, no system call on Linux). Thread-safe. */
#ifndef BLITZ_CLOCK_H
#define BLITZ_CLOCK_H
#include <stdint.h>
#include <time.h>

uint64_t blitz_now_ns(void);                      /* CLOCK_MONOTONIC */
uint64_t blitz_clock_ns(clockid_t clk);           /* any clock, ns since its epoch */
static inline uint64_t blitz_ts_to_ns(const struct timespec *ts)
{
    return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}
static inline struct timespec blitz_ns_to_ts(uint64_t ns)
{
    struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
    return ts;
}
/* Converts an absolute time on clock clk into an absolute CLOCK_MONOTONIC deadline, saturating
 * at "now" when the time has passed. */
uint64_t blitz_abs_to_mono(clockid_t clk, const struct timespec *abs);
#endif
