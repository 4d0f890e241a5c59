/* pcn_remote: what a migrated thread does at the remote node, as a real program would.
 *
 * usage: pcn_remote MODE NODE_ID NR_NODES    (the peer is node NODE_ID + 1)
 *   identity      getpid, getppid and gettid at the remote node are what the thread saw at the origin
 *                 (POSIX: a process keeps its id; a migrated thread is the same thread); the thread status
 *                 there names the origin as its peer, with the origin task's pid.
 *   files         at the remote node: write to a pipe and to a file opened before the migration, open, read
 *                 and close the file by its path, and write one check line to stdout (printed directly by
 *                 the remote thread: it is on the program's stdout only if the write reached it); back at
 *                 the origin, the pipe and the file hold what was written remotely.
 *   fork          at the remote node: fork, the child exits 5, wait4 returns its status.
 *   thread        at the remote node: a new thread (clone) runs, on that node, and ends (its tid word is
 *                 cleared and the futex wake reaches the waiter).
 *   futex_timeout at the remote node: a FUTEX_WAIT with a 300 ms relative timeout returns ETIMEDOUT after
 *                 about that long.
 *   futex_deadline at the remote node: a FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC deadline 300 ms
 *                 ahead (by this node's clock) returns ETIMEDOUT after about 300 ms.
 *   futex_wake_op a remote thread's FUTEX_WAKE_OP wakes the origin's waiter and stores to the second word.
 *   futex_requeue a remote thread's FUTEX_CMP_REQUEUE moves the origin's waiter to another word, and its
 *                 FUTEX_WAKE there wakes it.
 *   futex_pi      at the remote node: FUTEX_TRYLOCK_PI on a free word takes it (the word holds a tid) and
 *                 FUTEX_UNLOCK_PI frees it.
 *   origin_vma    a remote thread sees the origin's munmap and mprotect(PROT_NONE) of pages it used: the
 *                 kernel then fails to read them (access(2) on a path there: EFAULT, ENOENT before).
 *   shared_anon   a MAP_SHARED anonymous page written at the origin, read and rewritten remotely.
 *   shared_file   the same with a MAP_SHARED mapping of a file in /tmp at the origin; the file holds the
 *                 remote write afterwards.
 *   sigaction     a SIGUSR1 handler installed with sigaction at the origin runs at the remote node for a
 *                 signal the remote thread sends itself.
 *   segv          a fault at the remote node (a load from address 0x10) runs the program's SIGSEGV handler
 *                 there with si_addr 0x10; the handler skips the load and the thread goes on.
 *   exit_group    a child process's second thread migrates and calls exit_group(3) there: the child ends
 *                 with status 3 (its main thread, at the origin, sleeps meanwhile).
 *   execve        a child process migrates and calls execve (busybox sh -c 'exit 7') there: the child
 *                 ends with status 7.
 *   origin_execve a child process migrates there and back, then calls execve (busybox sh -c 'exit 7') at
 *                 the origin: the child ends with status 7 (the test then checks the peer kept nothing).
 *   kill_pid      kill(pid, SIGUSR1) from another process to a child whose only thread is remote: the
 *                 child's handler runs at the remote node and the child then exits 0 by itself.
 *   stop_cont     SIGSTOP then SIGCONT from another process to a child whose only thread is remote: wait4
 *                 reports it stopped, then continued, and the child ends by itself with status 0.
 *   futex_signal  at the remote node, alarm(1) then a FUTEX_WAIT (forwarded to the origin) with a 10 s
 *                 timeout: the SIGALRM handler runs there and the wait returns EINTR after about 1 s.
 *   two_step      (3 nodes or more) state set at node +1 (stack and heap words, a thread-local word, the
 *                 SSE rounding mode in MXCSR) is intact at node +2 after a stop at the origin (the MXCSR is
 *                 checked there too): the documented path from one remote node to another.
 * Children (exit_group, execve, origin_execve, kill_pid, stop_cont) report by their exit status: the parent stays an
 * ordinary process at the origin, waits at most 30 s per step, and SIGKILLs a child still running.
 *   isolation ARG one of two processes (ARG a or b) run at once on the same nodes, with the same fixed
 *                 address: 30 round trips, each writing its own pattern there and reading it back on both
 *                 nodes; at the remote node it FUTEX_WAKEs the address the other process's origin thread
 *                 waits on (in its own process nobody waits there: 0 woken), and its own waiting thread
 *                 must never be woken. One process must not see the other's memory or futexes.
 * Threads made with thread.h share their TLS: in them only raw system calls (phc_raw_syscall).
 */
#include "migrate.h"
#include "program.h"
#include "child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

#define peer ((phc_origin + 1) % phc_nr_nodes)
#define NO_SUCH_PATH "/phc-no-such-file"

static volatile int stage;

/* Wait (10 ms steps, at most timeout_s) until stage reaches `value`; 1 when it did. */
static int await_stage(int value, int timeout_s)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	int i;

	for (i = 0; i < timeout_s * 100 && stage < value; i++)
		phc_raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0);
	return stage >= value;
}

