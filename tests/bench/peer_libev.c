/* peer_libev: what a user would write instead of a thread-per-connection server: an event-loop
 * server written directly on libev (a "peer" of echo_server/http_server; always runs natively,
 * never under the shim). N loops (default: one per online CPU), each in its own pthread with its
 * own SO_REUSEPORT listening socket on 127.0.0.1:PORT (the kernel spreads new connections over
 * them), non-blocking sockets, level-triggered EV_READ per connection; a partial write keeps the
 * rest in a per-connection buffer and switches the watcher to EV_WRITE (no reading meanwhile:
 * the same back-pressure a blocking write gives the legacy servers).
 *   -m MODE   echo (default) or http
 *   -j N      event loops / threads (default: online CPUs)
 *   -p PORT   port to listen on (default 0 = ephemeral)
 *   -f FILE   write the chosen port to FILE (written to FILE.tmp, then renamed); it is also
 *             printed on stderr as "port=N"
 *   -T SECS   stop after SECS seconds (default 120; 0 = no limit)
 *   -l N      listen backlog of each listener (default 4096; capped by net.core.somaxconn)
 *   -b BYTES  http: body size of the 200 response (default 128)
 *   -s SIZE   accepted for command-line compatibility with the legacy servers, ignored
 * echo: writes back whatever it reads (read into a 64 KiB per-loop buffer, so an idle
 * connection costs only its small struct; http reads up to 8 KiB into it). http: byte-for-byte the protocol of http_server.c
 * (same responses, 8 KiB header limit -> 400 and close, request bodies announced by
 * Content-Length discarded, keep-alive rules, pipelined requests answered in order, their
 * responses coalesced into one write).
 * Runs until SIGTERM/SIGINT or the time limit (main thread: sigwait; the loops are stopped with
 * ev_async and joined; connections still open are not waited for), then prints one bench line
 * like the legacy server of the mode: echo: metric=connections (accepted) with bytes, closed,
 * active, resets, errors, accept_errors; http: metric=requests with resp_200, resp_404, bad,
 * connections, closed, active, bytes_out, resets, errors, accept_errors. RLIMIT_NOFILE's soft
 * limit is raised to the hard limit; EMFILE/ENFILE/ENOBUFS/ENOMEM on accept are counted
 * (accept_errors) and that loop stops accepting for 10 ms. ok=1 unless a read/write failed with
 * something other than ECONNRESET/EPIPE or accept() failed fatally. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ev.h>
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

#define REQ_BUF 8192                /* http_server's request buffer: header limit */
#define LOOP_BUF 65536              /* per-loop read buffer */
#define ACCEPT_BATCH 64

enum { M_ECHO, M_HTTP };

struct response { char *data; size_t len; };
static struct response ok_keep, ok_close, nf_keep, nf_close, bad_req;
static int mode = M_ECHO;
static atomic_int fatal;

struct stats {
    long accepted, closed, active, bytes, requests, resp_200, resp_404, bad, bytes_out, resets,
        io_errors, accept_errors;
};

struct loop {
    pthread_t th;
    struct ev_loop *ev;
    int lfd;
    ev_io accept_w;
    ev_timer retry_w;               /* accept paused after EMFILE & co */
    ev_async stop_w;
    struct stats st;
    char *obuf;                     /* http: responses of one read, coalesced */
    size_t olen, ocap;
    char buf[LOOP_BUF];
};

struct conn {
    ev_io w;                        /* w.fd is the socket */
    struct loop *lp;
    char *in;                       /* http: unparsed rest of a request (< REQ_BUF bytes) */
    size_t in_len;
    char *out;                      /* output the socket did not take yet */
    size_t out_len, out_off;
    long body_left;                 /* http: request body bytes still to discard */
    struct response *resp;          /* http: answer to send once the body is discarded */
    uint8_t keep, found, close_after;
};

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl))
            perror("setrlimit(RLIMIT_NOFILE)");
    }
}

/* Non-blocking SO_REUSEPORT listener on 127.0.0.1:port; stores the chosen port. */
static int listen_on(int port, int backlog, int *chosen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    socklen_t len = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) ||
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

static void *xrealloc(void *p, size_t n)
{
    if (!(p = realloc(p, n))) {
        fprintf(stderr, "peer_libev: out of memory\n");
        abort();
    }
    return p;
}

static void conn_free(struct conn *c)
{
    ev_io_stop(c->lp->ev, &c->w);
    close(c->w.fd);
    c->lp->st.active--;
    free(c->in);
    free(c->out);
    free(c);
}

