// blitz-timeout: 60
// Pipes, eventfds and FIFOs between threads, with blocking calls throughout.
//  - ping-pong, 20,000 rounds between two threads over two pipes: a 1-byte token one
//    way, a 100-byte message back (contents checked);
//  - 100 pairs of threads, 500 rounds each, all at once, with random sched_yield();
//  - a writer blocked on a full pipe (1 MB through writev of 4 iovecs) while the
//    reader starts 100 ms later and drains it with readv of 2 iovecs; a reader
//    blocked in readv with 3 iovecs, woken by a writev 100 ms later (the bytes spread
//    over the iovecs in order); pread and lseek on a pipe: ESPIPE;
//  - eventfd: a blocked read woken by a write of 7 100 ms later reads 7; writes add
//    up; EFD_SEMAPHORE: 5 writes of 1 give 5 reads of 1, a write of 3 three more, a
//    6th read blocks until a write 100 ms later; 8 threads blocked reading one
//    semaphore eventfd are woken one per write of 1; near overflow (counter
//    0xfffffffffffffffd) a write of 2 blocks until a read drains the counter (the
//    read returns 0xfffffffffffffffd, then 2); poll: POLLOUT at 0, POLLIN|POLLOUT
//    below the maximum, POLLIN only at 0xfffffffffffffffe; write of ~0 EINVAL, 4-byte
//    read or write EINVAL; EFD_NONBLOCK read on 0 EAGAIN, F_GETFL O_RDWR|O_NONBLOCK;
//  - FIFO (mkfifo in a mkdtemp directory under /tmp): opened O_RDONLY and O_WRONLY by
//    two threads (after a keeper O_RDWR open, so that no open blocks), a blocked
//    reader woken by a write 100 ms later, 200 KB through it, EOF when the writer
//    closes; one thread with an O_RDWR open reading what another thread writes;
//    O_WRONLY|O_NONBLOCK with no reader: ENXIO.
// No open() here ever blocks (a blocking FIFO open is not among the calls a runtime
// is expected to park).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"

/* errno through calls the compiler cannot fold: __errno_location() is declared const, so a
 * function that used errno before a blocking call may keep its address across the call (the
 * address of another worker's errno under BLITZ_TLS=worker once the thread moved) */
static __attribute__((noinline)) int err_now(void) { return errno; }
static __attribute__((noinline)) void err_clear(void) { errno = 0; }

#define MS 1000000LL
#define EFD_MAX 0xfffffffffffffffeULL

static int wait_flag(int *flag, long ms)
{
    long long end = now_ns() + ms * MS;
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
        if (now_ns() > end)
            return 0;
        nap_ms(2);
    }
    return 1;
}

static void give_up(const char *what)
{
    printf("FAIL: %s: a blocked thread did not return within the time limit\nFAILED\n", what);
    fflush(stdout);
    _exit(1);
}

static void make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) != 0) {
        printf("FAIL: pipe2: %s\n", strerror(errno));
        exit(1);
    }
}

static size_t read_full(int fd, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0 && err_now() == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done;
}

static size_t write_full(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && err_now() == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done;
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 29u + (i >> 9) + 3u); }

/* --- ping-pong ---------------------------------------------------------------------------- */

#define PP_ROUNDS 20000
#define MSG 100

struct pp {
    int to_peer[2], to_main[2];
    int rounds;
    int bad;
};

static void fill_msg(char *m, int round)
{
    for (int k = 0; k < MSG; k++)
        m[k] = (char)('A' + (round + k) % 26);
    snprintf(m, 16, "r%08d", round);
}

static void *pp_peer(void *arg)
{
    struct pp *s = arg;
    char m[MSG];
    for (int i = 0; i < s->rounds; i++) {
        unsigned char tok;
        if (read_full(s->to_peer[0], &tok, 1) != 1 || tok != (unsigned char)i) {
            s->bad++;
            break;
        }
        fill_msg(m, i);
        if (write_full(s->to_main[1], m, MSG) != MSG) {
            s->bad++;
            break;
        }
    }
    return NULL;
}

