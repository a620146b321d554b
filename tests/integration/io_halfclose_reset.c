// blitz-timeout: 60
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS (errno read through an address the compiler keeps across blocking calls)
// Half-close, reset, EOF and EPIPE on TCP over 127.0.0.1, UNIX socketpairs and
// pipes, each result exactly as Linux gives it natively:
//  - shutdown(SHUT_WR): the peer reads the data, then 0 (EOF), again 0; it can
//    still write back and the half-closed side reads that; a write on the
//    half-closed side answers EPIPE (+ SIGPIPE); a reader blocked 100 ms before
//    the peer's shutdown(SHUT_WR) wakes with 0 (TCP and UNIX);
//  - shutdown(SHUT_RD): recv answers 0 at once; on TCP data the peer sends later
//    is still returned, then 0 again, and the side can still write; on UNIX the
//    peer's write answers EPIPE (+ SIGPIPE); a recv blocked in another thread is
//    woken with 0 (TCP and UNIX); shutdown of a listener wakes a thread blocked
//    in accept() with EINVAL;
//  - reset (peer SO_LINGER {1,0}, close): a recv blocked 100 ms earlier answers
//    ECONNRESET, then recv 0 and write EPIPE (+ SIGPIPE); without a blocked
//    reader the first write answers ECONNRESET (no signal), then EPIPE;
//  - write to a peer that closed: the first write succeeds, then EPIPE; with
//    SIGPIPE ignored no signal, with a counting handler one SIGPIPE per failing
//    write; send(MSG_NOSIGNAL) EPIPE without a signal; a peer that closed with
//    unread data answers the next write with ECONNRESET (no signal), then EPIPE;
//  - a writer blocked on a full TCP / UNIX buffer when the peer closes returns
//    the partial count (no signal), then (TCP) ECONNRESET, then EPIPE + SIGPIPE;
//  - pipes: write with no reader EPIPE + SIGPIPE; a reader blocked 100 ms before
//    the writer closes reads 0; a writer blocked on a full pipe when the reader
//    closes returns the partial count (the pipe's size) and still gets SIGPIPE
//    (Linux), and a 1-byte write blocked on a full pipe answers EPIPE + SIGPIPE.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define LATE_MS 800 /* how late a wakeup may come on a slow machine */
#define BIG (8 << 20)

static int sigpipes; /* atomic: SIGPIPEs the counting handler saw */
static char *big;

static void on_sigpipe(int sig) { __atomic_fetch_add(&sigpipes, 1, __ATOMIC_RELAXED); }
static int sigs(void) { return __atomic_load_n(&sigpipes, __ATOMIC_RELAXED); }

static void sigpipe_handler(int counting)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = counting ? on_sigpipe : SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
}

static long long ms_since(long long t0) { return (now_ns() - t0) / 1000000; }

/* the errno of a call that failed, 0 if it did not fail */
#define CALL_ERR(call) ((errno = 0, (call)) < 0 ? errno : 0)

static uint16_t lport;
static int lfd;

