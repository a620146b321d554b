// blitz-timeout: 60
// dup, dup2, dup3 and F_DUPFD(_CLOEXEC) of UNIX stream sockets and pipes.
//  - data written to the peer is readable through any duplicate, also by a thread
//    blocked in read() on a duplicate (woken by a write 100 ms later), and data
//    written through a duplicate reaches the peer;
//  - O_NONBLOCK belongs to the shared file description: set through one number
//    (fcntl F_SETFL, and ioctl FIONBIO) it shows in F_GETFL of every duplicate
//    (exact values: socket O_RDWR, pipe ends O_RDONLY / O_WRONLY) and makes reads
//    through all of them fail with EAGAIN; cleared, reads through all of them block
//    again (a thread blocked on a duplicate is woken by a write 100 ms later);
//  - FD_CLOEXEC (F_GETFD) is per number: dup/dup2 clear it, dup3(O_CLOEXEC) and
//    F_DUPFD_CLOEXEC set it, F_SETFD on one number leaves the others alone;
//  - closing one duplicate does not close the file: the peer sees EOF (a thread
//    blocked reading on the peer wakes with 0) only when the last one is closed,
//    and shutdown() through a duplicate acts on the shared socket;
//  - dup2(newfile, N) while another thread is blocked reading on N: natively the
//    reader keeps waiting on the old file (the close inside dup2 does not wake it);
//    a shim may end its wait with EBADF instead.  The reader must never return the
//    bytes written to the new file now at N, and must return once the old file's
//    peer writes "OLD" and closes (200 ms later); accepted: "OLD", EOF, EBADF.  The
//    bytes of the new file are then read through N.
//  - errors: dup2(fd, fd) returns fd, dup2 of a closed or negative number EBADF (and
//    the target stays open), dup2 to -1 or past RLIMIT_NOFILE EBADF, dup3(fd, fd, 0)
//    EINVAL, dup3 with unknown flags EINVAL, F_DUPFD with a negative minimum EINVAL,
//    close of a closed number EBADF.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

/* errno through calls the compiler cannot fold: __errno_location() is declared const, so a
 * function that used errno before a blocking call may keep its address across the call (the
 * address of another worker's errno under BLITZ_TLS=worker once the thread moved) */
static __attribute__((noinline)) int err_now(void) { return errno; }
static __attribute__((noinline)) void err_clear(void) { errno = 0; }

#define MS 1000000LL

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
    printf("FAIL: %s: the blocked reader did not return within the time limit\n", what);
    printf("FAILED\n");
    fflush(stdout);
    _exit(1);
}

/* a number that is surely not open: high, away from what the program (or a runtime under
 * it) allocates from the bottom */
static int free_number(int from)
{
    for (int fd = from; fd < from + 100; fd++)
        if (fcntl(fd, F_GETFD) < 0 && err_now() == EBADF)
            return fd;
    printf("FAIL: no free descriptor number from %d\n", from);
    exit(1);
}

/* --- a reader thread ---------------------------------------------------------------------- */

struct reader {
    int fd;
    ssize_t n;
    int err;
    char buf[64];
    int done;       /* atomic */
    int flag_at_ret; /* value of *watch when read returned */
    int *watch;
    pthread_t t;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    err_clear();
    r->n = read(r->fd, r->buf, sizeof r->buf - 1);
    r->err = r->n < 0 ? err_now() : 0;
    r->buf[r->n > 0 ? r->n : 0] = 0;
    if (r->watch)
        r->flag_at_ret = __atomic_load_n(r->watch, __ATOMIC_ACQUIRE);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void reader_start(struct reader *r, int fd, int *watch)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->watch = watch;
    EXPECT_ERR(pthread_create(&r->t, NULL, reader_main, r), 0);
}

static void reader_join(struct reader *r, const char *what)
{
    if (!wait_flag(&r->done, 5000))
        give_up(what);
    EXPECT_ERR(pthread_join(r->t, NULL), 0);
}

