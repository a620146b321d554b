#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "real.h"

blitz_real_t blitz_real;
static __thread int t_resolving;

void blitz_real_init(void)
{
    if (t_resolving) {
        /* dlsym itself reached an interposed function: nothing real to call yet. */
        static const char msg[] = "blitzshim: interposed function called while resolving libc "
                                  "symbols; aborting\n";
        if (write(2, msg, sizeof msg - 1) < 0) {
        }
        abort();
    }
    t_resolving = 1;
#define BLITZ_REAL_RESOLVE(ret, name, args) \
    blitz_real.name = (ret(*) args)dlsym(RTLD_NEXT, #name);
    BLITZ_REAL_FUNCS(BLITZ_REAL_RESOLVE)
#undef BLITZ_REAL_RESOLVE
    __atomic_store_n(&blitz_real.ready, 1, __ATOMIC_RELEASE);
    t_resolving = 0;
}

__attribute__((constructor(101))) static void resolve_early(void)
{
    if (!blitz_real.ready)
        blitz_real_init();
}