static void count_error(struct loop *lp, int err)
{
    if (err == ECONNRESET || err == EPIPE)
        lp->st.resets++;
    else {
        if (lp->st.io_errors++ == 0)
            fprintf(stderr, "peer_libev: socket error: %s\n", strerror(err));
    }
}

static void set_events(struct conn *c, int events)
{
    if ((c->w.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(c->lp->ev, &c->w);
    ev_io_modify(&c->w, events);
    ev_io_start(c->lp->ev, &c->w);
}

/* Hand p[0..len) to the socket; keep what it does not take (and wait for EV_WRITE).
 * Returns 0, or -1 if the connection failed (counted, not freed). */
static int send_or_queue(struct conn *c, const char *p, size_t len)
{
    struct loop *lp = c->lp;
    while (len) {
        ssize_t n = write(c->w.fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            count_error(lp, errno);
            return -1;
        }
        p += n;
        len -= n;
        if (mode == M_ECHO)
            lp->st.bytes += n;
        else
            lp->st.bytes_out += n;
    }
    if (len) {
        c->out = xrealloc(c->out, len);
        memcpy(c->out, p, len);
        c->out_len = len;
        c->out_off = 0;
        set_events(c, EV_WRITE);
    }
    return 0;
}

/* Does the header value [v, end) contain token, case-insensitively? */
static int has_token(const char *v, const char *end, const char *token)
{
    size_t tl = strlen(token);
    for (; v + tl <= end; v++)
        if (!strncasecmp(v, token, tl))
            return 1;
    return 0;
}

static void out_append(struct loop *lp, const struct response *r)
{
    if (lp->olen + r->len > lp->ocap) {
        lp->ocap = (lp->olen + r->len) * 2;
        lp->obuf = xrealloc(lp->obuf, lp->ocap);
    }
    memcpy(lp->obuf + lp->olen, r->data, r->len);
    lp->olen += r->len;
}

static void http_bad(struct conn *c)
{
    c->lp->st.bad++;
    out_append(c->lp, &bad_req);
    c->close_after = 1;
}

/* Serve the complete requests in data[0..len) (same rules as http_server.c's conn_thread),
 * appending responses to lp->obuf; returns the bytes consumed (the rest is an incomplete
 * request). Stops early once the connection is to be closed. */
static size_t http_parse(struct conn *c, char *data, size_t len)
{
    struct loop *lp = c->lp;
    size_t pos = 0;
    for (;;) {
        if (c->resp) {                                  /* discarding a request body */
            size_t k = (size_t)c->body_left < len - pos ? (size_t)c->body_left : len - pos;
            pos += k;
            c->body_left -= k;
            if (c->body_left)
                return pos;
            out_append(lp, c->resp);
            lp->st.requests++;
            if (c->found)
                lp->st.resp_200++;
            else
                lp->st.resp_404++;
            c->resp = NULL;
            if (!c->keep) {
                lp->st.closed++;
                c->close_after = 1;
                return pos;
            }
        }
        char *buf = data + pos;
        size_t have = len - pos;
        char *end = memmem(buf, have < REQ_BUF ? have : REQ_BUF, "\r\n\r\n", 4);
        if (!end) {
            if (have >= REQ_BUF)                        /* header too large */
                http_bad(c);
            return pos;
        }
        size_t hlen = end + 4 - buf;
        char *line_end = memmem(buf, hlen, "\r\n", 2);
        char *sp1 = memchr(buf, ' ', line_end - buf);
        char *sp2 = sp1 ? memchr(sp1 + 1, ' ', line_end - sp1 - 1) : NULL;
        if (!sp1 || !sp2 || line_end - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7)) {
            http_bad(c);
            return pos;
        }
        int keep = sp2[8] == '1';
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
                    body = strtol(colon + 1, NULL, 10);   /* stops at the CR */
                }
            }
            h = eol + 2;
        }
        int found = sp1 - buf == 3 && !strncmp(buf, "GET", 3) && sp2 - sp1 == 2 && sp1[1] == '/';
        if (body < 0) {
            http_bad(c);
            return pos;
        }
        c->resp = found ? (keep ? &ok_keep : &ok_close) : (keep ? &nf_keep : &nf_close);
        c->keep = keep;
        c->found = found;
        c->body_left = body;
        pos += hlen;
    }
}

