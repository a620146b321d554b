// blitz-timeout: 60
// Signal handlers installed WITHOUT SA_RESTART (sigaction, sa_flags = 0) interrupt blocked
// calls: the call fails with -1 EINTR after the handler ran (man 7 signal, "Interruption of
// system calls and library functions by signal handlers").  Each case prints one verdict line.
//  1. process-directed: main blocks in accept() on a quiet listener; another thread does
//     kill(getpid(), SIGUSR1).  The kernel gives a process-directed signal to the main thread
//     when it does not block it: accept -1 EINTR, the handler ran once, on the main thread.
//  2. graceful shutdown, the classic server loop: a SIGTERM handler sets `stop`; main runs
//     while (!stop) accept(), EINTR -> continue, each connection served (one line echoed) by
//     a new thread; a client thread connects twice, checks the echoes, waits until main is
//     in its third accept() and sends kill(getpid(), SIGTERM): accept EINTR once, the loop
//     ends, the process is not killed, every connection thread joins.
//  3-7. thread-directed (pthread_kill at ~100 ms after the thread is in the call): read() on
//     an empty pipe, recv() on an idle AF_UNIX socketpair and on an idle TCP connection,
//     nanosleep (-1 EINTR, rem between 1 and 2 s of the 2 s asked), clock_nanosleep
//     (returns EINTR, the error number, rem 1..2 s), usleep (-1 EINTR), sleep(3) (returns the
//     seconds left, 1..3, not 0), poll/select/epoll_wait with 5 s timeouts on idle fds, and
//     sem_wait on a 0-valued unnamed semaphore: each -1 EINTR (sem_wait measured natively:
//     -1 EINTR without SA_RESTART, as man 7 signal lists it with the SA_RESTART-dependent
//     interfaces), likewise on a process-shared unnamed one and on a named one (sem_open),
//     and a FUTEX_WAIT system call on an unchanged word (the kernel: EINTR without SA_RESTART),
//     the handler ran exactly once, on the target thread, before the call returned.
//  8. not interrupted: pthread_join on a thread that ends 200 ms after the handler ran, and
//     pthread_mutex_lock on a mutex, pthread_rwlock_wrlock on a read-held rwlock and
//     pthread_rwlock_rdlock on a write-held one, each released 200 ms after the handler ran,
//     pthread_once while another thread's initializer runs until 200 ms after it, and
//     pthread_barrier_wait whose last thread arrives 200 ms after it: the handler runs
//     once, on the waiting thread, while it waits; the call returns 0 afterwards (glibc
//     retries the futex wait; POSIX: these never return EINTR).  cond_wait is not tested
//     (spurious wakeups are allowed).
// A call that is not interrupted ends anyway: timeouts (poll etc.) or, after 5 s, a fallback
// (data written, a connection made, sem_post), so a broken run prints FAIL instead of hanging.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "sig_common.h"

#define MS 1000000LL
#define FALLBACK_MS 5000 /* a call not interrupted by then is ended another way */

/* ---- 1. process-directed SIGUSR1 while main is blocked in accept() ---- */

struct pd_sender {
    uint16_t port;
    int main_blocked; /* atomic: main is about to call accept */
    int done;         /* atomic: main's accept returned */
};

static void *pd_sender_main(void *arg)
{
    struct pd_sender *s = arg;
    gate_wait(&s->main_blocked);
    nap_ms(100);
    TCHECK(kill(getpid(), SIGUSR1) == 0, "kill: %s", strerrorname_np(errno));
    if (!wait_flag(&s->done, FALLBACK_MS)) /* not interrupted: end the accept with a client */
        close(connect_to(s->port));
    return NULL;
}

static void accept_process_directed(void)
{
    uint16_t port;
    int l = listener(&port);
    struct pd_sender s = { .port = port };
    pthread_t t;
    reset_hits();
    EXPECT_ERR(pthread_create(&t, NULL, pd_sender_main, &s), 0);
    gate_open(&s.main_blocked);
    err_clear();
    int fd = accept(l, NULL, NULL);
    int e = err_now();
    int h = hits_now(), on_main = ran_on_me();
    gate_open(&s.done);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    if (fd >= 0) {
        printf("accept (main thread, process-directed kill): returned a connection, handler ran %dx%s\n",
               h, on_main ? " on the main thread" : "");
        close(fd);
    } else {
        printf("accept (main thread, process-directed kill): %s, handler ran %dx%s\n",
               strerrorname_np(e) ? strerrorname_np(e) : "-1", h, on_main ? " on the main thread" : "");
    }
    EXPECT(fd, -1);
    EXPECT_ERR(e, EINTR);
    EXPECT(h, 1);
    CHECK(on_main, "the process-directed SIGUSR1 did not run on the main thread (blocked in accept)");
    EXPECT(hits_now(), 1);
    close(l);
}

