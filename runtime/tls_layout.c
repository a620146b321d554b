/* Discovers the glibc facts per-task thread control blocks rely on, and checks each one on
 * the running threads, so that a glibc with another layout is detected and worker mode
 * used instead. Sources, in order of preference: the descriptors glibc exports for
 * libthread_db (_thread_db_*), the kernel (robust list head), glibc's own pointers read from
 * a real thread (resolver state, stack block). */
#include <dlfcn.h>
#include "rawsys.h"
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "self.h"
#include "tls.h"

#define PRIV "GLIBC_PRIVATE"

static int fail(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return -1;
}

/* libthread_db descriptor: {size in bits, count, offset}; sizeof_* ones hold the size only. */
static const uint32_t *db(const char *name) { return dlvsym(RTLD_DEFAULT, name, PRIV); }

static long tls_off(const char *name, const char *ver)
{
    char *a = dlvsym(RTLD_DEFAULT, name, ver);
    return a ? a - (char *)blitz_tls_tp() : 0;
}

struct libc_find {
    char *errno_addr;
    long off;
    size_t size;
};

static int find_libc_block(struct dl_phdr_info *info, size_t sz, void *arg)
{
    struct libc_find *f = arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        char *d = info->dlpi_tls_data;
        if (ph->p_type == PT_TLS && d && f->errno_addr >= d && f->errno_addr < d + ph->p_memsz) {
            f->off = (char *)blitz_tls_tp() - d;
            f->size = ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

struct probe_out {
    const blitz_tls_layout *l;
    long tcache;
    int tcache_bad;
    char *stk;
    size_t stk_size;
    long res, stackblock, robust;
    int robust_empty, specific_ok, tid_ok;
    uintptr_t canary;
};

/* malloc's per-thread cache (glibc >= 2.32): a pointer in libc's TLS block to a malloc'd
 * {uint16_t counts[64]; void *entries[64]} (a 656-byte chunk); a cached chunk's first word is
 * its successor mangled with the chunk's own address (safe-linking). A fresh thread's first
 * malloc creates the cache (also when the tcache_count tunable is 0); the free that follows
 * puts the chunk in bin 0 unless caching is tuned off. The word that changed and points at
 * such a chunk is the cache pointer; not found means an unknown malloc (the caller then
 * keeps worker mode rather than leak a cache per thread). */
static void find_tcache(struct probe_out *o, char *tp)
{
    const blitz_tls_layout *l = o->l;
    char *blk = tp - l->libc_block;
    unsigned char before[1024];
    memcpy(before, blk, l->libc_size);
    /* The freed chunk is read on purpose: it now sits in the cache. */
    void *p = malloc(24);
    uintptr_t pa = (uintptr_t)p;
    __asm__("" : "+r"(pa)); /* no longer "p" to the compiler's use-after-free check */
    free(p);
    for (size_t i = 0; i + 8 <= l->libc_size; i += 8) {
        char *c = *(char **)(blk + i);
        if (!c || !memcmp(before + i, blk + i, 8) || ((uintptr_t)c & 15))
            continue;
        if ((*(size_t *)(c - 8) & ~(size_t)7) != 656)
            continue;
        if (*(uint16_t *)c == 1 && (*(uintptr_t *)(c + 128) != pa ||
                                    *(volatile uintptr_t *)pa != pa >> 12))
            continue; /* bin 0 holds one chunk, and it is not ours: not the cache */
        o->tcache = (long)i - l->libc_block;
        break;
    }
    void *q = malloc(24); /* from the cache again if it was cached: bin 0 empty afterwards */
    __asm__ volatile("" : : "r"(q) : "memory"); /* a real malloc, not one the compiler elides */
    if (o->tcache && *(uint16_t *)*(char **)(tp + o->tcache) != 0)
        o->tcache_bad = 1;
    free(q);
}

static void *probe_thread(void *arg)
{
    struct probe_out *o = arg;
    char *tp = blitz_tls_tp();
    void **resp = dlvsym(RTLD_DEFAULT, "__resp", PRIV);
    o->res = resp ? (char *)*resp - tp : -1;
    o->stackblock = -1;
    for (size_t i = 0; i + 3 * sizeof(void *) <= o->l->tcb_size; i += sizeof(void *)) {
        uintptr_t *w = (uintptr_t *)(tp + i);
        if (w[0] == (uintptr_t)o->stk && w[1] == o->stk_size) {
            o->stackblock = (long)i;
            break;
        }
    }
    void *head = NULL;
    size_t len = 0;
    o->robust = blitz_syscall(SYS_get_robust_list, (long)(0), (long)(&head), (long)(&len), 0, 0, 0) == 0 && head ? (char *)head - tp : -1;
    o->robust_empty = head && *(void **)head == head;
    o->specific_ok = *(char **)(tp + o->l->specific) == tp + o->l->specific_1st;
    o->tid_ok = *(int *)(tp + o->l->tid) == (int)blitz_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0);
    __asm__ volatile("movq %%fs:0x28, %0" : "=r"(o->canary));
    find_tcache(o, tp);
    return NULL;
}

int blitz_tls_probe(blitz_tls_layout *l,
                    int (*thread_create)(pthread_t *, const pthread_attr_t *,
                                         void *(*)(void *), void *),
                    int (*thread_join)(pthread_t, void **), char *why, size_t n)
{
    memset(l, 0, sizeof *l);
    l->allocate_tls = (void *(*)(void *))dlvsym(RTLD_DEFAULT, "_dl_allocate_tls", PRIV);
    l->deallocate_tls = (void (*)(void *, _Bool))dlvsym(RTLD_DEFAULT, "_dl_deallocate_tls", PRIV);
    l->call_tls_dtors = (void (*)(void))dlvsym(RTLD_DEFAULT, "__call_tls_dtors", PRIV);
    l->ctype_init = (void (*)(void))dlvsym(RTLD_DEFAULT, "__ctype_init", PRIV);
    void (*static_info)(size_t *, size_t *) =
        (void (*)(size_t *, size_t *))dlvsym(RTLD_DEFAULT, "_dl_get_tls_static_info", PRIV);
    if (!l->allocate_tls || !l->deallocate_tls || !l->call_tls_dtors || !l->ctype_init ||
        !static_info)
        return fail(why, n, "glibc's private TLS functions are missing");
    static_info(&l->static_size, &l->static_align);

    const uint32_t *sz = db("_thread_db_sizeof_pthread"), *tid = db("_thread_db_pthread_tid"),
                   *list = db("_thread_db_pthread_list"),
                   *spec = db("_thread_db_pthread_specific"),
                   *dtvp = db("_thread_db_pthread_dtvp"),
                   *used = db("_thread_db_rtld_global__dl_stack_used");
    l->rtld_global = dlvsym(RTLD_DEFAULT, "_rtld_global", PRIV);
    if (!sz || !tid || !list || !spec || !dtvp || !used || !l->rtld_global)
        return fail(why, n, "glibc's libthread_db descriptors are missing");
    l->tcb_size = sz[0];
    l->tid = tid[2];
    l->list = list[2];
    l->specific = spec[2];
    l->stack_used_list = used[2];
    /* specific_1stblock (32 {seq, data} pairs) directly precedes specific[]. */
    l->specific_1st = l->specific - 32 * 16;
    if (l->tcb_size < 1024 || l->tcb_size > 16384 || l->static_size < l->tcb_size ||
        !l->static_align || (l->static_align & (l->static_align - 1)) || l->static_align > 4096)
        return fail(why, n, "unexpected TLS sizes (struct pthread %zu, static TLS %zu/%zu)",
                    l->tcb_size, l->static_size, l->static_align);
    if (dtvp[2] != 8 || tid[0] != 32 || list[0] != 128 || spec[0] != 32 * 64 ||
        l->tid + 4 > (long)l->tcb_size || l->list + 16 > (long)l->tcb_size ||
        l->specific + 256 > (long)l->tcb_size || l->specific_1st < 0x2c0)
        return fail(why, n, "unexpected struct pthread field descriptors");

    char *tp = blitz_tls_tp();
    if (*(char **)tp != tp || *(char **)(tp + 16) != tp || !*(void **)(tp + 8))
        return fail(why, n, "the thread pointer does not point at a glibc TCB");
    if (*(int *)(tp + l->tid) != (int)blitz_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0))
        return fail(why, n, "struct pthread tid is not where libthread_db says");
    char **used_head = (char **)(l->rtld_global + l->stack_used_list);
    if (!used_head[0] || !used_head[1])
        return fail(why, n, "glibc's thread list is not where libthread_db says");

    l->v_errno = tls_off("errno", PRIV);
    l->v_herrno = tls_off("__h_errno", PRIV);
    l->v_resp = tls_off("__resp", PRIV);
    l->v_dlerror = tls_off("__libc_dlerror_result", PRIV);
    l->v_self = (char *)&blitz_tls_self_v - tp;
    if (l->v_errno >= 0 || l->v_herrno >= 0 || l->v_resp >= 0 || l->v_dlerror >= 0 ||
        l->v_errno != (char *)&errno - tp)
        return fail(why, n, "libc's TLS variables are not in static TLS below the TCB");
    struct libc_find f = { tp + l->v_errno, 0, 0 };
    if (!dl_iterate_phdr(find_libc_block, &f) || f.size > 1024)
        return fail(why, n, "libc's TLS block not found");
    l->libc_block = f.off;
    l->libc_size = f.size;
    long lo = -l->libc_block, hi = lo + (long)l->libc_size;
    if (l->v_herrno < lo || l->v_herrno + 4 > hi || l->v_resp < lo || l->v_resp + 8 > hi ||
        l->v_dlerror < lo || l->v_dlerror + 8 > hi)
        return fail(why, n, "libc's TLS variables are outside libc's TLS block");

    long *rseq_off = dlsym(RTLD_DEFAULT, "__rseq_offset"); /* ptrdiff_t */
    unsigned *rseq_size = dlsym(RTLD_DEFAULT, "__rseq_size");
    if (rseq_off && rseq_size) {
        /* The area exists even when registration is off (size 0): its cpu_id then says so. */
        l->rseq = *rseq_off;
        l->rseq_size = *rseq_size;
        if (l->rseq <= 0 || l->rseq + 32 > (long)l->tcb_size || (l->rseq & 31))
            return fail(why, n, "the rseq area is not inside struct pthread");
    }
    const uint32_t *ks = db("_thread_db_sizeof_pthread_key_struct"),
                   *kd = db("_thread_db_sizeof_pthread_key_data");
    l->keys = dlvsym(RTLD_DEFAULT, "__pthread_keys", PRIV);
    if (!l->keys || !ks || !kd || ks[0] != 16 || kd[0] != 16)
        return fail(why, n, "glibc's key table is not as expected");

    /* A real thread on a stack we own: its struct pthread shows where glibc keeps the stack
     * block, the robust list head and the resolver state of a thread it created. */
    struct probe_out o = { .l = l, .stk_size = 64 * 1024 };
    o.stk = mmap(NULL, o.stk_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (o.stk == MAP_FAILED)
        return fail(why, n, "no memory for the probe thread");
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, o.stk, o.stk_size);
    pthread_t th;
    int rc = thread_create(&th, &a, probe_thread, &o);
    pthread_attr_destroy(&a);
    if (rc == 0)
        thread_join(th, NULL);
    munmap(o.stk, o.stk_size);
    if (rc)
        return fail(why, n, "cannot create the probe thread: %s", strerror(rc));
    uintptr_t canary;
    __asm__ volatile("movq %%fs:0x28, %0" : "=r"(canary));
    if (o.stackblock < 0 || o.res <= 0 || o.res >= (long)l->tcb_size || o.robust <= 0 ||
        o.robust + 24 > (long)l->tcb_size || !o.robust_empty || !o.specific_ok || !o.tid_ok ||
        o.canary != canary)
        return fail(why, n, "struct pthread of a new thread does not look as expected "
                            "(stack block %ld, resolver %ld, robust list %ld/%d, keys %d, tid %d)",
                    o.stackblock, o.res, o.robust, o.robust_empty, o.specific_ok, o.tid_ok);
    if (o.tcache_bad || !o.tcache)
        return fail(why, n, "malloc's per-thread cache %s",
                    o.tcache ? "does not behave as expected" : "was not found");
    l->v_tcache = o.tcache;
    l->stackblock = o.stackblock;
    l->res = o.res;
    l->robust = o.robust;
    return 0;
}
