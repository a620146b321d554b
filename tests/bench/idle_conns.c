/* idle_conns: memory per idle connection of a legacy thread-per-connection server.
 * The process is a server with the structure of echo_server.c (blocking accept() loop in main,
 * one detached thread per connection with a set stack size, blocking read() into an 8 KiB stack
 * buffer). A client child opens C connections to it and leaves them idle. Once all C server
 * threads have reached read() (plus a settling pause), the server measures its own VmRSS
 * (/proc/self/status) and the system-wide KernelStack, PageTables and Slab (/proc/meminfo), and
 * compares with the figures taken before the client started connecting. Then the client closes
 * everything, every server thread must see EOF, and one line is printed.
 *   -c C      connections (default 10000)
 *   -s SIZE   stack size of the connection threads (default 64k)
 *   -b B      connections the client may have open beyond those whose thread is already in
 *             read() (default 256; keeps the listen backlog short)
 *   -a A      client source addresses 127.0.0.1..127.0.0.A (default 0 = enough that none needs
 *             more than half of ip_local_port_range)
 *   -S MS     settling pause before each sample, in ms (default 500)
 *   -T SECS   overall time limit (default 120; then one ok=0 line)
 * Result: metric=bytes_per_conn = (dVmRSS + dKernelStack + dPageTables + dSlab) / C, with the
 * parts per connection as extra keys (rss_, kstack_, ptables_, slab_per_conn; SUnreclaim is shown
 * too, and d_vmpte_kb, the server's own page tables, as a check on the system-wide dPageTables,
 * which other processes can disturb). dSlab is system-wide: it includes BOTH ends of every
 * connection (the server's and the client's socket, their struct file/dentry/inode, and socket
 * buffers) as well as the server threads' task_struct etc. The client end is the same in native
 * and shim runs, so the difference between the two is the server's; subtract the client's share
 * when comparing with a server whose clients are remote. Run nothing else meanwhile (the kernel
 * figures are system-wide).
 * The client is started with fork() + execve() of this same program (hidden mode -X) before any
 * thread exists, with LD_PRELOAD removed from its environment: it always runs natively, so it
 * costs the same in both variants. It shares a few counters with the server through a memfd.
 * ok=1 only if all C connections were accepted, all C threads were blocked in read() at the
 * sample, every one of them then got EOF and the client exited cleanly. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"

struct shared {
    long port, conns, nsrc, batch;
    atomic_long in_read, finished, eof, unexpected, errors;  /* server threads */
    atomic_long opened;                                     /* client */
    atomic_int ready, go, release, client_done;             /* client_done: 1 ok, 2 failed */
};
static struct shared *sh;

static void client_main(int shm_fd);

static int retryable(int e)
{
    return e == ECONNREFUSED || e == EAGAIN || e == EADDRNOTAVAIL || e == EINTR || e == ETIMEDOUT;
}

static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    atomic_fetch_add(&sh->in_read, 1);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) {
            atomic_fetch_add(&sh->eof, 1);
            break;
        }
        if (n > 0) {
            atomic_fetch_add(&sh->unexpected, n);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (atomic_fetch_add(&sh->errors, 1) < 3)
            fprintf(stderr, "idle_conns: read: %s\n", strerror(errno));
        break;
    }
    close(fd);
    atomic_fetch_add(&sh->finished, 1);
    return NULL;
}

static void on_alarm(int sig)
{
    static const char line[] = "bench=idle_conns ok=0 metric=bytes_per_conn value=0 timeout=1 preloaded=0\n";
    ssize_t rc = write(1, line, sizeof line - 1);
    (void)rc;
    _exit(1);                       /* the client dies with us (PR_SET_PDEATHSIG) */
}

struct mem { long rss, kstack, ptables, slab, sunreclaim, pte; };

static struct mem sample(void)
{
    return (struct mem){
        proc_kb("/proc/self/status", "VmRSS"), proc_kb("/proc/meminfo", "KernelStack"),
        proc_kb("/proc/meminfo", "PageTables"), proc_kb("/proc/meminfo", "Slab"),
        proc_kb("/proc/meminfo", "SUnreclaim"), proc_kb("/proc/self/status", "VmPTE"),
    };
}

/* Wait (bounded) until cond() or the deadline; returns cond(). */
#define WAIT_UNTIL(cond, deadline) ({ while (!(cond) && now_s() < (deadline)) sleep_ns(1000000); (cond); })

