// blitz-timeout: 60
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS (errno read through an address the compiler keeps across blocking calls)
// SO_RCVTIMEO / SO_SNDTIMEO on blocking sockets (TCP over 127.0.0.1, UNIX
// socketpairs).  With SO_RCVTIMEO 200 ms on an idle connected socket, recv(),
// read() and recvmsg() answer -1 EAGAIN after >= 200 ms; accept() on a listener
// likewise; data (or a connection) arriving before the timeout is returned
// normally; recv(MSG_WAITALL) of more than arrives returns the partial count at
// the timeout.  send() of 4 MiB to a peer that never reads (buffers fixed at
// 64 KiB), with SO_SNDTIMEO 200 ms, returns the partial count queued (> 0) after
// >= 200 ms, further send()/write() calls answer -1 EAGAIN after >= 200 ms
// (Linux), and the peer then reads exactly the partial count (TCP and UNIX).
// {0,0} means no timeout: recv then waits for a writer thread that writes 300 ms
// later; a send timeout does not limit recv.  getsockopt returns what was set (0
// before; whole multiples of 10 ms exactly, 1 us rounded up to the kernel's
// tick); tv_usec out of range answers EDOM, a short optlen EINVAL; an accepted
// socket inherits the listener's SO_RCVTIMEO (Linux).  The timeout belongs to
// the socket: it applies through a dup()ed fd.  O_NONBLOCK still wins over a
// timeout.  No default timeout: a recv with none set waits 1.5 s for data
// written late by another thread.  A negative tv_sec is taken (setsockopt 0),
// reads back as {0,0} and makes recv answer EAGAIN at once (Linux).  Timeouts
// never end early.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define LATE_MS 800 /* how late a timeout may end on a slow machine */
#define BIG (4 << 20)

static long long ms_since(long long t0) { return (now_ns() - t0) / 1000000; }

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

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("FAIL: connect: %s\n", strerrorname_np(errno));
        exit(1);
    }
    return fd;
}

static void tcp_pair(int *c, int *s)
{
    uint16_t port;
    int l = listener(&port);
    *c = connect_to(port);
    *s = accept(l, NULL, NULL);
    if (*s < 0) {
        printf("FAIL: accept: %s\n", strerrorname_np(errno));
        exit(1);
    }
    close(l);
}

static int set_timeo(int fd, int opt, long ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* getsockopt of SO_RCVTIMEO / SO_SNDTIMEO in microseconds, -1 on error */
static long get_timeo_us(int fd, int opt)
{
    struct timeval tv = { -1, -1 };
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) != 0 || len != sizeof tv)
        return -1;
    return tv.tv_sec * 1000000L + tv.tv_usec;
}

