// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 30
// glibc's stdio locks (flockfile/ftrylockfile/funlockfile, and the lock every
// fprintf/fputs takes inside) are recursive and owned per thread: the owner is
// the thread's struct pthread (THREAD_SELF), so they only work if every thread
// has its own.  50 threads share one output stream (open_memstream, checked
// afterwards) and one input stream (fmemopen over a known buffer):
//  - phase 1: each thread takes the output lock, nests flockfile twice more
//    (the owner must get in again) and ftrylockfile once (must succeed for the
//    owner), and writes one line in many pieces (fprintf, fputs, putc_unlocked)
//    with sched_yield()/nanosleep() between them while holding the lock; at
//    depth 3 and again at depth 1 (the nested unlocks must not release it) a
//    prober thread checks that ftrylockfile fails for anyone else;
//  - the same threads take the input lock and read a 16-byte chunk with
//    getc_unlocked, yielding between bytes: each chunk must be contiguous;
//  - phase 2: lines written under a blocking flockfile without yielding, and
//    phase 3: lines written by a single fprintf without an explicit lock.
// Every line in the buffer must then be intact, each exactly once, and every
// chunk must match the input at its offset.
//
// Waiting: the shim does not intercept stdio locks, so a thread blocked in
// flockfile (a futex wait) blocks its whole worker.  If the holder were a task
// on that same worker that yields while holding the lock, it would never run
// again (with one worker: always).  So whoever may wait for a holder that yields
// (phase 1, the chunk reads) acquires with an ftrylockfile + sched_yield()/
// nanosleep loop; blocking flockfile is used only for the nested (owner) calls
// and for the outer lock in phases 2 and 3, which start only after every thread
// is past the yielding phases (a polling start line) and whose holders never
// yield while holding it.
// Breaks if tasks share their worker's struct pthread (another task on the same
// worker would count as the owner and get in, interleaving lines) or if a task
// resumed on another worker used that worker's identity.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define NT 50
#define R1 3 /* phase 1 lines per thread (yielding while holding the lock) */
#define R2 4 /* phase 2 lines per thread (blocking flockfile, no yield inside) */
#define R3 4 /* phase 3 lines per thread (one fprintf each) */
#define CHUNK 16
#define NCHUNK (NT * R1)

static FILE *out, *in;
static char src[NCHUNK * CHUNK];
static long chunk_off[NT][R1];
static char chunk_got[NT][R1][CHUNK];

/* probe channels: 0 = out, 1 = in.  The holder of a stream's lock increments
 * req; the prober answers by copying it into ack after its ftrylockfile. */
static struct {
    unsigned req, ack;
} probe[2];
static int probes_ok[2];    /* atomics: ftrylockfile failed as it must */
static int prober_stop, go; /* flags */
static int owner_try_ok;    /* atomic: the owner's nested ftrylockfile succeeded */
static int done1;           /* atomic: threads past the yielding phases */

/* waiting for a lock that a yielding holder may keep: poll, never block */
static void lock_polling(FILE *f, unsigned *seed)
{
    unsigned n = 0;
    while (ftrylockfile(f) != 0) {
        if (++n % 4 == 0)
            nap_us(20 + (long)(lcg_next(seed) % 60));
        else
            sched_yield();
    }
}

/* the holder of stream s's lock asks the prober to try it, and waits (yielding) */
static void probe_held(int s, unsigned *seed)
{
    /* an atomic increment and "ack at least r": a broken lock that lets two
     * holders in at once must give FAIL lines, not a hang */
    unsigned r = __atomic_add_fetch(&probe[s].req, 1, __ATOMIC_ACQ_REL);
    while ((int)(__atomic_load_n(&probe[s].ack, __ATOMIC_ACQUIRE) - r) < 0)
        pause_rand(seed);
}

static void *prober(void *arg)
{
    (void)arg;
    unsigned seed = 991;
    FILE *fs[2] = { out, in };
    for (;;) {
        int stop = __atomic_load_n(&prober_stop, __ATOMIC_ACQUIRE);
        for (int s = 0; s < 2; s++) {
            unsigned r = __atomic_load_n(&probe[s].req, __ATOMIC_ACQUIRE);
            if (r == __atomic_load_n(&probe[s].ack, __ATOMIC_RELAXED))
                continue;
            int rc = ftrylockfile(fs[s]);
            TCHECK(rc != 0, "ftrylockfile(%s) from another thread succeeded while a thread held it",
                   s ? "in" : "out");
            if (rc == 0)
                funlockfile(fs[s]);
            else
                __atomic_fetch_add(&probes_ok[s], 1, __ATOMIC_RELAXED);
            __atomic_store_n(&probe[s].ack, r, __ATOMIC_RELEASE);
        }
        if (stop)
            return NULL;
        pause_rand(&seed);
    }
}

