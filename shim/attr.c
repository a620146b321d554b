/* pthread_attr_t is read through the real accessor functions, except one fact they cannot
 * tell: whether the program set a stack size at all (pthread_attr_getstacksize reports
 * glibc's default for "unset"), and whether it gave a stack. For those we read glibc's
 * stackaddr and stacksize fields (offsets 24 and 32 in glibc 2.x on x86-64), after checking
 * the layout once at start-up; if the check fails we fall back to the accessors and treat
 * every size as explicit. */
#include <signal.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include "attr.h"
#include "real.h"

#define GLIBC_ATTR_STACKADDR_OFF 24 /* glibc keeps the top of a user stack here */
#define GLIBC_ATTR_STACKSIZE_OFF 32
static int g_layout_ok = -1;
static _Atomic size_t g_default_stack;

void shim_attr_check_layout(void)
{
    pthread_attr_t a;
    static char probe_stack[1];
    size_t probe = 3 * 1024 * 1024 + 4096, v0, v1;
    uintptr_t a0, a1;
    pthread_attr_init(&a);
    memcpy(&v0, (char *)&a + GLIBC_ATTR_STACKSIZE_OFF, sizeof v0);
    memcpy(&a0, (char *)&a + GLIBC_ATTR_STACKADDR_OFF, sizeof a0);
    pthread_attr_setstack(&a, probe_stack, probe);
    memcpy(&v1, (char *)&a + GLIBC_ATTR_STACKSIZE_OFF, sizeof v1);
    memcpy(&a1, (char *)&a + GLIBC_ATTR_STACKADDR_OFF, sizeof a1);
    pthread_attr_destroy(&a);
    g_layout_ok = v0 == 0 && v1 == probe && a0 == 0 && a1 == (uintptr_t)probe_stack + probe;
}

size_t shim_default_stack_size(void) { return atomic_load_explicit(&g_default_stack, memory_order_relaxed); }
void shim_set_default_stack_size(size_t s) { atomic_store_explicit(&g_default_stack, s, memory_order_relaxed); }

int shim_attr_to_spawn(const pthread_attr_t *attr, blitz_spawn_attr *out)
{
    out->stack_size = shim_default_stack_size();
    out->guard_size = (size_t)-1;
    out->stack_addr = NULL;
    out->detached = 0;
    out->prepare = NULL;
    out->adopt_tp = NULL;
    if (!attr)
        return 0;
    int ds;
    if (pthread_attr_getdetachstate(attr, &ds) == 0)
        out->detached = ds == PTHREAD_CREATE_DETACHED;
    size_t guard;
    if (pthread_attr_getguardsize(attr, &guard) == 0)
        out->guard_size = guard;
    void *addr = NULL;
    size_t size = 0;
    uintptr_t top = 0;
    if (g_layout_ok == 1) {
        memcpy(&top, (const char *)attr + GLIBC_ATTR_STACKADDR_OFF, sizeof top);
    } else if (pthread_attr_getstack(attr, &addr, &size) == 0) {
        top = (uintptr_t)addr + size; /* 0 when no stack was given */
    }
    if (top) {
        if (pthread_attr_getstack(attr, &addr, &size) != 0)
            return EINVAL;
        out->stack_addr = addr;
        out->stack_size = size;
        return 0;
    }
    size_t raw = 0;
    if (g_layout_ok == 1) {
        memcpy(&raw, (const char *)attr + GLIBC_ATTR_STACKSIZE_OFF, sizeof raw);
    } else if (pthread_attr_getstacksize(attr, &size) == 0) {
        raw = size;
    }
    if (raw)
        out->stack_size = raw;
    return 0;
}

static _Atomic int g_default_has_mask;

BLITZ_EXPORT int pthread_setattr_default_np(const pthread_attr_t *attr)
{
    int rc = REAL(pthread_setattr_default_np)(attr);
    size_t size;
    sigset_t set;
    if (rc == 0 && pthread_attr_getstacksize(attr, &size) == 0 && size)
        shim_set_default_stack_size(size);
    if (rc == 0)
        atomic_store(&g_default_has_mask, pthread_attr_getsigmask_np(attr, &set) == 0);
    return rc;
}

int shim_default_sigmask(sigset_t *set)
{
    if (!atomic_load_explicit(&g_default_has_mask, memory_order_relaxed))
        return 0;
    pthread_attr_t def;
    if (pthread_getattr_default_np(&def) != 0)
        return 0;
    int got = pthread_attr_getsigmask_np(&def, set) == 0;
    pthread_attr_destroy(&def);
    return got;
}
