/* migrate.h: thread migration for the conformance programs, in our own words.
 *
 * phc_migrate(nid) moves the calling thread to node nid; it returns 0 when the thread resumes at the
 * destination (and, after a migration back, at the origin), or -errno when the kernel refuses.
 *
 * How the 5.2 tree resumes a thread (arch/x86/kernel/process_server.c, restore_thread_info): it copies
 * the user register set passed to popcorn_migrate into the new thread's pt_regs: rip, rsp, rflags and
 * all sixteen general registers (so the callee-saved rbx, rbp, r12-r15 come back as we saved them);
 * cs/ss are forced to the user selectors and the fs base (TLS) is taken by the kernel itself from
 * MSR_FS_BASE at the source (save_thread_info) and set with arch_prctl at the destination. The mmx,
 * xmm and x87 fields are not restored (they are caller-saved in the SysV ABI anyway). So the helper
 * saves the callee-saved registers, rsp, rflags, sets rip to the instruction after its `syscall` and
 * rax to 0 (the value a resumed remote thread sees; at the origin the syscall's own 0 is returned).
 */
#ifndef PHC_MIGRATE_H
#define PHC_MIGRATE_H

#include "popcorn.h" /* first: it defines _GNU_SOURCE */
#include <stddef.h>
#include <stdint.h>
#include "thread.h"


/* Offsets in the x86_64 register set, shared with the assembly below (checked against the struct). */
#define PHC_RS_RIP 0
#define PHC_RS_RAX 8
#define PHC_RS_RBX 32
#define PHC_RS_RBP 56
#define PHC_RS_RSP 64
#define PHC_RS_R12 104
#define PHC_RS_R13 112
#define PHC_RS_R14 120
#define PHC_RS_R15 128
#define PHC_RS_RFLAGS 616
#define PHC_RS_SIZE 624
#define PHC_RS_FRAME 640 /* stack space reserved for it: 16-byte multiple */

/* The x86_64 register set layout the 5.2 tree copies from user space (our own definition). */
struct phc_regset {
	uint64_t rip;
	uint64_t rax, rdx, rcx, rbx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t mmx[8];
	unsigned __int128 xmm[16];
	long double st[8];
	uint32_t cs, ss, ds, es, fs, gs;
	uint64_t rflags;
};

_Static_assert(offsetof(struct phc_regset, rbx) == PHC_RS_RBX, "rbx offset");
_Static_assert(offsetof(struct phc_regset, rbp) == PHC_RS_RBP, "rbp offset");
_Static_assert(offsetof(struct phc_regset, rsp) == PHC_RS_RSP, "rsp offset");
_Static_assert(offsetof(struct phc_regset, r12) == PHC_RS_R12, "r12 offset");
_Static_assert(offsetof(struct phc_regset, r15) == PHC_RS_R15, "r15 offset");
_Static_assert(offsetof(struct phc_regset, rflags) == PHC_RS_RFLAGS, "rflags offset");
_Static_assert(sizeof(struct phc_regset) == PHC_RS_SIZE, "regset size");

/* long phc_migrate_raw(int nid, long syscall_nr): 0 on resume, -errno on refusal. */
long phc_migrate_raw(int nid, long nr);
__asm__(
	"	.text\n"
	"	.globl phc_migrate_raw\n"
	"	.type phc_migrate_raw, @function\n"
	"phc_migrate_raw:\n"
	"	pushq %rbp\n"
	"	movq %rsp, %rbp\n"
	"	subq $" PHC_STR(PHC_RS_FRAME) ", %rsp\n"
	"	movq %rdi, %r8\n"
	"	movq %rsi, %r9\n"
	"	movq %rsp, %rdi\n"
	"	xorl %eax, %eax\n"
	"	movl $" PHC_STR(PHC_RS_SIZE / 8) ", %ecx\n"
	"	rep stosq\n"
	"	movq %rbx, " PHC_STR(PHC_RS_RBX) "(%rsp)\n"
	"	movq %rbp, " PHC_STR(PHC_RS_RBP) "(%rsp)\n"
	"	movq %r12, " PHC_STR(PHC_RS_R12) "(%rsp)\n"
	"	movq %r13, " PHC_STR(PHC_RS_R13) "(%rsp)\n"
	"	movq %r14, " PHC_STR(PHC_RS_R14) "(%rsp)\n"
	"	movq %r15, " PHC_STR(PHC_RS_R15) "(%rsp)\n"
	"	movq %rsp, " PHC_STR(PHC_RS_RSP) "(%rsp)\n"
	"	leaq 1f(%rip), %rax\n"
	"	movq %rax, " PHC_STR(PHC_RS_RIP) "(%rsp)\n"
	"	pushfq\n"
	"	popq %rax\n"
	"	movq %rax, " PHC_STR(PHC_RS_RFLAGS) "(%rsp)\n"
	"	movl %r8d, %edi\n"
	"	movq %rsp, %rsi\n"
	"	movq %r9, %rax\n"
	"	syscall\n"
	"1:\n"
	"	leave\n"
	"	ret\n"
	"	.size phc_migrate_raw, .-phc_migrate_raw\n");

/* Move the calling thread to node nid: 0 once running there, -errno if refused. */
static inline int phc_migrate(int nid)
{
	return (int)phc_migrate_raw(nid, PCN_NR_MIGRATE);
}

struct phc_status {
	int current_nid, proposed_nid, peer_nid, peer_pid;
};

/* The calling thread's Popcorn status (4-int layout of the 5.2 tree); 0 or -errno. */
static inline int phc_thread_status(struct phc_status *st)
{
	return (int)phc_raw_syscall(PCN_NR_THREAD_STATUS, (long)st, 0, 0, 0);
}

/* propose_migration(pid, nid): 0 or -errno. */
static inline int phc_propose(pid_t pid, int nid)
{
	return (int)phc_raw_syscall(PCN_NR_PROPOSE, pid, nid, 0, 0);
}

/* This node's id, -1 if get_node_info fails. */
static inline int phc_my_nid(void)
{
	struct pcn_node_info info[PCN_MAX_TABLE];
	int nid = -1;

	return phc_raw_syscall(PCN_NR_NODE_INFO, (long)&nid, (long)info, 0, 0) == 0 ? nid : -1;
}

#endif
