/* pcn_fuzz: a bounded, seeded fuzzer of the Popcorn system calls, madvise and futex, from threads that
 * migrate.
 *
 * usage: pcn_fuzz SEED SECONDS NODE_ID NR_NODES [THREADS [all|only=OP,OP...]]
 *
 * THREADS worker threads (default 2, at most 8) each draw calls from `ops` (weighted) with their own
 * xorshift generator seeded from SEED, NODE_ID and the thread's index, until SECONDS have passed; then
 * they migrate back to this node (the origin) and end. The main thread stays at the origin; once the
 * workers ended (or SECONDS + 30 s passed) it prints one JSON line:
 *   {"fuzz": {"seed": S, "node": N, "threads": T, "ended": E, "calls": {"op": n, ...},
 *             "errors": {"op": n, ...}}}
 * and exits 0, or 3 if a worker never ended (its last op is named in "stuck"). The same SEED on the same
 * cluster draws the same calls in the same order per thread (the interleaving of threads and nodes is
 * the machines').
 *
 * Calls whose arguments are known to crash or hang the 5.2.21 tree are left out unless the last argument
 * is "all" (then the fuzzer mostly finds them again); "only=OP,OP..." draws only the ops named (known to
 * crash or not), to narrow down which calls lead to a finding: a bad register-set pointer (P18), a remote thread
 * asking for a node other than its origin (P12), MADV_RELEASE at the origin (P09, P10), futex operations
 * other than WAIT/WAKE (P22), mprotect/mremap/brk at the remote node (P03-P05), shared futexes (P06).
 * The defect ids are those of testcases/popcorn/known_defects.py.
 * Worker threads are made with thread.h (shared TLS): they use raw system calls only.
 */
#include "migrate.h"
#include "record.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <time.h>

#define MAX_THREADS 8
#define ARENA_PAGES 16
#define PAGE 4096
#define MADV_RELEASE 20
#define KERNEL_POINTER 0xffffffff81000000UL
#define NOT_HERE 1 /* an op's result when it does not apply where the thread is: not counted */

struct worker {
	unsigned long long rng;
	int index, here;
	const char *last; /* the op running now (or last run) */
	volatile int done;
	struct phc_thread thread;
};

struct op {
	const char *name;
	long (*run)(struct worker *);
	int weight;
	int known_bad; /* left out unless "all" */
};

static int origin, nr_nodes, nr_threads, all_calls;
static int drawn[32]; /* per op of `ops`: 1 when this run draws it */
static double deadline;
static char *arena;
static struct worker workers[MAX_THREADS];

