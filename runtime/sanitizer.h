/* Fiber annotations for ASan/TSan builds of the runtime's unit tests: without them the
 * sanitizers lose track of which stack is live after a context switch. Empty otherwise. */
#ifndef BLITZ_SANITIZER_H
#define BLITZ_SANITIZER_H
#include <stddef.h>

#if defined(BLITZ_SANITIZE_address)
#include <sanitizer/common_interface_defs.h>
#define BLITZ_ASAN 1
#endif
#if defined(BLITZ_SANITIZE_thread)
#include <sanitizer/tsan_interface.h>
#define BLITZ_TSAN 1
#endif

typedef struct blitz_san {
    void *fiber;      /* TSan fiber of this context */
    void *fake_stack; /* ASan fake stack saved while switched out */
    const void *bottom;
    size_t size;
} blitz_san;

/* Call right before switching from `self` to the context described by `to`; dying: self will
 * never be resumed. */
static inline void blitz_san_before(blitz_san *self, blitz_san *to, int dying)
{
#ifdef BLITZ_ASAN
    __sanitizer_start_switch_fiber(dying ? NULL : &self->fake_stack, to->bottom, to->size);
#endif
#ifdef BLITZ_TSAN
    __tsan_switch_to_fiber(to->fiber, 0);
#endif
    (void)self; (void)to; (void)dying;
}

/* Call right after a switch returned into `self`; `from` learns its stack bounds. */
static inline void blitz_san_after(blitz_san *self, blitz_san *from)
{
#ifdef BLITZ_ASAN
    const void *b; size_t s;
    __sanitizer_finish_switch_fiber(self->fake_stack, &b, &s);
    if (from) { from->bottom = b; from->size = s; }
#endif
    (void)self; (void)from;
}

static inline void *blitz_san_fiber_create(void)
{
#ifdef BLITZ_TSAN
    return __tsan_create_fiber(0);
#else
    return NULL;
#endif
}
static inline void blitz_san_fiber_destroy(void *f)
{
#ifdef BLITZ_TSAN
    if (f) __tsan_destroy_fiber(f);
#endif
    (void)f;
}
static inline void *blitz_san_fiber_current(void)
{
#ifdef BLITZ_TSAN
    return __tsan_get_current_fiber();
#else
    return NULL;
#endif
}
#endif
