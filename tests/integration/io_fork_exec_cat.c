// blitz-timeout: 60
// Descriptors a thread has blocked on, handed to an exec'd program: the blocking
// mode the program sees must be the one the file description really has.
// Before each spawn, threads of the parent block on every end of a UNIX stream
// socketpair and a pipe: reading (released by a write 100 ms later) and writing
// (1 MB into the socket, 256 KB into the pipe, more than they hold: released by
// reads 100 ms later).  F_GETFL on all four ends must still be the plain values
// (O_RDWR, O_RDONLY, O_WRONLY, no O_NONBLOCK).  Meanwhile another thread stays
// blocked in read() on an unrelated pipe across the forks and spawns, and one more
// blocks in poll(POLLIN) on the child's socket end while the child runs (woken when
// the child's input arrives; the child reads it).
//  1. /bin/cat runs with the socket as its stdin and the pipe as its stdout, once
//     through fork+execve and once through posix_spawn: the parent writes 1 MB of
//     a pattern into the socket (chunks of varied sizes, from a thread) and closes
//     its end, reads everything back from the pipe and compares; cat must exit 0
//     (had O_NONBLOCK leaked into the shared file descriptions, cat would fail
//     with "Resource temporarily unavailable").
//  2. The program re-executes itself (/proc/self/exe --child-flags), once through
//     posix_spawn and once through fork+execve, with fd 0 a socket and fd 1 a pipe
//     the parent had blocked on.  The child reports F_GETFL of fds 0 and 1 and the
//     flags of /proc/self/fdinfo/0 and 1 (no O_NONBLOCK expected), then reads
//     "hello" with a blocking read (the parent writes it 100 ms later) and writes
//     its report and 256 KB with blocking writes (the parent starts reading 100 ms
//     later); the parent checks and prints the report and the payload.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

/* errno through calls the compiler cannot fold: __errno_location() is declared const, so a
 * function that used errno before a blocking call may keep its address across the call (the
 * address of another worker's errno under BLITZ_TLS=worker once the thread moved) */
static __attribute__((noinline)) int err_now(void) { return errno; }
static __attribute__((noinline)) void err_clear(void) { errno = 0; }

extern char **environ;

#define MS 1000000LL
#define CAT_BYTES (1 << 20)
#define CHILD_PAYLOAD (256 * 1024)

static unsigned char pattern(size_t i) { return (unsigned char)(i * 131u + (i >> 11) + 7u); }

static int wait_flag(int *flag, long ms)
{
    long long end = now_ns() + ms * MS;
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
        if (now_ns() > end)
            return 0;
        nap_ms(2);
    }
    return 1;
}

/* blocking full transfers; return the count done (short only on EOF or error) */
static size_t write_full(int fd, const unsigned char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && err_now() == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "write_full(%d): %s\n", fd, n < 0 ? strerror(errno) : "0");
            break;
        }
        done += (size_t)n;
    }
    return done;
}

/* the same with send(MSG_NOSIGNAL), for sockets whose reader may be gone */
static size_t send_full(int fd, const unsigned char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(fd, p + done, len - done, MSG_NOSIGNAL);
        if (n < 0 && err_now() == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "send_full(%d): %s\n", fd, n < 0 ? strerror(errno) : "0");
            break;
        }
        done += (size_t)n;
    }
    return done;
}

static size_t read_full(int fd, unsigned char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, p + done, len - done);
        if (n < 0 && err_now() == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                fprintf(stderr, "read_full(%d): %s\n", fd, strerror(errno));
            break;
        }
        done += (size_t)n;
    }
    return done;
}

/* --- the child of part 2 ------------------------------------------------------------------ */

/* the flags: field of /proc/self/fdinfo/FD, or -1 */
static long fdinfo_flags(int fd)
{
    char path[64], line[256];
    long flags = -1;
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags:", 6) == 0)
            flags = strtol(line + 6, NULL, 8);
    fclose(f);
    return flags;
}

static const char *nb(long flags) { return flags < 0 ? "unknown" : (flags & O_NONBLOCK) ? "yes" : "no"; }

