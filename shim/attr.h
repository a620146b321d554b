/* Reading pthread attributes the way pthread_create needs them. */
#ifndef BLITZ_ATTR_H
#define BLITZ_ATTR_H
#include <signal.h>
#include <pthread.h>
#include "task.h"

/* Translates attr (may be NULL) into spawn attributes. Returns 0 or EINVAL. */
int shim_attr_to_spawn(const pthread_attr_t *attr, blitz_spawn_attr *out);
/* Checks, once, that glibc's pthread_attr_t layout is the one shim_attr_to_spawn reads. */
void shim_attr_check_layout(void);
/* The default stack size for new threads (pthread_setattr_default_np updates it). */
size_t shim_default_stack_size(void);
void shim_set_default_stack_size(size_t size);
/* The signal mask pthread_setattr_default_np gave the default attributes: 1 and *set, or 0
 * if none (new threads then take their creator's). */
int shim_default_sigmask(sigset_t *set);
#endif
