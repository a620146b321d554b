/* The scheduler first: resolv.h defines names that clash with ev.h's enums. */
#include "scheduler.h"
#include "rawsys.h"
#include <asm/prctl.h>
#include <dlfcn.h>
#include <errno.h>
#include <locale.h>
#include <resolv.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "task.h"
#include "tls.h"

int blitz_tls_fsgsbase;
static blitz_tls_layout L;
static int g_on;
static size_t g_area;

#define AT(tp, off, type) (*(type *)((char *)(tp) + (off)))
#define RSEQ_CPU_ID_FAILED (-2)
#define RSEQ_AREA_LEN 32       /* glibc registers sizeof(struct rseq_area) */
#define RSEQ_SIG_X86 0x53053053

/* x86-64 tcbhead_t, fixed by the ABI the compiler and glibc share. */
enum { TCB_SELF0 = 0, TCB_DTV = 8, TCB_SELF = 16, TCB_MULTI = 24, TCB_SYSINFO = 32,
       TCB_STACK_GUARD = 0x28, TCB_POINTER_GUARD = 0x30, TCB_FEATURE_1 = 0x48 };

void blitz_tls_set_tp_syscall(void *tp) { blitz_syscall(SYS_arch_prctl, (long)(ARCH_SET_FS), (long)(tp), 0, 0, 0, 0); }

/* set*id() in a threaded process: glibc signals every thread it knows (SIGSETXID) and waits
 * until each handler has cleared a flag in its own struct pthread, found through the thread
 * pointer. A worker interrupted while running a task would clear the flag in the task's
 * block instead, and the caller would wait forever. So the handler runs on the block of the
 * OS thread it interrupted: glibc's own, or the machine's. The kernel's sigaction is used
 * directly because glibc's refuses to touch its internal signals. */
#define SIGSETXID_NO 33 /* __SIGRTMIN + 1 */
struct ksigaction {
    void (*handler)(int, siginfo_t *, void *);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};
static void (*g_setxid_handler)(int, siginfo_t *, void *);

static void setxid_on_thread_block(int sig, siginfo_t *si, void *uc)
{
    char *cur = blitz_tls_tp();
    struct blitz_task *t = AT(cur, L.v_self, struct blitz_task *);
    if (t && t->m && t->m->tp) {
        blitz_tls_set_tp(t->m->tp);
        g_setxid_handler(sig, si, uc);
        blitz_tls_set_tp(cur);
    } else {
        g_setxid_handler(sig, si, uc);
    }
}

static void wrap_setxid_handler(void)
{
    struct ksigaction old;
    if (blitz_syscall(SYS_rt_sigaction, (long)(SIGSETXID_NO), (long)(NULL), (long)(&old), (long)(8), 0, 0) != 0 ||
        (uintptr_t)old.handler <= 1 || !(old.flags & SA_SIGINFO))
        return; /* not installed yet: no thread was ever created, nothing to wrap */
    g_setxid_handler = old.handler;
    struct ksigaction mine = old;
    mine.handler = setxid_on_thread_block;
    mine.mask = ~0ull; /* a program's handler nesting here would run on the machine's block */
    blitz_syscall(SYS_rt_sigaction, (long)(SIGSETXID_NO), (long)(&mine), (long)(NULL), (long)(8), 0, 0);
}

void blitz_tls_configure(const blitz_tls_layout *l)
{
    L = *l;
    /* TCB at the top (aligned down), the TLS blocks below it. */
    g_area = (L.static_size + L.static_align + 63) & ~(size_t)63;
    blitz_tls_fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0; /* HWCAP2_FSGSBASE */
    wrap_setxid_handler(); /* installed by glibc when the probe created its thread */
    g_on = 1;
}

int blitz_tls_enabled(void) { return g_on; }
size_t blitz_tls_area(void) { return g_on ? g_area : 0; }

/* Thread ids for task blocks: glibc stores the owner's tid in recursive and error-checking
 * mutexes and rwlocks, so no two live tasks may share one. Derived from the stack's serial
 * (distinct among live stacks; a finished task's id returns with its pooled stack), above
 * any pid the kernel hands out (pid_max <= 2^22) and below the futex owner-died/waiters
 * bits. The kernel knows none of them: see the limits on robust and PI mutexes. */
