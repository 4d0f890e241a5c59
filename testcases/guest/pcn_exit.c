/* pcn_exit: exits of distributed processes.
 *
 * usage: pcn_exit thread_exit|main_exits_remote|process_exit|hold NODE_ID NR_NODES
 *   thread_exit        a thread migrates and exits there; the origin sees it gone (join returns).
 *   main_exits_remote  the main thread migrates and, if get_node_info then says it runs on the
 *                      destination, calls _exit(7) there: the process must exit 7, which it can only
 *                      do from the destination (it exits 3 otherwise). Its check, recorded on the
 *                      remote node, is printed by a thread at the origin before the exit.
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
	int started = phc_thread_start(&t, goes_remote, (void *)(intptr_t)((phc_origin + 1) % phc_nr_nodes)) == 0;
	int gone;

	wait_remote();
	gone = started && phc_thread_join(&t, 30) == 0;
	phc_check("remote_exit_seen_at_origin", gone, "thread gone within 30 s", "%s",
		  !started ? "no thread started" : gone ? "gone" : "still there");
}

/* The main thread's handshake with the printer, alone on its page: the last page the main thread touches
 * remotely before it exits is one no origin thread needs afterwards (on the 5.2 tree the remote exit leaves
 * the remote node unresponsive, so the origin must not have to ask it for a page to go on, e.g. the
 * watchdog for the page of the print lock). */
static struct {
	volatile int recorded, acked;
} __attribute__((aligned(4096))) handshake;

/* Stays at the origin: prints what the main thread recorded remotely, then waits for the exit. */
static int printer(void *arg)
{
	struct timespec tick = { .tv_nsec = 10000000 }, second = { .tv_sec = 1 };
	int i;

	(void)arg;
	for (i = 0; i < 6000 && !handshake.recorded; i++)
		nanosleep(&tick, NULL);
	phc_flush();
	handshake.acked = 1;
	for (;;)
		nanosleep(&second, NULL);
	return 0;
}

static void mode_main_exits_remote(void)
{
	static struct phc_thread origin_printer;
	struct timespec tick = { .tv_nsec = 10000000 };
	int peer = (phc_origin + 1) % phc_nr_nodes, ret, here, there, i;

	ret = phc_thread_start(&origin_printer, printer, NULL);
	if (ret != 0) {
		phc_check("main_on_destination_before_exit", 0, "0, running on the destination",
			  "no printer thread: %s", phc_errname(-ret));
		_exit(3);
	}
	ret = phc_migrate(peer);
	here = phc_my_nid();
	there = ret == 0 && here == peer;
	phc_record("main_on_destination_before_exit", here, there, "0, running on the destination", "%s, on %d",
		   phc_errname(-ret), here);
	handshake.recorded = 1;
	for (i = 0; i < 3000 && !handshake.acked; i++)
		nanosleep(&tick, NULL);
	_exit(there ? 7 : 3);
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
	{ "main_exits_remote", mode_main_exits_remote, "main_on_destination_before_exit" },
	{ "process_exit", mode_process_exit, "thread_migrated thread_is_remote" },
	{ "hold", mode_hold, "thread_migrated thread_is_remote" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 100);
}
