/* What the synchronization families (mutex.c, cond.c, rwlock.c, sem.c, barrier.c, c11.c)
 * share: who the caller is, deadlines, and the escape used for objects the shim leaves to
 * libc (process-shared and robust ones), so that a task waiting on one does not hold its
 * worker. */
#ifndef BLITZ_SYNC_H
#define BLITZ_SYNC_H
#include <errno.h>
#include <stdint.h>
#include <time.h>
#include "thread_state.h"

/* BLITZ_DISABLE=1: every synchronization call goes to libc (read at load, before any call). */
extern int shim_sync_native;

/* An owner id for the calling thread, distinct among live threads and never 0: a task's
 * comes from its stack (cached in its shim state: lock paths ask on every call), an OS
 * thread's is its tid. */
int shim_owner_id_slow(void);
/* In a fork child: the surviving thread's owner id becomes the child's own tid, which no
 * other process's thread has (the parent's threads may still hold mutexes in memory the
 * child shares or copied). */
void shim_owner_fork_child(void);
static inline int shim_owner_id(void)
{
    blitz_task *t = shim_task();
    int id = t ? shim_of(t)->owner_id : 0;
    return id ? id : shim_owner_id_slow();
}

/* An absolute timeout on clock clk as a CLOCK_MONOTONIC deadline (ns; 1 if already past).
 * Returns EINVAL for a bad timespec or clock, else 0. */
int shim_deadline(clockid_t clk, const struct timespec *abstime, uint64_t *deadline);

/* After a wait timed out on the monotonic deadline: has clk really reached abstime? (A
 * CLOCK_REALTIME deadline moves when the clock is set.) */
int shim_deadline_passed(clockid_t clk, const struct timespec *abstime);

/* For libc-only objects, from a task: retries try(obj) (which returns 0, EBUSY/EAGAIN while
 * it would block, or another error) with growing sleeps until it succeeds or the deadline
 * (monotonic ns, 0 = none) passes. Returns try's result or ETIMEDOUT. Signals for the task
 * run their handlers on it meanwhile; with SHIM_POLL_LOCK the wait goes on (mutexes,
 * rwlocks), with SHIM_POLL_SEM it is a cancellation point and a handler ends it with EINTR
 * (an untimed wait restarts under SA_RESTART, as the kernel's futex wait does). */
enum { SHIM_POLL_LOCK = 0, SHIM_POLL_SEM = 1 };
int shim_poll_until(int (*try)(void *obj), void *obj, uint64_t deadline, int how);

/* Cross-process waits (xwait.c). Waits until the word at addr, which another process may
 * share, no longer holds val (as the kernel's futex wait: a wake-up through
 * shim_shared_wake, which crosses processes), until deadline (CLOCK_MONOTONIC ns, 0: none),
 * or until *intr (may be NULL) is set. A task hands the kernel wait to a helper thread and
 * parks; an OS thread waits in the kernel. Returns BLITZ_W_WOKEN (may be spurious),
 * BLITZ_W_TIMEDOUT or BLITZ_W_INTERRUPTED. Any thread. */
uint32_t shim_shared_wait(const _Atomic unsigned *addr, unsigned val, uint64_t deadline,
                          const _Atomic int *intr);
/* Wakes one (all = 0) or every waiter on addr, in any process. */
void shim_shared_wake(const _Atomic unsigned *addr, int all);
/* In a fork child: the helpers stayed in the parent. */
void shim_shared_fork_child(void);
#endif
