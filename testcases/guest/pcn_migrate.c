/* pcn_migrate: popcorn_migrate and what a migrated thread keeps.
 *
 * usage: pcn_migrate MODE NODE_ID NR_NODES (MODE: one below)
 *   roundtrip  to every other node and back: thread status at each step; stack, heap, globals,
 *              thread-local data and values held in callee-saved registers (rbx, r12-r15, loaded and
 *              read back in assembly around the migration) intact there; what the remote side wrote is
 *              seen at the origin afterwards. Built with -DPHC_CLOBBER_CALLEE_SAVED, r13 is changed
 *              after the migration: callee_saved_intact_on_N must then fail (the suite's self-test).
 *   errors     EINVAL for ids out of range, EBUSY for the current node, EAGAIN for an offline id,
 *              EINVAL for migrate(-1) without a proposal; at the origin and at a remote node.
 *   propose    propose_migration(0, d) then migrate(-1) lands on d; the proposal is consumed.
 *   threads    one thread per other node, all migrated at once and back; the main thread joins them
 *              (FUTEX_WAIT on each tid word).
 *   threads_polled  the same, the main thread reading each tid word every 10 ms instead (no futex).
 *   third      a remote thread asks for a third node: refused (only the origin is allowed).
 *   there_and_back  to the peer and back, a refusal (-errno, still at the origin) being an answer too.
 *   trips_joined  one thread makes 300 round trips to the peer, writing at the peer on the page of its tid
 *              word, while the main thread waits for it to end by FUTEX_WAIT on that word (as a join does),
 *              10 ms at a time.
 *   trips_polled  the same, the main thread reading the tid word every 10 ms instead (no futex).
 */
#include "migrate.h"
#include "program.h"

#include <limits.h>

#define PATTERN 0x5eed0000u
#define HEAP_WORDS 4096

#define origin phc_origin
#define nr_nodes phc_nr_nodes
#define max_nodes phc_max_nodes
static unsigned int global_words[1024] = { 1, 2, 3 };
static __thread unsigned int tls_word = 77;
static __thread char tls_text[32];

static char *name_of(char *buf, const char *what, int nid)
{
	sprintf(buf, "%s_%d", what, nid);
	return buf;
}

/* The calling thread's status; -2 in every field if the call fails (never a value a check expects). */
static struct phc_status status_now(void)
{
	struct phc_status st = { -2, -2, -2, -2 };

	if (phc_thread_status(&st) != 0)
		st = (struct phc_status){ -2, -2, -2, -2 };
	return st;
}

/* "rbx 0x.. (was 0x..)" for each pinned register that changed, or "intact". */
static const char *pinned_report(const uint64_t *regs, char *buf, size_t size)
{
	static const char *const names[PHC_PINNED] = { "rbx", "r12", "r13", "r14", "r15" };
	size_t used = 0;
	int i;

	snprintf(buf, size, "intact");
	for (i = 0; i < PHC_PINNED; i++)
		if (regs[PHC_PINNED + i] != regs[i] && used < size)
			used += snprintf(buf + used, size - used, "%s%s %#lx (was %#lx)", used ? ", " : "", names[i],
					 (unsigned long)regs[PHC_PINNED + i], (unsigned long)regs[i]);
	return buf;
}