int main(int argc, char **argv)
{
    long conns = 10000, stack = 64 * 1024, batch = 256, nsrc = 0, settle_ms = 500, limit = 120;
    int c;
    while ((c = getopt(argc, argv, "c:s:b:a:S:T:X:")) != -1) {
        switch (c) {
        case 'c': conns = parse_size(optarg); break;
        case 's': stack = parse_size(optarg); break;
        case 'b': batch = parse_size(optarg); break;
        case 'a': nsrc = parse_size(optarg); break;
        case 'S': settle_ms = parse_size(optarg); break;
        case 'T': limit = parse_size(optarg); break;
        case 'X': client_main(atoi(optarg)); return 0;     /* internal: the client child */
        default:
            fprintf(stderr, "usage: %s [-c conns] [-s stacksize] [-b batch] [-a src_addrs] [-S settle_ms] [-T secs]\n",
                    argv[0]);
            return 2;
        }
    }
    if (conns < 1 || batch < 1 || nsrc > 254 || limit < 1) {
        fprintf(stderr, "need c >= 1, b >= 1, a <= 254, T >= 1\n");
        return 2;
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;                  /* inherited by the client */
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)conns + 32 > rl.rlim_cur) {
        fprintf(stderr, "idle_conns: %ld connections do not fit RLIMIT_NOFILE %ld\n", conns, (long)rl.rlim_cur);
        return 2;
    }
    if (!nsrc) {
        long lo = 32768, hi = 60999;
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
        if (f) {
            if (fscanf(f, "%ld %ld", &lo, &hi) != 2)
                lo = 32768, hi = 60999;
            fclose(f);
        }
        long per = (hi - lo + 1) / 2;
        nsrc = per > 0 ? (conns + per - 1) / per : 1;
        if (nsrc > 254)
            nsrc = 254;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, NULL);
    alarm(limit);
    double deadline = now_s() + limit - 5;

    /* listening socket; the accept loop polls it with a 1 s timeout to check on the client
     * (not SO_RCVTIMEO: accepted sockets would inherit it and their read() would time out) */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in addr = { .sin_family = AF_INET };
    socklen_t alen = sizeof addr;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 4096) ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen)) {
        perror("idle_conns: listen socket");
        return 2;
    }

    int shm_fd = memfd_create("idle_conns", 0);     /* no CLOEXEC: the client maps it */
    if (shm_fd < 0 || ftruncate(shm_fd, sizeof *sh) ||
        (sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0)) == MAP_FAILED) {
        perror("idle_conns: shared memory");
        return 2;
    }
    sh->port = ntohs(addr.sin_port);
    sh->conns = conns;
    sh->nsrc = nsrc;
    sh->batch = batch;

    /* The client: this program again, natively (no LD_PRELOAD), before any thread exists. */
    extern char **environ;
    long nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = calloc(nenv + 1, sizeof *env), fdarg[32];
    for (long i = 0, j = 0; i < nenv; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11))
            env[j++] = environ[i];
    snprintf(fdarg, sizeof fdarg, "%d", shm_fd);
    char *cargv[] = { argv[0], "-X", fdarg, NULL };
    pid_t parent = getpid(), child = fork();
    if (child < 0) {
        perror("fork");
        return 2;
    }
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(lfd);
        execve("/proc/self/exe", cargv, env);
        _exit(127);
    }

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if ((errno = pthread_attr_setstacksize(&attr, stack))) {
        perror("pthread_attr_setstacksize");
        kill(child, SIGKILL);
        return 2;
    }

    int child_ok = WAIT_UNTIL(atomic_load(&sh->ready), now_s() + 10);
    long accepted = 0, create_failed = 0, accept_errors = 0;
    int child_status = -1, child_reaped = 0;
    sleep_ns(settle_ms * 1000000L);             /* let the system settle before the first sample too */
    struct mem before = sample(), at = before;
    double t0 = now_s(), connect_s = 0;
    long in_read_at = 0, finished_at = 0;
    if (!child_ok)
        fprintf(stderr, "idle_conns: the client did not start\n");
    else {
        atomic_store(&sh->go, 1);
        while (accepted < conns && now_s() < deadline) {
            struct pollfd pfd = { .fd = lfd, .events = POLLIN };
            int fd = poll(&pfd, 1, 1000) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : (errno = EAGAIN, -1);
            if (fd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) {
                    /* timeout: stop if the client is gone or has given up and all it opened are in */
                    if (waitpid(child, &child_status, WNOHANG) == child) {
                        child_reaped = 1;
                        break;
                    }
                    if (atomic_load(&sh->client_done) == 2 && accepted >= atomic_load(&sh->opened))
                        break;
                    continue;
                }
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    accept_errors++;
                    sleep_ns(10000000);
                    continue;
                }
                perror("accept");
                accept_errors++;
                break;
            }
            accepted++;
            if ((errno = pthread_create(&(pthread_t){ 0 }, &attr, conn_thread, (void *)(intptr_t)fd))) {
                if (!create_failed++)
                    perror("idle_conns: pthread_create");
                close(fd);
            }
        }
        WAIT_UNTIL(atomic_load(&sh->in_read) >= accepted - create_failed, deadline);
        connect_s = now_s() - t0;
        sleep_ns(settle_ms * 1000000L);
        in_read_at = atomic_load(&sh->in_read);
        finished_at = atomic_load(&sh->finished);
        at = sample();
    }

    /* Let the client close its end; every thread must see EOF. */
    atomic_store(&sh->release, 1);
    WAIT_UNTIL(atomic_load(&sh->finished) >= accepted - create_failed, deadline + 3);
    double close_s = now_s() - t0 - connect_s;
    if (!child_reaped) {
        double t1 = now_s();
        while (waitpid(child, &child_status, WNOHANG) != child) {
            if (now_s() - t1 > 10) {
                kill(child, SIGKILL);
                waitpid(child, &child_status, 0);
                break;
            }
            sleep_ns(1000000);
        }
    }
    alarm(0);
    close(lfd);

    long d_rss = at.rss - before.rss, d_ks = at.kstack - before.kstack, d_pt = at.ptables - before.ptables,
         d_slab = at.slab - before.slab, d_su = at.sunreclaim - before.sunreclaim, d_pte = at.pte - before.pte;
    double per = (d_rss + d_ks + d_pt + d_slab) * 1024.0 / conns;
    int client_clean = WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0 && atomic_load(&sh->client_done) == 1;
    int ok = child_ok && client_clean && accepted == conns && !create_failed && in_read_at == conns &&
             finished_at == 0 && atomic_load(&sh->eof) == conns && !atomic_load(&sh->errors) &&
             !atomic_load(&sh->unexpected);
    if (!ok)
        fprintf(stderr, "idle_conns: accepted=%ld create_failed=%ld in_read=%ld finished_early=%ld eof=%ld "
                        "errors=%ld unexpected=%ld client_opened=%ld client_done=%d client_status=%#x\n",
                accepted, create_failed, in_read_at, finished_at, atomic_load(&sh->eof), atomic_load(&sh->errors),
                atomic_load(&sh->unexpected), atomic_load(&sh->opened), atomic_load(&sh->client_done), child_status);
    emit("idle_conns", ok, "bytes_per_conn", per,
         "conns=%ld accepted=%ld in_read=%ld eof=%ld stack=%ld src_addrs=%ld rss_per_conn=%.0f "
         "kstack_per_conn=%.0f ptables_per_conn=%.0f slab_per_conn=%.0f sunreclaim_per_conn=%.0f "
         "d_vmrss_kb=%ld d_kernelstack_kb=%ld d_pagetables_kb=%ld d_slab_kb=%ld d_sunreclaim_kb=%ld "
         "d_vmpte_kb=%ld vmrss_kb=%ld connect_s=%.3f close_s=%.3f create_failed=%ld accept_errors=%ld",
         conns, accepted, in_read_at, atomic_load(&sh->eof), stack, nsrc, d_rss * 1024.0 / conns,
         d_ks * 1024.0 / conns, d_pt * 1024.0 / conns, d_slab * 1024.0 / conns, d_su * 1024.0 / conns, d_rss,
         d_ks, d_pt, d_slab, d_su, d_pte, at.rss, connect_s, close_s, create_failed, accept_errors);
    return ok ? 0 : 1;
}

