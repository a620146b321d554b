/* pthread_once with glibc's encoding of the control word (0: not run, 1 | fork generation:
 * running, 2: done), so tasks and plain threads can share a control. A task that finds the
 * routine running elsewhere backs off with yields and short sleeps instead of blocking its
 * worker. If the routine is cancelled, the control returns to 0 and waiters compete again;
 * a routine that was running in a thread that did not survive a fork counts as not run, as
 * in NPTL (the generation in the word is not the child's). */
#include <limits.h>
#include "clock.h"
#include "lock.h"
#include "real.h"
#include "scheduler.h"
#include "thread_state.h"
#include "waiter.h"

#define ONCE_RUNNING 1u
#define ONCE_DONE 2u
#define ONCE_GEN_STEP 4u

/* Bumped in every child of a fork made by a task (see shim_once_fork_child). */
static _Atomic uint32_t g_fork_gen;

void shim_once_fork_child(void)
{
    atomic_fetch_add(&g_fork_gen, ONCE_GEN_STEP);
}

/* Runs only when init() is left by unwinding (cancellation, pthread_exit). */
static void once_reset(_Atomic uint32_t **w)
{
    if (!*w)
        return;
    atomic_store_explicit(*w, 0, memory_order_release);
    blitz_futex_wake(*w, INT_MAX);
}

BLITZ_EXPORT int pthread_once(pthread_once_t *ctl, void (*init)(void))
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(pthread_once)(ctl, init);
    _Atomic uint32_t *w = (_Atomic uint32_t *)ctl;
    uint32_t running = ONCE_RUNNING | atomic_load_explicit(&g_fork_gen, memory_order_relaxed);
    uint64_t nap = 1000;
    for (int round = 0;; round++) {
        uint32_t v = atomic_load_explicit(w, memory_order_acquire);
        if (v & ONCE_DONE)
            return 0;
        /* Free, or left running by a thread of the parent process: ours to run. */
        int stale = (v & ONCE_RUNNING) && (v & ~3u) != (running & ~3u);
        if ((v == 0 || stale) &&
            atomic_compare_exchange_strong_explicit(w, &v, running, memory_order_acquire,
                                                    memory_order_acquire))
            break;
        if (round < 16) {
            blitz_yield();
            shim_signals_run(t); /* a handler runs on the waiting thread, as natively */
        } else {
            if (blitz_sleep_until(blitz_now_ns() + nap, shim_signal_flag(t)) == BLITZ_W_INTERRUPTED)
                shim_signals_run(t);
            if (nap < 1000000)
                nap *= 2;
        }
    }
    {
        _Atomic uint32_t *guard __attribute__((cleanup(once_reset))) = w;
        init();
        atomic_store_explicit(w, ONCE_DONE, memory_order_release);
        blitz_futex_wake(w, INT_MAX); /* plain threads waiting in glibc's pthread_once */
        guard = NULL;
        (void)guard;
    }
    return 0;
}
