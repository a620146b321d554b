#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include "netpoll.h"
#include "rawsys.h"

#define CHUNK 256u
#define NCHUNKS (BLITZ_FD_MAX / CHUNK)
#define POLL_BATCH 128

static int g_epfd = -1;
/* The process the table belongs to. A vfork child shares our memory and epoll set but not
 * our descriptors: its close() must not touch either. */
static long g_pid;
/* Registrations made before a fork belong to the parent's epoll set: the child bumps the
 * epoch, which voids them all at once. */
static uint32_t g_epoch = 1;
static _Atomic int g_active;
/* Chunks are published with release CAS and read with acquire loads, so a reader sees a
 * zeroed chunk. They are never freed (descriptors come back). */
static blitz_fd *_Atomic g_chunks[NCHUNKS];

int blitz_netpoll_init(void)
{
    if (g_epfd >= 0)
        return 0;
    int fd = (int)blitz_raw_syscall6(SYS_epoll_create1, EPOLL_CLOEXEC, 0, 0, 0, 0, 0);
    if (fd < 0)
        return -fd;
    g_epfd = fd;
    g_pid = blitz_raw_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0);
    return 0;
}

int blitz_netpoll_fd(void) { return g_epfd; }
int blitz_netpoll_active(void) { return atomic_load_explicit(&g_active, memory_order_relaxed); }

blitz_fd *blitz_fd_peek(int fd)
{
    if ((unsigned)fd >= BLITZ_FD_MAX)
        return NULL;
    blitz_fd *c = atomic_load_explicit(&g_chunks[(unsigned)fd / CHUNK], memory_order_acquire);
    return c ? &c[(unsigned)fd % CHUNK] : NULL;
}

blitz_fd *blitz_fd_get(int fd)
{
    if ((unsigned)fd >= BLITZ_FD_MAX)
        return NULL;
    _Atomic(blitz_fd *) *slot = &g_chunks[(unsigned)fd / CHUNK];
    blitz_fd *c = atomic_load_explicit(slot, memory_order_acquire);
    if (__builtin_expect(!c, 0)) {
        blitz_fd *fresh = calloc(CHUNK, sizeof *fresh);
        if (!fresh)
            return NULL;
        /* Gens start at 1 so that a zeroed reg_gen never looks registered. */
        for (unsigned i = 0; i < CHUNK; i++)
            atomic_store_explicit(&fresh[i].gen, 1, memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(slot, &c, fresh, memory_order_acq_rel,
                                                    memory_order_acquire))
            c = fresh;
        else
            free(fresh); /* another thread won; c is its chunk */
    }
    return &c[(unsigned)fd % CHUNK];
}

static int registered(const blitz_fd *e, uint32_t gen)
{
    return e->reg_gen == gen && e->reg_epoch == g_epoch;
}

/* Under e->lock. Release: pairs with the acquire in blitz_fd_in_edges. */
static void bump_in_edges(blitz_fd *e)
{
    uint32_t c = atomic_load_explicit(&e->in_edges, memory_order_relaxed) + 1;
    atomic_store_explicit(&e->in_edges, c ? c : 1, memory_order_release);
}

static void link_node(blitz_fd *e, blitz_io_node *n)
{
    n->prev = NULL;
    n->next = e->waiting;
    if (e->waiting)
        e->waiting->prev = n;
    e->waiting = n;
    n->linked = 1;
}

static void unlink_node(blitz_fd *e, blitz_io_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        e->waiting = n->next;
    if (n->next)
        n->next->prev = n->prev;
    n->next = n->prev = NULL;
    n->linked = 0;
}

/* Under e->lock: wakes every waiter interested in dirs (all of them if dirs is 0 and closed).
 * Returns the directions somebody was woken for. */
static uint8_t wake_locked(blitz_fd *e, uint8_t dirs, int closed)
{
    uint8_t woke = 0;
    for (blitz_io_node *n = e->waiting, *next; n; n = next) {
        next = n->next;
        if (!closed && !(n->dirs & dirs))
            continue;
        unlink_node(e, n);
        n->closed = (uint8_t)closed;
        woke |= n->dirs;
        blitz_waiter_wake(n->w, BLITZ_W_WOKEN);
    }
    return woke;
}