static int fake_tid(uint32_t serial) { return (int)(0x20000000u + (serial & 0x0fffffffu)); }

/* The fields glibc's code reads through a thread's own pointer, set as NPTL sets them for a
 * new thread; the rest of struct pthread stays zero. */
static void init_tcb(char *tp, int tid, char *stackblock, size_t stackblock_size, size_t guard)
{
    char *cur = blitz_tls_tp();
    memset(tp, 0, L.tcb_size);
    AT(tp, TCB_SELF0, char *) = tp;
    AT(tp, TCB_SELF, char *) = tp;
    AT(tp, TCB_MULTI, int) = 1;
    AT(tp, TCB_SYSINFO, uintptr_t) = AT(cur, TCB_SYSINFO, uintptr_t);
    AT(tp, TCB_STACK_GUARD, uintptr_t) = AT(cur, TCB_STACK_GUARD, uintptr_t);
    AT(tp, TCB_POINTER_GUARD, uintptr_t) = AT(cur, TCB_POINTER_GUARD, uintptr_t);
    AT(tp, TCB_FEATURE_1, uint32_t) = AT(cur, TCB_FEATURE_1, uint32_t);
    AT(tp, L.tid, int) = tid;
    char *list = tp + L.list; /* an empty list node: fork's list_del on it is harmless */
    AT(list, 0, char *) = list;
    AT(list, 8, char *) = list;
    AT(tp, L.specific, char *) = tp + L.specific_1st;
    char *robust = tp + L.robust; /* {list = &head, futex_offset, list_op_pending} */
    AT(robust, 0, char *) = robust;
    AT(robust, 8, long) = AT(cur + L.robust, 8, long);
    AT(tp, L.stackblock, char *) = stackblock;
    AT(tp, L.stackblock + 8, size_t) = stackblock_size;
    AT(tp, L.stackblock + 16, size_t) = guard;
    AT(tp, L.stackblock + 24, size_t) = guard; /* reported_guardsize */
    if (L.rseq > 0) /* cpu_id: "registration failed", so sched_getcpu asks the kernel */
        AT(tp, L.rseq + 4, int32_t) = RSEQ_CPU_ID_FAILED;
}

/* After _dl_allocate_tls copied the modules' images: what start_thread sets for libc. */
static void init_libc_vars(char *tp, struct blitz_task *t)
{
    AT(tp, L.v_resp, char *) = tp + L.res;
    AT(tp, L.v_self, struct blitz_task *) = t;
}

void *blitz_tls_init(char *hi, struct blitz_task *t, char *stackblock, size_t stackblock_size,
                     size_t guard, uint32_t serial)
{
    char *tp = (char *)(((uintptr_t)hi - L.tcb_size) & ~(uintptr_t)(L.static_align - 1));
    init_tcb(tp, fake_tid(serial), stackblock, stackblock_size, guard);
    if (!L.allocate_tls(tp))
        return NULL;
    init_libc_vars(tp, t);
    return tp;
}

/* glibc's circular list_t {next, prev}. Single-threaded callers only (start-up, fork child). */
static void list_unlink(char *n)
{
    AT(AT(n, 0, char *), 8, char *) = AT(n, 8, char *);
    AT(AT(n, 8, char *), 0, char *) = AT(n, 0, char *);
    AT(n, 0, char *) = n;
    AT(n, 8, char *) = n;
}

static void list_add_after(char *n, char *head)
{
    AT(n, 0, char *) = AT(head, 0, char *);
    AT(n, 8, char *) = head;
    AT(AT(head, 0, char *), 8, char *) = n;
    AT(head, 0, char *) = n;
}

