// blitz-timeout: 60
// Signal handlers installed WITH SA_RESTART (and one with signal(), which in glibc has BSD
// semantics: SA_RESTART).  man 7 signal: read/write on "slow" devices (pipes, sockets),
// accept, recv (unless SO_RCVTIMEO is set), sem_wait (since Linux 2.6.22) and the futex
// waits are restarted after the handler returns when SA_RESTART is set; poll, select,
// epoll_wait, nanosleep and socket input calls with SO_RCVTIMEO set are never restarted and
// always fail with EINTR.  Each case pthread_kill()s the thread ~100 ms after it is in the
// call and prints one verdict line:
//  1-3. restarted: read() on an empty pipe (SIGUSR1 by sigaction), accept() on a quiet
//     listener, recv() on an idle TCP connection without a timeout, sem_wait on a 0-valued
//     semaphore (measured natively: restarted, as man 7 signal says), a FUTEX_WAIT system
//     call without a timeout on an unchanged word, and read() with the handler installed by
//     signal(SIGUSR2, h): the handler runs once, on the target thread; 200 ms after it ran
//     the call is still blocked; then data / a connection / a sem_post / a futex wake
//     arrives and the call returns it (1 byte, a connection, 0, 0).
//  4. never restarted even with SA_RESTART: poll, select, epoll_wait (5 s timeouts on an idle
//     pipe), nanosleep (2 s; rem between 1 and 2 s), recv() on a socket with SO_RCVTIMEO
//     2 s (not restarted, and not the EAGAIN of a timeout) and FUTEX_WAIT with a 5 s
//     timeout (the kernel restarts only untimed futex waits): -1 EINTR.
//  5. sigaction() reports back what the program installed: sa_handler, SA_RESTART in sa_flags,
//     the sa_mask; signal(SIGUSR2, h2) reports SA_RESTART too, and signal(SIGUSR2, SIG_DFL)
//     returns h2.
//  6. SA_RESETHAND: the handler runs once, then a sigaction query shows SIG_DFL (the flags
//     are not checked then: Linux keeps reporting SA_RESETHAND in them).
// A restartable call that the signal ends early (EINTR) or that never ends is caught: the
// release happens anyway (at the latest 2.2 s after the signal) and each check fails.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sig_common.h"

#define MS 1000000LL
#define FALLBACK_MS 5000

/* on_usr1 (sig_common.h) and on_usr2: distinct handlers that both count in hits */
static void on_usr2(int sig)
{
    (void)sig;
    record_hit();
}

static void mkpipe(int p[2])
{
    if (pipe(p) != 0) {
        printf("FAIL: pipe: %s\n", strerrorname_np(errno));
        exit(1);
    }
}

/* ---- the target thread and the runner ---- */

struct tcase {
    const char *name;
    int sig;
    long (*call)(struct tcase *);
    void (*release)(struct tcase *); /* restart cases: what ends the call once the handler ran */
    int fd, fd2, ep;
    uint16_t port;
    sem_t sem;
    uint32_t futex_word;
    struct timespec rem;
    int started, returned; /* atomic */
    int blocked_after_handler;
    long ret;
    int err, hits_at_return, on_target;
    char got;
};

static void *tcase_thread(void *arg)
{
    struct tcase *c = arg;
    gate_open(&c->started);
    err_clear();
    long r = c->call(c);
    int e = err_now();
    c->hits_at_return = hits_now();
    c->on_target = ran_on_me();
    c->ret = r;
    c->err = e;
    gate_open(&c->returned);
    return NULL;
}

static void run_tcase(struct tcase *c)
{
    pthread_t t;
    reset_hits();
    EXPECT_ERR(pthread_create(&t, NULL, tcase_thread, c), 0);
    gate_wait(&c->started);
    nap_ms(100);
    EXPECT_ERR(pthread_kill(t, c->sig), 0);
    if (c->release) {
        /* restartable: the handler runs, the call goes on waiting; then release it */
        wait_flag(&hits, 2000);
        nap_ms(200);
        c->blocked_after_handler = !__atomic_load_n(&c->returned, __ATOMIC_ACQUIRE);
        c->release(c);
    }
    wait_flag(&c->returned, FALLBACK_MS);
    EXPECT_ERR(pthread_join(t, NULL), 0);
}

