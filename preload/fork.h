/* fork() from a task: the child keeps only the forking task and rebuilds the runtime around
 * it. Implemented with pthread_atfork handlers registered when the runtime starts: glibc runs
 * prepare handlers in reverse order of registration and the others in order, so ours run
 * after the program's prepare handlers and before its parent/child handlers, and a child
 * handler of the program may already create threads. */
#ifndef BLITZ_FORK_H
#define BLITZ_FORK_H
void blitz_fork_install(void);
#endif