int blitz_fd_arm(blitz_io_node *n, blitz_fd *e, int fd, uint32_t gen, uint8_t dirs,
                 blitz_waiter *w)
{
    n->w = w;
    n->e = e;
    n->dirs = dirs;
    n->linked = n->closed = 0;
    n->next = n->prev = NULL;
    blitz_lock_acquire(&e->lock);
    if (blitz_fd_gen(e) != gen) {
        blitz_lock_release(&e->lock);
        return BLITZ_IO_CLOSED;
    }
    if (!registered(e, gen)) {
        struct epoll_event ev = {
            .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET,
            .data.u64 = (uint64_t)gen << 32 | (uint32_t)fd,
        };
        /* An EEXIST means this very file was registered under this number in an earlier
         * generation (closed behind our back and back again): refresh its tag. */
        long rc = blitz_raw_syscall6(SYS_epoll_ctl, g_epfd, EPOLL_CTL_ADD, fd, (long)&ev, 0, 0);
        if (rc == -EEXIST)
            rc = blitz_raw_syscall6(SYS_epoll_ctl, g_epfd, EPOLL_CTL_MOD, fd, (long)&ev, 0, 0);
        if (rc < 0) {
            blitz_lock_release(&e->lock);
            if (rc == -EPERM)
                return BLITZ_IO_UNPOLLABLE;
            return rc == -EBADF ? BLITZ_IO_CLOSED : BLITZ_IO_NOTABLE;
        }
        e->reg_gen = gen;
        e->reg_epoch = g_epoch;
        bump_in_edges(e); /* counts from here on mean something */
        e->token[0] = e->token[1] = 0; /* the ADD reports the current state as an edge */
        if (!atomic_load_explicit(&g_active, memory_order_relaxed))
            atomic_store_explicit(&g_active, 1, memory_order_relaxed);
    }
    int had = 0;
    if ((dirs & BLITZ_IO_IN) && e->token[0]) {
        e->token[0] = 0;
        had = 1;
    }
    if ((dirs & BLITZ_IO_OUT) && e->token[1]) {
        e->token[1] = 0;
        had = 1;
    }
    if (!had)
        link_node(e, n);
    blitz_lock_release(&e->lock);
    return had ? BLITZ_IO_READY : -1;
}

int blitz_fd_disarm(blitz_io_node *n)
{
    blitz_fd *e = n->e;
    blitz_lock_acquire(&e->lock);
    if (n->linked)
        unlink_node(e, n);
    int closed = n->closed;
    blitz_lock_release(&e->lock);
    return closed;
}

int blitz_fd_wait(int fd, blitz_fd *e, uint32_t gen, uint8_t dirs, uint64_t deadline,
                  const _Atomic int *intr)
{
    blitz_waiter w;
    blitz_io_node n;
    blitz_waiter_init(&w);
    int r = blitz_fd_arm(&n, e, fd, gen, dirs, &w);
    if (r >= 0)
        return r;
    uint32_t s = blitz_waiter_wait(&w, deadline, intr);
    if (blitz_fd_disarm(&n))
        return BLITZ_IO_CLOSED;
    if (s == BLITZ_W_TIMEDOUT)
        return BLITZ_IO_TIMEDOUT;
    if (s == BLITZ_W_INTERRUPTED)
        return BLITZ_IO_INTERRUPTED;
    return BLITZ_IO_READY;
}

static int same_process(void)
{
    return blitz_raw_syscall6(SYS_getpid, 0, 0, 0, 0, 0, 0) == g_pid;
}

static void invalidate_entry(blitz_fd *e, int fd, int unregister)
{
    blitz_lock_acquire(&e->lock);
    uint32_t gen = blitz_fd_gen(e);
    if (unregister && registered(e, gen))
        blitz_raw_syscall6(SYS_epoll_ctl, g_epfd, EPOLL_CTL_DEL, fd, 0, 0, 0);
    /* Release: pairs with the acquire in blitz_fd_gen of an operation starting afterwards. */
    atomic_store_explicit(&e->gen, gen + 1 ? gen + 1 : 1, memory_order_release);
    e->token[0] = e->token[1] = 0;
    atomic_store_explicit(&e->in_edges, 0, memory_order_release); /* not registered now */
    atomic_store_explicit(&e->in_ended, 0, memory_order_relaxed);
    wake_locked(e, 0, 1);
    blitz_lock_release(&e->lock);
}

