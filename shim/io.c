/* The data-transfer family: read, write, readv, writev, recv*, send*, sendfile, and their
 * _FORTIFY_SOURCE variants. A task's call makes non-blocking attempts (RWF_NOWAIT,
 * MSG_DONTWAIT: the file's own flags are never touched) and waits on the reactor between
 * them, with the program's blocking semantics: a blocking write of a stream transfers
 * everything, MSG_WAITALL fills the buffer, O_NONBLOCK gives EAGAIN, SO_RCVTIMEO and
 * SO_SNDTIMEO end the wait with EAGAIN (or the partial count). Files without RWF_NOWAIT
 * (FIFOs, ttys, eventfd writes) are polled for readiness, then called plainly. Regular files
 * go to libc. Outside tasks every call is libc's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "clock.h"
#include "fdview.h"
#include "real.h"

/* ---------------------------------------------------------------- iovec cursor */

#define IOV_SMALL 8

typedef struct iovcur {
    struct iovec *iov, *base; /* iov: first segment not yet done; base: what to free */
    int cnt;
    struct iovec small[IOV_SMALL];
} iovcur;

/* Copies iov so that partial transfers can advance it. Returns -1 (errno) if cnt is out of
 * range or memory runs out: the caller then makes the plain call. */
static int iovcur_init(iovcur *c, const struct iovec *iov, int cnt)
{
    if (cnt < 0 || cnt > IOV_MAX)
        return -1;
    c->base = c->iov = cnt <= IOV_SMALL ? c->small : malloc(sizeof *iov * (size_t)cnt);
    if (!c->iov)
        return -1;
    if (cnt)
        memcpy(c->iov, iov, sizeof *iov * (size_t)cnt);
    c->cnt = cnt;
    return 0;
}

static void iovcur_free(iovcur *c)
{
    if (c->base != c->small)
        free(c->base);
}

static void iovcur_advance(iovcur *c, size_t n)
{
    while (c->cnt && n >= c->iov->iov_len) {
        n -= c->iov->iov_len;
        c->iov++;
        c->cnt--;
    }
    if (c->cnt) {
        c->iov->iov_base = (char *)c->iov->iov_base + n;
        c->iov->iov_len -= n;
    }
    /* Empty segments left at the end transfer nothing: drop them. */
    while (c->cnt && c->iov->iov_len == 0) {
        c->iov++;
        c->cnt--;
    }
}

/* ---------------------------------------------------------------- attempts */

static int ready_now(int fd, short events)
{
    struct pollfd p = { fd, events, 0 };
    int saved = errno;
    int r = REAL(poll)(&p, 1, 0);
    errno = saved;
    return r != 0; /* an error is "ready": the plain call reports it */
}

/* One attempt at reading into iov without blocking. */
static ssize_t try_readv(shim_fdref *r, const struct iovec *iov, int cnt)
{
    if (!(r->v->poll_dirs & BLITZ_IO_IN)) {
        ssize_t n = preadv2(r->fd, iov, cnt, -1, RWF_NOWAIT);
        if (n >= 0 || errno != EOPNOTSUPP)
            return n;
        r->v->poll_dirs |= BLITZ_IO_IN; /* FIFOs, ttys, ... */
    }
    if (!ready_now(r->fd, POLLIN)) {
        errno = EAGAIN;
        return -1;
    }
    return REAL(readv)(r->fd, iov, cnt);
}

/* A stream socket that failed (reset, shut down) while part of a call's data went out: the
 * kernel's own blocking send returns the count and leaves the error for the next call. */
static int sock_failed(int fd)
{
    struct pollfd p = { fd, POLLOUT, 0 };
    int saved = errno;
    int r = REAL(poll)(&p, 1, 0);
    errno = saved;
    return r > 0 && (p.revents & (POLLERR | POLLHUP));
}

