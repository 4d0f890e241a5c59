/* pcn_bad_args: bad arguments to the Popcorn system calls, from an unprivileged user.
 *
 * usage: pcn_bad_args MODE NODE_ID NR_NODES [ARG]    (the peer is node NODE_ID + 1)
 * Every mode but reset_init first drops to uid/gid 65534 (nobody) and checks it did.
 *   uregs ARG      popcorn_migrate(peer, uregs) with a register-set pointer the kernel cannot read: ARG
 *                  null, unmapped, kernel (a kernel-half address) or partial (the set runs off the end of a
 *                  mapping). Expected: -PCN_BAD_POINTER_ERRNO (the profile's answer to a bad pointer), the
 *                  caller still at the origin, able to migrate with a good set afterwards.
 *   status_badptr  get_thread_status into an unmapped page, a kernel address and a buffer that runs off
 *                  the end of a mapping: -PCN_BAD_POINTER_ERRNO, the caller unharmed.
 *   propose_other  propose_migration for another user's task (pid 1, root's init): -EPERM, as for every
 *                  Linux call that changes another user's task (sched_setaffinity, setpriority...).
 *   reset_init     (as root) propose_migration(1, -1): clears what propose_other may have set.
 *   mesh_down      on a Popcorn kernel whose message layer is not loaded: get_node_info answers 0 with no
 *                  id (-1) and every node offline; migrating anywhere is refused with EAGAIN (offline)
 *                  or EBUSY, and the caller stays where it is; the thread status says no node (-1).
 */
#include "migrate.h"
#include "program.h"

#include <grp.h>
#include <sys/mman.h>

#define NOBODY 65534
#define KERNEL_ADDR 0xffff880000000000UL
#define peer ((phc_origin + 1) % phc_nr_nodes)

static int bad_errno;

/* Drop to nobody (uid and gid, real, effective and saved) and check it. */
static void drop_privileges(void)
{
	int ok = setgroups(0, NULL) == 0 && setresgid(NOBODY, NOBODY, NOBODY) == 0 &&
		 setresuid(NOBODY, NOBODY, NOBODY) == 0;

	phc_check("running_as_nobody", ok && getuid() == NOBODY && geteuid() == NOBODY && getegid() == NOBODY,
		  "uid and gid 65534", "uid %d euid %d egid %d%s", getuid(), geteuid(), getegid(),
		  ok ? "" : " (dropping failed)");
}

/* A pointer `size` bytes before the end of a mapping, with nothing mapped after it. */
static void *runs_off_mapping(size_t size)
{
	char *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	munmap(two + 4096, 4096);
	return two + 4096 - size;
}

/* An unmapped address: a page mapped, then unmapped. */
static void *unmapped_page(void)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	munmap(page, 4096);
	return page;
}

/* "-EINVAL" for a result, "0" for 0. */
static const char *result_name(long ret, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", ret < 0 ? "-" : "", phc_errname(ret < 0 ? (int)-ret : 0));
	return buf;
}

static void mode_uregs(void)
{
	const struct { const char *name; void *uregs; } kinds[] = {
		{ "null", NULL },
		{ "unmapped", unmapped_page() },
		{ "kernel", (void *)KERNEL_ADDR },
		{ "partial", runs_off_mapping(100) },
	};
	char expected[48], got[48];
	void *uregs = NULL;
	long ret;
	size_t i;
	int found = 0, here;

	drop_privileges();
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (phc_arg && !strcmp(phc_arg, kinds[i].name))
			uregs = kinds[i].uregs, found = 1;
	if (!found) {
		phc_check("migrate_bad_uregs_refused", 0, "ARG: null, unmapped, kernel or partial", "%s",
			  phc_arg ? phc_arg : "no ARG");
		return;
	}
	ret = phc_raw_syscall(PCN_NR_MIGRATE, peer, (long)uregs, 0, 0);
	here = phc_my_nid();
	snprintf(expected, sizeof(expected), "-%s, still at the origin", phc_errname(bad_errno));
	phc_check("migrate_bad_uregs_refused", ret == -bad_errno && here == phc_origin, expected, "%s, on %d",
		  result_name(ret, got, sizeof(got)), here);
	if (here != phc_origin) /* the kernel took the bad set and the thread runs elsewhere: nothing to add */
		return;
	ret = phc_migrate(peer);
	here = phc_my_nid();
	if (ret == 0)
		ret = phc_migrate(phc_origin);
	phc_record("good_migration_afterwards", phc_my_nid(), ret == 0 && phc_my_nid() == phc_origin,
		   "to the peer and back: 0", "%s (was on %d), on %d", result_name(ret, got, sizeof(got)), here,
		   phc_my_nid());
	phc_flush();
}

