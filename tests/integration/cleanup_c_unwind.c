// blitz-cflags: -fexceptions
// The cleanup-handler test of cleanup_c_setjmp.c compiled WITH -fexceptions, so
// pthread_cleanup_push uses __attribute__((cleanup)) and the handlers are run
// by the unwinder (_Unwind_ForcedUnwind) on pthread_exit and cancellation.
#define EXPECT_EXCEPTIONS 1
#include "cleanup_c_setjmp.c"
