/* Cancellation, pthread_exit unwinding and the cleanup-handler entry points.
 *
 * pthread_exit and acted-on cancellations unwind the task's stack with
 * _Unwind_ForcedUnwind, as NPTL does, so C++ destructors and -fexceptions cleanups run.
 * Plain C cleanup handlers (pthread_cleanup_push without -fexceptions) register a setjmp
 * buffer through __pthread_register_cancel; the stop function jumps into the innermost one
 * when the unwinding reaches its frame, and __pthread_unwind_next resumes from there.
 * Cancellation is deferred: it is acted on at the shim's cancellation points (sleeps,
 * joins, pthread_testcancel, and the later families' blocking calls). */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "real.h"
#include "thread_state.h"
#include "waiter.h"

/* glibc's private view of __pthread_unwind_buf_t (pthread.h only exposes padding). */
struct unwind_buf {
    struct {
        long jmp_buf[8];
        int mask_was_saved;
    } cancel_jmp_buf[1];
    union {
        void *pad[4];
        struct {
            struct unwind_buf *prev;
            void *cleanup;
            int canceltype;
        } data;
    } priv;
};
_Static_assert(sizeof(struct unwind_buf) == sizeof(__pthread_unwind_buf_t), "unwind buf layout");

/* The stack pointer saved in a jmp_buf, demangled as glibc's PTR_DEMANGLE does on x86-64
 * (rotate right 17, xor with the pointer guard at %fs:0x30, identical in every thread). */
static uintptr_t jmpbuf_sp(const struct unwind_buf *b)
{
    uintptr_t v = (uintptr_t)b->cancel_jmp_buf[0].jmp_buf[6], guard;
    __asm__("movq %%fs:0x30, %0" : "=r"(guard));
    v = (v >> 17) | (v << 47);
    return v ^ guard;
}

static _Unwind_Reason_Code unwind_stop(int version, _Unwind_Action actions,
                                       _Unwind_Exception_Class cls,
                                       struct _Unwind_Exception *exc,
                                       struct _Unwind_Context *ctx, void *param)
{
    blitz_task *t = param;
    shim_thread *st = shim_of(t);
    struct unwind_buf *buf = st->cleanup_buf;
    if (buf) {
        uintptr_t sp = jmpbuf_sp(buf);
        /* Sanity: a mangled value we cannot read falls back to the buffer's own address. */
        if (sp < (uintptr_t)t->stack->lo || sp > (uintptr_t)t->stack->hi)
            sp = (uintptr_t)buf;
        if ((actions & _UA_END_OF_STACK) || _Unwind_GetCFA(ctx) >= sp) {
            /* The buffer is the short jmp_buf glibc's macros hand to __sigsetjmp (no signal
             * mask saved), so longjmp reads only its first part. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"
            longjmp((struct __jmp_buf_tag *)(void *)buf->cancel_jmp_buf, 1);
#pragma GCC diagnostic pop
        }
    }
    if (actions & _UA_END_OF_STACK)
        blitz_task_exit(t->retval);
    return _URC_NO_REASON;
}

static void unwind_cleanup(_Unwind_Reason_Code code, struct _Unwind_Exception *exc)
{
    /* Someone caught the forced unwinding and did not rethrow it: NPTL aborts too. */
    static const char msg[] = "FATAL: exception not rethrown\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    abort();
}

static __attribute__((noreturn)) void unwind(blitz_task *t)
{
    shim_thread *st = shim_of(t);
    memset(&st->exc, 0, sizeof st->exc);
    memcpy(&st->exc.exception_class, "BLTZCANC", 8);
    st->exc.exception_cleanup = unwind_cleanup;
    _Unwind_ForcedUnwind(&st->exc, unwind_stop, t);
    /* No unwind information: end the task without running cleanups, as NPTL would abort;
     * ending is the gentler of the two and keeps the process alive. */
    blitz_task_exit(t->retval);
}

void shim_unwind_exit(blitz_task *t, void *retval)
{
    shim_thread *st = shim_of(t);
    st->exiting = 1;
    st->cancel_disabled = 1;
    atomic_fetch_and(&st->intr, ~SHIM_INTR_CANCEL);
    t->retval = retval;
    unwind(t);
}

/* The CANCEL bit of `intr` is set while a cancellation is pending and enabled. A canceller
 * racing with pthread_setcancelstate(DISABLE) may leave it set while disabled: a wait then
 * ends early once and shim_testcancel clears it. */
const _Atomic int *shim_cancel_flag(blitz_task *t) { return &shim_of(t)->intr; }

void shim_testcancel(blitz_task *t)
{
    shim_thread *st = shim_of(t);
    if (!st->cancel_disabled && !st->exiting && atomic_load(&st->cancel_pending))
        shim_unwind_exit(t, PTHREAD_CANCELED);
    if (atomic_load_explicit(&st->intr, memory_order_relaxed) & SHIM_INTR_CANCEL)
        atomic_fetch_and(&st->intr, ~SHIM_INTR_CANCEL);
}

BLITZ_EXPORT void pthread_exit(void *retval)
{
    blitz_task *t = shim_task();
    if (!t)
        REAL(pthread_exit)(retval);
    shim_unwind_exit(t, retval);
}

BLITZ_EXPORT int pthread_cancel(pthread_t th)
{
    int freed;
    blitz_task *t = blitz_task_from_handle((uintptr_t)th, &freed);
    if (!t)
        return freed ? ESRCH : REAL(pthread_cancel)(th);
    shim_thread *st = shim_of(t);
    atomic_store(&st->cancel_pending, 1);
    if (!st->cancel_disabled)
        atomic_fetch_or(&st->intr, SHIM_INTR_CANCEL);
    if (t == shim_task()) {
        if (st->cancel_async)
            shim_testcancel(t);
        return 0;
    }
    /* If it waits at a cancellation point, end the wait; it acts on the flag itself. */
    blitz_task_interrupt(t);
    return 0;
}

BLITZ_EXPORT int pthread_setcancelstate(int state, int *old)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(pthread_setcancelstate)(state, old);
    if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE)
        return EINVAL;
    shim_thread *st = shim_of(t);
    if (old)
        *old = st->cancel_disabled ? PTHREAD_CANCEL_DISABLE : PTHREAD_CANCEL_ENABLE;
    st->cancel_disabled = state == PTHREAD_CANCEL_DISABLE;
    if (st->cancel_disabled)
        atomic_fetch_and(&st->intr, ~SHIM_INTR_CANCEL);
    else if (atomic_load(&st->cancel_pending) && !st->exiting)
        atomic_fetch_or(&st->intr, SHIM_INTR_CANCEL);
    if (!st->cancel_disabled && st->cancel_async)
        shim_testcancel(t);
    return 0;
}

