/* C11 threads. glibc implements them on its internal pthread functions, which the shim cannot
 * interpose, so each gets its own entry point here, built on the interposed pthread ones
 * (a C11 thread is then a green task, and its mutexes and condition variables park it). The
 * C11 types share the pthread layouts in glibc. With BLITZ_DISABLE=1 every call is libc's. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>
#include "real.h"
#include "sync.h"

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is a pthread mutex");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is a pthread condvar");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is a pthread_once_t");

static int thrd_err(int rc)
{
    switch (rc) {
    case 0: return thrd_success;
    case EBUSY: return thrd_busy;
    case ETIMEDOUT: return thrd_timedout;
    case ENOMEM: return thrd_nomem;
    default: return thrd_error;
    }
}

#define NATIVE(call) \
    do { if (shim_sync_native) return call; } while (0)

struct start {
    thrd_start_t fn;
    void *arg;
};

static void *c11_start(void *p)
{
    struct start s = *(struct start *)p;
    free(p);
    return (void *)(intptr_t)s.fn(s.arg);
}

BLITZ_EXPORT int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    NATIVE(REAL(thrd_create)(thr, fn, arg));
    struct start *s = malloc(sizeof *s);
    if (!s)
        return thrd_nomem;
    s->fn = fn;
    s->arg = arg;
    int rc = pthread_create((pthread_t *)thr, NULL, c11_start, s);
    if (rc)
        free(s);
    return rc == EAGAIN ? thrd_nomem : thrd_err(rc);
}

BLITZ_EXPORT int thrd_join(thrd_t thr, int *res)
{
    NATIVE(REAL(thrd_join)(thr, res));
    void *r;
    int rc = pthread_join((pthread_t)thr, &r);
    if (rc == 0 && res)
        *res = (int)(intptr_t)r;
    return thrd_err(rc);
}

BLITZ_EXPORT int thrd_detach(thrd_t thr)
{
    NATIVE(REAL(thrd_detach)(thr));
    return thrd_err(pthread_detach((pthread_t)thr));
}

BLITZ_EXPORT thrd_t thrd_current(void)
{
    NATIVE(REAL(thrd_current)());
    return (thrd_t)pthread_self();
}

BLITZ_EXPORT int thrd_equal(thrd_t a, thrd_t b) { return a == b; }

BLITZ_EXPORT _Noreturn void thrd_exit(int res)
{
    if (shim_sync_native)
        REAL(thrd_exit)(res);
    pthread_exit((void *)(intptr_t)res);
}

BLITZ_EXPORT int thrd_sleep(const struct timespec *d, struct timespec *rem)
{
    NATIVE(REAL(thrd_sleep)(d, rem));
    if (nanosleep(d, rem) == 0)
        return 0;
    return errno == EINTR ? -1 : -2;
}

BLITZ_EXPORT void thrd_yield(void)
{
    if (shim_sync_native) {
        REAL(thrd_yield)();
        return;
    }
    sched_yield();
}

BLITZ_EXPORT int mtx_init(mtx_t *m, int type)
{
    NATIVE(REAL(mtx_init)(m, type));
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return thrd_err(rc);
}

BLITZ_EXPORT int mtx_lock(mtx_t *m)
{
    NATIVE(REAL(mtx_lock)(m));
    return thrd_err(pthread_mutex_lock((pthread_mutex_t *)m));
}

BLITZ_EXPORT int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
    NATIVE(REAL(mtx_timedlock)(m, ts));
    return thrd_err(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

BLITZ_EXPORT int mtx_trylock(mtx_t *m)
{
    NATIVE(REAL(mtx_trylock)(m));
    return thrd_err(pthread_mutex_trylock((pthread_mutex_t *)m));
}

BLITZ_EXPORT int mtx_unlock(mtx_t *m)
{
    NATIVE(REAL(mtx_unlock)(m));
    return thrd_err(pthread_mutex_unlock((pthread_mutex_t *)m));
}

BLITZ_EXPORT void mtx_destroy(mtx_t *m)
{
    if (shim_sync_native) {
        REAL(mtx_destroy)(m);
        return;
    }
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

BLITZ_EXPORT int cnd_init(cnd_t *c)
{
    NATIVE(REAL(cnd_init)(c));
    return thrd_err(pthread_cond_init((pthread_cond_t *)c, NULL));
}

BLITZ_EXPORT int cnd_signal(cnd_t *c)
{
    NATIVE(REAL(cnd_signal)(c));
    return thrd_err(pthread_cond_signal((pthread_cond_t *)c));
}

BLITZ_EXPORT int cnd_broadcast(cnd_t *c)
{
    NATIVE(REAL(cnd_broadcast)(c));
    return thrd_err(pthread_cond_broadcast((pthread_cond_t *)c));
}

BLITZ_EXPORT int cnd_wait(cnd_t *c, mtx_t *m)
{
    NATIVE(REAL(cnd_wait)(c, m));
    return thrd_err(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

BLITZ_EXPORT int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m,
                               const struct timespec *restrict ts)
{
    NATIVE(REAL(cnd_timedwait)(c, m, ts));
    return thrd_err(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

BLITZ_EXPORT void cnd_destroy(cnd_t *c)
{
    if (shim_sync_native) {
        REAL(cnd_destroy)(c);
        return;
    }
    pthread_cond_destroy((pthread_cond_t *)c);
}

BLITZ_EXPORT int tss_create(tss_t *key, tss_dtor_t dtor)
{
    NATIVE(REAL(tss_create)(key, dtor));
    return thrd_err(pthread_key_create((pthread_key_t *)key, dtor));
}

BLITZ_EXPORT void *tss_get(tss_t key)
{
    NATIVE(REAL(tss_get)(key));
    return pthread_getspecific((pthread_key_t)key);
}

BLITZ_EXPORT int tss_set(tss_t key, void *val)
{
    NATIVE(REAL(tss_set)(key, val));
    return thrd_err(pthread_setspecific((pthread_key_t)key, val));
}

BLITZ_EXPORT void tss_delete(tss_t key)
{
    if (shim_sync_native) {
        REAL(tss_delete)(key);
        return;
    }
    pthread_key_delete((pthread_key_t)key);
}

BLITZ_EXPORT void call_once(once_flag *flag, void (*fn)(void))
{
    if (shim_sync_native) {
        REAL(call_once)(flag, fn);
        return;
    }
    pthread_once((pthread_once_t *)flag, fn);
}