static void conn_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    struct conn *c = (struct conn *)w;
    struct loop *lp = c->lp;

    if (revents & EV_WRITE) {
        while (c->out_off < c->out_len) {
            ssize_t n = write(w->fd, c->out + c->out_off, c->out_len - c->out_off);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                count_error(lp, errno);
                conn_free(c);
                return;
            }
            c->out_off += n;
            if (mode == M_ECHO)
                lp->st.bytes += n;
            else
                lp->st.bytes_out += n;
        }
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
        if (c->close_after) {
            conn_free(c);
            return;
        }
        set_events(c, EV_READ);
        return;
    }

    /* EV_READ. http: an incomplete request left over from the last read goes first. */
    size_t have = 0;
    if (c->in_len) {
        memcpy(lp->buf, c->in, c->in_len);
        have = c->in_len;
        free(c->in);
        c->in = NULL;
        c->in_len = 0;
    }
    /* http reads at most REQ_BUF bytes (http_server's buffer), so a connection closed after a 400
     * leaves the same unread data behind (RST, not FIN) */
    ssize_t n = read(w->fd, lp->buf + have, (mode == M_HTTP ? REQ_BUF : sizeof lp->buf) - have);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (have) {                                 /* put the leftover back */
                c->in = xrealloc(NULL, have);
                memcpy(c->in, lp->buf, have);
                c->in_len = have;
            }
            return;
        }
        if (n == 0)
            lp->st.closed++;
        else
            count_error(lp, errno);
        conn_free(c);
        return;
    }
    have += n;
    if (mode == M_ECHO) {
        if (send_or_queue(c, lp->buf, have))
            conn_free(c);
        return;
    }

    lp->olen = 0;
    size_t used = http_parse(c, lp->buf, have);
    if (!c->close_after && used < have) {
        c->in_len = have - used;
        c->in = xrealloc(NULL, c->in_len);
        memcpy(c->in, lp->buf + used, c->in_len);
    }
    if (lp->olen && send_or_queue(c, lp->obuf, lp->olen)) {
        conn_free(c);
        return;
    }
    if (c->close_after && !c->out)
        conn_free(c);
}

static void accept_cb(struct ev_loop *ev, ev_io *w, int revents)
{
    struct loop *lp = w->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lp->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                lp->st.accept_errors++;
                ev_io_stop(ev, &lp->accept_w);
                ev_timer_set(&lp->retry_w, 0.010, 0.);
                ev_timer_start(ev, &lp->retry_w);
                return;
            }
            perror("accept");
            atomic_store(&fatal, 1);
            ev_io_stop(ev, &lp->accept_w);
            kill(getpid(), SIGTERM);                    /* main's sigwait() ends the run */
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = xrealloc(NULL, sizeof *c);
        memset(c, 0, sizeof *c);
        c->lp = lp;
        ev_io_init(&c->w, conn_cb, fd, EV_READ);
        ev_io_start(ev, &c->w);
        lp->st.accepted++;
        lp->st.active++;
    }
}

static void retry_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct loop *lp = w->data;
    ev_io_start(ev, &lp->accept_w);
}

static void stop_cb(struct ev_loop *ev, ev_async *w, int revents)
{
    ev_break(ev, EVBREAK_ALL);
}

