/* Making and connecting sockets and pipes: socket, socketpair, pipe, pipe2, accept, accept4,
 * connect, shutdown, setsockopt. New descriptors get a fresh view (fdview.h) so a number
 * reused from an earlier file carries nothing over. A task's accept waits on the reactor;
 * its blocking connect is started non-blocking and waited for (see connect below). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include "clock.h"
#include "fdview.h"
#include "real.h"
#include "scheduler.h"
#include "waiter.h"

/* Records a descriptor the program just made, when tasks may use it (or a stale view of an
 * earlier file under the same number must go). */
static void created(blitz_task *t, int fd, int kind, int stream, int nonblock)
{
    if (fd >= 0 && !shim_io_native && (t || blitz_fd_peek(fd)))
        shim_fd_created(fd, kind, stream, nonblock);
}

BLITZ_EXPORT int socket(int domain, int type, int protocol)
{
    int fd = REAL(socket)(domain, type, protocol);
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    created(shim_io_task(), fd, SHIM_FD_SOCK, base == SOCK_STREAM, !!(type & SOCK_NONBLOCK));
    return fd;
}

BLITZ_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
    int rc = REAL(socketpair)(domain, type, protocol, sv);
    if (rc == 0) {
        blitz_task *t = shim_io_task();
        int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), nb = !!(type & SOCK_NONBLOCK);
        created(t, sv[0], SHIM_FD_SOCK, base == SOCK_STREAM, nb);
        created(t, sv[1], SHIM_FD_SOCK, base == SOCK_STREAM, nb);
    }
    return rc;
}

BLITZ_EXPORT int pipe2(int fds[2], int flags)
{
    int rc = REAL(pipe2)(fds, flags);
    if (rc == 0) {
        blitz_task *t = shim_io_task();
        /* O_DIRECT pipes are packet pipes: each write is one packet, like a datagram. */
        int stream = !(flags & O_DIRECT), nb = !!(flags & O_NONBLOCK);
        created(t, fds[0], SHIM_FD_PIPE, stream, nb);
        created(t, fds[1], SHIM_FD_PIPE, stream, nb);
    }
    return rc;
}

BLITZ_EXPORT int pipe(int fds[2])
{
    int rc = REAL(pipe)(fds);
    if (rc == 0) {
        blitz_task *t = shim_io_task();
        created(t, fds[0], SHIM_FD_PIPE, 1, 0);
        created(t, fds[1], SHIM_FD_PIPE, 1, 0);
    }
    return rc;
}

/* ---------------------------------------------------------------- accept */

/* There is no per-call non-blocking accept, and making the listener non-blocking would leak
 * into every process sharing it. So a task accepts only after the listener polls readable,
 * and the tasks of this process take turns between that check and accept(): none of them
 * then blocks its worker on a connection another one took. (Another process sharing the
 * listener can still win the race: the docs say so.) */
static int try_accept(shim_fdref *r, struct sockaddr *addr, socklen_t *alen, int flags)
{
    _Atomic uint8_t *turn = &r->v->accepting;
    while (atomic_exchange_explicit(turn, 1, memory_order_acquire))
        blitz_yield();
    struct pollfd p = { r->fd, POLLIN, 0 };
    int saved = errno, fd;
    if (REAL(poll)(&p, 1, 0) == 0) {
        fd = -1;
        errno = EAGAIN;
    } else {
        errno = saved;
        fd = REAL(accept4)(r->fd, addr, alen, flags);
    }
    atomic_store_explicit(turn, 0, memory_order_release);
    return fd;
}

static int task_accept(blitz_task *t, int lfd, struct sockaddr *addr, socklen_t *alen,
                       int flags)
{
    shim_fdref r;
    if (shim_fd_resolve(lfd, &r) != SHIM_FD_SOCK || shim_fd_nonblocking(&r))
        return REAL(accept4)(lfd, addr, alen, flags);
    int fd;
    for (;;) {
        fd = try_accept(&r, addr, alen, flags);
        if (fd >= 0 || errno != EAGAIN)
            break;
        int b = shim_fd_block(t, &r, BLITZ_IO_IN);
        if (b < 0)
            return -1;
        if (b > 0) {
            fd = REAL(accept4)(lfd, addr, alen, flags);
            break;
        }
    }
    /* Accepted sockets inherit the listener's timeouts (read when needed), not O_NONBLOCK. */
    created(t, fd, SHIM_FD_SOCK, r.v->stream, -1);
    return fd;
}

BLITZ_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t) {
        int nfd = REAL(accept4)(fd, addr, alen, flags);
        created(NULL, nfd, SHIM_FD_SOCK, 1, -1);
        return nfd;
    }
    return task_accept(t, fd, addr, alen, flags);
}

