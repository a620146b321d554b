/* http_server: a legacy thread-per-connection HTTP/1.1 keep-alive server (the program under test;
 * driven by wrk, e.g. `wrk -t2 -c100 -d5s http://127.0.0.1:PORT/`). main() runs a blocking
 * accept() loop on 127.0.0.1 and starts one detached thread per connection (stack size set
 * through pthread_attr). Each thread reads a request with blocking read() until "\r\n\r\n",
 * parses the request line, answers GET / with "200 OK", Content-Length and a fixed body of B
 * bytes, anything else with 404 (malformed or oversized requests: 400 and close), discards a
 * request body announced by Content-Length, and keeps the connection alive unless the request
 * says "Connection: close" (HTTP/1.0: unless it says "Connection: keep-alive"). Pipelined
 * requests are served in order.
 *   -p PORT   port to listen on (default 0 = ephemeral)
 *   -f FILE   write the chosen port to FILE (written to FILE.tmp, then renamed); it is also
 *             printed on stderr as "port=N"
 *   -s SIZE   stack size of the connection threads (default 64k)
 *   -T SECS   stop after SECS seconds (default 120; 0 = no limit)
 *   -l N      listen backlog (default 4096; capped by net.core.somaxconn)
 *   -b BYTES  body size of the 200 response (default 128)
 * Runs until SIGTERM/SIGINT or the time limit, then prints one bench line and exits without
 * waiting for connections still open. RLIMIT_NOFILE's soft limit is raised to the hard limit.
 * Result: metric=requests (answered), with resp_200, resp_404, bad (400), connections accepted,
 * closed by the peer, active at exit, resets (ECONNRESET/EPIPE; wrk resets its connections when
 * it stops: reported, not a failure). ok=1 unless a connection thread could not be created, a
 * read/write failed otherwise, or accept() failed fatally (see echo_server.c, same structure). */
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
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench.h"

#define REQ_BUF 8192

static int listen_fd = -1;
static volatile sig_atomic_t stop_sig;
static atomic_long accepted, closed, active, requests, resp_200, resp_404, bad_requests, bytes_out,
    resets, io_errors, create_failed, accept_errors;

struct response { char *data; size_t len; };
static struct response ok_keep, ok_close, nf_keep, nf_close, bad_req;

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

static struct response make_response(const char *status, const char *extra, const char *body, size_t blen)
{
    struct response r;
    char head[512];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nServer: http_server\r\nContent-Type: text/plain\r\n"
                                         "Content-Length: %zu\r\n%s\r\n", status, blen, extra);
    r.len = hl + blen;
    r.data = malloc(r.len);
    memcpy(r.data, head, hl);
    memcpy(r.data + hl, body, blen);
    return r;
}

/* 0 on success, -1 if the connection is gone (counted). */
static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            atomic_fetch_add(errno == ECONNRESET || errno == EPIPE ? &resets : &io_errors, 1);
            return -1;
        }
        p += n;
        len -= n;
        atomic_fetch_add_explicit(&bytes_out, n, memory_order_relaxed);
    }
    return 0;
}

/* read() into buf; 1 = got data, 0 = EOF, -1 = error (counted). */
static int fill(int fd, char *buf, size_t *have, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf + *have, cap - *have);
        if (n > 0) {
            *have += n;
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        atomic_fetch_add(errno == ECONNRESET ? &resets : &io_errors, 1);
        return -1;
    }
}

/* Does the header value (up to end) contain token, case-insensitively? */
static int has_token(const char *v, const char *end, const char *token)
{
    size_t tl = strlen(token);
    for (; v + tl <= end; v++)
        if (!strncasecmp(v, token, tl))
            return 1;
    return 0;
}

