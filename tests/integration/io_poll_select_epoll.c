// blitz-timeout: 60
// poll, ppoll, select, pselect, epoll_wait, epoll_pwait and epoll_pwait2 as a legacy
// program uses them, with the native results asserted exactly.
//  poll: a 150 ms timeout on an idle pipe returns 0 after >= 150 ms (and < +400 ms);
//    timeout 0 returns at once; -1 waits until a thread writes 100 ms later; revents
//    exact: POLLIN on data, POLLOUT on a writable end, POLLHUP on a pipe read end whose
//    writer closed (POLLIN|POLLHUP with data left), POLLOUT|POLLERR on a pipe write
//    end whose reader closed (POLLERR with events 0), POLLNVAL for a closed number
//    (counted), 0 for a negative fd (not counted), UNIX socket after the peer's
//    shutdown(SHUT_WR) POLLIN|POLLOUT|POLLRDHUP and after its close
//    POLLIN|POLLOUT|POLLHUP|POLLRDHUP, TCP after the peer's SHUT_WR POLLIN|POLLRDHUP,
//    TCP data without urgent data: no POLLPRI; with an urgent byte (MSG_OOB):
//    POLLPRI, then POLLIN|POLLPRI, and POLLIN only once the byte is read; six pipes of
//    which one is written 100 ms later: 1 with exactly that revents.
//  ppoll: timeout with a signal mask returns 0 after >= 120 ms and leaves the timespec
//    alone; with a mask and a NULL timeout, data ready: 1 with POLLIN.
//  select: read/write/except sets with ready and not-ready members: the count, and the
//    non-ready bits cleared; urgent data sets the except bit; a 150 ms timeout
//    returns 0 after >= 150 ms with the timeval updated (to 0: nothing left); woken
//    by data 300 ms into a 2 s timeout, the timeval holds the time left; EBADF
//    for a closed number in a set; nfds 0 with a timeout sleeps; pselect with a mask:
//    timeout (the timespec untouched), data ready with a NULL timeout.
//  epoll: epoll_ctl errors (EEXIST, ENOENT, EINVAL for the epoll fd itself, EPERM for a
//    regular file), epoll_wait maxevents 0 EINVAL; a thread running its own event loop
//    (epoll_wait -1) over 4 sockets fed by another thread, messages counted per
//    socket; level-triggered, EPOLLET (also a blocked epoll_wait woken by a new edge)
//    and EPOLLONESHOT (re-armed with EPOLL_CTL_MOD) semantics; timeout 150 ms exact,
//    timeout 0 at once; epoll_pwait with a mask (timeout); epoll_pwait2 with a
//    timespec (120 ms, {0,0}, NULL); EPOLLHUP for a pipe read end whose writer closed
//    (also waking a blocked epoll_wait), EPOLLOUT|EPOLLERR for a write end whose reader
//    closed, EPOLLIN|EPOLLOUT|EPOLLHUP|EPOLLRDHUP for a UNIX socket whose peer
//    closed; a closed registered fd is no longer reported.
//  Concurrently: 50 threads each waiting on its own pipe (by index: poll, select,
//    epoll_wait), written in a shuffled order: each wakes exactly once, after its
//    write, with exactly its own readiness and token.
//  (A pending signal that the mask of ppoll/pselect/epoll_pwait unblocks, EINTR: see
//  io_poll_signals.c.)
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
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

/* errno through calls the compiler cannot fold: __errno_location() is declared const, so a
 * function that used errno before a blocking call may keep its address across the call (the
 * address of another worker's errno under BLITZ_TLS=worker once the thread moved) */
static __attribute__((noinline)) int err_now(void) { return errno; }
static __attribute__((noinline)) void err_clear(void) { errno = 0; }

#define MS 1000000LL
#define LATE_MS 400 /* how late a timeout may end (a slow, shared 2-vCPU VM) */

/* --- helpers ------------------------------------------------------------------------------ */

static void check_timed_(int line, const char *what, long long elapsed, long want_ms)
{
    if (elapsed < want_ms * MS) {
        printf("FAIL: line %d: %s: returned after %.3f ms, before its %ld ms timeout\n", line, what,
               (double)elapsed / MS, want_ms);
        failures++;
    } else if (elapsed > (want_ms + LATE_MS) * MS) {
        printf("FAIL: line %d: %s: returned after %lld ms for a %ld ms timeout\n", line, what, elapsed / MS, want_ms);
        failures++;
    }
}
#define CHECK_TIMED(what, elapsed, want_ms) check_timed_(__LINE__, what, elapsed, want_ms)
#define CHECK_PROMPT(what, elapsed)                                                                \
    CHECK((elapsed) < LATE_MS * MS, "%s: took %lld ms, expected at once", what, (long long)(elapsed) / MS)

