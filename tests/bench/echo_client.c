/* echo_client: epoll-based load generator for echo_server (our own tool: it always runs natively,
 * never under the shim). Opens C connections, then each connection repeatedly sends an M-byte
 * message, waits for the whole echo, verifies every byte and records the round-trip time.
 *   -p PORT   server port                  -f FILE  read the port from FILE (waits up to 10 s)
 *   -H ADDR   server IPv4 address (default 127.0.0.1)
 *   -c C      connections (default 100)     -m M     message bytes (default 64)
 *   -d D      measured seconds (default 5)  -W W     warm-up seconds (default 1), fractions ok
 *   -j J      threads, each with its own epoll and C/J connections (default 1; 0 = one per core)
 *   -b B      connections being set up at once, over all threads (default 128)
 *   -a A      source addresses 127.0.0.1..127.0.0.A to spread connections over (default 0 =
 *             just enough that no address needs more than half of ip_local_port_range)
 * Connection setup: at most B connections are in progress at once (non-blocking connect, then a
 * first message whose echo proves that the server has accepted the connection and started its
 * thread), so the server's listen backlog is never flooded; connect() failing with
 * ECONNREFUSED/EAGAIN/EADDRNOTAVAIL is retried after 2 ms (at most 200 times per connection).
 * Setup must finish within 20 s. Connections then wait until all are up, warm up for W seconds
 * (unmeasured) and are measured for D seconds: a round trip counts if it completes inside the
 * window. After the window no new message is sent; outstanding ones get 5 s to come back
 * (unreturned ones count as errors: stalled). Hard stop: W + D + 30 s (then one ok=0 line).
 * RLIMIT_NOFILE's soft limit is raised to the hard limit.
 * Latency histogram: log-linear, exact below 256 ns, 128 sub-buckets per power of two above
 * (bucket width <= 1/128 of its value, reported at the bucket middle: error < 0.4%).
 * Result: metric=msgs_per_s (round trips per second over all connections), p50_us, p99_us,
 * p999_us, max_us, conns (up at the end), errors = connect_failed + dropped (EOF/reset/error on
 * a connection that was up) + byte_errors + unexpected (bytes arriving with nothing
 * outstanding) + stalled; min_conn_msgs / max_conn_msgs = fewest / most round trips of any
 * connection in the window. Percentiles are over round trips, so connections that get served
 * quickly (and therefore more often) weigh more: with many connections and a saturated server
 * the distribution can be bimodal (a low p50 next to a huge p99); mean_us follows Little's law
 * (conns / msgs_per_s) and min/max_conn_msgs show the (un)fairness.
 * ok=1 only if all C connections came up and stayed up, every byte verified and errors=0. */
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "bench.h"

#define SUB 128                             /* sub-buckets per power of two */
#define NBUCKETS (2 * SUB + 56 * SUB)
#define BUF 65536
#define MAX_ATTEMPTS 200
#define NS 1000000000LL

enum { S_CONNECTING = 1, S_FIRST, S_IDLE, S_RUN, S_DEAD };

struct conn {
    int fd;
    uint32_t id, seq, sent, rcvd, events;
    uint8_t state, busy;
    uint16_t attempts;
    int64_t t_send;
    uint64_t win_msgs;
};

struct worker {
    pthread_t th;
    int ep;
    struct conn *conns;
    long n, next, pending, batch, busy_count;
    long up, connect_failed, dropped, unexpected, stalled, retries;
    uint64_t byte_errors, bytes_ok, msgs, win_msgs;
    uint64_t *hist;
    uint8_t *sbuf, *rbuf;
};

static struct sockaddr_in server;
static long nconns = 100, msg = 64, nsrc;
static int64_t connect_deadline, hard_ns;
static atomic_long conns_up, conns_failed;
static _Atomic int64_t t_warm, t_meas_start, t_meas_end;
static atomic_int first_error_reported;

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NS + ts.tv_nsec;
}

static inline int bucket_of(uint64_t v)
{
    if (v < 2 * SUB)
        return (int)v;
    int shift = 63 - __builtin_clzll(v) - 7;          /* v >> shift is in [128, 256) */
    return 2 * SUB + (shift - 1) * SUB + (int)((v >> shift) - SUB);
}

