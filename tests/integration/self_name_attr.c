// Thread identity and attributes: pthread_self equals the id pthread_create
// returned (pthread_equal), is stable across sleeps/yields and differs between
// threads; setname_np/getname_np round trips on self and on another thread (a
// new thread starts with its creator's name, as on Linux); pthread_getattr_np
// on main and on created threads (stack range holds the locals, size >= the
// request, detach state, guard size); a user-supplied stack
// (pthread_attr_setstack); scheduling attribute round trips are accepted.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define N 16
static pthread_t ids[N];
static atomic_int ids_published;
static pthread_t main_id;

static void *identity(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    while (!atomic_load(&ids_published))
        nap_ms(1);
    pthread_t me = pthread_self();
    int ok = pthread_equal(me, ids[i]) && !pthread_equal(me, main_id);
    for (int k = 0; k < N; k++)
        if (k != (int)i && pthread_equal(me, ids[k]))
            ok = 0;
    for (int r = 0; r < 20; r++) {
        if (r % 2)
            sched_yield();
        else
            nap_ms(1);
        ok &= pthread_equal(pthread_self(), me);
    }
    return (void *)(uintptr_t)ok;
}

static char inherited[32];
static atomic_int name_stage;
static void *named(void *arg)
{
    pthread_getname_np(pthread_self(), inherited, sizeof inherited);
    int ok = pthread_setname_np(pthread_self(), "self-named") == 0;
    char buf[16];
    ok &= pthread_getname_np(pthread_self(), buf, sizeof buf) == 0 && strcmp(buf, "self-named") == 0;
    atomic_store(&name_stage, 1);
    while (atomic_load(&name_stage) != 2) /* main renames us meanwhile */
        nap_ms(1);
    ok &= pthread_getname_np(pthread_self(), buf, sizeof buf) == 0 && strcmp(buf, "renamed-by-main") == 0;
    return (void *)(uintptr_t)ok;
}

struct attr_report {
    size_t stacksize, guardsize;
    int detach;
    int contains_local;
    uintptr_t local_addr;
};
static void *report_attr(void *arg)
{
    struct attr_report *r = arg;
    int local = 0;
    pthread_attr_t a;
    void *addr = NULL;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return NULL;
    pthread_attr_getstack(&a, &addr, &r->stacksize);
    pthread_attr_getguardsize(&a, &r->guardsize);
    pthread_attr_getdetachstate(&a, &r->detach);
    r->contains_local = (char *)&local >= (char *)addr && (char *)&local < (char *)addr + r->stacksize;
    r->local_addr = (uintptr_t)&local;
    pthread_attr_destroy(&a);
    return (void *)1;
}

static atomic_int detached_done;
static void *report_attr_detached(void *arg)
{
    report_attr(arg);
    atomic_store(&detached_done, 1);
    return NULL;
}