static long futex(volatile int *word, int op, int val, long timeout_or_val2, volatile int *word2, int val3)
{
	return phc_raw_syscall6(SYS_futex, (long)word, op, val, timeout_or_val2, (long)word2, val3);
}

static double now_s(void)
{
	struct timespec ts;

	phc_raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Migrate the calling thread back to the origin and record it as `name`. */
static void back_recorded(const char *name)
{
	int ret = phc_migrate(phc_origin), here = phc_my_nid();

	phc_record(name, here, ret == 0 && here == phc_origin, "0, at the origin", "%s, on %d", phc_errname(-ret),
		   here);
}

/* -- identity ------------------------------------------------------------------------------------- */

static void mode_identity(void)
{
	long pid = phc_raw_syscall(SYS_getpid, 0, 0, 0, 0), ppid = phc_raw_syscall(SYS_getppid, 0, 0, 0, 0);
	long tid = phc_raw_syscall(SYS_gettid, 0, 0, 0, 0), rpid, rppid, rtid;
	struct phc_status st = { -2, -2, -2, -2 };

	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	rpid = phc_raw_syscall(SYS_getpid, 0, 0, 0, 0);
	rppid = phc_raw_syscall(SYS_getppid, 0, 0, 0, 0);
	rtid = phc_raw_syscall(SYS_gettid, 0, 0, 0, 0);
	phc_thread_status(&st);
	phc_record("remote_getpid_is_origin_pid", peer, rpid == pid, "the pid seen at the origin", "%ld (origin %ld)",
		   rpid, pid);
	phc_record("remote_getppid_is_origin_ppid", peer, rppid == ppid, "the ppid seen at the origin",
		   "%ld (origin %ld)", rppid, ppid);
	phc_record("remote_gettid_is_origin_tid", peer, rtid == tid, "the tid seen at the origin", "%ld (origin %ld)",
		   rtid, tid);
	phc_record("remote_status_peer_is_origin_task", peer,
		   st.current_nid == peer && st.peer_nid == phc_origin && st.peer_pid == tid,
		   "current = this node, peer = origin node and origin tid",
		   "current %d peer %d/%d (origin %d/%ld)", st.current_nid, st.peer_nid, st.peer_pid, phc_origin, tid);
	back_recorded("back_at_origin");
	phc_flush();
}

/* -- files ---------------------------------------------------------------------------------------- */

static void mode_files(void)
{
	char path[64], line[256], buf[16] = "";
	int pipefd[2] = { -1, -1 }, fd, ok;
	long ret, newfd, nread = -1, closed = -1;

	snprintf(path, sizeof(path), "/tmp/phc-remote-%d", getpid());
	ok = pipe2(pipefd, O_NONBLOCK) == 0;
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ok &= fd >= 0 && write(fd, "origin\n", 7) == 7;
	phc_check("origin_opened_pipe_and_file", ok, "pipe and file open, file holds 'origin\\n'", "%s",
		  ok ? "yes" : strerror(errno));
	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	ret = phc_raw_syscall(SYS_write, pipefd[1], (long)"piped", 5, 0);
	phc_record("remote_write_to_pipe", peer, ret == 5, "5 (bytes written)", "%ld%s", ret,
		   ret < 0 ? phc_errname(-ret) : "");
	ret = phc_raw_syscall(SYS_pwrite64, fd, (long)"remote", 6, 7);
	phc_record("remote_write_to_open_file", peer, ret == 6, "6 (bytes written)", "%ld %s", ret,
		   ret < 0 ? phc_errname(-ret) : "");
	newfd = phc_raw_syscall(SYS_open, (long)path, O_RDONLY, 0, 0);
	phc_record("remote_open_file_by_path", peer, newfd >= 0, "a file descriptor", "%ld %s", newfd,
		   newfd < 0 ? phc_errname(-newfd) : "");
	if (newfd >= 0) {
		nread = phc_raw_syscall(SYS_read, newfd, (long)buf, 7, 0);
		closed = phc_raw_syscall(SYS_close, newfd, 0, 0, 0);
	}
	phc_record("remote_read_new_file", peer, nread == 7 && !memcmp(buf, "origin\n", 7), "7 bytes 'origin\\n'",
		   "%ld '%.7s'", nread, nread > 0 ? buf : "");
	phc_record("remote_close_new_file", peer, closed == 0, "0", "%ld", closed);
	snprintf(line, sizeof(line),
		 "{\"check\": \"remote_write_to_stdout\", \"node\": %d, \"ok\": true, \"expected\": \"this line on the "
		 "program's stdout\", \"got\": \"written by the thread at node %d\"}\n", peer, peer);
	ret = phc_raw_syscall(SYS_write, 1, (long)line, (long)strlen(line), 0);
	phc_record("remote_write_to_stdout_returns", peer, ret == (long)strlen(line), "the line's length",
		   "%ld %s", ret, ret < 0 ? phc_errname(-ret) : "");
	back_recorded("back_at_origin");
	phc_flush();
	memset(buf, 0, sizeof(buf));
	ret = read(pipefd[0], buf, sizeof(buf) - 1);
	phc_check("origin_reads_pipe", ret == 5 && !memcmp(buf, "piped", 5), "'piped'", "%ld '%s'", ret,
		  ret > 0 ? buf : strerror(errno));
	memset(buf, 0, sizeof(buf));
	ret = pread(fd, buf, 6, 7);
	phc_check("origin_reads_file_write", ret == 6 && !memcmp(buf, "remote", 6), "'remote' at offset 7",
		  "%ld '%s'", ret, ret > 0 ? buf : "");
	unlink(path);
}

/* -- lifecycle ------------------------------------------------------------------------------------ */

static void mode_fork(void)
{
	long child, waited;
	int status = -1;

	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	child = phc_raw_syscall(SYS_fork, 0, 0, 0, 0);
	if (child == 0)
		phc_raw_syscall(SYS_exit_group, 5, 0, 0, 0);
	phc_record("remote_fork_returns_child", peer, child > 0, "the child's pid", "%ld %s", child,
		   child < 0 ? phc_errname(-child) : "");
	waited = child > 0 ? phc_raw_syscall(SYS_wait4, child, (long)&status, 0, 0) : -ECHILD;
	phc_record("remote_wait_gets_exit_5", peer, waited == child && WIFEXITED(status) && WEXITSTATUS(status) == 5,
		   "the child, exited 5", "%ld, status %#x", waited, status);
	back_recorded("back_at_origin");
	phc_flush();
}

static volatile int child_node = -2;

static int remote_child(void *arg)
{
	(void)arg;
	child_node = phc_my_nid();
	return 0;
}

static void mode_thread(void)
{
	struct phc_thread t;
	int ret;

	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	ret = phc_thread_start(&t, remote_child, NULL);
	phc_record("remote_clone_returns_0", peer, ret == 0, "0", "%s", phc_errname(-ret));
	if (ret == 0)
		ret = phc_thread_join(&t, 20);
	phc_record("remote_thread_ends", peer, ret == 0, "its tid word cleared within 20 s", "%s", phc_errname(-ret));
	phc_record("remote_thread_ran_there", peer, child_node == peer, "this node's id", "%d", child_node);
	back_recorded("back_at_origin");
	phc_flush();
}

/* -- lifecycle of a distributed child process --------------------------------------------------- */

/* Block until the child's thread is inside popcorn_migrate at the origin (its shadow waits there while
 * the thread is remote), then give the migration one more second; 1 when it was seen within 30 s. */
static int await_child_remote(pid_t child)
{
	char path[64], text[32];
	int i;

	snprintf(path, sizeof(path), "/proc/%d/syscall", child);
	for (i = 0; i < 3000; i++) {
		phc_read_proc(path, text, sizeof(text));
		if (atoi(text) == PCN_NR_MIGRATE) {
			phc_sleep_ms(1000);
			return 1;
		}
		phc_sleep_ms(10);
	}
	return 0;
}

static int exiting_thread(void *arg)
{
	(void)arg;
	if (phc_migrate(peer) != 0 || phc_my_nid() != peer)
		phc_raw_syscall(SYS_exit_group, 4, 0, 0, 0);
	phc_raw_syscall(SYS_exit_group, 3, 0, 0, 0);
	return 0;
}

static void mode_exit_group(void)
{
	pid_t child = fork();

	if (child == 0) {
		struct phc_thread t;

		if (phc_thread_start(&t, exiting_thread, NULL) != 0)
			_exit(5);
		phc_sleep_ms(60000);
		_exit(6);
	}
	phc_check_child_exit("remote_exit_group_by_second_thread_ends_process", child, 3,
			     "exited 3 (4: the thread could not migrate, 6: the process outlived it)", 30);
}

/* A child migrates to the peer (and back to the origin when `back`), then runs busybox sh -c 'exit 7' with
 * execve there: check NAME, its exit status 7. */
static void execve_in_child(const char *name, int back)
{
	pid_t child = fork();

	if (child == 0) {
		char *argv[] = { "sh", "-c", "exit 7", NULL };

		if (phc_migrate(peer) != 0 || phc_my_nid() != peer)
			_exit(4);
		if (back && (phc_migrate(phc_origin) != 0 || phc_my_nid() != phc_origin))
			_exit(5);
		execve("/bin/busybox", argv, environ);
		_exit(6);
	}
	phc_check_child_exit(name, child, 7, "exited 7 (4: could not migrate, 5: could not come back, 6: execve "
			     "failed)", 30);
}

static void mode_execve(void)
{
	execve_in_child("remote_execve_runs_new_image", 0);
}

static void mode_origin_execve(void)
{
	execve_in_child("origin_execve_runs_new_image", 1);
}

/* Signals a child gets while its only thread is remote. */
static volatile int child_sig, child_sig_node = -2;

static void on_child_sig(int sig)
{
	child_sig = sig;
	child_sig_node = phc_my_nid();
}

/* The child of kill_pid and stop_cont: migrate, stay remote for `remote_ms` (or until a handled signal),
 * come back and exit with `code(...)`. */
static void remote_child_body(long remote_ms, int (*code)(void))
{
	double end;

	if (phc_migrate(peer) != 0 || phc_my_nid() != peer)
		_exit(4);
	end = now_s() + remote_ms / 1000.0;
	while (now_s() < end && !child_sig)
		phc_sleep_ms(10);
	phc_migrate(phc_origin);
	_exit(code());
}

static int kill_pid_code(void)
{
	return !child_sig ? 2 : child_sig_node == peer ? 0 : 1;
}

static void mode_kill_pid(void)
{
	struct sigaction sa = { .sa_handler = on_child_sig };
	pid_t child;
	int remote;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	child = fork();
	if (child == 0)
		remote_child_body(20000, kill_pid_code);
	remote = await_child_remote(child);
	phc_check("child_remote", remote, "the child's thread in popcorn_migrate at the origin", "%s",
		  remote ? "yes" : "not seen in 30 s");
	phc_check("kill_pid_returns_0", kill(child, SIGUSR1) == 0, "0", "%s", strerror(errno));
	phc_check_child_exit("kill_pid_handled_at_remote", child, 0,
			     "exited 0: handled at the remote node (1: handled at the origin, 2: never, 4: no migration)", 40);
}

static int stop_cont_code(void)
{
	return 0;
}

static void mode_stop_cont(void)
{
	int status = 0, remote;
	long waited;
	pid_t child = fork();

	if (child == 0)
		remote_child_body(6000, stop_cont_code);
	remote = await_child_remote(child);
	phc_check("child_remote", remote, "the child's thread in popcorn_migrate at the origin", "%s",
		  remote ? "yes" : "not seen in 30 s");
	kill(child, SIGSTOP);
	waited = phc_wait_child(child, &status, WUNTRACED, 30);
	phc_check("remote_process_stops", waited == child && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
		  "stopped by 19", "%s", phc_describe_wait(waited, status, 30));
	kill(child, SIGCONT);
	waited = waited == child && WIFSTOPPED(status) ? phc_wait_child(child, &status, WCONTINUED, 30) : -1;
	phc_check("remote_process_continues", waited == child && WIFCONTINUED(status), "continued", "%s",
		  waited < 0 ? "never stopped" : phc_describe_wait(waited, status, 30));
	phc_check_child_exit("remote_process_exits_0", child, 0, "exited 0 (4: no migration)", 30);
}

/* -- futexes -------------------------------------------------------------------------------------- */

static volatile int word1, word2, word3;

static void mode_futex_timeout(void)
{
	struct timespec rel = { .tv_nsec = 300000000 };
	double t0, waited;
	long ret;

	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	t0 = now_s();
	ret = futex(&word1, FUTEX_WAIT_PRIVATE, 0, (long)&rel, NULL, 0);
	waited = now_s() - t0;
	phc_record("remote_timed_wait_times_out", peer, ret == -ETIMEDOUT && waited >= 0.25 && waited < 10,
		   "-ETIMEDOUT after 0.3 s", "%s after %.2f s", phc_errname(ret < 0 ? -ret : 0), waited);
	back_recorded("back_at_origin");
	phc_flush();
}

static void mode_futex_deadline(void)
{
	struct timespec abs;
	double t0, waited;
	long ret;

	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	phc_raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&abs, 0, 0);
	abs.tv_nsec += 300000000;
	abs.tv_sec += abs.tv_nsec / 1000000000;
	abs.tv_nsec %= 1000000000;
	t0 = now_s();
	ret = futex(&word1, FUTEX_WAIT_BITSET_PRIVATE, 0, (long)&abs, NULL, FUTEX_BITSET_MATCH_ANY);
	waited = now_s() - t0;
	phc_record("remote_wait_bitset_times_out", peer, ret == -ETIMEDOUT && waited >= 0.25 && waited < 10,
		   "-ETIMEDOUT at the absolute deadline 0.3 s ahead", "%s after %.2f s", phc_errname(ret < 0 ? -ret : 0),
		   waited);
	back_recorded("back_at_origin");
	phc_flush();
}