static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg, rc;
    char buf[REQ_BUF];
    size_t have = 0;
    for (;;) {
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf) {                    /* header too large */
                atomic_fetch_add(&bad_requests, 1);
                write_all(fd, bad_req.data, bad_req.len);
                goto out;
            }
            if ((rc = fill(fd, buf, &have, sizeof buf)) <= 0) {
                if (rc == 0)
                    atomic_fetch_add(&closed, 1);      /* EOF (mid-request or between requests) */
                goto out;
            }
        }
        size_t hlen = end + 4 - buf;
        /* request line: METHOD SP TARGET SP VERSION CRLF */
        char *line_end = memmem(buf, hlen, "\r\n", 2);
        char *sp1 = memchr(buf, ' ', line_end - buf);
        char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line_end - sp1 - 1) : NULL;
        if (!sp1 || !sp2 || line_end - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7)) {
            atomic_fetch_add(&bad_requests, 1);
            write_all(fd, bad_req.data, bad_req.len);
            goto out;
        }
        int keep = sp2[8] == '1';                       /* HTTP/1.1: keep-alive by default */
        long body = 0;
        for (char *h = line_end + 2; h < end; ) {
            char *eol = memmem(h, end + 2 - h, "\r\n", 2), *colon = memchr(h, ':', eol - h);
            if (colon) {
                size_t nl = colon - h;
                if (nl == 10 && !strncasecmp(h, "Connection", 10)) {
                    if (has_token(colon + 1, eol, "close"))
                        keep = 0;
                    else if (has_token(colon + 1, eol, "keep-alive"))
                        keep = 1;
                } else if (nl == 14 && !strncasecmp(h, "Content-Length", 14)) {
                    body = strtol(colon + 1, NULL, 10);
                }
            }
            h = eol + 2;
        }
        int found = sp1 - buf == 3 && !strncmp(buf, "GET", 3) && sp2 - sp1 == 2 && sp1[1] == '/';
        struct response *r = found ? (keep ? &ok_keep : &ok_close) : (keep ? &nf_keep : &nf_close);
        if (body < 0) {
            atomic_fetch_add(&bad_requests, 1);
            write_all(fd, bad_req.data, bad_req.len);
            goto out;
        }
        /* drop the header, then the body (part of it may be buffered already) */
        memmove(buf, buf + hlen, have - hlen);
        have -= hlen;
        while (body > 0) {
            if (have) {
                size_t k = (size_t)body < have ? (size_t)body : have;
                memmove(buf, buf + k, have - k);
                have -= k;
                body -= k;
            } else if ((rc = fill(fd, buf, &have, sizeof buf)) <= 0) {
                if (rc == 0)
                    atomic_fetch_add(&closed, 1);
                goto out;
            }
        }
        if (write_all(fd, r->data, r->len))
            goto out;
        atomic_fetch_add_explicit(&requests, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(found ? &resp_200 : &resp_404, 1, memory_order_relaxed);
        if (!keep) {
            atomic_fetch_add(&closed, 1);
            break;
        }
    }
out:
    close(fd);
    atomic_fetch_sub(&active, 1);
    return NULL;
}

int main(int argc, char **argv)
{
    long port = 0, stack = 64 * 1024, limit = 120, backlog = 4096, body_len = 128;
    const char *port_file = NULL;
    int c;
    while ((c = getopt(argc, argv, "p:f:s:T:l:b:")) != -1) {
        switch (c) {
        case 'p': port = parse_size(optarg); break;
        case 'f': port_file = optarg; break;
        case 's': stack = parse_size(optarg); break;
        case 'T': limit = parse_size(optarg); break;
        case 'l': backlog = parse_size(optarg); break;
        case 'b': body_len = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-p port] [-f port_file] [-s stacksize] [-T secs] [-l backlog] [-b body_bytes]\n",
                    argv[0]);
            return 2;
        }
    }
    if (port > 65535 || body_len > (1L << 30)) {
        fprintf(stderr, "bad port or body size\n");
        return 2;
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    char *body = malloc(body_len + 1);
    for (long i = 0; i < body_len; i++)
        body[i] = i % 64 == 63 || i == body_len - 1 ? '\n' : 'a' + i % 26;
    ok_keep = make_response("200 OK", "", body, body_len);
    ok_close = make_response("200 OK", "Connection: close\r\n", body, body_len);
    nf_keep = make_response("404 Not Found", "", "not found\n", 10);
    nf_close = make_response("404 Not Found", "Connection: close\r\n", "not found\n", 10);
    bad_req = make_response("400 Bad Request", "Connection: close\r\n", "bad request\n", 12);
    free(body);

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
                fprintf(stderr, "http_server: pthread_create: %s\n", strerror(rc));
            atomic_fetch_sub(&active, 1);
            close(fd);
        }
    }
    double secs = now_s() - t0;
    alarm(0);
    close(listen_fd);
    long errors = atomic_load(&io_errors) + atomic_load(&create_failed);
    int ok = errors == 0 && !fatal;
    emit("http_server", ok, "requests", (double)atomic_load(&requests),
         "resp_200=%ld resp_404=%ld bad=%ld connections=%ld closed=%ld active=%ld bytes_out=%ld "
         "resets=%ld errors=%ld create_failed=%ld accept_errors=%ld body=%ld stack=%ld secs=%.3f "
         "stopped_by=%s",
         atomic_load(&resp_200), atomic_load(&resp_404), atomic_load(&bad_requests), atomic_load(&accepted),
         atomic_load(&closed), atomic_load(&active), atomic_load(&bytes_out), atomic_load(&resets), errors,
         atomic_load(&create_failed), atomic_load(&accept_errors), body_len, stack, secs,
         stop_sig == SIGALRM ? "time" : stop_sig ? "signal" : "error");
    return ok ? 0 : 1;
}
