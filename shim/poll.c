/* Readiness waits: poll, ppoll, select, pselect, epoll_wait, epoll_pwait, epoll_pwait2. A
 * task first asks the kernel without waiting; if nothing is ready it waits on the reactor for
 * any of the descriptors (an epoll descriptor is itself readable when its set has events),
 * then asks the kernel again, so results (revents, POLLNVAL, errors, fd_set contents) are
 * always the kernel's own. Timeouts are CLOCK_MONOTONIC and never end early.
 * Signal masks (ppoll, pselect, epoll_pwait*) apply while the kernel is asked, not while the
 * task waits on the reactor: see docs (signals). Outside tasks every call is libc's. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include "clock.h"
#include "fdview.h"
#include "real.h"
#include "waiter.h"

#define NODES_SMALL 16

enum { WAIT_AGAIN = 0, WAIT_TIMEDOUT = 1, WAIT_FALLBACK = 2, WAIT_CLOSED = 3, WAIT_EINTR = 4 };

static uint8_t dirs_of(short events)
{
    uint8_t d = 0;
    if (events & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP))
        d |= BLITZ_IO_IN;
    if (events & (POLLOUT | POLLWRNORM | POLLWRBAND))
        d |= BLITZ_IO_OUT;
    return d ? d : BLITZ_IO_IN; /* errors and hang-ups are reported even with no events */
}

/* Waits until one of pfds may have changed state, the deadline (monotonic ns, 0 = none)
 * passed, or the task was interrupted for a cancellation (acted on here). WAIT_EINTR: a
 * signal handler ran (the call fails with EINTR). WAIT_FALLBACK: a
 * descriptor cannot be watched (or memory ran out): the caller makes the plain call.
 * WAIT_CLOSED: the program closed pfds[*closed_at].fd meanwhile; its number may already
 * name another file, so the caller must not ask the kernel about it. */
static int wait_any(blitz_task *t, const struct pollfd *pfds, nfds_t n, uint64_t deadline,
                    nfds_t *closed_at)
{
    struct slot {
        blitz_io_node node;
        nfds_t index;
    } small[NODES_SMALL];
    /* A cancellation acts here, before any node is linked into an entry: unwinding past
     * linked nodes would leave wakers pointing into a dead frame. */
    shim_testcancel(t);
    struct slot *nodes = n <= NODES_SMALL ? small : malloc(sizeof *nodes * n);
    if (!nodes)
        return WAIT_FALLBACK;
    blitz_waiter w;
    blitz_waiter_init(&w);
    nfds_t armed = 0;
    int res = -1;
    for (nfds_t i = 0; i < n && res < 0; i++) {
        if (pfds[i].fd < 0)
            continue;
        shim_fdref r;
        if (shim_fd_resolve(pfds[i].fd, &r) == SHIM_FD_PASS) {
            /* Closed meanwhile: the kernel says POLLNVAL. A regular file is always ready,
             * so it cannot be here unless it changed; either way the plain call is right. */
            res = r.bad ? WAIT_AGAIN : WAIT_FALLBACK;
            break;
        }
        nodes[armed].index = i;
        int rc = blitz_fd_arm(&nodes[armed].node, r.e, r.fd, r.gen, dirs_of(pfds[i].events), &w);
        if (rc < 0) {
            armed++;
            continue;
        }
        if (rc == BLITZ_IO_READY || rc == BLITZ_IO_CLOSED)
            res = WAIT_AGAIN; /* closed before we looked: the kernel answers for it */
        else
            res = WAIT_FALLBACK;
    }
    uint32_t s = BLITZ_W_WOKEN;
    if (res < 0)
        s = blitz_waiter_wait(&w, deadline, shim_cancel_flag(t));
    for (nfds_t i = 0; i < armed; i++)
        if (blitz_fd_disarm(&nodes[i].node) && res < 0) {
            res = WAIT_CLOSED;
            *closed_at = nodes[i].index;
        }
    if (nodes != small)
        free(nodes);
    if (res >= 0)
        return res;
    /* A signal handler ends poll, select and epoll_wait with EINTR, SA_RESTART or not. */
    if (s == BLITZ_W_INTERRUPTED && shim_interrupted(t) != SHIM_SIG_NONE)
        return WAIT_EINTR;
    return s == BLITZ_W_TIMEDOUT ? WAIT_TIMEDOUT : WAIT_AGAIN;
}

