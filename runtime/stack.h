/* Task stacks: mmap'd, committed lazily, pooled.
 *
 * Every stack carries a header of BLITZ_STACK_HDR bytes at its top: the blitz_stack
 * descriptor followed by room for the task structure (task.c), as NPTL keeps struct pthread
 * at the top of a thread's stack. The header is 1,664 bytes: with a task's glibc thread block
 * (2,368 bytes of struct pthread on glibc 2.36, see tls.h) right below it, both share the top
 * page, and a thread that blocks with a shallow stack has its TLS and frames in the next;
 * without thread blocks, header and frames share one page. The usable stack lies
 * below the header and is at least the requested size.
 *
 * Kinds: GUARDED (own mapping, PROT_NONE guard below; 2 memory maps each), SLAB (carved
 * from a shared chunk once the map budget is spent, no guard page but a canary word at the
 * just below its bottom, checked on every switch), USER (pthread_attr_setstack memory; never freed by us).
 *
 * Thread-safety: blitz_stack_cache is owned by one processor and used only from it; the
 * global pool and the slab lists are protected by internal mutexes (taken only when a cache
 * is empty or full). */
#ifndef BLITZ_STACK_H
#define BLITZ_STACK_H
#include <stddef.h>
#include <stdint.h>

#define BLITZ_STACK_HDR 1664u
#define BLITZ_STACK_CANARY 0xb1a75eedc0ffee11ull
#define BLITZ_STACK_CACHE_MAX 64

enum { BLITZ_STACK_GUARDED = 1, BLITZ_STACK_SLAB = 2, BLITZ_STACK_USER = 3 };

typedef struct blitz_stack {
    char *lo;               /* lowest usable byte */
    char *hi;               /* start of the header (usable stack ends here) */
    char *map;              /* mapping start (guard included) for GUARDED */
    size_t map_len;
    size_t size;            /* usable size requested */
    size_t guard;           /* guard bytes below lo (GUARDED only) */
    uint64_t *canary;       /* SLAB: word at lo checked on switches; NULL otherwise */
    uintptr_t sp_min;       /* lowest stack pointer seen at a switch since last trim */
    uint32_t kind;
    uint32_t uses;
    uint32_t serial;        /* distinct among live stacks (until 2^28 stacks were made) */
    size_t key_guard;         /* guard size asked for (the pool key; SLAB stacks have none) */
    struct blitz_stack *next; /* pool link */
} blitz_stack;

/* Free stacks of one (size, guard) pair. */
typedef struct blitz_stack_list {
    size_t size, guard;
    blitz_stack *head;
    unsigned n;
} blitz_stack_list;

/* A processor's cache: a few size classes, so programs that set a stack size reuse their
 * stacks as cheaply as the default size. A class is re-keyed once it is empty. */
#define BLITZ_STACK_CACHE_CLASSES 4
typedef struct blitz_stack_cache {
    blitz_stack_list cls[BLITZ_STACK_CACHE_CLASSES];
} blitz_stack_cache;

/* Process-wide setup: default size and guard, map budget, and PROT_EXEC on stacks when the
 * program's own stack is executable (PT_GNU_STACK), as glibc maps thread stacks. Call once
 * before any get. */
void blitz_stack_setup(size_t default_size, size_t default_guard);
size_t blitz_stack_default_size(void);
size_t blitz_stack_default_guard(void);

/* Returns a stack with at least `size` usable bytes and a guard of `guard` bytes (rounded to
 * pages), or NULL with errno = EAGAIN (no memory / address space) . cache may be NULL.
 * The user part of the header (blitz_stack_hdr_user) holds whatever it held before. */
blitz_stack *blitz_stack_get(blitz_stack_cache *cache, size_t size, size_t guard);

/* Wraps user memory [addr, addr+size) as a USER stack; the header is carved from its top.
 * Returns NULL (errno EINVAL) if the memory is too small. */
blitz_stack *blitz_stack_wrap_user(void *addr, size_t size);

/* Returns s to cache (or the global pool, or the kernel). Hands all but the top pages back to
 * the kernel when the stack was used deeply (or every 64th reuse). */
void blitz_stack_put(blitz_stack_cache *cache, blitz_stack *s);

/* Releases everything a cache holds to the global pool. */
void blitz_stack_cache_drain(blitz_stack_cache *cache);

/* Header layout: [descriptor, 128 B][task structure ... ][64 B: canary of the SLAB stack
 * directly above, if any]. */
#define BLITZ_STACK_HDR_USER_MAX (BLITZ_STACK_HDR - 128u - 64u)
static inline void *blitz_stack_hdr_user(blitz_stack *s) { return (char *)s + 128; }

/* True when the SLAB canary is intact (always true for other kinds). */
static inline int blitz_stack_canary_ok(const blitz_stack *s)
{
    return !s->canary || *s->canary == BLITZ_STACK_CANARY;
}

/* Does addr fall in the guard page(s) of s? (for the overflow report) */
static inline int blitz_stack_in_guard(const blitz_stack *s, uintptr_t addr)
{
    return s->guard && addr >= (uintptr_t)s->lo - s->guard && addr < (uintptr_t)s->lo;
}

/* Counters for BLITZ_STATS and tests. */
typedef struct blitz_stack_counters {
    uint64_t guarded_live, slab_live, mmaps, trims;
} blitz_stack_counters;
void blitz_stack_counters_get(blitz_stack_counters *out);
/* Test hook: overrides the number of GUARDED stacks that may exist at once. */
void blitz_stack_set_guarded_budget(uint64_t n);



/* Fork: hold the pool locks across fork() so the child finds them consistent. */
void blitz_stack_fork_lock(void);
void blitz_stack_fork_unlock(void);
#endif
