/* The M:N scheduler. A processor (blitz_proc: run queue, LIFO slot, timer heap, libev loop)
 * is driven by a machine (blitz_machine: an OS thread with its scheduler context). They are
 * separate so that a processor can later be handed to a fresh machine when its machine is
 * stuck in a call the runtime cannot see.
 *
 * Thread-safety: blitz_rt_* set-up functions are called once, from one thread. blitz_ready,
 * blitz_rt_inject and blitz_yield/park are safe from the contexts their comments name. */
#ifndef BLITZ_SCHEDULER_H
#define BLITZ_SCHEDULER_H
#include <ev.h>
#include <pthread.h>
#include <stdint.h>
#include "injectq.h"
#include "runq.h"
#include "sanitizer.h"
#include "stack.h"
#include "task.h"
#include "timerheap.h"

#define BLITZ_MAX_WORKERS 256

typedef struct blitz_proc_stats {
    _Atomic uint64_t switches, steals, parks, wakeups;
} blitz_proc_stats;

/* Cache-line aligned (so its size is a multiple of 64, as aligned_alloc requires). */
typedef struct __attribute__((aligned(64))) blitz_proc {
    int id;
    blitz_runq runq;
    struct blitz_task *_Atomic lifo;   /* next task to run; owner-exchanged, stealable late */
    blitz_timerheap timers;
    struct ev_loop *loop;              /* sleeping: wake-ups and timers */
    struct ev_loop *io_loop;           /* sleeping for I/O too (one worker at a time) */
    ev_io wake_io[2];                  /* wake_fd in loop and io_loop */
    int wake_fd;                       /* an eventfd other threads write to wake us */
    _Atomic int wake_pending;          /* a wake-up is written and not yet read */
    ev_io netpoll_io;                  /* the shared I/O epoll set (netpoll.h), in io_loop */
    ev_io timer_io[2];
    int timer_fd;
    uint64_t timer_armed;              /* deadline the timerfd is armed for (owner only) */
    blitz_stack_cache stacks;
    uint32_t tick;
    uint32_t lifo_streak;              /* consecutive runs from the LIFO slot (owner only) */
    _Atomic uint64_t lifo_stamp;       /* bumped on every LIFO put: lets thieves see age */
    uint64_t lifo_seen_stamp[BLITZ_MAX_WORKERS]; /* thief side: victim's stamp when first seen */
    uint64_t lifo_seen_ns[BLITZ_MAX_WORKERS];    /* ... and when */
    int firing_timers;                 /* owner: firing timers or I/O (wake-ups go to the queue) */
    struct blitz_machine *m;
    blitz_proc_stats stats;
} blitz_proc;

enum { BLITZ_INTENT_NONE, BLITZ_INTENT_YIELD, BLITZ_INTENT_PARK, BLITZ_INTENT_EXIT };

/* Cache-line aligned: each worker writes its own machine on every switch. */
typedef struct __attribute__((aligned(64))) blitz_machine {
    blitz_ctx sched_ctx;
    blitz_proc *p;
    struct blitz_task *_Atomic cur; /* the task on this machine (read by spinning workers) */
    int intent;
    pthread_t thread;
    int index;
    void *altstack;
    void *tp;                       /* thread pointer of the scheduler context */
    _Atomic unsigned sync_seen;     /* last blitz_sched_sync_workers generation applied */
    blitz_san san;
} blitz_machine;

typedef struct blitz_rt_config {
    int workers;               /* processors; 0 = online CPUs */
    size_t stack_size;         /* default task stack (0 = 8 MiB) */
    size_t guard_size;         /* default guard (0 = one page) */
    unsigned timer_spin_us;    /* idle spin budget before blocking (see block_idle) */
} blitz_rt_config;

/* How the runtime makes OS threads (the shim passes the real pthread_create/join so the
 * runtime never calls interposed symbols). */
typedef struct blitz_rt_os {
    int (*thread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    int (*thread_join)(pthread_t, void **);
    pthread_t (*thread_self)(void);
} blitz_rt_os;

/* Starts the processors. If adopt_caller, processor 0 is driven later by the calling thread
 * through blitz_rt_run_caller (which never returns); otherwise every processor gets a new
 * machine thread now. Returns 0 or an errno. */
int blitz_rt_start(const blitz_rt_config *cfg, const blitz_rt_os *os, int adopt_caller);
__attribute__((noreturn)) void blitz_rt_run_caller(void);
/* Stops all machines (tests only: tasks still alive are abandoned). Not with adopt_caller. */
void blitz_rt_shutdown(void);
int blitz_rt_workers(void);

/* Makes a PARKED or PARKING task runnable. From a task it goes to the caller's LIFO slot,
 * from a scheduler context to the local run queue, from any other thread to the injection
 * queue. Every context. */
void blitz_ready(struct blitz_task *t);

/* From a task: lets others run, then continues (FIFO behind the local queue). */
void blitz_yield(void);
/* From a task: blocks until blitz_ready(self), unless *word != val once the task has
 * announced that it parks (futex-like; the check and blitz_ready's state load are seq_cst,
 * so a wake that changes *word before blitz_ready is never lost). May return spuriously:
 * callers loop on their own condition. */
void blitz_park_if(const _Atomic uint32_t *word, uint32_t val);
/* Makes every worker call the function set with blitz_sched_set_worker_sync once, soon, on
 * its own OS thread in a scheduler context (for per-thread kernel state such as the signal
 * mask). Any thread, not from a signal handler. A worker busy with a task catches up when
 * that task blocks or yields. Returns the generation, for blitz_sched_synced. */
unsigned blitz_sched_sync_workers(void);
void blitz_sched_set_worker_sync(void (*fn)(void));
/* 1 once every worker has made the call of generation gen (the value sync_workers returned). */
int blitz_sched_synced(unsigned gen);
/* From a task (or scheduler context) that applied generation gen's state on its own OS
 * thread itself: marks its machine as synced, so waiting for the others need not switch. */
void blitz_sched_synced_self(unsigned gen);
/* From a task: leaves its stack for good (used by the exit path). */
__attribute__((noreturn)) void blitz_sched_exit_current(void);

/* The fork hooks: prepare/parent around the real fork in the parent, child in the child
 * (rebuilds the runtime around the calling task). From a task only. */
void blitz_rt_fork_prepare(void);
void blitz_rt_fork_parent(void);
void blitz_rt_fork_child(void);

/* Sums of the per-processor counters. */
typedef struct blitz_rt_stats {
    uint64_t spawned, switches, steals, parks, wakeups, peak_alive, alive;
    uint64_t busiest_switches; /* switches of the processor that made the most */
} blitz_rt_stats;
void blitz_rt_stats_get(blitz_rt_stats *out);

/* Internal, for task.c: where new and released tasks go. */
void blitz_sched_submit_new(struct blitz_task *t);
blitz_stack_cache *blitz_sched_stack_cache(void);
#endif
