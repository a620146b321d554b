// Module for tls_dlopen (not a program: built as BIN_DIR/libtls_dlopen_mod.so
// and dlopen()ed by the test after its threads exist).  Its __thread variables
// use the default model for -fPIC code (global-dynamic: __tls_get_addr, a block
// allocated per thread on first use); libtls_dlopen_mod_ie.c includes this file
// with TLS_MODEL set to initial-exec (static TLS, initialized by dlopen in every
// existing thread).
#ifndef TLS_MODEL
#define TLS_MODEL
#endif
#include <stdio.h>
#include <string.h>

__thread int mod_init TLS_MODEL = 4242;
__thread long mod_zero TLS_MODEL;
__thread char mod_buf[24] TLS_MODEL;

void mod_addrs(int **init, long **zero, char **buf)
{
    *init = &mod_init;
    *zero = &mod_zero;
    *buf = mod_buf;
}

/* 1 if this thread's variables still hold their initial values */
int mod_fresh(void)
{
    static const char zeros[sizeof mod_buf];
    return mod_init == 4242 && mod_zero == 0 && memcmp(mod_buf, zeros, sizeof mod_buf) == 0;
}

void mod_set(int v, long w)
{
    mod_init = v;
    mod_zero = w;
    snprintf(mod_buf, sizeof mod_buf, "owner %d", v);
}

int mod_check(int v, long w)
{
    char want[sizeof mod_buf];
    snprintf(want, sizeof want, "owner %d", v);
    return mod_init == v && mod_zero == w && strcmp(mod_buf, want) == 0;
}
