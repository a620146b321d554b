/* The shim's per-thread state of a green task, kept in the task's shim area (task.h), and the
 * helpers every interposed family shares. */
#ifndef BLITZ_THREAD_STATE_H
#define BLITZ_THREAD_STATE_H
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unwind.h>
#include "errno_fresh.h"
#include "self.h"
#include "task.h"

#define SHIM_KEYS_MAX PTHREAD_KEYS_MAX
#define SHIM_KEY_BLOCK 32

typedef struct shim_key_slot {
    uintptr_t seq;   /* key generation the value belongs to */
    void *value;
} shim_key_slot;

typedef struct shim_thread {
    struct _Unwind_Exception exc;     /* pthread_exit/cancel forced unwinding (aligned) */
    _Atomic int cancel_pending;       /* pthread_cancel was called */
    _Atomic int intr;                 /* the word interruptible waits watch: SHIM_INTR_* */
    _Atomic int sig_intr;             /* the same for signals only (waits that are not
                                       * cancellation points, e.g. mutexes) */
    _Atomic uint64_t sigpend;         /* signals sent to this thread, not yet handled (bit s-1) */
    _Atomic int sigwaiting;           /* in sigwait/sigwaitinfo/sigtimedwait */
    _Atomic int polling;              /* in a polling wait (shim_poll_until): between two
                                       * sleeps it is queued, not waiting */
    uint64_t sigmask;                 /* the thread's blocked signals as it set them (bit s-1) */
    _Atomic unsigned handled;         /* signal handlers run for it (pause, sigsuspend) */
    _Atomic unsigned handled_eintr;   /* those of them run at once on it, without SA_RESTART
                                       * (polling waits: the handler ran between two looks) */
    uint64_t call_saved;              /* its mask before a ppoll/pselect/epoll_pwait mask */
    struct shim_thread *all_next, *all_prev; /* every live task (signals.c, g_all[all_shard]) */
    int all_shard;
    _Atomic uint64_t proc_take;       /* process-directed signals the courier handed to it:
                                       * it takes them from g_proc_pend (signals.c) */
    int owner_id;                     /* its mutex owner id (sync.h), 0 until first asked */
    int cancel_disabled;              /* PTHREAD_CANCEL_DISABLE */
    int cancel_async;                 /* PTHREAD_CANCEL_ASYNCHRONOUS */
    int exiting;                      /* unwinding has started */
    void *cleanup_buf;                /* innermost __pthread_register_cancel buffer */
    int sched_policy;                 /* stored, not applied: see docs */
    int sched_priority;
    char name[16];
    shim_key_slot keys[SHIM_KEY_BLOCK];    /* keys 0..31 */
    shim_key_slot *key_blocks[SHIM_KEYS_MAX / SHIM_KEY_BLOCK]; /* [0] unused */
} shim_thread;

_Static_assert(sizeof(shim_thread) <= BLITZ_TASK_SHIM_AREA, "shim_thread too large");

static inline shim_thread *shim_of(blitz_task *t) { return (shim_thread *)t->shim; }

/* The calling green task, or NULL when the caller must get plain libc behaviour. */
static inline blitz_task *shim_task(void) { return blitz_self_inline(); }

/* Interruptible waits (sleeps, I/O, semaphores, joins, condition waits) watch one word per
 * task: a cancellation to act on, or a signal to handle. */
#define SHIM_INTR_CANCEL 1
#define SHIM_INTR_SIGNAL 2

/* Cancellation (cancel.c). */
/* The word an interruptible wait of the calling task watches. */
const _Atomic int *shim_cancel_flag(blitz_task *t);
/* Acts on a pending cancellation (never returns then). */
void shim_testcancel(blitz_task *t);

/* Signals (signals.c). After an interruptible wait ended early (or at any point where a
 * thread would return from a system call): acts on a cancellation, then runs the handlers
 * of the signals pending for t, on t. Returns SHIM_SIG_NONE if no handler ran,
 * SHIM_SIG_RESTART if every handler that ran had SA_RESTART, SHIM_SIG_EINTR otherwise. */
enum { SHIM_SIG_NONE = 0, SHIM_SIG_RESTART = 1, SHIM_SIG_EINTR = 2 };
/* The kernel's rule for a wait a handler interrupted (a shim_signals_run result): it ends
 * with EINTR unless every handler had SA_RESTART and the wait is restartable (an untimed
 * futex wait, a socket call without a timeout); after no handler it goes on. */
static inline int shim_sig_ends_wait(int sig, int restartable)
{
    return sig == SHIM_SIG_EINTR || (sig == SHIM_SIG_RESTART && !restartable);
}
int shim_interrupted(blitz_task *t);
/* The same without acting on a cancellation: for waits that are not cancellation points,
 * which watch shim_signal_flag (a handler runs on the waiting thread, the wait goes on). */
int shim_signals_run(blitz_task *t);
static inline const _Atomic int *shim_signal_flag(blitz_task *t)
{
    return &((shim_thread *)t->shim)->sig_intr;
}
/* After the runtime started: takes over the handlers installed so far; root is main's task. */
void shim_signals_start(blitz_task *root);
/* A new thread's signal state: nothing pending; mask if given (pthread_attr_setsigmask_np),
 * else its creator's (or, for main's task, the thread's), and its end. */
void shim_signals_init_child(blitz_task *child, blitz_task *parent, const sigset_t *mask);
void shim_signals_exit(blitz_task *t);
/* In a fork child, from the surviving task. */
void shim_signals_fork_child(void);
/* Around a call that takes a signal mask (ppoll, pselect, epoll_pwait): t's mask is that
 * mask meanwhile, as the kernel does for the thread. */
/* Returns 1 if the new mask let a pending signal through and its handler ran: the call
 * then ends with EINTR at once. */
int shim_call_mask(blitz_task *t, const sigset_t *mask);
void shim_call_mask_end(blitz_task *t);
/* pthread_kill/pthread_sigqueue to task t (not the caller); val is NULL for pthread_kill. */
int shim_signal_task(blitz_task *t, int sig, const union sigval *val);
/* Unwinds the calling task and ends it with retval. */
__attribute__((noreturn)) void shim_unwind_exit(blitz_task *t, void *retval);

/* Keys (keys.c): runs the destructors of t's values; called when t exits. */
void shim_keys_run_destructors(blitz_task *t);

/* The shim's own OS threads (threads.c: the signal courier, futex helpers): detached, every
 * signal blocked, default stack size. Returns 0 or pthread_create's error. */
int shim_start_service_thread(void *(*fn)(void *), void *arg);

/* Names (threads.c): the name a new task inherits. */
void shim_thread_init_child(blitz_task *child, blitz_task *parent);
void shim_set_process_name(const char *name);

/* Once (once.c): a fork child starts a new generation of once controls. */
void shim_once_fork_child(void);

/* Exit hooks the runtime calls (threads.c). */
void shim_task_exit_hook(blitz_task *t);
#endif