static void ping_pong(void)
{
    int before = failures;
    static struct pp s;
    make_pipe(s.to_peer);
    make_pipe(s.to_main);
    s.rounds = PP_ROUNDS;
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, pp_peer, &s), 0);
    int i;
    char m[MSG], want[MSG];
    for (i = 0; i < PP_ROUNDS; i++) {
        unsigned char tok = (unsigned char)i;
        if (write_full(s.to_peer[1], &tok, 1) != 1)
            break;
        if (read_full(s.to_main[0], m, MSG) != MSG)
            break;
        fill_msg(want, i);
        if (memcmp(m, want, MSG) != 0)
            break;
    }
    CHECK(i == PP_ROUNDS, "ping-pong stopped at round %d", i);
    if (i < PP_ROUNDS) /* let the peer out */
        close(s.to_peer[1]);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    EXPECT(s.bad, 0);
    if (i == PP_ROUNDS)
        close(s.to_peer[1]);
    close(s.to_peer[0]);
    close(s.to_main[0]);
    close(s.to_main[1]);
    if (failures == before)
        printf("ok ping-pong over two pipes: %d rounds of a 1-byte token and a %d-byte reply\n", PP_ROUNDS, MSG);
}

#define PAIRS 100
#define PAIR_ROUNDS 500

struct pair {
    int ab[2], ba[2];
    int idx;
    int done_a, done_b;
};

static struct pair pairs[PAIRS];
static int pairs_go;

static void *pair_a(void *arg)
{
    struct pair *p = arg;
    unsigned seed = (unsigned)p->idx * 2u + 1u;
    gate_wait(&pairs_go);
    int i;
    for (i = 0; i < PAIR_ROUNDS; i++) {
        uint32_t v = (uint32_t)(p->idx * 100000 + i), r = 0;
        if (lcg_next(&seed) % 3 == 0)
            sched_yield();
        if (write_full(p->ab[1], &v, sizeof v) != sizeof v)
            break;
        if (read_full(p->ba[0], &r, sizeof r) != sizeof r || r != v + 1)
            break;
    }
    TCHECK(i == PAIR_ROUNDS, "pair %d: side A stopped at round %d", p->idx, i);
    p->done_a = i;
    close(p->ab[1]); /* B sees EOF */
    return NULL;
}

static void *pair_b(void *arg)
{
    struct pair *p = arg;
    unsigned seed = (unsigned)p->idx * 2u + 2u;
    gate_wait(&pairs_go);
    int i = 0;
    for (;; i++) {
        uint32_t v;
        size_t n = read_full(p->ab[0], &v, sizeof v);
        if (n == 0)
            break; /* EOF */
        TCHECK(n == sizeof v && v == (uint32_t)(p->idx * 100000 + i), "pair %d: side B got %u in round %d", p->idx, v, i);
        if (n != sizeof v || i >= PAIR_ROUNDS)
            break;
        if (lcg_next(&seed) % 3 == 0)
            sched_yield();
        v++;
        if (write_full(p->ba[1], &v, sizeof v) != sizeof v)
            break;
    }
    p->done_b = i;
    return NULL;
}

static void many_pairs(void)
{
    int before = failures;
    pthread_t ta[PAIRS], tb[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        pairs[i].idx = i;
        make_pipe(pairs[i].ab);
        make_pipe(pairs[i].ba);
        EXPECT_ERR(pthread_create(&ta[i], NULL, pair_a, &pairs[i]), 0);
        EXPECT_ERR(pthread_create(&tb[i], NULL, pair_b, &pairs[i]), 0);
    }
    gate_open(&pairs_go);
    int ok = 0;
    for (int i = 0; i < PAIRS; i++) {
        EXPECT_ERR(pthread_join(ta[i], NULL), 0);
        EXPECT_ERR(pthread_join(tb[i], NULL), 0);
        ok += pairs[i].done_a == PAIR_ROUNDS && pairs[i].done_b == PAIR_ROUNDS;
        close(pairs[i].ab[0]);
        close(pairs[i].ba[0]);
        close(pairs[i].ba[1]);
    }
    CHECK(ok == PAIRS, "%d of %d pairs completed", ok, PAIRS);
    if (failures == before)
        printf("ok %d pairs of threads, %d rounds each over pipes, all at once\n", PAIRS, PAIR_ROUNDS);
}

