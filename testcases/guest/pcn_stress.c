/* pcn_stress: Popcorn under load, for a duration, from a seed.
 *
 * usage: pcn_stress MODE NODE_ID NR_NODES DURATION_S:SEED[:THREADS]
 *   pingpong  the main thread migrates to the next node and back, again and again.
 *   storm     THREADS threads (default 2 per node) each migrate to a node chosen by the seed and back
 *             home, again and again (Popcorn moves a thread between its origin and one remote node; a
 *             remote-to-remote hop is the conformance suite's business); at every stop a thread writes
 *             its own slot of a shared array and reads it back.
 *   rotate    one thread per node (the main thread at the origin) takes turns writing one shared page:
 *             the page moves from node to node on every write.
 *   futex     one thread per node contends for a lock of our own (an atomic word, FUTEX_WAIT/WAKE
 *             private, 1 s timed waits, so a lost wakeup costs a second, not the run) and increments a
 *             counter under it; the timed-out waits that found the lock free are reported, not judged
 *             (under contention a waiter can also starve for a second: it is not proof of a lost wakeup).
 *   churn     a child process is forked, migrates to a node chosen by the seed and back, and exits 42;
 *             again and again.
 * Every mode prints "ops" (operations done, the figure a stress test reports) and its own checks; the
 * watchdog is DURATION_S + 90 s. The end of the run is a flag a timer thread at the origin sets: each
 * node has its own CLOCK_MONOTONIC, so a remote thread cannot compare its clock with the origin's.
 */
#include "program.h"

#include <linux/futex.h>
#include <sys/wait.h>

#define MAX_THREADS 64
#define TURN_WAIT_S 20

static int duration_s = 10, nthreads;
static unsigned long seed = 1;
static struct timespec started;

static double elapsed_s(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
}

/* Set by the timer thread when the duration is over; alone on its page (remote threads only read it). */
static struct {
	volatile int over;
} __attribute__((aligned(4096))) run_state;
static struct phc_thread timer;

static int timer_main(void *arg)
{
	struct timespec ts = { .tv_sec = duration_s };

	(void)arg;
	nanosleep(&ts, NULL);
	run_state.over = 1;
	return 0;
}

static int time_left(void)
{
	return !run_state.over;
}

/* xorshift64*: the same seed gives the same choices. */
static unsigned long next_random(unsigned long *state)
{
	unsigned long x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DUL;
}

/* A node other than `here`, chosen from `state`. */
static int other_node(unsigned long *state, int here)
{
	return (here + 1 + (int)(next_random(state) % (unsigned long)(phc_nr_nodes - 1))) % phc_nr_nodes;
}

static void nap_ms(int ms)
{
	struct timespec ts = { .tv_nsec = ms * 1000000L };

	nanosleep(&ts, NULL);
}

static void report_ops(long ops, long failures, const char *what)
{
	phc_check("ops", ops > 0 && failures == 0, "operations done, none failed", "%ld %s in %.1f s, %ld failed",
		  ops, what, elapsed_s(), failures);
}

/* ---- pingpong ---- */
static void mode_pingpong(void)
{
	int peer = (phc_origin + 1) % phc_nr_nodes;
	long trips = 0, failures = 0;

	while (time_left() && failures == 0) {
		if (phc_migrate(peer) != 0 || phc_my_nid() != peer)
			failures++;
		if (phc_migrate(phc_origin) != 0 || phc_my_nid() != phc_origin)
			failures++;
		trips++;
	}
	report_ops(trips, failures, "round trips");
}

/* ---- storm ---- */
struct traveller {
	struct phc_thread thread;
	int index;
	volatile long hops, failures, slot_bad;
	volatile int done;
};
static struct traveller travellers[MAX_THREADS];
static volatile long slots[MAX_THREADS];

static int travel(void *arg)
{
	struct traveller *t = arg;
	unsigned long state = seed * 1000003UL + (unsigned long)t->index + 1;
	int to;

	while (time_left() && t->failures == 0) {
		to = other_node(&state, phc_origin);
		if (phc_migrate(to) != 0 || phc_my_nid() != to) {
			t->failures++;
			break;
		}
		slots[t->index] = t->hops + 1;
		if (slots[t->index] != t->hops + 1)
			t->slot_bad++;
		t->hops++;
		if (phc_migrate(phc_origin) != 0 || phc_my_nid() != phc_origin)
			t->failures++;
	}
	t->done = 1;
	return 0;
}