static void make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) != 0) {
        printf("FAIL: pipe2: %s\n", strerror(errno));
        exit(1);
    }
}

static void unix_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        printf("FAIL: socketpair: %s\n", strerror(errno));
        exit(1);
    }
}

/* a connected TCP pair over 127.0.0.1 (port 0): sv[0] connects, sv[1] is accepted */
static void tcp_pair(int sv[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0) {
        printf("FAIL: tcp listener: %s\n", strerror(errno));
        exit(1);
    }
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

/* a number that is surely not open */
static int free_number(int from)
{
    for (int fd = from; fd < from + 100; fd++)
        if (fcntl(fd, F_GETFD) < 0 && err_now() == EBADF)
            return fd;
    printf("FAIL: no free descriptor number from %d\n", from);
    exit(1);
}

/* a thread that writes (and/or closes) fd after ms milliseconds */
struct delayed {
    int fd;
    long ms;
    const char *msg;
    int close_it;
    pthread_t t;
};

static void *delayed_main(void *arg)
{
    struct delayed *d = arg;
    nap_ms(d->ms);
    if (d->msg && write(d->fd, d->msg, strlen(d->msg)) != (ssize_t)strlen(d->msg))
        fprintf(stderr, "delayed write: %s\n", strerror(errno));
    if (d->close_it)
        close(d->fd);
    return NULL;
}

static void delayed_start(struct delayed *d, int fd, long ms, const char *msg, int close_it)
{
    d->fd = fd;
    d->ms = ms;
    d->msg = msg;
    d->close_it = close_it;
    EXPECT_ERR(pthread_create(&d->t, NULL, delayed_main, d), 0);
}

static void delayed_join(struct delayed *d) { EXPECT_ERR(pthread_join(d->t, NULL), 0); }

static void drain(int fd)
{
    char b[256];
    struct pollfd p = { .fd = fd, .events = POLLIN };
    for (int i = 0; i < 1000 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN); i++)
        if (read(fd, b, sizeof b) <= 0)
            break;
}

/* the mask for ppoll/pselect/epoll_pwait: the current one plus SIGUSR1 (never raised) */
static sigset_t mask_with_usr1(void)
{
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    sigaddset(&m, SIGUSR1);
    return m;
}

/* --- poll --------------------------------------------------------------------------------- */

static void poll_timeouts(void)
{
    int before = failures;
    int p[2];
    make_pipe(p);
    struct pollfd pf = { .fd = p[0], .events = POLLIN, .revents = 0x7777 };
    long long t0 = now_ns();
    EXPECT(poll(&pf, 1, 150), 0);
    CHECK_TIMED("poll 150 ms on an idle pipe", now_ns() - t0, 150);
    EXPECT(pf.revents, 0);

    t0 = now_ns();
    EXPECT(poll(&pf, 1, 0), 0);
    CHECK_PROMPT("poll timeout 0", now_ns() - t0);

    struct delayed d;
    t0 = now_ns();
    delayed_start(&d, p[1], 100, "x", 0);
    EXPECT(poll(&pf, 1, -1), 1);
    long long el = now_ns() - t0;
    EXPECT(pf.revents, POLLIN);
    CHECK(el >= 100 * MS, "poll -1: returned after %lld ms, before the write", el / MS);
    delayed_join(&d);
    drain(p[0]);

    /* six pipes, one written 100 ms later */
    int q[6][2];
    struct pollfd pfs[6];
    for (int i = 0; i < 6; i++) {
        make_pipe(q[i]);
        pfs[i] = (struct pollfd){ .fd = q[i][0], .events = POLLIN | POLLPRI | POLLRDHUP, .revents = 0x7777 };
    }
    t0 = now_ns();
    delayed_start(&d, q[4][1], 100, "y", 0);
    EXPECT(poll(pfs, 6, 5000), 1);
    el = now_ns() - t0;
    for (int i = 0; i < 6; i++)
        CHECK(pfs[i].revents == (i == 4 ? POLLIN : 0), "poll on six pipes: revents[%d] = %#x", i, (unsigned)pfs[i].revents);
    CHECK(el >= 100 * MS, "poll on six pipes: returned after %lld ms, before the write", el / MS);
    delayed_join(&d);
    for (int i = 0; i < 6; i++) {
        close(q[i][0]);
        close(q[i][1]);
    }
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok poll timeouts (150 ms, 0, -1 until a write) and one of six pipes becoming readable\n");
}

