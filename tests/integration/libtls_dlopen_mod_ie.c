// Module for tls_dlopen_ie: libtls_dlopen_mod.c with initial-exec __thread
// variables.  dlopen() puts them in the static TLS surplus of every thread,
// copying the initial values into each existing thread's block itself.
#define TLS_MODEL __attribute__((tls_model("initial-exec")))
#include "libtls_dlopen_mod.c"
