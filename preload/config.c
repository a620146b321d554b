#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"

#define STACK_MIN (16u * 1024u)
#define STACK_MAX (1ull << 30)

static int bad(const char *var, const char *val, const char *range)
{
    fprintf(stderr, "blitzshim: %s=%s is invalid: expected %s\n", var, val, range);
    return -1;
}

/* Parses a whole decimal number with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    int shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    }
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = v << shift;
    return 0;
}

static int parse_bool(const char *var, int *out)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return 0;
    if ((v[0] == '0' || v[0] == '1') && v[1] == 0) {
        *out = v[0] == '1';
        return 0;
    }
    return bad(var, v, "0 or 1");
}

int blitz_config_from_env(blitz_config *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = cpus < 1 ? 1 : cpus > 256 ? 256 : (int)cpus;
    cfg->disable = 0;
    cfg->stats = 0;
    pthread_attr_t a;
    size_t dflt = 8u << 20;
    if (pthread_getattr_default_np(&a) == 0) {
        pthread_attr_getstacksize(&a, &dflt);
        pthread_attr_destroy(&a);
    }
    cfg->stack_size = dflt;
    cfg->timer_spin_us = 1000;
    cfg->tls_worker = 0;
    cfg->io = 1;

    const char *v = getenv("BLITZ_WORKERS");
    if (v && *v) {
        unsigned long long n;
        if (parse_size(v, &n) != 0 || strpbrk(v, "kKmMgG") || n < 1 || n > 256)
            return bad("BLITZ_WORKERS", v, "a whole number from 1 to 256");
        cfg->workers = (int)n;
    }
    v = getenv("BLITZ_STACK_SIZE");
    if (v && *v) {
        unsigned long long n;
        if (parse_size(v, &n) != 0 || n < STACK_MIN || n > STACK_MAX)
            return bad("BLITZ_STACK_SIZE", v,
                       "a size in bytes from 16384 (16K) to 1073741824 (1G); K, M and G "
                       "suffixes allowed");
        cfg->stack_size = (size_t)n;
    }
    v = getenv("BLITZ_TIMER_SPIN_US");
    if (v && *v) {
        unsigned long long n;
        if (parse_size(v, &n) != 0 || strpbrk(v, "kKmMgG") || n > 100000)
            return bad("BLITZ_TIMER_SPIN_US", v, "a whole number of microseconds from 0 to 100000");
        cfg->timer_spin_us = (unsigned)n;
    }
    v = getenv("BLITZ_TLS");
    if (v && *v) {
        if (strcmp(v, "task") == 0)
            cfg->tls_worker = 0;
        else if (strcmp(v, "worker") == 0)
            cfg->tls_worker = 1;
        else
            return bad("BLITZ_TLS", v, "task (each thread its own TLS, the default) or worker");
    }
    if (parse_bool("BLITZ_DISABLE", &cfg->disable) || parse_bool("BLITZ_STATS", &cfg->stats) ||
        parse_bool("BLITZ_IO", &cfg->io))
        return -1;
    return 0;
}
