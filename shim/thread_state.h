/* The shim's per-thread state of a green task, kept in the task's shim area (task.h), and the
 * helpers every interposed family shares. */
#ifndef BLITZ_THREAD_STATE_H
#define BLITZ_THREAD_STATE_H
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unwind.h>
#include "errno_fresh.h"
#include "task.h"

#define SHIM_KEYS_MAX PTHREAD_KEYS_MAX
#define SHIM_KEY_BLOCK 32

typedef struct shim_key_slot {
    uintptr_t seq;   /* key generation the value belongs to */
    void *value;
} shim_key_slot;

typedef struct shim_thread {
    struct _Unwind_Exception exc;     /* pthread_exit/cancel forced unwinding (aligned) */
    _Atomic int cancel_pending;       /* the flag interruptible waits watch */
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
static inline blitz_task *shim_task(void) { return blitz_self(); }

/* Cancellation (cancel.c). */
/* The flag an interruptible wait of the calling task watches, or NULL if the task cannot be
 * cancelled now. */
const _Atomic int *shim_cancel_flag(blitz_task *t);
/* Acts on a pending cancellation (never returns then). */
void shim_testcancel(blitz_task *t);
/* Unwinds the calling task and ends it with retval. */
__attribute__((noreturn)) void shim_unwind_exit(blitz_task *t, void *retval);

/* Keys (keys.c): runs the destructors of t's values; called when t exits. */
void shim_keys_run_destructors(blitz_task *t);

/* Names (threads.c): the name a new task inherits. */
void shim_thread_init_child(blitz_task *child, blitz_task *parent);
void shim_set_process_name(const char *name);

/* Once (once.c): a fork child starts a new generation of once controls. */
void shim_once_fork_child(void);

/* Exit hooks the runtime calls (threads.c). */
void shim_task_exit_hook(blitz_task *t);
#endif
