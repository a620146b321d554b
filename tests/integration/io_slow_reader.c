// blitz-timeout: 60
// One blocking call writes 10 MiB to a slow reader and returns the full count
// (10485760), for a TCP connection over 127.0.0.1, a UNIX socketpair and a pipe:
// write() on all three, send() on the sockets, writev() with 7 iovecs of uneven
// sizes on all three, sendmsg() with the same iovecs on the sockets.  The reader
// thread starts 20 ms late, reads in 64 KiB pieces with a 1 ms sleep every 16
// reads until EOF (the writer closes after its one call) and checks every byte
// against a pattern of the stream offset.  A third thread increments a counter
// between 1 ms sleeps throughout: it must advance during every write (other
// threads run while one is blocked in a long write).
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
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define TOTAL (10L << 20)
#define PIECE 65536
#define MIN_TICKS 3

static long ticks; /* atomic: the counter thread */
static int stop;   /* atomic */
static unsigned char *src;

static void *counter_thread(void *arg)
{
    for (int i = 0; i < 60000 && !__atomic_load_n(&stop, __ATOMIC_ACQUIRE); i++) {
        nap_ms(1);
        __atomic_fetch_add(&ticks, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static long ticks_now(void) { return __atomic_load_n(&ticks, __ATOMIC_RELAXED); }

static unsigned char pat(long off) { return (unsigned char)(off + (off >> 12) * 7 + (off >> 20) * 13); }

struct reader {
    int fd;
    long got;
    long bad_at; /* first offset with a wrong byte, -1 if none */
    int err;     /* errno of a failed read */
};

static void *reader_thread(void *arg)
{
    struct reader *r = arg;
    static unsigned char buf[PIECE];
    nap_ms(20);
    for (long reads = 1; reads <= TOTAL + 1; reads++) { /* at least a byte a read, or EOF */
        ssize_t n = read(r->fd, buf, PIECE);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r->err = errno;
            break;
        }
        for (ssize_t k = 0; k < n; k++)
            if (buf[k] != pat(r->got + k) && r->bad_at < 0)
                r->bad_at = r->got + k;
        r->got += n;
        if (reads % 16 == 0)
            nap_ms(1);
    }
    return NULL;
}

enum how { WRITE, SEND, WRITEV, SENDMSG };
static const char *how_name[] = { "write", "send", "writev", "sendmsg" };

/* uneven iovecs over src, 7 of them, totalling TOTAL */
static int make_iov(struct iovec *iov)
{
    static const long sizes[] = { 1, 4095, 65536, 1000000, 3145745, 12345 };
    long off = 0;
    int n = 0;
    for (; n < 6; n++) {
        iov[n].iov_base = src + off;
        iov[n].iov_len = (size_t)sizes[n];
        off += sizes[n];
    }
    iov[n].iov_base = src + off;
    iov[n].iov_len = (size_t)(TOTAL - off);
    return n + 1;
}

/* one call writes TOTAL bytes to wfd; the reader reads rfd */
static void transfer(int wfd, int rfd, enum how how, const char *kind)
{
    struct reader r = { .fd = rfd, .bad_at = -1 };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, reader_thread, &r), 0);
    struct iovec iov[8];
    int niov = make_iov(iov);
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
    long t0 = ticks_now();
    long long start = now_ns();
    ssize_t n = -1;
    errno = 0;
    switch (how) {
    case WRITE:
        n = write(wfd, src, TOTAL);
        break;
    case SEND:
        n = send(wfd, src, TOTAL, 0);
        break;
    case WRITEV:
        n = writev(wfd, iov, niov);
        break;
    case SENDMSG:
        n = sendmsg(wfd, &mh, 0);
        break;
    }
    int e = errno;
    long adv = ticks_now() - t0;
    fprintf(stderr, "%s %s: %zd in %.0f ms, counter +%ld\n", kind, how_name[how], n, (now_ns() - start) / 1e6, adv);
    close(wfd);
    EXPECT_ERR(pthread_join(t, NULL), 0);
    close(rfd);
    CHECK(n == TOTAL, "%s: one %s() of %ld bytes returned %zd (%s)", kind, how_name[how], TOTAL, n,
          n < 0 ? strerrorname_np(e) : "");
    CHECK(r.got == TOTAL && r.err == 0, "%s %s: the reader got %ld bytes (%s)", kind, how_name[how], r.got,
          r.err ? strerrorname_np(r.err) : "EOF");
    CHECK(r.bad_at < 0, "%s %s: wrong byte at offset %ld", kind, how_name[how], r.bad_at);
    CHECK(adv >= MIN_TICKS, "%s %s: the counter thread advanced %ld times during the write", kind, how_name[how], adv);
}

static void tcp_pair(int *c, int *s)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    *c = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || *c < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0 || connect(*c, (struct sockaddr *)&a, sizeof a) != 0 ||
        (*s = accept(l, NULL, NULL)) < 0) {
        printf("FAIL: TCP pair: %s\n", strerrorname_np(errno));
        exit(1);
    }
    close(l);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN); /* a reader that dies early must not kill the writer */
    src = malloc(TOTAL);
    if (!src) {
        printf("FAIL: malloc\n");
        return 1;
    }
    for (long i = 0; i < TOTAL; i++)
        src[i] = pat(i);
    pthread_t counter;
    EXPECT_ERR(pthread_create(&counter, NULL, counter_thread, NULL), 0);

    int before = failures;
    int fds[2];
    for (enum how h = WRITE; h <= SENDMSG; h++) {
        tcp_pair(&fds[0], &fds[1]);
        transfer(fds[0], fds[1], h, "TCP");
    }
    if (failures == before)
        printf("ok TCP: write, send, writev, sendmsg of 10 MiB each return 10485760 in one call\n");

    before = failures;
    for (enum how h = WRITE; h <= SENDMSG; h++) {
        EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        transfer(fds[0], fds[1], h, "UNIX");
    }
    if (failures == before)
        printf("ok UNIX socketpair: write, send, writev, sendmsg of 10 MiB each return 10485760 in one call\n");

    before = failures;
    EXPECT(pipe(fds), 0);
    transfer(fds[1], fds[0], WRITE, "pipe");
    EXPECT(pipe(fds), 0);
    transfer(fds[1], fds[0], WRITEV, "pipe");
    if (failures == before)
        printf("ok pipe: write and writev of 10 MiB each return 10485760 in one call\n");

    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    EXPECT_ERR(pthread_join(counter, NULL), 0);
    free(src);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