/* ---- 2. graceful shutdown loop ---- */

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

struct shutdown_ctl {
    uint16_t port;
    int accept_calls; /* atomic: main's accept() calls so far (counted right before each) */
    int main_left;    /* atomic: main left its loop */
    int gave_up;      /* atomic: SIGTERM did not end the loop, the client connected to end it */
    int client_ok;    /* atomic */
};

static void *echo_conn(void *arg)
{
    int fd = (int)(long)arg;
    char buf[64];
    size_t n = 0;
    while (n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (memchr(buf, '\n', n))
            break;
    }
    long ok = n > 0 && buf[n - 1] == '\n' && write(fd, buf, n) == (ssize_t)n;
    close(fd);
    return (void *)ok;
}

static int echo_once(uint16_t port, const char *line)
{
    int fd = connect_to(port);
    size_t len = strlen(line);
    int ok = write(fd, line, len) == (ssize_t)len;
    char buf[64];
    size_t n = 0;
    while (ok && n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return ok && n == len && memcmp(buf, line, len) == 0;
}

static void *shutdown_client(void *arg)
{
    struct shutdown_ctl *c = arg;
    int ok = echo_once(c->port, "hello one\n") && echo_once(c->port, "hello two\n");
    __atomic_store_n(&c->client_ok, ok, __ATOMIC_RELEASE);
    /* main serves both connections, then calls accept() a third time: signal it there */
    long long t0 = now_ns();
    while (__atomic_load_n(&c->accept_calls, __ATOMIC_ACQUIRE) < 3 && now_ns() - t0 < FALLBACK_MS * MS)
        nap_ms(5);
    nap_ms(100);
    TCHECK(kill(getpid(), SIGTERM) == 0, "kill: %s", strerrorname_np(errno));
    if (!wait_flag(&c->main_left, FALLBACK_MS)) {
        __atomic_store_n(&c->gave_up, 1, __ATOMIC_RELEASE);
        close(connect_to(c->port));
    }
    return NULL;
}

static void graceful_shutdown(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: accept fails with EINTR */
    EXPECT(sigaction(SIGTERM, &sa, NULL), 0);

    uint16_t port;
    int l = listener(&port);
    struct shutdown_ctl c = { .port = port };
    pthread_t client, conns[8];
    int nconn = 0, eintrs = 0;
    EXPECT_ERR(pthread_create(&client, NULL, shutdown_client, &c), 0);
    while (!stop) {
        __atomic_fetch_add(&c.accept_calls, 1, __ATOMIC_RELEASE);
        err_clear();
        int fd = accept(l, NULL, NULL);
        if (fd < 0) {
            int e = err_now();
            if (e == EINTR) {
                eintrs++;
                continue;
            }
            CHECK(0, "graceful shutdown: accept failed with %s", strerrorname_np(e));
            break;
        }
        if (__atomic_load_n(&c.gave_up, __ATOMIC_ACQUIRE)) {
            CHECK(0, "graceful shutdown: SIGTERM did not interrupt accept (stop = %d)", (int)stop);
            close(fd);
            break;
        }
        if (nconn == 8) {
            CHECK(0, "graceful shutdown: too many connections");
            close(fd);
            break;
        }
        EXPECT_ERR(pthread_create(&conns[nconn++], NULL, echo_conn, (void *)(long)fd), 0);
    }
    gate_open(&c.main_left);
    int served = 0;
    for (int i = 0; i < nconn; i++) {
        void *ok = NULL;
        EXPECT_ERR(pthread_join(conns[i], &ok), 0);
        served += ok != NULL;
    }
    EXPECT_ERR(pthread_join(client, NULL), 0);
    CHECK(c.client_ok, "graceful shutdown: the client did not get its two lines echoed");
    EXPECT(nconn, 2);
    EXPECT(served, 2);
    EXPECT(eintrs, 1);
    EXPECT(stop, 1);
    close(l);
    if (stop && eintrs == 1 && served == 2 && nconn == 2 && c.client_ok && !c.gave_up)
        printf("graceful shutdown: ok (2 connections echoed, accept interrupted once by SIGTERM)\n");
    else
        printf("graceful shutdown: FAILED\n");
}

/* ---- 3-8. thread-directed: pthread_kill(T, SIGUSR1) while T is blocked ---- */

enum ret_kind { RET_ERRNO, RET_ERRNUM, RET_SLEEP };

struct tcase {
    const char *name;
    long (*call)(struct tcase *);
    void (*unblock)(struct tcase *); /* if not returned after FALLBACK_MS; NULL: the call has a timeout */
    enum ret_kind kind;
    int fd, fd2, ep;
    sem_t sem;
    sem_t *nsem;
    pthread_mutex_t mu;
    pthread_rwlock_t rw;
    pthread_barrier_t bar;
    uint32_t futex_word;
    int rw_write; /* the holder takes the write lock, the case the read lock */
    pthread_t other;
    struct timespec rem;
    int started, returned; /* atomic */
    long ret;
    int err, hits_at_return, on_target;
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
    EXPECT_ERR(pthread_kill(t, SIGUSR1), 0);
    if (!wait_flag(&c->returned, FALLBACK_MS) && c->unblock)
        c->unblock(c);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    char what[64];
    switch (c->kind) {
    case RET_ERRNO:
        if (c->ret == -1)
            snprintf(what, sizeof what, "%s", c->err ? strerrorname_np(c->err) : "-1 without errno");
        else
            snprintf(what, sizeof what, "returned %ld", c->ret);
        break;
    case RET_ERRNUM:
        snprintf(what, sizeof what, "returned %s", c->ret ? strerrorname_np((int)c->ret) : "0");
        break;
    case RET_SLEEP:
        if (c->ret >= 1 && c->ret <= 3)
            snprintf(what, sizeof what, "returned the seconds left (1..3)");
        else
            snprintf(what, sizeof what, "returned %ld", c->ret);
        break;
    }
    printf("%s: %s, handler ran %dx%s\n", c->name, what, c->hits_at_return,
           c->on_target ? " on the target thread" : "");
    EXPECT(c->hits_at_return, 1);
    CHECK(c->on_target, "%s: the handler did not run on the target thread", c->name);
    EXPECT(hits_now(), 1);
}

/* expects -1 EINTR */
static void expect_eintr(struct tcase *c)
{
    run_tcase(c);
    EXPECT(c->ret, -1);
    EXPECT_ERR(c->err, EINTR);
}

static void rem_1_to_2s(struct tcase *c)
{
    long long rem = ts_ns(c->rem);
    CHECK(rem > 1000 * MS && rem < 2000 * MS, "%s: rem = %lld ms, expected between 1000 and 2000",
          c->name, rem / MS);
}

static long do_read(struct tcase *c)
{
    char b;
    return read(c->fd, &b, 1);
}
static long do_recv(struct tcase *c)
{
    char b;
    return recv(c->fd, &b, 1, 0);
}
static void unblock_write(struct tcase *c) { EXPECT(write(c->fd2, "x", 1), 1); }

static long do_nanosleep(struct tcase *c)
{
    struct timespec ts = { 2, 0 };
    return nanosleep(&ts, &c->rem);
}
static long do_clock_nanosleep(struct tcase *c)
{
    struct timespec ts = { 2, 0 };
    return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &c->rem);
}
static long do_usleep(struct tcase *c)
{
    (void)c;
    return usleep(2000000);
}
static long do_sleep(struct tcase *c)
{
    (void)c;
    return (long)sleep(3);
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

static long do_sem_wait(struct tcase *c) { return sem_wait(&c->sem); }
static void unblock_sem(struct tcase *c) { EXPECT(sem_post(&c->sem), 0); }
static long do_nsem_wait(struct tcase *c) { return sem_wait(c->nsem); }
static void unblock_nsem(struct tcase *c) { EXPECT(sem_post(c->nsem), 0); }
static long do_futex_wait(struct tcase *c)
{
    return syscall(SYS_futex, &c->futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}
static void unblock_futex(struct tcase *c)
{
    __atomic_store_n(&c->futex_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &c->futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* a releaser thread: waits until the handler ran (at most 2 s), 200 ms more, then releases */
static int x_ended; /* atomic */
static void *ends_after_handler(void *arg)
{
    (void)arg;
    long long t0 = now_ns();
    while (hits_now() == 0 && now_ns() - t0 < 2000 * MS)
        nap_ms(5);
    nap_ms(200);
    __atomic_store_n(&x_ended, 1, __ATOMIC_RELEASE);
    return NULL;
}
static long do_join(struct tcase *c)
{
    long r = pthread_join(c->other, NULL);
    TCHECK(r != 0 || __atomic_load_n(&x_ended, __ATOMIC_ACQUIRE),
           "pthread_join returned before the joined thread ended");
    return r;
}

static int mu_locked; /* atomic */
static void *holds_until_handler(void *arg)
{
    struct tcase *c = arg;
    TCHECK(pthread_mutex_lock(&c->mu) == 0, "holder: pthread_mutex_lock failed");
    gate_open(&mu_locked);
    long long t0 = now_ns();
    while (hits_now() == 0 && now_ns() - t0 < 2000 * MS)
        nap_ms(5);
    nap_ms(200);
    TCHECK(pthread_mutex_unlock(&c->mu) == 0, "holder: pthread_mutex_unlock failed");
    return NULL;
}
static int rw_locked; /* atomic */
static void *holds_rw_until_handler(void *arg)
{
    struct tcase *c = arg;
    int r = c->rw_write ? pthread_rwlock_wrlock(&c->rw) : pthread_rwlock_rdlock(&c->rw);
    TCHECK(r == 0, "holder: rwlock lock failed");
    gate_open(&rw_locked);
    long long t0 = now_ns();
    while (hits_now() == 0 && now_ns() - t0 < 2000 * MS)
        nap_ms(5);
    nap_ms(200);
    TCHECK(pthread_rwlock_unlock(&c->rw) == 0, "holder: pthread_rwlock_unlock failed");
    return NULL;
}
static long do_rwlock(struct tcase *c)
{
    long r = c->rw_write ? pthread_rwlock_rdlock(&c->rw) : pthread_rwlock_wrlock(&c->rw);
    if (r == 0)
        pthread_rwlock_unlock(&c->rw);
    return r;
}

static pthread_once_t once_ctl = PTHREAD_ONCE_INIT;
static int once_running, once_runs; /* atomic */
static void slow_init(void)
{
    gate_open(&once_running);
    long long t0 = now_ns();
    while (hits_now() == 0 && now_ns() - t0 < 2000 * MS)
        nap_ms(5);
    nap_ms(200);
    __atomic_fetch_add(&once_runs, 1, __ATOMIC_RELEASE);
}
static void *runs_once(void *arg)
{
    (void)arg;
    TCHECK(pthread_once(&once_ctl, slow_init) == 0, "initializer: pthread_once failed");
    return NULL;
}
static long do_once(struct tcase *c)
{
    (void)c;
    long r = pthread_once(&once_ctl, slow_init);
    TCHECK(__atomic_load_n(&once_runs, __ATOMIC_ACQUIRE) == 1,
           "pthread_once returned before the initializer ended");
    return r;
}

static int bar_waiting; /* atomic */
static void *arrives_after_handler(void *arg)
{
    struct tcase *c = arg;
    gate_wait(&bar_waiting);
    long long t0 = now_ns();
    while (hits_now() == 0 && now_ns() - t0 < 2000 * MS)
        nap_ms(5);
    nap_ms(200);
    int r = pthread_barrier_wait(&c->bar);
    TCHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD, "late arrival: pthread_barrier_wait = %d", r);
    return NULL;
}
/* which of the two gets PTHREAD_BARRIER_SERIAL_THREAD is unspecified: both count as 0 */
static long do_barrier_wait(struct tcase *c)
{
    gate_open(&bar_waiting);
    int r = pthread_barrier_wait(&c->bar);
    return r == PTHREAD_BARRIER_SERIAL_THREAD ? 0 : r;
}

static long do_mutex_lock(struct tcase *c)
{
    long r = pthread_mutex_lock(&c->mu);
    if (r == 0)
        pthread_mutex_unlock(&c->mu);
    return r;
}

static void mkpipe(struct tcase *c)
{
    int p[2];
    if (pipe(p) != 0) {
        printf("FAIL: pipe: %s\n", strerrorname_np(errno));
        exit(1);
    }
    c->fd = p[0];
    c->fd2 = p[1];
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    EXPECT(sigaction(SIGUSR1, &sa, NULL), 0);

    /* 1, 2 */
    accept_process_directed();
    graceful_shutdown();

    /* 3. read on an empty pipe */
    {
        struct tcase c = { .name = "read (empty pipe)", .call = do_read, .unblock = unblock_write };
        mkpipe(&c);
        expect_eintr(&c);
        close(c.fd);
        close(c.fd2);
    }
    /* 4. recv on idle sockets */
    {
        struct tcase c = { .name = "recv (idle AF_UNIX socketpair)", .call = do_recv, .unblock = unblock_write };
        int sv[2];
        EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        c.fd = sv[0];
        c.fd2 = sv[1];
        expect_eintr(&c);
        close(c.fd);
        close(c.fd2);
    }
    {
        struct tcase c = { .name = "recv (idle TCP connection)", .call = do_recv, .unblock = unblock_write };
        int sv[2];
        tcp_pair(sv);
        c.fd = sv[0];
        c.fd2 = sv[1];
        expect_eintr(&c);
        close(c.fd);
        close(c.fd2);
    }
    /* 5. sleeps */
    {
        struct tcase c = { .name = "nanosleep 2 s", .call = do_nanosleep };
        expect_eintr(&c);
        rem_1_to_2s(&c);
    }
    {
        struct tcase c = { .name = "clock_nanosleep CLOCK_MONOTONIC 2 s", .call = do_clock_nanosleep,
                           .kind = RET_ERRNUM };
        run_tcase(&c);
        EXPECT_ERR((int)c.ret, EINTR);
        rem_1_to_2s(&c);
    }
    {
        struct tcase c = { .name = "usleep 2 s", .call = do_usleep };
        expect_eintr(&c);
    }
    {
        struct tcase c = { .name = "sleep 3", .call = do_sleep, .kind = RET_SLEEP };
        run_tcase(&c);
        CHECK(c.ret >= 1 && c.ret <= 3, "sleep(3) interrupted returned %ld, expected 1..3", c.ret);
    }
    /* 6. multiplexing, 5 s timeouts on an idle pipe */
    {
        struct tcase c = { .name = "poll 5 s (idle pipe)", .call = do_poll };
        mkpipe(&c);
        expect_eintr(&c);
        close(c.fd);
        close(c.fd2);
    }
    {
        struct tcase c = { .name = "select 5 s (idle pipe)", .call = do_select };
        mkpipe(&c);
        expect_eintr(&c);
        close(c.fd);
        close(c.fd2);
    }
    {
        struct tcase c = { .name = "epoll_wait 5 s (idle pipe)", .call = do_epoll_wait };
        mkpipe(&c);
        c.ep = epoll_create1(0);
        CHECK(c.ep >= 0, "epoll_create1: %s", strerrorname_np(errno));
        struct epoll_event ev = { .events = EPOLLIN };
        EXPECT(epoll_ctl(c.ep, EPOLL_CTL_ADD, c.fd, &ev), 0);
        expect_eintr(&c);
        close(c.ep);
        close(c.fd);
        close(c.fd2);
    }
    /* 7. sem_wait */
    {
        struct tcase c = { .name = "sem_wait (value 0)", .call = do_sem_wait, .unblock = unblock_sem };
        EXPECT(sem_init(&c.sem, 0, 0), 0);
        expect_eintr(&c);
        int v = -1;
        EXPECT(sem_getvalue(&c.sem, &v), 0);
        EXPECT(v, 0);
        sem_destroy(&c.sem);
    }
    {
        struct tcase c = { .name = "sem_wait (process-shared, value 0)", .call = do_sem_wait,
                           .unblock = unblock_sem };
        EXPECT(sem_init(&c.sem, 1, 0), 0);
        expect_eintr(&c);
        sem_destroy(&c.sem);
    }
    {
        struct tcase c = { .name = "futex FUTEX_WAIT (word unchanged)", .call = do_futex_wait,
                           .unblock = unblock_futex };
        expect_eintr(&c);
    }
    {
        char name[64];
        snprintf(name, sizeof name, "/blitz_sig_eintr_%d", (int)getpid());
        struct tcase c = { .name = "sem_wait (named, value 0)", .call = do_nsem_wait,
                           .unblock = unblock_nsem };
        c.nsem = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
        CHECK(c.nsem != SEM_FAILED, "sem_open: %s", strerrorname_np(errno));
        if (c.nsem != SEM_FAILED) {
            sem_unlink(name);
            expect_eintr(&c);
            sem_close(c.nsem);
        }
    }
    /* 8. not interrupted: pthread_join, pthread_mutex_lock */
    {
        struct tcase c = { .name = "pthread_join (target ends 200 ms after the handler)",
                           .call = do_join, .kind = RET_ERRNUM };
        __atomic_store_n(&x_ended, 0, __ATOMIC_RELEASE);
        reset_hits();
        EXPECT_ERR(pthread_create(&c.other, NULL, ends_after_handler, NULL), 0);
        run_tcase(&c);
        EXPECT_ERR((int)c.ret, 0);
        EXPECT(__atomic_load_n(&x_ended, __ATOMIC_ACQUIRE), 1);
    }
    {
        struct tcase c = { .name = "pthread_mutex_lock (unlocked 200 ms after the handler)",
                           .call = do_mutex_lock, .kind = RET_ERRNUM };
        pthread_t holder;
        EXPECT_ERR(pthread_mutex_init(&c.mu, NULL), 0);
        __atomic_store_n(&mu_locked, 0, __ATOMIC_RELEASE);
        reset_hits();
        EXPECT_ERR(pthread_create(&holder, NULL, holds_until_handler, &c), 0);
        gate_wait(&mu_locked);
        run_tcase(&c);
        EXPECT_ERR((int)c.ret, 0);
        EXPECT_ERR(pthread_join(holder, NULL), 0);
        pthread_mutex_destroy(&c.mu);
    }
    for (int w = 0; w < 2; w++) {
        struct tcase c = { .name = w ? "pthread_rwlock_rdlock (write-held, released 200 ms after the handler)"
                                     : "pthread_rwlock_wrlock (read-held, released 200 ms after the handler)",
                           .call = do_rwlock, .kind = RET_ERRNUM, .rw_write = w };
        pthread_t holder;
        EXPECT_ERR(pthread_rwlock_init(&c.rw, NULL), 0);
        __atomic_store_n(&rw_locked, 0, __ATOMIC_RELEASE);
        reset_hits();
        EXPECT_ERR(pthread_create(&holder, NULL, holds_rw_until_handler, &c), 0);
        gate_wait(&rw_locked);
        run_tcase(&c);
        EXPECT_ERR((int)c.ret, 0);
        EXPECT_ERR(pthread_join(holder, NULL), 0);
        pthread_rwlock_destroy(&c.rw);
    }

    {
        struct tcase c = { .name = "pthread_once (another thread's init ends 200 ms after the handler)",
                           .call = do_once, .kind = RET_ERRNUM };
        pthread_t first;
        reset_hits();
        EXPECT_ERR(pthread_create(&first, NULL, runs_once, NULL), 0);
        gate_wait(&once_running);
        run_tcase(&c);
        EXPECT_ERR((int)c.ret, 0);
        EXPECT_ERR(pthread_join(first, NULL), 0);
        EXPECT(__atomic_load_n(&once_runs, __ATOMIC_ACQUIRE), 1);
    }
    {
        struct tcase c = { .name = "pthread_barrier_wait (the last thread arrives 200 ms after the handler)",
                           .call = do_barrier_wait, .kind = RET_ERRNUM };
        pthread_t late;
        EXPECT_ERR(pthread_barrier_init(&c.bar, NULL, 2), 0);
        __atomic_store_n(&bar_waiting, 0, __ATOMIC_RELEASE);
        reset_hits();
        EXPECT_ERR(pthread_create(&late, NULL, arrives_after_handler, &c), 0);
        run_tcase(&c);
        EXPECT_ERR((int)c.ret, 0);
        EXPECT_ERR(pthread_join(late, NULL), 0);
        EXPECT_ERR(pthread_barrier_destroy(&c.bar), 0);
    }

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
