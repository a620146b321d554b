// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// uselocale() is per thread (glibc keeps the thread's locale and its ctype table
// pointers in TLS): 50 threads, all alive at once; the even ones each create a
// C.UTF-8 locale object and switch to it, the others stay in (or explicitly
// return to) the global "C" locale.  Over 1,000 yields/sleeps each checks that
// uselocale((locale_t)0) is the object it set (or LC_GLOBAL_LOCALE), that the
// locale-dependent results are its own (MB_CUR_MAX 6 or 1, nl_langinfo(CODESET),
// towupper(U+00E9), mbrtowc of a UTF-8 sequence), that the ctype table pointer
// isalpha() reads (*__ctype_b_loc()) is its locale's, and that isalpha/toupper
// work.  The locale threads exit without switching back; 20 threads created
// afterwards must start in the global locale with working ctype tables (glibc
// sets these up in every new thread).  Breaks if tasks share their worker's
// locale state or keep the old worker's after moving, or if a task starts with
// unset ctype tables (isalpha would then crash).
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <langinfo.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "check.h"

#define N 50
#define N2 20
#define OPS 1000

static locale_t own[N];
static const unsigned short *global_ctype_b; /* the C locale's table, as main sees it */
static int go;
static int ok_threads, fresh_ok; /* atomics */

static int ascii_ctype_ok(void)
{
    return isalpha('a') && isalpha('Z') && !isalpha('1') && isdigit('7') && isspace(' ') && toupper('q') == 'Q' &&
           tolower('Q') == 'q' && toupper('1') == '1';
}

/* the locale-dependent results of the global C locale (utf8 == 0) or C.UTF-8 */
static int locale_results_ok(int utf8)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    wchar_t wc = 0;
    size_t r = mbrtowc(&wc, "\xc3\xa9", 2, &st); /* U+00E9 in UTF-8 */
    if (utf8)
        return MB_CUR_MAX == 6 && strcmp(nl_langinfo(CODESET), "UTF-8") == 0 && towupper(0xe9) == 0xc9 &&
               r == 2 && wc == 0xe9;
    return MB_CUR_MAX == 1 && strcmp(nl_langinfo(CODESET), "ANSI_X3.4-1968") == 0 && towupper(0xe9) == 0xe9 &&
           r == (size_t)-1;
}

static void *first_gen(void *arg)
{
    int i = (int)(intptr_t)arg;
    int utf8 = i % 2 == 0;
    int fresh = uselocale((locale_t)0) == LC_GLOBAL_LOCALE && *__ctype_b_loc() == global_ctype_b &&
                ascii_ctype_ok() && locale_results_ok(0);
    TCHECK(fresh, "thread %d did not start in the global locale with its ctype tables", i);
    locale_t want = LC_GLOBAL_LOCALE;
    const unsigned short *want_b = global_ctype_b;
    if (utf8) {
        own[i] = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
        if (own[i] == (locale_t)0) {
            TCHECK(0, "newlocale C.UTF-8 failed");
            return NULL;
        }
        locale_t prev = uselocale(own[i]);
        TCHECK(prev == LC_GLOBAL_LOCALE, "thread %d: uselocale returned %p, not LC_GLOBAL_LOCALE", i, (void *)prev);
        want = own[i];
        want_b = own[i]->__ctype_b;
    } else if (i % 4 == 1) {
        locale_t prev = uselocale(LC_GLOBAL_LOCALE);
        TCHECK(prev == LC_GLOBAL_LOCALE, "thread %d: uselocale returned %p, not LC_GLOBAL_LOCALE", i, (void *)prev);
    }
    gate_wait(&go);
    unsigned seed = (unsigned)i * 69069u + 7u;
    int bad = 0;
    for (int op = 0; op < OPS && bad < 3; op++) {
        pause_rand(&seed);
        locale_t now = uselocale((locale_t)0);
        int ok = now == want && *__ctype_b_loc() == want_b && ascii_ctype_ok() && locale_results_ok(utf8);
        if (!ok) {
            bad++;
            TCHECK(0, "thread %d after %d yields/sleeps: locale %p (want %p), MB_CUR_MAX %zu (want %d), codeset %s", i,
                   op + 1, (void *)now, (void *)want, MB_CUR_MAX, utf8 ? 6 : 1, nl_langinfo(CODESET));
        }
    }
    if (bad == 0)
        __atomic_fetch_add(&ok_threads, 1, __ATOMIC_RELAXED);
    if (fresh)
        __atomic_fetch_add(&fresh_ok, 1, __ATOMIC_RELAXED);
    return NULL; /* exits with its own locale still in use */
}

static void *second_gen(void *arg)
{
    int i = (int)(intptr_t)arg;
    unsigned seed = (unsigned)i;
    int ok = 1;
    for (int op = 0; op < 50; op++) {
        ok &= uselocale((locale_t)0) == LC_GLOBAL_LOCALE && *__ctype_b_loc() == global_ctype_b && ascii_ctype_ok() &&
              locale_results_ok(0);
        pause_rand(&seed);
    }
    TCHECK(ok, "thread %d created after the locale threads exited is not in the global locale: %p, MB_CUR_MAX %zu", i,
           (void *)uselocale((locale_t)0), MB_CUR_MAX);
    if (ok)
        __atomic_fetch_add(&fresh_ok, 1, __ATOMIC_RELAXED);
    return NULL;
}

int main(void)
{
    static pthread_t t[N];
    global_ctype_b = *__ctype_b_loc();
    CHECK(uselocale((locale_t)0) == LC_GLOBAL_LOCALE && locale_results_ok(0), "main does not start in the C locale");
    for (int i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, first_gen, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    gate_open(&go);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    CHECK(fresh_ok == N, "%d of %d threads started in the global locale", fresh_ok, N);
    CHECK(ok_threads == N, "%d of %d threads kept their own locale", ok_threads, N);
    if (fresh_ok == N && ok_threads == N)
        printf("ok %d threads (%d in their own C.UTF-8 locale) kept their locale across %d yields/sleeps each\n", N,
               (N + 1) / 2, OPS);

    fresh_ok = 0;
    for (int i = 0; i < N2; i++)
        if (pthread_create(&t[i], NULL, second_gen, (void *)(intptr_t)i) != 0) {
            printf("FAIL: pthread_create (second generation)\n");
            return 1;
        }
    for (int i = 0; i < N2; i++)
        pthread_join(t[i], NULL);
    CHECK(fresh_ok == N2, "%d of %d later threads started in the global locale", fresh_ok, N2);
    if (fresh_ok == N2)
        printf("ok %d threads created after the others exited started in the global locale\n", N2);

    int main_ok = uselocale((locale_t)0) == LC_GLOBAL_LOCALE && *__ctype_b_loc() == global_ctype_b &&
                  ascii_ctype_ok() && locale_results_ok(0);
    CHECK(main_ok, "main's locale changed: %p, MB_CUR_MAX %zu", (void *)uselocale((locale_t)0), MB_CUR_MAX);
    if (main_ok)
        printf("ok main still in the global locale\n");
    for (int i = 0; i < N; i++)
        if (own[i])
            freelocale(own[i]); /* only now: their threads exited */
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
