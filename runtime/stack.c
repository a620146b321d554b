#include <errno.h>
#include <link.h>
#include <sys/auxv.h>
#include "lock.h"
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "stack.h"

#define PAGE 4096u
#define KEEP_BYTES (16u * 1024u)     /* stack bytes below the header kept resident on trim */
#define TRIM_EVERY 64u               /* force a trim every N reuses (deep use may go unseen) */
#define GLOBAL_POOL_MAX 1024u        /* stacks per class in the global pool */
#define GLOBAL_POOL_CLASSES 8
#define SLAB_CHUNK_BYTES (4ull << 30) /* address space per slab chunk */
#define SLAB_CHUNK_MAX 256u

static size_t g_default_size = 8u << 20;
static size_t g_default_guard = PAGE;
static int g_prot = PROT_READ | PROT_WRITE;

/* Global pool, by size class: shared by processors when their caches run dry or overflow.
 * g_pool_n (all classes) lets get() skip the lock when the pool is empty. */
static blitz_lock g_pool_lock = BLITZ_LOCK_INIT;
static blitz_stack_list g_pool[GLOBAL_POOL_CLASSES];
static _Atomic unsigned g_pool_n;

/* The list for (size, guard) among n lists; with claim, an empty list is re-keyed for it. */
static blitz_stack_list *list_for(blitz_stack_list *l, unsigned n, size_t size, size_t guard,
                                  int claim)
{
    blitz_stack_list *empty = NULL;
    for (unsigned i = 0; i < n; i++) {
        if (l[i].size == size && l[i].guard == guard && (l[i].n || claim))
            return &l[i];
        if (!l[i].n && !empty)
            empty = &l[i];
    }
    if (claim && empty) {
        empty->size = size;
        empty->guard = guard;
        return empty;
    }
    return NULL;
}

static blitz_stack *list_pop(blitz_stack_list *l)
{
    blitz_stack *s = l->head;
    if (s) {
        l->head = s->next;
        l->n--;
    }
    return s;
}

static void list_push(blitz_stack_list *l, blitz_stack *s)
{
    s->next = l->head;
    l->head = s;
    l->n++;
}

/* Free SLAB stacks by size (a handful of distinct sizes in practice). */
typedef struct slab_class {
    size_t size;
    blitz_stack *free;
    struct slab_class *next;
} slab_class;
static blitz_lock g_slab_lock = BLITZ_LOCK_INIT;
static slab_class *g_slab_classes;

static _Atomic uint64_t g_guarded_live, g_slab_live, g_mmaps, g_trims;
static _Atomic uint64_t g_guarded_budget;

static size_t round_page(size_t n) { return (n + PAGE - 1) & ~(size_t)(PAGE - 1); }

static uint64_t read_max_map_count(void)
{
    uint64_t v = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
    if (f) {
        unsigned long long x;
        if (fscanf(f, "%llu", &x) == 1)
            v = x;
        fclose(f);
    }
    return v;
}

/* The executable's PT_GNU_STACK (absent: executable, the old default). Code such as GCC's
 * nested-function trampolines needs it, and glibc maps every thread stack to match. */
static int program_stack_executable(void)
{
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
    unsigned long n = getauxval(AT_PHNUM);
    for (unsigned long i = 0; ph && i < n; i++)
        if (ph[i].p_type == PT_GNU_STACK)
            return (ph[i].p_flags & PF_X) != 0;
    return ph != NULL;
}

void blitz_stack_setup(size_t default_size, size_t default_guard)
{
    g_default_size = round_page(default_size);
    g_default_guard = round_page(default_guard);
    if (program_stack_executable())
        g_prot |= PROT_EXEC;
    /* Each guarded stack costs 2 maps; leave room for everything else the process maps. */
    uint64_t maps = read_max_map_count();
    uint64_t reserve = maps / 4 > 8192 ? maps / 4 : 8192;
    atomic_store(&g_guarded_budget, maps > reserve ? (maps - reserve) / 2 : 0);
}

void blitz_stack_set_guarded_budget(uint64_t n) { atomic_store(&g_guarded_budget, n); }
size_t blitz_stack_default_size(void) { return g_default_size; }
size_t blitz_stack_default_guard(void) { return g_default_guard; }

static _Atomic uint32_t g_serial;

