#include <stdlib.h>
#include "rawsys.h"
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "clock.h"
#include "sync.h"
#include "waiter.h"

int shim_sync_native;

__attribute__((constructor(101))) static void read_disable(void)
{
    const char *v = getenv("BLITZ_DISABLE");
    shim_sync_native = v && strcmp(v, "1") == 0;
}

static __thread int t_tid;

int shim_owner_id_slow(void)
{
    blitz_task *t = shim_task();
    if (t)
        return shim_of(t)->owner_id = (int)(0x20000000u | (t->stack->serial & 0x0fffffffu));
    if (!t_tid)
        t_tid = (int)blitz_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0);
    return t_tid;
}

void shim_owner_fork_child(void)
{
    int tid = (int)blitz_syscall(SYS_gettid, 0, 0, 0, 0, 0, 0);
    blitz_task *t = shim_task();
    if (t)
        shim_of(t)->owner_id = tid;
    else
        t_tid = tid;
}

int shim_deadline(clockid_t clk, const struct timespec *ts, uint64_t *deadline)
{
    if (!ts || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L)
        return EINVAL;
    if (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC)
        return EINVAL;
    if (ts->tv_sec < 0) {
        *deadline = 1;
        return 0;
    }
    uint64_t want = blitz_ts_to_ns(ts);
    if (clk == CLOCK_MONOTONIC) {
        *deadline = want ? want : 1;
        return 0;
    }
    uint64_t now = blitz_clock_ns(clk), mono = blitz_now_ns();
    *deadline = want <= now ? 1 : mono + (want - now);
    return 0;
}

int shim_deadline_passed(clockid_t clk, const struct timespec *ts)
{
    return ts->tv_sec < 0 || blitz_clock_ns(clk) >= blitz_ts_to_ns(ts);
}

int shim_poll_until(int (*try)(void *obj), void *obj, uint64_t deadline, int how)
{
    blitz_task *t = shim_task();
    shim_thread *st = shim_of(t);
    /* A handler may also run on the task while it runs between two sleeps (the signal then
     * reaches its worker directly): counted, it ends a semaphore wait as one that
     * interrupted the sleep would (any handler a timed one, as the kernel does). */
    unsigned ran0 = atomic_load(deadline ? &st->handled : &st->handled_eintr);
    uint64_t nap = 20000; /* 20 us, doubling to 1 ms */
    int outer = atomic_exchange(&st->polling, 1), rc;
    for (;;) {
        rc = try(obj);
        if (rc != EBUSY && rc != EAGAIN)
            break;
        uint64_t now = blitz_now_ns();
        if (deadline && now >= deadline) {
            rc = ETIMEDOUT;
            break;
        }
        uint64_t until = now + nap;
        if (deadline && until > deadline)
            until = deadline;
        const _Atomic int *intr = how == SHIM_POLL_SEM ? shim_cancel_flag(t) : shim_signal_flag(t);
        if (blitz_sleep_until(until, intr) == BLITZ_W_INTERRUPTED) {
            if (how == SHIM_POLL_LOCK) {
                shim_signals_run(t);
                continue;
            }
            atomic_store(&st->polling, outer); /* a cancellation unwinds from here */
            int sig = shim_interrupted(t);
            atomic_store(&st->polling, 1);
            if (shim_sig_ends_wait(sig, !deadline)) {
                rc = EINTR;
                break;
            }
            continue;
        }
        if (how == SHIM_POLL_SEM &&
            atomic_load(deadline ? &st->handled : &st->handled_eintr) != ran0) {
            rc = EINTR;
            break;
        }
        if (nap < 1000000)
            nap *= 2;
    }
    atomic_store(&st->polling, outer);
    /* A signal handed to it between two looks (a process-directed one it alone accepts):
     * the handler runs before the call returns, as it would on return from a system call. */
    shim_signals_run(t);
    return rc;
}
