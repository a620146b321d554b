// blitz-timeout: 60
// Thread-per-connection echo server at 10,000 concurrent connections, byte-exact.
// The parent process is the server: it listens on 127.0.0.1 (port 0, read back
// with getsockname) and an acceptor thread blocks in accept() and creates one
// joinable thread per connection (64 KiB stack) that loops blocking read()/write()
// echoing until EOF, then closes.  The client is a forked child without threads:
// non-blocking sockets and epoll, source addresses spread over 127.0.0.1..20
// (IP_BIND_ADDRESS_NO_PORT), at most 1000 connections ahead of the server's
// accept count (a shared counter) so the listen queue never overflows.  It opens
// all 10,000 connections first and waits until the server has accepted them all
// (10,000 connections and 10,000 server threads alive at once), then on every
// connection runs 3 rounds: send a message of 1..4000 bytes (size and content
// derived from the connection index and round), read the echo back and check
// every byte.  Then it closes them all.  The parent checks the child's exit
// status, joins every server thread and checks the number of connections served
// and the byte totals on both sides against the sum the sizes give.
// RLIMIT_NOFILE's soft limit is raised to the hard limit (10,100 needed; a lower
// hard limit prints a skip line instead).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define N 10000
#define ROUNDS 3
#define MAXMSG 4000
#define NSRC 20          /* client source addresses 127.0.0.1 .. 127.0.0.NSRC */
#define MAX_AHEAD 1000   /* connections the client opens ahead of the server's accepts */
#define NEED_FDS 10100
#define STACK (64 * 1024)
#define LIMIT_NS (45 * 1000000000LL)

struct shared {
    long accepted;     /* atomic: the server's accept count */
    long client_bytes; /* echoed bytes the client verified */
    long client_done;  /* connections that finished all rounds */
    long client_fails; /* failures the child counted */
    int all_open;      /* the client saw every connection connected and accepted */
};

static struct shared *sh;
static pthread_t tids[N];
static long served;       /* atomic: server threads that reached EOF */
static long server_bytes; /* atomic */
static long long t_start;

/* --- messages ---------------------------------------------------------------------------- */

static uint32_t mix(uint32_t i, uint32_t r)
{
    uint32_t h = i * 2654435761u ^ (r + 1) * 40503u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return h;
}

static int msg_size(int i, int r)
{
    if (r == 0 && i % 997 == 0)
        return 1;
    if (r == 1 && i % 991 == 0)
        return MAXMSG;
    return 1 + (int)(mix((uint32_t)i, (uint32_t)r) % MAXMSG);
}

static unsigned char msg_byte(int i, int r, int k)
{
    return (unsigned char)(mix((uint32_t)i, (uint32_t)r) + (uint32_t)k * 131u + (uint32_t)(k >> 8));
}

static long total_bytes(void)
{
    long t = 0;
    for (int i = 0; i < N; i++)
        for (int r = 0; r < ROUNDS; r++)
            t += msg_size(i, r);
    return t;
}

/* --- client (forked child, no threads) ---------------------------------------------------- */

struct conn {
    int fd;
    int round;
    int sent, recvd;
    int connected; /* connect completed */
    int want_out;  /* EPOLLOUT registered */
    int done;
};

static struct conn *cs;
static int epfd;
static long cfails;

#define CFAIL(...)                                                                                 \
    do {                                                                                           \
        if (cfails++ < 10) {                                                                       \
            fprintf(stderr, "client: " __VA_ARGS__);                                               \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

static void ep_set(int i, unsigned events)
{
    struct epoll_event ev = { .events = events, .data.u32 = (uint32_t)i };
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, cs[i].fd, &ev) != 0)
        CFAIL("epoll_ctl MOD conn %d: %s", i, strerror(errno));
}

/* sends what it can of conn i's current message; registers EPOLLOUT while some is left */
static void client_send(int i)
{
    struct conn *c = &cs[i];
    int size = msg_size(i, c->round);
    unsigned char buf[MAXMSG];
    while (c->sent < size) {
        int n = size - c->sent;
        for (int k = 0; k < n; k++)
            buf[k] = msg_byte(i, c->round, c->sent + k);
        ssize_t w = send(c->fd, buf, (size_t)n, 0);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                CFAIL("send conn %d round %d: %s", i, c->round, strerror(errno));
            break;
        }
        c->sent += (int)w;
    }
    int want = c->sent < size;
    if (want != c->want_out) {
        ep_set(i, EPOLLIN | (want ? EPOLLOUT : 0));
        c->want_out = want;
    }
}

