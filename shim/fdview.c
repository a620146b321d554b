#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include "clock.h"
#include "fdview.h"
#include "real.h"

int shim_io_native;

/* Bumped whenever the program changes O_NONBLOCK or a socket timeout on any descriptor
 * (relaxed: a view refreshed concurrently with a change may keep the old value, exactly as
 * a native call racing the change may see either). */
static _Atomic uint32_t g_opt_gen = 1;

void shim_fd_opts_changed(void)
{
    atomic_fetch_add_explicit(&g_opt_gen, 1, memory_order_relaxed);
}

static shim_fdview *view_of(blitz_fd *e) { return (shim_fdview *)(void *)e->shim; }

static void reset_view(shim_fdview *v, uint32_t gen, int kind, int stream)
{
    v->opt_gen = 0;
    v->kind = (uint8_t)kind;
    v->stream = (uint8_t)stream;
    v->poll_dirs = 0;
    v->nonblock = 0;
    v->rcvtimeo_ns = v->sndtimeo_ns = 0;
    v->eventfd = 0;
    v->neg_timeo = 0;
    v->drained_at = 0;
    atomic_store_explicit(&v->accepting, 0, memory_order_relaxed);
    v->gen = gen;
}

static int sock_stream(int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        return 0;
    return type == SOCK_STREAM;
}

static int detect(shim_fdref *r, shim_fdview *v, uint32_t gen)
{
    struct stat st;
    int saved = errno, fd = r->fd;
    if (fstat(fd, &st) != 0) {
        errno = saved;
        r->bad = 1;
        return SHIM_FD_PASS; /* EBADF and the like: libc's call reports it */
    }
    int kind, stream = 0;
    switch (st.st_mode & S_IFMT) {
    case S_IFSOCK:
        kind = SHIM_FD_SOCK;
        stream = sock_stream(fd);
        break;
    case S_IFIFO:
        kind = SHIM_FD_PIPE;
        stream = 1;
        break;
    case S_IFREG:
    case S_IFDIR:
    case S_IFBLK:
        kind = SHIM_FD_PASS;
        break;
    default: /* character devices, and anonymous inodes (eventfd, timerfd, ...) have no type */
        kind = SHIM_FD_OTHER;
        break;
    }
    int is_eventfd = 0;
    if ((st.st_mode & S_IFMT) == 0) {
        char path[40], target[32];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        is_eventfd = n > 0 && (target[n] = 0, strcmp(target, "anon_inode:[eventfd]") == 0);
    }
    errno = saved;
    reset_view(v, gen, kind, stream);
    v->eventfd = (uint8_t)is_eventfd;
    return kind;
}

int shim_fd_resolve(int fd, shim_fdref *r)
{
    blitz_fd *e = blitz_fd_get(fd);
    r->fd = fd;
    r->e = e;
    r->deadline = 0;
    r->waited = 0;
    r->bad = 0;
    if (!e)
        return SHIM_FD_PASS;
    shim_fdview *v = view_of(e);
    uint32_t gen = blitz_fd_gen(e);
    r->v = v;
    r->gen = gen;
    if (__builtin_expect(v->gen == gen && v->kind != SHIM_FD_UNKNOWN, 1))
        return v->kind;
    return detect(r, v, gen);
}

void shim_fd_created(int fd, int kind, int stream, int nonblock)
{
    blitz_fd_forget(fd);
    blitz_fd *e = blitz_fd_get(fd);
    if (!e)
        return;
    shim_fdview *v = view_of(e);
    reset_view(v, blitz_fd_gen(e), kind, stream);
    if (nonblock >= 0) { /* a fresh file: no timeouts, O_NONBLOCK as created */
        v->nonblock = (uint8_t)nonblock;
        v->opt_gen = atomic_load_explicit(&g_opt_gen, memory_order_relaxed);
    }
}

