/* x86-64 System V context switch. See ctx.h. */
    .text

/* void blitz_ctx_switch(blitz_ctx *from (rdi), blitz_ctx *to (rsi)) */
    .globl blitz_ctx_switch
    .hidden blitz_ctx_switch
    .type blitz_ctx_switch, @function
    .p2align 4
blitz_ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size blitz_ctx_switch, .-blitz_ctx_switch

/* First frame of every task: calls entry (r12) with arg (r13). The undefined return
 * address marks the outermost frame, so unwinders (pthread_exit, C++ exceptions, gdb)
 * stop here. */
    .globl blitz_ctx_entry
    .hidden blitz_ctx_entry
    .type blitz_ctx_entry, @function
    .p2align 4
blitz_ctx_entry:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    movq %r13, %rdi
    callq *%r12
    ud2
    .cfi_endproc
    .size blitz_ctx_entry, .-blitz_ctx_entry

    .section .note.GNU-stack,"",@progbits