/* the expected text of each line; the writers produce the same in pieces */
static int line_y(char *b, size_t n, int i, int r)
{
    char letters[16];
    int k, nl = i % 7 + 3;
    for (k = 0; k < nl; k++)
        letters[k] = (char)('a' + (i + k + r) % 26);
    letters[k] = 0;
    return snprintf(b, n, "Y%02d.%d: a=%d b=%s c=%x d=%s end%02d\n", i, r, i * 7 + r, letters,
                    i * 31 + r + 0xabc, "nested", i);
}
static int line_b(char *b, size_t n, int i, int r)
{
    return snprintf(b, n, "B%02d.%d: %d+%d=%d [%c%c%c] end%02d\n", i, r, i, r, i + r, 'A' + i % 26,
                    'A' + r, 'z' - i % 26, i);
}
static int line_s(char *b, size_t n, int i, int r)
{
    return snprintf(b, n, "S%02d.%d: single fprintf %d %s end%02d\n", i, r, i * 1000 + r,
                    "0123456789abcdef0123456789abcdef", i);
}

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    unsigned seed = (unsigned)i * 2654435761u + 7u;
    gate_wait(&go);

    /* phase 1: one line per round, in pieces, yielding while holding the lock */
    for (int r = 0; r < R1; r++) {
        lock_polling(out, &seed);
        fprintf(out, "Y%02d.%d:", i, r);
        sched_yield();
        fprintf(out, " a=%d", i * 7 + r);
        nap_us(10 + (long)(lcg_next(&seed) % 50));
        flockfile(out); /* depth 2: the owner gets in again */
        flockfile(out); /* depth 3 */
        int tr = ftrylockfile(out); /* depth 4 for the owner */
        TCHECK(tr == 0, "thread %d: the owner's nested ftrylockfile returned %d", i, tr);
        if (tr == 0) {
            __atomic_fetch_add(&owner_try_ok, 1, __ATOMIC_RELAXED);
            funlockfile(out);
        }
        probe_held(0, &seed);
        fputs(" b=", out);
        int nl = i % 7 + 3;
        for (int k = 0; k < nl; k++) {
            putc_unlocked('a' + (i + k + r) % 26, out);
            if (k % 3 == 1)
                pause_rand(&seed);
        }
        funlockfile(out);
        funlockfile(out); /* back at depth 1: still held */
        probe_held(0, &seed);
        fprintf(out, " c=%x", i * 31 + r + 0xabc);
        sched_yield();
        fputs_unlocked(" d=", out);
        fputs("nested", out);
        pause_rand(&seed);
        fprintf(out, " end%02d\n", i);
        funlockfile(out);
        pause_rand(&seed);
    }

    /* a chunk of the input per round, with getc_unlocked, yielding between bytes */
    for (int r = 0; r < R1; r++) {
        lock_polling(in, &seed);
        chunk_off[i][r] = ftell(in); /* takes the lock again: recursive */
        for (int k = 0; k < CHUNK; k++) {
            int c = getc_unlocked(in);
            chunk_got[i][r][k] = (char)c;
            TCHECK(c != EOF, "thread %d: getc_unlocked hit EOF at chunk byte %d", i, k);
            if (k == CHUNK / 2)
                probe_held(1, &seed);
            else if (k % 4 == 3)
                pause_rand(&seed);
        }
        funlockfile(in);
        pause_rand(&seed);
    }

    /* Nobody may block in flockfile (or in fprintf's own lock) while a holder
     * yields: wait, polling, until every thread is past the yielding phases. */
    __atomic_fetch_add(&done1, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&done1, __ATOMIC_ACQUIRE) < NT)
        nap_us(200);

    /* phase 2: blocking flockfile, but no yield while holding it */
    for (int r = 0; r < R2; r++) {
        flockfile(out);
        fprintf(out, "B%02d.%d:", i, r);
        fprintf(out, " %d+%d=%d", i, r, i + r);
        flockfile(out);
        fputs(" [", out);
        putc_unlocked('A' + i % 26, out);
        putc_unlocked('A' + r, out);
        putc_unlocked('z' - i % 26, out);
        funlockfile(out);
        fprintf(out, "] end%02d\n", i);
        funlockfile(out);
        pause_rand(&seed);
    }

    /* phase 3: whole lines, each from one fprintf (its own internal lock) */
    for (int r = 0; r < R3; r++) {
        fprintf(out, "S%02d.%d: single fprintf %d %s end%02d\n", i, r, i * 1000 + r,
                "0123456789abcdef0123456789abcdef", i);
        pause_rand(&seed);
    }
    return NULL;
}