BLITZ_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t) {
        int nfd = REAL(accept)(fd, addr, alen);
        created(NULL, nfd, SHIM_FD_SOCK, 1, -1);
        return nfd;
    }
    return task_accept(t, fd, addr, alen, 0);
}

/* ---------------------------------------------------------------- connect */

/* A blocking connect has no per-call non-blocking form either. The socket is made
 * non-blocking only around each connect call (the file is brand new in the usual case, shared
 * with nobody yet), and the task waits for writability in between, as a non-blocking client
 * would. The connection is finished by calling connect again, as the kernel's own blocking
 * connect finishes it: same errors (ECONNREFUSED, ...), same socket state afterwards (a
 * later connect says EISCONN). SO_SNDTIMEO ends the wait with the first call's answer
 * (EINPROGRESS, or EALREADY for a connect already in progress), as natively. */
static int connect_nb(int fd, int fl, const struct sockaddr *addr, socklen_t len)
{
    REAL(fcntl)(fd, F_SETFL, fl | O_NONBLOCK);
    int rc = REAL(connect)(fd, addr, len);
    int err = errno;
    REAL(fcntl)(fd, F_SETFL, fl);
    errno = err;
    return rc;
}

/* A UNIX socket whose listener's backlog is full answers EAGAIN; a blocking connect waits for
 * room, which nothing signals to a poller: try again every millisecond. */
static int connect_unix_wait(blitz_task *t, shim_fdref *r, int fl, const struct sockaddr *addr,
                             socklen_t len)
{
    uint64_t to = r->v->sndtimeo_ns, end = to ? blitz_now_ns() + to : 0;
    for (;;) {
        if (blitz_sleep_until(blitz_now_ns() + 1000000, shim_cancel_flag(t)) &&
            shim_interrupted(t) != SHIM_SIG_NONE) {
            errno = EINTR; /* connect is not restarted: the kernel gives EINTR too */
            return -1;
        }
        if (end && blitz_now_ns() >= end) {
            errno = EAGAIN;
            return -1;
        }
        if (connect_nb(r->fd, fl, addr, len) == 0)
            return 0;
        if (errno != EAGAIN)
            return -1;
    }
}

BLITZ_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (!t || shim_fd_resolve(fd, &r) != SHIM_FD_SOCK || shim_fd_nonblocking(&r))
        return REAL(connect)(fd, addr, len);
    shim_testcancel(t);
    int fl = REAL(fcntl)(fd, F_GETFL);
    if (fl < 0)
        return REAL(connect)(fd, addr, len);
    if (connect_nb(fd, fl, addr, len) == 0)
        return 0;
    int first = errno;
    if (first == EAGAIN && addr && addr->sa_family == AF_UNIX)
        return connect_unix_wait(t, &r, fl, addr, len);
    if (first != EINPROGRESS && first != EALREADY)
        return -1;
    for (;;) {
        int b = shim_fd_block(t, &r, BLITZ_IO_OUT);
        if (b < 0) {
            if (errno == EAGAIN)
                errno = first; /* SO_SNDTIMEO passed; the attempt goes on */
            return -1;
        }
        if (b > 0)
            return REAL(connect)(fd, addr, len);
        if (connect_nb(fd, fl, addr, len) == 0)
            return 0;
        if (errno != EALREADY && errno != EINPROGRESS)
            return -1;
    }
}

/* ---------------------------------------------------------------- options */

BLITZ_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    int rc = REAL(setsockopt)(fd, level, name, val, len);
    /* SO_RCVTIMEO/SO_SNDTIMEO, old (20, 21) and 64-bit time (66, 67) numbers alike; on
     * x86-64 both take a struct timeval of two longs. */
    if (rc == 0 && level == SOL_SOCKET && (name == 20 || name == 21 || name == 66 || name == 67) &&
        !shim_io_native) {
        int neg = val && len >= sizeof(long) && *(const long *)val < 0;
        shim_fd_timeout_set(fd, name == 20 || name == 66 ? BLITZ_IO_IN : BLITZ_IO_OUT, neg);
    }
    return rc;
}

BLITZ_EXPORT int shutdown(int fd, int how)
{
    /* The kernel wakes pollers for the reading side, but shutting down the sending side
     * of a full socket changes no poll bit: wake this process's waiters to look again (a
     * waiting send then fails with EPIPE, as natively). */
    int rc = REAL(shutdown)(fd, how);
    if (rc == 0 && !shim_io_native)
        blitz_fd_poke(fd);
    return rc;
}