static void poll_revents(void)
{
    int before = failures;
    int p[2], sv[2];
    struct pollfd pf;

    make_pipe(p);
    EXPECT(write(p[1], "data", 4), 4);
    pf = (struct pollfd){ .fd = p[0], .events = POLLIN | POLLOUT | POLLPRI };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLIN);
    pf = (struct pollfd){ .fd = p[1], .events = POLLIN | POLLOUT };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLOUT);
    /* writer closed, data left, then drained */
    close(p[1]);
    pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLIN | POLLHUP);
    drain(p[0]);
    pf = (struct pollfd){ .fd = p[0], .events = POLLIN | POLLOUT };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLHUP);
    pf = (struct pollfd){ .fd = p[0], .events = 0 };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLHUP);
    close(p[0]);

    /* reader closed */
    make_pipe(p);
    close(p[0]);
    pf = (struct pollfd){ .fd = p[1], .events = POLLOUT };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLOUT | POLLERR);
    pf = (struct pollfd){ .fd = p[1], .events = 0 };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLERR);
    close(p[1]);

    /* a closed number, a negative fd */
    make_pipe(p);
    EXPECT(write(p[1], "z", 1), 1);
    int closed = free_number(700);
    struct pollfd three[3] = {
        { .fd = closed, .events = POLLIN, .revents = 0x7777 },
        { .fd = -1, .events = POLLIN, .revents = 0x7777 },
        { .fd = p[0], .events = POLLIN, .revents = 0x7777 },
    };
    EXPECT(poll(three, 3, 0), 2);
    EXPECT(three[0].revents, POLLNVAL);
    EXPECT(three[1].revents, 0);
    EXPECT(three[2].revents, POLLIN);
    /* POLLNVAL even with a -1 timeout: no wait */
    long long t0 = now_ns();
    EXPECT(poll(three, 2, -1), 1);
    EXPECT(three[0].revents, POLLNVAL);
    CHECK_PROMPT("poll -1 on a closed number", now_ns() - t0);
    close(p[0]);
    close(p[1]);

    /* UNIX stream: peer shutdown(SHUT_WR), then peer closed */
    unix_pair(sv);
    EXPECT(shutdown(sv[1], SHUT_WR), 0);
    pf = (struct pollfd){ .fd = sv[0], .events = POLLIN | POLLOUT | POLLRDHUP | POLLPRI };
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLIN | POLLOUT | POLLRDHUP);
    close(sv[1]);
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLIN | POLLOUT | POLLHUP | POLLRDHUP);
    close(sv[0]);

    /* TCP: data without and with urgent data, then the peer's SHUT_WR */
    tcp_pair(sv);
    pf = (struct pollfd){ .fd = sv[1], .events = POLLIN | POLLPRI | POLLRDHUP };
    EXPECT(poll(&pf, 1, 0), 0);
    EXPECT(send(sv[0], "ab", 2, 0), 2);
    EXPECT(poll(&pf, 1, 2000), 1);
    EXPECT(pf.revents, POLLIN);
    EXPECT(send(sv[0], "!", 1, MSG_OOB), 1);
    pf.events = POLLPRI;
    EXPECT(poll(&pf, 1, 2000), 1);
    EXPECT(pf.revents, POLLPRI);
    pf.events = POLLIN | POLLPRI | POLLRDHUP;
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLIN | POLLPRI);
    /* select sees the urgent byte as an exceptional condition */
    fd_set rs, ws, es;
    FD_ZERO(&rs);
    FD_ZERO(&es);
    FD_SET(sv[1], &rs);
    FD_SET(sv[1], &es);
    struct timeval tv = { 0, 0 };
    EXPECT(select(sv[1] + 1, &rs, NULL, &es, &tv), 2);
    CHECK(FD_ISSET(sv[1], &rs) && FD_ISSET(sv[1], &es), "select with urgent data: read %d except %d",
          FD_ISSET(sv[1], &rs), FD_ISSET(sv[1], &es));
    char b[8];
    EXPECT(recv(sv[1], b, 1, MSG_OOB), 1);
    CHECK(b[0] == '!', "the urgent byte: %c", b[0]);
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLIN);
    FD_ZERO(&es);
    FD_SET(sv[1], &es);
    tv = (struct timeval){ 0, 0 };
    EXPECT(select(sv[1] + 1, NULL, NULL, &es, &tv), 0);
    CHECK(!FD_ISSET(sv[1], &es), "select: the except bit stayed after the urgent byte was read");
    EXPECT(recv(sv[1], b, sizeof b, 0), 2);
    EXPECT(shutdown(sv[0], SHUT_WR), 0);
    pf.events = POLLRDHUP;
    EXPECT(poll(&pf, 1, 2000), 1);
    pf.events = POLLIN | POLLPRI | POLLRDHUP;
    EXPECT(poll(&pf, 1, 0), 1);
    EXPECT(pf.revents, POLLIN | POLLRDHUP);
    close(sv[0]);
    close(sv[1]);
    (void)ws;
    if (failures == before)
        printf("ok poll revents: POLLIN POLLOUT POLLHUP POLLERR POLLNVAL POLLRDHUP POLLPRI, negative fd ignored\n");
}