BLITZ_EXPORT int pthread_setcanceltype(int type, int *old)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(pthread_setcanceltype)(type, old);
    if (type != PTHREAD_CANCEL_DEFERRED && type != PTHREAD_CANCEL_ASYNCHRONOUS)
        return EINVAL;
    shim_thread *st = shim_of(t);
    if (old)
        *old = st->cancel_async ? PTHREAD_CANCEL_ASYNCHRONOUS : PTHREAD_CANCEL_DEFERRED;
    st->cancel_async = type == PTHREAD_CANCEL_ASYNCHRONOUS;
    if (st->cancel_async)
        shim_testcancel(t);
    return 0;
}

BLITZ_EXPORT void pthread_testcancel(void)
{
    blitz_task *t = shim_task();
    if (!t) {
        REAL(pthread_testcancel)();
        return;
    }
    shim_testcancel(t);
}

/* The entry points glibc's pthread_cleanup_push/pop macros call (plain C, no -fexceptions). */
BLITZ_EXPORT void __pthread_register_cancel(__pthread_unwind_buf_t *b)
{
    blitz_task *t = shim_task();
    if (!t) {
        REAL(__pthread_register_cancel)(b);
        return;
    }
    struct unwind_buf *buf = (struct unwind_buf *)b;
    shim_thread *st = shim_of(t);
    buf->priv.data.prev = st->cleanup_buf;
    buf->priv.data.cleanup = NULL;
    buf->priv.data.canceltype = 0;
    st->cleanup_buf = buf;
}

BLITZ_EXPORT void __pthread_unregister_cancel(__pthread_unwind_buf_t *b)
{
    blitz_task *t = shim_task();
    if (!t) {
        REAL(__pthread_unregister_cancel)(b);
        return;
    }
    shim_of(t)->cleanup_buf = ((struct unwind_buf *)b)->priv.data.prev;
}

BLITZ_EXPORT void __pthread_unwind_next(__pthread_unwind_buf_t *b)
{
    blitz_task *t = shim_task();
    if (!t) {
        REAL(__pthread_unwind_next)(b);
        __builtin_unreachable();
    }
    shim_of(t)->cleanup_buf = ((struct unwind_buf *)b)->priv.data.prev;
    unwind(t);
}

/* pthread_cleanup_push_defer_np / pop_restore_np: as the plain pair, and the cancellation type
 * is deferred while the handler is pushed, restored when it is popped. */
BLITZ_EXPORT void __pthread_register_cancel_defer(__pthread_unwind_buf_t *b)
{
    blitz_task *t = shim_task();
    if (!t) {
        REAL(__pthread_register_cancel_defer)(b);
        return;
    }
    __pthread_register_cancel(b);
    shim_thread *st = shim_of(t);
    ((struct unwind_buf *)b)->priv.data.canceltype = st->cancel_async;
    st->cancel_async = 0;
}

BLITZ_EXPORT void __pthread_unregister_cancel_restore(__pthread_unwind_buf_t *b)
{
    blitz_task *t = shim_task();
    if (!t) {
        REAL(__pthread_unregister_cancel_restore)(b);
        return;
    }
    __pthread_unregister_cancel(b);
    shim_thread *st = shim_of(t);
    st->cancel_async = ((struct unwind_buf *)b)->priv.data.canceltype;
    if (st->cancel_async)
        shim_testcancel(t);
}