static void init_desc(blitz_stack *s, char *lo, size_t size, uint32_t kind)
{
    memset(s, 0, BLITZ_STACK_HDR - 64);
    s->serial = atomic_fetch_add_explicit(&g_serial, 1, memory_order_relaxed);
    s->lo = lo;
    s->hi = (char *)s;
    s->size = size;
    s->kind = kind;
    s->sp_min = (uintptr_t)s->hi;
}

static blitz_stack *new_guarded(size_t size, size_t guard)
{
    uint64_t live = atomic_fetch_add_explicit(&g_guarded_live, 1, memory_order_relaxed);
    if (live >= atomic_load_explicit(&g_guarded_budget, memory_order_relaxed)) {
        atomic_fetch_sub_explicit(&g_guarded_live, 1, memory_order_relaxed);
        return NULL;
    }
    size_t len = guard + size + PAGE; /* the top page holds the header and the first frames */
    char *map = mmap(NULL, len, g_prot,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        goto fail;
    if (guard && mprotect(map, guard, PROT_NONE) != 0) {
        munmap(map, len);
        goto fail;
    }
    atomic_fetch_add_explicit(&g_mmaps, 1, memory_order_relaxed);
    blitz_stack *s = (blitz_stack *)(map + len - BLITZ_STACK_HDR);
    init_desc(s, map + guard, size, BLITZ_STACK_GUARDED);
    s->map = map;
    s->map_len = len;
    s->guard = guard;
    return s;
fail:
    atomic_fetch_sub_explicit(&g_guarded_live, 1, memory_order_relaxed);
    return NULL;
}

/* Carves a chunk of SLAB stacks: [canary page][stack 0 .. hdr 0][stack 1 .. hdr 1]...; the
 * canary of stack i sits in the last 64 bytes of whatever lies just below it. Returns one
 * stack and puts the others on the class's free list. Caller holds g_slab_lock. */
static blitz_stack *new_slab_chunk(slab_class *c)
{
    size_t stride = c->size + PAGE;
    size_t n = SLAB_CHUNK_BYTES / stride;
    if (n > SLAB_CHUNK_MAX)
        n = SLAB_CHUNK_MAX;
    if (n < 1)
        n = 1;
    size_t len = PAGE + n * stride;
    char *map = mmap(NULL, len, g_prot,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return NULL;
    atomic_fetch_add_explicit(&g_mmaps, 1, memory_order_relaxed);
    blitz_stack *first = NULL;
    for (size_t i = n; i-- > 0;) {
        char *lo = map + PAGE + i * stride;
        blitz_stack *s = (blitz_stack *)(lo + stride - BLITZ_STACK_HDR);
        init_desc(s, lo, c->size, BLITZ_STACK_SLAB);
        s->canary = (uint64_t *)(lo - 64);
        *s->canary = BLITZ_STACK_CANARY;
        if (i == 0) {
            first = s;
        } else {
            s->next = c->free;
            c->free = s;
        }
    }
    return first;
}

static blitz_stack *get_slab(size_t size)
{
    blitz_lock_acquire(&g_slab_lock);
    slab_class *c = g_slab_classes;
    while (c && c->size != size)
        c = c->next;
    blitz_stack *s = NULL;
    if (!c) {
        /* The class lives in its first chunk's canary page would complicate reuse; a tiny
         * mmap'd record is simpler and there are few classes. */
        c = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (c == MAP_FAILED) {
            blitz_lock_release(&g_slab_lock);
            return NULL;
        }
        c->size = size;
        c->free = NULL;
        c->next = g_slab_classes;
        g_slab_classes = c;
    }
    if (c->free) {
        s = c->free;
        c->free = s->next;
    } else {
        s = new_slab_chunk(c);
    }
    blitz_lock_release(&g_slab_lock);
    if (s)
        atomic_fetch_add_explicit(&g_slab_live, 1, memory_order_relaxed);
    return s;
}

static void put_slab(blitz_stack *s)
{
    blitz_lock_acquire(&g_slab_lock);
    slab_class *c = g_slab_classes;
    while (c && c->size != s->size)
        c = c->next;
    s->next = c->free; /* the class exists: s came from it */
    c->free = s;
    blitz_lock_release(&g_slab_lock);
    atomic_fetch_sub_explicit(&g_slab_live, 1, memory_order_relaxed);
}

static void prepare_for_use(blitz_stack *s)
{
    s->next = NULL;
    s->uses++;
    s->sp_min = (uintptr_t)s->hi;
}

blitz_stack *blitz_stack_get(blitz_stack_cache *cache, size_t size, size_t guard)
{
    size = round_page(size);
    guard = round_page(guard);
    if (size + guard < size || size > (1ull << 44)) {
        errno = EAGAIN;
        return NULL;
    }
    blitz_stack *s = NULL;
    blitz_stack_list *l;
    if (cache && (l = list_for(cache->cls, BLITZ_STACK_CACHE_CLASSES, size, guard, 0)))
        s = list_pop(l);
    if (!s && atomic_load_explicit(&g_pool_n, memory_order_relaxed)) {
        blitz_lock_acquire(&g_pool_lock);
        if ((l = list_for(g_pool, GLOBAL_POOL_CLASSES, size, guard, 0)) && (s = list_pop(l)))
            atomic_fetch_sub_explicit(&g_pool_n, 1, memory_order_relaxed);
        blitz_lock_release(&g_pool_lock);
    }
    if (!s)
        s = new_guarded(size, guard);
    if (!s)
        s = get_slab(size); /* map budget spent or mmap refused: no guard page */
    if (!s) {
        errno = EAGAIN;
        return NULL;
    }
    s->key_guard = guard;
    prepare_for_use(s);
    return s;
}

blitz_stack *blitz_stack_wrap_user(void *addr, size_t size)
{
    uintptr_t top = ((uintptr_t)addr + size) & ~(uintptr_t)63;
    if (size < BLITZ_STACK_HDR + 4096 || top - BLITZ_STACK_HDR < (uintptr_t)addr) {
        errno = EINVAL;
        return NULL;
    }
    blitz_stack *s = (blitz_stack *)(top - BLITZ_STACK_HDR);
    init_desc(s, addr, (size_t)((char *)s - (char *)addr), BLITZ_STACK_USER);
    s->uses = 1;
    return s;
}

static void maybe_trim(blitz_stack *s)
{
    uintptr_t keep_lo = (uintptr_t)s->hi - KEEP_BYTES;
    if (s->size <= KEEP_BYTES)
        return;
    if (s->sp_min >= keep_lo && s->uses % TRIM_EVERY != 0)
        return;
    madvise(s->lo, (size_t)(keep_lo - (uintptr_t)s->lo), MADV_DONTNEED);
    if (s->canary)
        *s->canary = BLITZ_STACK_CANARY;
    atomic_fetch_add_explicit(&g_trims, 1, memory_order_relaxed);
}

static void release(blitz_stack *s)
{
    if (s->kind == BLITZ_STACK_GUARDED) {
        munmap(s->map, s->map_len);
        atomic_fetch_sub_explicit(&g_guarded_live, 1, memory_order_relaxed);
    } else {
        put_slab(s);
    }
}

void blitz_stack_put(blitz_stack_cache *cache, blitz_stack *s)
{
    if (s->kind == BLITZ_STACK_USER)
        return;
    maybe_trim(s);
    blitz_stack_list *l;
    if (cache && (l = list_for(cache->cls, BLITZ_STACK_CACHE_CLASSES, s->size, s->key_guard, 1)) &&
        l->n < BLITZ_STACK_CACHE_MAX) {
        list_push(l, s);
        return;
    }
    blitz_lock_acquire(&g_pool_lock);
    if ((l = list_for(g_pool, GLOBAL_POOL_CLASSES, s->size, s->key_guard, 1)) &&
        l->n < GLOBAL_POOL_MAX) {
        list_push(l, s);
        atomic_fetch_add_explicit(&g_pool_n, 1, memory_order_relaxed);
        s = NULL;
    }
    blitz_lock_release(&g_pool_lock);
    if (s)
        release(s);
}

void blitz_stack_cache_drain(blitz_stack_cache *cache)
{
    for (unsigned i = 0; i < BLITZ_STACK_CACHE_CLASSES; i++) {
        blitz_stack *s;
        while ((s = list_pop(&cache->cls[i])))
            blitz_stack_put(NULL, s);
    }
}

void blitz_stack_counters_get(blitz_stack_counters *out)
{
    out->guarded_live = atomic_load(&g_guarded_live);
    out->slab_live = atomic_load(&g_slab_live);
    out->mmaps = atomic_load(&g_mmaps);
    out->trims = atomic_load(&g_trims);
}

void blitz_stack_fork_lock(void)
{
    blitz_lock_acquire(&g_pool_lock);
    blitz_lock_acquire(&g_slab_lock);
}

void blitz_stack_fork_unlock(void)
{
    blitz_lock_release(&g_slab_lock);
    blitz_lock_release(&g_pool_lock);
}
