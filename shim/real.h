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
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

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
    X(int, sigaction, (int, const struct sigaction *, struct sigaction *))                    \
    X(int, pthread_sigmask, (int, const sigset_t *, sigset_t *))                              \
    X(int, sigprocmask, (int, const sigset_t *, sigset_t *))                                  \
    X(__sighandler_t, signal, (int, __sighandler_t))                                          \
    X(__sighandler_t, sysv_signal, (int, __sighandler_t))                                     \
    X(int, siginterrupt, (int, int))                                                          \
    X(int, sigwait, (const sigset_t *, int *))                                                \
    X(int, sigwaitinfo, (const sigset_t *, siginfo_t *))                                      \
    X(int, sigtimedwait, (const sigset_t *, siginfo_t *, const struct timespec *))            \
    X(int, sigpending, (sigset_t *))                                                          \
    X(int, sigsuspend, (const sigset_t *))                                                    \
    X(int, pause, (void))                                                                     \
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
    X(void, call_once, (once_flag *, void (*)(void)))                                         \
    X(ssize_t, read, (int, void *, size_t))                                                   \
    X(ssize_t, write, (int, const void *, size_t))                                            \
    X(ssize_t, readv, (int, const struct iovec *, int))                                       \
    X(ssize_t, writev, (int, const struct iovec *, int))                                      \
    X(ssize_t, recv, (int, void *, size_t, int))                                              \
    X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *))          \
    X(ssize_t, recvmsg, (int, struct msghdr *, int))                                          \
    X(int, recvmmsg, (int, struct mmsghdr *, unsigned, int, struct timespec *))               \
    X(ssize_t, send, (int, const void *, size_t, int))                                        \
    X(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t))  \
    X(ssize_t, sendmsg, (int, const struct msghdr *, int))                                    \
    X(int, sendmmsg, (int, struct mmsghdr *, unsigned, int))                                  \
    X(ssize_t, sendfile, (int, int, off_t *, size_t))                                         \
    X(ssize_t, sendfile64, (int, int, off64_t *, size_t))                                     \
    X(int, socket, (int, int, int))                                                           \
    X(int, socketpair, (int, int, int, int *))                                                \
    X(int, pipe, (int *))                                                                     \
    X(int, pipe2, (int *, int))                                                               \
    X(int, accept, (int, struct sockaddr *, socklen_t *))                                     \
    X(int, accept4, (int, struct sockaddr *, socklen_t *, int))                               \
    X(int, connect, (int, const struct sockaddr *, socklen_t))                                \
    X(int, shutdown, (int, int))                                                              \
    X(int, setsockopt, (int, int, int, const void *, socklen_t))                              \
    X(int, poll, (struct pollfd *, nfds_t, int))                                              \
    X(int, ppoll, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))       \
    X(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *))                     \
    X(int, pselect, (int, fd_set *, fd_set *, fd_set *, const struct timespec *,              \
                     const sigset_t *))                                                       \
    X(int, epoll_wait, (int, struct epoll_event *, int, int))                                 \
    X(int, epoll_pwait, (int, struct epoll_event *, int, int, const sigset_t *))              \
    X(int, epoll_pwait2, (int, struct epoll_event *, int, const struct timespec *,            \
                          const sigset_t *))                                                  \
    X(int, close, (int))                                                                      \
    X(int, close_range, (unsigned, unsigned, int))                                            \
    X(void, closefrom, (int))                                                                 \
    X(int, fclose, (FILE *))                                                                  \
    X(int, dup, (int))                                                                        \
    X(int, dup2, (int, int))                                                                  \
    X(int, dup3, (int, int, int))                                                             \
    X(int, fcntl, (int, int, ...))                                                            \
    X(int, fcntl64, (int, int, ...))                                                          \
    X(int, ioctl, (int, unsigned long, ...))                                                  \
    X(int, eventfd, (unsigned, int))                                                          \
    X(int, timerfd_create, (int, int))                                                        \
    X(int, signalfd, (int, const sigset_t *, int))                                            \
    X(int, epoll_create, (int))                                                               \
    X(int, epoll_create1, (int))                                                              \
    X(int, inotify_init, (void))                                                              \
    X(int, inotify_init1, (int))                                                              \
    X(ssize_t, __read_chk, (int, void *, size_t, size_t))                                     \
    X(ssize_t, __recv_chk, (int, void *, size_t, size_t, int))                                \
    X(ssize_t, __recvfrom_chk, (int, void *, size_t, size_t, int, struct sockaddr *,          \
                                socklen_t *))                                                 \
    X(int, __poll_chk, (struct pollfd *, nfds_t, int, size_t))                                \
    X(int, __ppoll_chk, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *,  \
                         size_t))

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
