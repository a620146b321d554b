// blitz-timeout: 60
// blitz-skip-config: shim-[wt]* known limit (README): an initial-exec TLS module dlopen()ed while threads exist is initialised by glibc only in the blocks on its own thread list (main's is; running tasks' are not); glibc offers no hook to catch that dlopen without changing its caller-relative search
// tls_dlopen.c with libtls_dlopen_mod_ie.so, whose __thread variables use the
// initial-exec model: dlopen() places them in the static TLS surplus that every
// thread's block reserves, and copies their initial values into the block of
// every thread that exists at that moment (glibc walks its list of threads), so
// a thread never initializes them itself.  1,000 threads exist at the dlopen;
// each must see 4242/0 and then keep its own values, as in tls_dlopen.c.
// Breaks if a task's static TLS is not among the blocks dlopen initializes, or
// if tasks share or swap static TLS blocks.
#define MODULE_NAME "libtls_dlopen_mod_ie.so"
#include "tls_dlopen.c"