/* One round trip origin -> d -> origin, with every promise checked. */
static void roundtrip(int d)
{
	char name[64], report[256];
	unsigned int stack_words[256], *heap = malloc(HEAP_WORDS * sizeof(*heap));
	uint64_t regs[2 * PHC_PINNED];
	pid_t tid = gettid();
	struct phc_status st;
	int i, ret, here, ok;

	for (i = 0; i < 256; i++)
		stack_words[i] = PATTERN + i + d;
	for (i = 0; i < HEAP_WORDS; i++)
		heap[i] = PATTERN ^ (i * 7 + d);
	for (i = 0; i < 1024; i++)
		global_words[i] = PATTERN + 3 * i + d;
	tls_word = PATTERN + d;
	snprintf(tls_text, sizeof(tls_text), "thread-local %d", d);
	for (i = 0; i < PHC_PINNED; i++)
		regs[i] = 0x1111222233334444UL * (unsigned)(d + 1) + ((uint64_t)(i + 1) << 56);
	/* The words must be read back from memory after the migration, not from what the compiler stored. */
	phc_escape(stack_words);
	phc_escape(heap);
	phc_escape(global_words);
	phc_escape(&tls_word);
	phc_escape(tls_text);

	ret = (int)phc_migrate_pinned(d, PCN_NR_MIGRATE, regs);
	here = phc_my_nid();
	st = status_now();
	phc_record(name_of(name, "migrate_returns_0_to", d), here, ret == 0, "0", "%s", phc_errname(-ret));
	if (ret != 0)
		return;
	phc_record(name_of(name, "runs_on", d), here, here == d, "get_node_info says the destination", "%d", here);
	phc_record(name_of(name, "status_during_on", d), here,
		   st.current_nid == d && st.peer_nid == origin && st.peer_pid == tid && st.proposed_nid == -1,
		   "current = destination, peer = origin node and origin tid, proposed -1",
		   "current %d peer %d/%d (origin %d/%d) proposed %d", st.current_nid, st.peer_nid, st.peer_pid,
		   origin, tid, st.proposed_nid);
	for (ok = 1, i = 0; i < 256; i++)
		ok &= stack_words[i] == PATTERN + i + d;
	phc_record(name_of(name, "stack_intact_on", d), here, ok, "origin's stack words", "%s", ok ? "intact" : "differ");
	for (ok = 1, i = 0; i < HEAP_WORDS; i++)
		ok &= heap[i] == (PATTERN ^ (i * 7 + d));
	phc_record(name_of(name, "heap_intact_on", d), here, ok, "origin's heap words", "%s", ok ? "intact" : "differ");
	for (ok = 1, i = 0; i < 1024; i++)
		ok &= global_words[i] == PATTERN + 3 * i + d;
	phc_record(name_of(name, "globals_intact_on", d), here, ok, "origin's globals", "%s", ok ? "intact" : "differ");
	snprintf(report, sizeof(report), "thread-local %d", d);
	phc_record(name_of(name, "tls_intact_on", d), here, tls_word == PATTERN + d && !strcmp(tls_text, report),
		   "thread-local word and text", "%#x '%s'", tls_word, tls_text);
	for (ok = 1, i = 0; i < PHC_PINNED; i++)
		ok &= regs[PHC_PINNED + i] == regs[i];
	phc_record(name_of(name, "callee_saved_intact_on", d), here, ok,
		   "rbx, r12-r15 as loaded before the migration", "%s", pinned_report(regs, report, sizeof(report)));
	/* Write from the remote side; the origin must see it. */
	for (i = 0; i < 256; i++)
		stack_words[i] = ~(PATTERN + i + d);
	for (i = 0; i < HEAP_WORDS; i++)
		heap[i] = i + d;
	for (i = 0; i < 1024; i++)
		global_words[i] = ~(PATTERN + 3 * i + d);
	tls_word = ~(PATTERN + d);
	snprintf(tls_text, sizeof(tls_text), "written remotely");

	ret = phc_migrate(origin);
	here = phc_my_nid();
	st = status_now();
	phc_record(name_of(name, "migrate_back_returns_0_from", d), here, ret == 0 && here == origin,
		   "0, running at the origin", "%s, on %d", phc_errname(-ret), here);
	phc_record(name_of(name, "status_after_back_from", d), here,
		   st.current_nid == origin && st.peer_nid == -1 && st.peer_pid == -1 && st.proposed_nid == -1,
		   "current = origin, peer -1/-1, proposed -1", "current %d peer %d/%d proposed %d", st.current_nid,
		   st.peer_nid, st.peer_pid, st.proposed_nid);
	phc_record(name_of(name, "same_tid_after_back_from", d), here, gettid() == tid, "origin tid", "%d (was %d)",
		   gettid(), tid);
	for (ok = 1, i = 0; i < 256; i++)
		ok &= stack_words[i] == ~(PATTERN + i + d);
	for (i = 0; i < HEAP_WORDS; i++)
		ok &= heap[i] == (unsigned)(i + d);
	for (i = 0; i < 1024; i++)
		ok &= global_words[i] == ~(PATTERN + 3 * i + d);
	ok &= tls_word == ~(PATTERN + d) && !strcmp(tls_text, "written remotely");
	phc_record(name_of(name, "remote_writes_seen_at_origin_from", d), here, ok,
		   "stack, heap, globals, TLS as written remotely", "%s", ok ? "as written" : "differ");
	free(heap);
	phc_flush();
}

