/* pcn_exit: exits of distributed processes.
 *
 * usage: pcn_exit thread_exit|main_exits_remote|process_exit|hold NODE_ID NR_NODES
 *   thread_exit        a thread migrates and exits there; the origin sees it gone (join returns).
 *   main_exits_remote  the main thread migrates and calls _exit(7) there: the process exits 7.
 *   process_exit       a thread is remote while the origin's main thread exits 0: the process ends.
 *   hold               a thread is remote while main sleeps (the test kills the process).
 * Checks are printed before the exit, since nothing is printed after it.
 */
#include "program.h"

static volatile int remote_up;

static int goes_remote(void *arg)
{
	int peer = (int)(intptr_t)arg;

	if (phc_migrate_recorded("thread_migrated", peer) != 0)
		return 0;
	remote_up = 1;
	return 0;
}

static int stays_remote(void *arg)
{
	struct timespec ts = { .tv_sec = 1 };

	goes_remote(arg);
	for (;;)
		nanosleep(&ts, NULL);
	return 0;
}

static int wait_remote(void)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	int i;

	for (i = 0; i < 2000 && !remote_up; i++)
		nanosleep(&ts, NULL);
	phc_flush();
	return phc_check("thread_is_remote", remote_up, "the thread runs remotely", "%s", remote_up ? "yes" : "no");
}

static void mode_thread_exit(void)
{
	struct phc_thread t;

	phc_thread_start(&t, goes_remote, (void *)(intptr_t)((phc_origin + 1) % phc_nr_nodes));
	wait_remote();
	phc_check("remote_exit_seen_at_origin", phc_thread_join(&t, 30) == 0, "thread gone within 30 s", "still there");
}

static void mode_main_exits_remote(void)
{
	phc_check("main_migrating_then_exit_7", 1, "", "");
	if (phc_migrate((phc_origin + 1) % phc_nr_nodes) == 0)
		_exit(7);
	phc_check("main_migrated", 0, "0", "refused");
}

static void mode_process_exit(void)
{
	struct phc_thread t;

	phc_thread_start(&t, stays_remote, (void *)(intptr_t)((phc_origin + 1) % phc_nr_nodes));
	if (wait_remote())
		exit(0);
}

static void mode_hold(void)
{
	struct phc_thread t;
	struct timespec ts = { .tv_sec = 1 };

	phc_thread_start(&t, stays_remote, (void *)(intptr_t)((phc_origin + 1) % phc_nr_nodes));
	if (wait_remote())
		for (;;)
			nanosleep(&ts, NULL);
}

static const struct phc_mode modes[] = {
	{ "thread_exit", mode_thread_exit, "thread_migrated thread_is_remote remote_exit_seen_at_origin" },
	{ "main_exits_remote", mode_main_exits_remote, "main_migrating_then_exit_7" },
	{ "process_exit", mode_process_exit, "thread_migrated thread_is_remote" },
	{ "hold", mode_hold, "thread_migrated thread_is_remote" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 100);
}
