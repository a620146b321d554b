// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// glibc's per-thread state is not shared between threads: 200 threads, all
// alive at once, 1,000 rounds each in a per-thread order; every round calls one
// of the functions below, then yields or sleeps (0..100 us) before checking
// the result, so that other threads make the same calls in between:
//   strerror(unknown number)   "Unknown error N", formatted into a per-thread buffer
//   strsignal(real-time / unknown signal)  "Real-time signal N" / "Unknown signal N", likewise
//   inet_ntoa()                a per-thread static buffer
//   h_errno                    per thread
//   dlopen() failure, dlerror()  the pending error message is per thread (and
//                              dlerror() clears it: a second call gives NULL)
//   strtok_r()                 with its save pointer in a __thread variable,
//                              one token per round across the rounds
// Every number or string is distinct per thread.  Breaks if tasks share their
// worker's glibc thread state (struct pthread's buffers, libc's own TLS) or
// keep the old worker's after moving.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define N 200
#define ROUNDS 1000
#define TOKENS 10

enum { K_STRERROR, K_STRSIGNAL_RT, K_STRSIGNAL_UNKNOWN, K_INET_NTOA, K_H_ERRNO, K_DLERROR, K_STRTOK, K_KINDS };
static const char *const kind_name[K_KINDS] = { "strerror",  "strsignal (real-time)", "strsignal (unknown)",
                                                "inet_ntoa", "h_errno",               "dlerror",
                                                "strtok_r" };

static __thread char *tok_save; /* strtok_r's save pointer, per thread */
static int go;
static int bad_kind[K_KINDS]; /* atomics */
static int clean_threads;

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    unsigned seed = (unsigned)i * 1664525u + 1013904223u;
    int nrt = SIGRTMAX - SIGRTMIN + 1;
    char line[TOKENS * 16], want[128], path[96];
    int next_tok = TOKENS, line_round = 0; /* a new line on the first strtok round */
    int bad = 0;
    gate_wait(&go);
    for (int r = 0; r < ROUNDS; r++) {
        int kind = (int)(lcg_next(&seed) % K_KINDS);
        const char *got = NULL;
        int ok = 1;
        switch (kind) {
        case K_STRERROR: {
            int e = 10000 + i + 1000 * (r % 7);
            got = strerror(e);
            snprintf(want, sizeof want, "Unknown error %d", e);
            pause_rand(&seed);
            ok = strcmp(got, want) == 0;
            break;
        }
        case K_STRSIGNAL_RT: {
            int k = (i + r) % nrt;
            got = strsignal(SIGRTMIN + k);
            snprintf(want, sizeof want, "Real-time signal %d", k);
            pause_rand(&seed);
            ok = strcmp(got, want) == 0;
            break;
        }
        case K_STRSIGNAL_UNKNOWN: {
            int s = 1000 + i + 1000 * (r % 3);
            got = strsignal(s);
            snprintf(want, sizeof want, "Unknown signal %d", s);
            pause_rand(&seed);
            ok = strcmp(got, want) == 0;
            break;
        }
        case K_INET_NTOA: {
            struct in_addr a = { htonl(0x0a000000u | (unsigned)i << 8 | (unsigned)(r & 255)) };
            got = inet_ntoa(a);
            snprintf(want, sizeof want, "10.0.%d.%d", i, r & 255);
            pause_rand(&seed);
            ok = strcmp(got, want) == 0;
            break;
        }
        case K_H_ERRNO: {
            int v = 100000 + i * 1000 + r;
            h_errno = v;
            pause_rand(&seed);
            ok = h_errno == v;
            if (!ok)
                snprintf(want, sizeof want, "h_errno %d, expected %d", h_errno, v), got = want;
            break;
        }
        case K_DLERROR: {
            snprintf(path, sizeof path, "/nonexistent-blitz-dir/libthread%d-round%d.so", i, r);
            void *h = dlopen(path, RTLD_NOW);
            pause_rand(&seed);
            got = dlerror();
            ok = h == NULL && got != NULL && strstr(got, path) != NULL;
            const char *again = dlerror(); /* cleared by the first call, in this thread */
            ok = ok && again == NULL;
            if (got == NULL)
                got = "(null)";
            break;
        }
        case K_STRTOK: {
            char *tok;
            if (next_tok == TOKENS) { /* a new line, tokenized one token per strtok round */
                int n = 0;
                for (int k = 0; k < TOKENS; k++)
                    n += snprintf(line + n, sizeof line - n, "%st%d.%d.%d", k ? "," : "", i, r, k);
                line_round = r;
                next_tok = 0;
                tok = strtok_r(line, ",", &tok_save);
            } else {
                tok = strtok_r(NULL, ",", &tok_save);
            }
            snprintf(want, sizeof want, "t%d.%d.%d", i, line_round, next_tok++);
            pause_rand(&seed);
            ok = tok != NULL && strcmp(tok, want) == 0;
            got = tok ? tok : "(null)";
            break;
        }
        }
        if (!ok) {
            __atomic_fetch_add(&bad_kind[kind], 1, __ATOMIC_RELAXED);
            if (bad++ < 2) {
                char shown[61]; /* a freed buffer may hold anything */
                int n = 0;
                for (; n < 60 && got[n]; n++)
                    shown[n] = got[n] >= 32 && got[n] < 127 ? got[n] : '?';
                shown[n] = 0;
                TCHECK(0, "thread %d round %d, %s: got \"%s\"", i, r, kind_name[kind], shown);
            }
        }
    }
    if (bad == 0)
        __atomic_fetch_add(&clean_threads, 1, __ATOMIC_RELAXED);
    return NULL;
}

int main(void)
{
    static pthread_t t[N];
    for (int i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    h_errno = 77;
    const char *mine = strerror(4242);
    gate_open(&go);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < K_KINDS; k++)
        CHECK(bad_kind[k] == 0, "%s: %d results of other threads", kind_name[k], bad_kind[k]);
    if (clean_threads == N)
        printf("ok %d threads x %d rounds: strerror, strsignal, inet_ntoa, h_errno, dlerror and strtok_r results "
               "were their own\n",
               N, ROUNDS);
    CHECK(h_errno == 77 && strcmp(mine, "Unknown error 4242") == 0, "main's h_errno %d, strerror buffer \"%.40s\"",
          h_errno, mine);
    if (h_errno == 77 && strcmp(mine, "Unknown error 4242") == 0)
        printf("ok main's h_errno and strerror buffer intact\n");
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