/* A remote thread's wake test: `op` (repeated until it wakes someone: the origin may not be waiting yet)
 * checked as `name`; then `then` (more checks at the remote node), or nothing. */
struct waker {
	long (*op)(void);
	const char *name, *expected;
	void (*then)(void);
};

/* Repeat op (10 ms apart, at most 10 s) until it returns non-zero. */
static long until_nonzero(long (*op)(void))
{
	struct timespec ts = { .tv_nsec = 10000000 };
	long ret = 0;
	int i;

	for (i = 0; i < 1000 && ret == 0; i++) {
		ret = op();
		if (ret == 0)
			phc_raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0);
	}
	return ret;
}

static int remote_waker(void *arg)
{
	const struct waker *w = arg;
	long ret;

	if (phc_migrate_recorded("migrated", peer) != 0) {
		stage = 1;
		return 0;
	}
	stage = 1;
	ret = until_nonzero(w->op);
	phc_record(w->name, peer, ret == 1, w->expected, "%ld", ret);
	if (w->then)
		w->then();
	await_stage(2, 30);
	back_recorded("back_at_origin");
	return 0;
}

/* The origin's side of a wake test: wait on word1 (at most 20 s) while `w` runs remotely. */
static void origin_waits(const struct waker *w)
{
	struct timespec timeout = { .tv_sec = 20 };
	struct phc_thread t;
	long ret = phc_thread_start(&t, remote_waker, (void *)w);

	if (ret == 0 && await_stage(1, 60)) {
		ret = futex(&word1, FUTEX_WAIT_PRIVATE, 0, (long)&timeout, NULL, 0);
		phc_check("origin_waiter_woken", ret == 0, "0 (woken)", "%s", phc_errname(ret < 0 ? -ret : 0));
		stage = 2;
		ret = phc_thread_join(&t, 30);
	} else {
		phc_check("origin_waiter_woken", 0, "0 (woken)", "the waker never ran at the remote node");
	}
	phc_check("thread_joined", ret == 0, "0", "%s", phc_errname(ret < 0 ? -ret : 0));
}

