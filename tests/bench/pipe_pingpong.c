/* pipe_pingpong: two threads hand a 1-byte token back and forth over two pipes with blocking
 * read()/write(), R round trips; with -p, P such pairs run at once, each on its own two pipes.
 *   -r R   round trips per pair (default 20000)
 *   -p P   independent pairs running at the same time (default 1)
 * All threads are created first and held at a start gate (one byte each through a shared start
 * pipe), so the timing covers the ping-pong only (start gate to the last join). The token of round
 * i is (i + pair) & 0xff; the echoing thread checks it gets the tokens in order, the initiating
 * thread that each one comes back unchanged. RLIMIT_NOFILE's soft limit is raised to the hard
 * limit (4 descriptors per pair).
 * Result: metric=round_trips_per_s = P * R / secs (total over all pairs). Verified: every pair did
 * R round trips, every token came back in order, no read/write failed. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>
#include "bench.h"

struct pair {
    long id;
    int ping[2];        /* initiator -> echoer */
    int pong[2];        /* echoer -> initiator */
    long done;          /* round trips the initiator completed */
    long echoed;        /* tokens the echoer returned */
};

static long rounds;
static int start_pipe[2];
static atomic_long bad_tokens, io_errors;

/* 1 on success; 0 on EOF or error (counted). */
static int put(int fd, unsigned char c)
{
    ssize_t n;
    while ((n = write(fd, &c, 1)) == -1 && errno == EINTR)
        ;
    if (n == 1)
        return 1;
    if (atomic_fetch_add(&io_errors, 1) == 0)
        perror("pipe_pingpong: write");
    return 0;
}

static int get(int fd, unsigned char *c)
{
    ssize_t n;
    while ((n = read(fd, c, 1)) == -1 && errno == EINTR)
        ;
    if (n == 1)
        return 1;
    if (atomic_fetch_add(&io_errors, 1) == 0) {
        if (n == 0)
            fprintf(stderr, "pipe_pingpong: read: unexpected EOF\n");
        else
            perror("pipe_pingpong: read");
    }
    return 0;
}

static void *initiator(void *arg)
{
    struct pair *p = arg;
    unsigned char c;
    if (!get(start_pipe[0], &c))
        goto out;
    for (long i = 0; i < rounds; i++) {
        unsigned char tok = (unsigned char)(i + p->id);
        if (!put(p->ping[1], tok) || !get(p->pong[0], &c))
            break;
        if (c != tok)
            atomic_fetch_add(&bad_tokens, 1);
        p->done++;
    }
out:
    close(p->ping[1]);          /* the echoer sees EOF if we stopped early */
    return NULL;
}

static void *echoer(void *arg)
{
    struct pair *p = arg;
    unsigned char c;
    for (long i = 0; i < rounds; i++) {
        if (!get(p->ping[0], &c))
            break;
        if (c != (unsigned char)(i + p->id))
            atomic_fetch_add(&bad_tokens, 1);
        if (!put(p->pong[1], c))
            break;
        p->echoed++;
    }
    close(p->pong[1]);
    return NULL;
}

int main(int argc, char **argv)
{
    long npairs = 1;
    int c;
    rounds = 20000;
    while ((c = getopt(argc, argv, "r:p:")) != -1) {
        switch (c) {
        case 'r': rounds = parse_size(optarg); break;
        case 'p': npairs = parse_size(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-r round_trips] [-p pairs]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || npairs < 1) {
        fprintf(stderr, "need -r >= 1 and -p >= 1\n");
        return 2;
    }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)npairs * 4 + 16 > rl.rlim_cur) {
        fprintf(stderr, "pipe_pingpong: %ld pairs need %ld descriptors, RLIMIT_NOFILE is %ld\n",
                npairs, npairs * 4 + 16, (long)rl.rlim_cur);
        return 2;
    }

    struct pair *pairs = calloc(npairs, sizeof *pairs);
    pthread_t *t = calloc(2 * npairs, sizeof *t);
    if (!pairs || !t || pipe(start_pipe)) {
        perror("pipe_pingpong: setup");
        return 2;
    }
    for (long i = 0; i < npairs; i++) {
        pairs[i].id = i;
        if (pipe(pairs[i].ping) || pipe(pairs[i].pong)) {
            perror("pipe_pingpong: pipe");
            return 2;
        }
    }
    for (long i = 0; i < npairs; i++) {
        int rc;
        if ((rc = pthread_create(&t[2 * i], NULL, echoer, &pairs[i])) ||
            (rc = pthread_create(&t[2 * i + 1], NULL, initiator, &pairs[i]))) {
            fprintf(stderr, "pipe_pingpong: pthread_create: %s\n", strerror(rc));
            return 2;
        }
    }

    /* Open the start gate: one byte per initiator (written in chunks: P may exceed the pipe). */
    double t0 = now_s();
    static const char zeros[4096];
    for (long left = npairs; left > 0;) {
        ssize_t n = write(start_pipe[1], zeros, left < (long)sizeof zeros ? (size_t)left : sizeof zeros);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror("pipe_pingpong: start write");
            return 2;
        }
        left -= n;
    }
    for (long i = 0; i < 2 * npairs; i++)
        pthread_join(t[i], NULL);
    double secs = now_s() - t0;

    long short_pairs = 0;
    for (long i = 0; i < npairs; i++)
        short_pairs += pairs[i].done != rounds || pairs[i].echoed != rounds;
    int ok = !short_pairs && !atomic_load(&bad_tokens) && !atomic_load(&io_errors);
    if (!ok)
        fprintf(stderr, "pipe_pingpong: short_pairs=%ld bad_tokens=%ld io_errors=%ld\n", short_pairs,
                atomic_load(&bad_tokens), atomic_load(&io_errors));
    emit("pipe_pingpong", ok, "round_trips_per_s", npairs * rounds / secs,
         "rounds=%ld pairs=%ld round_trips=%ld secs=%.6f ns_per_round_trip_per_pair=%.1f "
         "bad_tokens=%ld io_errors=%ld short_pairs=%ld",
         rounds, npairs, npairs * rounds, secs, secs * 1e9 / rounds, atomic_load(&bad_tokens),
         atomic_load(&io_errors), short_pairs);
    return ok ? 0 : 1;
}
