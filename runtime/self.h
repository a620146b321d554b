/* Per-OS-thread pointers of the runtime: the task running on this thread and the machine
 * this thread is. Both are read with an explicit %fs-relative load each time: code after a
 * context switch may run on another OS thread, and the compiler must never reuse a thread
 * pointer or TLS address computed before the switch. Only scheduler code writes them. */
#ifndef BLITZ_SELF_H
#define BLITZ_SELF_H

struct blitz_task;
struct blitz_machine;

extern __thread struct blitz_task *blitz_tls_self_v __attribute__((tls_model("initial-exec")));
extern __thread struct blitz_machine *blitz_tls_machine_v __attribute__((tls_model("initial-exec")));

static inline struct blitz_task *blitz_self_inline(void)
{
    struct blitz_task *t;
    __asm__ volatile("movq blitz_tls_self_v@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0"
                     : "=r"(t));
    return t;
}

static inline struct blitz_machine *blitz_tls_machine(void)
{
    struct blitz_machine *m;
    __asm__ volatile("movq blitz_tls_machine_v@gottpoff(%%rip), %0\n\t"
                     "movq %%fs:(%0), %0"
                     : "=r"(m));
    return m;
}

static inline void blitz_tls_set_self(struct blitz_task *t)
{
    __asm__ volatile("movq blitz_tls_self_v@gottpoff(%%rip), %%rax\n\t"
                     "movq %0, %%fs:(%%rax)"
                     :
                     : "r"(t)
                     : "rax", "memory");
}

static inline void blitz_tls_set_machine(struct blitz_machine *m)
{
    __asm__ volatile("movq blitz_tls_machine_v@gottpoff(%%rip), %%rax\n\t"
                     "movq %0, %%fs:(%%rax)"
                     :
                     : "r"(m)
                     : "rax", "memory");
}
#endif