static void mode_storm(void)
{
	long hops = 0, failures = 0, bad = 0, joined = 0;
	int i, n = nthreads ? nthreads : 2 * phc_nr_nodes;

	if (n > MAX_THREADS)
		n = MAX_THREADS;
	for (i = 0; i < n; i++) {
		travellers[i].index = i;
		if (phc_thread_start(&travellers[i].thread, travel, &travellers[i]) != 0)
			failures++;
	}
	for (i = 0; i < n; i++) {
		joined += phc_thread_join(&travellers[i].thread, duration_s + 60) == 0;
		hops += travellers[i].hops;
		failures += travellers[i].failures;
		bad += travellers[i].slot_bad + (slots[i] != travellers[i].hops);
	}
	phc_check("threads_joined", joined == n, "every thread back at the origin and exited", "%ld of %d", joined, n);
	phc_check("slots_coherent", bad == 0, "every slot read back as written, and as last written at the origin",
		  "%ld bad", bad);
	report_ops(hops, failures, "migrations");
}

/* ---- rotate ---- */
static struct {
	volatile long counter;
	volatile int turn, stop;
	volatile long stalls, wrong, migrations_failed;
} __attribute__((aligned(4096))) page;
static struct phc_thread rotators[PCN_MAX_TABLE];

/* Take turns as participant `me` (running on node me) until told to stop. */
static void take_turns(int me)
{
	double waited_since;

	while (!page.stop) {
		waited_since = elapsed_s();
		while (page.turn != me && !page.stop) {
			if (elapsed_s() - waited_since > TURN_WAIT_S) {
				page.stalls++;
				page.stop = 1;
			}
			nap_ms(1);
		}
		if (page.stop)
			break;
		if (page.counter % phc_nr_nodes != me)
			page.wrong++;
		page.counter++;
		if (!time_left())
			page.stop = 1;
		page.turn = (me + 1) % phc_nr_nodes;
	}
}

static int rotator(void *arg)
{
	int me = (int)(intptr_t)arg;

	if (phc_migrate(me) == 0 && phc_my_nid() == me) {
		take_turns(me);
	} else {
		__sync_fetch_and_add(&page.migrations_failed, 1);
		page.stop = 1;
	}
	if (phc_migrate(phc_origin) != 0)
		__sync_fetch_and_add(&page.migrations_failed, 1);
	return 0;
}

static void mode_rotate(void)
{
	int d, joined = 0;

	for (d = 1; d < phc_nr_nodes; d++)
		phc_thread_start(&rotators[d], rotator, (void *)(intptr_t)d);
	take_turns(0);
	for (d = 1; d < phc_nr_nodes; d++)
		joined += phc_thread_join(&rotators[d], 60) == 0;
	phc_check("threads_joined", joined == phc_nr_nodes - 1, "every thread back and exited", "%d of %d", joined,
		  phc_nr_nodes - 1);
	phc_check("turns_in_order", page.wrong == 0, "each write saw the previous node's value", "%ld out of order",
		  page.wrong);
	phc_check("no_stall", page.stalls == 0, "no node waited 20 s for its turn", "%ld stalls", page.stalls);
	report_ops(page.counter, page.wrong + page.stalls + page.migrations_failed, "page writes");
}

/* ---- futex ---- */
static volatile int lock_word __attribute__((aligned(64)));
static volatile long guarded, lost_wakeups;
static volatile long per_thread[PCN_MAX_TABLE];
static struct phc_thread lockers[PCN_MAX_TABLE];

static long futex(volatile int *addr, int op, int val, int timeout_s)
{
	struct timespec ts = { .tv_sec = timeout_s };

	return phc_raw_syscall(SYS_futex, (long)addr, op | FUTEX_PRIVATE_FLAG, val, timeout_s ? (long)&ts : 0);
}