/* One attempt at writing iov to a file that is not a socket, without blocking. */
static ssize_t try_file_writev(shim_fdref *r, const struct iovec *iov, int cnt)
{
    if (!(r->v->poll_dirs & BLITZ_IO_OUT)) {
        ssize_t n = pwritev2(r->fd, iov, cnt, -1, RWF_NOWAIT);
        if (n >= 0 || errno != EOPNOTSUPP)
            return n;
        r->v->poll_dirs |= BLITZ_IO_OUT;
    }
    if (!ready_now(r->fd, POLLOUT)) {
        errno = EAGAIN;
        return -1;
    }
    if (r->v->kind == SHIM_FD_PIPE) {
        /* A FIFO polls writable with one free page: a write of at most PIPE_BUF bytes then
         * never blocks (and stays atomic); the caller loops for the rest. */
        struct iovec part[16];
        size_t room = PIPE_BUF;
        int k = 0;
        for (; k < cnt && k < 16 && room; k++) {
            part[k] = iov[k];
            if (part[k].iov_len > room)
                part[k].iov_len = room;
            room -= part[k].iov_len;
        }
        return REAL(writev)(r->fd, part, k);
    }
    if (r->v->eventfd) {
        /* POLLOUT means room for 1, and an add that would overflow blocks: only a
         * non-blocking write can tell. eventfds are rarely shared with other processes, and
         * the flag is set for this one call only. */
        int fl = REAL(fcntl)(r->fd, F_GETFL);
        if (fl >= 0 && !(fl & O_NONBLOCK)) {
            REAL(fcntl)(r->fd, F_SETFL, fl | O_NONBLOCK);
            ssize_t n = REAL(writev)(r->fd, iov, cnt);
            int err = errno;
            REAL(fcntl)(r->fd, F_SETFL, fl);
            errno = err;
            return n;
        }
    }
    return REAL(writev)(r->fd, iov, cnt);
}

/* One attempt at sending m without blocking. `more`: data of this call already went out
 * (then a broken socket ends the call with the count, without a SIGPIPE the kernel would not
 * raise within one call). */
static ssize_t try_send(shim_fdref *r, const struct msghdr *m, int flags, int more)
{
    if (r->v->kind == SHIM_FD_SOCK)
        return REAL(sendmsg)(r->fd, m, flags | MSG_DONTWAIT | (more ? MSG_NOSIGNAL : 0));
    return try_file_writev(r, m->msg_iov, (int)m->msg_iovlen);
}

/* The plain blocking call, for files the reactor cannot watch. */
static ssize_t plain_send(shim_fdref *r, const struct msghdr *m, int flags)
{
    if (r->v->kind == SHIM_FD_SOCK)
        return REAL(sendmsg)(r->fd, m, flags);
    return REAL(writev)(r->fd, m->msg_iov, (int)m->msg_iovlen);
}

/* ---------------------------------------------------------------- read side */

static size_t iov_total(const struct iovec *iov, int cnt)
{
    size_t n = 0;
    for (int i = 0; i < cnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* A socket's reads: a read that found the receive queue empty (EAGAIN, or fewer bytes than
 * asked) remembers the reactor's input count; while it has not moved no data can have
 * arrived, so the next read waits at once instead of making an attempt that would fail
 * (one system call less per message for a request/response protocol). End of stream and
 * errors are never remembered: they stay readable without a new event. */
static ssize_t task_readv(blitz_task *t, shim_fdref *r, const struct iovec *iov, int cnt)
{
    int sock = r->v->kind == SHIM_FD_SOCK && !(r->v->poll_dirs & BLITZ_IO_IN);
    size_t want = sock ? iov_total(iov, cnt) : 0;
    for (int first = 1;; first = 0) {
        uint32_t edges = sock ? blitz_fd_in_edges(r->e, r->gen) : 0;
        ssize_t n;
        if (first && edges && r->v->drained_at == edges) {
            n = -1;
            errno = EAGAIN;
        } else {
            n = try_readv(r, iov, cnt);
            if (sock)
                r->v->drained_at = edges && ((n > 0 && (size_t)n < want) ||
                                             (n < 0 && errno == EAGAIN)) ? edges : 0;
        }
        if (n >= 0 || errno != EAGAIN)
            return n;
        int b = shim_fd_block(t, r, BLITZ_IO_IN);
        if (b < 0)
            return -1;
        if (b > 0)
            return REAL(readv)(r->fd, iov, cnt);
    }
}

BLITZ_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (!t || shim_fd_resolve(fd, &r) == SHIM_FD_PASS)
        return REAL(read)(fd, buf, len);
    struct iovec v = { buf, len };
    return task_readv(t, &r, &v, 1);
}

