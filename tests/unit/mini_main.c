/* Runner for mini_criterion.h: one forked child per test; prints the plain closing line. */
#include "mini_criterion.h"

mini_test mini_tests[256];
int mini_ntests;

int main(int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (int i = 0; i < mini_ntests; i++) {
        mini_test *t = &mini_tests[i];
        if (argc > 1 && !strstr(t->name, argv[1]))
            continue;
        fflush(NULL);
        pid_t p = fork();
        if (p == 0) {
            t->fn();
            fflush(NULL);
            _exit(0);
        }
        int st = 0;
        waitpid(p, &st, 0);
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        printf("%s %s::%s\n", ok ? "PASS" : "FAIL", t->suite, t->name);
        ok ? passed++ : failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