static void ppoll_sigmask(void)
{
    int before = failures;
    int p[2];
    make_pipe(p);
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    struct timespec ts = { 0, 120 * MS };
    sigset_t m = mask_with_usr1();
    long long t0 = now_ns();
    EXPECT(ppoll(&pf, 1, &ts, &m), 0);
    CHECK_TIMED("ppoll 120 ms with a mask", now_ns() - t0, 120);
    CHECK(ts.tv_sec == 0 && ts.tv_nsec == 120 * MS, "ppoll changed its timespec to %ld.%09ld", (long)ts.tv_sec,
          ts.tv_nsec);

    /* NULL timeout with data */
    EXPECT(write(p[1], "d", 1), 1);
    EXPECT(ppoll(&pf, 1, NULL, &m), 1);
    EXPECT(pf.revents, POLLIN);
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok ppoll: timeout with a mask (timespec untouched), NULL timeout with data\n");
}

/* --- select ------------------------------------------------------------------------------- */

static void select_sets(void)
{
    int before = failures;
    int data[2], idle[2], full[2], sv[2];
    make_pipe(data);
    make_pipe(idle);
    make_pipe(full);
    tcp_pair(sv);
    EXPECT(write(data[1], "r", 1), 1);
    {
        static char chunk[4096];
        EXPECT(fcntl(full[1], F_SETFL, O_NONBLOCK), 0);
        for (int i = 0; i < 1000 && write(full[1], chunk, sizeof chunk) > 0; i++)
            ;
        for (int i = 0; i < 1000 && write(full[1], chunk, 1) > 0; i++)
            ;
        EXPECT(fcntl(full[1], F_SETFL, 0), 0);
    }
    fd_set rs, ws, es;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_ZERO(&es);
    FD_SET(data[0], &rs);
    FD_SET(idle[0], &rs);
    FD_SET(idle[1], &ws);
    FD_SET(full[1], &ws);
    FD_SET(sv[1], &es);
    FD_SET(data[0], &es);
    int nfds = 0;
    int all[] = { data[0], idle[0], idle[1], full[1], sv[1] };
    for (int i = 0; i < 5; i++)
        if (all[i] >= nfds)
            nfds = all[i] + 1;
    struct timeval tv = { 1, 0 };
    EXPECT(select(nfds, &rs, &ws, &es, &tv), 2);
    CHECK(FD_ISSET(data[0], &rs), "select: the readable pipe is not in readfds");
    CHECK(!FD_ISSET(idle[0], &rs), "select: the idle pipe stayed in readfds");
    CHECK(FD_ISSET(idle[1], &ws), "select: the writable pipe is not in writefds");
    CHECK(!FD_ISSET(full[1], &ws), "select: the full pipe stayed in writefds");
    CHECK(!FD_ISSET(sv[1], &es) && !FD_ISSET(data[0], &es), "select: exceptfds not cleared");
    for (int fd = 0; fd < nfds; fd++) {
        CHECK(!FD_ISSET(fd, &rs) || fd == data[0], "select: stray bit %d in readfds", fd);
        CHECK(!FD_ISSET(fd, &ws) || fd == idle[1], "select: stray bit %d in writefds", fd);
        CHECK(!FD_ISSET(fd, &es), "select: stray bit %d in exceptfds", fd);
    }

    /* EBADF for a closed number in a set (within the descriptor table: select ignores the
     * numbers past its end) */
    int closed = dup2(data[0], free_number(60));
    EXPECT(close(closed), 0);
    FD_ZERO(&rs);
    FD_SET(data[0], &rs);
    FD_SET(closed, &rs);
    tv = (struct timeval){ 1, 0 };
    err_clear();
    EXPECT(select(closed + 1, &rs, NULL, NULL, &tv), -1);
    EXPECT_ERR(err_now(), EBADF);

    int fds[] = { data[0], data[1], idle[0], idle[1], full[0], full[1], sv[0], sv[1] };
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    if (failures == before)
        printf("ok select: readfds/writefds/exceptfds count and cleared bits, EBADF\n");
}

