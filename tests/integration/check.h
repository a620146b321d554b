/* Shared check macros and small helpers for the integration test programs.
 *
 * Plain C, usable from C and C++.  Like the programs themselves it stands for
 * legacy code: it must never include anything from the blitzshim runtime, shim
 * or preload sources.  Include it after the system headers (and after defining
 * _GNU_SOURCE, which every program does first).
 *
 *   failures                 the failure counter (static, starts at 0); a
 *                            program that keeps its own local `failures`
 *                            simply shadows it
 *   CHECK(cond, fmt, ...)    prints "FAIL: line N: <message>" unless cond
 *   EXPECT(expr, want)       compares as long, prints "FAIL: line N: expr = got, expected want"
 *   EXPECT_ERR(expr, want)   for error codes (int): the message also names the
 *                            error, "expr = got (ENAME), expected want"
 *   nap_ms(ms)               nanosleep for ms milliseconds, resumed after EINTR
 *   ns_of(clock)             clock_gettime(clock) in nanoseconds
 *   now_ns()                 ns_of(CLOCK_MONOTONIC)
 */
#ifndef BLITZ_IT_CHECK_H
#define BLITZ_IT_CHECK_H

#include <stdio.h>
#include <string.h>
#include <time.h>

static int failures __attribute__((unused));

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL: line %d: ", __LINE__);                                                   \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

#define EXPECT(expr, want)                                                                         \
    do {                                                                                           \
        long got_ = (long)(expr);                                                                  \
        if (got_ != (long)(want)) {                                                                \
            printf("FAIL: line %d: %s = %ld, expected %s\n", __LINE__, #expr, got_, #want);        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* strerrorname_np needs _GNU_SOURCE (glibc >= 2.32) */
#define EXPECT_ERR(expr, want)                                                                     \
    do {                                                                                           \
        int got_ = (expr);                                                                         \
        if (got_ != (want)) {                                                                      \
            printf("FAIL: line %d: %s = %d (%s), expected %s\n", __LINE__, #expr, got_,            \
                   got_ ? strerrorname_np(got_) : "0", #want);                                     \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static inline void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static inline long long ns_of(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long long now_ns(void) { return ns_of(CLOCK_MONOTONIC); }

#endif /* BLITZ_IT_CHECK_H */
