/* Machine context of a stackful task: only the stack pointer; everything else the switch
 * saves (callee-saved registers, MXCSR, x87 control word) lives on the task's own stack.
 * Thread-safety: a context is owned by whoever is about to switch to it; the scheduler
 * guarantees a context is never resumed by two OS threads at once. */
#ifndef BLITZ_CTX_H
#define BLITZ_CTX_H

typedef struct blitz_ctx {
    void *sp;
} blitz_ctx;

/* Saves the current context into *from and resumes *to. Returns when someone switches back
 * to *from. No system call, no allocation. */
void blitz_ctx_switch(blitz_ctx *from, blitz_ctx *to);

/* Prepares *c so that the first switch to it calls entry(arg) on the stack ending at
 * stack_top (exclusive, any alignment). entry must never return. The MXCSR and x87 control
 * word are inherited from the caller, as a new thread inherits them from its creator. */
void blitz_ctx_make(blitz_ctx *c, void *stack_top, void (*entry)(void *), void *arg);

#endif