/* a thread blocked reading on rfd gets msg, written to wfd 100 ms later */
static void blocked_read_via(const char *what, int rfd, int wfd, const char *msg)
{
    struct reader r;
    reader_start(&r, rfd, NULL);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "%s: read returned before the write (%zd, %s)", what,
          r.n, r.n < 0 ? strerrorname_np(r.err) : "-");
    EXPECT(write(wfd, msg, strlen(msg)), (long)strlen(msg));
    reader_join(&r, what);
    CHECK(r.n == (ssize_t)strlen(msg) && strcmp(r.buf, msg) == 0, "%s: read returned %zd (%s) \"%s\"", what, r.n,
          r.n < 0 ? strerrorname_np(r.err) : "-", r.buf);
}

static int read_is(int fd, const char *want)
{
    char b[64];
    ssize_t n = read(fd, b, sizeof b - 1);
    if (n < 0)
        return 0;
    b[n] = 0;
    return strcmp(b, want) == 0;
}

/* --- the parts ---------------------------------------------------------------------------- */

static void data_through_dups(void)
{
    int before = failures;
    int sv[2], p[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EXPECT(pipe(p), 0);

    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int d1 = dup(sv[0]);
    int d2 = fcntl(sv[0], F_DUPFD, 50);
    int d3 = dup3(sv[0], nul, O_CLOEXEC); /* replaces an open number */
    int y = free_number(600);
    int d4 = dup2(sv[0], y);
    CHECK(d1 >= 0 && d2 >= 50 && d3 == nul && d4 == y, "dups %d %d %d %d", d1, d2, d3, d4);
    int dups[5] = { sv[0], d1, d2, d3, d4 };
    char msg[16];
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof msg, "to-%d", i);
        EXPECT(write(sv[1], msg, strlen(msg)), (long)strlen(msg));
        CHECK(read_is(dups[i], msg), "socket: read through duplicate %d did not return \"%s\"", i, msg);
        snprintf(msg, sizeof msg, "from-%d", i);
        EXPECT(write(dups[i], msg, strlen(msg)), (long)strlen(msg));
        CHECK(read_is(sv[1], msg), "socket: the peer did not read \"%s\" written through duplicate %d", msg, i);
    }
    blocked_read_via("socket: blocked read through dup()", d1, sv[1], "wake-d1");
    blocked_read_via("socket: blocked read through dup3()", d3, sv[1], "wake-d3");
    blocked_read_via("socket: blocked read through the original", sv[0], sv[1], "wake-orig");

    int pr = dup(p[0]), pw = dup(p[1]);
    EXPECT(write(pw, "pipe-a", 6), 6);
    CHECK(read_is(p[0], "pipe-a"), "pipe: read through the original");
    EXPECT(write(p[1], "pipe-b", 6), 6);
    CHECK(read_is(pr, "pipe-b"), "pipe: read through dup()");
    blocked_read_via("pipe: blocked read through dup()", pr, p[1], "wake-pr");
    blocked_read_via("pipe: blocked read through the original, written via dup()", p[0], pw, "wake-pw");

    for (int i = 1; i < 5; i++)
        EXPECT(close(dups[i]), 0);
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
    close(pr);
    close(pw);
    if (failures == before)
        printf("ok data through dup/dup2/dup3/F_DUPFD duplicates of a socket and a pipe\n");
}

