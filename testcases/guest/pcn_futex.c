/* pcn_futex: futexes across nodes (a remote futex operation is forwarded to the origin).
 *
 * usage: pcn_futex MODE NODE_ID NR_NODES
 *   remote_wait  FUTEX_WAIT on a remote node woken by FUTEX_WAKE at the origin;
 *   origin_wait  FUTEX_WAIT at the origin woken by FUTEX_WAKE on a remote node: the wait returns 0
 *                (woken, not timed out) and the wake reports one waiter woken.
 *   remote_wait_private, origin_wait_private: the same with FUTEX_PRIVATE_FLAG (what glibc uses for
 *                process-private locks; the kernel then keys the futex by mm and address, without
 *                get_user_pages).
 *   pthread  a thread per other node and the origin share a pthread mutex (a counter incremented under
 *            it), a condition variable (turn-taking) and a barrier (rounds); participant i (the origin's
 *            main thread is participant 0) runs i nodes after the origin.
 */
#include "program.h"

#include <linux/futex.h>

#define WAIT_S 20
#define INCREMENTS 200
#define TURNS 10
#define ROUNDS 5

static volatile int word, ready;
static int futex_flags; /* 0 (shared futex) or FUTEX_PRIVATE_FLAG */

static long futex(volatile int *addr, int op, int val, long timeout_s)
{
	struct timespec ts = { .tv_sec = timeout_s };

	return phc_raw_syscall(SYS_futex, (long)addr, op | futex_flags, val, timeout_s ? (long)&ts : 0);
}

static int spin_until_set(volatile int *flag)
{
	struct timespec ts = { .tv_nsec = 5000000 };
	int i;

	for (i = 0; i < WAIT_S * 200 && !*flag; i++)
		nanosleep(&ts, NULL);
	return *flag;
}

/* Remote waiter: migrate, announce, wait; the origin wakes it. */
static int remote_waiter(void *arg)
{
	int peer = (int)(intptr_t)arg;
	long ret;

	if (phc_migrate_recorded("waiter_migrated", peer) != 0)
		return 0;
	ready = 1;
	ret = futex(&word, FUTEX_WAIT, 0, WAIT_S);
	phc_record("remote_wait_woken_from_origin", phc_my_nid(), ret == 0 && word == 1, "0 (woken), word 1",
		   "%s, word %d", ret ? phc_errname(-ret) : "0", word);
	phc_migrate(phc_origin);
	return 0;
}

/* Remote waker: migrate, wait for the origin to be waiting, wake it. */
static int remote_waker(void *arg)
{
	int peer = (int)(intptr_t)arg;
	struct timespec settle = { .tv_nsec = 300000000 };
	long woken;

	if (phc_migrate_recorded("waker_migrated", peer) != 0)
		return 0;
	if (spin_until_set(&ready)) {
		nanosleep(&settle, NULL);
		word = 1;
		woken = futex(&word, FUTEX_WAKE, 1, 0);
		phc_record("remote_wake_reaches_origin_waiter", phc_my_nid(), woken == 1, "1 waiter woken", "%ld", woken);
	}
	phc_migrate(phc_origin);
	return 0;
}

static void mode_remote_wait(void)
{
	int peer = (phc_origin + 1) % phc_nr_nodes;
	struct timespec settle = { .tv_nsec = 300000000 };
	struct phc_thread t;
	long ret;
	int joined;

	word = ready = 0;
	phc_thread_start(&t, remote_waiter, (void *)(intptr_t)peer);
	if (spin_until_set(&ready)) {
		nanosleep(&settle, NULL);
		word = 1;
		ret = futex(&word, FUTEX_WAKE, 1, 0);
		phc_check("origin_wake_reaches_remote_waiter", ret == 1, "1 waiter woken", "%ld", ret);
	}
	joined = phc_thread_join(&t, WAIT_S + 10) == 0;
	phc_check("remote_waiter_joined", joined, "joined", "%s", joined ? "joined" : "timed out");
}

