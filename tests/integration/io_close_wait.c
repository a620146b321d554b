// blitz-timeout: 60
// shutdown() and close() of a descriptor while another thread waits on it.
// (a) shutdown, with the native results asserted exactly:
//     - a thread blocked in recv() on a connected TCP socket; another thread calls
//       shutdown(SHUT_RDWR) 100 ms later: recv returns 0, and the peer then reads EOF;
//     - the same with shutdown(SHUT_RD) on a UNIX stream socket: recv returns 0;
//     - a thread blocked in send() on a UNIX stream socket whose buffers are full;
//       shutdown(SHUT_WR) 100 ms later: send returns -1 EPIPE (MSG_NOSIGNAL);
//     - a thread blocked in accept() on a TCP listener and on a UNIX listener that
//       another thread shutdown()s 100 ms later: accept returns -1 EINVAL.
// (b) close while another thread waits, on a pipe and on a UNIX stream socket:
//     thread A blocks in read() (or in poll() for POLLIN) on fd N; 100 ms later
//     main closes N, at once creates a new pipe (which typically reuses the number
//     N) and writes "STALE" into it; 200 ms later the peer of the OLD file writes
//     "OLD" and closes.  Native Linux: read keeps waiting on the old file and returns
//     "OLD"; poll keeps waiting on the old file's wait queue and, woken by "OLD",
//     re-looks up N (the new pipe): POLLIN.  A green-thread shim may instead end the
//     wait at the close with -1 EBADF / POLLNVAL.  Accepted: "OLD", EOF, EBADF,
//     POLLNVAL, and POLLIN/POLLHUP only once the old peer had written.  Never
//     accepted: the bytes "STALE", a readiness reported before the old file did
//     anything (a readiness of the new pipe), or a wait that does not end within 2 s
//     of the close.  The printed lines are normalized ("returned, not stale").
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"

/* errno through calls the compiler cannot fold: __errno_location() is declared const, so a
 * function that used errno before a blocking call may keep its address across the call (the
 * address of another worker's errno under BLITZ_TLS=worker once the thread moved) */
static __attribute__((noinline)) int err_now(void) { return errno; }
static __attribute__((noinline)) void err_clear(void) { errno = 0; }

#define MS 1000000LL

/* --- helpers ------------------------------------------------------------------------------ */

/* waits until *flag is set, at most ms milliseconds; 1 if set */
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

/* a thread that does not come back: its blocked call would hang the join */
static void give_up(const char *what)
{
    printf("FAIL: %s: the waiting thread did not return within the time limit\n", what);
    printf("FAILED\n");
    fflush(stdout);
    _exit(1);
}

static int tcp_listener(int *port)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 16) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0) {
        printf("FAIL: tcp listener: %s\n", strerror(errno));
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return l;
}

/* a connected TCP pair over 127.0.0.1: sv[0] the connecting side, sv[1] the accepted side */
static void tcp_pair(int sv[2])
{
    int port;
    int l = tcp_listener(&port);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof a) != 0) {
        printf("FAIL: tcp connect: %s\n", strerror(errno));
        exit(1);
    }
    sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (sv[1] < 0) {
        printf("FAIL: tcp accept: %s\n", strerror(errno));
        exit(1);
    }
    close(l);
}

static void unix_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        printf("FAIL: socketpair: %s\n", strerror(errno));
        exit(1);
    }
}

static void make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) != 0) {
        printf("FAIL: pipe2: %s\n", strerror(errno));
        exit(1);
    }
}

/* --- (a) shutdown while another thread waits --------------------------------------------- */

enum op { OP_RECV, OP_SEND, OP_ACCEPT };

struct waiter {
    int fd;
    enum op op;
    ssize_t ret;
    int err;
    int done;          /* atomic */
    long long t_ret;   /* now_ns() when the call returned */
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    char buf[4096];
    memset(buf, 'w', sizeof buf);
    err_clear();
    if (w->op == OP_RECV)
        w->ret = recv(w->fd, buf, sizeof buf, 0);
    else if (w->op == OP_SEND)
        w->ret = send(w->fd, buf, sizeof buf, MSG_NOSIGNAL);
    else
        w->ret = accept(w->fd, NULL, NULL);
    w->err = w->ret < 0 ? err_now() : 0;
    w->t_ret = now_ns();
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* starts a waiter on fd, shutdown(fd, how) 100 ms later; the waiter must still be waiting
 * then and must return within 2 s of the shutdown */
static void shutdown_case(const char *what, int fd, enum op op, int how, struct waiter *w)
{
    pthread_t t;
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->op = op;
    EXPECT_ERR(pthread_create(&t, NULL, waiter_main, w), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE), "%s: the call returned before the shutdown (%zd, %s)",
          what, w->ret, strerrorname_np(w->err) ? strerrorname_np(w->err) : "0");
    long long t0 = now_ns();
    EXPECT(shutdown(fd, how), 0);
    if (!wait_flag(&w->done, 5000))
        give_up(what);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(w->t_ret - t0 < 2000 * MS, "%s: returned %lld ms after the shutdown", what, (w->t_ret - t0) / MS);
}