static inline double bucket_mid(int i)
{
    if (i < 2 * SUB)
        return i;
    int shift = (i - 2 * SUB) / SUB + 1;
    uint64_t lo = (uint64_t)((i - 2 * SUB) % SUB + SUB) << shift;
    return lo + (double)(1ULL << shift) / 2;
}

static double percentile(const uint64_t *h, uint64_t total, double q)
{
    uint64_t rank = (uint64_t)(q * total + 0.999999999), cum = 0;
    if (!total)
        return 0;
    if (rank < 1)
        rank = 1;
    for (int i = 0; i < NBUCKETS; i++)
        if ((cum += h[i]) >= rank)
            return bucket_mid(i);
    return 0;
}

/* Message content: byte k of message seq on connection id is base + k * step (mod 256), with
 * base and an odd step drawn from a hash of (id, seq): position-, message- and connection-specific. */
static inline uint32_t msg_hash(uint32_t id, uint32_t seq)
{
    uint32_t x = id * 0x9E3779B1u ^ (seq + 1) * 0x85EBCA77u;
    x ^= x >> 15;
    x *= 0xC2B2AE3Du;
    return x ^ (x >> 13);
}

static void report_error(const char *what, int err)
{
    if (atomic_fetch_add(&first_error_reported, 1) < 5)
        fprintf(stderr, "echo_client: %s: %s\n", what, strerror(err));
}

static void set_events(struct worker *w, struct conn *c, uint32_t ev)
{
    if (c->events == ev)
        return;
    struct epoll_event e = { .events = ev, .data.ptr = c };
    if (epoll_ctl(w->ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e))
        report_error("epoll_ctl", errno);
    c->events = ev;
}

/* Connection c is lost: close it and account for it. */
static void kill_conn(struct worker *w, struct conn *c, int during_setup)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->events = 0;
    if (c->busy)
        w->busy_count--;
    c->busy = 0;
    if (during_setup) {
        w->pending--;
        w->connect_failed++;
        atomic_fetch_add(&conns_failed, 1);
    } else {
        w->dropped++;
    }
    c->state = S_DEAD;
}

static int retryable(int e)
{
    return e == ECONNREFUSED || e == EAGAIN || e == EADDRNOTAVAIL || e == EINTR || e == ETIMEDOUT;
}

/* Start (or restart) a non-blocking connect; 0 if under way, -1 if given up (c is then dead). */
static int start_connect(struct worker *w, struct conn *c)
{
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e, one = 1;
        if (fd < 0) {
            e = errno;
            report_error("socket", e);
            goto fail;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (nsrc > 1) {
            struct sockaddr_in src = { .sin_family = AF_INET };
            src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + c->id % nsrc);
            /* choose the port at connect() time, unique per 4-tuple, not per address */
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            if (bind(fd, (struct sockaddr *)&src, sizeof src)) {
                e = errno;
                close(fd);
                report_error("bind", e);
                goto fail;
            }
        }
        if (connect(fd, (struct sockaddr *)&server, sizeof server) == 0 || errno == EINPROGRESS) {
            c->fd = fd;
            c->state = S_CONNECTING;
            c->events = 0;
            set_events(w, c, EPOLLOUT);
            return 0;
        }
        e = errno;
        close(fd);
        if (retryable(e) && ++c->attempts < MAX_ATTEMPTS && now_ns() < connect_deadline) {
            w->retries++;
            sleep_ns(2000000);
            continue;
        }
        report_error("connect", e);
    fail:
        c->fd = -1;
        c->state = S_CONNECTING;
        kill_conn(w, c, 1);
        return -1;
    }
}

static void send_more(struct worker *w, struct conn *c)
{
    uint32_t h = msg_hash(c->id, c->seq);
    uint8_t base = h, step = (h >> 8) | 1;
    while (c->sent < msg) {
        uint32_t len = msg - c->sent < BUF ? msg - c->sent : BUF;
        uint8_t b = base + c->sent * step;
        for (uint32_t i = 0; i < len; i++, b += step)
            w->sbuf[i] = b;
        ssize_t n = send(c->fd, w->sbuf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                set_events(w, c, EPOLLIN | EPOLLOUT);
                return;
            }
            report_error("send", errno);
            kill_conn(w, c, c->state == S_FIRST);
            return;
        }
        c->sent += n;
    }
    set_events(w, c, EPOLLIN);
}

static void start_msg(struct worker *w, struct conn *c)
{
    c->sent = c->rcvd = 0;
    c->busy = 1;
    w->busy_count++;
    c->t_send = now_ns();
    send_more(w, c);
}

