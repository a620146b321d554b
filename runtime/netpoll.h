/* The I/O reactor's shared half: one process-wide epoll set (the "netpoller") in which every
 * file descriptor a task has waited on is registered once, edge-triggered, for input and
 * output; a per-descriptor table of the tasks waiting on each; and the dispatch that readies
 * them. Every processor's libev loop watches the epoll set, so an idle worker sleeps in its
 * own loop and wakes for I/O, timers and hand-offs alike; busy workers poll it between tasks.
 *
 * Why one set and edge triggering: a descriptor is registered on its first wait and never
 * touched again until it is closed, so a wait costs no epoll_ctl, and any worker can wake
 * any waiter (tasks migrate). Edges that arrive while nobody waits leave a token, so an
 * edge between a failed non-blocking attempt and the wait is never lost.
 *
 * Descriptor entries are allocated lazily in chunks, for the descriptors tasks actually use;
 * the table reaches BLITZ_FD_MAX descriptors and costs nothing for the others.
 *
 * Thread-safety: every function may be called from tasks, scheduler contexts and OS threads
 * unless its comment says otherwise. An entry's waiter lists and tokens are guarded by the
 * entry's lock; `gen` is written under it and read without it. */
#ifndef BLITZ_NETPOLL_H
#define BLITZ_NETPOLL_H
#include <stdatomic.h>
#include <stdint.h>
#include "lock.h"
#include "waiter.h"

#define BLITZ_FD_MAX (1 << 20) /* Linux's default fs.nr_open */

enum { BLITZ_IO_IN = 1, BLITZ_IO_OUT = 2 };

/* Results of blitz_fd_wait (and node states). */
enum {
    BLITZ_IO_READY = 0,       /* woken by readiness (or a token): try the operation again */
    BLITZ_IO_TIMEDOUT = 1,    /* the deadline passed */
    BLITZ_IO_INTERRUPTED = 2, /* *intr became non-zero (cancellation) */
    BLITZ_IO_CLOSED = 3,      /* the descriptor was closed or its number reused meanwhile */
    BLITZ_IO_UNPOLLABLE = 4,  /* epoll refuses this file (regular files, some devices) */
    BLITZ_IO_NOTABLE = 5      /* descriptor out of the table's range, or out of memory */
};

#define BLITZ_FD_SHIM_BYTES 40

typedef struct blitz_fd {
    blitz_lock lock;
    _Atomic uint32_t gen;           /* bumped when the number stops meaning this file */
    uint32_t reg_gen, reg_epoch;    /* registered in the epoll set for this gen and epoch */
    uint8_t token[2];               /* [0] input, [1] output edge seen with nobody waiting */
    _Atomic uint8_t in_ended;       /* a hang-up or error was seen: readable for good, with no
                                     * further event */
    _Atomic uint32_t in_edges;      /* input events dispatched (never 0 once registered) */
    struct blitz_io_node *waiting;  /* doubly linked list of nodes */
    /* Owned by the shim (its cached view of the descriptor); the runtime never reads it. */
    _Alignas(8) unsigned char shim[BLITZ_FD_SHIM_BYTES];
} blitz_fd;

/* One party's interest in one descriptor. Lives in the waiting party's frame; several nodes
 * may share one waiter (poll, select). */
typedef struct blitz_io_node {
    struct blitz_io_node *next, *prev;
    blitz_waiter *w;
    blitz_fd *e;
    uint8_t dirs;   /* BLITZ_IO_IN | BLITZ_IO_OUT */
    uint8_t linked;
    uint8_t closed; /* set (under the entry lock) when woken because the fd went away */
} blitz_io_node;

/* Creates the epoll set. Called once by blitz_rt_start. Returns 0 or an errno. */
int blitz_netpoll_init(void);
/* The epoll set's descriptor (for the processors' loops), or -1 before init. */
int blitz_netpoll_fd(void);

/* The entry of fd, allocating its chunk on first use; NULL if fd is out of range or memory
 * ran out (the caller then does the plain blocking call). */
blitz_fd *blitz_fd_get(int fd);
/* The entry of fd if its chunk exists, else NULL. Never allocates. */
blitz_fd *blitz_fd_peek(int fd);

static inline uint32_t blitz_fd_gen(blitz_fd *e)
{
    return atomic_load_explicit(&e->gen, memory_order_acquire);
}

/* A count of the input events dispatched for fd while it is registered for gen, or 0 if it
 * is not or its input side has ended (then nothing can be concluded). A caller that saw a socket's receive queue empty
 * after reading count c knows no data arrived since as long as the count is still c: the
 * edge of any arrival is dispatched (or still queued in the set, to be dispatched to a
 * waiter). Relaxed: a stale count only costs an attempt. */
static inline uint32_t blitz_fd_in_edges(blitz_fd *e, uint32_t gen)
{
    uint32_t c = atomic_load_explicit(&e->in_edges, memory_order_acquire);
    if (atomic_load_explicit(&e->in_ended, memory_order_acquire))
        return 0;
    return blitz_fd_gen(e) == gen ? c : 0;
}

/* Links node n (fresh, for waiter w) to entry e of fd for dirs, registering fd in the epoll
 * set first if needed. gen is the generation the caller saw when it started its operation.
 * Returns BLITZ_IO_READY if an unconsumed edge token for dirs was there (consumed; n is not
 * linked: try again), BLITZ_IO_CLOSED if fd's generation moved on, BLITZ_IO_UNPOLLABLE if
 * epoll refuses the file, or -1 when n was linked and the caller should wait on w. */
int blitz_fd_arm(blitz_io_node *n, blitz_fd *e, int fd, uint32_t gen, uint8_t dirs,
                 blitz_waiter *w);
/* Unlinks n if still linked. Afterwards no waker touches n or its waiter. Returns 1 if n was
 * woken because its descriptor went away. */
int blitz_fd_disarm(blitz_io_node *n);

/* Waits until fd may be ready for dirs: arm, wait, disarm. deadline: CLOCK_MONOTONIC ns, 0 =
 * none; intr as for blitz_waiter_wait. From a task or an OS thread. Returns BLITZ_IO_*. */
int blitz_fd_wait(int fd, blitz_fd *e, uint32_t gen, uint8_t dirs, uint64_t deadline,
                  const _Atomic int *intr);

/* fd is about to be closed (or replaced by dup2) by the program: unregisters it while the
 * number still names the file, moves the generation on, and wakes its waiters with
 * BLITZ_IO_CLOSED. */
void blitz_fd_closing(int fd);
/* Wakes fd's waiters to look again (BLITZ_IO_READY), for state changes the kernel reports
 * with no poll event (a socket shut down for sending while a send waits for room). */
void blitz_fd_poke(int fd);
/* blitz_fd_closing for every descriptor from lo to hi (inclusive) that has an entry. */
void blitz_fd_closing_range(unsigned lo, unsigned hi);
/* fd's number now names a new file (or was closed behind our back): moves the generation
 * on, drops tokens, wakes stale waiters with BLITZ_IO_CLOSED. No system call. */
void blitz_fd_forget(int fd);

/* Drains the epoll set without blocking and readies the waiters of every descriptor that
 * became ready. Returns the number of events. From scheduler contexts (and tests). */
int blitz_netpoll_poll(void);
/* Non-zero once some descriptor was registered (cheap test before polling). */
int blitz_netpoll_active(void);

/* In a fork child, before any task runs: the epoll set is shared with the parent, so the
 * child makes its own and forgets every registration. */
void blitz_netpoll_fork_child(void);
#endif
