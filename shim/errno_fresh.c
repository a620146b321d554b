#include "errno_fresh.h"

#undef errno
__attribute__((noinline, noipa)) int *shim_errno_loc(void) { return __errno_location(); }
