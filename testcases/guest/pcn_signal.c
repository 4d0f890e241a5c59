/* pcn_signal: a signal sent to a migrated thread's origin task reaches the thread remotely.
 *
 * usage: pcn_signal forward|returned NODE_ID NR_NODES
 *   forward   a signal to the origin task of a thread that runs remotely is handled by that thread
 *             remotely. The RFC posting promises this; the 5.2 tree has no signal hooks (kernel/signal.c)
 *             and does not carry handlers to the remote side (process_server.c leaves that code
 *             commented out).
 *   returned  a thread migrates to another node and back; a signal sent to it then is handled.
 */
#include "program.h"

#include <signal.h>

static volatile int got_signal, remote_up, origin_tid;

static void on_usr1(int sig)
{
	got_signal = sig;
}

static int remote_thread(void *arg)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	int i;

	origin_tid = gettid();
	if (phc_migrate_recorded("thread_migrated", (int)(intptr_t)arg) != 0)
		return 0;
	remote_up = 1;
	for (i = 0; i < 1500 && !got_signal; i++)
		nanosleep(&ts, NULL);
	phc_record("signal_handled_remotely", phc_my_nid(), got_signal == SIGUSR1, "SIGUSR1 handled within 15 s",
		   "%s", got_signal ? "handled" : "not delivered");
	phc_migrate(phc_origin);
	return 0;
}

static void mode_forward(void)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	struct phc_thread t;
	int i;

	signal(SIGUSR1, on_usr1);
	phc_thread_start(&t, remote_thread, (void *)(intptr_t)((phc_origin + 1) % phc_nr_nodes));
	for (i = 0; i < 2000 && !remote_up; i++)
		nanosleep(&ts, NULL);
	phc_check("tgkill_origin_task", syscall(SYS_tgkill, getpid(), origin_tid, SIGUSR1) == 0, "0", "%s",
		  phc_errname(errno));
	phc_thread_join(&t, 30);
}

static volatile int back_home;

static int returning_thread(void *arg)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	int i;

	origin_tid = gettid();
	if (phc_migrate_recorded("thread_migrated", (int)(intptr_t)arg) != 0 ||
	    phc_migrate_recorded("thread_back", phc_origin) != 0)
		return 0;
	back_home = 1;
	for (i = 0; i < 1500 && !got_signal; i++)
		nanosleep(&ts, NULL);
	phc_record("signal_handled_after_return", phc_my_nid(), got_signal == SIGUSR1, "SIGUSR1 handled within 15 s",
		   "%s", got_signal ? "handled" : "not delivered");
	return 0;
}

static void mode_returned(void)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	struct phc_thread t;
	int i, ret;

	signal(SIGUSR1, on_usr1);
	ret = phc_thread_start(&t, returning_thread, (void *)(intptr_t)((phc_origin + 1) % phc_nr_nodes));
	for (i = 0; i < 2000 && ret == 0 && !back_home; i++)
		nanosleep(&ts, NULL);
	errno = 0;
	ret = back_home ? syscall(SYS_tgkill, getpid(), origin_tid, SIGUSR1) : -1;
	phc_check("tgkill_returned_thread", ret == 0, "0", "%s", back_home ? phc_errname(errno) : "the thread never came back");
	if (back_home)
		phc_thread_join(&t, 30);
}

static const struct phc_mode modes[] = {
	{ "forward", mode_forward, "thread_migrated tgkill_origin_task signal_handled_remotely" },
	{ "returned", mode_returned, "thread_migrated thread_back tgkill_returned_thread signal_handled_after_return" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 60);
}