static uint64_t deadline_ms(int ms) { return blitz_now_ns() + (uint64_t)ms * 1000000u; }

/* Milliseconds left until deadline (rounded up), for a fallback to the plain call. */
static int left_ms(uint64_t deadline)
{
    if (!deadline)
        return -1;
    uint64_t now = blitz_now_ns();
    if (now >= deadline)
        return 0;
    uint64_t ms = (deadline - now + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static int ts_valid(const struct timespec *ts)
{
    return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L;
}

static uint64_t deadline_ts(const struct timespec *ts)
{
    if (!ts)
        return 0;
    uint64_t d = blitz_now_ns() + blitz_ts_to_ns(ts);
    return d ? d : 1;
}

/* ---------------------------------------------------------------- poll */

static int task_poll(blitz_task *t, struct pollfd *fds, nfds_t n, uint64_t deadline,
                     const sigset_t *mask)
{
    static const struct timespec zero = { 0, 0 };
    for (;;) {
        nfds_t closed = 0;
        int w = wait_any(t, fds, n, deadline, &closed);
        if (w == WAIT_EINTR) {
            errno = EINTR;
            return -1;
        }
        if (w == WAIT_FALLBACK) {
            int ms = left_ms(deadline);
            if (!mask)
                return REAL(poll)(fds, n, ms);
            struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
            return REAL(ppoll)(fds, n, ms < 0 ? NULL : &ts, mask);
        }
        int r = mask ? REAL(ppoll)(fds, n, &zero, mask) : REAL(poll)(fds, n, 0);
        if (w == WAIT_CLOSED && r >= 0) { /* as if it had been closed before the call */
            if (!fds[closed].revents)
                r++;
            fds[closed].revents = POLLNVAL;
        }
        if (r != 0 || w == WAIT_TIMEDOUT)
            return r;
    }
}

BLITZ_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t || timeout == 0)
        return REAL(poll)(fds, n, timeout);
    int r = REAL(poll)(fds, n, 0);
    if (r != 0)
        return r;
    return task_poll(t, fds, n, timeout < 0 ? 0 : deadline_ms(timeout), NULL);
}

static int ppoll_impl(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                       const sigset_t *mask)
{
    static const struct timespec zero = { 0, 0 };
    blitz_task *t = shim_io_task_cancel_point();
    if (!t || (ts && (!ts_valid(ts) || (ts->tv_sec == 0 && ts->tv_nsec == 0))))
        return REAL(ppoll)(fds, n, ts, mask);
    int r = REAL(ppoll)(fds, n, &zero, mask);
    if (r != 0)
        return r;
    return task_poll(t, fds, n, deadline_ts(ts), mask);
}

BLITZ_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        return REAL(__poll_chk)(fds, n, timeout, fdslen); /* reports the overflow */
    return poll(fds, n, timeout);
}

BLITZ_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                             const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        return REAL(__ppoll_chk)(fds, n, ts, mask, fdslen);
    return ppoll(fds, n, ts, mask);
}

/* ---------------------------------------------------------------- select */

typedef struct selsets {
    int nfds;
    fd_set *in[3];   /* the program's sets (may be NULL) */
    fd_set want[3];  /* what it asked for */
} selsets;

/* Asks the kernel without waiting, with the program's sets restored to what it asked for. */
static int select_now(selsets *s, const sigset_t *mask, int pselect_call)
{
    for (int k = 0; k < 3; k++)
        if (s->in[k])
            *s->in[k] = s->want[k];
    if (pselect_call) {
        static const struct timespec zero = { 0, 0 };
        return REAL(pselect)(s->nfds, s->in[0], s->in[1], s->in[2], &zero, mask);
    }
    struct timeval tv = { 0, 0 };
    return REAL(select)(s->nfds, s->in[0], s->in[1], s->in[2], &tv);
}

