/* migrate.h: thread migration, in our own words: the API of Popcorn's user library for programs written
 * against it (built with `popcorn-harness cc`, linked with runtime/popcorn_lib.c), and the phc_* helpers
 * of the conformance programs underneath it.
 *
 * Popcorn's user-library API (names, types and behaviour as programs written for Popcorn expect them;
 * syscall numbers and layouts from the ABI profile, through the environment: see popcorn.h):
 *   void migrate(int nid, void (*callback)(void *), void *arg)
 *       move the calling thread to node nid; it goes on right after the call, on that node; callback(arg)
 *       then runs there (as in Popcorn's library, it runs also when the kernel refused, with errno set).
 *   int popcorn_migrate(int nid)            0 once running on nid, or -1 with errno
 *   int popcorn_get_status(struct popcorn_thread_status *)      0 or -1 with errno
 *   int popcorn_current_nid(void)           the node the thread runs on, -1 on error
 *   int popcorn_get_node_info(int *current_nid, struct popcorn_node_info info[MAX_POPCORN_NODES])
 *   int popcorn_propose_migration(int tid, int nid)   (-1 ENOSYS on a profile without it)
 *   int popcorn_gettid(void)
 *
 * The phc_* helpers:
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
	"	.weak phc_migrate_raw\n" /* weak: every file that includes this header defines it */
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

/* Registers phc_migrate_pinned() holds values in across the migration: callee-saved ones (rbp is the
 * frame pointer, kept by every frame: phc_migrate_raw's own `leave` would fault without it). */
#define PHC_PINNED 5 /* rbx, r12, r13, r14, r15 */

/* PHC_CLOBBER_CALLEE_SAVED (a compile-time switch, for the suite's self-test) changes r13 after the
 * migration and before it is read back, as a kernel that lost it would: the check must then fail. */
#ifdef PHC_CLOBBER_CALLEE_SAVED
#define PHC_CLOBBER_ASM "	xorq $0x100, %r13\n"
#else
#define PHC_CLOBBER_ASM ""
#endif

/* long phc_migrate_pinned(int nid, long syscall_nr, uint64_t regs[2 * PHC_PINNED]): loads regs[0..4] into
 * rbx, r12-r15, migrates with phc_migrate_raw, and stores what those registers hold after it into
 * regs[5..9]; returns what phc_migrate_raw returned. All in assembly, so no compiler can keep or
 * recompute the values elsewhere: what is read back is what the registers held when the thread resumed. */
long phc_migrate_pinned(int nid, long nr, uint64_t *regs);
__asm__(
	"	.text\n"
	"	.weak phc_migrate_pinned\n"
	"	.type phc_migrate_pinned, @function\n"
	"phc_migrate_pinned:\n"
	"	pushq %rbp\n"
	"	movq %rsp, %rbp\n"
	"	pushq %rbx\n"
	"	pushq %r12\n"
	"	pushq %r13\n"
	"	pushq %r14\n"
	"	pushq %r15\n"
	"	pushq %rdx\n" /* regs; the stack is 16-byte aligned again for the call */
	"	movq 0(%rdx), %rbx\n"
	"	movq 8(%rdx), %r12\n"
	"	movq 16(%rdx), %r13\n"
	"	movq 24(%rdx), %r14\n"
	"	movq 32(%rdx), %r15\n"
	"	call phc_migrate_raw\n" /* edi = nid, rsi = nr: still the arguments */
	PHC_CLOBBER_ASM
	"	movq (%rsp), %rdx\n"
	"	movq %rbx, 40(%rdx)\n"
	"	movq %r12, 48(%rdx)\n"
	"	movq %r13, 56(%rdx)\n"
	"	movq %r14, 64(%rdx)\n"
	"	movq %r15, 72(%rdx)\n"
	"	addq $8, %rsp\n"
	"	popq %r15\n"
	"	popq %r14\n"
	"	popq %r13\n"
	"	popq %r12\n"
	"	popq %rbx\n"
	"	popq %rbp\n"
	"	ret\n"
	"	.size phc_migrate_pinned, .-phc_migrate_pinned\n");

/* Make the memory at p escape: the compiler must then assume a call it cannot see may read or write it
 * (so a check reads it back from memory after a migration instead of reusing what it stored). */
static inline void phc_escape(const volatile void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

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

/* ---- Popcorn's user-library API (defined in runtime/popcorn_lib.c) ---- */

#define MAX_POPCORN_NODES 32

struct popcorn_thread_status {
	int current_nid;
	int proposed_nid; /* -1: none (always, on a profile without propose_migration) */
	int peer_nid;
	int peer_pid;
};

enum popcorn_node_status {
	POPCORN_NODE_OFFLINE = 0x00,
	POPCORN_NODE_ONLINE = 0x01,
};

enum popcorn_arch_types {
	POPCORN_NODE_AARCH64 = 0,
	POPCORN_NODE_X86 = 1,
	POPCORN_NODE_PPC64 = 2,
	POPCORN_NODE_UNKNOWN,
};

struct popcorn_node_info {
	unsigned int status;
	int arch;
	int distance;
};

void migrate(int nid, void (*callback)(void *), void *arg);
int popcorn_migrate(int nid);
int popcorn_get_status(struct popcorn_thread_status *status);
int popcorn_get_node_info(int *current_nid, struct popcorn_node_info *info);
int popcorn_propose_migration(int tid, int nid);
int popcorn_gettid(void);

static inline int popcorn_current_nid(void)
{
	struct popcorn_thread_status status;

	return popcorn_get_status(&status) ? -1 : status.current_nid;
}

#endif