static void msg_done(struct worker *w, struct conn *c)
{
    int64_t t = now_ns(), lat = t - c->t_send;
    c->busy = 0;
    w->busy_count--;
    c->seq++;
    w->msgs++;
    if (t >= atomic_load_explicit(&t_meas_start, memory_order_relaxed) &&
        t < atomic_load_explicit(&t_meas_end, memory_order_relaxed) && atomic_load(&t_warm)) {
        w->hist[bucket_of(lat > 0 ? lat : 0)]++;
        w->win_msgs++;
        c->win_msgs++;
    }
    if (c->state == S_FIRST) {
        w->pending--;
        w->up++;
        atomic_fetch_add(&conns_up, 1);
        c->state = atomic_load(&t_warm) ? S_RUN : S_IDLE;
    }
    int64_t end = atomic_load(&t_meas_end);
    if (c->state == S_RUN && (!end || t < end))
        start_msg(w, c);
}

static void do_read(struct worker *w, struct conn *c)
{
    for (;;) {
        if (!c->busy) {                         /* nothing outstanding: anything here is wrong */
            ssize_t n = read(c->fd, w->rbuf, BUF);
            if (n > 0) {
                w->unexpected++;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return;
            if (n < 0)
                report_error("read", errno);
            kill_conn(w, c, c->state == S_FIRST);
            return;
        }
        uint32_t want = msg - c->rcvd < BUF ? msg - c->rcvd : BUF;
        ssize_t n = read(c->fd, w->rbuf, want);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return;
            if (n < 0)
                report_error("read", errno);
            else if (atomic_fetch_add(&first_error_reported, 1) < 5)
                fprintf(stderr, "echo_client: connection %u closed by the server\n", c->id);
            kill_conn(w, c, c->state == S_FIRST);
            return;
        }
        uint32_t h = msg_hash(c->id, c->seq), bad = 0;
        uint8_t step = (h >> 8) | 1, b = (uint8_t)h + c->rcvd * step;
        for (ssize_t i = 0; i < n; i++, b += step)
            bad += w->rbuf[i] != b;
        w->byte_errors += bad;
        w->bytes_ok += n - bad;
        c->rcvd += n;
        if (c->rcvd == msg) {
            msg_done(w, c);
            if (c->state == S_DEAD)
                return;
        }
    }
}