static int child_flags(void)
{
    char report[512];
    int fl0 = fcntl(0, F_GETFL), fl1 = fcntl(1, F_GETFL);
    long fi0 = fdinfo_flags(0), fi1 = fdinfo_flags(1);
    char in[16] = { 0 };
    err_clear();
    size_t got = read_full(0, (unsigned char *)in, 5);
    const char *rd = got == 5 ? in : err_now() == EAGAIN ? "EAGAIN" : "short";
    int n = snprintf(report, sizeof report,
                     "fd0 O_NONBLOCK=%s fd1 O_NONBLOCK=%s fdinfo0 O_NONBLOCK=%s fdinfo1 O_NONBLOCK=%s "
                     "fd0 accmode=%s fd1 accmode=%s read=%s\n",
                     nb(fl0), nb(fl1), nb(fi0), nb(fi1), fl0 < 0 ? "?" : (fl0 & O_ACCMODE) == O_RDWR ? "rdwr" : "other",
                     fl1 < 0 ? "?" : (fl1 & O_ACCMODE) == O_WRONLY ? "wronly" : "other", rd);
    if (write_full(1, (unsigned char *)report, (size_t)n) != (size_t)n)
        return 3;
    static unsigned char payload[CHILD_PAYLOAD];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = pattern(i);
    if (write_full(1, payload, sizeof payload) != sizeof payload)
        return 4;
    return 0;
}

/* --- priming: threads blocked on the descriptors ------------------------------------------ */

struct prime {
    int fd;
    int is_write;
    size_t len;
    size_t done_bytes;
    int done; /* atomic */
};

static unsigned char big[CAT_BYTES];
static unsigned char sink[CAT_BYTES];

static void *prime_main(void *arg)
{
    struct prime *p = arg;
    unsigned char buf[64];
    if (p->is_write)
        p->done_bytes = write_full(p->fd, big, p->len);
    else
        p->done_bytes = read_full(p->fd, buf, p->len);
    __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* a thread blocks reading (is_write 0) or writing fd; 100 ms later main does the other side
 * through other */
static void prime(const char *what, int fd, int other, int is_write, size_t len)
{
    struct prime p = { .fd = fd, .is_write = is_write, .len = len };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, prime_main, &p), 0);
    nap_ms(100);
    CHECK(!__atomic_load_n(&p.done, __ATOMIC_ACQUIRE), "%s: did not block", what);
    size_t n = is_write ? read_full(other, sink, len) : write_full(other, big, len);
    CHECK(n == len, "%s: the other side moved %zu of %zu bytes", what, n, len);
    if (!wait_flag(&p.done, 10000)) {
        printf("FAIL: %s: the blocked thread did not return\nFAILED\n", what);
        fflush(stdout);
        _exit(1);
    }
    EXPECT_ERR(pthread_join(t, NULL), 0);
    CHECK(p.done_bytes == len, "%s: %zu of %zu bytes", what, p.done_bytes, len);
}

/* sv: socketpair (sv[1] goes to the child), p: pipe (p[1] goes to the child) */
static void make_primed(int sv[2], int p[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || pipe2(p, O_CLOEXEC) != 0) {
        printf("FAIL: socketpair/pipe2: %s\n", strerror(errno));
        exit(1);
    }
    prime("read on the child's socket end", sv[1], sv[0], 0, 16);
    prime("write on the child's socket end", sv[1], sv[0], 1, CAT_BYTES);
    prime("read on the parent's socket end", sv[0], sv[1], 0, 16);
    prime("write on the parent's socket end", sv[0], sv[1], 1, CAT_BYTES);
    prime("write on the child's pipe end", p[1], p[0], 1, 256 * 1024);
    prime("read on the parent's pipe end", p[0], p[1], 0, 16);
    EXPECT(fcntl(sv[0], F_GETFL), O_RDWR);
    EXPECT(fcntl(sv[1], F_GETFL), O_RDWR);
    EXPECT(fcntl(p[0], F_GETFL), O_RDONLY);
    EXPECT(fcntl(p[1], F_GETFL), O_WRONLY);
}

