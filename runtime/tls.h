/* Per-task thread control blocks ("task" TLS mode).
 *
 * Each task gets what NPTL gives a new thread: a static TLS block initialised from every
 * loaded module's image, a DTV for dynamic TLS (dlopen'ed modules, through __tls_get_addr),
 * and a struct pthread that glibc's own code reads through the thread pointer (self
 * pointers, stack-protector canary and pointer guard, tid, robust list, resolver state,
 * stack bounds for alloca decisions). The thread pointer (FS base) switches with the task, so
 * `errno`, `__thread` and C++ `thread_local` variables have one stable address per task, also
 * after the task moves to another worker.
 *
 * The block lives at the top of the task's stack, below the stack header, as NPTL keeps it at
 * the top of a thread's stack. At task exit the libc thread state NPTL frees in its private
 * __libc_thread_freeres is released the same way through what glibc exposes: C++
 * thread_local destructors (__call_tls_dtors), the dlerror result, the resolver state, and
 * malloc's per-thread cache (its chunks go back to the arena, as tcache_thread_shutdown
 * does; the cache's place in libc's TLS block is found by the probe).
 *
 * The glibc facts this relies on are discovered and checked once (blitz_tls_probe); when a
 * check fails the runtime keeps "worker" mode: tasks share their worker's TLS and the
 * scheduler saves and restores errno per switch.
 *
 * Thread-safety: probe/configure/detach_caller run once, single-threaded, before the
 * runtime starts. init/release may run on any thread. task_start/thread_dtors/task_exit run
 * on the task itself. No locks of the runtime's own; glibc's _dl_allocate_tls takes its TLS
 * lock briefly. */
#ifndef BLITZ_TLS_H
#define BLITZ_TLS_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct blitz_task;
struct blitz_stack;

/* Offsets are bytes from the thread pointer (TP). */
typedef struct blitz_tls_layout {
    size_t static_size, static_align; /* _dl_get_tls_static_info: TLS blocks + TCB */
    size_t tcb_size;                  /* sizeof(struct pthread) */
    long tid, list, specific, specific_1st, robust, res, stackblock, rseq;
    size_t rseq_size;                 /* 0: rseq not registered by glibc (rseq: -1, no area) */
    long v_errno, v_herrno, v_resp, v_dlerror, v_self; /* TLS variables (negative) */
    long libc_block;                  /* libc's TLS block is [TP - libc_block, + libc_size) */
    size_t libc_size;
    long v_tcache;                    /* malloc's tcache pointer; 0: not found (no tcache) */
    long stack_used_list;             /* GL(dl_stack_used) in _rtld_global */
    char *rtld_global;
    const uintptr_t *keys;            /* __pthread_keys: {seq, destructor} x 1024 */
    void *(*allocate_tls)(void *);
    void (*deallocate_tls)(void *, _Bool);
    void (*call_tls_dtors)(void);
    void (*ctype_init)(void);
} blitz_tls_layout;

/* Discovers the layout on this glibc and checks it (creating one short-lived probe thread
 * with thread_create/thread_join, the real libc functions). Returns 0, or -1 with a reason
 * in why. Call before anything else here. */
int blitz_tls_probe(blitz_tls_layout *l,
                    int (*thread_create)(pthread_t *, const pthread_attr_t *,
                                         void *(*)(void *), void *),
                    int (*thread_join)(pthread_t, void **), char *why, size_t why_len);

/* Turns task mode on with a probed layout. Before the runtime starts. */
void blitz_tls_configure(const blitz_tls_layout *l);
int blitz_tls_enabled(void);

/* Bytes a task's block takes at the top of its stack (0 in worker mode). */
size_t blitz_tls_area(void);

/* Builds t's block in [hi - blitz_tls_area(), hi) and returns its thread pointer, or NULL
 * (out of memory for the DTV). stackblock/size/guard describe the whole stack for glibc;
 * serial (distinct among live stacks) makes the thread's owner id. */
void *blitz_tls_init(char *hi, struct blitz_task *t, char *stackblock, size_t stackblock_size,
                     size_t guard, uint32_t serial);

/* Gives the calling OS thread (the process's main thread, before the runtime starts) a fresh
 * block and switches to it; returns the thread pointer it had, which the root task then
 * adopts with blitz_tls_adopt (so main keeps what constructors left in its TLS). */
void *blitz_tls_detach_caller(void);
void blitz_tls_adopt(void *tp, struct blitz_task *t);

/* On the task, before its start routine: what NPTL's start_thread does for libc. */
void blitz_tls_task_start(void);
/* On the task after its start routine: C++ thread_local destructors (before key
 * destructors, as NPTL orders them). */
void blitz_tls_thread_dtors(void);
/* On the task, the last thing before it leaves its stack: releases libc thread state (no
 * malloc may follow: it would start a new cache). */
void blitz_tls_task_exit(void);
/* After the task finished, any thread: frees the DTV and dynamic TLS blocks. */
void blitz_tls_release(void *tp);

/* Fork child, on the forking task: glibc registered the task's block as the only thread;
 * hand that role to the machine's own block (sched_tp), which owns this OS thread's stack. */
void blitz_tls_fork_child(void *task_tp, void *sched_tp);

/* The thread pointer of the calling thread. */
static inline void *blitz_tls_tp(void)
{
    void *tp;
    __asm__ volatile("movq %%fs:0, %0" : "=r"(tp));
    return tp;
}

/* Switches the thread pointer (wrfsbase when the kernel allows it, arch_prctl otherwise).
 * No TLS access may be in flight across it: callers are the scheduler's switch path. */
extern int blitz_tls_fsgsbase;
void blitz_tls_set_tp_syscall(void *tp);
static inline void blitz_tls_set_tp(void *tp)
{
    if (__builtin_expect(blitz_tls_fsgsbase, 1))
        __asm__ volatile("wrfsbase %0" : : "r"(tp) : "memory");
    else
        blitz_tls_set_tp_syscall(tp);
}
#endif
