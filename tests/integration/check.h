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
 *   TCHECK(cond, fmt, ...)   CHECK for checks made inside many threads: counts in
 *                            `failures` atomically and prints only the first
 *                            TCHECK_PRINT_MAX (10) messages (a broken run may fail
 *                            millions of times); read `failures` after the joins
 *   nap_ms(ms), nap_us(us)   nanosleep for ms milliseconds / us microseconds,
 *                            resumed after EINTR
 *   ns_of(clock)             clock_gettime(clock) in nanoseconds
 *   now_ns()                 ns_of(CLOCK_MONOTONIC)
 *   lcg_next(&seed)          per-thread pseudo-random number in 0..32767 (LCG;
 *                            seed it with the thread's index for a fixed sequence)
 *   pause_rand(&seed)        one scheduling point in random-ish form: sched_yield()
 *                            7 times in 8, else nanosleep of 0..100 us (0 included)
 *   gate_wait(&flag)         waits until the int flag is non-zero, polling it every
 *                            5 ms with nanosleep (acquire); gate_open(&flag) sets it
 *                            (release).  For start lines that many threads wait at:
 *                            pthread barriers, mutexes and condition variables would
 *                            block a shim worker, polling with sleeps does not.
 *   deadline_ms(clock, ms)   struct timespec: clock_gettime(clock) + ms milliseconds
 *                            (ms may be negative: a deadline already past), for the
 *                            absolute timeouts of timedlock/timedwait/clockwait
 *   ts_ns(ts)                a struct timespec in nanoseconds
 *   reached(clock, ts)       non-zero when clock_gettime(clock) >= ts (a timed call that
 *                            answered ETIMEDOUT must have reached its deadline: never early)
 */
#ifndef BLITZ_IT_CHECK_H
#define BLITZ_IT_CHECK_H

#include <sched.h>
#include <stdarg.h>
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

#define TCHECK_PRINT_MAX 10

static void tcheck_fail_(int line, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static void tcheck_fail_(int line, const char *fmt, ...)
{
    if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) >= TCHECK_PRINT_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    flockfile(stdout);
    printf("FAIL: line %d: ", line);
    vprintf(fmt, ap);
    printf("\n");
    funlockfile(stdout);
    va_end(ap);
}

#define TCHECK(cond, ...)                                                                          \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            tcheck_fail_(__LINE__, __VA_ARGS__);                                                   \
    } while (0)

static inline void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static inline void nap_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
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

static inline unsigned lcg_next(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

static inline void pause_rand(unsigned *seed)
{
    unsigned r = lcg_next(seed);
    if (r % 8 != 0)
        sched_yield();
    else
        nap_us((long)(r / 8 % 101));
}

static inline void gate_wait(int *flag)
{
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        nap_ms(5);
}

static inline void gate_open(int *flag) { __atomic_store_n(flag, 1, __ATOMIC_RELEASE); }

static inline struct timespec deadline_ms(clockid_t c, long ms)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    long long ns = ts.tv_nsec + (ms % 1000) * 1000000LL;
    ts.tv_sec += ms / 1000 + ns / 1000000000LL;
    ns %= 1000000000LL;
    if (ns < 0) {
        ns += 1000000000LL;
        ts.tv_sec--;
    }
    ts.tv_nsec = (long)ns;
    return ts;
}

static inline long long ts_ns(struct timespec ts) { return ts.tv_sec * 1000000000LL + ts.tv_nsec; }

static inline int reached(clockid_t c, struct timespec ts) { return ns_of(c) >= ts_ns(ts); }

#endif /* BLITZ_IT_CHECK_H */
