// blitz-timeout: 60
// A signal delivered during ppoll, pselect and epoll_pwait, as a legacy program uses
// them (moved out of io_poll_select_epoll.c), with the native results asserted exactly.
// SIGUSR1 has a handler and is blocked in main; for each of the three calls it is made
// pending with pthread_kill(pthread_self()) (checked with sigpending), then the call waits
// on an idle pipe with a 5 s timeout and a mask that unblocks SIGUSR1:
//  -1 EINTR at once (not after the timeout), the handler ran exactly once, SIGUSR1 is
//  blocked again afterwards (the call restored the thread's mask) and no longer pending;
//  then the same call with the same mask and data ready returns it (1) without running
//  the handler again.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include "check.h"

/* errno through calls the compiler cannot fold (__errno_location() is declared const) */
static __attribute__((noinline)) int err_now(void) { return errno; }
static __attribute__((noinline)) void err_clear(void) { errno = 0; }

#define MS 1000000LL
#define LATE_MS 400 /* how long "at once" may take (a slow, shared 2-vCPU VM) */

#define CHECK_PROMPT(what, elapsed)                                                                \
    CHECK((elapsed) < LATE_MS * MS, "%s: took %lld ms, expected at once", what, (long long)(elapsed) / MS)

static void make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) != 0) {
        printf("FAIL: pipe2: %s\n", strerror(errno));
        exit(1);
    }
}

/* SIGUSR1: blocked in main (the only thread), made pending on purpose */
static volatile sig_atomic_t usr1_count;
static void on_usr1(int sig)
{
    (void)sig;
    usr1_count++;
}

static int usr1_blocked(void)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, SIGUSR1) == 1;
}

static int usr1_pending(void)
{
    sigset_t p;
    sigpending(&p);
    return sigismember(&p, SIGUSR1) == 1;
}

/* the mask for ppoll/pselect/epoll_pwait: the current one less SIGUSR1 */
static sigset_t mask_without_usr1(void)
{
    sigset_t m;
    pthread_sigmask(SIG_BLOCK, NULL, &m);
    sigdelset(&m, SIGUSR1);
    return m;
}

/* SIGUSR1 made pending on this thread (blocked, so not delivered yet) */
static void raise_pending(const char *what)
{
    usr1_count = 0;
    EXPECT_ERR(pthread_kill(pthread_self(), SIGUSR1), 0);
    CHECK(usr1_pending(), "%s: SIGUSR1 is not pending after pthread_kill", what);
    CHECK(usr1_blocked(), "%s: SIGUSR1 is not blocked before the call", what);
    EXPECT(usr1_count, 0);
}

/* after the interrupted call: delivered once, blocked again, no longer pending */
static void after_eintr(const char *what)
{
    EXPECT(usr1_count, 1);
    CHECK(usr1_blocked(), "SIGUSR1 is not blocked again after %s", what);
    CHECK(!usr1_pending(), "SIGUSR1 still pending after %s", what);
}

static void ppoll_signal(void)
{
    int before = failures;
    int p[2];
    make_pipe(p);
    struct pollfd pf = { .fd = p[0], .events = POLLIN, .revents = 0x7777 };
    raise_pending("ppoll");
    sigset_t m = mask_without_usr1();
    struct timespec ts = { 5, 0 };
    long long t0 = now_ns();
    err_clear();
    EXPECT(ppoll(&pf, 1, &ts, &m), -1);
    EXPECT_ERR(err_now(), EINTR);
    CHECK_PROMPT("ppoll with a pending signal unblocked by its mask", now_ns() - t0);
    after_eintr("ppoll");

    /* no signal left: data ready, NULL timeout */
    EXPECT(write(p[1], "d", 1), 1);
    EXPECT(ppoll(&pf, 1, NULL, &m), 1);
    EXPECT(pf.revents, POLLIN);
    EXPECT(usr1_count, 1);
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok ppoll: EINTR at once for a pending signal the mask unblocks, handler ran, mask restored\n");
}

static void pselect_signal(void)
{
    int before = failures;
    int p[2];
    make_pipe(p);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    raise_pending("pselect");
    sigset_t m = mask_without_usr1();
    struct timespec ts = { 5, 0 };
    long long t0 = now_ns();
    err_clear();
    EXPECT(pselect(p[0] + 1, &rs, NULL, NULL, &ts, &m), -1);
    EXPECT_ERR(err_now(), EINTR);
    CHECK_PROMPT("pselect with a pending signal unblocked by its mask", now_ns() - t0);
    after_eintr("pselect");

    /* no signal left: data ready, NULL timeout */
    EXPECT(write(p[1], "t", 1), 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    EXPECT(pselect(p[0] + 1, &rs, NULL, NULL, NULL, &m), 1);
    CHECK(FD_ISSET(p[0], &rs), "pselect: the readable pipe is not in readfds");
    EXPECT(usr1_count, 1);
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok pselect: EINTR at once for a pending signal the mask unblocks, handler ran, mask restored\n");
}

static void epoll_pwait_signal(void)
{
    int before = failures;
    int p[2];
    make_pipe(p);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0, "epoll_create1: %s", strerror(errno));
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 5 }, evs[2];
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
    raise_pending("epoll_pwait");
    sigset_t m = mask_without_usr1();
    long long t0 = now_ns();
    err_clear();
    EXPECT(epoll_pwait(ep, evs, 2, 5000, &m), -1);
    EXPECT_ERR(err_now(), EINTR);
    CHECK_PROMPT("epoll_pwait with a pending signal unblocked by its mask", now_ns() - t0);
    after_eintr("epoll_pwait");

    /* no signal left: data ready, timeout -1 */
    EXPECT(write(p[1], "e", 1), 1);
    EXPECT(epoll_pwait(ep, evs, 2, -1, &m), 1);
    EXPECT(evs[0].events, EPOLLIN);
    EXPECT(evs[0].data.u32, 5);
    EXPECT(usr1_count, 1);
    close(ep);
    close(p[0]);
    close(p[1]);
    if (failures == before)
        printf("ok epoll_pwait: EINTR at once for a pending signal the mask unblocks, handler ran, mask restored\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    EXPECT(sigaction(SIGUSR1, &sa, NULL), 0);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, SIGUSR1);
    EXPECT_ERR(pthread_sigmask(SIG_BLOCK, &m, NULL), 0);

    ppoll_signal();
    pselect_signal();
    epoll_pwait_signal();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
