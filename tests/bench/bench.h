/* Helpers shared by the benchmark programs. Plain C + pthreads, nothing blitzshim-specific.
 *
 * Output contract (read by scripts/bench.sh): every program prints exactly ONE line to stdout,
 * space-separated key=value pairs, no spaces/commas/quotes/'=' inside values:
 *   bench=<program> ok=<0|1> metric=<name> value=<number> <parameters...> <extra results...> preloaded=<0|1>
 * "metric/value" is the headline figure; any other numeric key can be tabulated as well.
 * ok=1 means the program verified its own results. Diagnostics go to stderr.
 * Exit status: 0 if ok=1, 1 if verification failed, 2 on bad usage.
 */
#ifndef BENCH_H
#define BENCH_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline void sleep_ns(long ns)
{
    struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* "64k", "8M", "100000", "1e6" -> number; k/m/g are binary (sizes). Exits on garbage. */
static inline long parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'k': case 'K': v *= 1024; end++; break;
    case 'm': case 'M': v *= 1024 * 1024; end++; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
    }
    if (end == s || *end || v < 0) {
        fprintf(stderr, "bad number: %s\n", s);
        exit(2);
    }
    return (long)v;
}

/* "1ms", "100us", "500ns", "2s" (a bare number is nanoseconds) -> nanoseconds. */
static inline long parse_ns(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (!strcmp(end, "s")) v *= 1e9;
    else if (!strcmp(end, "ms")) v *= 1e6;
    else if (!strcmp(end, "us")) v *= 1e3;
    else if (*end && strcmp(end, "ns")) v = -1;
    if (end == s || v < 0) {
        fprintf(stderr, "bad duration: %s\n", s);
        exit(2);
    }
    return (long)v;
}

/* Value of a "Key:   123 kB" line of /proc/self/status or /proc/meminfo, in kB (-1 if absent). */
static inline long proc_kb(const char *file, const char *key)
{
    FILE *f = fopen(file, "r");
    char line[256];
    size_t n = strlen(key);
    long v = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* 1 if the object named by $LD_PRELOAD is mapped into this process (i.e. preloading worked). */
static inline int preloaded(void)
{
    const char *p = getenv("LD_PRELOAD");
    char line[4096];
    int found = 0;
    FILE *f;
    if (!p || !*p || !(f = fopen("/proc/self/maps", "r")))
        return 0;
    const char *base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, base) != NULL;
    fclose(f);
    return found;
}

/* Print the single result line: bench=NAME ok=OK metric=METRIC value=VALUE <fmt...> preloaded=P */
static inline void emit(const char *name, int ok, const char *metric, double value, const char *fmt, ...)
{
    va_list ap;
    printf("bench=%s ok=%d metric=%s value=%.6g", name, ok, metric, value);
    if (fmt && *fmt) {
        putchar(' ');
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf(" preloaded=%d\n", preloaded());
    fflush(stdout);
}

#endif