/* ---- the client (runs as its own program, natively) ---------------------------------------- */
static void client_main(int shm_fd)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd, 0);
    if (sh == MAP_FAILED)
        _exit(3);
    close(shm_fd);
    long n = sh->conns, opened = 0;
    int *fds = malloc(n * sizeof *fds);
    memset(fds, -1, n * sizeof *fds);           /* touch it before the first sample */
    struct sockaddr_in srv = { .sin_family = AF_INET, .sin_port = htons(sh->port) };
    srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pid_t parent = getppid();
    atomic_store(&sh->ready, 1);
    while (!atomic_load(&sh->go)) {
        if (getppid() != parent)
            _exit(4);
        sleep_ns(1000000);
    }
    int failed = 0;
    double deadline = now_s() + 60;
    for (long i = 0; i < n && !failed; i++) {
        /* keep at most `batch` connections whose server thread has not reached read() yet */
        while (opened - atomic_load(&sh->in_read) >= sh->batch && now_s() < deadline)
            sleep_ns(100000);
        for (int attempt = 0;; attempt++) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, e;
            if (fd < 0) {
                perror("idle_conns client: socket");
                failed = 1;
                break;
            }
            if (sh->nsrc > 1) {
                struct sockaddr_in src = { .sin_family = AF_INET };
                src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + i % sh->nsrc);
                setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
                if (bind(fd, (struct sockaddr *)&src, sizeof src)) {
                    perror("idle_conns client: bind");
                    close(fd);
                    failed = 1;
                    break;
                }
            }
            if (connect(fd, (struct sockaddr *)&srv, sizeof srv) == 0) {
                fds[opened++] = fd;
                atomic_store(&sh->opened, opened);
                break;
            }
            e = errno;
            close(fd);
            if (!retryable(e) || attempt >= 200 || now_s() > deadline) {
                fprintf(stderr, "idle_conns client: connect #%ld: %s\n", i, strerror(e));
                failed = 1;
                break;
            }
            sleep_ns(2000000);
        }
    }
    atomic_store(&sh->client_done, failed ? 2 : 1);
    while (!atomic_load(&sh->release) && getppid() == parent)
        sleep_ns(1000000);
    for (long i = 0; i < opened; i++)
        close(fds[i]);
    _exit(failed ? 1 : 0);
}