void *blitz_tls_detach_caller(void)
{
    char *old = blitz_tls_tp();
    /* Owned by this OS thread for the life of the process. */
    char *mem = aligned_alloc(L.static_align < 64 ? 64 : L.static_align, g_area);
    if (!mem)
        return NULL;
    char *tp = blitz_tls_init(mem + g_area, NULL, NULL, 0, 0, 0);
    if (!tp) {
        free(mem);
        return NULL;
    }
    AT(tp, L.tid, int) = AT(old, L.tid, int); /* the same OS thread */
    /* glibc signals the threads on its list for set*id() and waits for each handler to
     * answer in the listed struct pthread: list the block this OS thread's scheduler context
     * will run on. Main's stays listed too (glibc initialises the initial-exec TLS of a
     * dlopen'ed library in listed blocks only), with an owner id of its own that no signal
     * can reach. */
    list_add_after(tp + L.list, old + L.list);
    AT(old, L.tid, int) = fake_tid(0x0ffffffeu);
    /* The kernel updates the rseq area registered for this OS thread: move it along, so the
     * root task (main's block, on any worker) does not read this thread's CPU. */
    if (L.rseq > 0 && L.rseq_size &&
        blitz_syscall(SYS_rseq, (long)(old + L.rseq), (long)(RSEQ_AREA_LEN), (long)(1 /* unregister */), (long)(RSEQ_SIG_X86), 0, 0) == 0) {
        AT(old, L.rseq + 4, int32_t) = RSEQ_CPU_ID_FAILED;
        AT(tp, L.rseq + 4, int32_t) = -1;
        blitz_syscall(SYS_rseq, (long)(tp + L.rseq), (long)(RSEQ_AREA_LEN), (long)(0), (long)(RSEQ_SIG_X86), 0, 0);
    }
    blitz_tls_set_tp(tp);
    if (L.ctype_init)
        L.ctype_init();
    return old;
}

void blitz_tls_adopt(void *tp, struct blitz_task *t) { AT(tp, L.v_self, struct blitz_task *) = t; }

void blitz_tls_task_start(void) { L.ctype_init(); }

void blitz_tls_thread_dtors(void) { L.call_tls_dtors(); }

/* tcache_thread_shutdown's work. free() would start a new cache if the pointer were NULL,
 * so while the chunks go back the thread points at a cache whose bins all look full (free
 * then hands each chunk to its arena); no malloc may run meanwhile (it would take from the
 * empty bins). Cleared afterwards: a later malloc on this task would start a new cache. */
static struct {
    uint16_t counts[64];
    void *entries[64];
} __attribute__((aligned(16))) g_full_cache = {
    .counts = { [0 ... 63] = UINT16_MAX },
};

static void release_tcache(char *tp)
{
    char *tc = AT(tp, L.v_tcache, char *);
    if (!tc)
        return;
    /* A signal handler that mallocs must not find the stand-in cache. */
    uint64_t all = ~0ull, saved;
    blitz_syscall(SYS_rt_sigprocmask, (long)(SIG_SETMASK), (long)(&all), (long)(&saved), (long)(8), 0, 0);
    AT(tp, L.v_tcache, void *) = &g_full_cache;
    for (int bin = 0; bin < 64; bin++) {
        uintptr_t *e = AT(tc, 128 + 8 * bin, uintptr_t *);
        while (e && !((uintptr_t)e & 15)) {
            uintptr_t *next = (uintptr_t *)(((uintptr_t)e >> 12) ^ e[0]); /* safe-linking */
            e[1] = 0; /* the "in tcache" key: this chunk is leaving the cache */
            free(e);
            e = next;
        }
    }
    free(tc);
    AT(tp, L.v_tcache, char *) = NULL;
    blitz_syscall(SYS_rt_sigprocmask, (long)(SIG_SETMASK), (long)(&saved), (long)(NULL), (long)(8), 0, 0);
}

/* Values set through glibc's own keys (C11 tss_*, and glibc-internal users) live in the
 * thread block; NPTL runs their destructors at thread exit (__nptl_deallocate_tsd) and frees
 * the second-level blocks. Same algorithm: up to PTHREAD_DESTRUCTOR_ITERATIONS rounds. */
static void glibc_key_dtors(char *tp)
{
    struct kd { uintptr_t seq; void *data; };
    struct kd **specific = (struct kd **)(tp + L.specific);
    for (int round = 0; round < 4; round++) {
        int again = 0;
        for (int i = 0; i < 32; i++) {
            struct kd *l2 = specific[i];
            for (int j = 0; l2 && j < 32; j++) {
                void *data = l2[j].data;
                if (!data)
                    continue;
                l2[j].data = NULL;
                int idx = i * 32 + j;
                void (*destr)(void *) = (void (*)(void *))L.keys[2 * idx + 1];
                if (l2[j].seq == L.keys[2 * idx] && destr) {
                    destr(data);
                    again = 1;
                }
            }
        }
        if (!again)
            break;
    }
    for (int i = 1; i < 32; i++) {
        free(specific[i]);
        specific[i] = NULL;
    }
}