/* reads conn i's echo; returns 1 when the connection finished its last round */
static int client_recv(int i)
{
    struct conn *c = &cs[i];
    unsigned char buf[MAXMSG];
    for (;;) {
        int size = msg_size(i, c->round);
        ssize_t n = recv(c->fd, buf, (size_t)(size - c->recvd), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                CFAIL("recv conn %d round %d: %s", i, c->round, strerror(errno));
            return 0;
        }
        if (n == 0) {
            CFAIL("conn %d: EOF in round %d after %d of %d bytes", i, c->round, c->recvd, size);
            return 1;
        }
        for (int k = 0; k < n; k++)
            if (buf[k] != msg_byte(i, c->round, c->recvd + k)) {
                CFAIL("conn %d round %d: byte %d is %d, expected %d", i, c->round, c->recvd + k,
                      buf[k], msg_byte(i, c->round, c->recvd + k));
                break;
            }
        c->recvd += (int)n;
        sh->client_bytes += n;
        if (c->recvd < size)
            continue;
        if (c->sent != size)
            CFAIL("conn %d round %d: whole echo before the whole message was sent", i, c->round);
        c->round++;
        c->sent = c->recvd = 0;
        if (c->round == ROUNDS)
            return 1;
        client_send(i);
    }
}

static long accepted_now(void) { return __atomic_load_n(&sh->accepted, __ATOMIC_ACQUIRE); }

static int handle_connect_events(struct epoll_event *ev, int n, int *nconnected)
{
    for (int e = 0; e < n; e++) {
        int i = (int)ev[e].data.u32;
        if (cs[i].connected)
            continue;
        int err = -1;
        socklen_t len = sizeof err;
        if (getsockopt(cs[i].fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            CFAIL("connect conn %d: SO_ERROR %d", i, err);
            return -1;
        }
        cs[i].connected = 1;
        ep_set(i, EPOLLIN);
        ++*nconnected;
    }
    return 0;
}

static void client(uint16_t port)
{
    cs = calloc(N, sizeof *cs);
    struct epoll_event *ev = calloc(512, sizeof *ev);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || !ev || epfd < 0) {
        CFAIL("setup: %s", strerror(errno));
        _exit(2);
    }
    long long deadline = t_start + LIMIT_NS;
    int nconnected = 0;

    /* open all N: non-blocking connects, at most MAX_AHEAD ahead of the server's accepts */
    for (int i = 0; i < N && !cfails; i++) {
        while (i - accepted_now() >= MAX_AHEAD && now_ns() < deadline) {
            int n = epoll_wait(epfd, ev, 512, 1);
            if (n > 0 && handle_connect_events(ev, n, &nconnected) != 0)
                break;
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            CFAIL("socket %d: %s", i, strerror(errno));
            break;
        }
        cs[i].fd = fd;
        int one = 1;
        struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = 0 };
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i % NSRC));
        if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0 ||
            bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
            CFAIL("bind %d: %s", i, strerror(errno));
            break;
        }
        struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
        dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS) {
            CFAIL("connect %d: %s", i, strerror(errno));
            break;
        }
        struct epoll_event e = { .events = EPOLLOUT, .data.u32 = (uint32_t)i };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) != 0) {
            CFAIL("epoll_ctl ADD %d: %s", i, strerror(errno));
            break;
        }
    }
    while (!cfails && nconnected < N && now_ns() < deadline) {
        int n = epoll_wait(epfd, ev, 512, 100);
        if (n > 0 && handle_connect_events(ev, n, &nconnected) != 0)
            break;
    }
    while (!cfails && accepted_now() < N && now_ns() < deadline)
        nap_ms(1);
    if (!cfails && nconnected == N && accepted_now() == N)
        sh->all_open = 1;
    else
        CFAIL("only %d connected, %ld accepted after %.1f s", nconnected, accepted_now(),
              (now_ns() - t_start) / 1e9);

    /* the rounds, all connections at once */
    int ndone = 0;
    if (sh->all_open) {
        for (int i = 0; i < N; i++)
            client_send(i);
        while (ndone < N && cfails == 0 && now_ns() < deadline) {
            int n = epoll_wait(epfd, ev, 512, 100);
            for (int e = 0; e < n; e++) {
                int i = (int)ev[e].data.u32;
                if (cs[i].done)
                    continue;
                if (ev[e].events & (EPOLLERR | EPOLLHUP) && !(ev[e].events & EPOLLIN)) {
                    CFAIL("conn %d: epoll events %#x in round %d", i, ev[e].events, cs[i].round);
                    continue;
                }
                if (ev[e].events & EPOLLOUT)
                    client_send(i);
                if ((ev[e].events & EPOLLIN) && client_recv(i)) {
                    cs[i].done = 1;
                    ndone++;
                    epoll_ctl(epfd, EPOLL_CTL_DEL, cs[i].fd, NULL);
                }
            }
        }
        if (ndone < N)
            CFAIL("only %d of %d connections finished their rounds after %.1f s", ndone, N,
                  (now_ns() - t_start) / 1e9);
    }
    for (int i = 0; i < N; i++)
        if (cs[i].fd > 0)
            close(cs[i].fd);
    sh->client_done = ndone;
    sh->client_fails = cfails;
    _exit(cfails ? 1 : 0);
}

