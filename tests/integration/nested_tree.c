// Nested creation: a tree of threads of depth 6 and fan-out 3 (1,093 threads);
// each node creates its children, sleeps briefly, joins them and returns the
// size of its subtree; totals and the sum of depths are checked.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DEPTH 6
#define FANOUT 3

static atomic_long depth_sum, errors;
static atomic_int max_alive, alive;

struct node {
    int depth;
    int index;
};

static void *node_main(void *arg)
{
    struct node me = *(struct node *)arg;
    free(arg);
    int now = atomic_fetch_add(&alive, 1) + 1;
    int m = atomic_load(&max_alive);
    while (now > m && !atomic_compare_exchange_weak(&max_alive, &m, now))
        ;
    atomic_fetch_add(&depth_sum, me.depth);
    uintptr_t total = 1;
    if (me.depth < DEPTH) {
        pthread_t kids[FANOUT];
        int made = 0;
        for (int i = 0; i < FANOUT; i++) {
            struct node *c = malloc(sizeof *c);
            c->depth = me.depth + 1;
            c->index = me.index * FANOUT + i;
            if (pthread_create(&kids[i], NULL, node_main, c) != 0) {
                atomic_fetch_add(&errors, 1);
                free(c);
                break;
            }
            made++;
        }
        struct timespec ts = { 0, 1000000L * (me.index % 3) };
        nanosleep(&ts, NULL);
        for (int i = 0; i < made; i++) {
            void *r = NULL;
            if (pthread_join(kids[i], &r) != 0)
                atomic_fetch_add(&errors, 1);
            total += (uintptr_t)r;
        }
    }
    atomic_fetch_sub(&alive, 1);
    return (void *)total;
}

int main(void)
{
    struct node *root = malloc(sizeof *root);
    root->depth = 0;
    root->index = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, node_main, root) != 0) {
        printf("FAIL: pthread_create(root)\n");
        return 1;
    }
    void *r = NULL;
    pthread_join(t, &r);
    long expect_nodes = 0, expect_depths = 0, level = 1;
    for (int d = 0; d <= DEPTH; d++, level *= FANOUT) {
        expect_nodes += level;
        expect_depths += level * d;
    }
    int failures = 0;
    if ((long)(uintptr_t)r == expect_nodes && depth_sum == expect_depths && errors == 0)
        printf("ok tree depth %d fan-out %d: %ld threads, depth sum %ld\n", DEPTH, FANOUT, expect_nodes,
               expect_depths);
    else {
        printf("FAIL: tree returned %ld nodes (expected %ld), depth sum %ld (expected %ld), %ld errors\n",
               (long)(uintptr_t)r, expect_nodes, (long)depth_sum, expect_depths, (long)errors);
        failures++;
    }
    if (max_alive < DEPTH + 1) { /* a leaf and all its ancestors */
        printf("FAIL: at most %d tree threads were alive at once\n", max_alive);
        failures++;
    }
    return failures ? 1 : 0;
}