/* a connected TCP pair; small = fixed 64 KiB buffers (no autotuning) on both sides */
static void tcp_pair(int *c, int *s, int small)
{
    *c = socket(AF_INET, SOCK_STREAM, 0);
    int sz = 65536;
    if (small)
        setsockopt(*c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(lport) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (*c < 0 || connect(*c, (struct sockaddr *)&a, sizeof a) != 0 || (*s = accept(lfd, NULL, NULL)) < 0) {
        printf("FAIL: TCP pair: %s\n", strerrorname_np(errno));
        exit(1);
    }
    if (small)
        setsockopt(*s, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

static int listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        printf("FAIL: listener: %s\n", strerrorname_np(errno));
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* reads exactly n bytes (several reads if need be); the count read */
static long read_n(int fd, char *buf, long n)
{
    long got = 0;
    for (int i = 0; i < 1000 && got < n; i++) {
        ssize_t r = read(fd, buf + got, (size_t)(n - got));
        if (r <= 0)
            break;
        got += r;
    }
    return got;
}

/* --- blocked calls in helper threads ----------------------------------------------------- */

enum op { OP_READ, OP_RECV, OP_ACCEPT, OP_WRITE_BIG, OP_WRITE_1 };

struct blocked {
    int fd;
    enum op op;
    long result;
    int err;
    long long ms;    /* how long the call took */
    int sigs_before; /* the SIGPIPE count when it started */
    int started;     /* atomic */
};

static void *blocked_call(void *arg)
{
    struct blocked *b = arg;
    char buf[64];
    b->sigs_before = sigs();
    long long t0 = now_ns(); /* before the gate: the action comes >= 100 ms after t0 */
    gate_open(&b->started);
    errno = 0;
    switch (b->op) {
    case OP_READ:
        b->result = read(b->fd, buf, sizeof buf);
        break;
    case OP_RECV:
        b->result = recv(b->fd, buf, sizeof buf, 0);
        break;
    case OP_ACCEPT:
        b->result = accept(b->fd, NULL, NULL);
        break;
    case OP_WRITE_BIG:
        b->result = write(b->fd, big, BIG);
        break;
    case OP_WRITE_1:
        b->result = write(b->fd, "w", 1);
        break;
    }
    b->err = b->result < 0 ? errno : 0;
    b->ms = ms_since(t0);
    return NULL;
}

/* starts op on fd in a thread, waits 100 ms, runs `act` (via the callback), joins */
static void blocked_then(struct blocked *b, int fd, enum op op, void (*act)(void *), void *arg)
{
    *b = (struct blocked){ .fd = fd, .op = op, .result = -2 };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, blocked_call, b), 0);
    gate_wait(&b->started);
    nap_ms(100);
    act(arg);
    EXPECT_ERR(pthread_join(t, NULL), 0);
}

static void act_shut_wr(void *fd) { EXPECT(shutdown(*(int *)fd, SHUT_WR), 0); }
static void act_shut_rd(void *fd) { EXPECT(shutdown(*(int *)fd, SHUT_RD), 0); }
static void act_shut_rdwr(void *fd) { EXPECT(shutdown(*(int *)fd, SHUT_RDWR), 0); }
static void act_close(void *fd) { EXPECT(close(*(int *)fd), 0); }

/* the blocked call must have waited for the action, 100 ms after it started */
#define CHECK_WAITED(b, what)                                                                      \
    CHECK((b).ms >= 100 && (b).ms < 100 + LATE_MS, "%s: the blocked call returned after %lld ms", what, (b).ms)

/* --- sections ----------------------------------------------------------------------------------- */

static void half_close(int c, int s, const char *kind)
{
    char buf[16] = { 0 };
    EXPECT(write(c, "hello", 5), 5);
    EXPECT(shutdown(c, SHUT_WR), 0);
    EXPECT(read_n(s, buf, 5), 5);
    CHECK(memcmp(buf, "hello", 5) == 0, "%s: wrong data before EOF", kind);
    EXPECT(read(s, buf, sizeof buf), 0);
    EXPECT(read(s, buf, sizeof buf), 0);
    /* the other direction still works */
    EXPECT(write(s, "world", 5), 5);
    EXPECT(read_n(c, buf, 5), 5);
    CHECK(memcmp(buf, "world", 5) == 0, "%s: wrong data on the half-closed side", kind);
    /* writing on the half-closed side */
    int s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(c, "x", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    EXPECT(close(s), 0);
    EXPECT(read(c, buf, sizeof buf), 0);
    EXPECT(close(c), 0);
}

static void half_close_blocked(int c, int s, const char *kind)
{
    struct blocked b;
    blocked_then(&b, s, OP_READ, act_shut_wr, &c);
    EXPECT(b.result, 0);
    CHECK_WAITED(b, kind);
    close(c);
    close(s);
}

static void section_shut_wr(void)
{
    int before = failures;
    int c, s, sp[2];
    tcp_pair(&c, &s, 0);
    half_close(c, s, "TCP");
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    half_close(sp[0], sp[1], "UNIX");
    tcp_pair(&c, &s, 0);
    half_close_blocked(c, s, "TCP: reader blocked before shutdown(SHUT_WR)");
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    half_close_blocked(sp[0], sp[1], "UNIX: reader blocked before shutdown(SHUT_WR)");
    if (failures == before)
        printf("ok shutdown(SHUT_WR): data then EOF, the other way still open, blocked readers wake\n");
}

static void section_shut_rd(void)
{
    int before = failures;
    int c, s, sp[2];
    char buf[16];
    /* TCP */
    tcp_pair(&c, &s, 0);
    EXPECT(shutdown(c, SHUT_RD), 0);
    long long t0 = now_ns();
    EXPECT(recv(c, buf, sizeof buf, 0), 0);
    CHECK(ms_since(t0) < 50, "recv after shutdown(SHUT_RD) took %lld ms", ms_since(t0));
    EXPECT(write(s, "x", 1), 1);
    ssize_t n = 0;
    for (int i = 0; i < 100 && n == 0; i++) { /* 0 until the byte is there, then the byte */
        n = recv(c, buf, sizeof buf, 0);
        if (n == 0)
            nap_ms(10);
    }
    EXPECT(n, 1);
    EXPECT(recv(c, buf, sizeof buf, 0), 0);
    EXPECT(write(c, "y", 1), 1);
    EXPECT(read_n(s, buf, 1), 1);
    close(c);
    close(s);
    /* UNIX */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    EXPECT(shutdown(sp[0], SHUT_RD), 0);
    EXPECT(recv(sp[0], buf, sizeof buf, 0), 0);
    int s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(sp[1], "x", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    EXPECT(write(sp[0], "y", 1), 1);
    EXPECT(read_n(sp[1], buf, 1), 1);
    close(sp[0]);
    close(sp[1]);
    /* a recv blocked in another thread is woken */
    struct blocked b;
    tcp_pair(&c, &s, 0);
    blocked_then(&b, c, OP_RECV, act_shut_rd, &c);
    EXPECT(b.result, 0);
    CHECK_WAITED(b, "TCP recv blocked before shutdown(SHUT_RD)");
    close(c);
    close(s);
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    blocked_then(&b, sp[0], OP_RECV, act_shut_rd, &sp[0]);
    EXPECT(b.result, 0);
    CHECK_WAITED(b, "UNIX recv blocked before shutdown(SHUT_RD)");
    close(sp[0]);
    close(sp[1]);
    /* a listener: accept blocked in another thread answers EINVAL */
    uint16_t port;
    int l = listener(&port);
    blocked_then(&b, l, OP_ACCEPT, act_shut_rdwr, &l);
    EXPECT(b.result, -1);
    EXPECT_ERR(b.err, EINVAL);
    CHECK_WAITED(b, "accept blocked before shutdown(SHUT_RDWR) of the listener");
    EXPECT_ERR(CALL_ERR(accept(l, NULL, NULL)), EINVAL);
    close(l);
    l = listener(&port);
    blocked_then(&b, l, OP_ACCEPT, act_shut_rd, &l);
    EXPECT(b.result, -1);
    EXPECT_ERR(b.err, EINVAL);
    CHECK_WAITED(b, "accept blocked before shutdown(SHUT_RD) of the listener");
    close(l);
    if (failures == before)
        printf("ok shutdown(SHUT_RD): recv 0 at once, blocked recv and accept wake\n");
}

static void section_reset(void)
{
    int before = failures;
    int c, s;
    char buf[16];
    struct linger lg = { 1, 0 };
    /* a recv blocked before the reset */
    tcp_pair(&c, &s, 0);
    EXPECT(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    struct blocked b;
    blocked_then(&b, c, OP_RECV, act_close, &s);
    EXPECT(b.result, -1);
    EXPECT_ERR(b.err, ECONNRESET);
    CHECK_WAITED(b, "recv blocked before the peer's reset");
    EXPECT(recv(c, buf, sizeof buf, 0), 0);
    int s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(c, "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    close(c);
    /* no reader: the first write reports the reset */
    tcp_pair(&c, &s, 0);
    EXPECT(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    EXPECT(close(s), 0);
    nap_ms(50);
    s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(c, "a", 1)), ECONNRESET);
    EXPECT(sigs() - s0, 0);
    EXPECT(recv(c, buf, sizeof buf, 0), 0);
    EXPECT_ERR(CALL_ERR(write(c, "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    close(c);
    if (failures == before)
        printf("ok reset: blocked recv ECONNRESET, then EOF and EPIPE; or write ECONNRESET first\n");
}

/* write to a peer that closed normally; with counting = 0 SIGPIPE is ignored */
static void peer_closed(int counting)
{
    int c, s;
    char buf[16];
    sigpipe_handler(counting);
    int s0 = sigs();
    tcp_pair(&c, &s, 0);
    EXPECT(close(s), 0);
    nap_ms(50);
    EXPECT(recv(c, buf, sizeof buf, 0), 0);
    EXPECT(write(c, "a", 1), 1); /* the peer answers it with a reset */
    nap_ms(50);
    EXPECT(sigs() - s0, 0);
    EXPECT_ERR(CALL_ERR(write(c, "b", 1)), EPIPE);
    EXPECT(sigs() - s0, counting ? 1 : 0);
    EXPECT_ERR(CALL_ERR(write(c, "c", 1)), EPIPE);
    EXPECT(sigs() - s0, counting ? 2 : 0);
    EXPECT_ERR(CALL_ERR(send(c, "d", 1, MSG_NOSIGNAL)), EPIPE);
    EXPECT(sigs() - s0, counting ? 2 : 0);
    EXPECT_ERR(CALL_ERR(send(c, "e", 1, 0)), EPIPE);
    EXPECT(sigs() - s0, counting ? 3 : 0);
    EXPECT(recv(c, buf, sizeof buf, 0), 0);
    close(c);
    sigpipe_handler(1);
}

static void section_epipe(void)
{
    int before = failures;
    peer_closed(0);
    peer_closed(1);
    /* the peer closed with unread data: it resets at once */
    int c, s;
    tcp_pair(&c, &s, 0);
    EXPECT(write(c, "zz", 2), 2);
    nap_ms(20);
    EXPECT(close(s), 0);
    nap_ms(50);
    int s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(c, "a", 1)), ECONNRESET);
    EXPECT(sigs() - s0, 0);
    EXPECT_ERR(CALL_ERR(write(c, "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    close(c);
    if (failures == before)
        printf("ok TCP write to a closed peer: one write, then EPIPE; SIGPIPE ignored, counted, MSG_NOSIGNAL\n");

    before = failures;
    int sp[2];
    char buf[16];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    EXPECT(close(sp[1]), 0);
    s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(sp[0], "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    EXPECT_ERR(CALL_ERR(send(sp[0], "a", 1, MSG_NOSIGNAL)), EPIPE);
    EXPECT(sigs() - s0, 1);
    EXPECT(recv(sp[0], buf, sizeof buf, 0), 0);
    close(sp[0]);
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    EXPECT(write(sp[0], "a", 1), 1);
    EXPECT(close(sp[1]), 0); /* with unread data */
    EXPECT_ERR(CALL_ERR(recv(sp[0], buf, sizeof buf, 0)), ECONNRESET);
    EXPECT(recv(sp[0], buf, sizeof buf, 0), 0);
    EXPECT_ERR(CALL_ERR(write(sp[0], "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 2);
    close(sp[0]);
    if (failures == before)
        printf("ok UNIX write to a closed peer: EPIPE + SIGPIPE, MSG_NOSIGNAL; unread data: ECONNRESET\n");
}

static void section_blocked_writers(void)
{
    int before = failures;
    struct blocked b;
    int c, s, sp[2];
    /* TCP: the peer closes with unread data (a reset) while our write waits for room */
    tcp_pair(&c, &s, 1);
    blocked_then(&b, c, OP_WRITE_BIG, act_close, &s);
    fprintf(stderr, "TCP writer blocked when the peer closed: %ld (%s) after %lld ms\n", b.result,
            b.err ? strerrorname_np(b.err) : "", b.ms);
    CHECK(b.result > 0 && b.result < BIG, "TCP write blocked when the peer closed = %ld (%s), expected a partial count",
          b.result, b.err ? strerrorname_np(b.err) : "");
    CHECK_WAITED(b, "TCP write blocked when the peer closed");
    EXPECT(sigs() - b.sigs_before, 0);
    int s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(c, "a", 1)), ECONNRESET);
    EXPECT(sigs() - s0, 0);
    EXPECT_ERR(CALL_ERR(write(c, "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    close(c);
    /* UNIX */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    blocked_then(&b, sp[0], OP_WRITE_BIG, act_close, &sp[1]);
    fprintf(stderr, "UNIX writer blocked when the peer closed: %ld (%s) after %lld ms\n", b.result,
            b.err ? strerrorname_np(b.err) : "", b.ms);
    CHECK(b.result > 0 && b.result < BIG,
          "UNIX write blocked when the peer closed = %ld (%s), expected a partial count", b.result,
          b.err ? strerrorname_np(b.err) : "");
    CHECK_WAITED(b, "UNIX write blocked when the peer closed");
    EXPECT(sigs() - b.sigs_before, 0);
    s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(sp[0], "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    close(sp[0]);
    if (failures == before)
        printf("ok a writer blocked when the peer closes gets its partial count, then errors\n");
}

static void section_pipes(void)
{
    int before = failures;
    struct blocked b;
    int p[2];
    /* no reader */
    EXPECT(pipe(p), 0);
    EXPECT(close(p[0]), 0);
    int s0 = sigs();
    EXPECT_ERR(CALL_ERR(write(p[1], "a", 1)), EPIPE);
    EXPECT(sigs() - s0, 1);
    close(p[1]);
    /* a reader blocked before the writer closes: EOF */
    EXPECT(pipe(p), 0);
    blocked_then(&b, p[0], OP_READ, act_close, &p[1]);
    EXPECT(b.result, 0);
    CHECK_WAITED(b, "pipe read blocked before the writer closed");
    close(p[0]);
    /* a writer blocked on a full pipe when the reader closes: its partial count, and SIGPIPE */
    EXPECT(pipe(p), 0);
    long psize = fcntl(p[1], F_GETPIPE_SZ);
    blocked_then(&b, p[1], OP_WRITE_BIG, act_close, &p[0]);
    fprintf(stderr, "pipe writer blocked when the reader closed: %ld (%s) after %lld ms\n", b.result,
            b.err ? strerrorname_np(b.err) : "", b.ms);
    EXPECT(b.result, psize);
    CHECK_WAITED(b, "pipe write blocked when the reader closed");
    EXPECT(sigs() - b.sigs_before, 1);
    close(p[1]);
    /* a 1-byte write blocked on a full pipe: EPIPE and SIGPIPE */
    EXPECT(pipe2(p, O_NONBLOCK), 0);
    char page[4096];
    memset(page, 'p', sizeof page);
    int i;
    for (i = 0; i < 10000 && write(p[1], page, sizeof page) > 0; i++)
        ;
    CHECK(i < 10000 && errno == EAGAIN, "filling a pipe: %s", strerrorname_np(errno));
    EXPECT(fcntl(p[1], F_SETFL, O_WRONLY), 0); /* blocking again */
    blocked_then(&b, p[1], OP_WRITE_1, act_close, &p[0]);
    EXPECT(b.result, -1);
    EXPECT_ERR(b.err, EPIPE);
    CHECK_WAITED(b, "1-byte pipe write blocked when the reader closed");
    EXPECT(sigs() - b.sigs_before, 1);
    close(p[1]);
    if (failures == before)
        printf("ok pipes: EPIPE + SIGPIPE, EOF wakes a blocked reader, blocked writers get count or EPIPE\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigpipe_handler(1);
    big = malloc(BIG);
    if (!big) {
        printf("FAIL: malloc\n");
        return 1;
    }
    memset(big, 'B', BIG);
    lfd = listener(&lport);
    section_shut_wr();
    section_shut_rd();
    section_reset();
    section_epipe();
    section_blocked_writers();
    section_pipes();
    close(lfd);
    free(big);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