static void select_timeouts(void)
{
    int before = failures;
    int p[2];
    make_pipe(p);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = { 0, 150000 };
    long long t0 = now_ns();
    EXPECT(select(p[0] + 1, &rs, NULL, NULL, &tv), 0);
    CHECK_TIMED("select 150 ms on an idle pipe", now_ns() - t0, 150);
    CHECK(!FD_ISSET(p[0], &rs), "select timed out but left the bit set");
    /* Linux leaves the time not slept: nothing, after a timeout */
    CHECK(tv.tv_sec == 0 && tv.tv_usec >= 0 && tv.tv_usec <= 5000, "select timed out and left timeval %ld.%06ld",
          (long)tv.tv_sec, (long)tv.tv_usec);

    /* woken 300 ms into a 2 s timeout: the timeval holds the time left, 2 s less the time
     * select took (measured around the call: up to 20 ms less, 100 ms more for the time
     * between now_ns() and the call on a loaded machine) */
    struct delayed d;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    tv = (struct timeval){ 2, 0 };
    delayed_start(&d, p[1], 300, "s", 0);
    t0 = now_ns();
    EXPECT(select(p[0] + 1, &rs, NULL, NULL, &tv), 1);
    long long el = now_ns() - t0;
    delayed_join(&d);
    CHECK(FD_ISSET(p[0], &rs), "select: the written pipe is not in readfds");
    long long left = tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
    CHECK(left >= 0 && left <= 2000 * MS && left >= 2000 * MS - el - 20 * MS && left <= 2000 * MS - el + 100 * MS,
          "select: %ld.%06ld left of 2 s after %lld ms", (long)tv.tv_sec, (long)tv.tv_usec, el / MS);
    drain(p[0]);

    /* nfds 0: a sleep */
    tv = (struct timeval){ 0, 120000 };
    t0 = now_ns();
    EXPECT(select(0, NULL, NULL, NULL, &tv), 0);
    CHECK_TIMED("select(0, NULL, NULL, NULL, 120 ms)", now_ns() - t0, 120);
    tv = (struct timeval){ 0, 0 };
    t0 = now_ns();
    EXPECT(select(0, NULL, NULL, NULL, &tv), 0);
    CHECK_PROMPT("select with a zero timeval", now_ns() - t0);

    /* pselect: timeout with a mask; the timespec is not changed */
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timespec ts = { 0, 120 * MS };
    sigset_t m = mask_with_usr1();
    t0 = now_ns();
    EXPECT(pselect(p[0] + 1, &rs, NULL, NULL, &ts, &m), 0);
    CHECK_TIMED("pselect 120 ms with a mask", now_ns() - t0, 120);
    CHECK(ts.tv_sec == 0 && ts.tv_nsec == 120 * MS, "pselect changed its timespec to %ld.%09ld", (long)ts.tv_sec,
          ts.tv_nsec);
    /* data ready, NULL timeout */
    EXPECT(write(p[1], "t", 1), 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    EXPECT(pselect(p[0] + 1, &rs, NULL, NULL, NULL, &m), 1);
    CHECK(FD_ISSET(p[0], &rs), "pselect: the readable pipe is not in readfds");
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok select/pselect timeouts, time left in the timeval, sleep with nfds 0, pselect mask\n");
}

/* --- epoll -------------------------------------------------------------------------------- */

static void epoll_errors(void)
{
    int before = failures;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1: %s", strerror(errno));
    EXPECT(fcntl(ep, F_GETFD), FD_CLOEXEC);
    int p[2];
    make_pipe(p);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 1 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    err_clear();
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), -1);
    EXPECT_ERR(err_now(), EEXIST);
    err_clear();
    EXPECT(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL), -1);
    EXPECT_ERR(err_now(), ENOENT);
    err_clear();
    EXPECT(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), -1);
    EXPECT_ERR(err_now(), ENOENT);
    err_clear();
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), -1);
    EXPECT_ERR(err_now(), EINVAL);
    int reg = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    err_clear();
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev), -1);
    EXPECT_ERR(err_now(), EPERM);
    close(reg);
    int closed = free_number(700);
    err_clear();
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, closed, &ev), -1);
    EXPECT_ERR(err_now(), EBADF);
    err_clear();
    EXPECT(epoll_wait(ep, &ev, 0, 0), -1);
    EXPECT_ERR(err_now(), EINVAL);
    err_clear();
    EXPECT(epoll_create1(0x1234), -1);
    EXPECT_ERR(err_now(), EINVAL);
    EXPECT(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    err_clear();
    EXPECT(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), -1);
    EXPECT_ERR(err_now(), ENOENT);
    close(p[0]);
    close(p[1]);
    close(ep);
    if (failures == before)
        printf("ok epoll_ctl/epoll_wait/epoll_create1 errors: EEXIST ENOENT EINVAL EPERM EBADF\n");
}

#define LOOP_SOCKS 4
#define LOOP_MSGS 12

struct loop {
    int sv[LOOP_SOCKS][2];
    int got[LOOP_SOCKS];      /* messages per socket */
    int wrong;                /* message on the wrong socket */
    int waits;
    long long first_wake;     /* ns after start */
    long long t0;
};