static void nonblock_shared(void)
{
    int before = failures;
    int sv[2], p[2];
    char b[16];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EXPECT(pipe(p), 0);
    int d = dup(sv[0]);
    int e = dup2(sv[0], free_number(600));
    int pr = dup(p[0]);

    EXPECT(fcntl(sv[0], F_GETFL), O_RDWR);
    EXPECT(fcntl(d, F_GETFL), O_RDWR);
    EXPECT(fcntl(p[0], F_GETFL), O_RDONLY);
    EXPECT(fcntl(pr, F_GETFL), O_RDONLY);
    EXPECT(fcntl(p[1], F_GETFL), O_WRONLY);

    /* set through one duplicate: seen through all of them */
    EXPECT(fcntl(d, F_SETFL, fcntl(d, F_GETFL) | O_NONBLOCK), 0);
    EXPECT(fcntl(sv[0], F_GETFL), O_RDWR | O_NONBLOCK);
    EXPECT(fcntl(d, F_GETFL), O_RDWR | O_NONBLOCK);
    EXPECT(fcntl(e, F_GETFL), O_RDWR | O_NONBLOCK);
    err_clear();
    EXPECT(read(sv[0], b, sizeof b), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    err_clear();
    EXPECT(read(d, b, sizeof b), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    err_clear();
    EXPECT(recv(e, b, sizeof b, 0), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    /* cleared through another: all block again */
    EXPECT(fcntl(e, F_SETFL, fcntl(e, F_GETFL) & ~O_NONBLOCK), 0);
    EXPECT(fcntl(sv[0], F_GETFL), O_RDWR);
    EXPECT(fcntl(d, F_GETFL), O_RDWR);
    blocked_read_via("socket: blocked read on a dup after O_NONBLOCK was cleared through another", d, sv[1], "again");
    blocked_read_via("socket: blocked read on the original after O_NONBLOCK was cleared", sv[0], sv[1], "again2");

    /* the same with ioctl(FIONBIO) */
    int on = 1;
    EXPECT(ioctl(e, FIONBIO, &on), 0);
    EXPECT(fcntl(sv[0], F_GETFL), O_RDWR | O_NONBLOCK);
    EXPECT(fcntl(d, F_GETFL), O_RDWR | O_NONBLOCK);
    err_clear();
    EXPECT(read(d, b, sizeof b), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    on = 0;
    EXPECT(ioctl(sv[0], FIONBIO, &on), 0);
    EXPECT(fcntl(e, F_GETFL), O_RDWR);
    blocked_read_via("socket: blocked read on a dup after FIONBIO off", e, sv[1], "fionbio");

    /* pipes */
    EXPECT(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    EXPECT(fcntl(pr, F_GETFL), O_RDONLY | O_NONBLOCK);
    EXPECT(fcntl(p[1], F_GETFL), O_WRONLY); /* the other end is another file */
    err_clear();
    EXPECT(read(pr, b, sizeof b), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    err_clear();
    EXPECT(read(p[0], b, sizeof b), -1);
    EXPECT_ERR(err_now(), EAGAIN);
    EXPECT(fcntl(pr, F_SETFL, 0), 0);
    EXPECT(fcntl(p[0], F_GETFL), O_RDONLY);
    blocked_read_via("pipe: blocked read on the original after O_NONBLOCK was cleared through a dup", p[0], p[1], "pipe-again");

    close(d);
    close(e);
    close(pr);
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok O_NONBLOCK (fcntl and FIONBIO) is shared by the duplicates; cleared, they block again\n");
}

static void cloexec_per_fd(void)
{
    int before = failures;
    int sv[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    EXPECT(fcntl(sv[0], F_GETFD), 0);
    int a = dup(sv[0]);
    int b = dup3(sv[0], free_number(600), O_CLOEXEC);
    int c = fcntl(sv[0], F_DUPFD_CLOEXEC, 0);
    int d = fcntl(sv[0], F_DUPFD, 0);
    EXPECT(fcntl(a, F_GETFD), 0);
    EXPECT(fcntl(b, F_GETFD), FD_CLOEXEC);
    EXPECT(fcntl(c, F_GETFD), FD_CLOEXEC);
    EXPECT(fcntl(d, F_GETFD), 0);
    EXPECT(fcntl(sv[0], F_GETFD), 0);
    EXPECT(fcntl(a, F_SETFD, FD_CLOEXEC), 0);
    EXPECT(fcntl(a, F_GETFD), FD_CLOEXEC);
    EXPECT(fcntl(sv[0], F_GETFD), 0);
    EXPECT(fcntl(d, F_GETFD), 0);
    /* dup2 onto a number: the new number's flag is clear, whatever the old one had */
    EXPECT(dup2(sv[1], b), b);
    EXPECT(fcntl(b, F_GETFD), 0);
    /* dup3 with O_CLOEXEC onto a clear one sets it */
    EXPECT(dup3(sv[1], d, O_CLOEXEC), d);
    EXPECT(fcntl(d, F_GETFD), FD_CLOEXEC);
    EXPECT(fcntl(sv[1], F_GETFD), 0);
    /* the file status flags are untouched by all this */
    EXPECT(fcntl(a, F_GETFL), O_RDWR);
    close(a);
    close(b);
    close(c);
    close(d);
    close(sv[0]);
    close(sv[1]);
    if (failures == before)
        printf("ok FD_CLOEXEC is per descriptor number (dup, dup2, dup3 O_CLOEXEC, F_DUPFD_CLOEXEC, F_SETFD)\n");
}

static void close_one_dup(void)
{
    int before = failures;
    int sv[2], p[2];
    struct reader r;
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int d1 = dup(sv[0]), d2 = dup(sv[0]);

    /* a thread blocked on the peer: EOF only when the last duplicate is closed */
    reader_start(&r, sv[1], NULL);
    nap_ms(50);
    EXPECT(close(sv[0]), 0);
    EXPECT(close(d1), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "socket: the peer's reader woke (%zd) while a duplicate was still open", r.n);
    /* the file is still usable through the remaining duplicate */
    EXPECT(write(d2, "alive", 5), 5);
    reader_join(&r, "socket: peer reader");
    CHECK(r.n == 5 && strcmp(r.buf, "alive") == 0, "socket: the peer read %zd \"%s\"", r.n, r.buf);
    reader_start(&r, sv[1], NULL);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "socket: the peer's reader woke early (%zd)", r.n);
    EXPECT(close(d2), 0);
    reader_join(&r, "socket: peer reader at the last close");
    EXPECT(r.n, 0);
    close(sv[1]);

    /* shutdown through a duplicate acts on the shared socket */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    d1 = dup(sv[0]);
    reader_start(&r, sv[1], NULL);
    nap_ms(100);
    EXPECT(shutdown(d1, SHUT_WR), 0);
    reader_join(&r, "socket: peer reader at shutdown through a dup");
    EXPECT(r.n, 0);
    err_clear();
    EXPECT(send(sv[0], "x", 1, MSG_NOSIGNAL), -1);
    EXPECT_ERR(err_now(), EPIPE);
    close(d1);
    close(sv[0]);
    close(sv[1]);

    /* pipes: the reader sees EOF when the last write end closes */
    EXPECT(pipe(p), 0);
    int pw = dup(p[1]);
    reader_start(&r, p[0], NULL);
    nap_ms(50);
    EXPECT(close(p[1]), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "pipe: the reader woke (%zd) while a write end was still open", r.n);
    EXPECT(close(pw), 0);
    reader_join(&r, "pipe: reader at the last close");
    EXPECT(r.n, 0);
    close(p[0]);
    if (failures == before)
        printf("ok closing one duplicate keeps the file open; the last close (or a shutdown through any) ends it\n");
}

static int new_written; /* atomic: set just before the old file's peer writes "OLD" */

static void dup2_over_blocked_reader(void)
{
    int before = failures;
    int x[2], y[2];
    struct reader r;
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, x), 0);
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, y), 0);
    __atomic_store_n(&new_written, 0, __ATOMIC_RELEASE);

    reader_start(&r, x[0], &new_written);
    nap_ms(100);
    CHECK(!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE), "dup2: the reader returned early");
    EXPECT(dup2(y[0], x[0]), x[0]); /* x[0] is now the y socket */
    EXPECT(write(y[1], "NEW", 3), 3);
    nap_ms(200);
    __atomic_store_n(&new_written, 1, __ATOMIC_RELEASE);
    /* A green-thread shim may have let go of the old file at the close (the waiter got
     * EBADF): its peer then sees a closed connection.  SIGPIPE is ignored (main). */
    {
        ssize_t wr = write(x[1], "OLD", 3);
        CHECK(wr == 3 || (wr < 0 && errno == EPIPE), "writing OLD to the old file's peer: %zd (%s)", wr,
              wr < 0 ? strerrorname_np(errno) : "-");
    }
    EXPECT(close(x[1]), 0);
    reader_join(&r, "dup2 over a blocked reader");

    const char *outcome = "?";
    if (r.n > 0 && strstr(r.buf, "NEW")) {
        CHECK(0, "dup2: the blocked reader returned the new file's bytes \"%s\"", r.buf);
    } else if (r.n == 3 && strcmp(r.buf, "OLD") == 0) {
        outcome = "OLD";
        CHECK(r.flag_at_ret, "dup2: the reader returned \"OLD\" before it was written");
    } else if (r.n == 0) {
        outcome = "EOF";
    } else if (r.n < 0 && r.err == EBADF) {
        outcome = "EBADF";
    } else {
        CHECK(0, "dup2: the blocked reader returned %zd (%s) \"%s\"", r.n, r.n < 0 ? strerrorname_np(r.err) : "-", r.buf);
    }
    fprintf(stderr, "dup2 over a blocked reader: outcome %s\n", outcome);
    /* the new file's bytes are there, through the number */
    CHECK(read_is(x[0], "NEW"), "dup2: \"NEW\" was not readable through the replaced number");
    EXPECT(fcntl(x[0], F_GETFL), O_RDWR);
    close(x[0]);
    close(y[0]);
    close(y[1]);
    if (failures == before)
        printf("dup2 over a blocked reader: reader-done-not-stale\n");
}

static void errors(void)
{
    int before = failures;
    int sv[2];
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int closed = free_number(700);
    int target = dup(sv[0]);

    EXPECT(dup2(sv[0], sv[0]), sv[0]);
    EXPECT(fcntl(sv[0], F_GETFD), 0);
    err_clear();
    EXPECT(dup2(closed, closed), -1);
    EXPECT_ERR(err_now(), EBADF);
    err_clear();
    EXPECT(dup2(closed, target), -1);
    EXPECT_ERR(err_now(), EBADF);
    EXPECT(fcntl(target, F_GETFD), 0); /* still open */
    err_clear();
    EXPECT(dup2(-1, target), -1);
    EXPECT_ERR(err_now(), EBADF);
    err_clear();
    EXPECT(dup2(sv[0], -1), -1);
    EXPECT_ERR(err_now(), EBADF);
    struct rlimit rl;
    EXPECT(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 1 << 30) {
        err_clear();
        EXPECT(dup2(sv[0], (int)rl.rlim_cur), -1);
        EXPECT_ERR(err_now(), EBADF);
    }
    err_clear();
    EXPECT(dup3(sv[0], sv[0], 0), -1);
    EXPECT_ERR(err_now(), EINVAL);
    err_clear();
    EXPECT(dup3(sv[0], sv[0], O_CLOEXEC), -1);
    EXPECT_ERR(err_now(), EINVAL);
    err_clear();
    EXPECT(dup3(sv[0], target, O_NONBLOCK), -1);
    EXPECT_ERR(err_now(), EINVAL);
    err_clear();
    EXPECT(dup(closed), -1);
    EXPECT_ERR(err_now(), EBADF);
    err_clear();
    EXPECT(fcntl(sv[0], F_DUPFD, -1), -1);
    EXPECT_ERR(err_now(), EINVAL);
    err_clear();
    EXPECT(close(closed), -1);
    EXPECT_ERR(err_now(), EBADF);
    /* the socket works after all that */
    EXPECT(write(sv[1], "still", 5), 5);
    CHECK(read_is(target, "still"), "the socket after the failed calls");
    close(target);
    close(sv[0]);
    close(sv[1]);
    if (failures == before)
        printf("ok dup2(fd, fd), EBADF and EINVAL cases\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    data_through_dups();
    nonblock_shared();
    cloexec_per_fd();
    close_one_dup();
    dup2_over_blocked_reader();
    errors();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
