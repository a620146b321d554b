/* The real libc functions behind every interposed symbol, resolved once with
 * dlsym(RTLD_NEXT). Resolution is lazy (an interposed call may arrive from another library's
 * constructor before ours runs) and guarded against recursion.
 * Thread-safety: blitz_real_init may race from several threads; each resolves the same
 * values and the last store wins harmlessly. */
#ifndef BLITZ_REAL_H
#define BLITZ_REAL_H
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define BLITZ_REAL_FUNCS(X)                                                                   \
    X(int, pthread_create, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))  \
    X(int, pthread_join, (pthread_t, void **))                                                \
    X(int, pthread_tryjoin_np, (pthread_t, void **))                                          \
    X(int, pthread_timedjoin_np, (pthread_t, void **, const struct timespec *))               \
    X(int, pthread_clockjoin_np, (pthread_t, void **, clockid_t, const struct timespec *))    \
    X(int, pthread_detach, (pthread_t))                                                       \
    X(void, pthread_exit, (void *))                                                           \
    X(pthread_t, pthread_self, (void))                                                        \
    X(int, pthread_getattr_np, (pthread_t, pthread_attr_t *))                                 \
    X(int, pthread_setname_np, (pthread_t, const char *))                                     \
    X(int, pthread_getname_np, (pthread_t, char *, size_t))                                   \
    X(int, pthread_setschedparam, (pthread_t, int, const struct sched_param *))               \
    X(int, pthread_getschedparam, (pthread_t, int *, struct sched_param *))                   \
    X(int, pthread_setschedprio, (pthread_t, int))                                            \
    X(int, pthread_getcpuclockid, (pthread_t, clockid_t *))                                   \
    X(int, pthread_setaffinity_np, (pthread_t, size_t, const cpu_set_t *))                    \
    X(int, pthread_getaffinity_np, (pthread_t, size_t, cpu_set_t *))                          \
    X(int, pthread_kill, (pthread_t, int))                                                    \
    X(int, pthread_sigqueue, (pthread_t, int, const union sigval))                            \
    X(int, pthread_cancel, (pthread_t))                                                       \
    X(int, pthread_setcancelstate, (int, int *))                                              \
    X(int, pthread_setcanceltype, (int, int *))                                               \
    X(void, pthread_testcancel, (void))                                                       \
    X(int, pthread_once, (pthread_once_t *, void (*)(void)))                                  \
    X(int, pthread_key_create, (pthread_key_t *, void (*)(void *)))                           \
    X(int, pthread_key_delete, (pthread_key_t))                                               \
    X(void *, pthread_getspecific, (pthread_key_t))                                           \
    X(int, pthread_setspecific, (pthread_key_t, const void *))                                \
    X(int, pthread_setattr_default_np, (const pthread_attr_t *))                              \
    X(int, sched_yield, (void))                                                               \
    X(int, nanosleep, (const struct timespec *, struct timespec *))                           \
    X(int, clock_nanosleep, (clockid_t, int, const struct timespec *, struct timespec *))     \
    X(int, usleep, (useconds_t))                                                              \
    X(unsigned, sleep, (unsigned))                                                            \
    X(pid_t, fork, (void))                                                                    \
    X(void, __pthread_register_cancel, (void *))                                              \
    X(void, __pthread_unregister_cancel, (void *))                                            \
    X(void, __pthread_unwind_next, (void *))                                                  \
    X(void, __pthread_register_cancel_defer, (void *))                                        \
    X(void, __pthread_unregister_cancel_restore, (void *))

typedef struct blitz_real {
#define BLITZ_REAL_FIELD(ret, name, args) ret(*name) args;
    BLITZ_REAL_FUNCS(BLITZ_REAL_FIELD)
#undef BLITZ_REAL_FIELD
    int ready;
} blitz_real_t;

extern blitz_real_t blitz_real;

void blitz_real_init(void);

/* The real function `name`, resolving everything on first use. */
#define REAL(name) (__builtin_expect(blitz_real.ready, 1) ? (void)0 : blitz_real_init(), blitz_real.name)

#define BLITZ_EXPORT __attribute__((visibility("default")))
#endif