BLITZ_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (!t || cnt < 0 || cnt > IOV_MAX || shim_fd_resolve(fd, &r) == SHIM_FD_PASS)
        return REAL(readv)(fd, iov, cnt);
    return task_readv(t, &r, iov, cnt);
}

BLITZ_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        return REAL(__read_chk)(fd, buf, len, buflen); /* reports the overflow */
    return read(fd, buf, len);
}

/* recvmsg with the program's flags, for a stream or datagram socket. */
static ssize_t task_recvmsg(blitz_task *t, shim_fdref *r, struct msghdr *msg, int flags)
{
    int waitall = (flags & MSG_WAITALL) && r->v->stream && !(flags & MSG_PEEK);
    iovcur c;
    struct msghdr m = *msg;
    if (waitall) {
        if (iovcur_init(&c, msg->msg_iov, (int)msg->msg_iovlen) != 0)
            return REAL(recvmsg)(r->fd, msg, flags);
        m.msg_iov = c.iov;
        m.msg_iovlen = (size_t)c.cnt;
    }
    ssize_t total = 0;
    for (;;) {
        ssize_t n = REAL(recvmsg)(r->fd, &m, (flags & ~MSG_WAITALL) | MSG_DONTWAIT);
        if (n > 0 && waitall) {
            if (total == 0) { /* the first piece brings the address and ancillary data */
                msg->msg_namelen = m.msg_namelen;
                msg->msg_controllen = m.msg_controllen;
                msg->msg_flags = m.msg_flags;
                m.msg_name = NULL;
                m.msg_namelen = 0;
                m.msg_control = NULL;
                m.msg_controllen = 0;
            }
            total += n;
            iovcur_advance(&c, (size_t)n);
            m.msg_iov = c.iov;
            m.msg_iovlen = (size_t)c.cnt;
            if (c.cnt == 0)
                break;
            continue;
        }
        if (n >= 0 || errno != EAGAIN) {
            if (!waitall) {
                if (n >= 0) {
                    msg->msg_namelen = m.msg_namelen;
                    msg->msg_controllen = m.msg_controllen;
                    msg->msg_flags = m.msg_flags;
                }
                return n;
            }
            if (n < 0 && total == 0)
                total = -1;
            break; /* EOF or an error ends MSG_WAITALL with what arrived */
        }
        int b = shim_fd_block(t, r, BLITZ_IO_IN);
        if (b < 0) {
            if (total == 0)
                total = -1;
            break;
        }
        if (b > 0) {
            ssize_t k = REAL(recvmsg)(r->fd, &m, flags);
            if (!waitall)
                return k;
            if (k > 0)
                total += k;
            else if (total == 0)
                total = k;
            break;
        }
    }
    if (waitall)
        iovcur_free(&c);
    return total;
}

static ssize_t task_recvfrom(blitz_task *t, shim_fdref *r, void *buf, size_t len, int flags,
                             struct sockaddr *addr, socklen_t *alen)
{
    struct iovec v = { buf, len };
    struct msghdr m = { .msg_name = addr, .msg_namelen = addr && alen ? *alen : 0,
                        .msg_iov = &v, .msg_iovlen = 1 };
    ssize_t n = task_recvmsg(t, r, &m, flags);
    if (n >= 0 && addr && alen)
        *alen = m.msg_namelen;
    return n;
}

#define RECV_PLAIN(fd, flags) \
    (!t || ((flags) & MSG_DONTWAIT) || shim_fd_resolve(fd, &r) != SHIM_FD_SOCK)

BLITZ_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags))
        return REAL(recv)(fd, buf, len, flags);
    return task_recvfrom(t, &r, buf, len, flags, NULL, NULL);
}

BLITZ_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                              socklen_t *alen)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags))
        return REAL(recvfrom)(fd, buf, len, flags, addr, alen);
    return task_recvfrom(t, &r, buf, len, flags, addr, alen);
}

BLITZ_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags))
        return REAL(recvmsg)(fd, msg, flags);
    return task_recvmsg(t, &r, msg, flags);
}

