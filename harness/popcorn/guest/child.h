/* child.h: a child process of a check program: wait for it with a deadline, say how it ended, check its exit. */
#ifndef PHC_CHILD_H
#define PHC_CHILD_H

#include "record.h"
#include "thread.h"
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/* Sleep ms milliseconds with raw system calls (safe in threads made with thread.h, and remotely). */
static inline void phc_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000 };

	phc_raw_syscall(SYS_nanosleep, (long)&ts, 0, 0, 0);
}

/* wait4(child, flags | WNOHANG) every 10 ms for at most timeout_s; the pid returned (0: nothing in time). */
static inline long phc_wait_child(pid_t child, int *status, int flags, int timeout_s)
{
	long ret = 0;
	int i;

	for (i = 0; i < timeout_s * 100 && (ret = wait4(child, status, flags | WNOHANG, NULL)) == 0; i++)
		phc_sleep_ms(10);
	return ret;
}

/* "exited N", "killed by signal N", "stopped by N", "continued" or "still running after S s (SIGKILLed)". */
static inline const char *phc_describe_wait(long waited, int status, int timeout_s)
{
	static char text[96];

	if (waited <= 0)
		snprintf(text, sizeof(text), waited == 0 ? "still running after %d s (SIGKILLed)" : "wait4 failed",
			 timeout_s);
	else if (WIFEXITED(status))
		snprintf(text, sizeof(text), "exited %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(text, sizeof(text), "killed by signal %d", WTERMSIG(status));
	else if (WIFSTOPPED(status))
		snprintf(text, sizeof(text), "stopped by %d", WSTOPSIG(status));
	else
		snprintf(text, sizeof(text), "continued");
	return text;
}

/* Wait for the child's end (timeout_s at most, then SIGKILL it) and check it exited `code`. */
static inline void phc_check_child_exit(const char *name, pid_t child, int code, const char *expected, int timeout_s)
{
	int status = 0;
	long waited = phc_wait_child(child, &status, 0, timeout_s);

	if (waited == 0)
		kill(child, SIGKILL);
	phc_check(name, waited == child && WIFEXITED(status) && WEXITSTATUS(status) == code, expected, "%s",
		  phc_describe_wait(waited, status, timeout_s));
}

#endif
