/* System calls without libc's syscall(): the shim interposes syscall() (for futex waits of
 * libraries such as libstdc++), so the runtime and the shim must not call it by name. */
#ifndef BLITZ_RAWSYS_H
#define BLITZ_RAWSYS_H
#include <errno.h>

static inline long blitz_raw_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

/* Same convention as syscall(3): -1 with errno set on failure. */
static inline long blitz_syscall(long n, long a, long b, long c, long d, long e, long f)
{
    long r = blitz_raw_syscall6(n, a, b, c, d, e, f);
    if ((unsigned long)r > -4096UL) {
        errno = (int)-r;
        return -1;
    }
    return r;
}
#endif