static void invalidate(int fd, int unregister)
{
    blitz_fd *e = blitz_fd_peek(fd);
    if (e && same_process())
        invalidate_entry(e, fd, unregister);
}

void blitz_fd_closing(int fd) { invalidate(fd, 1); }
void blitz_fd_forget(int fd) { invalidate(fd, 0); }

void blitz_fd_poke(int fd)
{
    blitz_fd *e = blitz_fd_peek(fd);
    if (!e)
        return;
    /* Tokens too: a task between its failed attempt and its wait must not miss this. */
    blitz_lock_acquire(&e->lock);
    wake_locked(e, BLITZ_IO_IN | BLITZ_IO_OUT, 0);
    e->token[0] = e->token[1] = 1;
    blitz_lock_release(&e->lock);
}

void blitz_fd_closing_range(unsigned lo, unsigned hi)
{
    if (hi >= BLITZ_FD_MAX)
        hi = BLITZ_FD_MAX - 1;
    if (lo > hi || !same_process())
        return;
    for (unsigned fd = lo; fd <= hi;) {
        if (!atomic_load_explicit(&g_chunks[fd / CHUNK], memory_order_acquire)) {
            fd = (fd / CHUNK + 1) * CHUNK; /* a whole chunk nobody used */
            continue;
        }
        invalidate_entry(blitz_fd_peek((int)fd), (int)fd, 1);
        fd++;
    }
}

static void dispatch(uint64_t tag, uint32_t events)
{
    int fd = (int)(uint32_t)tag;
    uint32_t gen = (uint32_t)(tag >> 32);
    blitz_fd *e = blitz_fd_peek(fd);
    if (!e)
        return;
    uint8_t dirs = 0;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR))
        dirs |= BLITZ_IO_IN;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        dirs |= BLITZ_IO_OUT;
    blitz_lock_acquire(&e->lock);
    if (blitz_fd_gen(e) == gen) { /* else: an event of a file this number no longer names */
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) /* readable for good from now on */
            atomic_store_explicit(&e->in_ended, 1, memory_order_release);
        if (dirs & BLITZ_IO_IN)
            bump_in_edges(e);
        uint8_t woke = e->waiting ? wake_locked(e, dirs, 0) : 0;
        if ((dirs & BLITZ_IO_IN) && !(woke & BLITZ_IO_IN))
            e->token[0] = 1;
        if ((dirs & BLITZ_IO_OUT) && !(woke & BLITZ_IO_OUT))
            e->token[1] = 1;
    }
    blitz_lock_release(&e->lock);
}

int blitz_netpoll_poll(void)
{
    if (g_epfd < 0 || !blitz_netpoll_active())
        return 0;
    struct epoll_event evs[POLL_BATCH];
    long n = blitz_raw_syscall6(SYS_epoll_pwait, g_epfd, (long)evs, POLL_BATCH, 0, 0, 8);
    for (long i = 0; i < n; i++)
        dispatch(evs[i].data.u64, evs[i].events);
    return n > 0 ? (int)n : 0;
}

void blitz_netpoll_fork_child(void)
{
    if (g_epfd >= 0)
        blitz_raw_syscall6(SYS_close, g_epfd, 0, 0, 0, 0, 0);
    g_epfd = -1;
    blitz_netpoll_init();
    g_epoch++;
    /* The parent's other threads are gone: their waits, and any entry lock one of them held,
     * mean nothing here. */
    for (unsigned i = 0; i < NCHUNKS; i++) {
        blitz_fd *c = atomic_load_explicit(&g_chunks[i], memory_order_relaxed);
        if (!c)
            continue;
        for (unsigned j = 0; j < CHUNK; j++) {
            atomic_store_explicit(&c[j].lock.v, 0, memory_order_relaxed);
            c[j].waiting = NULL;
            c[j].token[0] = c[j].token[1] = 0;
            atomic_store_explicit(&c[j].in_edges, 0, memory_order_relaxed);
            atomic_store_explicit(&c[j].in_ended, 0, memory_order_relaxed);
        }
    }
}