static void *loop_main(void *arg)
{
    struct loop *L = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < LOOP_SOCKS; i++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        TCHECK(epoll_ctl(ep, EPOLL_CTL_ADD, L->sv[i][0], &ev) == 0, "loop: epoll_ctl ADD %d: %s", i, strerror(errno));
    }
    int total = 0;
    for (L->waits = 0; total < LOOP_MSGS && L->waits < 100; L->waits++) {
        struct epoll_event evs[LOOP_SOCKS];
        int n = epoll_wait(ep, evs, LOOP_SOCKS, -1);
        if (L->waits == 0)
            L->first_wake = now_ns() - L->t0;
        TCHECK(n >= 1 && n <= LOOP_SOCKS, "loop: epoll_wait returned %d (%s)", n, n < 0 ? strerror(errno) : "-");
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32;
            TCHECK(i < LOOP_SOCKS && evs[k].events == EPOLLIN, "loop: event %#x for %u", evs[k].events, i);
            if (i >= LOOP_SOCKS)
                continue;
            char b[8 * LOOP_MSGS];
            ssize_t r = read(L->sv[i][0], b, sizeof b);
            TCHECK(r > 0 && r % 4 == 0, "loop: read %zd on socket %u", r, i);
            for (ssize_t j = 0; j + 4 <= r; j += 4) {
                if (b[j] != 'm' || b[j + 1] != (char)('0' + i))
                    L->wrong++;
                L->got[i]++;
                total++;
            }
        }
    }
    close(ep);
    return NULL;
}

static void epoll_loop(void)
{
    int before = failures;
    static struct loop L;
    memset(&L, 0, sizeof L);
    for (int i = 0; i < LOOP_SOCKS; i++)
        unix_pair(L.sv[i]);
    static const int order[LOOP_MSGS] = { 2, 0, 3, 1, 2, 2, 0, 3, 1, 1, 3, 0 };
    int want[LOOP_SOCKS] = { 0 };
    pthread_t t;
    L.t0 = now_ns();
    EXPECT_ERR(pthread_create(&t, NULL, loop_main, &L), 0);
    nap_ms(100);
    for (int k = 0; k < LOOP_MSGS; k++) {
        int i = order[k];
        char m[4] = { 'm', (char)('0' + i), (char)('a' + k), '.' };
        EXPECT(write(L.sv[i][1], m, 4), 4);
        want[i]++;
        if (k % 3 == 2)
            nap_ms(10);
    }
    EXPECT_ERR(pthread_join(t, NULL), 0);
    for (int i = 0; i < LOOP_SOCKS; i++)
        CHECK(L.got[i] == want[i], "epoll loop: %d messages on socket %d, expected %d", L.got[i], i, want[i]);
    EXPECT(L.wrong, 0);
    CHECK(L.first_wake >= 100 * MS, "epoll loop: first epoll_wait(-1) returned after %lld ms, before any write",
          L.first_wake / MS);
    for (int i = 0; i < LOOP_SOCKS; i++) {
        close(L.sv[i][0]);
        close(L.sv[i][1]);
    }
    if (failures == before)
        printf("ok a thread's epoll loop (epoll_wait -1) over %d sockets: %d messages, each on its socket\n", LOOP_SOCKS,
               LOOP_MSGS);
}

static int epoll_one(int ep, int timeout, struct epoll_event *out)
{
    struct epoll_event evs[4];
    int n = epoll_wait(ep, evs, 4, timeout);
    if (n >= 1 && out)
        *out = evs[0];
    return n;
}

struct ewait {
    int ep;
    int timeout;
    int n;
    struct epoll_event ev;
    long long t_ret;
    pthread_t t;
};

static void *ewait_main(void *arg)
{
    struct ewait *w = arg;
    w->n = epoll_one(w->ep, w->timeout, &w->ev);
    w->t_ret = now_ns();
    return NULL;
}

