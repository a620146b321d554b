#include <errno.h>
#include <string.h>
#include "scheduler.h"
#include "self.h"
#include "task.h"
#include "tls.h"
#include "waiter.h"

__thread struct blitz_task *blitz_tls_self_v __attribute__((tls_model("initial-exec")));
__thread struct blitz_machine *blitz_tls_machine_v __attribute__((tls_model("initial-exec")));

static blitz_task_hooks g_hooks;
/* alive and peak share a line on purpose: both change together on spawn. */
static _Atomic uint64_t g_alive, g_peak, g_next_id;

blitz_task *blitz_self(void) { return blitz_self_inline(); }
void blitz_task_set_hooks(const blitz_task_hooks *h) { g_hooks = *h; }
uint64_t blitz_tasks_alive(void) { return atomic_load_explicit(&g_alive, memory_order_relaxed); }

void blitz_task_counts(uint64_t *spawned, uint64_t *peak)
{
    *spawned = atomic_load_explicit(&g_next_id, memory_order_relaxed);
    *peak = atomic_load_explicit(&g_peak, memory_order_relaxed);
}

void blitz_task_fork_child(blitz_task *self)
{
    /* The other tasks did not come along; joining them from the child is undefined, as for
     * threads. */
    atomic_store(&g_alive, 1);
    self->joiner = NULL;
    atomic_store_explicit(&self->joining, NULL, memory_order_relaxed);
    self->join_lock = (blitz_lock)BLITZ_LOCK_INIT;
    self->intr_lock = (blitz_lock)BLITZ_LOCK_INIT;
}

static void task_main(void *arg)
{
    blitz_task *t = arg;
    blitz_san_after(&t->san, &t->m->san);
    if (t->tp && !t->tls_adopted)
        blitz_tls_task_start();
    if (__builtin_setjmp(t->exit_jb) == 0)
        t->retval = t->fn(t->arg);
    /* Here by return or by blitz_task_exit; locals may not have survived the jump. */
    t = blitz_self();
    /* NPTL's order: thread_local destructors, key destructors, then libc's own state. The
     * main thread's block (root task) is left as NPTL leaves it when main calls pthread_exit:
     * its thread_local objects stay alive for the threads still running. */
    int own_block = t->tp && !t->tls_adopted;
    if (own_block)
        blitz_tls_thread_dtors();
    if (g_hooks.exit_hook)
        g_hooks.exit_hook(t);
    if (own_block)
        blitz_tls_task_exit();
    if (atomic_fetch_sub_explicit(&g_alive, 1, memory_order_acq_rel) == 1 && g_hooks.last_exit)
        g_hooks.last_exit();
    blitz_sched_exit_current();
}

void blitz_task_exit(void *retval)
{
    blitz_task *t = blitz_self();
    t->retval = retval;
    __builtin_longjmp(t->exit_jb, 1);
}

static void release_stack(blitz_stack *s) { blitz_stack_put(blitz_sched_stack_cache(), s); }

blitz_task *blitz_task_spawn(void *(*fn)(void *), void *arg, const blitz_spawn_attr *attr)
{
    blitz_spawn_attr dflt = { 0, (size_t)-1, NULL, 0, NULL, NULL };
    if (!attr)
        attr = &dflt;
    /* Task TLS mode: the thread block sits between the stack and its header, on top of the
     * requested size (user stacks give it up from their top, as under NPTL). */
    size_t area = attr->adopt_tp ? 0 : blitz_tls_area();
    blitz_stack *s;
    if (attr->stack_addr) {
        s = blitz_stack_wrap_user(attr->stack_addr, attr->stack_size);
        if (s && (size_t)(s->hi - s->lo) < area + 2048) {
            errno = EINVAL;
            return NULL;
        }
    } else {
        size_t size = attr->stack_size ? attr->stack_size : blitz_stack_default_size();
        size_t guard = attr->guard_size != (size_t)-1 ? attr->guard_size
                                                     : blitz_stack_default_guard();
        s = blitz_stack_get(blitz_sched_stack_cache(), size + area, guard);
    }
    if (!s)
        return NULL;
    blitz_task *t = blitz_stack_hdr_user(s);
    memset(t, 0, sizeof *t); /* a pooled stack still holds its previous task */
    char *top = s->hi - area;
    if (attr->adopt_tp) {
        t->tp = attr->adopt_tp;
        t->tls_adopted = 1;
        blitz_tls_adopt(t->tp, t);
    } else if (area) {
        char *block = s->lo - s->guard;
        t->tp = blitz_tls_init(s->hi, t, block, (size_t)(s->hi + BLITZ_STACK_HDR - block),
                               s->guard, s->serial);
        if (!t->tp) {
            release_stack(s);
            errno = EAGAIN;
            return NULL;
        }
    }
    t->magic = BLITZ_TASK_MAGIC;
    t->stack = s;
    t->canary = s->canary;
    t->sp_min = (uintptr_t)top;
    t->fn = fn;
    t->arg = arg;
    t->stack_request = attr->stack_addr || attr->stack_size ? attr->stack_size
                                                            : blitz_stack_default_size();
    t->detached = (uint8_t)(attr->detached != 0);
    t->id = atomic_fetch_add_explicit(&g_next_id, 1, memory_order_relaxed) + 1;
    t->san.fiber = blitz_san_fiber_create();
    t->san.bottom = s->lo;
    t->san.size = (size_t)(top - s->lo);
    blitz_ctx_make(&t->ctx, top, task_main, t);
    if (attr->prepare)
        attr->prepare(t, blitz_self());
    uint64_t alive = atomic_fetch_add_explicit(&g_alive, 1, memory_order_relaxed) + 1;
    uint64_t peak = atomic_load_explicit(&g_peak, memory_order_relaxed);
    while (alive > peak && !atomic_compare_exchange_weak_explicit(&g_peak, &peak, alive,
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed)) {
    }
    blitz_sched_submit_new(t);
    return t;
}

