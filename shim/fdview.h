/* The shim's view of a file descriptor, cached in its netpoll entry (runtime/netpoll.h): what
 * kind of file it is (which decides how a task waits on it) and what the program asked for
 * (O_NONBLOCK, SO_RCVTIMEO/SO_SNDTIMEO), which decides whether and how long it waits.
 *
 * The shim never changes a file's flags for the program's blocking calls: it makes each
 * attempt non-blocking by itself (MSG_DONTWAIT, preadv2/pwritev2 with RWF_NOWAIT), so
 * fcntl(F_GETFL), dup'ed descriptors and child processes see exactly what the program set.
 * The kind is found once per descriptor (fstat), the flags and timeouts only when an attempt
 * would block, and again after the program changed any of them anywhere (a global
 * generation, since dup'ed descriptors share them).
 *
 * Thread-safety: views are read and refreshed by any thread without a lock; each field is
 * written whole, and a stale read only means one more refresh or one attempt of the wrong
 * flavour, which the callers detect. */
#ifndef BLITZ_FDVIEW_H
#define BLITZ_FDVIEW_H
#include <stdatomic.h>
#include <stdint.h>
#include "netpoll.h"
#include "thread_state.h"

enum {
    SHIM_FD_UNKNOWN = 0,
    SHIM_FD_PASS,  /* regular file, directory, block device: plain libc call */
    SHIM_FD_SOCK,  /* socket: MSG_DONTWAIT / RWF_NOWAIT attempts */
    SHIM_FD_PIPE,  /* pipe or FIFO */
    SHIM_FD_OTHER  /* character device, eventfd, timerfd, ...: RWF_NOWAIT or poll first */
};

typedef struct shim_fdview {
    uint32_t gen;      /* entry generation the kind belongs to */
    uint32_t opt_gen;  /* shim_fd_opt_gen the flags and timeouts belong to */
    uint8_t kind;
    uint8_t stream;    /* a blocking write transfers everything (stream socket, pipe) */
    uint8_t poll_dirs; /* directions without RWF_NOWAIT: poll, then the plain call */
    uint8_t nonblock;  /* O_NONBLOCK on the open file description */
    _Atomic uint8_t accepting; /* a task is between its readiness check and accept() */
    uint8_t eventfd;   /* writes may block with POLLOUT set (an overflowing add) */
    uint8_t neg_timeo; /* BLITZ_IO_IN/OUT: timeout set negative (the kernel: do not wait),
                        * which getsockopt cannot tell from "none" */
    uint64_t rcvtimeo_ns, sndtimeo_ns; /* 0: none */
    uint32_t drained_at; /* blitz_fd_in_edges when a read last found the socket empty (0: no) */
} shim_fdview;

_Static_assert(sizeof(shim_fdview) <= BLITZ_FD_SHIM_BYTES, "view too large");

/* A descriptor as one call sees it. */
typedef struct shim_fdref {
    int fd;
    blitz_fd *e;
    shim_fdview *v;
    uint32_t gen;
    uint64_t deadline; /* this call's timeout deadline once it first waited (0: none) */
    int waited;
    int bad;           /* resolve found no open file under fd (fstat failed) */
} shim_fdref;

/* BLITZ_IO=0: every I/O call goes to libc (set at start-up). */
extern int shim_io_native;

/* The calling task if the I/O family should handle this call, else NULL. */
static inline blitz_task *shim_io_task(void)
{
    return __builtin_expect(shim_io_native, 0) ? NULL : shim_task();
}

/* The same at the entry of a call that is a cancellation point: a pending cancellation is
 * acted on before anything is done, also when the call would not have to wait (as glibc's
 * cancellable system calls check before they enter the kernel). */
static inline blitz_task *shim_io_task_cancel_point(void)
{
    blitz_task *t = shim_io_task();
    if (t && __builtin_expect(atomic_load_explicit(&shim_of(t)->cancel_pending,
                                                   memory_order_relaxed), 0))
        shim_testcancel(t);
    return t;
}

/* Resolves fd for a call. Returns its kind; SHIM_FD_PASS when the call should go to libc
 * unchanged (regular files, descriptors outside the table, fstat failing). */
int shim_fd_resolve(int fd, shim_fdref *r);

/* fd was just created by the program (socket, accept, pipe, ...): a fresh view. stream and
 * nonblock as known from the creating call (0/1; -1: unknown, e.g. an accepted socket,
 * which inherits its listener's timeouts: read when first needed). */
void shim_fd_created(int fd, int kind, int stream, int nonblock);
/* fd's number may now name another file (dup2 target, created by a call we do not follow). */
void shim_fd_renamed(int fd);

/* The program changed a descriptor's O_NONBLOCK or socket timeouts: every view refreshes. */
void shim_fd_opts_changed(void);
/* setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO (dir IN) or SO_SNDTIMEO (OUT)) succeeded with a
 * negative (neg) or other value. */
void shim_fd_timeout_set(int fd, uint8_t dir, int neg);

/* Whether the program made fd non-blocking (O_NONBLOCK on its file description). */
int shim_fd_nonblocking(shim_fdref *r);

/* After an attempt would have blocked (EAGAIN): waits until fd may be ready for dir
 * (BLITZ_IO_IN or BLITZ_IO_OUT), honouring O_NONBLOCK, the socket timeouts (measured from the
 * call's first wait) and cancellation. Returns 0 to try again, 1 if the caller must make the
 * plain blocking libc call instead (the file cannot be watched), or -1 with errno: EAGAIN
 * (non-blocking, or the timeout passed), EBADF (the descriptor was closed meanwhile). */
int shim_fd_block(blitz_task *t, shim_fdref *r, uint8_t dir);

/* Waits for dir with an explicit deadline (monotonic ns, 0 = none), for poll-like callers
 * that do not follow O_NONBLOCK. Same results as shim_fd_block, -1 with ETIMEDOUT on timeout. */
int shim_fd_block_until(blitz_task *t, shim_fdref *r, uint8_t dir, uint64_t deadline);
#endif