static void on_event(struct worker *w, struct conn *c, uint32_t ev)
{
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
            err = errno;
        if (!err && !(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (err) {
            close(c->fd);
            c->fd = -1;
            c->events = 0;
            if (retryable(err) && ++c->attempts < MAX_ATTEMPTS && now_ns() < connect_deadline) {
                w->retries++;
                sleep_ns(2000000);
                start_connect(w, c);            /* on failure it has accounted for c */
            } else {
                report_error("connect", err);
                kill_conn(w, c, 1);
            }
            return;
        }
        c->state = S_FIRST;
        start_msg(w, c);                        /* also switches the interest to EPOLLIN */
        return;
    }
    if (c->state == S_DEAD)
        return;
    if ((ev & EPOLLOUT) && c->busy && c->sent < msg) {
        send_more(w, c);
        if (c->state == S_DEAD)
            return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        do_read(w, c);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event evs[256];
    int kicked = 0, setup_closed = 0;
    for (;;) {
        int64_t now = now_ns();
        if (now < connect_deadline)
            while (w->next < w->n && w->pending < w->batch) {
                struct conn *c = &w->conns[w->next++];
                w->pending++;
                start_connect(w, c);
            }
        else if (!setup_closed) {               /* setup time is over: give up on the rest */
            setup_closed = 1;
            for (long i = 0; i < w->next; i++)
                if (w->conns[i].state == S_CONNECTING || w->conns[i].state == S_FIRST)
                    kill_conn(w, &w->conns[i], 1);
            long left = w->n - w->next;
            w->connect_failed += left;
            atomic_fetch_add(&conns_failed, left);
            for (; w->next < w->n; w->next++)
                w->conns[w->next].state = S_DEAD;
        }
        if (!kicked && atomic_load(&t_warm)) {
            kicked = 1;
            for (long i = 0; i < w->n; i++)
                if (w->conns[i].state == S_IDLE) {
                    w->conns[i].state = S_RUN;
                    start_msg(w, &w->conns[i]);
                }
        }
        int64_t end = atomic_load(&t_meas_end);
        if (kicked && end && now >= end) {
            if (!w->busy_count)
                break;
            if (now >= end + 5 * NS || now >= hard_ns - 2 * NS) {
                w->stalled = w->busy_count;
                break;
            }
        }
        int n = epoll_wait(w->ep, evs, 256, 10);
        for (int i = 0; i < n; i++)
            on_event(w, evs[i].data.ptr, evs[i].events);
    }
    for (long i = 0; i < w->n; i++)
        if (w->conns[i].fd >= 0)
            close(w->conns[i].fd);
    return NULL;
}

static void on_alarm(int sig)
{
    static const char line[] = "bench=echo_client ok=0 metric=msgs_per_s value=0 errors=1 hard_timeout=1 preloaded=0\n";
    ssize_t rc = write(1, line, sizeof line - 1);
    (void)rc;
    _exit(1);
}

static long read_port_file(const char *file)
{
    double t0 = now_s();
    for (;;) {
        FILE *f = fopen(file, "r");
        long p = -1;
        if (f) {
            if (fscanf(f, "%ld", &p) != 1)
                p = -1;
            fclose(f);
        }
        if (p > 0 && p < 65536)
            return p;
        if (now_s() - t0 > 10) {
            fprintf(stderr, "echo_client: no port in %s\n", file);
            exit(2);
        }
        sleep_ns(10000000);
    }
}

static double parse_secs(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || v < 0 || v > 3600) {
        fprintf(stderr, "bad seconds: %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long port = 0, threads = 1, batch = 128;
    double dur = 5, warm = 1;
    const char *host = "127.0.0.1";
    int c;
    while ((c = getopt(argc, argv, "p:f:H:c:m:d:W:j:b:a:")) != -1) {
        switch (c) {
        case 'p': port = parse_size(optarg); break;
        case 'f': port = read_port_file(optarg); break;
        case 'H': host = optarg; break;
        case 'c': nconns = parse_size(optarg); break;
        case 'm': msg = parse_size(optarg); break;
        case 'd': dur = parse_secs(optarg); break;
        case 'W': warm = parse_secs(optarg); break;
        case 'j': threads = parse_size(optarg); break;
        case 'b': batch = parse_size(optarg); break;
        case 'a': nsrc = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s -p port|-f port_file [-H addr] [-c conns] [-m msg_bytes] [-d secs] "
                            "[-W warmup_secs] [-j threads] [-b setup_batch] [-a src_addrs]\n", argv[0]);
            return 2;
        }
    }
    if (threads == 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN);
    if (port < 1 || port > 65535 || nconns < 1 || msg < 1 || msg > (1L << 30) || dur <= 0 ||
        threads < 1 || threads > 256 || batch < 1 || nsrc > 254) {
        fprintf(stderr, "echo_client: need -p/-f port, c >= 1, 1 <= m <= 1G, d > 0, 1 <= j <= 256, b >= 1, a <= 254\n");
        return 2;
    }
    if (threads > nconns)
        threads = nconns;
    server.sin_family = AF_INET;
    server.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1) {
        fprintf(stderr, "echo_client: bad address %s\n", host);
        return 2;
    }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)nconns + threads + 16 > rl.rlim_cur) {
        fprintf(stderr, "echo_client: %ld connections do not fit RLIMIT_NOFILE %ld\n", nconns, (long)rl.rlim_cur);
        return 2;
    }
    if (!nsrc) {
        long lo = 32768, hi = 60999;
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
        if (f) {
            if (fscanf(f, "%ld %ld", &lo, &hi) != 2)
                lo = 32768, hi = 60999;
            fclose(f);
        }
        long per = (hi - lo + 1) / 2;
        nsrc = per > 0 ? (nconns + per - 1) / per : 1;
        if (nsrc > 254)
            nsrc = 254;
    }
    signal(SIGPIPE, SIG_IGN);

    int64_t t0 = now_ns();
    connect_deadline = t0 + 20 * NS;
    hard_ns = t0 + (int64_t)((warm + dur + 30) * NS);
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)(warm + dur + 30.999));

    struct conn *conns = calloc(nconns, sizeof *conns);
    struct worker *ws = calloc(threads, sizeof *ws);
    for (long i = 0; i < nconns; i++) {
        conns[i].id = i;
        conns[i].fd = -1;
    }
    for (long i = 0; i < threads; i++) {
        struct worker *w = &ws[i];
        long a = nconns * i / threads, b = nconns * (i + 1) / threads;
        w->conns = conns + a;
        w->n = b - a;
        w->batch = batch / threads > 0 ? batch / threads : 1;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->hist = calloc(NBUCKETS, sizeof *w->hist);
        w->sbuf = malloc(BUF);
        w->rbuf = malloc(BUF);
        if (w->ep < 0 || !w->hist || !w->sbuf || !w->rbuf) {
            perror("echo_client: setup");
            return 2;
        }
        if ((errno = pthread_create(&w->th, NULL, worker_main, w))) {
            perror("pthread_create");
            return 2;
        }
    }

    /* Setup: wait until every connection is up or given up, then open the windows. */
    while (atomic_load(&conns_up) + atomic_load(&conns_failed) < nconns && now_ns() < connect_deadline + NS / 10)
        sleep_ns(1000000);
    int64_t t_up = now_ns();
    long up = atomic_load(&conns_up);
    if (!up)
        warm = dur = 0.001;
    atomic_store(&t_meas_start, t_up + (int64_t)(warm * NS));
    atomic_store(&t_meas_end, t_up + (int64_t)((warm + dur) * NS));
    atomic_store(&t_warm, t_up);
    for (long i = 0; i < threads; i++)
        pthread_join(ws[i].th, NULL);
    alarm(0);

    struct worker tot = { 0 };
    uint64_t *hist = calloc(NBUCKETS, sizeof *hist), min_conn = UINT64_MAX, max_conn = 0;
    double lat_sum = 0;
    for (long i = 0; i < threads; i++) {
        struct worker *w = &ws[i];
        tot.up += w->up;
        tot.connect_failed += w->connect_failed;
        tot.dropped += w->dropped;
        tot.unexpected += w->unexpected;
        tot.stalled += w->stalled;
        tot.retries += w->retries;
        tot.byte_errors += w->byte_errors;
        tot.bytes_ok += w->bytes_ok;
        tot.msgs += w->msgs;
        tot.win_msgs += w->win_msgs;
        for (int j = 0; j < NBUCKETS; j++) {
            hist[j] += w->hist[j];
            lat_sum += w->hist[j] * bucket_mid(j);
        }
    }
    int maxb = 0;
    for (int j = 0; j < NBUCKETS; j++)
        if (hist[j])
            maxb = j;
    for (long i = 0; i < nconns; i++)
        if (conns[i].state != S_DEAD) {
            if (conns[i].win_msgs < min_conn)
                min_conn = conns[i].win_msgs;
            if (conns[i].win_msgs > max_conn)
                max_conn = conns[i].win_msgs;
        }
    if (min_conn == UINT64_MAX)
        min_conn = 0;
    long alive = tot.up - tot.dropped;
    long errors = tot.connect_failed + tot.dropped + tot.unexpected + tot.stalled + (long)tot.byte_errors;
    int ok = errors == 0 && tot.up == nconns && alive == nconns && tot.win_msgs > 0;
    emit("echo_client", ok, "msgs_per_s", tot.win_msgs / dur,
         "p50_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.2f mean_us=%.2f conns=%ld conns_wanted=%ld "
         "errors=%ld connect_failed=%ld dropped=%ld byte_errors=%lu unexpected=%ld stalled=%ld "
         "msgs=%lu msg_bytes=%ld bytes_verified=%lu min_conn_msgs=%lu max_conn_msgs=%lu threads=%ld src_addrs=%ld "
         "connect_s=%.3f connect_retries=%ld warmup_s=%g duration_s=%g",
         percentile(hist, tot.win_msgs, 0.50) / 1e3, percentile(hist, tot.win_msgs, 0.99) / 1e3,
         percentile(hist, tot.win_msgs, 0.999) / 1e3, tot.win_msgs ? bucket_mid(maxb) / 1e3 : 0,
         tot.win_msgs ? lat_sum / tot.win_msgs / 1e3 : 0, alive, nconns, errors, tot.connect_failed,
         tot.dropped, tot.byte_errors, tot.unexpected, tot.stalled, tot.win_msgs, msg, tot.bytes_ok,
         min_conn, max_conn, threads, nsrc, (t_up - t0) / 1e9, tot.retries, warm, dur);
    return ok ? 0 : 1;
}