static const char *outcome(struct tcase *c, char *buf, size_t n)
{
    if (c->ret == -1)
        snprintf(buf, n, "%s", c->err ? strerrorname_np(c->err) : "-1 without errno");
    else
        snprintf(buf, n, "returned %ld", c->ret);
    return buf;
}

static void check_handler(struct tcase *c)
{
    EXPECT(c->hits_at_return, 1);
    CHECK(c->on_target, "%s: the handler did not run on the target thread", c->name);
    EXPECT(hits_now(), 1);
}

/* restarted: still blocked 200 ms after the handler ran, then returned `want` */
static void expect_restarted(struct tcase *c, long want, const char *what)
{
    run_tcase(c);
    char buf[64];
    if (c->blocked_after_handler && c->ret == want)
        printf("%s: restarted (still blocked after the handler), then %s, handler ran %dx%s\n", c->name,
               what, c->hits_at_return, c->on_target ? " on the target thread" : "");
    else
        printf("%s: %s%s, handler ran %dx%s\n", c->name, outcome(c, buf, sizeof buf),
               c->blocked_after_handler ? "" : " (not blocked after the handler)", c->hits_at_return,
               c->on_target ? " on the target thread" : "");
    CHECK(c->blocked_after_handler, "%s: the call did not go on waiting after the handler (%s)", c->name,
          outcome(c, buf, sizeof buf));
    EXPECT(c->ret, want);
    check_handler(c);
}

/* never restarted: -1 EINTR */
static void expect_eintr(struct tcase *c)
{
    run_tcase(c);
    char buf[64];
    printf("%s: %s, handler ran %dx%s\n", c->name, outcome(c, buf, sizeof buf), c->hits_at_return,
           c->on_target ? " on the target thread" : "");
    EXPECT(c->ret, -1);
    EXPECT_ERR(c->err, EINTR);
    check_handler(c);
}

static long do_read(struct tcase *c)
{
    c->got = 0;
    return read(c->fd, &c->got, 1);
}
static long do_recv(struct tcase *c)
{
    c->got = 0;
    return recv(c->fd, &c->got, 1, 0);
}
static void release_write(struct tcase *c) { EXPECT(write(c->fd2, "d", 1), 1); }

static long do_accept(struct tcase *c)
{
    int fd = accept(c->fd, NULL, NULL);
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 1 : fd;
}
static void release_connect(struct tcase *c) { c->fd2 = connect_to(c->port); }

static long do_sem_wait(struct tcase *c) { return sem_wait(&c->sem); }
static void release_sem(struct tcase *c) { EXPECT(sem_post(&c->sem), 0); }

