/* The real libc functions behind every interposed symbol, resolved once with
 * dlsym(RTLD_NEXT). Resolution is lazy (an interposed call may arrive from another library's
 * constructor before ours runs) and guarded against recursion.
 * Thread-safety: blitz_real_init may race from several threads; each resolves the same
 * values and the last store wins harmlessly. */
#ifndef BLITZ_REAL_H
#define BLITZ_REAL_H
#include <pthread.h>
#include <semaphore.h>
#include <threads.h>
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
    X(void, __pthread_unregister_cancel_restore, (void *))                                   \
    X(int, pthread_mutex_lock, (pthread_mutex_t *))                                           \
    X(int, pthread_mutex_trylock, (pthread_mutex_t *))                                        \
    X(int, pthread_mutex_clocklock, (pthread_mutex_t *, clockid_t, const struct timespec *))  \
    X(int, pthread_mutex_unlock, (pthread_mutex_t *))                                         \
    X(int, pthread_mutex_destroy, (pthread_mutex_t *))                                        \
    X(int, pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *))                          \
    X(int, pthread_cond_timedwait, (pthread_cond_t *, pthread_mutex_t *,                      \
                                    const struct timespec *))                                 \
    X(int, pthread_cond_clockwait, (pthread_cond_t *, pthread_mutex_t *, clockid_t,           \
                                    const struct timespec *))                                 \
    X(int, pthread_cond_signal, (pthread_cond_t *))                                           \
    X(int, pthread_cond_broadcast, (pthread_cond_t *))                                        \
    X(int, pthread_cond_destroy, (pthread_cond_t *))                                          \
    X(int, pthread_rwlock_rdlock, (pthread_rwlock_t *))                                       \
    X(int, pthread_rwlock_tryrdlock, (pthread_rwlock_t *))                                    \
    X(int, pthread_rwlock_clockrdlock, (pthread_rwlock_t *, clockid_t,                        \
                                        const struct timespec *))                             \
    X(int, pthread_rwlock_wrlock, (pthread_rwlock_t *))                                       \
    X(int, pthread_rwlock_trywrlock, (pthread_rwlock_t *))                                    \
    X(int, pthread_rwlock_clockwrlock, (pthread_rwlock_t *, clockid_t,                        \
                                        const struct timespec *))                             \
    X(int, pthread_rwlock_unlock, (pthread_rwlock_t *))                                       \
    X(int, pthread_barrier_init, (pthread_barrier_t *, const pthread_barrierattr_t *,         \
                                  unsigned))                                                  \
    X(int, pthread_barrier_wait, (pthread_barrier_t *))                                       \
    X(int, pthread_barrier_destroy, (pthread_barrier_t *))                                    \
    X(int, pthread_spin_lock, (pthread_spinlock_t *))                                         \
    X(int, pthread_spin_trylock, (pthread_spinlock_t *))                                      \
    X(int, pthread_spin_unlock, (pthread_spinlock_t *))                                       \
    X(int, sem_wait, (sem_t *))                                                               \
    X(int, sem_trywait, (sem_t *))                                                            \
    X(int, sem_clockwait, (sem_t *, clockid_t, const struct timespec *))                      \
    X(int, sem_post, (sem_t *))                                                               \
    X(int, sem_getvalue, (sem_t *, int *))                                                    \
    X(int, thrd_create, (thrd_t *, thrd_start_t, void *))                                     \
    X(int, thrd_join, (thrd_t, int *))                                                        \
    X(int, thrd_detach, (thrd_t))                                                             \
    X(thrd_t, thrd_current, (void))                                                           \
    X(void, thrd_exit, (int))                                                                 \
    X(int, thrd_sleep, (const struct timespec *, struct timespec *))                          \
    X(void, thrd_yield, (void))                                                               \
    X(int, mtx_init, (mtx_t *, int))                                                          \
    X(int, mtx_lock, (mtx_t *))                                                               \
    X(int, mtx_timedlock, (mtx_t *, const struct timespec *))                                 \
    X(int, mtx_trylock, (mtx_t *))                                                            \
    X(int, mtx_unlock, (mtx_t *))                                                             \
    X(void, mtx_destroy, (mtx_t *))                                                           \
    X(int, cnd_init, (cnd_t *))                                                               \
    X(int, cnd_signal, (cnd_t *))                                                             \
    X(int, cnd_broadcast, (cnd_t *))                                                          \
    X(int, cnd_wait, (cnd_t *, mtx_t *))                                                      \
    X(int, cnd_timedwait, (cnd_t *, mtx_t *, const struct timespec *))                        \
    X(void, cnd_destroy, (cnd_t *))                                                           \
    X(int, tss_create, (tss_t *, tss_dtor_t))                                                 \
    X(void *, tss_get, (tss_t))                                                               \
    X(int, tss_set, (tss_t, void *))                                                          \
    X(void, tss_delete, (tss_t))                                                              \
    X(void, call_once, (once_flag *, void (*)(void)))

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
