/* errno, looked up afresh at every use. glibc declares __errno_location const, so the
 * compiler may keep errno's address across a call; with BLITZ_TLS=worker a task that waited
 * may resume on another worker, where that address is the wrong thread's errno. Every shim
 * file gets this through thread_state.h (include that after the system headers). */
#ifndef BLITZ_ERRNO_FRESH_H
#define BLITZ_ERRNO_FRESH_H
#include <errno.h>

/* Not const, not inlined: each call is made. */
int *shim_errno_loc(void);

#undef errno
#define errno (*shim_errno_loc())
#endif
