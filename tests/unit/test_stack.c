#include "unit.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "stack.h"

Test(stack, default_stack_is_usable_and_guarded)
{
    blitz_stack_setup(256 * 1024, 4096);
    blitz_stack *s = blitz_stack_get(NULL, 256 * 1024, 4096);
    cr_assert_not_null(s);
    cr_assert_eq(s->kind, BLITZ_STACK_GUARDED);
    cr_assert_geq((size_t)(s->hi - s->lo), 256 * 1024);
    cr_assert_eq(((uintptr_t)s + BLITZ_STACK_HDR) % 4096, 0, "header ends the mapping");
    memset(s->lo, 0xab, s->size); /* the whole usable range is writable */
    cr_assert(blitz_stack_in_guard(s, (uintptr_t)s->lo - 1));
    cr_assert_not(blitz_stack_in_guard(s, (uintptr_t)s->lo));
    unsigned char vec[1];
    cr_assert_eq(mincore(s->lo - 4096, 4096, vec), 0, "guard page is mapped (PROT_NONE)");
    blitz_stack_put(NULL, s);
}

static unsigned cached(const blitz_stack_cache *c)
{
    unsigned n = 0;
    for (unsigned i = 0; i < BLITZ_STACK_CACHE_CLASSES; i++)
        n += c->cls[i].n;
    return n;
}

Test(stack, pooled_stacks_are_reused_from_cache)
{
    blitz_stack_setup(128 * 1024, 4096);
    blitz_stack_cache c = { 0 };
    blitz_stack *a = blitz_stack_get(&c, 128 * 1024, 4096);
    blitz_stack_put(&c, a);
    cr_assert_eq(cached(&c), 1);
    blitz_stack *b = blitz_stack_get(&c, 128 * 1024, 4096);
    cr_assert_eq(a, b);
    cr_assert_eq(cached(&c), 0);
    blitz_stack_put(&c, b);
    blitz_stack_cache_drain(&c);
    cr_assert_eq(cached(&c), 0);
}

Test(stack, other_sizes_are_pooled_by_class)
{
    blitz_stack_setup(128 * 1024, 4096);
    blitz_stack_cache c = { 0 };
    size_t sizes[5] = { 64 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024, 32 * 1024 };
    blitz_stack *s[5];
    for (int i = 0; i < 5; i++)
        s[i] = blitz_stack_get(&c, sizes[i], 4096);
    for (int i = 0; i < 5; i++)
        blitz_stack_put(&c, s[i]);
    /* four classes fit the cache; the fifth size went to the global pool */
    cr_assert_eq(cached(&c), 4);
    blitz_stack *x = blitz_stack_get(&c, 64 * 1024, 4096);
    cr_assert_eq(x, s[0], "the 64 KiB stack comes back for a 64 KiB request");
    cr_assert_geq((size_t)(x->hi - x->lo), 64 * 1024);
    blitz_stack *y = blitz_stack_get(&c, 32 * 1024, 4096);
    cr_assert_eq(y, s[4], "the global pool serves the class the cache had no room for");
    blitz_stack *z = blitz_stack_get(&c, 64 * 1024, 8192);
    cr_assert_neq(z, s[0], "a different guard is a different class");
    blitz_stack_put(&c, x);
    blitz_stack_put(&c, y);
    blitz_stack_put(&c, z);
    blitz_stack_cache_drain(&c);
}

Test(stack, deep_use_is_trimmed_on_return)
{
    blitz_stack_setup(1024 * 1024, 4096);
    blitz_stack *s = blitz_stack_get(NULL, 1024 * 1024, 4096);
    memset(s->lo, 1, s->size);
    s->sp_min = (uintptr_t)s->lo; /* as the scheduler records a deep switch */
    blitz_stack_counters before, after;
    blitz_stack_counters_get(&before);
    blitz_stack_cache c = { 0 };
    blitz_stack_put(&c, s);
    blitz_stack_counters_get(&after);
    cr_assert_eq(after.trims, before.trims + 1);
    cr_assert_eq(*(volatile char *)s->lo, 0, "trimmed pages read back as zero");
    blitz_stack_cache_drain(&c);
}

Test(stack, past_the_map_budget_slab_stacks_with_canaries)
{
    blitz_stack_setup(64 * 1024, 4096);
    blitz_stack_set_guarded_budget(0);
    blitz_stack *s[300];
    for (int i = 0; i < 300; i++) {
        s[i] = blitz_stack_get(NULL, 64 * 1024, 4096);
        cr_assert_not_null(s[i]);
        cr_assert_eq(s[i]->kind, BLITZ_STACK_SLAB);
        cr_assert(blitz_stack_canary_ok(s[i]));
    }
    memset(s[5]->lo, 0x55, (size_t)(s[5]->hi - s[5]->lo)); /* use all of it: canary intact */
    cr_assert(blitz_stack_canary_ok(s[5]));
    memset(s[7]->lo - 64, 0x55, 64);     /* overflow below the bottom */
    cr_assert_not(blitz_stack_canary_ok(s[7]));
    *s[7]->canary = BLITZ_STACK_CANARY;
    for (int i = 0; i < 300; i++)
        blitz_stack_put(NULL, s[i]);
}

Test(stack, impossible_sizes_fail_with_eagain)
{
    blitz_stack_setup(64 * 1024, 4096);
    errno = 0;
    cr_assert_null(blitz_stack_get(NULL, (size_t)1 << 46, 4096));
    cr_assert_eq(errno, EAGAIN);
}

Test(stack, user_stack_wraps_memory)
{
    static char mem[64 * 1024] __attribute__((aligned(64)));
    blitz_stack *s = blitz_stack_wrap_user(mem, sizeof mem);
    cr_assert_not_null(s);
    cr_assert_eq(s->kind, BLITZ_STACK_USER);
    cr_assert_eq(s->lo, mem);
    cr_assert((char *)s + BLITZ_STACK_HDR <= mem + sizeof mem);
    cr_assert_null(blitz_stack_wrap_user(mem, 1024), "too small for the header");
}
