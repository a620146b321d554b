/* A waiter is one blocked party, task or OS thread, parked until someone wakes it, its
 * deadline passes, or (if interruptible) it is interrupted. Wait queues of every primitive
 * are built from waiters, so green tasks and plain threads can wait on the same object.
 *
 * The state word decides every race: exactly one of wake/timeout/interrupt moves it out of
 * WAITING with a CAS (acq_rel: the winner's writes before the wake are visible to the woken
 * party after its acquire load). Tasks park on the scheduler; OS threads sleep on the state
 * word with a futex.
 * Ownership: a waiter lives in the waiting party's frame; wakers must not touch it after a
 * successful blitz_waiter_wake returns, except through the woken party's own protocol. */
#ifndef BLITZ_WAITER_H
#define BLITZ_WAITER_H
#include <stdatomic.h>
#include <stdint.h>

struct blitz_task;

enum { BLITZ_W_WAITING = 0, BLITZ_W_WOKEN = 1, BLITZ_W_TIMEDOUT = 2, BLITZ_W_INTERRUPTED = 3,
       BLITZ_W_CLAIMED = 4 /* a waker owns the wake-up; still waiting until it completes */ };

typedef struct blitz_waiter {
    _Atomic uint32_t state;
    struct blitz_task *task;         /* NULL: an OS thread */
    struct blitz_waiter *next, *prev; /* owned by the queue the waiter is on */
    uintptr_t data;                  /* queue-specific payload */
} blitz_waiter;

/* Prepares w for the calling party (task or thread). */
void blitz_waiter_init(blitz_waiter *w);

/* Blocks until w leaves WAITING. deadline: CLOCK_MONOTONIC ns (0: none); intr: if non-NULL
 * the wait ends with INTERRUPTED when *intr is nonzero (checked before blocking and on
 * blitz_task_interrupt). Returns the final state. Callable from tasks and OS threads. */
uint32_t blitz_waiter_wait(blitz_waiter *w, uint64_t deadline, const _Atomic int *intr);

/* Moves w from WAITING to reason and wakes its party. Returns 1 if this call did it. */
int blitz_waiter_wake(blitz_waiter *w, uint32_t reason);

/* Two-step wake for wakers that must hand the waiter something only if the wake-up is
 * theirs: claim moves WAITING to CLAIMED (timeouts and interrupts then lose; the waiter keeps
 * waiting and its frame stays valid); complete makes it WOKEN and wakes the party. */
int blitz_waiter_claim(blitz_waiter *w);
void blitz_waiter_complete(blitz_waiter *w);

/* Sleeps the caller until deadline (CLOCK_MONOTONIC ns). Returns 0, or BLITZ_W_INTERRUPTED
 * if interrupted first (intr as above). */
uint32_t blitz_sleep_until(uint64_t deadline, const _Atomic int *intr);

/* Interrupts t if it is in an interruptible wait (the caller set the flag it waits on first).
 * Returns 1 if it ended a wait, 0 if t was not waiting interruptibly. Any thread, but not
 * from a signal handler (takes t's interrupt lock). */
int blitz_task_interrupt(struct blitz_task *t);

/* Whether t is inside an interruptible wait (between its start and its end, whether or not
 * that wait was already woken). A task for which blitz_task_interrupt returned 0 while this
 * is 1 has been woken by someone else and is about to be readied: it will look at its
 * interrupt flag again at its next wait. Any thread, not from a signal handler. */
int blitz_task_in_intr_wait(struct blitz_task *t);
#endif