/* Drepper's mutex: 0 free, 1 locked, 2 locked with waiters. */
static void lock(void)
{
	int c = __sync_val_compare_and_swap(&lock_word, 0, 1);

	if (c == 0)
		return;
	if (c != 2)
		c = __sync_lock_test_and_set(&lock_word, 2);
	while (c != 0) {
		if (futex(&lock_word, FUTEX_WAIT, 2, 1) == -ETIMEDOUT && lock_word == 0)
			__sync_fetch_and_add(&lost_wakeups, 1);
		c = __sync_lock_test_and_set(&lock_word, 2);
	}
}

static void unlock(void)
{
	if (__sync_fetch_and_sub(&lock_word, 1) != 1) {
		lock_word = 0;
		futex(&lock_word, FUTEX_WAKE, 1, 0);
	}
}

/* Increment the guarded counter under the lock until the time is over; the number of increments made,
 * counted in a register, not in shared memory, so it is true even if the shared page is not coherent. */
static long contend(void)
{
	long mine = 0;

	while (time_left()) {
		lock();
		guarded++;
		unlock();
		mine++;
	}
	return mine;
}

static int locker(void *arg)
{
	int me = (int)(intptr_t)arg;
	long mine = -1;

	if (phc_migrate(me) == 0)
		mine = contend();
	if (phc_migrate(phc_origin) == 0)
		per_thread[me] = mine; /* published at the origin */
	return 0;
}

static void mode_futex(void)
{
	long sum = 0, idle = 0;
	int d, joined = 0;

	for (d = 1; d < phc_nr_nodes; d++)
		phc_thread_start(&lockers[d], locker, (void *)(intptr_t)d);
	per_thread[0] = contend();
	for (d = 1; d < phc_nr_nodes; d++)
		joined += phc_thread_join(&lockers[d], 60) == 0;
	for (d = 0; d < phc_nr_nodes; d++) {
		sum += per_thread[d] > 0 ? per_thread[d] : 0;
		idle += per_thread[d] <= 0;
	}
	phc_check("threads_joined", joined == phc_nr_nodes - 1, "every thread back and exited", "%d of %d", joined,
		  phc_nr_nodes - 1);
	phc_check("every_node_got_the_lock", idle == 0, "every node's thread took the lock at least once",
		  "%ld of %d never did (node 0: %ld, node 1: %ld)", idle, phc_nr_nodes, per_thread[0], per_thread[1]);
	phc_check("counter_exact", guarded == sum, "the guarded counter (read at the origin) equals the increments made",
		  "%ld vs %ld", guarded, sum);
	char what[96];

	snprintf(what, sizeof(what), "lock acquisitions (%ld timed-out waits found the lock free)", lost_wakeups);
	report_ops(sum, guarded != sum, what);
}

/* ---- churn ---- */
static void mode_churn(void)
{
	unsigned long state = seed;
	long children = 0, failures = 0;
	int status, to;
	pid_t pid;

	while (time_left() && failures == 0) {
		to = other_node(&state, phc_origin);
		pid = fork();
		if (pid == 0) {
			if (phc_migrate(to) != 0 || phc_migrate(phc_origin) != 0)
				_exit(1);
			_exit(42);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 42)
			failures++;
		children++;
	}
	report_ops(children, failures, "children forked, migrated and exited 42");
}

static const struct phc_mode modes[] = {
	{ "pingpong", mode_pingpong, "ops" },
	{ "storm", mode_storm, "threads_joined slots_coherent ops" },
	{ "rotate", mode_rotate, "threads_joined turns_in_order no_stall ops" },
	{ "futex", mode_futex, "threads_joined every_node_got_the_lock counter_exact ops" },
	{ "churn", mode_churn, "ops" },
};

int main(int argc, char **argv)
{
	if (argc > 4) {
		duration_s = atoi(argv[4]);
		if (strchr(argv[4], ':'))
			seed = strtoul(strchr(argv[4], ':') + 1, NULL, 10);
		if (strchr(argv[4], ':') && strchr(strchr(argv[4], ':') + 1, ':'))
			nthreads = atoi(strchr(strchr(argv[4], ':') + 1, ':') + 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &started);
	phc_thread_start(&timer, timer_main, NULL);
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), duration_s + 90);
}
