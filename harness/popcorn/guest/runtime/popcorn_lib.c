/* popcorn_lib.c: the run-time library linked into every guest program (the suite's and those built with
 * `popcorn-harness cc`): Popcorn's user-library API (declared in migrate.h) for every ABI profile, and
 * threads that start on the Popcorn 5.2 kernel.
 *
 * Threads: glibc >= 2.34 starts a thread with clone3 (syscall 435 since Linux 5.3) and falls back to
 * clone only when clone3 fails with ENOSYS. The 5.2 Popcorn tree gives 435 to popcorn_propose_migration,
 * which answers glibc's clone3(args, 88) with EINVAL (node 88 out of range): pthread_create fails. This
 * file defines glibc's internal __clone3 (in a static link, the program's definition is taken and
 * libc.a's is never pulled in) to fail with ENOSYS, so glibc uses clone, on every kernel: an unmodified
 * pthread program then works on Popcorn 5.2 as on any other kernel.
 */
#include "migrate.h"

struct clone_args;

int __clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);

int __clone3(struct clone_args *args, size_t size, int (*fn)(void *), void *arg)
{
	(void)args;
	(void)size;
	(void)fn;
	(void)arg;
	errno = ENOSYS;
	return -1;
}

/* A raw result (-errno or >= 0) as the library returns it: -1 with errno, or the value. */
static int phc_errno_result(long ret)
{
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return (int)ret;
}

int popcorn_migrate(int nid)
{
	return phc_errno_result(phc_migrate(nid));
}

void migrate(int nid, void (*callback)(void *), void *arg)
{
	popcorn_migrate(nid);
	if (callback)
		callback(arg);
}

int popcorn_get_status(struct popcorn_thread_status *status)
{
	int raw[4] = { -1, -1, -1, -1 };
	long ret;

	if (!status) {
		errno = EINVAL;
		return -1;
	}
	ret = phc_raw_syscall(PCN_NR_THREAD_STATUS, (long)raw, 0, 0, 0);
	if (ret < 0)
		return phc_errno_result(ret);
	if (pcn_nr("PCN_THREAD_STATUS_INTS", 4) == 3) { /* current_nid, peer_nid, peer_pid */
		status->current_nid = raw[0];
		status->proposed_nid = -1;
		status->peer_nid = raw[1];
		status->peer_pid = raw[2];
	} else {
		status->current_nid = raw[0];
		status->proposed_nid = raw[1];
		status->peer_nid = raw[2];
		status->peer_pid = raw[3];
	}
	return 0;
}

int popcorn_get_node_info(int *current_nid, struct popcorn_node_info *info)
{
	/* The third argument (the table's length) is read by the profiles whose call has one. */
	return phc_errno_result(phc_raw_syscall(PCN_NR_NODE_INFO, (long)current_nid, (long)info, MAX_POPCORN_NODES, 0));
}

int popcorn_propose_migration(int tid, int nid)
{
	long nr = PCN_NR_PROPOSE;

	return phc_errno_result(nr < 0 ? -ENOSYS : phc_raw_syscall(nr, tid, nid, 0, 0));
}

int popcorn_gettid(void)
{
	return (int)syscall(SYS_gettid);
}
