// pthread_once in a fork child: a once routine that was running in a thread of the parent
// (which did not come along) counts as not run in the child, which runs it itself; the
// parent's own call completes normally.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int runs;
static void init(void)
{
    usleep(300000);
    runs++;
}
static void *caller(void *a)
{
    pthread_once(&once, init);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, caller, NULL);
    usleep(50000); /* the thread is inside init now */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        pthread_once(&once, init);
        printf("child: once ran %d time(s) in the child\n", runs);
        fflush(stdout);
        _exit(runs == 1 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    pthread_join(t, NULL);
    printf("child %s with status %d\n", WIFEXITED(st) ? "exited" : "was killed",
           WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    printf("parent: once ran %d time(s)\n", runs);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && runs == 1 ? 0 : 1;
}
