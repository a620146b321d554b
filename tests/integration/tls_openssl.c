// blitz-libs: OpenSSL::Crypto
// blitz-timeout: 60
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design (OpenSSL's error queue and errno are per worker there; a rare interleaving shows it)
// OpenSSL's error queue is per thread: 100 threads, all alive at once, 500
// rounds each; a round raises an error with a reason code of its own
// (ERR_raise), makes a real call fail (BIO_new_file of a missing file: a
// system error whose data names the thread's own path, then a BIO error),
// raises a second error with a data string of its own (ERR_raise_data),
// yielding or sleeping between every step so that the other threads raise
// theirs in between; then ERR_peek_error/ERR_peek_last_error must show its
// first and last error, and ERR_get_error_all must return exactly its four
// errors, in order, then nothing.  Threads exit with one error still queued
// (freed by OpenSSL's thread-exit handler).  main's own queued error must be
// untouched at the end.  OpenSSL keeps the queue under a pthread key (and
// libc's errno feeds the system error), so this checks per-thread state seen
// through a third-party library.  Needs libssl-dev (scripts/setup.sh).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define N 100
#define ROUNDS 500

static int go;
static int clean_threads; /* atomic */
static long errors_read;  /* atomic */

/* one error read back: its packed code must be `want`; if `data` is not NULL,
 * its data string must be that */
static int expect_error(int i, int r, const char *what, unsigned long want, const char *data)
{
    const char *file, *func, *d;
    int line, flags;
    unsigned long e = ERR_get_error_all(&file, &line, &func, &d, &flags);
    int ok = e == want;
    if (ok && data)
        ok = (flags & ERR_TXT_STRING) && d && strcmp(d, data) == 0;
    if (ok)
        __atomic_fetch_add(&errors_read, 1, __ATOMIC_RELAXED);
    else
        TCHECK(0, "thread %d round %d, %s: got error %lx (lib %d reason %d, data \"%.60s\"), expected %lx", i, r,
               what, e, ERR_GET_LIB(e), ERR_GET_REASON(e), (flags & ERR_TXT_STRING) && d ? d : "", want);
    return ok;
}

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    unsigned seed = (unsigned)i * 22695477u + 1u;
    char path[96], fopen_data[160], tag[64];
    int bad = 0;
    gate_wait(&go);
    for (int r = 0; r < ROUNDS && bad < 3; r++) {
        int reason_a = 1 + i * 1000 + r, reason_b = 500000 + i * 1000 + r;
        ERR_raise(ERR_LIB_USER, reason_a);
        pause_rand(&seed);
        snprintf(path, sizeof path, "/nonexistent-blitz-dir/thread-%d-round-%d", i, r);
        BIO *b = BIO_new_file(path, "r");
        if (b != NULL) {
            TCHECK(0, "BIO_new_file(%s) succeeded", path);
            BIO_free(b);
        }
        pause_rand(&seed);
        snprintf(tag, sizeof tag, "thread %d round %d", i, r);
        ERR_raise_data(ERR_LIB_USER, reason_b, "%s", tag);
        pause_rand(&seed);

        int ok = ERR_peek_error() == ERR_PACK(ERR_LIB_USER, 0, reason_a);
        ok &= ERR_peek_last_error() == ERR_PACK(ERR_LIB_USER, 0, reason_b);
        if (!ok)
            TCHECK(0, "thread %d round %d: first/last queued errors %lx/%lx, expected %lx/%lx", i, r, ERR_peek_error(),
                   ERR_peek_last_error(), ERR_PACK(ERR_LIB_USER, 0, reason_a), ERR_PACK(ERR_LIB_USER, 0, reason_b));
        if (lcg_next(&seed) % 2)
            sched_yield();
        snprintf(fopen_data, sizeof fopen_data, "calling fopen(%s, r)", path);
        ok &= expect_error(i, r, "ERR_raise", ERR_PACK(ERR_LIB_USER, 0, reason_a), NULL);
        ok &= expect_error(i, r, "fopen", (unsigned long)ERR_SYSTEM_FLAG | ENOENT, fopen_data);
        if (lcg_next(&seed) % 2)
            pause_rand(&seed);
        ok &= expect_error(i, r, "BIO", ERR_PACK(ERR_LIB_BIO, 0, BIO_R_NO_SUCH_FILE), NULL);
        ok &= expect_error(i, r, "ERR_raise_data", ERR_PACK(ERR_LIB_USER, 0, reason_b), tag);
        unsigned long rest = ERR_get_error();
        if (rest != 0) {
            ok = 0;
            TCHECK(0, "thread %d round %d: extra error %lx (lib %d reason %d) in its queue", i, r, rest,
                   ERR_GET_LIB(rest), ERR_GET_REASON(rest));
            ERR_clear_error();
        }
        bad += !ok;
    }
    if (bad == 0)
        __atomic_fetch_add(&clean_threads, 1, __ATOMIC_RELAXED);
    ERR_raise(ERR_LIB_USER, 999); /* left queued: freed at thread exit */
    return NULL;
}

int main(void)
{
    static pthread_t t[N];
    ERR_raise_data(ERR_LIB_USER, 4242, "main's error");
    for (int i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    gate_open(&go);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    CHECK(clean_threads == N, "%d of %d threads read back exactly their own errors", clean_threads, N);
    CHECK(errors_read == 4L * N * ROUNDS, "%ld of %ld errors read back", errors_read, 4L * N * ROUNDS);
    if (clean_threads == N && errors_read == 4L * N * ROUNDS)
        printf("ok %d threads x %d rounds read back exactly their own %ld errors\n", N, ROUNDS, errors_read);

    const char *file, *func, *data;
    int line, flags;
    unsigned long e = ERR_get_error_all(&file, &line, &func, &data, &flags);
    int main_ok = e == ERR_PACK(ERR_LIB_USER, 0, 4242) && (flags & ERR_TXT_STRING) &&
                  strcmp(data, "main's error") == 0 && ERR_get_error() == 0;
    CHECK(main_ok, "main's error queue changed: first error %lx", e);
    if (main_ok)
        printf("ok main's queued error intact\n");
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
