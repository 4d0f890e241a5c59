/* pcn_node_info: get_node_info, get_thread_status and propose_migration without migrating.
 *
 * usage: pcn_node_info info|badptr|status NODE_ID NR_NODES
 *   info    my id, every listed node online as x86 at distance 0, every other id offline (arch -1),
 *           exactly PCN_MAX_NODES entries written.
 *   badptr  bad pointers: the 5.2 tree answers EINVAL (kernel/sched/core.c, access_ok/copy_to_user
 *           failures return -EINVAL), where Linux convention is EFAULT.
 *   status  a thread that never migrated: current = this node, proposed = -1, peer node/pid = -1;
 *           propose_migration sets and clears the proposal, refuses ids out of range and unknown pids.
 */
#include "migrate.h"
#include "program.h"

#include <sys/mman.h>

#define SENTINEL 0x5a5a5a5a
#define ARCH_X86 1
#define ARCH_UNKNOWN (-1)
#define KERNEL_ADDR ((void *)0xffff880000000000UL)

#define my_id phc_origin
#define nr_nodes phc_nr_nodes
#define max_nodes phc_max_nodes

static void check_info(void)
{
	struct pcn_node_info info[PCN_MAX_TABLE + 1];
	int nid = SENTINEL, i, written = 0;
	long ret;

	memset(info, 0x5a, sizeof(info));
	errno = 0;
	ret = pcn_get_node_info(&nid, info, PCN_MAX_TABLE);
	phc_check("node_info_returns_0", ret == 0, "0", "%ld (errno %s)", ret, phc_errname(ret ? errno : 0));
	phc_check("node_info_my_nid", nid == my_id, "own node id", "%d", nid);
	for (i = 0; i < PCN_MAX_TABLE + 1; i++)
		if (info[i].status != SENTINEL)
			written = i + 1;
	phc_check("node_info_entries_written", written == max_nodes, "PCN_MAX_NODES entries", "%d (max %d)", written,
		  max_nodes);
	for (i = 0; i < max_nodes; i++) {
		int online = i < nr_nodes;
		char name[64], expected[64];

		snprintf(name, sizeof(name), "node_info_entry_%d", i);
		snprintf(expected, sizeof(expected), "status %d arch %d distance 0", online,
			 online ? ARCH_X86 : ARCH_UNKNOWN);
		phc_check(name, info[i].status == (unsigned)online && info[i].arch == (online ? ARCH_X86 : ARCH_UNKNOWN) &&
			  info[i].distance == 0, expected, "status %u arch %d distance %d", info[i].status, info[i].arch,
			  info[i].distance);
	}
}

/* One bad-pointer case: a name and the two pointers passed. */
struct badptr_case {
	const char *name;
	int *my_nid;
	struct pcn_node_info *info;
};

static void check_badptr(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static int nid;
	static struct pcn_node_info info[PCN_MAX_TABLE];
	struct pcn_node_info *short_info;
	size_t i;

	munmap(two + page, page); /* the table then runs off the end of a mapping */
	short_info = (struct pcn_node_info *)(two + page - 4 * sizeof(struct pcn_node_info));
	const struct badptr_case cases[] = {
		{ "node_info_null_my_nid", NULL, info },
		{ "node_info_unmapped_my_nid", (int *)(two + page), info },
		{ "node_info_readonly_my_nid", (int *)ro, info },
		{ "node_info_kernel_my_nid", KERNEL_ADDR, info },
		{ "node_info_null_info", &nid, NULL },
		{ "node_info_readonly_info", &nid, (struct pcn_node_info *)ro },
		{ "node_info_kernel_info", &nid, KERNEL_ADDR },
		{ "node_info_info_runs_off_mapping", &nid, short_info },
	};

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long ret;

		errno = 0;
		ret = pcn_get_node_info(cases[i].my_nid, cases[i].info, PCN_MAX_TABLE);
		phc_check(cases[i].name, ret == -1 && errno == EINVAL, "-1 EINVAL (5.2 tree; Linux convention: EFAULT)",
			  "%ld %s", ret, phc_errname(ret ? errno : 0));
	}
	{
		long ret;

		errno = 0;
		ret = syscall(PCN_NR_THREAD_STATUS, NULL);
		phc_check("thread_status_null", ret == -1 && errno == EINVAL, "-1 EINVAL (5.2 tree; Linux: EFAULT)",
			  "%ld %s", ret, phc_errname(ret ? errno : 0));
		errno = 0;
		ret = syscall(PCN_NR_THREAD_STATUS, ro);
		phc_check("thread_status_readonly", ret == -1 && errno == EINVAL, "-1 EINVAL (5.2 tree; Linux: EFAULT)",
			  "%ld %s", ret, phc_errname(ret ? errno : 0));
	}
}

static void check_status(void)
{
	struct phc_status st = { SENTINEL, SENTINEL, SENTINEL, SENTINEL };
	int ret = phc_thread_status(&st);
	/* propose_migration cases: pid, nid, the result expected */
	const struct { const char *name; pid_t pid; int nid; int expect; } cases[] = {
		{ "propose_nid_below_minus_1", 0, -2, -EINVAL },
		{ "propose_nid_max", 0, max_nodes, -EINVAL },
		{ "propose_unknown_pid", 0x3ffffff0, 0, -ENOENT },
		{ "propose_self_by_pid", getpid(), (my_id + 1) % nr_nodes, 0 },
	};
	size_t i;

	phc_check("status_returns_0", ret == 0, "0", "%d", ret);
	phc_check("status_current_is_here", st.current_nid == my_id, "own node id", "%d", st.current_nid);
	phc_check("status_no_proposal", st.proposed_nid == -1, "-1", "%d", st.proposed_nid);
	phc_check("status_no_peer", st.peer_nid == -1 && st.peer_pid == -1, "peer node -1 pid -1",
		  "peer node %d pid %d", st.peer_nid, st.peer_pid);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = phc_propose(cases[i].pid, cases[i].nid);
		char expected[32];

		snprintf(expected, sizeof(expected), "%s", phc_errname(-cases[i].expect));
		phc_check(cases[i].name, got == cases[i].expect, expected, "%s", phc_errname(-got));
	}
	phc_thread_status(&st);
	phc_check("status_shows_proposal", st.proposed_nid == (my_id + 1) % nr_nodes, "the proposed node", "%d",
		  st.proposed_nid);
	ret = phc_propose(0, -1);
	phc_thread_status(&st);
	phc_check("propose_minus_1_clears", ret == 0 && st.proposed_nid == -1, "0, proposal -1", "%d, proposal %d",
		  ret, st.proposed_nid);
}

static const struct phc_mode modes[] = {
	{ "info", check_info, "node_info_returns_0 node_info_my_nid node_info_entries_written node_info_entry_{slot}" },
	{ "badptr", check_badptr,
	  "node_info_null_my_nid node_info_unmapped_my_nid node_info_readonly_my_nid node_info_kernel_my_nid "
	  "node_info_null_info node_info_readonly_info node_info_kernel_info node_info_info_runs_off_mapping "
	  "thread_status_null thread_status_readonly" },
	{ "status", check_status,
	  "status_returns_0 status_current_is_here status_no_proposal status_no_peer propose_nid_below_minus_1 "
	  "propose_nid_max propose_unknown_pid propose_self_by_pid status_shows_proposal propose_minus_1_clears" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 60);
}