static void part_a(void)
{
    struct waiter w;
    int sv[2];
    char b[16];

    /* TCP recv, shutdown(SHUT_RDWR) */
    tcp_pair(sv);
    shutdown_case("tcp recv", sv[0], OP_RECV, SHUT_RDWR, &w);
    EXPECT(w.ret, 0);
    printf("tcp recv blocked, shutdown(SHUT_RDWR): recv returned %zd\n", w.ret);
    EXPECT(recv(sv[1], b, sizeof b, 0), 0); /* the peer sees our FIN */
    close(sv[0]);
    close(sv[1]);

    /* UNIX stream recv, shutdown(SHUT_RD) */
    unix_pair(sv);
    shutdown_case("unix recv", sv[0], OP_RECV, SHUT_RD, &w);
    EXPECT(w.ret, 0);
    printf("unix recv blocked, shutdown(SHUT_RD): recv returned %zd\n", w.ret);
    /* the other direction still works */
    EXPECT(send(sv[0], "x", 1, MSG_NOSIGNAL), 1);
    EXPECT(recv(sv[1], b, sizeof b, 0), 1);
    close(sv[0]);
    close(sv[1]);

    /* UNIX stream send with full buffers, shutdown(SHUT_WR) */
    unix_pair(sv);
    {
        static char big[65536];
        int n = 0;
        while (n < 1000 && send(sv[0], big, sizeof big, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
            n++;
        CHECK(n < 1000, "unix send: the socket buffer never filled");
        while (n < 2000 && send(sv[0], big, 1, MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
            n++;
    }
    shutdown_case("unix send", sv[0], OP_SEND, SHUT_WR, &w);
    EXPECT(w.ret, -1);
    EXPECT_ERR(w.err, EPIPE);
    printf("unix send blocked on full buffers, shutdown(SHUT_WR): send returned %zd %s\n", w.ret,
           w.ret < 0 ? strerrorname_np(w.err) : "");
    close(sv[0]);
    close(sv[1]);

    /* accept on a TCP listener, shutdown(SHUT_RDWR) */
    int port;
    int l = tcp_listener(&port);
    shutdown_case("tcp accept", l, OP_ACCEPT, SHUT_RDWR, &w);
    EXPECT(w.ret, -1);
    EXPECT_ERR(w.err, EINVAL);
    printf("tcp accept blocked, shutdown(listener): accept returned %zd %s\n", w.ret,
           w.ret < 0 ? strerrorname_np(w.err) : "");
    if (w.ret >= 0)
        close((int)w.ret);
    close(l);

    /* accept on a UNIX listener (abstract autobind address), shutdown(SHUT_RDWR) */
    l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un ua = { .sun_family = AF_UNIX };
    EXPECT(bind(l, (struct sockaddr *)&ua, sizeof(sa_family_t)), 0); /* autobind */
    EXPECT(listen(l, 4), 0);
    shutdown_case("unix accept", l, OP_ACCEPT, SHUT_RDWR, &w);
    EXPECT(w.ret, -1);
    EXPECT_ERR(w.err, EINVAL);
    printf("unix accept blocked, shutdown(listener): accept returned %zd %s\n", w.ret,
           w.ret < 0 ? strerrorname_np(w.err) : "");
    if (w.ret >= 0)
        close((int)w.ret);
    close(l);
}

/* --- (b) close while another thread waits ------------------------------------------------- */

struct cw {
    int fd;             /* the number A waits on */
    int use_poll;
    /* results */
    ssize_t n;
    int err;
    short revents;
    char buf[32];
    int old_at_return;  /* whether the old peer had written when A's call returned */
    long long t_ret;
    int done;           /* atomic */
};

static int old_written; /* atomic: set just before the old peer writes "OLD" */

static void *cw_main(void *arg)
{
    struct cw *c = arg;
    err_clear();
    if (c->use_poll) {
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        c->n = poll(&p, 1, -1);
        c->err = c->n < 0 ? err_now() : 0;
        c->revents = p.revents;
    } else {
        c->n = read(c->fd, c->buf, sizeof c->buf - 1);
        c->err = c->n < 0 ? err_now() : 0;
    }
    c->t_ret = now_ns();
    c->old_at_return = __atomic_load_n(&old_written, __ATOMIC_ACQUIRE);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* A waits on fd (its old peer: old_peer); main closes fd, makes a new pipe with "STALE" in
 * it, then the old peer writes "OLD" and closes.  Prints one normalized line. */
static void close_case(const char *what, int fd, int old_peer, int use_poll)
{
    struct cw c;
    pthread_t t;
    memset(&c, 0, sizeof c);
    c.fd = fd;
    c.use_poll = use_poll;
    __atomic_store_n(&old_written, 0, __ATOMIC_RELEASE);
    int before = failures;

    EXPECT_ERR(pthread_create(&t, NULL, cw_main, &c), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&c.done, __ATOMIC_ACQUIRE), "%s: the wait ended before the close", what);
    long long t_close = now_ns();
    EXPECT(close(fd), 0);
    int np[2];
    make_pipe(np);
    fprintf(stderr, "%s: closed fd %d, the new pipe is %d/%d%s\n", what, fd, np[0], np[1],
            np[0] == fd ? " (number reused)" : "");
    EXPECT(write(np[1], "STALE", 5), 5);
    nap_ms(200);
    __atomic_store_n(&old_written, 1, __ATOMIC_RELEASE);
    /* A green-thread shim may have let go of the old file at the close (the waiter got
     * EBADF): its peer then sees a closed connection.  SIGPIPE is ignored (main). */
    {
        ssize_t wr = write(old_peer, "OLD", 3);
        CHECK(wr == 3 || (wr < 0 && errno == EPIPE), "writing OLD to the old file's peer: %zd (%s)", wr,
              wr < 0 ? strerrorname_np(errno) : "-");
    }
    EXPECT(close(old_peer), 0);
    if (!wait_flag(&c.done, 5000))
        give_up(what);
    EXPECT_ERR(pthread_join(t, NULL), 0);

    CHECK(c.t_ret - t_close < 2000 * MS, "%s: returned %lld ms after the close", what, (c.t_ret - t_close) / MS);
    const char *outcome = "?";
    if (use_poll) {
        if (c.n == 1 && c.revents == POLLNVAL) {
            outcome = "POLLNVAL";
        } else if (c.n == 1 && (c.revents & (POLLIN | POLLHUP)) && !(c.revents & POLLNVAL)) {
            outcome = "POLLIN/POLLHUP after the old peer wrote";
            CHECK(c.old_at_return, "%s: poll reported revents %#x before the old file's peer wrote: a readiness of the new pipe",
                  what, (unsigned)c.revents);
        } else {
            CHECK(0, "%s: poll returned %zd (%s), revents %#x", what, c.n, c.n < 0 ? strerrorname_np(c.err) : "-",
                  (unsigned)c.revents);
        }
    } else {
        c.buf[c.n > 0 ? c.n : 0] = 0;
        if (c.n > 0 && strstr(c.buf, "STALE")) {
            CHECK(0, "%s: read returned the new pipe's bytes \"%s\"", what, c.buf);
        } else if (c.n == 3 && memcmp(c.buf, "OLD", 3) == 0) {
            outcome = "OLD";
        } else if (c.n == 0) {
            outcome = "EOF";
        } else if (c.n < 0 && c.err == EBADF) {
            outcome = "EBADF";
        } else {
            CHECK(0, "%s: read returned %zd (%s) \"%s\"", what, c.n, c.n < 0 ? strerrorname_np(c.err) : "-", c.buf);
        }
        CHECK(!(c.n > 0) || c.old_at_return, "%s: read returned data before the old peer wrote", what);
    }
    fprintf(stderr, "%s: outcome %s (returned %zd, revents %#x) after %lld ms\n", what, outcome, c.n,
            (unsigned)c.revents, (c.t_ret - t_close) / MS);
    /* the new pipe still holds exactly "STALE": nobody took it */
    char b[16];
    struct pollfd p = { .fd = np[0], .events = POLLIN };
    EXPECT(poll(&p, 1, 1000), 1);
    EXPECT(read(np[0], b, sizeof b), 5);
    close(np[0]);
    close(np[1]);
    if (failures == before)
        printf("%s: returned, not stale\n", what);
}

static void part_b(void)
{
    int p[2], sv[2];
    make_pipe(p);
    close_case("close-while-reading pipe", p[0], p[1], 0);
    unix_pair(sv);
    close_case("close-while-reading socket", sv[0], sv[1], 0);
    make_pipe(p);
    close_case("close-while-polling pipe", p[0], p[1], 1);
    unix_pair(sv);
    close_case("close-while-polling socket", sv[0], sv[1], 1);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    part_a();
    part_b();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