blitz_task *blitz_task_from_handle(uintptr_t h, int *freed)
{
    *freed = 0;
    if (!h || (h & 15))
        return NULL;
    uint64_t m = *(volatile uint64_t *)h;
    if (m == BLITZ_TASK_MAGIC)
        return (blitz_task *)h;
    if (m == BLITZ_TASK_FREED)
        *freed = 1;
    return NULL;
}

static void release(blitz_task *t)
{
    t->magic = BLITZ_TASK_FREED;
    if (t->tp && !t->tls_adopted)
        blitz_tls_release(t->tp);
    t->stack->sp_min = t->sp_min; /* tells the pool how deep the stack was used */
    blitz_stack_put(blitz_sched_stack_cache(), t->stack);
}

/* Scheduler context, after t has left its stack for good. */
void blitz_task_finish(blitz_task *t)
{
    blitz_lock_acquire(&t->join_lock);
    __atomic_store_n(&t->done, 1, __ATOMIC_RELEASE); /* read unlocked by tryjoin */
    atomic_store_explicit(&t->state, BLITZ_T_DONE, memory_order_relaxed);
    int detached = t->detached;
    /* Woken under the lock: a joiner that timed out re-takes it before giving up its waiter. */
    if (!detached && t->joiner)
        blitz_waiter_wake(t->joiner, BLITZ_W_WOKEN);
    blitz_lock_release(&t->join_lock);
    if (detached)
        release(t);
}

int blitz_task_join(blitz_task *t, void **retval, int nonblocking, uint64_t deadline,
                    const _Atomic int *intr)
{
    blitz_task *self = blitz_self();
    /* glibc's tryjoin looks at "still running" before anything else. */
    if (nonblocking && !__atomic_load_n(&t->done, __ATOMIC_ACQUIRE))
        return EBUSY;
    if (t == self)
        return EDEADLK;
    blitz_lock_acquire(&t->join_lock);
    if (t->detached || t->joiner || t->joined) {
        blitz_lock_release(&t->join_lock);
        return EINVAL;
    }
    if (!t->done) {
        if (self && atomic_load_explicit(&t->joining, memory_order_relaxed) == self) {
            blitz_lock_release(&t->join_lock);
            return EDEADLK;
        }
        if (nonblocking) {
            blitz_lock_release(&t->join_lock);
            return EBUSY;
        }
        blitz_waiter w;
        blitz_waiter_init(&w);
        t->joiner = &w;
        if (self)
            atomic_store_explicit(&self->joining, t, memory_order_relaxed);
        blitz_lock_release(&t->join_lock);
        uint32_t st = blitz_waiter_wait(&w, deadline, intr);
        blitz_lock_acquire(&t->join_lock);
        if (self)
            atomic_store_explicit(&self->joining, NULL, memory_order_relaxed);
        t->joiner = NULL;
        if (!t->done) {
            blitz_lock_release(&t->join_lock);
            return st == BLITZ_W_INTERRUPTED ? EINTR : ETIMEDOUT;
        }
    }
    t->joined = 1;
    if (retval)
        *retval = t->retval;
    blitz_lock_release(&t->join_lock);
    release(t);
    return 0;
}

int blitz_task_detach(blitz_task *t)
{
    blitz_lock_acquire(&t->join_lock);
    if (t->detached) {
        blitz_lock_release(&t->join_lock);
        return EINVAL;
    }
    if (t->joiner) {
        /* NPTL: detaching a thread somebody joins succeeds and changes nothing. */
        blitz_lock_release(&t->join_lock);
        return 0;
    }
    t->detached = 1;
    int done = t->done;
    blitz_lock_release(&t->join_lock);
    if (done)
        release(t);
    return 0;
}
