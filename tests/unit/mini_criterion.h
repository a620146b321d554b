/* A minimal stand-in for the part of Criterion the unit tests use: Test() registration and
 * cr_assert*; each test runs in a forked child, as Criterion does. Only for sanitizer builds
 * where Criterion itself cannot run. */
#ifndef MINI_CRITERION_H
#define MINI_CRITERION_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct mini_test { const char *suite, *name; void (*fn)(void); } mini_test;
extern mini_test mini_tests[];
extern int mini_ntests;
static inline void mini_register(const char *s, const char *n, void (*fn)(void))
{
    mini_tests[mini_ntests++] = (mini_test){ s, n, fn };
}

#define Test(suite, name, ...)                                                       \
    static void suite##_##name(void);                                                \
    __attribute__((constructor)) static void reg_##suite##_##name(void)               \
    {                                                                                \
        mini_register(#suite, #name, suite##_##name);                                \
    }                                                                                \
    static void suite##_##name(void)

#define MINI_FAIL(...)                                                               \
    do {                                                                             \
        fprintf(stderr, "%s:%d: assertion failed: ", __FILE__, __LINE__);            \
        fprintf(stderr, "" __VA_ARGS__);                                             \
        fprintf(stderr, "\n");                                                       \
        abort();                                                                     \
    } while (0)
#define cr_assert(c, ...) do { if (!(c)) MINI_FAIL(__VA_ARGS__); } while (0)
#define cr_assert_not(c, ...) cr_assert(!(c), __VA_ARGS__)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...) cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...) cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...) cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...) cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(a, ...) cr_assert((a) == NULL, __VA_ARGS__)
#define cr_assert_not_null(a, ...) cr_assert((a) != NULL, __VA_ARGS__)
#endif
