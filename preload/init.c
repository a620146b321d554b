/* Start-up: take over main so that it runs as the root task.
 *
 * __libc_start_main is interposed (LD_PRELOAD, or -lblitzshim ahead of libc); it hands libc
 * our blitz_main instead of the program's main. blitz_main runs after every constructor,
 * reads the configuration, starts the runtime with the calling (main) thread as worker 0,
 * and spawns the root task that calls the real main and then exit(), as libc would.
 * Constructors that run earlier see plain libc behaviour: there is no task yet. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "attr.h"
#include "config.h"
#include "fdview.h"
#include "tls.h"
#include "fork.h"
#include "overflow.h"
#include "real.h"
#include "scheduler.h"
#include "thread_state.h"

typedef int (*main_fn)(int, char **, char **);
static main_fn g_main;
static int g_argc;
static char **g_argv, **g_envp;

static void *root_task(void *unused)
{
    exit(g_main(g_argc, g_argv, g_envp));
}

static void last_task_exited(void)
{
    /* pthread_exit in main with no thread left: the process ends with status 0, as NPTL. */
    exit(0);
}

static void print_stats(void)
{
    blitz_rt_stats s;
    blitz_rt_stats_get(&s);
    blitz_stack_counters sc;
    blitz_stack_counters_get(&sc);
    dprintf(2,
            "blitzshim stats: workers=%d tasks_created=%llu peak_alive=%llu alive=%llu "
            "switches=%llu busiest_worker_share=%.2f steals=%llu parks=%llu idle_wakeups=%llu guarded_stacks=%llu "
            "slab_stacks=%llu stack_maps=%llu stack_trims=%llu\n",
            blitz_rt_workers(), (unsigned long long)s.spawned, (unsigned long long)s.peak_alive,
            (unsigned long long)s.alive, (unsigned long long)s.switches,
            s.switches ? (double)s.busiest_switches / (double)s.switches : 0.0,
            (unsigned long long)s.steals, (unsigned long long)s.parks,
            (unsigned long long)s.wakeups, (unsigned long long)sc.guarded_live,
            (unsigned long long)sc.slab_live, (unsigned long long)sc.mmaps,
            (unsigned long long)sc.trims);
}

static void read_process_name(void)
{
    char name[17] = { 0 };
    FILE *f = fopen("/proc/self/comm", "re");
    if (f) {
        if (fgets(name, sizeof name, f))
            name[strcspn(name, "\n")] = 0;
        fclose(f);
    }
    shim_set_process_name(name);
}

static size_t main_stack_size(size_t dflt)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > dflt)
        return rl.rlim_cur;
    return dflt > (8u << 20) ? dflt : (8u << 20);
}

/* Task TLS mode: probe glibc, then move this (main) OS thread onto a fresh thread block so
 * that the root task can keep main's own, with whatever constructors left in it. Returns
 * main's thread pointer, or NULL when tasks share their worker's TLS. */
static void *setup_task_tls(void)
{
    blitz_tls_layout l;
    char why[256];
    if (blitz_tls_probe(&l, blitz_real.pthread_create, blitz_real.pthread_join, why,
                        sizeof why) != 0) {
        fprintf(stderr, "blitzshim: per-thread TLS for green threads is not available with "
                        "this glibc (%s); running with BLITZ_TLS=worker\n", why);
        return NULL;
    }
    blitz_tls_configure(&l);
    void *main_tp = blitz_tls_detach_caller();
    if (!main_tp) {
        fprintf(stderr, "blitzshim: out of memory setting up thread blocks\n");
        exit(2);
    }
    return main_tp;
}

static int blitz_main(int argc, char **argv, char **envp)
{
    blitz_config cfg;
    if (blitz_config_from_env(&cfg) != 0)
        exit(2);
    if (cfg.disable)
        return g_main(argc, argv, envp);
    g_argc = argc;
    g_argv = argv;
    g_envp = envp;
    blitz_real_init();
    shim_attr_check_layout();
    shim_io_native = !cfg.io;
    shim_set_default_stack_size(cfg.stack_size);
    read_process_name();
    void *main_tp = cfg.tls_worker ? NULL : setup_task_tls();
    blitz_task_hooks hooks = { shim_task_exit_hook, last_task_exited };
    blitz_task_set_hooks(&hooks);
    blitz_rt_config rc = { cfg.workers, cfg.stack_size, 0, cfg.timer_spin_us };
    blitz_rt_os os = { blitz_real.pthread_create, blitz_real.pthread_join,
                       blitz_real.pthread_self };
    int err = blitz_rt_start(&rc, &os, 1);
    if (err) {
        fprintf(stderr, "blitzshim: cannot start the runtime (%s); running natively\n",
                strerror(err));
        return g_main(argc, argv, envp);
    }
    blitz_fork_install();
    blitz_overflow_install();
    shim_signals_start(NULL); /* before main's task can run and install handlers */
    if (cfg.stats)
        atexit(print_stats);
    /* Joinable, like NPTL's main thread; nobody joins it, so its stack stays (as main's). */
    blitz_spawn_attr sa = { main_stack_size(cfg.stack_size), (size_t)-1, NULL, 0, main_tp,
                            shim_thread_init_child };
    blitz_task *root = blitz_task_spawn(root_task, NULL, &sa);
    if (!root) {
        fprintf(stderr, "blitzshim: cannot create the main task; running natively\n");
        return g_main(argc, argv, envp);
    }
    shim_signals_start(root);
    blitz_rt_run_caller();
}

BLITZ_EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
                                   void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
    int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *) =
        dlsym(RTLD_NEXT, "__libc_start_main");
    g_main = main;
    return real(blitz_main, argc, argv, init, fini, rtld_fini, stack_end);
}
