/* Reports a task's stack overflow (a hit in its guard page) on stderr before the process
 * dies of the SIGSEGV, instead of a bare segmentation fault. Each worker thread gets an
 * alternate signal stack so the handler can run when the task's stack is exhausted.
 * Faults that are not guard hits go to the handler that was installed before, or to the
 * default action. Thread-safety: install once; altstack setup per worker thread. */
#ifndef BLITZ_OVERFLOW_H
#define BLITZ_OVERFLOW_H
void blitz_overflow_install(void);
struct blitz_task;
/* Writes "blitzshim: stack overflow in thread N (stack size S bytes, <how>)" to stderr
 * (async-signal-safe). */
void blitz_overflow_report(struct blitz_task *t, const char *how);
/* Gives the calling worker thread its alternate signal stack. */
void blitz_overflow_thread_setup(void);
#endif