/* What the kernel does for a dying thread's robust list (handle_futex_death): every robust
 * mutex the task still holds is marked owner-died and one waiter woken, so the next locker
 * gets EOWNERDEAD. The kernel cannot do it for a task: it never saw this list. */
static void release_robust_list(char *tp)
{
    char *head = tp + L.robust;
    long off = AT(head, 8, long);
    int tid = AT(tp, L.tid, int);
    char *pending = AT(head, 16, char *);
    int n = 0;
    /* Bit 0 of a list link marks a priority-inheritance mutex (glibc's robust list). */
    for (char *e = (char *)((uintptr_t)AT(head, 0, char *) & ~(uintptr_t)1);
         e && e != head && n < 4096; n++) {
        char *next = (char *)((uintptr_t)AT(e, 0, char *) & ~(uintptr_t)1);
        _Atomic uint32_t *f = (_Atomic uint32_t *)(e + off);
        uint32_t v = atomic_load(f);
        while ((v & 0x3fffffffu) == (uint32_t)tid &&
               !atomic_compare_exchange_weak(f, &v, (v & 0x80000000u) | 0x40000000u)) {
        }
        if ((v & 0x3fffffffu) == (uint32_t)tid && (v & 0x80000000u))
            /* FUTEX_WAKE, not private: robust mutexes may be process-shared. */
            blitz_syscall(SYS_futex, (long)f, 1 /* FUTEX_WAKE */, 1, 0, 0, 0);
        if (e == pending)
            pending = NULL;
        e = next;
    }
    AT(head, 0, char *) = head;
    AT(head, 16, char *) = NULL;
    (void)pending;
}

void blitz_tls_task_exit(void)
{
    char *tp = blitz_tls_tp();
    release_robust_list(tp);
    /* dlerror: the first call marks the message returned, the second frees it; the result
     * record itself is a plain malloc block. */
    if (AT(tp, L.v_dlerror, void *)) {
        dlerror();
        dlerror();
        void *r = AT(tp, L.v_dlerror, void *);
        if (r) {
            AT(tp, L.v_dlerror, void *) = NULL;
            free(r);
        }
    }
    if (L.keys)
        glibc_key_dtors(tp);
    struct __res_state *res = (struct __res_state *)(tp + L.res);
    if (res->options & RES_INIT)
        res_nclose(res);
    if (L.v_tcache)
        release_tcache(tp);
}

void blitz_tls_release(void *tp) { L.deallocate_tls(tp, 0); }

void blitz_tls_fork_child(void *task_tp, void *sched_tp)
{
    /* glibc's fork child put the task's block on its list of running threads as the one
     * surviving thread and moved the others, the machine's own struct pthread included, to
     * its stack cache, from where a new thread could be given this thread's stack. Swap. */
    char *sl = (char *)sched_tp + L.list;
    list_unlink((char *)task_tp + L.list);
    list_unlink(sl);
    list_add_after(sl, L.rtld_global + L.stack_used_list);
    int tid = (int)blitz_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0);
    AT(sched_tp, L.tid, int) = tid;
    /* The forking task's owner id for mutexes glibc manages (process-shared, robust): this
     * process's own tid, which no other process's thread has. A fixed id would be the same
     * in every child forked from one thread, and siblings sharing a recursive mutex would
     * each take it as its owner. The scheduler context owns no such mutex. */
    AT(task_tp, L.tid, int) = tid;
    /* The kernel's per-thread pointers: the robust list walked when this thread dies, and the
     * tid cleared at exit, now in the machine's block rather than a pooled task's. */
    blitz_syscall(SYS_set_robust_list, (long)((char *)sched_tp + L.robust), (long)((size_t)24), 0, 0, 0, 0);
    blitz_syscall(SYS_set_tid_address, (long)((char *)sched_tp + L.tid), 0, 0, 0, 0, 0);
}