static unsigned long long next(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static long pick(struct worker *w, long n)
{
	return (long)(next(w) % (unsigned long long)n);
}

static double now_s(void)
{
	struct timespec ts;

	phc_raw_syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A pointer argument: three times in four `good`, else NULL, 1, an unmapped page or a kernel address. */
static long pointer(struct worker *w, void *good)
{
	static const unsigned long bad[] = { 0, 1, 0x1000, KERNEL_POINTER };

	return pick(w, 4) ? (long)good : (long)bad[pick(w, 4)];
}

static int other_node(struct worker *w)
{
	int nid = (int)pick(w, nr_nodes - 1);

	return nid >= origin ? nid + 1 : nid;
}

/* -- the ops ------------------------------------------------------------------------------------ */

static long op_migrate(struct worker *w)
{
	int target = w->here == origin ? other_node(w) : origin;
	long ret = phc_migrate(target);

	if (ret == 0)
		w->here = target;
	return ret;
}

static long op_migrate_bad_nid(struct worker *w)
{
	static const int bad[] = { -2, -1, 32, 64, 1 << 20 };
	int target = pick(w, 2) ? w->here : bad[pick(w, 5)];

	return w->here == origin ? phc_migrate(target) : NOT_HERE; /* at a remote node: P12 */
}

static long op_migrate_remote_elsewhere(struct worker *w)
{
	return w->here != origin && nr_nodes > 2 ? phc_migrate(other_node(w)) : NOT_HERE;
}

static long op_migrate_bad_uregs(struct worker *w)
{
	return phc_raw_syscall(PCN_NR_MIGRATE, other_node(w), pointer(w, NULL) | 1, 0, 0);
}

static long op_propose(struct worker *w)
{
	long tid = pick(w, 3) ? workers[pick(w, nr_threads)].thread.tid : (long)pick(w, 1 << 16);

	return phc_propose((pid_t)(pick(w, 4) ? tid : 0), (int)pick(w, nr_nodes + 3) - 1);
}

static long op_thread_status(struct worker *w)
{
	struct phc_status st;

	return phc_raw_syscall(PCN_NR_THREAD_STATUS, pointer(w, &st), 0, 0, 0);
}

static long op_node_info(struct worker *w)
{
	struct pcn_node_info info[PCN_MAX_TABLE];
	int nid;

	return phc_raw_syscall(PCN_NR_NODE_INFO, pointer(w, &nid), pointer(w, info), pick(w, PCN_MAX_TABLE + 2) - 1,
			       0);
}

static long op_touch(struct worker *w)
{
	unsigned int *word = (unsigned int *)(arena + pick(w, ARENA_PAGES) * PAGE) + pick(w, PAGE / 4);
	unsigned int value = (unsigned int)next(w);

	*word = value;
	return *word == value ? 0 : -EIO;
}

static long madvise_arena(struct worker *w, int advice)
{
	long first = pick(w, ARENA_PAGES), pages = 1 + pick(w, ARENA_PAGES - first);

	return phc_raw_syscall(SYS_madvise, (long)(arena + first * PAGE), pages * PAGE, advice, 0);
}

static long op_madvise(struct worker *w)
{
	static const int advice[] = { MADV_DONTNEED, MADV_WILLNEED, MADV_NORMAL, MADV_SEQUENTIAL };

	return madvise_arena(w, advice[pick(w, 4)]);
}

static long op_madv_release_remote(struct worker *w)
{
	return w->here != origin ? madvise_arena(w, MADV_RELEASE) : NOT_HERE;
}

static long op_madv_release_origin(struct worker *w)
{
	return w->here == origin ? madvise_arena(w, MADV_RELEASE) : NOT_HERE;
}

static volatile int *futex_word(struct worker *w)
{
	return (volatile int *)(arena + pick(w, ARENA_PAGES) * PAGE) + pick(w, 4);
}

static long op_futex_wait(struct worker *w)
{
	struct timespec ts = { .tv_nsec = 1000000 * (1 + pick(w, 20)) };
	volatile int *word = futex_word(w);

	return phc_raw_syscall(SYS_futex, (long)word, FUTEX_WAIT_PRIVATE, pick(w, 2) ? *word : *word + 1, (long)&ts);
}

static long op_futex_wake(struct worker *w)
{
	return phc_raw_syscall(SYS_futex, (long)futex_word(w), FUTEX_WAKE_PRIVATE, 1 + pick(w, 4), 0);
}

static long op_futex_other(struct worker *w)
{
	static const int cmds[] = { FUTEX_WAKE_OP_PRIVATE, FUTEX_CMP_REQUEUE_PRIVATE, FUTEX_TRYLOCK_PI_PRIVATE };
	volatile int *word = futex_word(w), *word2 = futex_word(w);
	long cmd = cmds[pick(w, 3)];

	return phc_raw_syscall6(SYS_futex, (long)word, cmd, 1, 1, (long)word2, *word);
}

static long op_futex_shared(struct worker *w)
{
	return phc_raw_syscall(SYS_futex, (long)futex_word(w), FUTEX_WAKE, 1, 0);
}

static long op_map_unmap(struct worker *w)
{
	long size = (1 + pick(w, 4)) * PAGE;
	long p = phc_raw_syscall6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p < 0 && p > -4096)
		return p;
	if (pick(w, 2))
		*(volatile char *)p = 1;
	return phc_raw_syscall(SYS_munmap, p, size, 0, 0);
}

static long op_remote_mprotect(struct worker *w)
{
	long first = pick(w, ARENA_PAGES);

	return w->here != origin ? phc_raw_syscall(SYS_mprotect, (long)(arena + first * PAGE), PAGE,
						   PROT_READ | PROT_WRITE, 0)
				 : NOT_HERE;
}

static const struct op ops[] = {
	{ "migrate", op_migrate, 6, 0 },
	{ "migrate_bad_nid", op_migrate_bad_nid, 2, 0 },
	{ "migrate_remote_elsewhere", op_migrate_remote_elsewhere, 1, 1 },
	{ "migrate_bad_uregs", op_migrate_bad_uregs, 1, 1 },
	{ "propose", op_propose, 2, 0 },
	{ "thread_status", op_thread_status, 2, 0 },
	{ "node_info", op_node_info, 2, 0 },
	{ "touch", op_touch, 8, 0 },
	{ "madvise", op_madvise, 2, 0 },
	{ "madv_release_remote", op_madv_release_remote, 1, 0 },
	{ "madv_release_origin", op_madv_release_origin, 1, 1 },
	{ "futex_wait", op_futex_wait, 2, 0 },
	{ "futex_wake", op_futex_wake, 2, 0 },
	{ "futex_other", op_futex_other, 1, 1 },
	{ "futex_shared", op_futex_shared, 1, 1 },
	{ "map_unmap", op_map_unmap, 2, 0 },
	{ "remote_mprotect", op_remote_mprotect, 1, 1 },
};
#define NR_OPS (sizeof(ops) / sizeof(ops[0]))
_Static_assert(NR_OPS <= sizeof(drawn) / sizeof(drawn[0]), "drawn[] holds every op");

static unsigned long calls[MAX_THREADS][NR_OPS], errors[MAX_THREADS][NR_OPS];

static const struct op *draw(struct worker *w)
{
	int total = 0, i;
	long at;

	for (i = 0; i < (int)NR_OPS; i++)
		total += drawn[i] ? ops[i].weight : 0;
	at = pick(w, total);
	for (i = 0; i < (int)NR_OPS; i++) {
		if (!drawn[i])
			continue;
		if ((at -= ops[i].weight) < 0)
			break;
	}
	return &ops[i];
}

static int worker_main(void *arg)
{
	struct worker *w = arg;

	while (now_s() < deadline) {
		const struct op *op = draw(w);
		long ret;

		w->last = op->name;
		ret = op->run(w);
		if (ret == NOT_HERE)
			continue;
		calls[w->index][op - ops]++;
		errors[w->index][op - ops] += ret < 0;
	}
	w->last = "migrate back to the origin";
	if (w->here != origin && phc_migrate(origin) == 0)
		w->here = origin;
	w->done = 1;
	return 0;
}

static void print_counts(const char *key, unsigned long (*table)[NR_OPS])
{
	unsigned int i, t, first = 1;

	printf("\"%s\": {", key);
	for (i = 0; i < NR_OPS; i++) {
		unsigned long sum = 0;

		for (t = 0; t < (unsigned int)nr_threads; t++)
			sum += table[t][i];
		if (sum || drawn[i]) {
			printf("%s\"%s\": %lu", first ? "" : ", ", ops[i].name, sum);
			first = 0;
		}
	}
	printf("}");
}

/* Fill `drawn` from the last argument: "" (the ops not known to crash), "all", or "only=OP,OP...";
 * an unknown op name or an empty choice is a usage error. */
static int choose_ops(const char *choice)
{
	unsigned int i, any = 0;

	for (i = 0; i < NR_OPS; i++)
		drawn[i] = all_calls || !ops[i].known_bad;
	if (*choice && strcmp(choice, "all") != 0) {
		char names[512], *name, *save = NULL;

		if (strncmp(choice, "only=", 5) != 0 || strlen(choice + 5) >= sizeof(names)) {
			fprintf(stderr, "pcn_fuzz: the last argument is 'all' or 'only=OP,OP...', not '%s'\n", choice);
			return -1;
		}
		strcpy(names, choice + 5);
		memset(drawn, 0, sizeof(drawn));
		for (name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
			for (i = 0; i < NR_OPS && strcmp(ops[i].name, name) != 0; i++)
				;
			if (i == NR_OPS) {
				fprintf(stderr, "pcn_fuzz: no op named '%s'\n", name);
				return -1;
			}
			drawn[i] = 1;
		}
	}
	for (i = 0; i < NR_OPS; i++)
		any |= drawn[i];
	if (!any) {
		fprintf(stderr, "pcn_fuzz: no op to draw\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long seed;
	int seconds, i, ended = 0;
	const char *stuck = NULL;

	if (argc < 5) {
		fprintf(stderr, "usage: %s SEED SECONDS NODE_ID NR_NODES [THREADS [all|only=OP,OP...]]\n", argv[0]);
		return 2;
	}
	seed = strtoull(argv[1], NULL, 0);
	seconds = atoi(argv[2]);
	origin = phc_node = atoi(argv[3]);
	nr_nodes = atoi(argv[4]);
	nr_threads = argc > 5 ? atoi(argv[5]) : 2;
	all_calls = argc > 6 && !strcmp(argv[6], "all");
	if (choose_ops(argc > 6 ? argv[6] : "") != 0)
		return 2;
	if (seconds < 1 || nr_nodes < 2 || origin < 0 || origin >= nr_nodes || nr_threads < 1 ||
	    nr_threads > MAX_THREADS) {
		fprintf(stderr, "%s: SECONDS >= 1, NR_NODES >= 2, 0 <= NODE_ID < NR_NODES, 1 <= THREADS <= %d\n",
			argv[0], MAX_THREADS);
		return 2;
	}
	phc_watchdog(seconds + 60);
	arena = mmap(NULL, ARENA_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(arena, 0, ARENA_PAGES * PAGE);
	deadline = now_s() + seconds;
	for (i = 0; i < nr_threads; i++) {
		workers[i] = (struct worker){ .rng = (seed * 0x9e3779b97f4a7c15ULL) ^ ((unsigned long long)origin << 32) ^
						     (unsigned long long)(i + 1) * 0xbf58476d1ce4e5b9ULL,
					      .index = i, .here = origin, .last = "start" };
		if (!workers[i].rng)
			workers[i].rng = 1;
		if (phc_thread_start(&workers[i].thread, worker_main, &workers[i]) != 0) {
			fprintf(stderr, "pcn_fuzz: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (i = 0; i < nr_threads; i++) {
		int left = (int)(deadline + 30 - now_s());

		/* not phc_thread_join: its FUTEX_WAIT on a migrating worker's tid word is P14 by itself, and the
		 * fuzzer would find only that, in its own scaffolding, within seconds */
		phc_thread_wait_exit(&workers[i].thread, left > 1 ? left : 1, 100);
		if (workers[i].done)
			ended++;
		else if (!stuck)
			stuck = workers[i].last;
	}
	printf("{\"fuzz\": {\"seed\": %llu, \"node\": %d, \"threads\": %d, \"all\": %s, \"ended\": %d, ", seed, origin,
	       nr_threads, all_calls ? "true" : "false", ended);
	if (stuck)
		printf("\"stuck\": \"%s\", ", stuck);
	print_counts("calls", calls);
	printf(", ");
	print_counts("errors", errors);
	printf("}}\n");
	fflush(stdout);
	if (stuck)
		_exit(3);
	return 0;
}
