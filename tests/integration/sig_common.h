/* Shared helpers for the signal test programs (sig_eintr, sig_restart, sig_sigwait).
 *
 * Plain C.  Like the programs themselves it stands for legacy code: it must never include
 * anything from the blitzshim runtime, shim or preload sources.  It builds on check.h
 * (now_ns, nap_ms) and includes it itself; include it after the system headers and after
 * defining _GNU_SOURCE (strerrorname_np), as every program does first.  Every helper is
 * static and marked unused: a program pays nothing (and gets no warning) for what it does
 * not call.
 *
 *   err_now(), err_clear()   read errno / set it to 0, and self_now() pthread_self(), through
 *                            noinline calls: __errno_location() and pthread_self() are
 *                            declared const, so the compiler could otherwise fold them or
 *                            keep their result across a blocking call
 *   hits, handler_thread     what the handlers record: their runs (int, atomic) and the thread
 *                            the last one ran on
 *   record_hit()             the body of a counting handler: records the calling thread and
 *                            increments hits (release); async-signal-safe
 *   on_usr1(sig)             a counting handler (record_hit) to install for SIGUSR1; a program
 *                            that needs a second, distinct handler writes one calling record_hit
 *   hits_now()               hits (acquire)
 *   ran_on_me()              non-zero when a handler ran (hits > 0) and the last one ran on the
 *                            calling thread
 *   reset_hits()             sets hits back to 0 (release)
 *   wait_flag(&flag, ms)     waits up to ms milliseconds for the int flag (or counter) to become
 *                            non-zero (acquire), polling every 5 ms with nap_ms; 1 if it did,
 *                            0 on timeout
 *   listener(&port)          a TCP socket listening on 127.0.0.1 at a kernel-chosen port
 *                            (backlog 16); stores the port (host order) and returns the fd
 *   connect_to(port)         a TCP socket connected to 127.0.0.1:port; returns the fd
 *   tcp_pair(sv)             a connected TCP pair over 127.0.0.1: sv[0] the accepted end,
 *                            sv[1] the connecting end (the listener is closed again)
 * listener, connect_to and tcp_pair print "FAIL: listener|connect|accept: ENAME" and exit(1)
 * when a call fails.
 */
#ifndef BLITZ_IT_SIG_COMMON_H
#define BLITZ_IT_SIG_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

static __attribute__((noinline, unused)) int err_now(void) { return errno; }
static __attribute__((noinline, unused)) void err_clear(void) { errno = 0; }
static __attribute__((noinline, unused)) pthread_t self_now(void) { return pthread_self(); }

static int hits __attribute__((unused)); /* atomic */
static pthread_t handler_thread __attribute__((unused));

static __attribute__((unused)) void record_hit(void)
{
    handler_thread = pthread_self();
    __atomic_fetch_add(&hits, 1, __ATOMIC_RELEASE);
}

static __attribute__((unused)) void on_usr1(int sig)
{
    (void)sig;
    record_hit();
}

static __attribute__((unused)) int hits_now(void) { return __atomic_load_n(&hits, __ATOMIC_ACQUIRE); }

static __attribute__((unused)) int ran_on_me(void)
{
    return hits_now() > 0 && pthread_equal(handler_thread, self_now());
}

static __attribute__((unused)) void reset_hits(void) { __atomic_store_n(&hits, 0, __ATOMIC_RELEASE); }

static __attribute__((unused)) int wait_flag(int *flag, long ms)
{
    long long t0 = now_ns();
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
        if (now_ns() - t0 >= ms * 1000000LL)
            return 0;
        nap_ms(5);
    }
    return 1;
}

static __attribute__((unused)) int listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        printf("FAIL: listener: %s\n", strerrorname_np(errno));
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static __attribute__((unused)) int connect_to(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("FAIL: connect: %s\n", strerrorname_np(errno));
        exit(1);
    }
    return fd;
}

static __attribute__((unused)) void tcp_pair(int sv[2])
{
    uint16_t port;
    int l = listener(&port);
    sv[1] = connect_to(port);
    sv[0] = accept(l, NULL, NULL);
    if (sv[0] < 0) {
        printf("FAIL: accept: %s\n", strerrorname_np(errno));
        exit(1);
    }
    close(l);
}

#endif /* BLITZ_IT_SIG_COMMON_H */