static void mode_origin_wait(void)
{
	int peer = (phc_origin + 1) % phc_nr_nodes;
	struct phc_thread t;
	long ret;
	int joined;

	word = ready = 0;
	phc_thread_start(&t, remote_waker, (void *)(intptr_t)peer);
	ready = 1;
	ret = futex(&word, FUTEX_WAIT, 0, WAIT_S);
	phc_check("origin_wait_woken_from_remote", ret == 0 && word == 1, "0 (woken), word 1", "%s, word %d",
		  ret ? phc_errname(-ret) : "0", word);
	joined = phc_thread_join(&t, WAIT_S + 10) == 0;
	phc_check("remote_waker_joined", joined, "joined", "%s", joined ? "joined" : "timed out");
}

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static volatile long counter;
static volatile int turn, rounds_seen[PCN_MAX_TABLE];

/* Work of participant `me` (0 = origin's main thread); `next` is whose turn follows its own. */
static void participate(int me, int parties)
{
	int i, r;

	for (r = 0; r < ROUNDS; r++) {
		pthread_barrier_wait(&barrier);
		rounds_seen[me]++;
	}
	for (i = 0; i < INCREMENTS; i++) {
		pthread_mutex_lock(&mutex);
		counter++;
		pthread_mutex_unlock(&mutex);
	}
	for (i = 0; i < TURNS; i++) {
		pthread_mutex_lock(&mutex);
		while (turn % parties != me)
			pthread_cond_wait(&cond, &mutex);
		turn++;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&mutex);
	}
	pthread_barrier_wait(&barrier);
}

static int participant(void *arg)
{
	int me = (int)(intptr_t)arg, d = (phc_origin + me) % phc_nr_nodes; /* participant i: i nodes on */
	char name[64];

	snprintf(name, sizeof(name), "participant_%d_migrated", d);
	if (phc_migrate_recorded(name, d) != 0)
		return 0;
	participate(me, phc_nr_nodes);
	phc_migrate(phc_origin);
	return 0;
}

static void mode_pthread(void)
{
	static struct phc_thread threads[PCN_MAX_TABLE];
	char rounds[256];
	size_t used = 0;
	int d, ok = 1;

	pthread_barrier_init(&barrier, NULL, phc_nr_nodes);
	for (d = 1; d < phc_nr_nodes; d++)
		phc_thread_start(&threads[d], participant, (void *)(intptr_t)d);
	participate(0, phc_nr_nodes);
	for (d = 1; d < phc_nr_nodes; d++)
		ok &= phc_thread_join(&threads[d], 60) == 0;
	phc_flush();
	phc_check("participants_joined", ok, "every thread back and exited", "%s", ok ? "yes" : "timed out");
	phc_check("mutex_counter", counter == (long)INCREMENTS * phc_nr_nodes, "increments of every node",
		  "%ld of %ld", counter, (long)INCREMENTS * phc_nr_nodes);
	phc_check("condvar_turns", turn == TURNS * phc_nr_nodes, "every turn taken in order", "%d of %d", turn,
		  TURNS * phc_nr_nodes);
	rounds[0] = 0;
	for (ok = 1, d = 0; d < phc_nr_nodes; d++) {
		ok &= rounds_seen[d] == ROUNDS;
		if (used < sizeof(rounds))
			used += snprintf(rounds + used, sizeof(rounds) - used, "%s%d", d ? " " : "", rounds_seen[d]);
	}
	phc_check("barrier_rounds", ok, "every participant passed every round", "rounds per participant: %s", rounds);
}

static void mode_remote_wait_private(void)
{
	futex_flags = FUTEX_PRIVATE_FLAG;
	mode_remote_wait();
}

static void mode_origin_wait_private(void)
{
	futex_flags = FUTEX_PRIVATE_FLAG;
	mode_origin_wait();
}

#define REMOTE_WAITER "waiter_migrated origin_wake_reaches_remote_waiter remote_wait_woken_from_origin remote_waiter_joined"
#define ORIGIN_WAITER "waker_migrated origin_wait_woken_from_remote remote_wake_reaches_origin_waiter remote_waker_joined"

static const struct phc_mode modes[] = {
	{ "remote_wait", mode_remote_wait, REMOTE_WAITER },
	{ "origin_wait", mode_origin_wait, ORIGIN_WAITER },
	{ "remote_wait_private", mode_remote_wait_private, REMOTE_WAITER },
	{ "origin_wait_private", mode_origin_wait_private, ORIGIN_WAITER },
	{ "pthread", mode_pthread,
	  "participant_{other}_migrated participants_joined mutex_counter condvar_turns barrier_rounds" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 100);
}