/* --- readv / writev ----------------------------------------------------------------------- */

#define BIG (1 << 20)

struct vio {
    int fd;
    ssize_t n;
    int done; /* atomic */
    long long t_ret;
};

static unsigned char bigbuf[BIG], bigin[BIG];

static void *big_writev(void *arg)
{
    struct vio *v = arg;
    struct iovec iov[4];
    for (int k = 0; k < 4; k++)
        iov[k] = (struct iovec){ bigbuf + k * (BIG / 4), BIG / 4 };
    v->n = writev(v->fd, iov, 4);
    v->t_ret = now_ns();
    __atomic_store_n(&v->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static char small[3][100];

static void *small_readv(void *arg)
{
    struct vio *v = arg;
    struct iovec iov[3] = { { small[0], 3 }, { small[1], 5 }, { small[2], 100 } };
    v->n = readv(v->fd, iov, 3);
    v->t_ret = now_ns();
    __atomic_store_n(&v->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void vectored(void)
{
    int before = failures;
    int p[2];
    make_pipe(p);
    for (size_t i = 0; i < BIG; i++)
        bigbuf[i] = pattern(i);

    /* a writev blocked on the full pipe */
    struct vio v = { .fd = p[1] };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, big_writev, &v), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&v.done, __ATOMIC_ACQUIRE), "writev of 1 MB into a pipe returned before any read (%zd)", v.n);
    size_t got = 0;
    int calls = 0;
    while (got < BIG && calls < 100000) {
        size_t half = (BIG - got) / 2 + 1;
        struct iovec iov[2] = { { bigin + got, half }, { bigin + got + half, BIG - got - half } };
        ssize_t n = readv(p[0], iov, 2);
        if (n <= 0)
            break;
        got += (size_t)n;
        calls++;
    }
    if (!wait_flag(&v.done, 5000))
        give_up("writev");
    EXPECT_ERR(pthread_join(t, NULL), 0);
    EXPECT(v.n, BIG);
    EXPECT(got, BIG);
    CHECK(memcmp(bigin, bigbuf, BIG) == 0, "readv: the 1 MB differ");

    /* a readv blocked on the empty pipe */
    memset(small, 0, sizeof small);
    struct vio r = { .fd = p[0] };
    long long t0 = now_ns();
    EXPECT_ERR(pthread_create(&t, NULL, small_readv, &r), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "readv returned on an empty pipe (%zd)", r.n);
    struct iovec w[3] = { { "abc", 3 }, { "defgh", 5 }, { "ijklmnopqrst", 12 } };
    EXPECT(writev(p[1], w, 3), 20);
    if (!wait_flag(&r.done, 5000))
        give_up("readv");
    EXPECT_ERR(pthread_join(t, NULL), 0);
    EXPECT(r.n, 20);
    CHECK(r.t_ret - t0 >= 100 * MS, "readv returned before the writev");
    CHECK(memcmp(small[0], "abc", 3) == 0 && memcmp(small[1], "defgh", 5) == 0 &&
              memcmp(small[2], "ijklmnopqrst", 13) == 0,
          "readv spread: \"%.3s\" \"%.5s\" \"%s\"", small[0], small[1], small[2]);

    char b[4];
    err_clear();
    EXPECT(pread(p[0], b, 1, 0), -1);
    EXPECT_ERR(err_now(), ESPIPE);
    err_clear();
    EXPECT(lseek(p[0], 0, SEEK_CUR), -1);
    EXPECT_ERR(err_now(), ESPIPE);
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok writev of 1 MB blocked on a full pipe, readv blocked on an empty one, ESPIPE\n");
}

/* --- eventfd ------------------------------------------------------------------------------ */

struct efr {
    int fd;
    uint64_t val;
    ssize_t n;
    int err;
    int done; /* atomic */
    long long t_ret;
    pthread_t t;
};

static void *efd_reader(void *arg)
{
    struct efr *r = arg;
    r->n = read(r->fd, &r->val, sizeof r->val);
    r->err = r->n < 0 ? err_now() : 0;
    r->t_ret = now_ns();
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *efd_writer(void *arg)
{
    struct efr *r = arg;
    r->n = write(r->fd, &r->val, sizeof r->val);
    r->err = r->n < 0 ? err_now() : 0;
    r->t_ret = now_ns();
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int efd_write(int fd, uint64_t v) { return write(fd, &v, sizeof v) == (ssize_t)sizeof v; }

static uint64_t efd_read(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
        return 0xdead;
    return v;
}

static short revents_of(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
    poll(&p, 1, 0);
    return p.revents;
}

static int sem_woken; /* atomic */

static void *sem_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint64_t v = 0;
    ssize_t n = read(fd, &v, sizeof v);
    TCHECK(n == 8 && v == 1, "semaphore reader: %zd bytes, value %llu", n, (unsigned long long)v);
    __atomic_fetch_add(&sem_woken, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void eventfds(void)
{
    int before = failures;
    struct efr r;

    /* a blocked read woken by a write */
    int e = eventfd(0, EFD_CLOEXEC);
    EXPECT(fcntl(e, F_GETFL), O_RDWR);
    memset(&r, 0, sizeof r);
    r.fd = e;
    long long t0 = now_ns();
    EXPECT_ERR(pthread_create(&r.t, NULL, efd_reader, &r), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "eventfd read returned on a zero counter");
    CHECK(efd_write(e, 7), "eventfd write 7");
    if (!wait_flag(&r.done, 5000))
        give_up("eventfd read");
    EXPECT_ERR(pthread_join(r.t, NULL), 0);
    EXPECT(r.n, 8);
    EXPECT(r.val, 7);
    CHECK(r.t_ret - t0 >= 100 * MS, "eventfd read returned before the write");
    /* writes add up */
    CHECK(efd_write(e, 3) && efd_write(e, 4), "eventfd writes");
    EXPECT(efd_read(e), 7);
    EXPECT(revents_of(e), POLLOUT);

    /* near overflow: a blocked write */
    CHECK(efd_write(e, EFD_MAX - 1), "eventfd write max-1");
    EXPECT(revents_of(e), POLLIN | POLLOUT);
    memset(&r, 0, sizeof r);
    r.fd = e;
    r.val = 2;
    EXPECT_ERR(pthread_create(&r.t, NULL, efd_writer, &r), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "eventfd write past the maximum did not block (%zd, %s)",
          r.n, r.n < 0 ? strerrorname_np(r.err) : "-");
    uint64_t v = efd_read(e);
    CHECK(v == EFD_MAX - 1, "eventfd read %#llx near the maximum", (unsigned long long)v);
    if (!wait_flag(&r.done, 5000))
        give_up("eventfd write");
    EXPECT_ERR(pthread_join(r.t, NULL), 0);
    EXPECT(r.n, 8);
    EXPECT(efd_read(e), 2);
    /* exactly at the maximum: readable, not writable */
    CHECK(efd_write(e, EFD_MAX), "eventfd write of the maximum");
    EXPECT(revents_of(e), POLLIN);
    v = efd_read(e);
    CHECK(v == EFD_MAX, "eventfd read %#llx at the maximum", (unsigned long long)v);
    /* invalid sizes and values */
    uint64_t all = ~0ULL;
    err_clear();
    EXPECT(write(e, &all, 8), -1);
    EXPECT_ERR(err_now(), EINVAL);
    uint32_t w4 = 1;
    err_clear();
    EXPECT(write(e, &w4, 4), -1);
    EXPECT_ERR(err_now(), EINVAL);
    err_clear();
    EXPECT(read(e, &w4, 4), -1);
    EXPECT_ERR(err_now(), EINVAL);
    close(e);

    /* semaphore mode */
    e = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
    for (int i = 0; i < 5; i++)
        CHECK(efd_write(e, 1), "semaphore write");
    for (int i = 0; i < 5; i++)
        EXPECT(efd_read(e), 1);
    EXPECT(revents_of(e), POLLOUT);
    CHECK(efd_write(e, 3), "semaphore write 3");
    for (int i = 0; i < 3; i++)
        EXPECT(efd_read(e), 1);
    EXPECT(revents_of(e), POLLOUT);
    memset(&r, 0, sizeof r);
    r.fd = e;
    t0 = now_ns();
    EXPECT_ERR(pthread_create(&r.t, NULL, efd_reader, &r), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "semaphore read returned on a zero counter");
    CHECK(efd_write(e, 1), "semaphore write");
    if (!wait_flag(&r.done, 5000))
        give_up("semaphore read");
    EXPECT_ERR(pthread_join(r.t, NULL), 0);
    EXPECT(r.val, 1);

    /* 8 blocked readers, one woken per write of 1 */
    pthread_t st[8];
    for (int i = 0; i < 8; i++)
        EXPECT_ERR(pthread_create(&st[i], NULL, sem_reader, (void *)(intptr_t)e), 0);
    nap_ms(100);
    EXPECT(__atomic_load_n(&sem_woken, __ATOMIC_ACQUIRE), 0);
    for (int i = 1; i <= 8; i++) {
        CHECK(efd_write(e, 1), "semaphore write %d", i);
        long long end = now_ns() + 5000 * MS;
        while (__atomic_load_n(&sem_woken, __ATOMIC_ACQUIRE) < i && now_ns() < end)
            nap_ms(1);
        nap_ms(5);
        CHECK(__atomic_load_n(&sem_woken, __ATOMIC_ACQUIRE) == i, "after %d writes of 1: %d readers woken", i,
              __atomic_load_n(&sem_woken, __ATOMIC_ACQUIRE));
    }
    for (int i = 0; i < 8; i++)
        EXPECT_ERR(pthread_join(st[i], NULL), 0);
    close(e);

    /* the program's own non-blocking eventfd */
    e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    EXPECT(fcntl(e, F_GETFL), O_RDWR | O_NONBLOCK);
    err_clear();
    EXPECT(read(e, &v, 8), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    CHECK(efd_write(e, EFD_MAX), "write of the maximum");
    err_clear();
    v = 1;
    EXPECT(write(e, &v, 8), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    close(e);
    if (failures == before)
        printf("ok eventfd: blocked read, counter, blocked write near overflow, semaphore mode, 8 waiters, errors\n");
}

/* --- FIFO --------------------------------------------------------------------------------- */

#define FIFO_BYTES (200 * 1024)

static char fifo_path[128];
static int fifo_opened; /* atomic count of the thread opens */
static int keeper_closed;
static int rdwr_opened;

static unsigned char fifo_in[FIFO_BYTES];

struct fifo_end {
    int fd;
    size_t bytes;
    ssize_t eof;
    long long t_first;
    int err;
};

static void *fifo_reader(void *arg)
{
    struct fifo_end *f = arg;
    f->fd = open(fifo_path, O_RDONLY | O_CLOEXEC);
    f->err = f->fd < 0 ? err_now() : 0;
    __atomic_fetch_add(&fifo_opened, 1, __ATOMIC_RELEASE);
    if (f->fd < 0)
        return NULL;
    ssize_t n = read(f->fd, fifo_in, 1);
    f->t_first = now_ns();
    if (n == 1)
        f->bytes = 1 + read_full(f->fd, fifo_in + 1, FIFO_BYTES - 1);
    char extra;
    f->eof = read(f->fd, &extra, 1);
    close(f->fd);
    return NULL;
}

static void *fifo_writer(void *arg)
{
    struct fifo_end *f = arg;
    f->fd = open(fifo_path, O_WRONLY | O_CLOEXEC);
    f->err = f->fd < 0 ? err_now() : 0;
    __atomic_fetch_add(&fifo_opened, 1, __ATOMIC_RELEASE);
    if (f->fd < 0)
        return NULL;
    gate_wait(&keeper_closed);
    nap_ms(100);
    f->bytes = write_full(f->fd, bigbuf, FIFO_BYTES);
    close(f->fd);
    return NULL;
}

static void *fifo_rdwr_reader(void *arg)
{
    struct fifo_end *f = arg;
    f->fd = open(fifo_path, O_RDWR | O_CLOEXEC);
    f->err = f->fd < 0 ? err_now() : 0;
    gate_open(&rdwr_opened);
    if (f->fd < 0)
        return NULL;
    char b[32] = { 0 };
    f->eof = read(f->fd, b, sizeof b - 1);
    f->t_first = now_ns();
    f->bytes = strcmp(b, "via-rdwr") == 0;
    close(f->fd);
    return NULL;
}

static void fifos(void)
{
    int before = failures;
    char dir[] = "/tmp/blitz-it-fifo.XXXXXX";
    if (!mkdtemp(dir)) {
        printf("FAIL: mkdtemp: %s\n", strerror(errno));
        failures++;
        return;
    }
    snprintf(fifo_path, sizeof fifo_path, "%s/fifo", dir);
    EXPECT(mkfifo(fifo_path, 0600), 0);

    /* no reader: a non-blocking write open fails */
    err_clear();
    EXPECT(open(fifo_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC), -1);
    EXPECT_ERR(err_now(), ENXIO);

    /* two threads, O_RDONLY and O_WRONLY; a keeper O_RDWR open first so that neither blocks */
    int keeper = open(fifo_path, O_RDWR | O_CLOEXEC);
    CHECK(keeper >= 0, "open O_RDWR: %s", strerror(errno));
    struct fifo_end rd = { 0 }, wr = { 0 };
    pthread_t tr, tw;
    long long t0 = now_ns();
    EXPECT_ERR(pthread_create(&tr, NULL, fifo_reader, &rd), 0);
    EXPECT_ERR(pthread_create(&tw, NULL, fifo_writer, &wr), 0);
    for (int k = 0; k < 2500 && __atomic_load_n(&fifo_opened, __ATOMIC_ACQUIRE) < 2; k++)
        nap_ms(2);
    EXPECT(__atomic_load_n(&fifo_opened, __ATOMIC_ACQUIRE), 2);
    close(keeper);
    gate_open(&keeper_closed);
    EXPECT_ERR(pthread_join(tr, NULL), 0);
    EXPECT_ERR(pthread_join(tw, NULL), 0);
    CHECK(rd.fd >= 0 && wr.fd >= 0, "fifo opens: %s / %s", strerror(rd.err), strerror(wr.err));
    EXPECT(wr.bytes, FIFO_BYTES);
    EXPECT(rd.bytes, FIFO_BYTES);
    EXPECT(rd.eof, 0);
    CHECK(rd.t_first - t0 >= 100 * MS, "fifo: the reader got data before it was written");
    CHECK(memcmp(fifo_in, bigbuf, FIFO_BYTES) == 0, "fifo: the bytes differ");

    /* one O_RDWR reader, one O_WRONLY writer (opened once the reader is there) */
    struct fifo_end rw = { 0 };
    t0 = now_ns();
    EXPECT_ERR(pthread_create(&tr, NULL, fifo_rdwr_reader, &rw), 0);
    gate_wait(&rdwr_opened);
    int w = open(fifo_path, O_WRONLY | O_CLOEXEC);
    CHECK(w >= 0, "open O_WRONLY with an O_RDWR reader: %s", strerror(errno));
    CHECK(w < 0 || (fcntl(w, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY, "fifo F_GETFL %#o", fcntl(w, F_GETFL));
    nap_ms(100);
    EXPECT(write(w, "via-rdwr", 8), 8);
    EXPECT_ERR(pthread_join(tr, NULL), 0);
    EXPECT(rw.eof, 8);
    EXPECT(rw.bytes, 1);
    CHECK(rw.t_first - t0 >= 100 * MS, "fifo O_RDWR: the reader got data before it was written");
    close(w);

    unlink(fifo_path);
    rmdir(dir);
    if (failures == before)
        printf("ok FIFO between threads: O_RDONLY/O_WRONLY (200 KB, EOF), O_RDWR reader, ENXIO\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    ping_pong();
    many_pairs();
    vectored();
    eventfds();
    fifos();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