static void mode_roundtrip(void)
{
	struct phc_status st;
	int d;

	st = status_now();
	phc_check("status_before", st.current_nid == origin && st.peer_nid == -1 && st.peer_pid == -1,
		  "current = origin, peer -1/-1", "current %d peer %d/%d", st.current_nid, st.peer_nid, st.peer_pid);
	for (d = 0; d < nr_nodes; d++)
		if (d != origin)
			roundtrip(d);
}

/* One refused migration: the id asked and the errno expected. */
struct refusal {
	const char *name;
	int nid;
	int err;
};

static void refusals(const struct refusal *cases, size_t n, int here)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int ret = phc_migrate(cases[i].nid);
		char expected[32];

		snprintf(expected, sizeof(expected), "-%s", phc_errname(cases[i].err));
		phc_record(cases[i].name, here, ret == -cases[i].err && phc_my_nid() == here, expected, "%s%s, on %d",
			   ret < 0 ? "-" : "", phc_errname(ret < 0 ? -ret : 0), phc_my_nid());
	}
}

static void mode_errors(void)
{
	int peer = (origin + 1) % nr_nodes;
	const struct refusal at_origin[] = {
		{ "origin_nid_minus_2_einval", -2, EINVAL },
		{ "origin_nid_int_min_einval", INT_MIN, EINVAL },
		{ "origin_nid_max_einval", max_nodes, EINVAL },
		{ "origin_nid_1000_einval", 1000, EINVAL },
		{ "origin_own_nid_ebusy", origin, EBUSY },
		{ "origin_first_unlisted_eagain", nr_nodes, EAGAIN },
		{ "origin_last_id_eagain", max_nodes - 1, EAGAIN },
		{ "origin_minus_1_without_proposal_einval", -1, EINVAL },
	};
	const struct refusal at_remote[] = {
		{ "remote_nid_max_einval", max_nodes, EINVAL },
		{ "remote_own_nid_ebusy", peer, EBUSY },
		{ "remote_first_unlisted_eagain", nr_nodes, EAGAIN },
		{ "remote_minus_1_without_proposal_einval", -1, EINVAL },
	};
	int ret;

	refusals(at_origin, sizeof(at_origin) / sizeof(at_origin[0]), origin);
	phc_flush();
	ret = phc_migrate_recorded("migrate_to_peer", peer);
	if (ret == 0) {
		refusals(at_remote, sizeof(at_remote) / sizeof(at_remote[0]), peer);
		ret = phc_migrate(origin);
		phc_record("migrate_back", phc_my_nid(), ret == 0 && phc_my_nid() == origin, "0 at origin", "%s on %d",
			   phc_errname(-ret), phc_my_nid());
	}
	phc_flush();
}

static void mode_propose(void)
{
	int peer = (origin + 1) % nr_nodes, ret, here;
	struct phc_status st;

	ret = phc_propose(0, peer);
	phc_check("propose_peer", ret == 0, "0", "%s", phc_errname(-ret));
	ret = phc_migrate(-1);
	here = phc_my_nid();
	st = status_now();
	phc_record("migrate_minus_1_goes_to_proposed", here, ret == 0 && here == peer, "0, on the proposed node",
		   "%s, on %d", phc_errname(-ret), here);
	phc_record("proposal_not_carried_to_remote", here, st.proposed_nid == -1, "-1", "%d", st.proposed_nid);
	ret = phc_migrate(origin);
	here = phc_my_nid();
	st = status_now();
	phc_record("back_at_origin", here, ret == 0 && here == origin, "0, at origin", "%s, on %d", phc_errname(-ret),
		   here);
	phc_record("proposal_consumed", here, st.proposed_nid == -1, "-1", "%d", st.proposed_nid);
	phc_flush();
}

