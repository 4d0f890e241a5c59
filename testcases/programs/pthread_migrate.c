/* pthread_migrate: a small Popcorn demo program, as a developer would write one against Popcorn's user
 * library, built with `popcorn-harness cc` and run with `popcorn-harness cluster run` (test_own_program.py).
 *
 * THREADS pthreads (argv[1], default 4) each migrate with migrate(): thread i goes to node 1 + i % (NODES - 1)
 * (NODES = argv[2], default 2), sums there an array the origin wrote, keeps the result in its slot of a
 * shared table, notes where it ran (migrate's callback), and migrates back to node 0.
 * The main thread joins them and checks every result. Prints one line per thread and a last line:
 *   thread I: started on node 0, ran on node D, back on node 0, sum S
 *   all N threads done: ok | FAILED
 * Exit status 0 when every thread ran where it was sent and every sum is right, 1 otherwise.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <migrate.h>

#define VALUES (64 * 1024)

static long values[VALUES];

struct work {
	int id, destination;
	int started_on, ran_on, back_on;
	long sum;
	pthread_t thread;
};

static void note_arrival(void *arg)
{
	struct work *w = arg;

	w->ran_on = popcorn_current_nid();
}

static void *worker(void *arg)
{
	struct work *w = arg;
	long sum = 0;

	w->started_on = popcorn_current_nid();
	migrate(w->destination, note_arrival, w);
	for (int i = 0; i < VALUES; i++)
		sum += values[i];
	w->sum = sum;
	migrate(0, NULL, NULL);
	w->back_on = popcorn_current_nid();
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 4, nodes = argc > 2 ? atoi(argv[2]) : 2, failed = 0;
	long expected = 0;
	struct work *work;

	if (threads < 1 || nodes < 2) {
		fprintf(stderr, "usage: pthread_migrate [THREADS >= 1] [NODES >= 2]\n");
		return 2;
	}
	for (int i = 0; i < VALUES; i++) {
		values[i] = i % 1000;
		expected += i % 1000;
	}
	work = calloc(threads, sizeof(*work));
	for (int i = 0; i < threads; i++) {
		work[i].id = i;
		work[i].destination = 1 + i % (nodes - 1);
		work[i].ran_on = work[i].back_on = -2;
		if (pthread_create(&work[i].thread, NULL, worker, &work[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	for (int i = 0; i < threads; i++) {
		struct work *w = &work[i];

		pthread_join(w->thread, NULL);
		printf("thread %d: started on node %d, ran on node %d, back on node %d, sum %ld\n", w->id,
		       w->started_on, w->ran_on, w->back_on, w->sum);
		failed |= w->started_on != 0 || w->ran_on != w->destination || w->back_on != 0 || w->sum != expected;
	}
	printf("all %d threads done: %s\n", threads, failed ? "FAILED" : "ok");
	return failed;
}
