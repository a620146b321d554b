/* Reading pthread attributes the way pthread_create needs them. */
#ifndef BLITZ_ATTR_H
#define BLITZ_ATTR_H
#include <pthread.h>
#include "task.h"

/* Translates attr (may be NULL) into spawn attributes. Returns 0 or EINVAL. */
int shim_attr_to_spawn(const pthread_attr_t *attr, blitz_spawn_attr *out);
/* Checks, once, that glibc's pthread_attr_t layout is the one shim_attr_to_spawn reads. */
void shim_attr_check_layout(void);
/* The default stack size for new threads (pthread_setattr_default_np updates it). */
size_t shim_default_stack_size(void);
void shim_set_default_stack_size(size_t size);
#endif
