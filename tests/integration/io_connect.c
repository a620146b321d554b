// blitz-timeout: 60
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS (errno read through an address the compiler keeps across blocking calls)
// connect() outcomes, all on 127.0.0.1 (ports from bind to port 0) or abstract
// UNIX addresses, while a counter thread (1 ms sleeps) runs throughout:
//  - refused: a blocking connect to a port bound without listen answers
//    ECONNREFUSED, again on the same socket, and once the port listens the same
//    socket connects (0);
//  - non-blocking refused: EINPROGRESS, poll gives POLLOUT|POLLERR|POLLHUP,
//    SO_ERROR ECONNREFUSED (then 0), and a further connect() ECONNABORTED (Linux);
//  - success: getpeername is the listener's address, accept's peer address the
//    client's getsockname, data flows both ways;
//  - timeout: a listener with listen(fd, 0) that never accepts is filled (non-
//    blocking connects until one does not complete in 200 ms); a blocking connect
//    with SO_SNDTIMEO 300 ms then answers -1 EINPROGRESS after >= 300 ms, a second
//    connect() -1 EALREADY after >= 300 ms more (Linux), and the counter thread
//    advances during both (the caller's worker is not blocked); after one accept
//    makes room, a third connect() (SO_SNDTIMEO 10 s) answers 0 once the kernel's
//    SYN retransmission gets through, a fourth EISCONN;
//  - UNIX stream listener with listen(fd, 0): one connection queues, a non-blocking
//    connect answers EAGAIN, a blocking one with SO_SNDTIMEO 300 ms EAGAIN after
//    >= 300 ms, and one without a timeout waits until a thread accepts 100 ms later.
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
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define LATE_MS 800 /* how late a timeout may end on a slow machine */
#define MIN_TICKS 3

static long ticks; /* atomic: the counter thread */
static int stop;   /* atomic */

static void *counter_thread(void *arg)
{
    for (int i = 0; i < 60000 && !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
        nap_ms(1);
        __atomic_fetch_add(&ticks, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static long ticks_now(void) { return __atomic_load_n(&ticks, __ATOMIC_RELAXED); }

static long long ms_since(long long t0) { return (now_ns() - t0) / 1000000; }

static struct sockaddr_in loop_addr(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* a TCP socket bound to 127.0.0.1:0, listening with `backlog` unless backlog < 0 */
static int bound_socket(uint16_t *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loop_addr(0);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        (backlog >= 0 && listen(fd, backlog) != 0) || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        printf("FAIL: bound socket: %s\n", strerrorname_np(errno));
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int so_error(int fd)
{
    int err = -1;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -1;
    return err;
}

static int same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
    return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
           a->sin_addr.s_addr == b->sin_addr.s_addr;
}

/* -1 and errno from a call, as one int: the errno, or 0 when it returned 0 */
#define CALL_ERR(call) ((errno = 0, (call)) == 0 ? 0 : errno)

static void refused(void)
{
    int before = failures;
    uint16_t port;
    int b = bound_socket(&port, -1); /* bound, not listening: kept open so the port stays ours */
    struct sockaddr_in a = loop_addr(port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_ERR(CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a)), ECONNREFUSED);
    EXPECT_ERR(CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a)), ECONNREFUSED);
    EXPECT_ERR(so_error(c), 0);
    /* the same socket connects once the port listens */
    EXPECT(listen(b, 4), 0);
    EXPECT_ERR(CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a)), 0);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    EXPECT(getpeername(c, (struct sockaddr *)&peer, &len), 0);
    CHECK(same_addr(&peer, &a), "getpeername after a refused and a good connect: wrong address");
    int s = accept(b, NULL, NULL);
    CHECK(s >= 0, "accept: %s", strerrorname_np(errno));
    EXPECT(write(c, "r", 1), 1);
    char ch = 0;
    EXPECT(read(s, &ch, 1), 1);
    EXPECT(ch, 'r');
    close(s);
    close(c);
    close(b);
    if (failures == before)
        printf("ok blocking connect refused: ECONNREFUSED twice, then the same socket connects\n");

    before = failures;
    b = bound_socket(&port, -1);
    a = loop_addr(port);
    for (int i = 0; i < 3; i++) {
        c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int e = CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a));
        CHECK(e == EINPROGRESS || e == ECONNREFUSED, "non-blocking connect to a closed port: %s",
              e ? strerrorname_np(e) : "0");
        if (e == EINPROGRESS) {
            struct pollfd pf = { c, POLLOUT, 0 };
            EXPECT(poll(&pf, 1, 2000), 1);
            EXPECT(pf.revents, POLLOUT | POLLERR | POLLHUP);
            EXPECT_ERR(so_error(c), ECONNREFUSED);
            EXPECT_ERR(so_error(c), 0); /* reading SO_ERROR clears it */
            /* the socket is left "connecting" with no error pending: Linux says ECONNABORTED */
            EXPECT_ERR(CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a)), ECONNABORTED);
        }
        close(c);
    }
    close(b);
    if (failures == before)
        printf("ok non-blocking connect refused: POLLOUT|POLLERR|POLLHUP, SO_ERROR ECONNREFUSED\n");
}

