#include "unit.h"
#include <stdlib.h>
#include "timerheap.h"

static int fired_order[1000], nfired;
static void fire(blitz_timer *t) { fired_order[nfired++] = (int)t->deadline; }

Test(timerheap, fires_in_deadline_order_and_only_when_due)
{
    blitz_timerheap h;
    blitz_timerheap_init(&h);
    static blitz_timer t[1000];
    unsigned seed = 7;
    for (int i = 0; i < 1000; i++) {
        seed = seed * 1103515245 + 12345;
        t[i].deadline = 1 + (seed >> 8) % 100000;
        t[i].fire = fire;
        cr_assert_eq(blitz_timerheap_add(&h, &t[i]), 0);
    }
    /* cancel every third */
    int cancelled = 0;
    for (int i = 0; i < 1000; i += 3)
        cancelled += blitz_timerheap_cancel(&t[i]);
    cr_assert_eq(cancelled, 334);
    cr_assert_eq(blitz_timerheap_cancel(&t[0]), 0, "cancel twice is harmless");
    nfired = 0;
    blitz_timerheap_expire(&h, 50000);
    for (int i = 1; i < nfired; i++)
        cr_assert_leq(fired_order[i - 1], fired_order[i]);
    for (int i = 0; i < nfired; i++)
        cr_assert_leq(fired_order[i], 50000);
    int rest = nfired;
    blitz_timerheap_expire(&h, UINT64_MAX - 1);
    cr_assert_eq(nfired, 666, "every timer not cancelled fires once (%d then %d)", rest, nfired);
    cr_assert_eq(blitz_timerheap_min(&h), UINT64_MAX);
    blitz_timerheap_destroy(&h);
}
