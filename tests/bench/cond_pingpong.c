/* cond_pingpong: two threads hand a token back and forth through one mutex and two condition
 * variables (or, with -s, two semaphores), R round trips.
 *   -r R   round trips (default 20000)
 *   -s     use semaphores instead of mutex + condvars
 * Result: metric=round_trips_per_s. Verified: both threads counted R turns. */
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>
#include "bench.h"

static long rounds;
static int use_sem;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv[2] = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER };
static sem_t sem[2];
static int turn;
static long turns[2];

static void *player(void *arg)
{
    int me = (int)(long)arg;
    for (long i = 0; i < rounds; i++) {
        if (use_sem) {
            sem_wait(&sem[me]);
            turns[me]++;
            sem_post(&sem[!me]);
        } else {
            pthread_mutex_lock(&m);
            while (turn != me)
                pthread_cond_wait(&cv[me], &m);
            turns[me]++;
            turn = !me;
            pthread_cond_signal(&cv[!me]);
            pthread_mutex_unlock(&m);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int c;
    rounds = 20000;
    while ((c = getopt(argc, argv, "r:s")) != -1) {
        switch (c) {
        case 'r': rounds = parse_size(optarg); break;
        case 's': use_sem = 1; break;
        default:
            fprintf(stderr, "usage: %s [-r round_trips] [-s]\n", argv[0]);
            return 2;
        }
    }
    sem_init(&sem[0], 0, 1);
    sem_init(&sem[1], 0, 0);
    pthread_t t[2];
    double t0 = now_s();
    for (long i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, player, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double secs = now_s() - t0;
    int ok = turns[0] == rounds && turns[1] == rounds;
    emit(use_sem ? "sem_pingpong" : "cond_pingpong", ok, "round_trips_per_s", rounds / secs,
         "rounds=%ld secs=%.6f", rounds, secs);
    return ok ? 0 : 1;
}
