/* Green tasks: a stack, a saved context and the bookkeeping the scheduler and the shim need.
 * The task structure lives in the header page at the top of its own stack (see stack.h), so
 * a task costs no separate allocation and a pthread_t can be the task's address.
 *
 * Ownership: a task is created by blitz_task_spawn and owned by the runtime until it has
 * exited and been released (joined or detached, see blitz_task_release). Fields are written
 * by the task itself while it runs unless noted. */
#ifndef BLITZ_TASK_H
#define BLITZ_TASK_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "ctx.h"
#include "lock.h"
#include "stack.h"
#include "sanitizer.h"
#include "timerheap.h"

#define BLITZ_TASK_MAGIC 0x6b7361747a74696cull /* "litztask" */
#define BLITZ_TASK_FREED 0x646165647a74696cull /* handle of a released task */
#define BLITZ_TASK_SHIM_AREA 960               /* bytes reserved for the shim's per-thread data */

enum blitz_task_state {
    BLITZ_T_RUNNABLE = 1, /* in a queue or about to be */
    BLITZ_T_RUNNING,      /* on a machine */
    BLITZ_T_PARKING,      /* switching out to wait; a wake now is remembered */
    BLITZ_T_PARKED,       /* switched out, waiting for blitz_ready */
    BLITZ_T_WOKEN,        /* woken while PARKING: the scheduler requeues it */
    BLITZ_T_DONE,         /* finished and switched off its stack */
};

struct blitz_machine;
struct blitz_waiter;

typedef struct blitz_task {
    /* First cache line: everything a context switch touches. */
    uint64_t magic;                 /* must stay first: see blitz_task_from_handle */
    blitz_ctx ctx;
    _Atomic int state;              /* enum blitz_task_state */
    int saved_errno;                /* worker-TLS mode: errno while switched out */
    struct blitz_machine *m;        /* machine running it (scheduler-owned) */
    blitz_stack *stack;
    uint64_t *canary;               /* the stack's canary (SLAB stacks), checked per switch */
    uintptr_t sp_min;               /* lowest saved stack pointer; handed to the stack on release */
    void *tp;                       /* task TLS mode: its thread pointer (tls.h); NULL: worker's */

    /* Waiting: the current interruptible waiter (for blitz_task_interrupt) and the task's
     * timer, used by timed waits. */
    blitz_lock intr_lock;           /* guards intr_waiter against a racing interrupter */
    struct blitz_waiter *intr_waiter;
    struct blitz_waiter *timed_waiter; /* the waiter `timer` times out */
    blitz_timer timer;

    void *(*fn)(void *);
    void *arg;
    void *retval;
    uint64_t id;                    /* creation serial number, for reports */
    size_t stack_request;           /* stack size the creator asked for, for reports */
    void *exit_jb[5];               /* __builtin_setjmp target: where exit lands */

    /* Join/detach protocol, guarded by join_lock. `done` is set by the scheduler after the
     * task has left its stack, so a joiner may free it at once. */
    blitz_lock join_lock;
    uint8_t detached, done, joined;
    uint8_t tls_adopted;            /* tp is the process's main thread block: never freed */
    struct blitz_waiter *joiner;
    /* Task this one is joining, for EDEADLK detection. Written by its owner, read by other
     * joiners without a common lock: a best-effort check, as in NPTL. */
    struct blitz_task *_Atomic joining;
    blitz_san san;

    _Alignas(16) unsigned char shim[BLITZ_TASK_SHIM_AREA]; /* owned by the shim (keys, cancel) */
} blitz_task;

_Static_assert(sizeof(blitz_task) <= BLITZ_STACK_HDR_USER_MAX, "task does not fit its header");
_Static_assert(offsetof(blitz_task, tp) < 64, "switch-path fields fit one cache line");

typedef struct blitz_spawn_attr {
    size_t stack_size;   /* 0: default */
    size_t guard_size;   /* (size_t)-1: default */
    void *stack_addr;    /* non-NULL: user stack [stack_addr, stack_addr+stack_size) */
    int detached;
    void *adopt_tp;      /* task TLS mode: run on this existing thread block (the root task) */
    /* Called with the new task before it can run (may be NULL): lets the shim initialise
     * its per-thread state. parent is the calling task or NULL. */
    void (*prepare)(struct blitz_task *child, struct blitz_task *parent);
} blitz_spawn_attr;

/* Creates a runnable task running fn(arg) and makes it runnable. Any thread may call it
 * once the runtime is started. Returns NULL with errno EAGAIN (no stack) or EINVAL. */
blitz_task *blitz_task_spawn(void *(*fn)(void *), void *arg, const blitz_spawn_attr *attr);

/* The calling task, or NULL on a thread that is not running a task (scheduler contexts,
 * foreign threads, before start-up). Never cached across a switch. */
blitz_task *blitz_self(void);

/* Ends the calling task at once with retval: lands in the task's outermost frame (no
 * unwinding; the shim unwinds first when it must), runs the exit hook, never returns. */
__attribute__((noreturn)) void blitz_task_exit(void *retval);

/* Validates a handle: the task if `h` is a live task, NULL otherwise. *freed is set when h
 * points at a task that has already been released. */
blitz_task *blitz_task_from_handle(uintptr_t h, int *freed);

/* Join: waits until t is DONE (deadline: CLOCK_MONOTONIC ns, 0 = none; intr: interruptible
 * wait flag, see waiter.h). Returns 0 and *retval, or EINVAL, EDEADLK, ETIMEDOUT, EBUSY
 * (nonblocking and still running), EINTR (interrupted). Any thread. */
int blitz_task_join(blitz_task *t, void **retval, int nonblocking, uint64_t deadline,
                    const _Atomic int *intr);
/* Detach: EINVAL if already detached; releases t if it is already done. Any thread. */
int blitz_task_detach(blitz_task *t);

/* Number of tasks created and not yet finished. */
uint64_t blitz_tasks_alive(void);

/* Hooks the shim installs. exit_hook runs on the exiting task's own stack after its function
 * returned or blitz_task_exit was called (key destructors...). last_exit runs on that task when
 * it was the last one alive. */
typedef struct blitz_task_hooks {
    void (*exit_hook)(blitz_task *t);
    void (*last_exit)(void);
} blitz_task_hooks;
void blitz_task_set_hooks(const blitz_task_hooks *h);

/* Internal (scheduler and fork): finish a task that left its stack; counters; fork reset. */
void blitz_task_finish(blitz_task *t);
void blitz_task_counts(uint64_t *spawned, uint64_t *peak);
void blitz_task_fork_child(blitz_task *self);
#endif