static void epoll_modes(void)
{
    int before = failures;
    int p[2];
    struct epoll_event ev, out;

    /* level-triggered: reported while data is there */
    make_pipe(p);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0x1122334455667788ULL };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    EXPECT(epoll_one(ep, 0, NULL), 0);
    EXPECT(write(p[1], "lt", 2), 2);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLIN);
    CHECK(out.data.u64 == 0x1122334455667788ULL, "epoll: data.u64 %#llx", (unsigned long long)out.data.u64);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(epoll_one(ep, 100, &out), 1);
    drain(p[0]);
    EXPECT(epoll_one(ep, 0, NULL), 0);

    /* edge-triggered: once per new write */
    ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u32 = 7 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), 0);
    EXPECT(write(p[1], "e1", 2), 2);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLIN);
    EXPECT(out.data.u32, 7);
    EXPECT(epoll_one(ep, 0, NULL), 0); /* data still there, no new edge */
    EXPECT(write(p[1], "e2", 2), 2);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(epoll_one(ep, 0, NULL), 0);
    /* a blocked epoll_wait woken by a new edge 100 ms later, old data still unread */
    struct ewait w = { .ep = ep, .timeout = 5000 };
    long long t0 = now_ns();
    EXPECT_ERR(pthread_create(&w.t, NULL, ewait_main, &w), 0);
    nap_ms(100);
    EXPECT(write(p[1], "e3", 2), 2);
    EXPECT_ERR(pthread_join(w.t, NULL), 0);
    EXPECT(w.n, 1);
    EXPECT(w.ev.events, EPOLLIN);
    CHECK(w.t_ret - t0 >= 100 * MS && w.t_ret - t0 < 5000 * MS, "epoll ET: the blocked wait returned after %lld ms",
          (w.t_ret - t0) / MS);
    char b[16];
    EXPECT(read(p[0], b, sizeof b), 6);

    /* one-shot: disabled after one report until re-armed */
    ev = (struct epoll_event){ .events = EPOLLIN | EPOLLONESHOT, .data.u32 = 9 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), 0);
    EXPECT(write(p[1], "o1", 2), 2);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.data.u32, 9);
    EXPECT(epoll_one(ep, 0, NULL), 0);
    EXPECT(write(p[1], "o2", 2), 2);
    EXPECT(epoll_one(ep, 100, NULL), 0);
    EXPECT(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), 0);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLIN);
    EXPECT(epoll_one(ep, 0, NULL), 0);
    drain(p[0]);

    /* timeouts */
    ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), 0);
    t0 = now_ns();
    EXPECT(epoll_one(ep, 150, NULL), 0);
    CHECK_TIMED("epoll_wait 150 ms", now_ns() - t0, 150);
    t0 = now_ns();
    EXPECT(epoll_one(ep, 0, NULL), 0);
    CHECK_PROMPT("epoll_wait timeout 0", now_ns() - t0);

    /* epoll_pwait: timeout with a mask */
    struct epoll_event evs[2];
    sigset_t m = mask_with_usr1();
    t0 = now_ns();
    EXPECT(epoll_pwait(ep, evs, 2, 120, &m), 0);
    CHECK_TIMED("epoll_pwait 120 ms with a mask", now_ns() - t0, 120);

    /* epoll_pwait2: a timespec */
    struct timespec ts = { 0, 120 * MS };
    t0 = now_ns();
    EXPECT(epoll_pwait2(ep, evs, 2, &ts, NULL), 0);
    CHECK_TIMED("epoll_pwait2 120 ms", now_ns() - t0, 120);
    ts = (struct timespec){ 0, 0 };
    t0 = now_ns();
    EXPECT(epoll_pwait2(ep, evs, 2, &ts, NULL), 0);
    CHECK_PROMPT("epoll_pwait2 {0, 0}", now_ns() - t0);
    struct delayed d;
    t0 = now_ns();
    delayed_start(&d, p[1], 100, "p2", 0);
    EXPECT(epoll_pwait2(ep, evs, 2, NULL, &m), 1);
    CHECK(now_ns() - t0 >= 100 * MS, "epoll_pwait2 NULL: returned before the write");
    EXPECT(evs[0].events, EPOLLIN);
    delayed_join(&d);
    drain(p[0]);

    /* a closed registered fd (its only reference) is no longer reported */
    EXPECT(write(p[1], "gone", 4), 4);
    EXPECT(epoll_one(ep, 0, NULL), 1);
    EXPECT(close(p[0]), 0);
    EXPECT(epoll_one(ep, 0, NULL), 0);
    close(p[1]);
    close(ep);
    if (failures == before)
        printf("ok epoll level-triggered, EPOLLET, EPOLLONESHOT, timeouts, epoll_pwait mask, epoll_pwait2\n");
}

static void epoll_hup_err(void)
{
    int before = failures;
    int p[2], q[2], sv[2];
    struct epoll_event ev, out;
    int ep = epoll_create1(EPOLL_CLOEXEC);

    /* a blocked epoll_wait woken by the writer's close: EPOLLHUP alone */
    make_pipe(p);
    ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    struct delayed d;
    long long t0 = now_ns();
    delayed_start(&d, p[1], 100, NULL, 1);
    EXPECT(epoll_one(ep, 5000, &out), 1);
    CHECK(now_ns() - t0 >= 100 * MS, "epoll: EPOLLHUP reported before the close");
    EXPECT(out.events, EPOLLHUP);
    EXPECT(out.data.u32, 1);
    delayed_join(&d);
    EXPECT(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), 0);
    close(p[0]);

    /* write end whose reader closed */
    make_pipe(q);
    close(q[0]);
    ev = (struct epoll_event){ .events = EPOLLOUT, .data.u32 = 2 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, q[1], &ev), 0);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLOUT | EPOLLERR);
    ev = (struct epoll_event){ .events = 0, .data.u32 = 2 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_MOD, q[1], &ev), 0);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLERR);
    EXPECT(epoll_ctl(ep, EPOLL_CTL_DEL, q[1], NULL), 0);
    close(q[1]);

    /* UNIX socket whose peer closed */
    unix_pair(sv);
    ev = (struct epoll_event){ .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = 3 };
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLOUT);
    EXPECT(shutdown(sv[1], SHUT_WR), 0);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    close(sv[1]);
    EXPECT(epoll_one(ep, 0, &out), 1);
    EXPECT(out.events, EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLRDHUP);
    close(sv[0]);
    close(ep);
    if (failures == before)
        printf("ok epoll EPOLLHUP (also waking a blocked wait), EPOLLERR, EPOLLRDHUP as native\n");
}

