/* Configuration from BLITZ_* environment variables. */
#ifndef BLITZ_CONFIG_H
#define BLITZ_CONFIG_H
#include <stddef.h>

typedef struct blitz_config {
    int workers;        /* BLITZ_WORKERS: 1..256, default online CPUs */
    size_t stack_size;  /* BLITZ_STACK_SIZE: 16 KiB..1 GiB, default glibc's thread default */
    int disable;        /* BLITZ_DISABLE: 0|1 */
    int stats;          /* BLITZ_STATS: 0|1 */
    unsigned timer_spin_us; /* BLITZ_TIMER_SPIN_US: 0..100000, default 1000 */
    int tls_worker;     /* BLITZ_TLS: task (0, default) | worker (1) */
    int io;             /* BLITZ_IO: 1 (default) tasks wait for I/O on the reactor | 0 libc */
} blitz_config;

/* Fills cfg from the environment. On an invalid value prints one line to stderr naming the
 * variable, the value and the accepted range, and returns -1. */
int blitz_config_from_env(blitz_config *cfg);
#endif
