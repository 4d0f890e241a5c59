/* thread.h: threads made with the plain clone system call, as the conformance programs use them.
 *
 * glibc >= 2.34 creates threads with clone3 (syscall 435 since Linux 5.3) and falls back to clone only
 * on ENOSYS. The 5.2 Popcorn tree gives 435 to popcorn_propose_migration, which answers glibc's
 * clone3(args, 88) with EINVAL (nid 88 out of range), so pthread_create fails with EINVAL there. The
 * run-time library (runtime/popcorn_lib.c) makes glibc fall back to clone, so pthread_create works in
 * every guest program; the conformance programs keep these threads because what they check is the
 * kernel's, with no libc thread machinery in between. They share the creator's thread-local storage
 * (no CLONE_SETTLS), so in them: no malloc, no stdio, no errno (use phc_raw_syscall and phc_record).
 * pthread mutexes, condition variables and barriers work on them (normal types).
 */
#ifndef PHC_THREAD_H
#define PHC_THREAD_H

#include "popcorn.h" /* first: it defines _GNU_SOURCE */
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PHC_THREAD_STACK (256 * 1024)

struct phc_thread {
	volatile pid_t tid; /* cleared by the kernel when the thread exits (CLONE_CHILD_CLEARTID) */
	void *stack;
};

/* A system call without errno: the result, or -errno. */
static inline long phc_raw_syscall(long nr, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

/* phc_raw_syscall with all six arguments (mmap, futex with a second word). */
static inline long phc_raw_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Start fn(arg) in a new thread of this process; 0 or -errno. */
static inline int phc_thread_start(struct phc_thread *t, int (*fn)(void *), void *arg)
{
	const int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
			  CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
	int ret;

	t->stack = mmap(NULL, PHC_THREAD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->stack == MAP_FAILED)
		return -errno;
	ret = clone(fn, (char *)t->stack + PHC_THREAD_STACK, flags, arg, &t->tid, NULL, &t->tid);
	return ret < 0 ? -errno : 0;
}

/* Wait until the thread has exited (its tid word cleared), at most timeout_s seconds; 0 or -ETIMEDOUT. */
static inline int phc_thread_join(struct phc_thread *t, int timeout_s)
{
	struct timespec ts = { .tv_sec = 1 };
	int waited = 0;
	pid_t tid;

	while ((tid = t->tid) != 0) {
		if (waited++ >= timeout_s)
			return -ETIMEDOUT;
		phc_raw_syscall(SYS_futex, (long)&t->tid, FUTEX_WAIT, tid, (long)&ts);
	}
	return 0;
}

/* The same wait without a futex: read the tid word every every_ms milliseconds, at most timeout_s seconds;
 * 0 or -ETIMEDOUT. For a thread that migrates: phc_thread_join's FUTEX_WAIT takes the futex key on a page
 * that moves between the nodes, which deadlocks the 5.2.21 origin (P14 in testcases/popcorn/known_defects.py). */
static inline int phc_thread_wait_exit(struct phc_thread *t, int timeout_s, long every_ms)
{
	struct timespec nap = { .tv_sec = every_ms / 1000, .tv_nsec = every_ms % 1000 * 1000000L };
	long naps = timeout_s * 1000L / every_ms;

	while (t->tid != 0 && naps-- > 0)
		nanosleep(&nap, NULL);
	return t->tid != 0 ? -ETIMEDOUT : 0;
}

/* A small /proc file into buf (without its last newline); "?" when it cannot be read. */
static inline void phc_read_proc(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		n = snprintf(buf, len, "?");
	buf[n] = 0;
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
}

/* Where a thread that has not exited is, as the "got" of a failed wait shows it: "tid N: state S, wchan W"
 * (/proc/self/task/N: its scheduler state and the kernel function it waits in). For the main thread only
 * (it uses stdio); "exited" when the tid word is clear by now. */
static inline const char *phc_thread_whereabouts(const struct phc_thread *t, char *buf, size_t len)
{
	char path[64], stat[512], wchan[64];
	const char *state;
	pid_t tid = t->tid;

	if (tid == 0) {
		snprintf(buf, len, "exited");
		return buf;
	}
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	phc_read_proc(path, stat, sizeof(stat));
	state = strrchr(stat, ')'); /* "tid (comm) S ...": the comm may hold spaces and parentheses */
	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	phc_read_proc(path, wchan, sizeof(wchan));
	snprintf(buf, len, "tid %d: state %c, wchan %.63s", tid, state && state[1] && state[2] ? state[2] : '?',
		 strcmp(wchan, "0") ? wchan : "none (running)");
	return buf;
}

#endif