/* checks that a call answered -1 EAGAIN after at least ms (and not hugely later) */
#define EXPECT_TIMEOUT(call, ms)                                                                   \
    do {                                                                                           \
        long long t0_ = now_ns();                                                                  \
        errno = 0;                                                                                 \
        long r_ = (long)(call);                                                                    \
        int e_ = errno;                                                                            \
        long long dt_ = ms_since(t0_);                                                             \
        fprintf(stderr, "line %d: %s: %ld after %lld ms\n", __LINE__, #call, r_, dt_);             \
        CHECK(r_ == -1 && (e_ == EAGAIN || e_ == EWOULDBLOCK), "%s = %ld (%s), expected -1 EAGAIN", \
              #call, r_, e_ ? strerrorname_np(e_) : "0");                                          \
        CHECK(dt_ >= (ms) && dt_ < (ms) + LATE_MS, "%s timed out after %lld ms, expected %d",      \
              #call, dt_, (int)(ms));                                                              \
    } while (0)

/* --- helper threads ------------------------------------------------------------------------ */

struct later {
    int fd;
    int ms;
    int len;
    uint16_t port;
    int result;
};

static void *write_later(void *arg)
{
    struct later *l = arg;
    nap_ms(l->ms);
    l->result = (int)write(l->fd, "0123456789abcdef", (size_t)l->len);
    return NULL;
}

static void *connect_later(void *arg)
{
    struct later *l = arg;
    nap_ms(l->ms);
    l->result = connect_to(l->port);
    return NULL;
}

/* recv on fd must wait for a thread writing `len` bytes ms later and return them */
static void recv_waits(int rfd, int wfd, int ms, const char *what)
{
    struct later l = { .fd = wfd, .ms = ms, .len = 4 };
    pthread_t t;
    long long t0 = now_ns(); /* before the writer starts its nap: it may run at once */
    EXPECT_ERR(pthread_create(&t, NULL, write_later, &l), 0);
    char buf[16] = { 0 };
    ssize_t n = recv(rfd, buf, sizeof buf, 0);
    long long dt = ms_since(t0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(n == 4 && memcmp(buf, "0123", 4) == 0, "%s: recv = %zd (%s)", what, n,
          n < 0 ? strerrorname_np(errno) : "");
    CHECK(dt >= ms && dt < ms + LATE_MS, "%s: recv returned after %lld ms, expected %d", what, dt, ms);
    EXPECT(l.result, 4);
}

/* --- sections --------------------------------------------------------------------------------- */

static void option_values(void)
{
    int before = failures;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT(get_timeo_us(s, SO_RCVTIMEO), 0);
    EXPECT(get_timeo_us(s, SO_SNDTIMEO), 0);
    EXPECT(set_timeo(s, SO_RCVTIMEO, 200), 0);
    EXPECT(get_timeo_us(s, SO_RCVTIMEO), 200000);
    EXPECT(get_timeo_us(s, SO_SNDTIMEO), 0);
    EXPECT(set_timeo(s, SO_SNDTIMEO, 1500), 0);
    EXPECT(get_timeo_us(s, SO_SNDTIMEO), 1500000);
    EXPECT(get_timeo_us(s, SO_RCVTIMEO), 200000);
    EXPECT(set_timeo(s, SO_RCVTIMEO, 0), 0);
    EXPECT(get_timeo_us(s, SO_RCVTIMEO), 0);
    EXPECT(get_timeo_us(s, SO_SNDTIMEO), 1500000);
    /* 1 us: rounded up to the kernel's tick (1 to 10 ms) */
    struct timeval tv = { 0, 1 };
    EXPECT(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    long us = get_timeo_us(s, SO_RCVTIMEO);
    CHECK(us >= 1000 && us <= 10000, "SO_RCVTIMEO of 1 us reads back as %ld us", us);
    /* tv_usec out of range */
    tv = (struct timeval){ 0, 1000000 };
    errno = 0;
    EXPECT(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), -1);
    EXPECT_ERR(errno, EDOM);
    tv = (struct timeval){ 1, -1 };
    errno = 0;
    EXPECT(setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), -1);
    EXPECT_ERR(errno, EDOM);
    EXPECT(get_timeo_us(s, SO_SNDTIMEO), 1500000);
    /* optlen too short */
    errno = 0;
    EXPECT(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, 4), -1);
    EXPECT_ERR(errno, EINVAL);
    /* through a dup()ed fd: the same socket */
    int d = dup(s);
    EXPECT(set_timeo(d, SO_RCVTIMEO, 300), 0);
    EXPECT(get_timeo_us(s, SO_RCVTIMEO), 300000);
    close(d);
    close(s);
    if (failures == before)
        printf("ok getsockopt returns the timeouts set; EDOM, EINVAL for bad values\n");
}

static void recv_timeouts(void)
{
    int before = failures;
    int c, s;
    tcp_pair(&c, &s);
    EXPECT(set_timeo(s, SO_RCVTIMEO, 200), 0);
    char buf[64];
    EXPECT_TIMEOUT(recv(s, buf, sizeof buf, 0), 200);
    EXPECT_TIMEOUT(read(s, buf, sizeof buf), 200);
    struct iovec iov = { buf, sizeof buf };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    EXPECT_TIMEOUT(recvmsg(s, &mh, 0), 200);
    /* the connection is still fine after timeouts */
    EXPECT(write(c, "xy", 2), 2);
    EXPECT(recv(s, buf, sizeof buf, 0), 2);
    /* O_NONBLOCK wins over the timeout */
    int fl = fcntl(s, F_GETFL);
    EXPECT(fcntl(s, F_SETFL, fl | O_NONBLOCK), 0);
    long long t0 = now_ns();
    errno = 0;
    EXPECT(recv(s, buf, sizeof buf, 0), -1);
    CHECK(errno == EAGAIN && ms_since(t0) < 50, "non-blocking recv with SO_RCVTIMEO: %s after %lld ms",
          strerrorname_np(errno), ms_since(t0));
    EXPECT(fcntl(s, F_SETFL, fl), 0);
    /* through a dup()ed fd */
    int d = dup(s);
    EXPECT_TIMEOUT(recv(d, buf, sizeof buf, 0), 200);
    close(d);
    /* a UNIX socketpair */
    int sp[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    EXPECT(set_timeo(sp[0], SO_RCVTIMEO, 200), 0);
    EXPECT_TIMEOUT(read(sp[0], buf, sizeof buf), 200);
    close(sp[0]);
    close(sp[1]);
    close(c);
    close(s);
    if (failures == before)
        printf("ok SO_RCVTIMEO 200 ms: recv, read, recvmsg, a dup()ed fd, a socketpair time out with EAGAIN\n");
}

static void recv_before_timeout(void)
{
    int before = failures;
    int c, s;
    tcp_pair(&c, &s);
    EXPECT(set_timeo(s, SO_RCVTIMEO, 1000), 0);
    struct later l = { .fd = c, .ms = 100, .len = 4 };
    pthread_t t;
    long long t0 = now_ns(); /* before the writer starts its nap */
    EXPECT_ERR(pthread_create(&t, NULL, write_later, &l), 0);
    char buf[64];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    long long dt = ms_since(t0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    EXPECT(n, 4);
    CHECK(dt >= 100 && dt < 1000, "recv with SO_RCVTIMEO 1 s got data written at 100 ms after %lld ms", dt);

    /* MSG_WAITALL: 10 of 100 bytes arrive, the timeout returns the partial count */
    EXPECT(set_timeo(s, SO_RCVTIMEO, 300), 0);
    l = (struct later){ .fd = c, .ms = 50, .len = 10 };
    EXPECT_ERR(pthread_create(&t, NULL, write_later, &l), 0);
    t0 = now_ns();
    n = recv(s, buf, 64, MSG_WAITALL);
    dt = ms_since(t0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    fprintf(stderr, "recv(MSG_WAITALL) with 10 of 64 bytes: %zd after %lld ms\n", n, dt);
    EXPECT(n, 10);
    CHECK(dt >= 300 && dt < 300 + LATE_MS, "recv(MSG_WAITALL) returned after %lld ms, expected 300", dt);
    close(c);
    close(s);
    if (failures == before)
        printf("ok data before the timeout is returned; MSG_WAITALL returns the partial count at the timeout\n");
}

static void accept_timeout(void)
{
    int before = failures;
    uint16_t port;
    int l = listener(&port);
    EXPECT(set_timeo(l, SO_RCVTIMEO, 200), 0);
    EXPECT_TIMEOUT(accept(l, NULL, NULL), 200);
    EXPECT_TIMEOUT(accept4(l, NULL, NULL, SOCK_CLOEXEC), 200);
    /* a connection arriving before the timeout */
    EXPECT(set_timeo(l, SO_RCVTIMEO, 1000), 0);
    struct later lt = { .ms = 50, .port = port };
    pthread_t t;
    long long t0 = now_ns(); /* before the connecting thread starts its nap */
    EXPECT_ERR(pthread_create(&t, NULL, connect_later, &lt), 0);
    int a = accept(l, NULL, NULL);
    long long dt = ms_since(t0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(a >= 0, "accept with SO_RCVTIMEO 1 s: %s", strerrorname_np(errno));
    CHECK(dt >= 50 && dt < 1000, "accept got a connection made at 50 ms after %lld ms", dt);
    /* the accepted socket inherits the listener's timeout (Linux) */
    EXPECT(get_timeo_us(a, SO_RCVTIMEO), 1000000);
    close(a);
    close(lt.result);
    close(l);
    if (failures == before)
        printf("ok SO_RCVTIMEO on a listener: accept times out with EAGAIN, or gets a connection\n");
}

/* reads fd to EOF; the byte count, or -1 on an error or a byte that is not 's' */
static long drain(int fd)
{
    static char buf[65536];
    long total = 0;
    for (int i = 0; i < 100000; i++) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return n == 0 ? total : -1;
        for (ssize_t k = 0; k < n; k++)
            if (buf[k] != 's')
                return -1;
        total += n;
    }
    return -1;
}

static void send_timeouts(void)
{
    int before = failures;
    char *big = malloc(BIG);
    if (!big) {
        printf("FAIL: malloc\n");
        failures++;
        return;
    }
    memset(big, 's', BIG);
    /* fixed buffers (no autotuning, which may open the window again a little later): once
     * the peer's receive buffer and our send buffer are full, nothing moves any more */
    uint16_t port;
    int l = listener(&port);
    int bufsz = 65536;
    EXPECT(setsockopt(l, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz), 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0, "accept: %s", strerrorname_np(errno));
    close(l);
    EXPECT(set_timeo(c, SO_SNDTIMEO, 200), 0);
    long long t0 = now_ns();
    ssize_t n = send(c, big, BIG, 0);
    long long dt = ms_since(t0);
    fprintf(stderr, "TCP send of %d bytes with SO_SNDTIMEO 200 ms: %zd after %lld ms\n", BIG, n, dt);
    CHECK(n > 0 && n < BIG, "TCP send of %d bytes to a peer that never reads = %zd (%s), expected a partial count",
          BIG, n, n < 0 ? strerrorname_np(errno) : "");
    CHECK(dt >= 200 && dt < 200 + LATE_MS, "the partial send returned after %lld ms, expected 200", dt);
    EXPECT_TIMEOUT(send(c, big, 1 << 20, 0), 200);
    EXPECT_TIMEOUT(write(c, big, 1 << 20), 200);
    /* the partial count is exactly what was sent */
    close(c);
    EXPECT(drain(s), n);
    close(s);

    int sp[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    EXPECT(set_timeo(sp[0], SO_SNDTIMEO, 200), 0);
    t0 = now_ns();
    n = write(sp[0], big, BIG);
    dt = ms_since(t0);
    fprintf(stderr, "UNIX write of %d bytes with SO_SNDTIMEO 200 ms: %zd after %lld ms\n", BIG, n, dt);
    CHECK(n > 0 && n < BIG, "UNIX write of %d bytes to a peer that never reads = %zd (%s), expected a partial count",
          BIG, n, n < 0 ? strerrorname_np(errno) : "");
    CHECK(dt >= 200 && dt < 200 + LATE_MS, "the partial write returned after %lld ms, expected 200", dt);
    EXPECT_TIMEOUT(send(sp[0], big, 1 << 20, 0), 200);
    close(sp[0]);
    EXPECT(drain(sp[1]), n);
    close(sp[1]);
    free(big);
    if (failures == before)
        printf("ok SO_SNDTIMEO 200 ms: a partial count, then EAGAIN (TCP and UNIX)\n");
}

static void no_timeout(void)
{
    int before = failures;
    int c, s;
    tcp_pair(&c, &s);
    EXPECT(set_timeo(s, SO_RCVTIMEO, 200), 0);
    EXPECT(set_timeo(s, SO_RCVTIMEO, 0), 0);
    recv_waits(s, c, 300, "SO_RCVTIMEO set back to {0,0}");
    EXPECT(set_timeo(s, SO_SNDTIMEO, 100), 0);
    recv_waits(s, c, 300, "only SO_SNDTIMEO 100 ms set");
    close(c);
    close(s);
    /* no default timeout */
    tcp_pair(&c, &s);
    recv_waits(s, c, 1500, "no timeout set");
    close(c);
    close(s);
    if (failures == before)
        printf("ok {0,0} is no timeout, SO_SNDTIMEO does not limit recv, no default timeout (1.5 s)\n");
}

/* Linux takes a negative tv_sec as "time out at once": setsockopt succeeds, getsockopt then
 * reads {0,0}, and a recv answers EAGAIN without waiting.  A writer thread sends a byte after
 * 500 ms so that an implementation reading {0,0} as "no timeout" fails instead of hanging. */
static void negative_timeout(void)
{
    int before = failures;
    int sp[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    struct timeval tv = { -1, 0 };
    EXPECT(setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    EXPECT(get_timeo_us(sp[0], SO_RCVTIMEO), 0);
    struct later l = { .fd = sp[1], .ms = 500, .len = 1 };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, write_later, &l), 0);
    char buf[8];
    long long t0 = now_ns();
    errno = 0;
    ssize_t n = recv(sp[0], buf, sizeof buf, 0);
    int e = errno;
    long long dt = ms_since(t0);
    CHECK(n == -1 && e == EAGAIN, "recv with a negative SO_RCVTIMEO = %zd (%s), expected -1 EAGAIN", n,
          n < 0 ? strerrorname_np(e) : "");
    CHECK(dt < 50, "recv with a negative SO_RCVTIMEO took %lld ms, expected an immediate EAGAIN", dt);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    close(sp[0]);
    close(sp[1]);
    if (failures == before)
        printf("ok a negative SO_RCVTIMEO reads back as {0,0} and times out at once\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    option_values();
    recv_timeouts();
    recv_before_timeout();
    accept_timeout();
    send_timeouts();
    no_timeout();
    negative_timeout();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