/* starts path argv with fd 0 = in, fd 1 = out (both close-on-exec in the parent) */
static pid_t start(int use_spawn, const char *path, char *const argv[], int in, int out)
{
    pid_t pid = -1;
    if (use_spawn) {
        posix_spawn_file_actions_t fa;
        EXPECT_ERR(posix_spawn_file_actions_init(&fa), 0);
        EXPECT_ERR(posix_spawn_file_actions_adddup2(&fa, in, 0), 0);
        EXPECT_ERR(posix_spawn_file_actions_adddup2(&fa, out, 1), 0);
        int rc = posix_spawn(&pid, path, &fa, NULL, argv, environ);
        EXPECT_ERR(rc, 0);
        posix_spawn_file_actions_destroy(&fa);
        return rc == 0 ? pid : -1;
    }
    pid = fork();
    if (pid == 0) {
        if (dup2(in, 0) != 0 || dup2(out, 1) != 1)
            _exit(126);
        execve(path, argv, environ);
        _exit(127);
    }
    CHECK(pid > 0, "fork: %s", strerror(errno));
    return pid;
}

static int wait_exit(pid_t pid)
{
    int status = -1;
    if (pid <= 0)
        return -1;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* a thread blocked in poll(POLLIN) on the child's socket end while the child runs: it wakes
 * when the data for the child arrives (and the child reads that data itself) */
struct poller {
    int fd;
    int n;
    short revents;
    int done; /* atomic */
    pthread_t t;
};

static void *poller_main(void *arg)
{
    struct poller *p = arg;
    struct pollfd pf = { .fd = p->fd, .events = POLLIN };
    p->n = poll(&pf, 1, 20000);
    p->revents = pf.revents;
    __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void poller_start(struct poller *p, int fd)
{
    memset(p, 0, sizeof *p);
    p->fd = fd;
    EXPECT_ERR(pthread_create(&p->t, NULL, poller_main, p), 0);
    nap_ms(50);
    CHECK(!__atomic_load_n(&p->done, __ATOMIC_ACQUIRE), "poll on the child's socket end returned at once");
}

static void poller_join(struct poller *p, const char *what)
{
    EXPECT_ERR(pthread_join(p->t, NULL), 0);
    CHECK(p->n == 1 && (p->revents & POLLIN), "%s: the parent's poll on the child's socket end: %d, revents %#x", what,
          p->n, (unsigned)p->revents);
}

/* --- part 1: cat ------------------------------------------------------------------------------ */

struct feeder {
    int fd;
    size_t sent;
};

static void *feeder_main(void *arg)
{
    struct feeder *f = arg;
    unsigned seed = 12345;
    size_t off = 0;
    while (off < CAT_BYTES) {
        size_t chunk = 1 + (lcg_next(&seed) * 3u) % 65536u;
        if (chunk > CAT_BYTES - off)
            chunk = CAT_BYTES - off;
        if (send_full(f->fd, big + off, chunk) != chunk)
            break;
        off += chunk;
    }
    f->sent = off;
    close(f->fd); /* cat sees EOF */
    return NULL;
}

static void run_cat(int use_spawn)
{
    const char *how = use_spawn ? "posix_spawn" : "fork+execve";
    int before = failures;
    int sv[2], p[2];
    make_primed(sv, p);
    struct poller pl;
    poller_start(&pl, sv[1]);
    const char *cat = access("/bin/cat", X_OK) == 0 ? "/bin/cat" : "/usr/bin/cat";
    char *argv[] = { "cat", NULL };
    pid_t pid = start(use_spawn, cat, argv, sv[1], p[1]);
    close(p[1]); /* sv[1] stays open while the poller waits on it */

    struct feeder f = { .fd = sv[0] };
    pthread_t t;
    EXPECT_ERR(pthread_create(&t, NULL, feeder_main, &f), 0);
    size_t got = read_full(p[0], sink, CAT_BYTES);
    unsigned char extra;
    EXPECT(read(p[0], &extra, 1), 0); /* EOF: cat ended */
    EXPECT_ERR(pthread_join(t, NULL), 0);
    close(p[0]);
    int rc = wait_exit(pid);
    poller_join(&pl, how);
    close(sv[1]);
    CHECK(f.sent == CAT_BYTES, "cat via %s: fed %zu of %d bytes", how, f.sent, CAT_BYTES);
    CHECK(got == CAT_BYTES, "cat via %s: got back %zu of %d bytes", how, got, CAT_BYTES);
    size_t bad = 0;
    for (size_t i = 0; i < got; i++)
        bad += sink[i] != big[i];
    CHECK(bad == 0, "cat via %s: %zu bytes differ", how, bad);
    CHECK(rc == 0, "cat via %s: exit status %d", how, rc);
    if (failures == before)
        printf("cat via %s: %d bytes back intact, cat exited 0\n", how, CAT_BYTES);
}

/* --- part 2: the program itself ------------------------------------------------------------- */

static void run_child(int use_spawn)
{
    const char *how = use_spawn ? "posix_spawn" : "fork+execve";
    int before = failures;
    int sv[2], p[2];
    make_primed(sv, p);
    struct poller pl;
    poller_start(&pl, sv[1]);
    char *argv[] = { "io_fork_exec_cat", "--child-flags", NULL };
    pid_t pid = start(use_spawn, "/proc/self/exe", argv, sv[1], p[1]);
    close(p[1]); /* sv[1] stays open while the poller waits on it */

    nap_ms(100); /* the child blocks reading fd 0 */
    EXPECT(send_full(sv[0], (const unsigned char *)"hello", 5), 5);
    nap_ms(100); /* the child blocks writing fd 1 (256 KB into a 64 KB pipe) */
    static unsigned char buf[CHILD_PAYLOAD + 1024];
    size_t got = read_full(p[0], buf, sizeof buf);
    close(p[0]);
    close(sv[0]);
    int rc = wait_exit(pid);
    poller_join(&pl, how);
    close(sv[1]);
    CHECK(rc == 0, "child via %s: exit status %d", how, rc);
    unsigned char *nl = memchr(buf, '\n', got < 512 ? got : 512);
    if (!nl) {
        CHECK(0, "child via %s: no report line (%zu bytes)", how, got);
        return;
    }
    *nl = 0;
    const char *want = "fd0 O_NONBLOCK=no fd1 O_NONBLOCK=no fdinfo0 O_NONBLOCK=no fdinfo1 O_NONBLOCK=no "
                       "fd0 accmode=rdwr fd1 accmode=wronly read=hello";
    CHECK(strcmp((char *)buf, want) == 0, "child via %s reported: %s", how, (char *)buf);
    size_t plen = got - (size_t)(nl + 1 - buf);
    CHECK(plen == CHILD_PAYLOAD, "child via %s: payload of %zu bytes", how, plen);
    size_t bad = 0;
    for (size_t i = 0; i < plen && i < CHILD_PAYLOAD; i++)
        bad += nl[1 + i] != pattern(i);
    CHECK(bad == 0, "child via %s: %zu payload bytes differ", how, bad);
    printf("child via %s: %s\n", how, (char *)buf);
    if (failures == before)
        printf("child via %s: %d payload bytes intact, exit 0\n", how, CHILD_PAYLOAD);
}

/* --- a thread blocked across all the forks and spawns ---------------------------------------- */

static int bystander_pipe[2];
static char bystander_got[8];
static ssize_t bystander_n = -2;

static void *bystander_main(void *arg)
{
    bystander_n = read(bystander_pipe[0], bystander_got, sizeof bystander_got - 1);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child-flags") == 0)
        return child_flags();
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = pattern(i);

    pthread_t by;
    EXPECT(pipe2(bystander_pipe, O_CLOEXEC), 0);
    EXPECT_ERR(pthread_create(&by, NULL, bystander_main, NULL), 0);

    run_cat(0);
    run_cat(1);
    run_child(1);
    run_child(0);

    EXPECT(write(bystander_pipe[1], "bye", 3), 3);
    EXPECT_ERR(pthread_join(by, NULL), 0);
    CHECK(bystander_n == 3 && memcmp(bystander_got, "bye", 3) == 0, "the bystander read %zd bytes", bystander_n);
    printf("a thread blocked in read() across the forks and spawns got its data\n");
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