static long wake_op(void)
{
	return futex(&word1, FUTEX_WAKE_OP_PRIVATE, 1, 0, &word2, FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 0));
}

static void mode_futex_wake_op(void)
{
	static const struct waker w = { wake_op, "remote_wake_op_wakes_one", "1 (the origin's waiter)", NULL };

	origin_waits(&w);
	phc_check("origin_sees_wake_op_store", word2 == 7, "7", "%d", word2);
	phc_flush();
}

static long requeue(void)
{
	return futex(&word1, FUTEX_CMP_REQUEUE_PRIVATE, 0, 1, &word3, 0);
}

static void wake_requeued(void)
{
	long ret = futex(&word3, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0);

	phc_record("remote_wake_after_requeue_wakes_one", peer, ret == 1, "1", "%ld", ret);
}

static void mode_futex_requeue(void)
{
	static const struct waker w = { requeue, "remote_cmp_requeue_moves_one", "1 (the origin's waiter, requeued)",
					wake_requeued };

	origin_waits(&w);
	phc_flush();
}

static void mode_futex_pi(void)
{
	long ret, tid;
	int held;

	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	tid = phc_raw_syscall(SYS_gettid, 0, 0, 0, 0);
	ret = futex(&word1, FUTEX_TRYLOCK_PI_PRIVATE, 0, 0, NULL, 0);
	held = word1;
	phc_record("remote_trylock_pi_takes_free_word", peer, ret == 0 && (held & FUTEX_TID_MASK) != 0,
		   "0, the word holds a tid", "%s, word %#x (tid here %ld)", phc_errname(ret < 0 ? -ret : 0), held, tid);
	ret = futex(&word1, FUTEX_UNLOCK_PI_PRIVATE, 0, 0, NULL, 0);
	phc_record("remote_unlock_pi_frees_word", peer, ret == 0 && word1 == 0, "0, the word 0", "%s, word %#x",
		   phc_errname(ret < 0 ? -ret : 0), word1);
	back_recorded("back_at_origin");
	phc_flush();
}

