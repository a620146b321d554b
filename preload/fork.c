#include <pthread.h>
#include "fork.h"
#include "scheduler.h"
#include "sync.h"
#include "thread_state.h"

static void prepare(void) { blitz_rt_fork_prepare(); }
static void parent(void) { blitz_rt_fork_parent(); }
static void child(void)
{
    blitz_rt_fork_child();
    shim_once_fork_child();
    shim_signals_fork_child();
    shim_shared_fork_child();
    shim_owner_fork_child();
}

void blitz_fork_install(void)
{
    pthread_atfork(prepare, parent, child);
}
