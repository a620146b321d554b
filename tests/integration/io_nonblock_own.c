// blitz-timeout: 60
// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS (errno read through an address the compiler keeps across blocking calls)
// A program that manages O_NONBLOCK itself, on TCP sockets over 127.0.0.1, UNIX
// socketpairs and pipes.  Set through socket(SOCK_NONBLOCK), fcntl(F_SETFL),
// ioctl(FIONBIO), accept4(SOCK_NONBLOCK), pipe2(O_NONBLOCK) and socketpair
// (SOCK_NONBLOCK), each makes read/recv/accept and write-to-a-full-buffer answer
// EAGAIN at once (in well under 50 ms).  A non-blocking connect to a listener
// answers 0 or EINPROGRESS and completes (poll POLLOUT, SO_ERROR 0); after
// EINPROGRESS the next connect() answers 0 (Linux), a further one EISCONN.
// fcntl(F_GETFL) shows O_NONBLOCK exactly when the program set it: never right
// after socket(), accept() (also from a non-blocking listener), pipe(),
// socketpair(), dup(), nor after a blocking read, accept or write that had to
// wait; the other F_GETFL bits are the access mode alone.  O_NONBLOCK is per open
// file description (set through a dup()ed fd, it shows on the original), and per
// end of a pipe.  Turning it off again (fcntl, FIONBIO 0) makes calls block again:
// a read waits for a writer thread that writes 100 ms later (elapsed >= 100 ms).
// recv/send with MSG_DONTWAIT on a blocking socket answer EAGAIN and leave
// F_GETFL unchanged; the next plain recv blocks again.
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define QUICK_NS (50 * 1000000LL)
#define LATE_MS 800 /* how late a wait may end on a slow machine */

static long long ms_since(long long t0) { return (now_ns() - t0) / 1000000; }

/* O_NONBLOCK as F_GETFL shows it: 1, 0, or -1 when F_GETFL fails */
static int nb(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : !!(fl & O_NONBLOCK);
}

/* the F_GETFL bits other than O_NONBLOCK */
static int other_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fl & ~O_NONBLOCK;
}