static int thread_trip(void *arg)
{
	int d = (int)(intptr_t)arg, ret = phc_migrate(d), here = phc_my_nid();
	char name[64];

	phc_record(name_of(name, "thread_on", d), here, ret == 0 && here == d, "0, on its node", "%s, on %d",
		   phc_errname(-ret), here);
	if (ret == 0) {
		ret = phc_migrate(origin);
		here = phc_my_nid();
		phc_record(name_of(name, "thread_back_from", d), here, ret == 0 && here == origin, "0, at origin",
			   "%s, on %d", phc_errname(-ret), here);
	}
	return 0;
}

/* Waits for each thread: by phc_thread_join (FUTEX_WAIT on its tid word, 1 s at a time) or by reading the
 * word every 10 ms (phc_thread_wait_exit); at most 60 s each. */
static void threads(int by_futex)
{
	static struct phc_thread threads[PCN_MAX_TABLE];
	char name[64], lost[200], where[208];
	int d, ret;

	for (d = 0; d < nr_nodes; d++)
		if (d != origin) {
			ret = phc_thread_start(&threads[d], thread_trip, (void *)(intptr_t)d);
			phc_check(name_of(name, "thread_started_for", d), ret == 0, "0", "%s", phc_errname(-ret));
		}
	for (d = 0; d < nr_nodes; d++)
		if (d != origin && threads[d].stack) {
			ret = by_futex ? phc_thread_join(&threads[d], 60) : phc_thread_wait_exit(&threads[d], 60, 10);
			where[0] = 0; /* a lost thread's whereabouts: where P16 (known_defects.py) leaves it */
			if (ret)
				snprintf(where, sizeof(where), " (%s)",
					 phc_thread_whereabouts(&threads[d], lost, sizeof(lost)));
			phc_check(name_of(name, "thread_joined_for", d), ret == 0, "0", "%s%s", phc_errname(-ret), where);
		}
	phc_flush();
}

static void mode_threads(void)
{
	threads(1);
}

static void mode_threads_polled(void)
{
	threads(0);
}

static void mode_third(void)
{
	int first = (origin + 1) % nr_nodes, third = (origin + 2) % nr_nodes, ret, here;

	ret = phc_migrate_recorded("migrate_to_first", first);
	if (ret != 0) {
		phc_flush();
		return;
	}
	ret = phc_migrate(third);
	here = phc_my_nid();
	phc_record("remote_to_third_refused", here, ret < 0 && here == first,
		   "refused (-errno), still on the first node", "%d, on %d", ret, here);
	ret = phc_migrate(origin);
	here = phc_my_nid();
	phc_record("back_at_origin", here, ret == 0 && here == origin, "0, at origin", "%s, on %d", phc_errname(-ret),
		   here);
	phc_flush();
}

/* To the peer and back, where a refusal is an answer too (e.g. for a binary that only the origin has):
 * migrated to the peer, or refused with -errno and still at the origin; then back at the origin. */
static void mode_there_and_back(void)
{
	int peer = (origin + 1) % nr_nodes, ret = phc_migrate(peer), here = phc_my_nid(), back = 0;

	phc_record("migrated_or_refused", here, (ret == 0 && here == peer) || (ret < 0 && here == origin),
		   "0 on the peer, or -errno at the origin", "%s%s, on %d", ret < 0 ? "-" : "",
		   phc_errname(ret < 0 ? -ret : 0), here);
	if (ret == 0)
		back = phc_migrate(origin);
	here = phc_my_nid();
	phc_record("at_origin_after", here, back == 0 && here == origin, "0, at origin", "%s, on %d",
		   phc_errname(back < 0 ? -back : 0), here);
	phc_flush();
}

/* ---- trips_joined / trips_polled ---- */
#define TRIPS 300
/* The thread's tid word shares a page with what the thread writes at the peer, as a pthread's does with
 * its thread control block: the waiter's futex key is taken on a page that moves between the nodes. */