int main(void)
{
    char *buf = NULL;
    size_t len = 0;
    out = open_memstream(&buf, &len);
    unsigned seed = 12345;
    for (size_t k = 0; k < sizeof src; k++)
        src[k] = (char)(' ' + lcg_next(&seed) % 95);
    in = fmemopen(src, sizeof src, "r");
    if (!out || !in) {
        printf("FAIL: open_memstream/fmemopen: %m\n");
        return 1;
    }

    pthread_t pt, t[NT];
    if (pthread_create(&pt, NULL, prober, NULL) != 0) {
        printf("FAIL: pthread_create (prober)\n");
        return 1;
    }
    for (int i = 0; i < NT; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    gate_open(&go);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    __atomic_store_n(&prober_stop, 1, __ATOMIC_RELEASE);
    pthread_join(pt, NULL);

    /* the locks are free again, for main too */
    int tr = ftrylockfile(out);
    CHECK(tr == 0, "ftrylockfile(out) in main after all threads finished = %d", tr);
    if (tr == 0)
        funlockfile(out);
    tr = ftrylockfile(in);
    CHECK(tr == 0, "ftrylockfile(in) in main after all threads finished = %d", tr);
    if (tr == 0) {
        CHECK(getc_unlocked(in) == EOF, "the input was not consumed exactly");
        funlockfile(in);
    }

    CHECK(probes_ok[0] == NT * R1 * 2, "%d of %d ftrylockfile(out) probes failed as they must", probes_ok[0],
          NT * R1 * 2);
    CHECK(probes_ok[1] == NT * R1, "%d of %d ftrylockfile(in) probes failed as they must", probes_ok[1], NT * R1);
    CHECK(owner_try_ok == NT * R1, "%d of %d nested owner ftrylockfile calls succeeded", owner_try_ok, NT * R1);
    if (probes_ok[0] == NT * R1 * 2 && probes_ok[1] == NT * R1 && owner_try_ok == NT * R1)
        printf("ok %d ftrylockfile probes from another thread failed while held (at depth 3 and 1); "
               "%d nested owner ftrylockfile calls succeeded\n",
               probes_ok[0] + probes_ok[1], owner_try_ok);

    /* the chunks: offsets 0, 16, 32, ... each once, contents as in the input */
    static int seen_chunk[NCHUNK];
    int chunks_ok = 1;
    for (int i = 0; i < NT; i++)
        for (int r = 0; r < R1; r++) {
            long o = chunk_off[i][r];
            if (o < 0 || o % CHUNK != 0 || o / CHUNK >= NCHUNK || seen_chunk[o / CHUNK]++ ||
                memcmp(chunk_got[i][r], src + o, CHUNK) != 0) {
                if (chunks_ok)
                    printf("FAIL: thread %d chunk %d: offset %ld, contents %s\n", i, r, o,
                           o >= 0 && o + CHUNK <= (long)sizeof src && memcmp(chunk_got[i][r], src + o, CHUNK)
                               ? "differ from the input"
                               : "ok (offset wrong or repeated)");
                chunks_ok = 0;
                failures++;
            }
        }
    if (chunks_ok)
        printf("ok %d chunks of %d bytes read with getc_unlocked under the lock were contiguous\n", NCHUNK,
               CHUNK);

    if (fclose(out) != 0) {
        printf("FAIL: fclose(out): %m\n");
        return 1;
    }
    fclose(in);

    /* the lines: each expected one exactly once, nothing else */
    static unsigned char seen[3][NT][R1 + R2 + R3];
    int nlines = 0, bad = 0;
    char *p = buf, *end = buf + len;
    CHECK(len > 0 && buf[len - 1] == '\n', "the buffer does not end with a newline (%zu bytes)", len);
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        int i = -1, r = -1, ty = -1;
        char want[256];
        int wl = -1;
        char c0 = *p;
        if (sscanf(p, "%*c%2d.%d:", &i, &r) == 2 && i >= 0 && i < NT && r >= 0) {
            if (c0 == 'Y' && r < R1) {
                ty = 0;
                wl = line_y(want, sizeof want, i, r);
            } else if (c0 == 'B' && r < R2) {
                ty = 1;
                wl = line_b(want, sizeof want, i, r);
            } else if (c0 == 'S' && r < R3) {
                ty = 2;
                wl = line_s(want, sizeof want, i, r);
            }
        }
        if (ty < 0 || wl != (int)ll || memcmp(want, p, ll) != 0 || seen[ty][i][r]++) {
            if (bad < 5)
                printf("FAIL: line %d is broken or repeated: \"%.*s\"\n", nlines + 1,
                       (int)(ll > 120 ? 120 : ll - (nl ? 1 : 0)), p);
            bad++;
        }
        nlines++;
        p += ll;
    }
    int missing = 0;
    for (int i = 0; i < NT; i++) {
        for (int r = 0; r < R1; r++)
            missing += !seen[0][i][r];
        for (int r = 0; r < R2; r++)
            missing += !seen[1][i][r];
        for (int r = 0; r < R3; r++)
            missing += !seen[2][i][r];
    }
    CHECK(bad == 0 && missing == 0, "%d broken or repeated lines, %d missing, of %d", bad, missing,
          NT * (R1 + R2 + R3));
    if (bad == 0 && missing == 0)
        printf("ok %d lines intact: %d written in pieces while yielding, %d under flockfile, %d single fprintf\n",
               nlines, NT * R1, NT * R2, NT * R3);
    free(buf);

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