BLITZ_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        return REAL(__recv_chk)(fd, buf, len, buflen, flags);
    return recv(fd, buf, len, flags);
}

BLITZ_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                                    struct sockaddr *addr, socklen_t *alen)
{
    if (len > buflen)
        return REAL(__recvfrom_chk)(fd, buf, len, buflen, flags, addr, alen);
    return recvfrom(fd, buf, len, flags, addr, alen);
}

/* Blocking recvmmsg: waits for the first message; without MSG_WAITFORONE goes on until vlen
 * messages arrived or the timeout (measured from the call, checked as messages arrive and
 * while waiting) passed. */
BLITZ_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags,
                          struct timespec *timeout)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags) || vlen == 0)
        return REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
    if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
                    timeout->tv_nsec >= 1000000000L)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t end = timeout ? blitz_now_ns() + blitz_ts_to_ns(timeout) : 0;
    unsigned got = 0;
    for (;;) {
        int n = REAL(recvmmsg)(fd, vec + got, vlen - got, (flags & ~MSG_WAITFORONE) | MSG_DONTWAIT,
                               NULL);
        if (n > 0) {
            got += (unsigned)n;
            if (got == vlen || (flags & MSG_WAITFORONE) || (end && blitz_now_ns() >= end))
                return (int)got;
            continue;
        }
        if (n < 0 && errno != EAGAIN)
            return got ? (int)got : -1;
        if (n == 0)
            return (int)got;
        int b;
        if (got) { /* more are wanted, until the call's timeout */
            b = shim_fd_block_until(t, &r, BLITZ_IO_IN, end);
            if (b < 0)
                return (int)got;
        } else {
            b = shim_fd_block(t, &r, BLITZ_IO_IN);
            if (b < 0)
                return -1;
        }
        if (b > 0) {
            n = REAL(recvmmsg)(fd, vec + got, vlen - got, flags, NULL);
            return n > 0 ? (int)(got + (unsigned)n) : got ? (int)got : n;
        }
    }
}

/* ---------------------------------------------------------------- write side */

/* Sends msg (write, writev, send*, all alike): everything for a stream unless O_NONBLOCK, a
 * timeout or an error ends it early (with the count so far, the error left for the next
 * call as the kernel leaves it), one attempt's worth for datagrams and packets. */
static ssize_t task_send(blitz_task *t, shim_fdref *r, const struct msghdr *msg, int flags)
{
    iovcur c;
    if (iovcur_init(&c, msg->msg_iov, (int)msg->msg_iovlen) != 0)
        return plain_send(r, msg, flags);
    struct msghdr m = *msg;
    ssize_t total = 0;
    for (;;) {
        m.msg_iov = c.iov;
        m.msg_iovlen = (size_t)c.cnt;
        if (total && r->v->kind == SHIM_FD_SOCK && sock_failed(r->fd))
            break;
        ssize_t n = try_send(r, &m, flags, total > 0);
        if (n >= 0) {
            total += n;
            iovcur_advance(&c, (size_t)n);
            if (!r->v->stream || c.cnt == 0)
                break;
            m.msg_control = NULL; /* ancillary data went with the first piece */
            m.msg_controllen = 0;
            continue;
        }
        int b = errno == EAGAIN ? shim_fd_block(t, r, BLITZ_IO_OUT) : -1;
        if (b > 0) {
            n = plain_send(r, &m, flags);
            total = n < 0 ? (total ? total : -1) : total + n;
            break;
        }
        if (b < 0) {
            if (total == 0)
                total = -1;
            break;
        }
    }
    iovcur_free(&c);
    return total;
}

static ssize_t task_writev(blitz_task *t, shim_fdref *r, const struct iovec *iov, int cnt)
{
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };
    ssize_t n = task_send(t, r, &m, 0);
    if (n < 0 && errno == ENOTSOCK && r->v->kind == SHIM_FD_SOCK) {
        /* The number names another file now (closed behind our back): look again. */
        shim_fd_renamed(r->fd);
        return writev(r->fd, iov, cnt);
    }
    return n;
}

