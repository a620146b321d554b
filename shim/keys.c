/* pthread_key_*: keys are allocated by the real libc (so plain threads keep native
 * behaviour), and each task keeps its values in its shim area, two-level like NPTL. A key's
 * generation counter (odd: allocated) makes values of a deleted key invisible. */
#include <errno.h>
#include <stdlib.h>
#include "real.h"
#include "thread_state.h"

static struct {
    _Atomic uintptr_t seq;
    void (*_Atomic dtor)(void *);
} g_keys[SHIM_KEYS_MAX];

BLITZ_EXPORT int pthread_key_create(pthread_key_t *key, void (*dtor)(void *))
{
    int rc = REAL(pthread_key_create)(key, dtor);
    if (rc == 0 && *key < SHIM_KEYS_MAX) {
        atomic_store_explicit(&g_keys[*key].dtor, dtor, memory_order_relaxed);
        /* release: a task that sees the new generation also sees the destructor */
        uintptr_t s = atomic_load_explicit(&g_keys[*key].seq, memory_order_relaxed);
        atomic_store_explicit(&g_keys[*key].seq, (s | 1) + ((s & 1) ? 2 : 0), memory_order_release);
    }
    return rc;
}

BLITZ_EXPORT int pthread_key_delete(pthread_key_t key)
{
    int rc = REAL(pthread_key_delete)(key);
    if (rc == 0 && key < SHIM_KEYS_MAX) {
        uintptr_t s = atomic_load_explicit(&g_keys[key].seq, memory_order_relaxed);
        if (s & 1)
            atomic_store_explicit(&g_keys[key].seq, s + 1, memory_order_release);
    }
    return rc;
}

static shim_key_slot *slot(shim_thread *st, pthread_key_t key, int create)
{
    if (key < SHIM_KEY_BLOCK)
        return &st->keys[key];
    shim_key_slot **blk = &st->key_blocks[key / SHIM_KEY_BLOCK];
    if (!*blk) {
        if (!create)
            return NULL;
        *blk = calloc(SHIM_KEY_BLOCK, sizeof(shim_key_slot));
        if (!*blk)
            return NULL;
    }
    return &(*blk)[key % SHIM_KEY_BLOCK];
}

BLITZ_EXPORT void *pthread_getspecific(pthread_key_t key)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(pthread_getspecific)(key);
    if (key >= SHIM_KEYS_MAX)
        return NULL;
    shim_key_slot *s = slot(shim_of(t), key, 0);
    if (!s || s->seq != atomic_load_explicit(&g_keys[key].seq, memory_order_acquire))
        return NULL;
    return s->value;
}

BLITZ_EXPORT int pthread_setspecific(pthread_key_t key, const void *value)
{
    blitz_task *t = shim_task();
    if (!t)
        return REAL(pthread_setspecific)(key, value);
    if (key >= SHIM_KEYS_MAX)
        return EINVAL;
    uintptr_t seq = atomic_load_explicit(&g_keys[key].seq, memory_order_acquire);
    if (!(seq & 1))
        return EINVAL;
    shim_key_slot *s = slot(shim_of(t), key, 1);
    if (!s)
        return ENOMEM;
    s->seq = seq;
    s->value = (void *)value;
    return 0;
}

/* As NPTL: up to PTHREAD_DESTRUCTOR_ITERATIONS rounds while destructors store new values. */
void shim_keys_run_destructors(blitz_task *t)
{
    shim_thread *st = shim_of(t);
    for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; round++) {
        int again = 0;
        for (unsigned b = 0; b < SHIM_KEYS_MAX / SHIM_KEY_BLOCK; b++) {
            shim_key_slot *blk = b == 0 ? st->keys : st->key_blocks[b];
            if (!blk)
                continue;
            for (unsigned i = 0; i < SHIM_KEY_BLOCK; i++) {
                shim_key_slot *s = &blk[i];
                unsigned key = b * SHIM_KEY_BLOCK + i;
                if (!s->value)
                    continue;
                void *v = s->value;
                s->value = NULL;
                if (s->seq != atomic_load_explicit(&g_keys[key].seq, memory_order_acquire))
                    continue;
                void (*dtor)(void *) = atomic_load_explicit(&g_keys[key].dtor, memory_order_relaxed);
                if (dtor) {
                    dtor(v);
                    again = 1;
                }
            }
        }
        if (!again)
            break;
    }
    for (unsigned b = 1; b < SHIM_KEYS_MAX / SHIM_KEY_BLOCK; b++) {
        free(st->key_blocks[b]);
        st->key_blocks[b] = NULL;
    }
}