/* -- memory --------------------------------------------------------------------------------------- */

static char *page_a, *page_b;

static long access_path(const char *path)
{
	return phc_raw_syscall(SYS_access, (long)path, F_OK, 0, 0);
}

static int vma_watcher(void *arg)
{
	long a, b;

	(void)arg;
	if (phc_migrate_recorded("migrated", peer) != 0) {
		stage = 1;
		return 0;
	}
	a = access_path(page_a);
	b = access_path(page_b);
	phc_record("remote_reads_pages", peer, a == -ENOENT && b == -ENOENT, "-ENOENT twice (the paths were read)",
		   "%s %s", phc_errname(-a), phc_errname(-b));
	stage = 1;
	if (await_stage(2, 60)) {
		a = access_path(page_a);
		b = access_path(page_b);
	} else {
		a = b = 0;
	}
	phc_record("remote_sees_origin_munmap", peer, a == -EFAULT, "-EFAULT", "%s", phc_errname(a < 0 ? -a : 0));
	phc_record("remote_sees_origin_mprotect_none", peer, b == -EFAULT, "-EFAULT", "%s", phc_errname(b < 0 ? -b : 0));
	back_recorded("back_at_origin");
	return 0;
}

static void mode_origin_vma(void)
{
	struct phc_thread t;
	int ret;

	page_a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	page_b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(page_a, NO_SUCH_PATH);
	strcpy(page_b, NO_SUCH_PATH);
	ret = phc_thread_start(&t, vma_watcher, NULL);
	if (ret == 0 && await_stage(1, 60)) {
		phc_check("origin_munmap", munmap(page_a, 4096) == 0, "0", "%s", strerror(errno));
		phc_check("origin_mprotect_none", mprotect(page_b, 4096, PROT_NONE) == 0, "0", "%s", strerror(errno));
	} else {
		phc_check("origin_munmap", 0, "0", "the thread never reached the remote node");
		phc_check("origin_mprotect_none", 0, "0", "the thread never reached the remote node");
	}
	stage = 2;
	ret = ret == 0 ? phc_thread_join(&t, 60) : ret;
	phc_check("thread_joined", ret == 0, "0", "%s", phc_errname(-ret));
	phc_flush();
}