/* --- many waiters at once ------------------------------------------------------------------- */

#define NW 50

static int wp[NW][2];
static int ready_count;     /* atomic */
static int written[NW];     /* atomic: set before the write */
static int woke_rank[NW];
static int rank_next;       /* atomic */

static void *waiter_main(void *arg)
{
    int i = (int)(intptr_t)arg;
    int fd = wp[i][0];
    int ok = 0;
    __atomic_fetch_add(&ready_count, 1, __ATOMIC_RELEASE);
    if (i % 3 == 0) {
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        int n = poll(&pf, 1, 20000);
        ok = n == 1 && pf.revents == POLLIN;
        TCHECK(ok, "waiter %d: poll %d revents %#x", i, n, (unsigned)pf.revents);
    } else if (i % 3 == 1) {
        fd_set rs;
        FD_ZERO(&rs);
        FD_SET(fd, &rs);
        struct timeval tv = { 20, 0 };
        int n = select(fd + 1, &rs, NULL, NULL, &tv);
        ok = n == 1 && FD_ISSET(fd, &rs);
        TCHECK(ok, "waiter %d: select %d", i, n);
    } else {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i }, out = { 0 };
        TCHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "waiter %d: epoll_ctl", i);
        int n = epoll_wait(ep, &out, 1, 20000);
        ok = n == 1 && out.events == EPOLLIN && out.data.u32 == (uint32_t)i;
        TCHECK(ok, "waiter %d: epoll_wait %d events %#x data %u", i, n, out.events, out.data.u32);
        close(ep);
    }
    TCHECK(__atomic_load_n(&written[i], __ATOMIC_ACQUIRE), "waiter %d woke before its pipe was written", i);
    woke_rank[i] = __atomic_fetch_add(&rank_next, 1, __ATOMIC_RELAXED);
    unsigned char tok = 0;
    TCHECK(read(fd, &tok, 1) == 1 && tok == (unsigned char)(i * 5 + 1), "waiter %d: token %u", i, tok);
    return NULL;
}

static void many_waiters(void)
{
    int before = failures;
    pthread_t t[NW];
    int order[NW];
    for (int i = 0; i < NW; i++) {
        make_pipe(wp[i]);
        order[i] = i;
    }
    unsigned seed = 4242;
    for (int i = NW - 1; i > 0; i--) {
        int j = (int)(lcg_next(&seed) % (unsigned)(i + 1));
        int tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    for (int i = 0; i < NW; i++)
        EXPECT_ERR(pthread_create(&t[i], NULL, waiter_main, (void *)(intptr_t)i), 0);
    for (int k = 0; k < 2000 && __atomic_load_n(&ready_count, __ATOMIC_ACQUIRE) < NW; k++)
        nap_ms(2);
    nap_ms(50); /* let them block */
    for (int k = 0; k < NW; k++) {
        int i = order[k];
        __atomic_store_n(&written[i], 1, __ATOMIC_RELEASE);
        unsigned char tok = (unsigned char)(i * 5 + 1);
        EXPECT(write(wp[i][1], &tok, 1), 1);
        if (k % 5 == 4)
            nap_ms(1);
        else
            sched_yield();
    }
    for (int i = 0; i < NW; i++)
        EXPECT_ERR(pthread_join(t[i], NULL), 0);
    EXPECT(rank_next, NW);
    int seen[NW] = { 0 };
    for (int i = 0; i < NW; i++)
        if (woke_rank[i] >= 0 && woke_rank[i] < NW)
            seen[woke_rank[i]]++;
    for (int r = 0; r < NW; r++)
        CHECK(seen[r] == 1, "rank %d taken %d times", r, seen[r]);
    for (int i = 0; i < NW; i++) {
        close(wp[i][0]);
        close(wp[i][1]);
    }
    if (failures == before)
        printf("ok %d threads waiting at once in poll/select/epoll_wait, each woken once by its own write\n", NW);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    poll_timeouts();
    poll_revents();
    ppoll_sigmask();
    select_sets();
    select_timeouts();
    epoll_errors();
    epoll_loop();
    epoll_modes();
    epoll_hup_err();
    many_waiters();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
