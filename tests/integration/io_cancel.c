// blitz-timeout: 30
// Deferred cancellation of threads blocked in I/O: read() on an empty pipe, recv() on an
// idle socket, poll() and select() on idle descriptors, accept() on a quiet listener. Each
// is a cancellation point: pthread_cancel ends the thread with PTHREAD_CANCELED, its
// cleanup handler runs once, and afterwards the descriptors still work (a write to the
// pipe is read back by a new thread), so no half-finished wait is left behind.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

enum { OP_READ, OP_RECV, OP_POLL, OP_SELECT, OP_ACCEPT, OP_COUNT };
static const char *op_name[] = { "read", "recv", "poll", "select", "accept" };

struct blocked {
    int op, fd;
    int cleanups; /* atomic */
    int started;  /* atomic */
};

static void cleanup(void *arg)
{
    __atomic_fetch_add(&((struct blocked *)arg)->cleanups, 1, __ATOMIC_RELEASE);
}

static void *blocker(void *arg)
{
    struct blocked *b = arg;
    char buf[16];
    pthread_cleanup_push(cleanup, b);
    __atomic_store_n(&b->started, 1, __ATOMIC_RELEASE);
    switch (b->op) {
    case OP_READ:
        read(b->fd, buf, sizeof buf);
        break;
    case OP_RECV:
        recv(b->fd, buf, sizeof buf, 0);
        break;
    case OP_POLL: {
        struct pollfd p = { b->fd, POLLIN, 0 };
        poll(&p, 1, -1);
        break;
    }
    case OP_SELECT: {
        fd_set s;
        FD_ZERO(&s);
        FD_SET(b->fd, &s);
        select(b->fd + 1, &s, NULL, NULL, NULL);
        break;
    }
    case OP_ACCEPT:
        accept(b->fd, NULL, NULL);
        break;
    }
    pthread_cleanup_pop(0);
    return (void *)1; /* reached only if the call returned: a failure */
}

static void *reader(void *arg)
{
    char c = 0;
    return (void *)(long)(read(*(int *)arg, &c, 1) == 1 && c == 'x');
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int p[2], sv[2];
    EXPECT(pipe(p), 0);
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    EXPECT(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    EXPECT(listen(l, 4), 0);
    for (int round = 0; round < 3; round++) {
        for (int op = 0; op < OP_COUNT; op++) {
            struct blocked b = { .op = op };
            b.fd = op == OP_RECV ? sv[0] : op == OP_ACCEPT ? l : p[0];
            pthread_t t;
            EXPECT_ERR(pthread_create(&t, NULL, blocker, &b), 0);
            gate_wait(&b.started);
            nap_ms(20); /* let it block */
            EXPECT_ERR(pthread_cancel(t), 0);
            void *ret = NULL;
            EXPECT_ERR(pthread_join(t, &ret), 0);
            CHECK(ret == PTHREAD_CANCELED, "%s: the thread ended with %p, not PTHREAD_CANCELED",
                  op_name[op], ret);
            EXPECT(__atomic_load_n(&b.cleanups, __ATOMIC_ACQUIRE), 1);
        }
    }
    /* the pipe still works for a new waiter */
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, reader, &p[0]), 0);
    nap_ms(20);
    EXPECT(write(p[1], "x", 1), 1);
    void *ok = NULL;
    EXPECT_ERR(pthread_join(t, &ok), 0);
    EXPECT((long)ok, 1);
    printf("cancelled in read, recv, poll, select, accept (3 rounds each); cleanup ran once\n");
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
