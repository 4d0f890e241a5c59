/* phc_vfork_wait: a guest program that sits in the kernel in D state, on any kernel, until killed.
 *
 * The parent of a vfork waits for its child to exec or exit, killable but not interruptible (D in
 * /proc); the child sleeps for SECONDS (default 600) first. The harness's own tests use it to see a
 * thread stuck in the kernel (harness/cluster/stuck.py) without a kernel defect.
 */
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	unsigned int seconds = argc > 1 ? (unsigned int)atoi(argv[1]) : 600;
	pid_t child = vfork();

	if (child == 0) {
		sleep(seconds); /* the parent stays in D meanwhile */
		_exit(0);
	}
	if (child < 0)
		return 1;
	waitpid(child, NULL, 0);
	return 0;
}
