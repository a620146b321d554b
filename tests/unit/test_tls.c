/* Task TLS mode: per-task thread blocks. Not under the sanitizers: ASan and TSan keep their
 * per-thread state behind the thread pointer, which this mode switches. */
#include "unit.h"
#if !defined(BLITZ_SANITIZE_address) && !defined(BLITZ_SANITIZE_thread)
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include "rt_fixture.h"
#include "self.h"
#include "tls.h"

static void tls_on(void)
{
    blitz_tls_layout l;
    char why[256] = "";
    int rc = blitz_tls_probe(&l, pthread_create, pthread_join, why, sizeof why);
    cr_assert_eq(rc, 0, "probe failed: %s", why);
    blitz_tls_configure(&l);
}

Test(tls, probe_finds_a_consistent_layout)
{
    blitz_tls_layout l;
    char why[256] = "";
    cr_assert_eq(blitz_tls_probe(&l, pthread_create, pthread_join, why, sizeof why), 0, "%s", why);
    cr_assert(l.static_size > l.tcb_size);
    cr_assert(l.libc_block > 0 && (size_t)l.libc_block <= l.static_size - l.tcb_size);
    char *tp = blitz_tls_tp();
    cr_assert_eq(tp + l.v_errno, (char *)&errno);
    cr_assert(l.res > 0 && l.res < (long)l.tcb_size);
    cr_assert(l.v_tcache < 0, "malloc's cache pointer found (tcache is on by default)");
}

static __thread long tls_value = 7;
static __thread char tls_buf[64];
static _Atomic int bad;

static void *identity(void *arg)
{
    long id = (long)(intptr_t)arg;
    unsigned seed = (unsigned)id * 2654435761u + 1;
    if (tls_value != 7 || tls_buf[0] != 0)
        atomic_fetch_add(&bad, 1);
    long *addr = &tls_value;
    int *e = &errno;
    void *tp = blitz_tls_tp();
    tls_value = id;
    tls_buf[0] = (char)id;
    for (int i = 0; i < 300; i++) {
        errno = (int)id;
        if (rt_rand(&seed) % 2)
            blitz_yield();
        if (tls_value != id || tls_buf[0] != (char)id || &tls_value != addr || *e != (int)id ||
            &errno != e || blitz_tls_tp() != tp || blitz_self() == NULL)
            atomic_fetch_add(&bad, 1);
    }
    return arg;
}

Test(tls, each_task_has_its_own_tls_and_errno_across_migrations)
{
    tls_on();
    rt_up(2);
    blitz_task *ts[300];
    for (long i = 0; i < 300; i++)
        cr_assert(ts[i] = blitz_task_spawn(identity, (void *)(intptr_t)(i + 1), NULL));
    for (int i = 0; i < 300; i++)
        cr_assert_eq(blitz_task_join(ts[i], NULL, 0, 0, NULL), 0);
    cr_assert_eq(atomic_load(&bad), 0);
    cr_assert_eq(tls_value, 7, "the plain thread's own TLS is untouched");
    rt_down();
}

static void *mallocs(void *arg)
{
    void *p[8];
    for (int i = 0; i < 8; i++)
        p[i] = malloc(16u << i);
    for (int i = 0; i < 8; i++)
        free(p[i]);
    return arg;
}

/* Each task that mallocs gets a per-thread cache; without releasing it at exit, every such
 * task would leak the cache and the chunks it holds. */
Test(tls, malloc_cache_is_released_at_task_exit)
{
    tls_on();
    rt_up(2);
    rt_run(mallocs, NULL); /* warm up: stacks, arenas */
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 2000; i++)
        rt_run(mallocs, NULL);
    size_t after = mallinfo2().uordblks;
    cr_assert(after < before + 64 * 1024, "in-use heap grew by %zu bytes over 2000 tasks",
              after - before);
    rt_down();
}
#endif