static long do_futex_wait(struct tcase *c)
{
    return syscall(SYS_futex, &c->futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}
static long do_futex_wait_timed(struct tcase *c)
{
    struct timespec rel = { 5, 0 };
    return syscall(SYS_futex, &c->futex_word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
}
static void release_futex(struct tcase *c)
{
    __atomic_store_n(&c->futex_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &c->futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static long do_poll(struct tcase *c)
{
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    return poll(&p, 1, 5000);
}
static long do_select(struct tcase *c)
{
    fd_set s;
    FD_ZERO(&s);
    FD_SET(c->fd, &s);
    struct timeval tv = { 5, 0 };
    return select(c->fd + 1, &s, NULL, NULL, &tv);
}
static long do_epoll_wait(struct tcase *c)
{
    struct epoll_event ev;
    return epoll_wait(c->ep, &ev, 1, 5000);
}
static long do_nanosleep(struct tcase *c)
{
    struct timespec ts = { 2, 0 };
    return nanosleep(&ts, &c->rem);
}

static void install(int sig, void (*h)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = flags;
    EXPECT(sigaction(sig, &sa, NULL), 0);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    install(SIGUSR1, on_usr1, SA_RESTART);

    /* 1. read on a pipe */
    {
        int p[2];
        mkpipe(p);
        struct tcase c = { .name = "read (pipe), SA_RESTART", .sig = SIGUSR1, .call = do_read,
                           .release = release_write, .fd = p[0], .fd2 = p[1] };
        expect_restarted(&c, 1, "returned the data");
        EXPECT(c.got, 'd');
        close(p[0]);
        close(p[1]);
    }
    /* 2. accept */
    {
        uint16_t port;
        int l = listener(&port);
        struct tcase c = { .name = "accept (TCP listener), SA_RESTART", .sig = SIGUSR1, .call = do_accept,
                           .release = release_connect, .fd = l, .fd2 = -1, .port = port };
        expect_restarted(&c, 1, "returned the connection");
        if (c.fd2 >= 0)
            close(c.fd2);
        close(l);
    }
    /* recv on a TCP connection without a timeout */
    {
        int sv[2];
        tcp_pair(sv);
        struct tcase c = { .name = "recv (TCP, no SO_RCVTIMEO), SA_RESTART", .sig = SIGUSR1, .call = do_recv,
                           .release = release_write, .fd = sv[0], .fd2 = sv[1] };
        expect_restarted(&c, 1, "returned the data");
        EXPECT(c.got, 'd');
        close(sv[0]);
        close(sv[1]);
    }
    /* sem_wait: restarted natively (man 7 signal: since Linux 2.6.22) */
    {
        struct tcase c = { .name = "sem_wait (value 0), SA_RESTART", .sig = SIGUSR1, .call = do_sem_wait,
                           .release = release_sem };
        EXPECT(sem_init(&c.sem, 0, 0), 0);
        expect_restarted(&c, 0, "returned 0 after sem_post");
        int v = -1;
        EXPECT(sem_getvalue(&c.sem, &v), 0);
        EXPECT(v, 0);
        sem_destroy(&c.sem);
    }
    /* futex wait without a timeout: the kernel restarts it */
    {
        struct tcase c = { .name = "futex FUTEX_WAIT (word unchanged), SA_RESTART", .sig = SIGUSR1,
                           .call = do_futex_wait, .release = release_futex };
        expect_restarted(&c, 0, "returned 0 after the wake");
    }
    /* 3. the handler installed with signal(): BSD semantics in glibc */
    {
        void (*prev)(int) = signal(SIGUSR2, on_usr2);
        CHECK(prev == SIG_DFL, "signal(SIGUSR2, h2) did not return SIG_DFL");
        int p[2];
        mkpipe(p);
        struct tcase c = { .name = "read (pipe), handler by signal()", .sig = SIGUSR2, .call = do_read,
                           .release = release_write, .fd = p[0], .fd2 = p[1] };
        expect_restarted(&c, 1, "returned the data");
        EXPECT(c.got, 'd');
        close(p[0]);
        close(p[1]);
    }

    /* 4. never restarted, even with SA_RESTART */
    {
        struct tcase c = { .name = "futex FUTEX_WAIT with a 5 s timeout, SA_RESTART", .sig = SIGUSR1,
                           .call = do_futex_wait_timed };
        expect_eintr(&c);
    }
    {
        int p[2];
        mkpipe(p);
        struct tcase c = { .name = "poll 5 s (idle pipe), SA_RESTART", .sig = SIGUSR1, .call = do_poll, .fd = p[0] };
        expect_eintr(&c);
        c = (struct tcase){ .name = "select 5 s (idle pipe), SA_RESTART", .sig = SIGUSR1, .call = do_select,
                            .fd = p[0] };
        expect_eintr(&c);
        c = (struct tcase){ .name = "epoll_wait 5 s (idle pipe), SA_RESTART", .sig = SIGUSR1,
                            .call = do_epoll_wait, .fd = p[0] };
        c.ep = epoll_create1(0);
        CHECK(c.ep >= 0, "epoll_create1: %s", strerrorname_np(errno));
        struct epoll_event ev = { .events = EPOLLIN };
        EXPECT(epoll_ctl(c.ep, EPOLL_CTL_ADD, p[0], &ev), 0);
        expect_eintr(&c);
        close(c.ep);
        close(p[0]);
        close(p[1]);
    }
    {
        struct tcase c = { .name = "nanosleep 2 s, SA_RESTART", .sig = SIGUSR1, .call = do_nanosleep };
        expect_eintr(&c);
        long long rem = ts_ns(c.rem);
        CHECK(rem > 1000 * MS && rem < 2000 * MS, "nanosleep: rem = %lld ms, expected between 1000 and 2000",
              rem / MS);
    }
    {
        int sv[2];
        tcp_pair(sv);
        struct timeval tv = { 2, 0 };
        EXPECT(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
        struct tcase c = { .name = "recv (TCP, SO_RCVTIMEO 2 s), SA_RESTART", .sig = SIGUSR1, .call = do_recv,
                           .fd = sv[0] };
        expect_eintr(&c);
        close(sv[0]);
        close(sv[1]);
    }

    /* 5. sigaction reports what was installed */
    {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigemptyset(&sa.sa_mask);
        sigaddset(&sa.sa_mask, SIGUSR2);
        sa.sa_flags = SA_RESTART;
        EXPECT(sigaction(SIGUSR1, &sa, NULL), 0);
        memset(&old, 0, sizeof old);
        EXPECT(sigaction(SIGUSR1, NULL, &old), 0);
        int before = failures;
        CHECK(old.sa_handler == on_usr1, "sigaction(SIGUSR1) query: not the handler installed");
        CHECK(old.sa_flags & SA_RESTART, "sigaction(SIGUSR1) query: SA_RESTART missing (flags %#x)",
              (unsigned)old.sa_flags);
        CHECK(!(old.sa_flags & (SA_SIGINFO | SA_RESETHAND | SA_NODEFER)),
              "sigaction(SIGUSR1) query: flags %#x the program did not set", (unsigned)old.sa_flags);
        CHECK(sigismember(&old.sa_mask, SIGUSR2) == 1, "sigaction(SIGUSR1) query: sa_mask lost SIGUSR2");
        CHECK(sigismember(&old.sa_mask, SIGTERM) == 0, "sigaction(SIGUSR1) query: SIGTERM in sa_mask");

        memset(&old, 0, sizeof old);
        EXPECT(sigaction(SIGUSR2, NULL, &old), 0);
        CHECK(old.sa_handler == on_usr2, "sigaction(SIGUSR2) query: not the handler signal() installed");
        CHECK(old.sa_flags & SA_RESTART, "sigaction(SIGUSR2) query after signal(): SA_RESTART missing (flags %#x)",
              (unsigned)old.sa_flags);
        void (*prev)(int) = signal(SIGUSR2, SIG_DFL);
        CHECK(prev == on_usr2, "signal(SIGUSR2, SIG_DFL) did not return the previous handler");
        memset(&old, 0, sizeof old);
        EXPECT(sigaction(SIGUSR2, NULL, &old), 0);
        CHECK(old.sa_handler == SIG_DFL, "sigaction(SIGUSR2) query after signal(SIG_DFL): not SIG_DFL");
        printf("sigaction/signal queries: %s\n", failures == before ? "report what was installed" : "WRONG");
    }

    /* 6. SA_RESETHAND */
    {
        install(SIGUSR2, on_usr2, SA_RESETHAND);
        struct sigaction old;
        memset(&old, 0, sizeof old);
        EXPECT(sigaction(SIGUSR2, NULL, &old), 0);
        CHECK(old.sa_handler == on_usr2, "SA_RESETHAND: not installed");
        CHECK(old.sa_flags & SA_RESETHAND, "SA_RESETHAND: flag not reported (flags %#x)", (unsigned)old.sa_flags);
        reset_hits();
        EXPECT_ERR(pthread_kill(pthread_self(), SIGUSR2), 0);
        wait_flag(&hits, 2000);
        int h = hits_now();
        memset(&old, 0, sizeof old);
        EXPECT(sigaction(SIGUSR2, NULL, &old), 0);
        int dfl = old.sa_handler == SIG_DFL;
        printf("SA_RESETHAND: handler ran %dx, then %s\n", h, dfl ? "SIG_DFL" : "NOT SIG_DFL");
        EXPECT(h, 1);
        CHECK(dfl, "SA_RESETHAND: the handler is still installed after it ran");
    }

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