/* A MAP_SHARED page at *word: 1 written at the origin, read remotely, 2 written there, read at the origin. */
static void shared_round(volatile int *word, const char *what)
{
	char name[64];
	int seen;

	*word = 1;
	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	seen = *word;
	*word = 2;
	snprintf(name, sizeof(name), "remote_reads_%s", what);
	phc_record(name, peer, seen == 1, "1 (written at the origin)", "%d", seen);
	back_recorded("back_at_origin");
	phc_flush();
	snprintf(name, sizeof(name), "origin_sees_remote_write_to_%s", what);
	phc_check(name, *word == 2, "2 (written remotely)", "%d", *word);
}

static void mode_shared_anon(void)
{
	int *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	shared_round(page, "shared_anon");
}

static void mode_shared_file(void)
{
	char path[64];
	int fd, *page, value = -1;

	snprintf(path, sizeof(path), "/tmp/phc-shared-%d", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 4096) != 0 ||
	    (page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		phc_check("migrated", 0, "a MAP_SHARED file mapping at the origin", "%s", strerror(errno));
		return;
	}
	shared_round(page, "shared_file");
	msync(page, 4096, MS_SYNC);
	phc_check("file_holds_remote_write", pread(fd, &value, sizeof(value), 0) == sizeof(value) && value == 2,
		  "2 at offset 0", "%d", value);
	unlink(path);
}

/* -- signals -------------------------------------------------------------------------------------- */

static volatile int handled_sig, handled_node = -2;
static volatile long handled_addr;

static void on_usr1(int sig)
{
	handled_sig = sig;
	handled_node = phc_my_nid();
}

/* Install on_usr1 for `sig` (checked as sigaction_installed) and migrate to the peer; 0 once there. */
static int handler_then_migrate(int sig)
{
	struct sigaction sa = { .sa_handler = on_usr1 };

	sigemptyset(&sa.sa_mask);
	phc_check("sigaction_installed", sigaction(sig, &sa, NULL) == 0, "0", "%s", strerror(errno));
	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return -1;
	}
	return 0;
}

static void mode_sigaction(void)
{
	struct timespec ts = { .tv_nsec = 10000000 };
	long ret;
	int i;

	if (handler_then_migrate(SIGUSR1) != 0)
		return;
	ret = phc_raw_syscall(SYS_tgkill, phc_raw_syscall(SYS_getpid, 0, 0, 0, 0),
			      phc_raw_syscall(SYS_gettid, 0, 0, 0, 0), SIGUSR1, 0);
	for (i = 0; i < 200 && !handled_sig; i++)
		phc_raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0);
	phc_record("remote_tgkill_self", peer, ret == 0, "0", "%s", phc_errname(ret < 0 ? -ret : 0));
	phc_record("handler_ran_at_remote", peer, handled_sig == SIGUSR1 && handled_node == peer,
		   "SIGUSR1 handled on this node", "signal %d handled on node %d", handled_sig, handled_node);
	back_recorded("back_at_origin");
	phc_flush();
}

/* A load from 0x10 (three bytes: mov (%rax),%rax) that the SIGSEGV handler skips. */
static long load_from_0x10(void)
{
	long value = 0x10;

	__asm__ volatile(".byte 0x48, 0x8b, 0x00" : "+a"(value) : : "memory");
	return value;
}

static void on_segv(int sig, siginfo_t *info, void *context)
{
	ucontext_t *uc = context;

	handled_sig = sig;
	handled_addr = (long)info->si_addr;
	handled_node = phc_my_nid();
	uc->uc_mcontext.gregs[REG_RIP] += 3;
}

static void mode_segv(void)
{
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	phc_check("sigaction_installed", sigaction(SIGSEGV, &sa, NULL) == 0, "0", "%s", strerror(errno));
	if (phc_migrate_recorded("migrated", peer) != 0) {
		phc_flush();
		return;
	}
	load_from_0x10();
	phc_record("segv_handler_ran_at_remote", peer, handled_sig == SIGSEGV && handled_addr == 0x10 &&
		   handled_node == peer, "SIGSEGV for 0x10 handled on this node", "signal %d for %#lx on node %d",
		   handled_sig, handled_addr, handled_node);
	back_recorded("back_at_origin");
	phc_flush();
}

static void mode_futex_signal(void)
{
	struct timespec rel = { .tv_sec = 10 };
	double t0, waited;
	long ret;

	if (handler_then_migrate(SIGALRM) != 0)
		return;
	t0 = now_s();
	phc_raw_syscall(SYS_alarm, 1, 0, 0, 0);
	ret = futex(&word1, FUTEX_WAIT_PRIVATE, 0, (long)&rel, NULL, 0);
	waited = now_s() - t0;
	phc_record("remote_futex_wait_interrupted", peer, ret == -EINTR && waited < 5, "-EINTR after about 1 s",
		   "%s after %.2f s", phc_errname(ret < 0 ? -ret : 0), waited);
	phc_record("handler_ran_at_remote", peer, handled_sig == SIGALRM && handled_node == peer,
		   "SIGALRM handled on this node", "signal %d handled on node %d", handled_sig, handled_node);
	back_recorded("back_at_origin");
	phc_flush();
}

