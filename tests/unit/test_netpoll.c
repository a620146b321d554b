#include "unit.h"
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>
#include "clock.h"
#include "netpoll.h"
#include "rt_fixture.h"
#include "waiter.h"

/* Reads one byte from fd as a blocking read would, waiting on the reactor between
 * non-blocking attempts (what the shim's read does). Returns 1, 0 at EOF, or -1. */
static int read_byte(int fd, char *c)
{
    blitz_fd *e = blitz_fd_get(fd);
    for (;;) {
        uint32_t gen = blitz_fd_gen(e);
        struct iovec v = { c, 1 };
        ssize_t n = preadv2(fd, &v, 1, -1, RWF_NOWAIT);
        if (n >= 0)
            return (int)n;
        if (errno != EAGAIN)
            return -1;
        int r = blitz_fd_wait(fd, e, gen, BLITZ_IO_IN, 0, NULL);
        if (r != BLITZ_IO_READY)
            return -1;
    }
}

struct pair {
    int ab[2], ba[2]; /* pipes a->b, b->a */
    int rounds;
    unsigned seed_a, seed_b;
    _Atomic int bad;
};

static void *side_a(void *arg)
{
    struct pair *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        char c = (char)i, got;
        if (write(p->ab[1], &c, 1) != 1 || read_byte(p->ba[0], &got) != 1 || got != c)
            atomic_fetch_add(&p->bad, 1);
        if (blitz_self() && rt_rand(&p->seed_a) % 5 == 0)
            blitz_yield();
    }
    return NULL;
}

static void *side_b(void *arg)
{
    struct pair *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        char c;
        if (read_byte(p->ab[0], &c) != 1 || write(p->ba[1], &c, 1) != 1)
            atomic_fetch_add(&p->bad, 1);
        if (blitz_self() && rt_rand(&p->seed_b) % 7 == 0)
            blitz_yield();
    }
    return NULL;
}

/* Many pairs of parties (tasks, and some plain threads) ping-pong over pipes, every read
 * waiting on the reactor: no edge may be lost (a lost one hangs the test). */
Test(netpoll, pipe_ping_pong_between_tasks_and_threads_loses_no_edge, .timeout = 60)
{
    enum { PAIRS = 24, OS_PAIRS = 2, ROUNDS = 400 };
    static struct pair pairs[PAIRS];
    rt_up(2);
    blitz_task *ts[2 * PAIRS];
    pthread_t os[2 * OS_PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        cr_assert_eq(pipe2(pairs[i].ab, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(pairs[i].ba, O_CLOEXEC), 0);
        pairs[i].rounds = ROUNDS;
        pairs[i].seed_a = (unsigned)i + 1;
        pairs[i].seed_b = (unsigned)i + 1000;
    }
    for (int i = 0; i < PAIRS; i++) {
        if (i < OS_PAIRS) { /* one side a plain thread: it sleeps on its waiter's futex */
            pthread_create(&os[2 * i], NULL, side_a, &pairs[i]);
            cr_assert(ts[2 * i + 1] = blitz_task_spawn(side_b, &pairs[i], NULL));
        } else {
            cr_assert(ts[2 * i] = blitz_task_spawn(side_a, &pairs[i], NULL));
            cr_assert(ts[2 * i + 1] = blitz_task_spawn(side_b, &pairs[i], NULL));
        }
    }
    for (int i = 0; i < PAIRS; i++) {
        if (i < OS_PAIRS)
            pthread_join(os[2 * i], NULL);
        else
            cr_assert_eq(blitz_task_join(ts[2 * i], NULL, 0, 0, NULL), 0);
        cr_assert_eq(blitz_task_join(ts[2 * i + 1], NULL, 0, 0, NULL), 0);
        cr_assert_eq(atomic_load(&pairs[i].bad), 0, "pair %d", i);
        for (int k = 0; k < 2; k++) {
            blitz_fd_closing(pairs[i].ab[k]);
            close(pairs[i].ab[k]);
            blitz_fd_closing(pairs[i].ba[k]);
            close(pairs[i].ba[k]);
        }
    }
    rt_down();
}

struct closing_wait {
    int fd;
    int result;
};

static void *wait_readable(void *arg)
{
    struct closing_wait *c = arg;
    blitz_fd *e = blitz_fd_get(c->fd);
    c->result = blitz_fd_wait(c->fd, e, blitz_fd_gen(e), BLITZ_IO_IN, 0, NULL);
    return NULL;
}

/* Closing a descriptor wakes its waiters with CLOSED and moves the generation on, so a wait
 * that started before cannot attach to a file that reuses the number. */
Test(netpoll, close_wakes_waiters_and_stale_generations_are_refused, .timeout = 30)
{
    rt_up(2);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    struct closing_wait c = { p[0], -1 };
    blitz_task *t = blitz_task_spawn(wait_readable, &c, NULL);
    cr_assert(t);
    blitz_fd *e = blitz_fd_get(p[0]);
    for (;;) { /* until it waits */
        blitz_lock_acquire(&e->lock);
        int waiting = e->waiting != NULL;
        blitz_lock_release(&e->lock);
        if (waiting)
            break;
        usleep(1000);
    }
    uint32_t gen = blitz_fd_gen(e);
    blitz_fd_closing(p[0]);
    cr_assert_eq(blitz_task_join(t, NULL, 0, 0, NULL), 0);
    cr_assert_eq(c.result, BLITZ_IO_CLOSED);
    cr_assert_neq(blitz_fd_gen(e), gen);
    /* a wait with the old generation is refused at once */
    blitz_waiter w;
    blitz_io_node n;
    blitz_waiter_init(&w);
    cr_assert_eq(blitz_fd_arm(&n, e, p[0], gen, BLITZ_IO_IN, &w), BLITZ_IO_CLOSED);
    close(p[0]);
    close(p[1]);
    rt_down();
}

/* An edge that arrives while nobody waits leaves a token: the next wait returns at once. A
 * deadline ends a wait with TIMEDOUT. Regular files are refused (epoll cannot watch them). */
Test(netpoll, tokens_timeouts_and_unpollable_files, .timeout = 30)
{
    rt_up(1);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    blitz_fd *e = blitz_fd_get(p[0]);
    uint64_t t0 = blitz_now_ns();
    cr_assert_eq(blitz_fd_wait(p[0], e, blitz_fd_gen(e), BLITZ_IO_IN, t0 + 20000000, NULL),
                 BLITZ_IO_TIMEDOUT);
    cr_assert_geq(blitz_now_ns() - t0, 20000000);
    cr_assert_eq(write(p[1], "x", 1), 1);
    for (int i = 0; i < 1000; i++) { /* until a worker (or we) drained the event */
        blitz_netpoll_poll();
        blitz_lock_acquire(&e->lock);
        int token = e->token[0];
        blitz_lock_release(&e->lock);
        if (token)
            break;
        usleep(1000);
    }
    cr_assert_eq(blitz_fd_wait(p[0], e, blitz_fd_gen(e), BLITZ_IO_IN, 0, NULL), BLITZ_IO_READY);
    int f = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(f, 0);
    blitz_fd *fe = blitz_fd_get(f);
    cr_assert_eq(blitz_fd_wait(f, fe, blitz_fd_gen(fe), BLITZ_IO_IN, 0, NULL),
                 BLITZ_IO_UNPOLLABLE);
    blitz_fd_closing(f);
    close(f);
    blitz_fd_closing(p[0]);
    blitz_fd_closing(p[1]);
    close(p[0]);
    close(p[1]);
    rt_down();
}