static void success(void)
{
    int before = failures;
    uint16_t port;
    int l = bound_socket(&port, 8);
    struct sockaddr_in a = loop_addr(port);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_ERR(CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a)), 0);
    struct sockaddr_in peer, self, from;
    socklen_t len = sizeof peer;
    EXPECT(getpeername(c, (struct sockaddr *)&peer, &len), 0);
    EXPECT(len, sizeof peer);
    CHECK(same_addr(&peer, &a), "getpeername is not the listener's address");
    len = sizeof self;
    EXPECT(getsockname(c, (struct sockaddr *)&self, &len), 0);
    len = sizeof from;
    int s = accept(l, (struct sockaddr *)&from, &len);
    CHECK(s >= 0, "accept: %s", strerrorname_np(errno));
    EXPECT(len, sizeof from);
    CHECK(same_addr(&from, &self), "accept's peer address is not the client's getsockname");
    len = sizeof peer;
    EXPECT(getpeername(s, (struct sockaddr *)&peer, &len), 0);
    CHECK(same_addr(&peer, &self), "the server side's getpeername is not the client's address");
    EXPECT(write(c, "ping", 4), 4);
    char buf[8] = { 0 };
    EXPECT(read(s, buf, sizeof buf), 4);
    EXPECT(write(s, "pong", 4), 4);
    EXPECT(read(c, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "pong", 4) == 0, "wrong reply");
    EXPECT_ERR(CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a)), EISCONN);
    close(s);
    close(c);
    close(l);
    if (failures == before)
        printf("ok connect to a listener: getpeername and accept's address match, data flows\n");
}

static void set_sndtimeo(int fd, long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    EXPECT(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
}

/* a blocking connect that must time out after ms with `want`, the counter advancing */
static void timed_connect(int c, const struct sockaddr *a, socklen_t alen, int ms, int want, const char *what)
{
    long t0 = ticks_now();
    long long start = now_ns();
    int e = CALL_ERR(connect(c, a, alen));
    long long dt = ms_since(start);
    long adv = ticks_now() - t0;
    fprintf(stderr, "%s: %s after %lld ms, counter +%ld\n", what, e ? strerrorname_np(e) : "0", dt, adv);
    CHECK(e == want, "%s: connect answered %s, expected %s", what, e ? strerrorname_np(e) : "0",
          strerrorname_np(want));
    CHECK(dt >= ms && dt < ms + LATE_MS, "%s: connect returned after %lld ms, expected %d", what, dt, ms);
    CHECK(adv >= MIN_TICKS, "%s: the counter thread advanced %ld times during the connect", what, adv);
}

static void tcp_timeout(void)
{
    int before = failures;
    uint16_t port;
    int l = bound_socket(&port, 0);
    struct sockaddr_in a = loop_addr(port);
    /* fill the accept queue: non-blocking connects until one does not complete */
    int filler[8], nfill = 0, hung = 0;
    for (int i = 0; i < 8 && !hung; i++) {
        int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int e = CALL_ERR(connect(f, (struct sockaddr *)&a, sizeof a));
        struct pollfd pf = { f, POLLOUT, 0 };
        if ((e == 0 || e == EINPROGRESS) && (e == 0 || poll(&pf, 1, 200) == 1) && so_error(f) == 0) {
            filler[nfill++] = f;
        } else {
            hung = 1;
            close(f); /* it would retransmit its SYN and take the room made below */
        }
    }
    fprintf(stderr, "listen(fd, 0): %d connections completed\n", nfill);
    CHECK(hung && nfill >= 1, "filling a listen(fd, 0) queue: %d completed, hung %d", nfill, hung);

    int c = socket(AF_INET, SOCK_STREAM, 0);
    set_sndtimeo(c, 300);
    long long first = now_ns();
    timed_connect(c, (struct sockaddr *)&a, sizeof a, 300, EINPROGRESS, "connect to a full queue, SO_SNDTIMEO 300 ms");
    timed_connect(c, (struct sockaddr *)&a, sizeof a, 300, EALREADY, "connect again while in progress");

    /* make room: the kernel's SYN retransmission (about 1 s after the first SYN) gets through */
    int s0 = accept(l, NULL, NULL);
    CHECK(s0 >= 0, "accept: %s", strerrorname_np(errno));
    set_sndtimeo(c, 10000); /* the retransmissions come 1, 3, 7 s after the first SYN */
    long long start = now_ns();
    int e = CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a));
    fprintf(stderr, "third connect: %s after %lld ms (%lld ms after the first)\n", e ? strerrorname_np(e) : "0",
            ms_since(start), ms_since(first));
    CHECK(e == 0, "third connect, after accept made room: %s", e ? strerrorname_np(e) : "0");
    CHECK(ms_since(start) < 9000, "third connect took %lld ms", ms_since(start));
    EXPECT_ERR(CALL_ERR(connect(c, (struct sockaddr *)&a, sizeof a)), EISCONN);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    EXPECT(getpeername(c, (struct sockaddr *)&peer, &len), 0);
    CHECK(same_addr(&peer, &a), "getpeername after the late connect: wrong address");
    /* its connection is the next one in the queue after the fillers */
    for (int i = 1; i < nfill; i++) {
        int s = accept(l, NULL, NULL);
        CHECK(s >= 0, "accept filler %d: %s", i, strerrorname_np(errno));
        close(s);
    }
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0, "accept the late connection: %s", strerrorname_np(errno));
    EXPECT(write(c, "late", 4), 4);
    char buf[8] = { 0 };
    EXPECT(read(s, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "late", 4) == 0, "wrong data on the late connection");
    close(s);
    close(s0);
    close(c);
    for (int i = 0; i < nfill; i++)
        close(filler[i]);
    close(l);
    if (failures == before)
        printf("ok connect to a full queue: EINPROGRESS after SO_SNDTIMEO, EALREADY, later 0; others ran\n");
}