static void *loop_thread(void *arg)
{
    struct loop *lp = arg;
    ev_run(lp->ev, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    long port = 0, limit = 120, backlog = 4096, body_len = 128, nloops = sysconf(_SC_NPROCESSORS_ONLN);
    const char *port_file = NULL;
    int c;
    while ((c = getopt(argc, argv, "m:j:p:f:s:T:l:b:")) != -1) {
        switch (c) {
        case 'm':
            if (!strcmp(optarg, "echo"))
                mode = M_ECHO;
            else if (!strcmp(optarg, "http"))
                mode = M_HTTP;
            else
                goto usage;
            break;
        case 'j': nloops = parse_size(optarg); break;
        case 'p': port = parse_size(optarg); break;
        case 'f': port_file = optarg; break;
        case 's': parse_size(optarg); break;            /* compatibility: no threads per connection */
        case 'T': limit = parse_size(optarg); break;
        case 'l': backlog = parse_size(optarg); break;
        case 'b': body_len = parse_size(optarg); break;
        default:
        usage:
            fprintf(stderr, "usage: %s [-m echo|http] [-j loops] [-p port] [-f port_file] [-T secs] [-l backlog] "
                            "[-b body_bytes] [-s ignored]\n", argv[0]);
            return 2;
        }
    }
    if (port > 65535 || body_len > (1L << 30) || nloops > 1024) {
        fprintf(stderr, "bad port, body size or loop count\n");
        return 2;
    }
    if (nloops < 1)
        nloops = 1;
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);

    if (mode == M_HTTP) {
        char *body = malloc(body_len + 1);
        for (long i = 0; i < body_len; i++)
            body[i] = i % 64 == 63 || i == body_len - 1 ? '\n' : 'a' + i % 26;
        ok_keep = make_response("200 OK", "", body, body_len);
        ok_close = make_response("200 OK", "Connection: close\r\n", body, body_len);
        nf_keep = make_response("404 Not Found", "", "not found\n", 10);
        nf_close = make_response("404 Not Found", "Connection: close\r\n", "not found\n", 10);
        bad_req = make_response("400 Bad Request", "Connection: close\r\n", "bad request\n", 12);
        free(body);
    }

    /* Signals: blocked everywhere (the loop threads inherit the mask), taken by sigwait(). */
    sigset_t stop_set;
    sigemptyset(&stop_set);
    sigaddset(&stop_set, SIGTERM);
    sigaddset(&stop_set, SIGINT);
    sigaddset(&stop_set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &stop_set, NULL);

    struct loop *loops = calloc(nloops, sizeof *loops);
    int chosen = (int)port;
    for (long i = 0; i < nloops; i++) {
        struct loop *lp = &loops[i];
        lp->lfd = listen_on(chosen, backlog, &chosen);  /* loop 0 picks the port, the rest share it */
        if (!(lp->ev = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK))) {
            fprintf(stderr, "ev_loop_new failed\n");
            return 2;
        }
        ev_io_init(&lp->accept_w, accept_cb, lp->lfd, EV_READ);
        lp->accept_w.data = lp;
        ev_io_start(lp->ev, &lp->accept_w);
        ev_timer_init(&lp->retry_w, retry_cb, 0.010, 0.);
        lp->retry_w.data = lp;
        ev_async_init(&lp->stop_w, stop_cb);
        ev_async_start(lp->ev, &lp->stop_w);
    }
    publish_port(chosen, port_file);
    double t0 = now_s();
    for (long i = 0; i < nloops; i++) {
        int rc = pthread_create(&loops[i].th, NULL, loop_thread, &loops[i]);
        if (rc) {
            fprintf(stderr, "pthread_create: %s\n", strerror(rc));
            return 2;
        }
    }
    if (limit)
        alarm(limit);

    int sig = 0;
    sigwait(&stop_set, &sig);
    double secs = now_s() - t0;
    alarm(0);
    struct stats t = { 0 };
    for (long i = 0; i < nloops; i++)
        ev_async_send(loops[i].ev, &loops[i].stop_w);
    for (long i = 0; i < nloops; i++) {
        pthread_join(loops[i].th, NULL);
        close(loops[i].lfd);
        struct stats *s = &loops[i].st;
        t.accepted += s->accepted; t.closed += s->closed; t.active += s->active; t.bytes += s->bytes;
        t.requests += s->requests; t.resp_200 += s->resp_200; t.resp_404 += s->resp_404; t.bad += s->bad;
        t.bytes_out += s->bytes_out; t.resets += s->resets; t.io_errors += s->io_errors;
        t.accept_errors += s->accept_errors;
    }
    int is_fatal = atomic_load(&fatal);
    int ok = t.io_errors == 0 && !is_fatal;
    const char *stopped_by = is_fatal ? "error" : sig == SIGALRM ? "time" : "signal";
    if (mode == M_ECHO)
        emit("peer_libev", ok, "connections", (double)t.accepted,
             "mode=echo bytes=%ld closed=%ld active=%ld resets=%ld errors=%ld accept_errors=%ld loops=%ld "
             "secs=%.3f stopped_by=%s",
             t.bytes, t.closed, t.active, t.resets, t.io_errors, t.accept_errors, nloops, secs, stopped_by);
    else
        emit("peer_libev", ok, "requests", (double)t.requests,
             "mode=http resp_200=%ld resp_404=%ld bad=%ld connections=%ld closed=%ld active=%ld bytes_out=%ld "
             "resets=%ld errors=%ld accept_errors=%ld body=%ld loops=%ld secs=%.3f stopped_by=%s",
             t.resp_200, t.resp_404, t.bad, t.accepted, t.closed, t.active, t.bytes_out, t.resets, t.io_errors,
             t.accept_errors, body_len, nloops, secs, stopped_by);
    return ok ? 0 : 1;
}