static struct {
	struct phc_thread thread;
	volatile int trips, at_peer, failures;
} __attribute__((aligned(4096))) trips_state;

static int trips_main(void *arg)
{
	int peer = (origin + 1) % nr_nodes, i;

	(void)arg;
	for (i = 0; i < TRIPS && !trips_state.failures; i++) {
		if (phc_migrate(peer) != 0) {
			trips_state.failures++;
			break;
		}
		trips_state.at_peer++;
		if (phc_migrate(origin) != 0)
			trips_state.failures++;
		else
			trips_state.trips++;
	}
	return 0;
}

/* The main thread waits until the thread has exited (its tid word cleared), at most 60 s, looking every
 * 10 ms: by FUTEX_WAIT on the word with a 10 ms timeout (every call takes the futex key anew: a fault on
 * the word's page, through get_user_pages), or by reading the word between 10 ms sleeps. */
static void trips(int by_futex)
{
	struct phc_thread *thread = &trips_state.thread;
	struct timespec nap = { .tv_nsec = 10000000 };
	int ret = phc_thread_start(thread, trips_main, NULL), looks = 6000;
	pid_t tid;

	phc_check("thread_started", ret == 0, "0", "%s", phc_errname(-ret));
	if (ret == 0 && by_futex) {
		while ((tid = thread->tid) != 0 && looks-- > 0)
			phc_raw_syscall(SYS_futex, (long)&thread->tid, FUTEX_WAIT, tid, (long)&nap);
		ret = thread->tid != 0 ? -ETIMEDOUT : 0;
	} else if (ret == 0) {
		ret = phc_thread_wait_exit(thread, 60, 10);
	}
	phc_check("thread_joined", ret == 0, "0 within 60 s", "%s", phc_errname(-ret));
	phc_check("every_round_trip_made", trips_state.trips == TRIPS && trips_state.at_peer == TRIPS &&
		  !trips_state.failures, "300 of 300", "%d of %d (%d at the peer), %d failed", trips_state.trips,
		  TRIPS, trips_state.at_peer, trips_state.failures);
	phc_flush();
}

static void mode_trips_joined(void)
{
	trips(1);
}

static void mode_trips_polled(void)
{
	trips(0);
}

static const struct phc_mode modes[] = {
	{ "roundtrip", mode_roundtrip,
	  "status_before migrate_returns_0_to_{other} runs_on_{other} status_during_on_{other} stack_intact_on_{other} "
	  "heap_intact_on_{other} globals_intact_on_{other} tls_intact_on_{other} callee_saved_intact_on_{other} "
	  "migrate_back_returns_0_from_{other} status_after_back_from_{other} same_tid_after_back_from_{other} "
	  "remote_writes_seen_at_origin_from_{other}" },
	{ "errors", mode_errors,
	  "origin_nid_minus_2_einval origin_nid_int_min_einval origin_nid_max_einval origin_nid_1000_einval "
	  "origin_own_nid_ebusy origin_first_unlisted_eagain origin_last_id_eagain "
	  "origin_minus_1_without_proposal_einval migrate_to_peer remote_nid_max_einval remote_own_nid_ebusy "
	  "remote_first_unlisted_eagain remote_minus_1_without_proposal_einval migrate_back" },
	{ "propose", mode_propose,
	  "propose_peer migrate_minus_1_goes_to_proposed proposal_not_carried_to_remote back_at_origin proposal_consumed" },
	{ "threads", mode_threads,
	  "thread_started_for_{other} thread_joined_for_{other} thread_on_{other} thread_back_from_{other}" },
	{ "threads_polled", mode_threads_polled,
	  "thread_started_for_{other} thread_joined_for_{other} thread_on_{other} thread_back_from_{other}" },
	{ "third", mode_third, "migrate_to_first remote_to_third_refused back_at_origin" },
	{ "there_and_back", mode_there_and_back, "migrated_or_refused at_origin_after" },
	{ "trips_joined", mode_trips_joined, "thread_started thread_joined every_round_trip_made" },
	{ "trips_polled", mode_trips_polled, "thread_started thread_joined every_round_trip_made" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 90);
}
