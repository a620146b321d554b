#include <errno.h>
#include "rawsys.h"
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "lock.h"

int blitz_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_abs_mono)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_abs_mono) {
        ts.tv_sec = (time_t)(timeout_abs_mono / 1000000000ull);
        ts.tv_nsec = (long)(timeout_abs_mono % 1000000000ull);
        tsp = &ts;
    }
    long r = blitz_syscall(SYS_futex, (long)(addr), (long)(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG), (long)(expected), (long)(tsp), (long)(NULL), (long)(FUTEX_BITSET_MATCH_ANY));
    return r == 0 ? 0 : -1;
}

void blitz_futex_wake(_Atomic uint32_t *addr, int n)
{
    blitz_syscall(SYS_futex, (long)(addr), (long)(FUTEX_WAKE | FUTEX_PRIVATE_FLAG), (long)(n), (long)(NULL), (long)(NULL), (long)(0));
}

void blitz_lock_slow(blitz_lock *l)
{
    for (int spin = 0; spin < 100; spin++) {
        uint32_t c = 0;
        if (atomic_compare_exchange_weak_explicit(&l->v, &c, 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return;
        __builtin_ia32_pause();
    }
    int saved = errno;
    while (atomic_exchange_explicit(&l->v, 2, memory_order_acquire) != 0)
        blitz_futex_wait(&l->v, 2, 0);
    errno = saved;
}

void blitz_lock_wake(blitz_lock *l)
{
    int saved = errno;
    blitz_futex_wake(&l->v, 1);
    errno = saved;
}