struct accept_later {
    int l;
    int ms;
    int fd;
};

static void *accept_later(void *arg)
{
    struct accept_later *al = arg;
    nap_ms(al->ms);
    al->fd = accept(al->l, NULL, NULL);
    return NULL;
}

static void unix_backlog(void)
{
    int before = failures;
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un ua = { .sun_family = AF_UNIX };
    /* autobind: the kernel picks an abstract name, read back with getsockname */
    EXPECT(bind(l, (struct sockaddr *)&ua, sizeof(sa_family_t)), 0);
    EXPECT(listen(l, 0), 0);
    socklen_t ulen = sizeof ua;
    EXPECT(getsockname(l, (struct sockaddr *)&ua, &ulen), 0);
    CHECK(ulen > sizeof(sa_family_t) && ua.sun_path[0] == 0, "autobind gave no abstract name");

    int q = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    EXPECT_ERR(CALL_ERR(connect(q, (struct sockaddr *)&ua, ulen)), 0); /* queued */
    int n = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    EXPECT_ERR(CALL_ERR(connect(n, (struct sockaddr *)&ua, ulen)), EAGAIN);
    close(n);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    set_sndtimeo(c, 300);
    timed_connect(c, (struct sockaddr *)&ua, ulen, 300, EAGAIN, "UNIX connect to a full queue, SO_SNDTIMEO 300 ms");
    close(c);

    /* no timeout: waits until a thread accepts (makes room) 100 ms later */
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    struct accept_later al = { .l = l, .ms = 100, .fd = -1 };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, accept_later, &al), 0);
    long t0 = ticks_now();
    long long start = now_ns();
    int e = CALL_ERR(connect(c, (struct sockaddr *)&ua, ulen));
    long long dt = ms_since(start);
    long adv = ticks_now() - t0;
    EXPECT_ERR(pthread_join(t, NULL), 0);
    EXPECT_ERR(e, 0);
    CHECK(dt >= 100 && dt < 100 + LATE_MS, "UNIX connect waiting for room returned after %lld ms, expected 100", dt);
    CHECK(adv >= MIN_TICKS, "the counter thread advanced %ld times during the UNIX connect", adv);
    CHECK(al.fd >= 0, "accept: %s", strerrorname_np(errno));
    /* the accepted one is the queued connection; ours is next */
    EXPECT(write(q, "q", 1), 1);
    char ch = 0;
    EXPECT(read(al.fd, &ch, 1), 1);
    EXPECT(ch, 'q');
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0, "accept: %s", strerrorname_np(errno));
    EXPECT(write(c, "c", 1), 1);
    EXPECT(read(s, &ch, 1), 1);
    EXPECT(ch, 'c');
    close(s);
    close(al.fd);
    close(c);
    close(q);
    close(l);
    if (failures == before)
        printf("ok UNIX connect to a full queue: EAGAIN, EAGAIN after SO_SNDTIMEO, or waits for room\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    pthread_t counter;
    EXPECT_ERR(pthread_create(&counter, NULL, counter_thread, NULL), 0);
    refused();
    success();
    tcp_timeout();
    unix_backlog();
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    EXPECT_ERR(pthread_join(counter, NULL), 0);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
