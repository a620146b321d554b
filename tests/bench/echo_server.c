/* echo_server: a legacy thread-per-connection TCP echo server (the program under test; driven by
 * echo_client, which runs natively). main() runs a blocking accept() loop on 127.0.0.1 and starts
 * one detached thread per connection (stack size set through pthread_attr) that does blocking
 * read()/write() echo until EOF.
 *   -p PORT   port to listen on (default 0 = ephemeral)
 *   -f FILE   write the chosen port to FILE (written to FILE.tmp, then renamed: a script can
 *             wait for FILE to appear); it is also printed on stderr as "port=N"
 *   -s SIZE   stack size of the connection threads (default 64k)
 *   -T SECS   stop after SECS seconds (default 120; 0 = no limit)
 *   -l N      listen backlog (default 4096; the kernel caps it at net.core.somaxconn)
 * Runs until SIGTERM/SIGINT or the time limit, then prints one bench line and exits without
 * waiting for connections still open. RLIMIT_NOFILE's soft limit is raised to the hard limit.
 * Result: metric=connections (accepted), with bytes echoed, connections closed by their peer
 * (closed), still open at exit (active), resets (ECONNRESET/EPIPE, reported but not a failure).
 * ok=1 unless a connection thread could not be created, a read/write failed otherwise, or
 * accept() failed with something other than a transient EMFILE/ENFILE/ENOBUFS/ENOMEM (counted as
 * accept_errors; the loop sleeps 10 ms and goes on).
 * Signals: SIGTERM/SIGINT/SIGALRM are blocked in the connection threads, so they reach main(),
 * whose handler sets a flag and shuts the listening socket down (accept() then returns at once,
 * even if the signal came just before it was entered). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench.h"

static int listen_fd = -1;
static volatile sig_atomic_t stop_sig;
static atomic_long accepted, closed, active, bytes, resets, io_errors, create_failed, accept_errors;

static void on_signal(int sig)
{
    int saved = errno;
    if (!stop_sig)
        stop_sig = sig;
    if (listen_fd >= 0)
        shutdown(listen_fd, SHUT_RDWR);     /* async-signal-safe; makes accept() fail at once */
    errno = saved;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl))
            perror("setrlimit(RLIMIT_NOFILE)");
    }
}

/* Listening socket on 127.0.0.1:port; returns the fd and stores the chosen port. */
static int listen_on(int port, int backlog, int *chosen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    socklen_t len = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) || listen(fd, backlog) ||
        getsockname(fd, (struct sockaddr *)&sa, &len)) {
        perror("listen socket");
        exit(2);
    }
    *chosen = ntohs(sa.sin_port);
    return fd;
}

static void publish_port(int port, const char *file)
{
    fprintf(stderr, "port=%d\n", port);
    if (!file)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", port) < 0 || fclose(f) || rename(tmp, file)) {
        perror(file);
        exit(2);
    }
}

static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) {
            atomic_fetch_add(&closed, 1);
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            atomic_fetch_add(errno == ECONNRESET ? &resets : &io_errors, 1);
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t m = write(fd, buf + off, n - off);
            if (m < 0) {
                if (errno == EINTR)
                    continue;
                atomic_fetch_add(errno == ECONNRESET || errno == EPIPE ? &resets : &io_errors, 1);
                goto out;
            }
            off += m;
        }
        atomic_fetch_add_explicit(&bytes, n, memory_order_relaxed);
    }
out:
    close(fd);
    atomic_fetch_sub(&active, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    long port = 0, stack = 64 * 1024, limit = 120, backlog = 4096;
    const char *port_file = NULL;
    int c;
    while ((c = getopt(argc, argv, "p:f:s:T:l:")) != -1) {
        switch (c) {
        case 'p': port = parse_size(optarg); break;
        case 'f': port_file = optarg; break;
        case 's': stack = parse_size(optarg); break;
        case 'T': limit = parse_size(optarg); break;
        case 'l': backlog = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-p port] [-f port_file] [-s stacksize] [-T secs] [-l backlog]\n", argv[0]);
            return 2;
        }
    }
    if (port > 65535) {
        fprintf(stderr, "bad port\n");
        return 2;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if ((errno = pthread_attr_setstacksize(&attr, stack))) {
        perror("pthread_attr_setstacksize");
        return 2;
    }

    int chosen;
    listen_fd = listen_on(port, backlog, &chosen);
    struct sigaction sa = { .sa_handler = on_signal };       /* no SA_RESTART: accept -> EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    sigset_t stop_set, old;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGALRM);
    publish_port(chosen, port_file);
    if (limit)
        alarm(limit);

    int fatal = 0;
    double t0 = now_s();
    while (!stop_sig) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (stop_sig)
                break;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                atomic_fetch_add(&accept_errors, 1);
                sleep_ns(10 * 1000000L);
                continue;
            }
            perror("accept");
            fatal = 1;
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        atomic_fetch_add(&accepted, 1);
        atomic_fetch_add(&active, 1);
        pthread_t th;
        pthread_sigmask(SIG_BLOCK, &stop_set, &old);        /* the new thread inherits this mask */
        int rc = pthread_create(&th, &attr, conn_thread, (void *)(intptr_t)fd);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc) {
            if (atomic_fetch_add(&create_failed, 1) == 0)
                fprintf(stderr, "echo_server: pthread_create: %s\n", strerror(rc));
            atomic_fetch_sub(&active, 1);
            close(fd);
        }
    }
    double secs = now_s() - t0;
    alarm(0);
    close(listen_fd);
    long errors = atomic_load(&io_errors) + atomic_load(&create_failed);
    int ok = errors == 0 && !fatal;
    emit("echo_server", ok, "connections", (double)atomic_load(&accepted),
         "bytes=%ld closed=%ld active=%ld resets=%ld errors=%ld create_failed=%ld accept_errors=%ld "
         "stack=%ld secs=%.3f stopped_by=%s",
         atomic_load(&bytes), atomic_load(&closed), atomic_load(&active), atomic_load(&resets), errors,
         atomic_load(&create_failed), atomic_load(&accept_errors), stack, secs,
         stop_sig == SIGALRM ? "time" : stop_sig ? "signal" : "error");
    return ok ? 0 : 1;
}