/* --- server (parent) ---------------------------------------------------------------------- */

static void *echo_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    long bytes = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            TCHECK(0, "server read: %s", strerrorname_np(errno));
            goto out;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                TCHECK(0, "server write: %s", strerrorname_np(errno));
                goto out;
            }
            off += w;
        }
        bytes += n;
    }
    __atomic_fetch_add(&served, 1, __ATOMIC_RELAXED);
out:
    __atomic_fetch_add(&server_bytes, bytes, __ATOMIC_RELAXED);
    close(fd);
    return NULL;
}

static int lfd;
static long nthreads; /* written by the acceptor, read by main after joining it */

static void *acceptor(void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK);
    while (nthreads < N) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EINVAL) /* EINVAL: main shut the listener down (the client failed) */
                TCHECK(0, "accept: %s", strerrorname_np(errno));
            break;
        }
        int rc = pthread_create(&tids[nthreads], &attr, echo_thread, (void *)(intptr_t)fd);
        if (rc != 0) {
            TCHECK(0, "pthread_create for connection %ld: %s", nthreads, strerrorname_np(rc));
            close(fd);
            break;
        }
        nthreads++;
        __atomic_store_n(&sh->accepted, nthreads, __ATOMIC_RELEASE);
    }
    pthread_attr_destroy(&attr);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    t_start = now_ns();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NEED_FDS)) {
        printf("skip: RLIMIT_NOFILE hard limit below %d\n", NEED_FDS);
        printf("all ok\n");
        return 0;
    }
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 65536 : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        printf("FAIL: setrlimit(RLIMIT_NOFILE): %s\n", strerrorname_np(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        printf("FAIL: mmap\n");
        return 1;
    }

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        printf("FAIL: listener: %s\n", strerrorname_np(errno));
        return 1;
    }

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        printf("FAIL: fork: %s\n", strerrorname_np(errno));
        return 1;
    }
    if (pid == 0) {
        close(lfd);
        client(ntohs(a.sin_port));
    }

    pthread_t acc;
    EXPECT_ERR(pthread_create(&acc, NULL, acceptor, NULL), 0);

    /* wait for the client without blocking in waitpid */
    int status = -1;
    pid_t w = 0;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && now_ns() - t_start < LIMIT_NS + 5000000000LL)
        nap_ms(5);
    if (w == 0) {
        fprintf(stderr, "the client did not finish in time; killing it\n");
        kill(pid, SIGKILL);
        w = waitpid(pid, &status, 0);
    }
    EXPECT(w, pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client status %#x (%ld failures)", status,
          sh->client_fails);
    /* the acceptor has accepted all N, unless the client failed: then wake it */
    if (__atomic_load_n(&sh->accepted, __ATOMIC_ACQUIRE) < N)
        shutdown(lfd, SHUT_RDWR);
    EXPECT_ERR(pthread_join(acc, NULL), 0);
    for (long i = 0; i < nthreads; i++)
        EXPECT_ERR(pthread_join(tids[i], NULL), 0);
    close(lfd);

    long want = total_bytes();
    EXPECT(nthreads, N);
    CHECK(sh->all_open, "the client never had all %d connections open and accepted", N);
    if (nthreads == N && sh->all_open)
        printf("ok %d connections open at once, one server thread each\n", N);
    long srv = __atomic_load_n(&served, __ATOMIC_RELAXED);
    long sb = __atomic_load_n(&server_bytes, __ATOMIC_RELAXED);
    EXPECT(srv, N);
    EXPECT(sh->client_done, N);
    CHECK(sb == want, "the server echoed %ld bytes, expected %ld", sb, want);
    CHECK(sh->client_bytes == want, "the client verified %ld bytes, expected %ld", sh->client_bytes, want);
    if (srv == N && sh->client_done == N && sb == want && sh->client_bytes == want)
        printf("ok %d connections x %d rounds echoed byte-exact, %ld bytes\n", N, ROUNDS, want);
    fprintf(stderr, "%.2f s\n", (now_ns() - t_start) / 1e9);
    munmap(sh, sizeof *sh);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