static int set_nb(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* EXPECT_ERR on a call that must fail with EAGAIN at once */
#define EXPECT_EAGAIN_QUICK(call)                                                                  \
    do {                                                                                           \
        long long t0_ = now_ns();                                                                  \
        errno = 0;                                                                                 \
        long r_ = (long)(call);                                                                    \
        int e_ = errno;                                                                            \
        long long dt_ = now_ns() - t0_;                                                            \
        CHECK(r_ == -1 && (e_ == EAGAIN || e_ == EWOULDBLOCK), "%s = %ld (%s), expected -1 EAGAIN", \
              #call, r_, e_ ? strerrorname_np(e_) : "0");                                          \
        CHECK(dt_ < QUICK_NS, "%s took %lld ms, expected an immediate EAGAIN", #call,              \
              dt_ / 1000000);                                                                      \
    } while (0)

static int listener(uint16_t *port, int type_flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | type_flags, 0);
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

static struct sockaddr_in loop_addr(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loop_addr(port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("FAIL: connect: %s\n", strerrorname_np(errno));
        exit(1);
    }
    return fd;
}

/* a connected blocking TCP pair */
static void tcp_pair(int *c, int *s)
{
    uint16_t port;
    int l = listener(&port, 0);
    *c = connect_to(port);
    *s = accept(l, NULL, NULL);
    if (*s < 0) {
        printf("FAIL: accept: %s\n", strerrorname_np(errno));
        exit(1);
    }
    close(l);
}

/* --- helper threads ------------------------------------------------------------------------ */

struct later {
    int fd;
    int ms;
    uint16_t port; /* for connect_later */
    int result;
};

static void *write_later(void *arg)
{
    struct later *l = arg;
    nap_ms(l->ms);
    l->result = (int)write(l->fd, "z", 1);
    return NULL;
}

static void *connect_later(void *arg)
{
    struct later *l = arg;
    nap_ms(l->ms);
    l->result = connect_to(l->port);
    return NULL;
}

/* a read of 1 byte on fd that must wait for a thread writing it ms later */
static void blocking_read_waits(int rfd, int wfd, int ms, const char *what)
{
    struct later l = { .fd = wfd, .ms = ms };
    pthread_t t;
    long long t0 = now_ns(); /* before the writer starts its nap: it may run at once */
    EXPECT_ERR(pthread_create(&t, NULL, write_later, &l), 0);
    char c = 0;
    ssize_t n = read(rfd, &c, 1);
    long long dt = ms_since(t0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(n == 1 && c == 'z', "%s: blocking read = %zd (%s)", what, n, n < 0 ? strerrorname_np(errno) : "");
    CHECK(dt >= ms && dt < ms + LATE_MS, "%s: blocking read returned after %lld ms, expected %d ms",
          what, dt, ms);
    EXPECT(l.result, 1);
    EXPECT(nb(rfd), 0); /* after a blocking read that had to wait */
}

/* --- sections --------------------------------------------------------------------------------- */

static void fresh_fds_are_blocking(void)
{
    int before = failures;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT(nb(s), 0);
    EXPECT(other_flags(s), O_RDWR);
    int d = dup(s);
    EXPECT(nb(d), 0);
    close(d);
    close(s);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT(nb(u), 0);
    close(u);
    int sp[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    EXPECT(nb(sp[0]), 0);
    EXPECT(nb(sp[1]), 0);
    EXPECT(other_flags(sp[0]), O_RDWR);
    close(sp[0]);
    close(sp[1]);
    int p[2];
    EXPECT(pipe(p), 0);
    EXPECT(nb(p[0]), 0);
    EXPECT(nb(p[1]), 0);
    EXPECT(other_flags(p[0]), O_RDONLY);
    EXPECT(other_flags(p[1]), O_WRONLY);
    close(p[0]);
    close(p[1]);
    /* accept() from a blocking listener, and from a non-blocking one: never inherited */
    uint16_t port;
    int l = listener(&port, 0);
    int c = connect_to(port);
    int a = accept(l, NULL, NULL);
    EXPECT(nb(a), 0);
    EXPECT(other_flags(a), O_RDWR);
    EXPECT(nb(c), 0);
    close(a);
    close(c);
    EXPECT(set_nb(l, 1), 0);
    c = connect_to(port);
    struct pollfd pf = { l, POLLIN, 0 };
    EXPECT(poll(&pf, 1, 2000), 1);
    a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept on a ready non-blocking listener: %s", strerrorname_np(errno));
    EXPECT(nb(a), 0);
    EXPECT(nb(l), 1);
    close(a);
    close(c);
    close(l);
    if (failures == before)
        printf("ok socket(), socketpair(), pipe(), dup(), accept() give blocking fds\n");
}

static void sock_nonblock_and_accept4(void)
{
    int before = failures;
    uint16_t port;
    int l = listener(&port, SOCK_NONBLOCK);
    EXPECT(nb(l), 1);
    EXPECT(other_flags(l), O_RDWR);
    EXPECT_EAGAIN_QUICK(accept(l, NULL, NULL));
    EXPECT_EAGAIN_QUICK(accept4(l, NULL, NULL, SOCK_NONBLOCK));
    int c = connect_to(port);
    struct pollfd pf = { l, POLLIN, 0 };
    EXPECT(poll(&pf, 1, 2000), 1);
    int a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK(a >= 0, "accept4: %s", strerrorname_np(errno));
    EXPECT(nb(a), 1);
    EXPECT(fcntl(a, F_GETFD), FD_CLOEXEC);
    char buf[16];
    EXPECT_EAGAIN_QUICK(read(a, buf, sizeof buf));
    EXPECT_EAGAIN_QUICK(recv(a, buf, sizeof buf, 0));
    EXPECT_EAGAIN_QUICK(recvfrom(a, buf, sizeof buf, 0, NULL, NULL));
    struct iovec iov = { buf, sizeof buf };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    EXPECT_EAGAIN_QUICK(recvmsg(a, &mh, 0));
    EXPECT_EAGAIN_QUICK(readv(a, &iov, 1));
    /* data that is there is returned */
    EXPECT(write(c, "hi", 2), 2);
    pf = (struct pollfd){ a, POLLIN, 0 };
    EXPECT(poll(&pf, 1, 2000), 1);
    EXPECT(read(a, buf, sizeof buf), 2);
    EXPECT_EAGAIN_QUICK(read(a, buf, sizeof buf));
    EXPECT(nb(a), 1);
    EXPECT(nb(c), 0);
    close(a);
    close(c);
    close(l);
    if (failures == before)
        printf("ok socket(SOCK_NONBLOCK) and accept4(SOCK_NONBLOCK): EAGAIN at once\n");
}

static void fcntl_listener(void)
{
    int before = failures;
    uint16_t port;
    int l = listener(&port, 0);
    EXPECT(nb(l), 0);
    EXPECT(set_nb(l, 1), 0);
    EXPECT(nb(l), 1);
    EXPECT(other_flags(l), O_RDWR);
    EXPECT_EAGAIN_QUICK(accept(l, NULL, NULL));
    EXPECT(set_nb(l, 0), 0);
    EXPECT(nb(l), 0);
    /* blocking again: accept waits for a thread that connects 100 ms later */
    struct later lt = { .ms = 100, .port = port };
    pthread_t t;
    long long t0 = now_ns(); /* before the connecting thread starts its nap */
    EXPECT_ERR(pthread_create(&t, NULL, connect_later, &lt), 0);
    int a = accept(l, NULL, NULL);
    long long dt = ms_since(t0);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(a >= 0, "blocking accept: %s", strerrorname_np(errno));
    CHECK(dt >= 100 && dt < 100 + LATE_MS, "blocking accept returned after %lld ms, expected 100", dt);
    EXPECT(nb(l), 0); /* after a blocking accept that had to wait */
    EXPECT(nb(a), 0);
    close(a);
    close(lt.result);
    close(l);
    if (failures == before)
        printf("ok fcntl(F_SETFL, O_NONBLOCK) on a listener: EAGAIN; off again: accept blocks\n");
}

static void fionbio(void)
{
    int before = failures;
    int c, s;
    tcp_pair(&c, &s);
    int on = 1;
    EXPECT(ioctl(s, FIONBIO, &on), 0);
    EXPECT(nb(s), 1);
    EXPECT(other_flags(s), O_RDWR);
    EXPECT(nb(c), 0);
    char buf[8];
    EXPECT_EAGAIN_QUICK(read(s, buf, sizeof buf));
    EXPECT_EAGAIN_QUICK(recv(s, buf, sizeof buf, 0));
    int off = 0;
    EXPECT(ioctl(s, FIONBIO, &off), 0);
    EXPECT(nb(s), 0);
    blocking_read_waits(s, c, 100, "after FIONBIO 0");
    /* FIONBIO and fcntl see each other */
    EXPECT(ioctl(s, FIONBIO, &on), 0);
    EXPECT(set_nb(s, 0), 0);
    EXPECT(nb(s), 0);
    EXPECT(set_nb(s, 1), 0);
    EXPECT(ioctl(s, FIONBIO, &off), 0);
    EXPECT(nb(s), 0);
    blocking_read_waits(s, c, 100, "after fcntl on, FIONBIO 0");
    close(c);
    close(s);
    if (failures == before)
        printf("ok ioctl(FIONBIO): 1 gives EAGAIN, 0 makes read block again\n");
}

static void pipes(void)
{
    int before = failures;
    int p[2];
    EXPECT(pipe2(p, O_NONBLOCK), 0);
    EXPECT(nb(p[0]), 1);
    EXPECT(nb(p[1]), 1);
    EXPECT(other_flags(p[0]), O_RDONLY);
    EXPECT(other_flags(p[1]), O_WRONLY);
    char buf[4096];
    memset(buf, 'p', sizeof buf);
    EXPECT_EAGAIN_QUICK(read(p[0], buf, sizeof buf));
    long filled = 0;
    int i;
    for (i = 0; i < 100000; i++) {
        ssize_t w = write(p[1], buf, sizeof buf);
        if (w < 0)
            break;
        filled += w;
    }
    CHECK(i < 100000 && (errno == EAGAIN || errno == EWOULDBLOCK), "filling a non-blocking pipe: %d writes, %s",
          i, strerrorname_np(errno));
    EXPECT_EAGAIN_QUICK(write(p[1], buf, sizeof buf));
    EXPECT_EAGAIN_QUICK(write(p[1], buf, 1)); /* a pipe filled by whole pages has no room left */
    /* each end has its own file description: blocking the read end leaves the write end */
    EXPECT(set_nb(p[0], 0), 0);
    EXPECT(nb(p[0]), 0);
    EXPECT(nb(p[1]), 1);
    EXPECT_EAGAIN_QUICK(write(p[1], buf, sizeof buf));
    long drained = 0;
    while (drained < filled) {
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n <= 0)
            break;
        drained += n;
    }
    EXPECT(drained, filled);
    blocking_read_waits(p[0], p[1], 100, "pipe2(O_NONBLOCK) read end set blocking");
    EXPECT(nb(p[1]), 1);
    close(p[0]);
    close(p[1]);

    /* pipe(): blocking until the program sets O_NONBLOCK */
    EXPECT(pipe(p), 0);
    blocking_read_waits(p[0], p[1], 100, "pipe()");
    EXPECT(set_nb(p[0], 1), 0);
    EXPECT_EAGAIN_QUICK(read(p[0], buf, sizeof buf));
    EXPECT(nb(p[1]), 0);
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok pipe2(O_NONBLOCK) and fcntl on pipes: EAGAIN at once, per end\n");
}

/* the drainer for full_buffers(): reads `total` bytes starting 100 ms late */
struct drain {
    int fd;
    long total;
    long got;
};

static void *drain_later(void *arg)
{
    struct drain *d = arg;
    static char buf[65536];
    nap_ms(100);
    while (d->got < d->total) {
        ssize_t n = read(d->fd, buf, sizeof buf);
        if (n <= 0)
            break;
        d->got += n;
    }
    return NULL;
}

static void full_buffers(void)
{
    int before = failures;
    static char buf[65536];
    memset(buf, 'f', sizeof buf);
    int c, s;
    tcp_pair(&c, &s);
    EXPECT(set_nb(c, 1), 0);
    long filled = 0;
    int i;
    for (i = 0; i < 4000; i++) {
        ssize_t w = write(c, buf, sizeof buf);
        if (w < 0)
            break;
        filled += w;
    }
    CHECK(i < 4000 && (errno == EAGAIN || errno == EWOULDBLOCK), "filling a non-blocking TCP socket: %d writes, %s",
          i, strerrorname_np(errno));
    /* loopback may still move a little from the send to the receive buffer: fill to the brim */
    for (i = 0; i < 200; i++) {
        ssize_t w = write(c, buf, sizeof buf);
        if (w > 0) {
            filled += w;
            nap_ms(5);
            continue;
        }
        break;
    }
    EXPECT_EAGAIN_QUICK(write(c, buf, sizeof buf));
    EXPECT_EAGAIN_QUICK(send(c, buf, sizeof buf, 0));
    EXPECT_EAGAIN_QUICK(write(c, buf, 1));
    struct iovec iov = { buf, sizeof buf };
    EXPECT_EAGAIN_QUICK(writev(c, &iov, 1));
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    EXPECT_EAGAIN_QUICK(sendmsg(c, &mh, 0));
    EXPECT(set_nb(c, 0), 0);
    EXPECT(nb(c), 0);
    /* blocking again, still on a full buffer: MSG_DONTWAIT answers EAGAIN, F_GETFL unchanged */
    EXPECT_EAGAIN_QUICK(send(c, buf, sizeof buf, MSG_DONTWAIT));
    EXPECT(nb(c), 0);
    /* a blocking write that has to wait for a reader starting 100 ms later */
    struct drain d = { .fd = s, .total = filled + (long)sizeof buf };
    pthread_t t;
    long long t0 = now_ns(); /* before the reader starts its nap */
    EXPECT_ERR(pthread_create(&t, NULL, drain_later, &d), 0);
    ssize_t w = write(c, buf, sizeof buf);
    long long dt = ms_since(t0);
    EXPECT(w, (long)sizeof buf);
    CHECK(dt >= 100 && dt < 100 + LATE_MS, "blocking write on a full socket returned after %lld ms, expected 100", dt);
    EXPECT(nb(c), 0); /* after a blocking write that had to wait */
    EXPECT_ERR(pthread_join(t, NULL), 0);
    EXPECT(d.got, d.total);
    EXPECT(nb(s), 0);
    close(c);
    close(s);
    if (failures == before)
        printf("ok full TCP send buffer: EAGAIN at once when non-blocking, waits when blocking\n");
}

static void nonblocking_connect(void)
{
    int before = failures;
    uint16_t port;
    int l = listener(&port, 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    EXPECT(nb(c), 1);
    struct sockaddr_in a = loop_addr(port);
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    CHECK(r == 0 || (r == -1 && e == EINPROGRESS), "non-blocking connect = %d (%s)", r, strerrorname_np(e));
    struct pollfd pf = { c, POLLOUT, 0 };
    EXPECT(poll(&pf, 1, 2000), 1);
    EXPECT(pf.revents, POLLOUT);
    int err = -1;
    socklen_t len = sizeof err;
    EXPECT(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    EXPECT_ERR(err, 0);
    struct sockaddr_in peer;
    len = sizeof peer;
    EXPECT(getpeername(c, (struct sockaddr *)&peer, &len), 0);
    EXPECT(ntohs(peer.sin_port), port);
    EXPECT(nb(c), 1);
    int s = accept(l, NULL, NULL);
    CHECK(s >= 0, "accept: %s", strerrorname_np(errno));
    EXPECT(nb(s), 0);
    /* the connection works both ways */
    EXPECT(write(s, "ab", 2), 2);
    pf = (struct pollfd){ c, POLLIN, 0 };
    EXPECT(poll(&pf, 1, 2000), 1);
    char buf[4];
    EXPECT(read(c, buf, sizeof buf), 2);
    EXPECT_EAGAIN_QUICK(read(c, buf, sizeof buf));
    /* Linux: after EINPROGRESS, the next connect() reports the completed connection with 0
     * (the socket stays "connecting" until then), and only a further one says EISCONN */
    if (r == -1)
        EXPECT(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    errno = 0;
    EXPECT(connect(c, (struct sockaddr *)&a, sizeof a), -1);
    EXPECT_ERR(errno, EISCONN);
    close(c);
    close(s);
    close(l);
    if (failures == before)
        printf("ok non-blocking connect: 0 or EINPROGRESS, then POLLOUT and SO_ERROR 0\n");
}

static void msg_dontwait(void)
{
    int before = failures;
    int c, s;
    tcp_pair(&c, &s);
    char buf[8];
    EXPECT_EAGAIN_QUICK(recv(s, buf, sizeof buf, MSG_DONTWAIT));
    EXPECT(nb(s), 0);
    EXPECT(other_flags(s), O_RDWR);
    struct iovec iov = { buf, sizeof buf };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    EXPECT_EAGAIN_QUICK(recvmsg(s, &mh, MSG_DONTWAIT));
    EXPECT(nb(s), 0);
    blocking_read_waits(s, c, 100, "after recv(MSG_DONTWAIT)");
    close(c);
    close(s);
    /* the same on a UNIX socketpair */
    int sp[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    EXPECT_EAGAIN_QUICK(recv(sp[0], buf, sizeof buf, MSG_DONTWAIT));
    EXPECT(nb(sp[0]), 0);
    blocking_read_waits(sp[0], sp[1], 100, "socketpair after recv(MSG_DONTWAIT)");
    close(sp[0]);
    close(sp[1]);
    if (failures == before)
        printf("ok MSG_DONTWAIT on a blocking socket: EAGAIN, F_GETFL unchanged, still blocking\n");
}

static void socketpair_and_dup(void)
{
    int before = failures;
    int sp[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
    EXPECT(nb(sp[0]), 1);
    EXPECT(nb(sp[1]), 1);
    char buf[8];
    EXPECT_EAGAIN_QUICK(read(sp[0], buf, sizeof buf));
    EXPECT_EAGAIN_QUICK(recv(sp[1], buf, sizeof buf, 0));
    EXPECT(set_nb(sp[0], 0), 0);
    EXPECT(nb(sp[1]), 1);
    blocking_read_waits(sp[0], sp[1], 100, "socketpair(SOCK_NONBLOCK) end set blocking");
    close(sp[0]);
    close(sp[1]);

    /* O_NONBLOCK belongs to the open file description: dup() shares it */
    int c, s;
    tcp_pair(&c, &s);
    int d = dup(s);
    EXPECT(nb(d), 0);
    EXPECT(set_nb(d, 1), 0);
    EXPECT(nb(s), 1);
    EXPECT_EAGAIN_QUICK(read(s, buf, sizeof buf));
    EXPECT_EAGAIN_QUICK(read(d, buf, sizeof buf));
    int off = 0;
    EXPECT(ioctl(s, FIONBIO, &off), 0);
    EXPECT(nb(d), 0);
    blocking_read_waits(d, c, 100, "dup()ed fd after FIONBIO 0 on the original");
    int d2 = fcntl(s, F_DUPFD_CLOEXEC, 0);
    EXPECT(nb(d2), 0);
    EXPECT(set_nb(s, 1), 0);
    EXPECT(nb(d2), 1);
    EXPECT_EAGAIN_QUICK(recv(d2, buf, sizeof buf, 0));
    close(d2);
    close(d);
    close(c);
    close(s);
    if (failures == before)
        printf("ok socketpair(SOCK_NONBLOCK); O_NONBLOCK shared through dup() and F_DUPFD\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    fresh_fds_are_blocking();
    sock_nonblock_and_accept4();
    fcntl_listener();
    fionbio();
    pipes();
    full_buffers();
    nonblocking_connect();
    msg_dontwait();
    socketpair_and_dup();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