static int task_select(blitz_task *t, selsets *s, uint64_t deadline, const sigset_t *mask,
                       int pselect_call)
{
    int r = select_now(s, mask, pselect_call);
    if (r != 0)
        return r;
    struct pollfd small[NODES_SMALL], *pfds = small;
    nfds_t n = 0;
    for (int fd = 0; fd < s->nfds; fd++) {
        short ev = 0;
        if (s->in[0] && FD_ISSET(fd, &s->want[0]))
            ev |= POLLIN;
        if (s->in[1] && FD_ISSET(fd, &s->want[1]))
            ev |= POLLOUT;
        if (s->in[2] && FD_ISSET(fd, &s->want[2]))
            ev |= POLLPRI;
        if (!ev)
            continue;
        if (n == NODES_SMALL && pfds == small) {
            pfds = malloc(sizeof *pfds * (size_t)s->nfds);
            if (!pfds)
                return -2;
            memcpy(pfds, small, sizeof small);
        }
        pfds[n++] = (struct pollfd){ fd, ev, 0 };
    }
    for (;;) {
        nfds_t closed;
        int w = wait_any(t, pfds, n, deadline, &closed);
        if (w == WAIT_EINTR) {
            errno = EINTR;
            r = -1;
            break;
        }
        if (w == WAIT_FALLBACK) {
            r = -2;
            break;
        }
        if (w == WAIT_CLOSED) { /* as if it had been closed before the call */
            errno = EBADF;
            r = -1;
            break;
        }
        r = select_now(s, mask, pselect_call);
        if (r != 0 || w == WAIT_TIMEDOUT)
            break;
    }
    if (pfds != small)
        free(pfds);
    return r;
}

static void selsets_init(selsets *s, int nfds, fd_set *r, fd_set *w, fd_set *e)
{
    s->nfds = nfds;
    s->in[0] = r;
    s->in[1] = w;
    s->in[2] = e;
    for (int k = 0; k < 3; k++)
        if (s->in[k])
            s->want[k] = *s->in[k];
}

BLITZ_EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t || nfds < 0 || nfds > FD_SETSIZE || (tv && tv->tv_sec == 0 && tv->tv_usec == 0) ||
        (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)))
        return REAL(select)(nfds, rd, wr, ex, tv);
    uint64_t deadline = 0;
    if (tv) {
        deadline = blitz_now_ns() + (uint64_t)tv->tv_sec * 1000000000ull +
                   (uint64_t)tv->tv_usec * 1000ull;
    }
    selsets s;
    selsets_init(&s, nfds, rd, wr, ex);
    int r = task_select(t, &s, deadline, NULL, 0);
    if (r == -2) { /* cannot watch one of them: the plain call, with the time left */
        for (int k = 0; k < 3; k++)
            if (s.in[k])
                *s.in[k] = s.want[k];
        struct timeval left, *lp = NULL;
        if (tv) {
            int ms = left_ms(deadline);
            left = (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
            lp = &left;
        }
        r = REAL(select)(nfds, rd, wr, ex, lp);
    }
    if (tv) { /* Linux reports the time left */
        uint64_t now = blitz_now_ns(), rest = now < deadline ? deadline - now : 0;
        tv->tv_sec = (time_t)(rest / 1000000000ull);
        tv->tv_usec = (suseconds_t)(rest % 1000000000ull / 1000);
    }
    return r;
}

static int pselect_impl(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
                         const struct timespec *ts, const sigset_t *mask)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t || nfds < 0 || nfds > FD_SETSIZE || (ts && !ts_valid(ts)) ||
        (ts && ts->tv_sec == 0 && ts->tv_nsec == 0))
        return REAL(pselect)(nfds, rd, wr, ex, ts, mask);
    uint64_t deadline = deadline_ts(ts);
    selsets s;
    selsets_init(&s, nfds, rd, wr, ex);
    int r = task_select(t, &s, deadline, mask, 1);
    if (r == -2) {
        for (int k = 0; k < 3; k++)
            if (s.in[k])
                *s.in[k] = s.want[k];
        struct timespec left, *lp = NULL;
        if (ts) {
            int ms = left_ms(deadline);
            left = (struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000L };
            lp = &left;
        }
        r = REAL(pselect)(nfds, rd, wr, ex, lp, mask);
    }
    return r;
}

/* ---------------------------------------------------------------- epoll */

/* kind: 0 epoll_wait, 1 epoll_pwait, 2 epoll_pwait2 */
/* A signal pending for this thread (or process) that mask would unblock: the kernel's
 * epoll_pwait checks for one only when it is about to sleep. */