/* -- the two-step path: origin -> node +1 -> origin -> node +2 ------------------------------------------ */

#define TWO_STEP_PATTERN 0x7e57a000u

static __thread unsigned int two_step_tls;

static unsigned int read_mxcsr(void)
{
	unsigned int value;

	__asm__ volatile("stmxcsr %0" : "=m"(value));
	return value;
}

static void write_mxcsr(unsigned int value)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(value));
}

static void mode_two_step(void)
{
	unsigned int stack_words[256], *heap = malloc(4096 * sizeof(*heap)), mxcsr = read_mxcsr(), rounding;
	int first = (phc_origin + 1) % phc_nr_nodes, second = (phc_origin + 2) % phc_nr_nodes, i, stack_ok, heap_ok;

	if (phc_nr_nodes < 3) {
		phc_check("migrated_to_first", 0, "a cluster of 3 nodes or more", "%d nodes", phc_nr_nodes);
		return;
	}
	if (phc_migrate_recorded("migrated_to_first", first) != 0) {
		phc_flush();
		return;
	}
	for (i = 0; i < 256; i++)
		stack_words[i] = TWO_STEP_PATTERN + i;
	for (i = 0; i < 4096; i++)
		heap[i] = TWO_STEP_PATTERN ^ (unsigned)i;
	two_step_tls = TWO_STEP_PATTERN + 1;
	rounding = (mxcsr & ~0x6000u) | 0x4000u; /* round up */
	write_mxcsr(rounding);
	phc_escape(stack_words);
	phc_escape(heap);
	back_recorded("back_at_origin");
	phc_record("mxcsr_set_at_first_intact_back_at_origin", phc_origin, (read_mxcsr() & 0x6000u) == 0x4000u,
		   "rounding up (MXCSR RC 10b)", "MXCSR %#x", read_mxcsr());
	if (phc_migrate_recorded("migrated_to_second", second) != 0) {
		phc_flush();
		return;
	}
	for (stack_ok = 1, i = 0; i < 256; i++)
		stack_ok &= stack_words[i] == TWO_STEP_PATTERN + i;
	for (heap_ok = 1, i = 0; i < 4096; i++)
		heap_ok &= heap[i] == (TWO_STEP_PATTERN ^ (unsigned)i);
	phc_record("stack_written_at_first_intact_at_second", second, stack_ok, "the words written at node +1",
		   "%s", stack_ok ? "intact" : "differ");
	phc_record("heap_written_at_first_intact_at_second", second, heap_ok, "the words written at node +1", "%s",
		   heap_ok ? "intact" : "differ");
	phc_record("tls_written_at_first_intact_at_second", second, two_step_tls == TWO_STEP_PATTERN + 1, "0x7e57a001",
		   "%#x", two_step_tls);
	phc_record("mxcsr_set_at_first_intact_at_second", second, (read_mxcsr() & 0x6000u) == 0x4000u,
		   "rounding up (MXCSR RC 10b)", "MXCSR %#x", read_mxcsr());
	write_mxcsr(mxcsr);
	back_recorded("back_at_origin_again");
	phc_flush();
	free(heap);
}

/* -- isolation ------------------------------------------------------------------------------------ */

#define ISOLATION_BASE ((void *)0x3000000000UL) /* below mmap_base: this tree's user space ends at 256 GiB */
#define ISOLATION_ROUNDS 30

static volatile int *iso_wait_word, *iso_wake_word;
static volatile int iso_stop, iso_woken;

/* Wait on this process's word (100 ms at a time) until told to stop; count the waits that were woken. */
static int iso_waiter(void *arg)
{
	struct timespec ts = { .tv_nsec = 100000000 };

	(void)arg;
	while (!iso_stop)
		if (futex(iso_wait_word, FUTEX_WAIT_PRIVATE, 0, (long)&ts, NULL, 0) == 0 && !iso_stop)
			iso_woken++;
	return 0;
}

static void mode_isolation(void)
{
	unsigned int *page, pattern, i, round;
	int remote_ok = 1, origin_ok = 1, ret, b = phc_arg && !strcmp(phc_arg, "b");
	long woken = 0, wake;
	struct phc_thread t;

	page = mmap(ISOLATION_BASE, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		    -1, 0);
	if (page != ISOLATION_BASE) {
		phc_check("fixed_mapping", 0, "the fixed address", "%p %s", (void *)page, strerror(errno));
		return;
	}
	phc_check("fixed_mapping", 1, "the fixed address", "%p", (void *)page);
	iso_wait_word = (int *)((char *)page + (b ? 2 : 1) * 4096);
	iso_wake_word = (int *)((char *)page + (b ? 1 : 2) * 4096);
	pattern = (unsigned int)getpid() << 8;
	ret = phc_thread_start(&t, iso_waiter, NULL);
	for (round = 0; round < ISOLATION_ROUNDS && ret == 0; round++) {
		for (i = 0; i < 1024; i++)
			page[i] = pattern + round;
		if ((ret = phc_migrate(peer)) != 0)
			break;
		for (i = 0; i < 1024; i++)
			remote_ok &= page[i] == pattern + round;
		wake = futex(iso_wake_word, FUTEX_WAKE_PRIVATE, 1 << 30, 0, NULL, 0);
		woken += wake > 0 ? wake : 0;
		for (i = 0; i < 1024; i++)
			page[i] = ~(pattern + round);
		if ((ret = phc_migrate(phc_origin)) != 0)
			break;
		for (i = 0; i < 1024; i++)
			origin_ok &= page[i] == ~(pattern + round);
	}
	phc_check("round_trips", ret == 0 && round == ISOLATION_ROUNDS, "30 round trips", "%u, last %s", round,
		  phc_errname(ret < 0 ? -ret : 0));
	phc_check("own_memory_at_remote", remote_ok, "its own pattern in every round", "%s", remote_ok ? "yes" : "no");
	phc_check("own_memory_at_origin", origin_ok, "its own pattern in every round", "%s", origin_ok ? "yes" : "no");
	phc_check("wakes_at_remote_woke_nobody", woken == 0, "0 (nobody waits there in this process)", "%ld", woken);
	iso_stop = 1;
	ret = phc_thread_join(&t, 10);
	phc_check("own_waiter_never_woken", iso_woken == 0 && ret == 0, "0 wake-ups, the waiter ended", "%d, %s",
		  iso_woken, phc_errname(-ret));
}