static void mode_status_badptr(void)
{
	const struct { const char *name; long ptr; } cases[] = {
		{ "thread_status_unmapped", (long)unmapped_page() },
		{ "thread_status_kernel", (long)KERNEL_ADDR },
		{ "thread_status_runs_off_mapping", (long)runs_off_mapping(sizeof(struct phc_status) / 2) },
	};
	struct phc_status st;
	char expected[48], got[48];
	size_t i;

	drop_privileges();
	snprintf(expected, sizeof(expected), "-%s", phc_errname(bad_errno));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long ret = phc_raw_syscall(PCN_NR_THREAD_STATUS, cases[i].ptr, 0, 0, 0);

		phc_check(cases[i].name, ret == -bad_errno, expected, "%s", result_name(ret, got, sizeof(got)));
	}
	phc_check("thread_status_still_works", phc_thread_status(&st) == 0 && st.current_nid == phc_origin,
		  "0, current = this node", "current %d", st.current_nid);
}

static void mode_propose_other(void)
{
	char got[48];
	long ret;

	drop_privileges();
	ret = phc_propose(1, peer);
	phc_check("propose_for_another_users_task_eperm", ret == -EPERM, "-EPERM", "%s",
		  result_name(ret, got, sizeof(got)));
}

static void mode_reset_init(void)
{
	char got[48];
	long ret = phc_propose(1, -1);

	phc_check("init_proposal_cleared", ret == 0, "0", "%s", result_name(ret, got, sizeof(got)));
}

static void mode_mesh_down(void)
{
	struct pcn_node_info info[PCN_MAX_TABLE];
	struct phc_status st = { -2, -2, -2, -2 };
	int nid = -2, online = 0, i, ret0, ret1;
	long ret;

	drop_privileges();
	memset(info, 0x5a, sizeof(info));
	ret = pcn_get_node_info(&nid, info, PCN_MAX_TABLE);
	for (i = 0; i < phc_max_nodes; i++)
		online += info[i].status == 1;
	phc_check("node_info_without_mesh", ret == 0 && nid == -1 && online == 0, "0, my id -1, no node online",
		  "%ld, my id %d, %d online", ret, nid, online);
	ret0 = phc_migrate(0);
	ret1 = phc_migrate(1);
	phc_check("migrate_without_mesh_refused", ret0 == -EAGAIN && ret1 == -EAGAIN && phc_my_nid() == -1,
		  "-EAGAIN for nodes 0 and 1 (offline), still here", "%s and %s", phc_errname(-ret0),
		  phc_errname(-ret1));
	ret = phc_thread_status(&st);
	phc_check("thread_status_without_mesh", ret == 0 && st.current_nid == -1 && st.peer_nid == -1,
		  "0, current -1, peer -1", "%ld, current %d, peer %d", ret, st.current_nid, st.peer_nid);
}

static const struct phc_mode modes[] = {
	{ "uregs", mode_uregs, "running_as_nobody migrate_bad_uregs_refused good_migration_afterwards" },
	{ "status_badptr", mode_status_badptr,
	  "running_as_nobody thread_status_unmapped thread_status_kernel thread_status_runs_off_mapping "
	  "thread_status_still_works" },
	{ "propose_other", mode_propose_other, "running_as_nobody propose_for_another_users_task_eperm" },
	{ "reset_init", mode_reset_init, "init_proposal_cleared" },
	{ "mesh_down", mode_mesh_down,
	  "running_as_nobody node_info_without_mesh migrate_without_mesh_refused thread_status_without_mesh" },
};

int main(int argc, char **argv)
{
	bad_errno = (int)pcn_nr("PCN_BAD_POINTER_ERRNO", EINVAL);
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 60);
}