static int deliverable_pending(const sigset_t *mask)
{
    sigset_t pend;
    if (!mask || sigpending(&pend) != 0)
        return 0;
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(&pend, sig) == 1 && sigismember(mask, sig) == 0)
            return 1;
    return 0;
}

static int epoll_now(int kind, int epfd, struct epoll_event *ev, int max, const sigset_t *mask)
{
    static const struct timespec zero = { 0, 0 };
    if (kind && deliverable_pending(mask)) /* with a timeout it fails at once with EINTR */
        return REAL(epoll_pwait)(epfd, ev, max, 1, mask);
    switch (kind) {
    case 0:
        return REAL(epoll_wait)(epfd, ev, max, 0);
    case 1:
        return REAL(epoll_pwait)(epfd, ev, max, 0, mask);
    default:
        return REAL(epoll_pwait2)(epfd, ev, max, &zero, mask);
    }
}

static int task_epoll(blitz_task *t, int kind, int epfd, struct epoll_event *ev, int max,
                      uint64_t deadline, const sigset_t *mask)
{
    int r = epoll_now(kind, epfd, ev, max, mask);
    if (r != 0)
        return r;
    struct pollfd p = { epfd, POLLIN, 0 };
    for (;;) {
        nfds_t closed;
        int w = wait_any(t, &p, 1, deadline, &closed);
        if (w == WAIT_EINTR) {
            errno = EINTR;
            return -1;
        }
        if (w == WAIT_FALLBACK)
            return REAL(epoll_pwait)(epfd, ev, max, left_ms(deadline), mask);
        if (w == WAIT_CLOSED) {
            errno = EBADF;
            return -1;
        }
        r = epoll_now(kind, epfd, ev, max, mask);
        if (r != 0 || w == WAIT_TIMEDOUT)
            return r;
    }
}

BLITZ_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t || timeout == 0 || max <= 0)
        return REAL(epoll_wait)(epfd, ev, max, timeout);
    return task_epoll(t, 0, epfd, ev, max, timeout < 0 ? 0 : deadline_ms(timeout), NULL);
}

static int epoll_pwait_impl(int epfd, struct epoll_event *ev, int max, int timeout,
                             const sigset_t *mask)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t || timeout == 0 || max <= 0)
        return REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
    return task_epoll(t, 1, epfd, ev, max, timeout < 0 ? 0 : deadline_ms(timeout), mask);
}

static int epoll_pwait2_impl(int epfd, struct epoll_event *ev, int max,
                              const struct timespec *ts, const sigset_t *mask)
{
    blitz_task *t = shim_io_task_cancel_point();
    if (!t || max <= 0 || (ts && (!ts_valid(ts) || (ts->tv_sec == 0 && ts->tv_nsec == 0))))
        return REAL(epoll_pwait2)(epfd, ev, max, ts, mask);
    return task_epoll(t, 2, epfd, ev, max, deadline_ts(ts), mask);
}

/* The calls that take a signal mask: while one runs, the task's mask is that mask (a signal
 * it lets through is delivered, and the call ends with EINTR). */
#define WITH_CALL_MASK(call)                                                                  \
    do {                                                                                      \
        blitz_task *t_ = mask ? shim_task() : NULL;                                           \
        if (t_ && shim_call_mask(t_, mask)) {                                                 \
            shim_call_mask_end(t_);                                                           \
            errno = EINTR;                                                                    \
            return -1;                                                                        \
        }                                                                                     \
        int r_ = (call);                                                                      \
        if (t_)                                                                               \
            shim_call_mask_end(t_);                                                           \
        return r_;                                                                            \
    } while (0)

BLITZ_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                       const sigset_t *mask)
{
    WITH_CALL_MASK(ppoll_impl(fds, n, ts, mask));
}

BLITZ_EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex,
                         const struct timespec *ts, const sigset_t *mask)
{
    WITH_CALL_MASK(pselect_impl(nfds, rd, wr, ex, ts, mask));
}

BLITZ_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
                             const sigset_t *mask)
{
    WITH_CALL_MASK(epoll_pwait_impl(epfd, ev, max, timeout, mask));
}

BLITZ_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max,
                              const struct timespec *ts, const sigset_t *mask)
{
    WITH_CALL_MASK(epoll_pwait2_impl(epfd, ev, max, ts, mask));
}