static const struct phc_mode modes[] = {
	{ "identity", mode_identity,
	  "migrated remote_getpid_is_origin_pid remote_getppid_is_origin_ppid remote_gettid_is_origin_tid "
	  "remote_status_peer_is_origin_task back_at_origin" },
	{ "files", mode_files,
	  "origin_opened_pipe_and_file migrated remote_write_to_pipe remote_write_to_open_file remote_open_file_by_path "
	  "remote_read_new_file remote_close_new_file remote_write_to_stdout remote_write_to_stdout_returns "
	  "back_at_origin origin_reads_pipe origin_reads_file_write" },
	{ "fork", mode_fork, "migrated remote_fork_returns_child remote_wait_gets_exit_5 back_at_origin" },
	{ "thread", mode_thread,
	  "migrated remote_clone_returns_0 remote_thread_ends remote_thread_ran_there back_at_origin" },
	{ "futex_timeout", mode_futex_timeout, "migrated remote_timed_wait_times_out back_at_origin" },
	{ "futex_deadline", mode_futex_deadline, "migrated remote_wait_bitset_times_out back_at_origin" },
	{ "futex_wake_op", mode_futex_wake_op,
	  "migrated remote_wake_op_wakes_one origin_waiter_woken back_at_origin thread_joined origin_sees_wake_op_store" },
	{ "futex_requeue", mode_futex_requeue,
	  "migrated remote_cmp_requeue_moves_one remote_wake_after_requeue_wakes_one origin_waiter_woken back_at_origin "
	  "thread_joined" },
	{ "futex_pi", mode_futex_pi,
	  "migrated remote_trylock_pi_takes_free_word remote_unlock_pi_frees_word back_at_origin" },
	{ "origin_vma", mode_origin_vma,
	  "migrated remote_reads_pages origin_munmap origin_mprotect_none remote_sees_origin_munmap "
	  "remote_sees_origin_mprotect_none back_at_origin thread_joined" },
	{ "shared_anon", mode_shared_anon,
	  "migrated remote_reads_shared_anon back_at_origin origin_sees_remote_write_to_shared_anon" },
	{ "shared_file", mode_shared_file,
	  "migrated remote_reads_shared_file back_at_origin origin_sees_remote_write_to_shared_file "
	  "file_holds_remote_write" },
	{ "sigaction", mode_sigaction,
	  "sigaction_installed migrated remote_tgkill_self handler_ran_at_remote back_at_origin" },
	{ "segv", mode_segv, "sigaction_installed migrated segv_handler_ran_at_remote back_at_origin" },
	{ "exit_group", mode_exit_group, "remote_exit_group_by_second_thread_ends_process" },
	{ "execve", mode_execve, "remote_execve_runs_new_image" },
	{ "origin_execve", mode_origin_execve, "origin_execve_runs_new_image" },
	{ "kill_pid", mode_kill_pid, "child_remote kill_pid_returns_0 kill_pid_handled_at_remote" },
	{ "stop_cont", mode_stop_cont,
	  "child_remote remote_process_stops remote_process_continues remote_process_exits_0" },
	{ "futex_signal", mode_futex_signal,
	  "sigaction_installed migrated remote_futex_wait_interrupted handler_ran_at_remote back_at_origin" },
	{ "two_step", mode_two_step,
	  "migrated_to_first back_at_origin mxcsr_set_at_first_intact_back_at_origin migrated_to_second "
	  "stack_written_at_first_intact_at_second "
	  "heap_written_at_first_intact_at_second tls_written_at_first_intact_at_second "
	  "mxcsr_set_at_first_intact_at_second back_at_origin_again" },
	{ "isolation", mode_isolation,
	  "fixed_mapping round_trips own_memory_at_remote own_memory_at_origin wakes_at_remote_woke_nobody "
	  "own_waiter_never_woken" },
};

int main(int argc, char **argv)
{
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 60);
}