BLITZ_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (!t || shim_fd_resolve(fd, &r) == SHIM_FD_PASS)
        return REAL(write)(fd, buf, len);
    struct iovec v = { (void *)buf, len };
    return task_writev(t, &r, &v, 1);
}

BLITZ_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (!t || cnt < 0 || cnt > IOV_MAX || shim_fd_resolve(fd, &r) == SHIM_FD_PASS)
        return REAL(writev)(fd, iov, cnt);
    return task_writev(t, &r, iov, cnt);
}

BLITZ_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags))
        return REAL(send)(fd, buf, len, flags);
    struct iovec v = { (void *)buf, len };
    struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
    return task_send(t, &r, &m, flags);
}

BLITZ_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                            const struct sockaddr *addr, socklen_t alen)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags))
        return REAL(sendto)(fd, buf, len, flags, addr, alen);
    struct iovec v = { (void *)buf, len };
    struct msghdr m = { .msg_name = (void *)addr, .msg_namelen = alen, .msg_iov = &v,
                        .msg_iovlen = 1 };
    return task_send(t, &r, &m, flags);
}

BLITZ_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags))
        return REAL(sendmsg)(fd, msg, flags);
    return task_send(t, &r, msg, flags);
}

/* Blocking sendmmsg sends all vlen messages (each as a blocking sendmsg would, except that a
 * stream socket may split one across calls as the kernel's own does). */
BLITZ_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned vlen, int flags)
{
    blitz_task *t = shim_io_task_cancel_point();
    shim_fdref r;
    if (RECV_PLAIN(fd, flags) || vlen == 0)
        return REAL(sendmmsg)(fd, vec, vlen, flags);
    unsigned done = 0;
    for (;;) {
        int n = REAL(sendmmsg)(fd, vec + done, vlen - done, flags | MSG_DONTWAIT);
        if (n > 0) {
            done += (unsigned)n;
            if (done == vlen)
                return (int)done;
            continue;
        }
        if (n < 0 && errno != EAGAIN)
            return done ? (int)done : -1;
        int b = shim_fd_block(t, &r, BLITZ_IO_OUT);
        if (b < 0)
            return done ? (int)done : -1;
        if (b > 0) {
            n = REAL(sendmmsg)(fd, vec + done, vlen - done, flags);
            return n > 0 ? (int)(done + (unsigned)n) : done ? (int)done : n;
        }
    }
}

/* sendfile to a socket or pipe: waits for room, then sends in pieces that fit what room
 * usually means (a piece may still wait briefly in the kernel when the buffer is nearly
 * full), until count bytes went or the input ended. */
#define SENDFILE_PIECE (64u << 10)

static ssize_t task_sendfile(blitz_task *t, shim_fdref *r, int in, off64_t *off, size_t count,
                             int big)
{
    size_t total = 0;
    while (total < count) {
        if (!ready_now(r->fd, POLLOUT)) {
            int b = shim_fd_block(t, r, BLITZ_IO_OUT);
            if (b < 0)
                return total ? (ssize_t)total : -1;
            if (b == 0)
                continue;
        }
        size_t piece = count - total < SENDFILE_PIECE ? count - total : SENDFILE_PIECE;
        ssize_t n = big ? REAL(sendfile64)(r->fd, in, off, piece)
                        : REAL(sendfile)(r->fd, in, (off_t *)off, piece);
        if (n < 0)
            return total ? (ssize_t)total : -1;
        if (n == 0)
            break;
        total += (size_t)n;
    }
    return (ssize_t)total;
}

BLITZ_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    blitz_task *t = shim_io_task();
    shim_fdref r;
    if (!t || shim_fd_resolve(out, &r) == SHIM_FD_PASS || shim_fd_nonblocking(&r))
        return REAL(sendfile)(out, in, off, count);
    return task_sendfile(t, &r, in, (off64_t *)off, count, 0);
}

BLITZ_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t count)
{
    blitz_task *t = shim_io_task();
    shim_fdref r;
    if (!t || shim_fd_resolve(out, &r) == SHIM_FD_PASS || shim_fd_nonblocking(&r))
        return REAL(sendfile64)(out, in, off, count);
    return task_sendfile(t, &r, in, off, count, 1);
}