int main(void)
{
    main_id = pthread_self();
    CHECK(pthread_equal(pthread_self(), main_id), "pthread_self not stable in main");

    /* identity */
    for (uintptr_t i = 0; i < N; i++)
        pthread_create(&ids[i], NULL, identity, (void *)i);
    atomic_store(&ids_published, 1);
    int good = 0;
    for (int i = 0; i < N; i++) {
        void *r = NULL;
        pthread_join(ids[i], &r);
        good += r == (void *)1;
    }
    CHECK(good == N, "pthread_self/pthread_equal inconsistent in %d of %d threads", N - good, N);
    printf("ok pthread_self matches pthread_create's id and is stable\n");

    /* names */
    char mainname[16], buf[16];
    EXPECT(pthread_setname_np(pthread_self(), "it-main"), 0);
    EXPECT(pthread_getname_np(pthread_self(), mainname, sizeof mainname), 0);
    CHECK(strcmp(mainname, "it-main") == 0, "main name round trip gave '%s'", mainname);
    pthread_t t;
    pthread_create(&t, NULL, named, NULL);
    while (atomic_load(&name_stage) != 1)
        nap_ms(1);
    EXPECT(pthread_getname_np(t, buf, sizeof buf), 0);
    CHECK(strcmp(buf, "self-named") == 0, "main reads another thread's name as '%s'", buf);
    EXPECT(pthread_setname_np(t, "renamed-by-main"), 0);
    EXPECT(pthread_getname_np(t, buf, sizeof buf), 0);
    CHECK(strcmp(buf, "renamed-by-main") == 0, "name set by main reads back as '%s'", buf);
    atomic_store(&name_stage, 2);
    void *r = NULL;
    pthread_join(t, &r);
    CHECK(r == (void *)1, "thread's own view of its names is wrong");
    EXPECT(pthread_getname_np(pthread_self(), buf, sizeof buf), 0);
    CHECK(strcmp(buf, "it-main") == 0, "main's name changed to '%s'", buf);
    printf("ok setname_np/getname_np round trips on self and another thread\n");
    CHECK(strcmp(inherited, "it-main") == 0, "new thread's initial name '%s' is not its creator's", inherited);
    printf("ok a new thread starts with its creator's name\n");

    /* getattr_np on main */
    pthread_attr_t a;
    void *addr = NULL;
    size_t size = 0;
    int ds = -1, local = 0;
    EXPECT(pthread_getattr_np(pthread_self(), &a), 0);
    pthread_attr_getstack(&a, &addr, &size);
    pthread_attr_getdetachstate(&a, &ds);
    pthread_attr_destroy(&a);
    CHECK((char *)&local >= (char *)addr && (char *)&local < (char *)addr + size, "main's stack range misses its locals");
    CHECK(size >= 1024 * 1024, "main's stack reported as %zu bytes", size);
    EXPECT(ds, PTHREAD_CREATE_JOINABLE);
    printf("ok pthread_getattr_np on main\n");

    /* getattr_np on created threads */
    struct attr_report rep;
    pthread_attr_t at;
    pthread_attr_init(&at);
    EXPECT(pthread_attr_setstacksize(&at, 256 * 1024), 0);
    EXPECT(pthread_attr_setguardsize(&at, 8192), 0);
    memset(&rep, 0, sizeof rep);
    pthread_create(&t, &at, report_attr, &rep);
    r = NULL;
    pthread_join(t, &r);
    CHECK(r == (void *)1 && rep.contains_local && rep.stacksize >= 256 * 1024, "256 KiB thread: size %zu, contains %d",
          rep.stacksize, rep.contains_local);
    EXPECT(rep.guardsize, 8192);
    EXPECT(rep.detach, PTHREAD_CREATE_JOINABLE);
    pthread_attr_destroy(&at);
    memset(&rep, 0, sizeof rep);
    pthread_create(&t, NULL, report_attr, &rep);
    pthread_join(t, NULL);
    size_t pagesz = (size_t)sysconf(_SC_PAGESIZE);
    CHECK(rep.contains_local && rep.stacksize >= 8 * 1024 * 1024, "default thread: size %zu, contains %d", rep.stacksize,
          rep.contains_local);
    EXPECT(rep.guardsize, pagesz);
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    memset(&rep, 0, sizeof rep);
    pthread_create(&t, &at, report_attr_detached, &rep);
    pthread_attr_destroy(&at);
    while (!atomic_load(&detached_done))
        nap_ms(1);
    EXPECT(rep.detach, PTHREAD_CREATE_DETACHED);
    printf("ok pthread_getattr_np on created threads (size, guard, detach state)\n");

    /* a user-supplied stack */
    size_t ustack_size = 512 * 1024;
    void *ustack = NULL;
    EXPECT(posix_memalign(&ustack, 65536, ustack_size), 0);
    pthread_attr_init(&at);
    EXPECT(pthread_attr_setstack(&at, ustack, ustack_size), 0);
    void *ga = NULL;
    size_t gs = 0;
    pthread_attr_getstack(&at, &ga, &gs);
    CHECK(ga == ustack && gs == ustack_size, "setstack/getstack round trip");
    memset(&rep, 0, sizeof rep);
    EXPECT(pthread_create(&t, &at, report_attr, &rep), 0);
    pthread_join(t, NULL);
    pthread_attr_destroy(&at);
    CHECK(rep.contains_local && rep.local_addr >= (uintptr_t)ustack && rep.local_addr < (uintptr_t)ustack + ustack_size,
          "thread on a user stack: its locals are not on that stack");
    CHECK(rep.stacksize <= ustack_size, "user stack reported as %zu bytes", rep.stacksize);
    free(ustack);
    printf("ok thread on a user-supplied stack (pthread_attr_setstack)\n");

    /* scheduling attributes */
    pthread_attr_init(&at);
    int pol = -1, inh = -1, scope = -1;
    struct sched_param sp = { .sched_priority = 0 }, sp2 = { .sched_priority = 99 };
    EXPECT(pthread_attr_setschedpolicy(&at, SCHED_OTHER), 0);
    EXPECT(pthread_attr_getschedpolicy(&at, &pol), 0);
    EXPECT(pol, SCHED_OTHER);
    EXPECT(pthread_attr_setschedparam(&at, &sp), 0);
    EXPECT(pthread_attr_getschedparam(&at, &sp2), 0);
    EXPECT(sp2.sched_priority, 0);
    EXPECT(pthread_attr_getinheritsched(&at, &inh), 0);
    EXPECT(inh, PTHREAD_INHERIT_SCHED);
    EXPECT(pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED), 0);
    EXPECT(pthread_attr_getinheritsched(&at, &inh), 0);
    EXPECT(inh, PTHREAD_EXPLICIT_SCHED);
    EXPECT(pthread_attr_getscope(&at, &scope), 0);
    EXPECT(scope, PTHREAD_SCOPE_SYSTEM);
    EXPECT(pthread_attr_setscope(&at, PTHREAD_SCOPE_SYSTEM), 0);
    memset(&rep, 0, sizeof rep);
    EXPECT(pthread_create(&t, &at, report_attr, &rep), 0); /* explicit SCHED_OTHER/0 is accepted */
    pthread_join(t, NULL);
    pthread_attr_destroy(&at);
    pol = -1;
    sp2.sched_priority = 99;
    EXPECT(pthread_getschedparam(pthread_self(), &pol, &sp2), 0);
    EXPECT(pol, SCHED_OTHER);
    EXPECT(sp2.sched_priority, 0);
    EXPECT(pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp), 0);
    printf("ok scheduling attribute round trips\n");

    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
