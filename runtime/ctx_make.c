#include <stdint.h>
#include "ctx.h"

extern void blitz_ctx_entry(void);

void blitz_ctx_make(blitz_ctx *c, void *stack_top, void (*entry)(void *), void *arg)
{
    /* Frame consumed by blitz_ctx_switch, lowest address first:
     * [mxcsr|fpucw] r15 r14 r13 r12 rbx rbp ret. After its `ret`, rsp is 16-aligned, so the
     * `call` in blitz_ctx_entry gives entry the alignment the ABI promises. */
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 16 - 8 * 8);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    sp[0] = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
    sp[1] = 0;                          /* r15 */
    sp[2] = 0;                          /* r14 */
    sp[3] = (uint64_t)(uintptr_t)arg;   /* r13 */
    sp[4] = (uint64_t)(uintptr_t)entry; /* r12 */
    sp[5] = 0;                          /* rbx */
    sp[6] = 0;                          /* rbp */
    sp[7] = (uint64_t)(uintptr_t)blitz_ctx_entry;
    c->sp = sp;
}
