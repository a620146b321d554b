/* Descriptor bookkeeping: close (and close_range, closefrom, fclose), dup, dup2, dup3,
 * fcntl, ioctl, and the calls that make descriptors of other kinds (eventfd, timerfd,
 * signalfd, epoll, inotify). Nothing here waits; these keep the reactor's table true: a
 * closed descriptor leaves the epoll set while its number still names the file, tasks
 * waiting on it wake (and see EBADF), and a reused number starts with a fresh view.
 * Blocking file locks (F_SETLKW, F_OFD_SETLKW) go to libc and hold the worker: see docs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include "fdview.h"
#include "real.h"

static inline void closing(int fd)
{
    if (!shim_io_native)
        blitz_fd_closing(fd);
}

/* A number the program just got from a call we do not otherwise follow. */
static inline int fresh(int fd)
{
    if (fd >= 0 && !shim_io_native && blitz_fd_peek(fd))
        shim_fd_renamed(fd);
    return fd;
}

BLITZ_EXPORT int close(int fd)
{
    blitz_task *t = shim_io_task();
    if (t)
        shim_testcancel(t); /* close is a cancellation point */
    closing(fd);
    return REAL(close)(fd);
}

BLITZ_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last && !shim_io_native)
        blitz_fd_closing_range(first, last);
    return REAL(close_range)(first, last, flags);
}

BLITZ_EXPORT void closefrom(int lowfd)
{
    if (lowfd >= 0 && !shim_io_native)
        blitz_fd_closing_range((unsigned)lowfd, UINT_MAX);
    REAL(closefrom)(lowfd);
}

BLITZ_EXPORT int fclose(FILE *f)
{
    /* stdio closes through libc's internal close, which we do not see. */
    int fd = f ? fileno(f) : -1;
    if (fd >= 0)
        closing(fd);
    return REAL(fclose)(f);
}

BLITZ_EXPORT int dup(int fd)
{
    return fresh(REAL(dup)(fd));
}

/* dup2/dup3 close newfd first, if oldfd is valid. */
static void before_replace(int oldfd, int newfd)
{
    if (oldfd != newfd && !shim_io_native && blitz_fd_peek(newfd) &&
        REAL(fcntl)(oldfd, F_GETFD) >= 0)
        blitz_fd_closing(newfd);
}

BLITZ_EXPORT int dup2(int oldfd, int newfd)
{
    before_replace(oldfd, newfd);
    int rc = REAL(dup2)(oldfd, newfd);
    return rc >= 0 && oldfd != newfd ? fresh(rc) : rc;
}

BLITZ_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    before_replace(oldfd, newfd);
    return fresh(REAL(dup3)(oldfd, newfd, flags));
}

static int after_fcntl(int cmd, int rc)
{
    if (rc < 0)
        return rc;
    if (cmd == F_SETFL && !shim_io_native)
        shim_fd_opts_changed(); /* O_NONBLOCK may have changed (for every dup of it too) */
    else if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        fresh(rc);
    return rc;
}

/* Every fcntl argument is an int or a pointer: passing it on as a pointer is what libc's own
 * wrapper does. */
BLITZ_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return after_fcntl(cmd, REAL(fcntl)(fd, cmd, arg));
}

BLITZ_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return after_fcntl(cmd, REAL(fcntl64)(fd, cmd, arg));
}

BLITZ_EXPORT int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    int rc = REAL(ioctl)(fd, req, arg);
    if (rc == 0 && req == FIONBIO && !shim_io_native)
        shim_fd_opts_changed();
    return rc;
}

BLITZ_EXPORT int eventfd(unsigned initval, int flags) { return fresh(REAL(eventfd)(initval, flags)); }
BLITZ_EXPORT int timerfd_create(int clk, int flags) { return fresh(REAL(timerfd_create)(clk, flags)); }
BLITZ_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
    return fd == -1 ? fresh(REAL(signalfd)(fd, mask, flags)) : REAL(signalfd)(fd, mask, flags);
}
BLITZ_EXPORT int epoll_create(int size) { return fresh(REAL(epoll_create)(size)); }
BLITZ_EXPORT int epoll_create1(int flags) { return fresh(REAL(epoll_create1)(flags)); }
BLITZ_EXPORT int inotify_init(void) { return fresh(REAL(inotify_init)()); }
BLITZ_EXPORT int inotify_init1(int flags) { return fresh(REAL(inotify_init1)(flags)); }