void shim_fd_timeout_set(int fd, uint8_t dir, int neg)
{
    shim_fdref r;
    if (shim_fd_resolve(fd, &r) == SHIM_FD_SOCK) {
        if (neg)
            r.v->neg_timeo |= dir;
        else
            r.v->neg_timeo &= (uint8_t)~dir;
    }
    shim_fd_opts_changed();
}

void shim_fd_renamed(int fd)
{
    blitz_fd_forget(fd);
}

static uint64_t timeo_ns(int fd, int opt)
{
    struct timeval tv = { 0, 0 };
    socklen_t len = sizeof tv;
    if (getsockopt(fd, SOL_SOCKET, opt, &tv, &len) != 0)
        return 0;
    return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

/* Reads the program's settings again if anything changed since the view last looked. */
static void refresh_opts(shim_fdref *r)
{
    shim_fdview *v = r->v;
    uint32_t og = atomic_load_explicit(&g_opt_gen, memory_order_relaxed);
    if (v->opt_gen == og)
        return;
    int saved = errno;
    int fl = REAL(fcntl)(r->fd, F_GETFL);
    v->nonblock = fl >= 0 && (fl & O_NONBLOCK);
    if (v->kind == SHIM_FD_SOCK) {
        /* 1 ns: already over, so a wait ends at once with EAGAIN */
        v->rcvtimeo_ns = (v->neg_timeo & BLITZ_IO_IN) ? 1 : timeo_ns(r->fd, SO_RCVTIMEO);
        v->sndtimeo_ns = (v->neg_timeo & BLITZ_IO_OUT) ? 1 : timeo_ns(r->fd, SO_SNDTIMEO);
    }
    v->opt_gen = og;
    errno = saved;
}

int shim_fd_nonblocking(shim_fdref *r)
{
    refresh_opts(r);
    return r->v->nonblock;
}

/* restartable: a signal handler with SA_RESTART lets the call wait on (the kernel restarts
 * socket calls, except those with a timeout set). */
static int wait_result(blitz_task *t, int rc, int timeout_errno, int restartable)
{
    switch (rc) {
    case BLITZ_IO_READY:
        return 0;
    case BLITZ_IO_TIMEDOUT:
        errno = timeout_errno;
        return -1;
    case BLITZ_IO_INTERRUPTED: {
        /* Acts on a cancellation, runs signal handlers; a withdrawn one just waits on. */
        int s = shim_interrupted(t);
        if (shim_sig_ends_wait(s, restartable)) {
            errno = EINTR;
            return -1;
        }
        return 0;
    }
    case BLITZ_IO_CLOSED:
        errno = EBADF;
        return -1;
    default: /* UNPOLLABLE, NOTABLE */
        return 1;
    }
}

int shim_fd_block(blitz_task *t, shim_fdref *r, uint8_t dir)
{
    refresh_opts(r);
    if (r->v->nonblock) {
        errno = EAGAIN;
        return -1;
    }
    if (!r->waited) {
        uint64_t to = dir == BLITZ_IO_IN ? r->v->rcvtimeo_ns : r->v->sndtimeo_ns;
        r->deadline = to ? blitz_now_ns() + to : 0;
        r->waited = 1;
    }
    shim_testcancel(t);
    int saved = errno;
    int rc = blitz_fd_wait(r->fd, r->e, r->gen, dir, r->deadline, shim_cancel_flag(t));
    int res = wait_result(t, rc, EAGAIN, r->deadline == 0);
    if (res >= 0)
        errno = saved;
    return res;
}

int shim_fd_block_until(blitz_task *t, shim_fdref *r, uint8_t dir, uint64_t deadline)
{
    shim_testcancel(t);
    int saved = errno;
    int rc = blitz_fd_wait(r->fd, r->e, r->gen, dir, deadline, shim_cancel_flag(t));
    int res = wait_result(t, rc, ETIMEDOUT, 0);
    if (res >= 0)
        errno = saved;
    return res;
}
