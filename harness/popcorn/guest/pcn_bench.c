/* pcn_bench: what Popcorn costs, measured inside the guest (`popcorn-harness bench`).
 *
 * usage: pcn_bench METRIC ITERATIONS PEER [THREADS]
 * prints one JSON line: {"bench": METRIC, "unit": "us"|"ns", "samples": [...], "error": null|"..."}
 *
 * Popcorn metrics (PEER: the node to migrate to; the program runs at its origin, node id from
 * get_node_info). Every interval is read on one node, with the TSC (calibrate(): the same host TSC
 * on every node; the clock and its rate are printed, clock_mhz 0 for CLOCK_MONOTONIC), and a
 * warm-up round trip comes first (the first migration of a process also creates its remote worker):
 *   migrate_rtt        the main thread migrates to PEER and back; one sample per round trip (origin clock).
 *   first_touch_read   ITERATIONS pages written at the origin, then read once each by the thread at PEER:
 *                      one sample per page (the fetch of a page the origin owns; PEER's clock).
 *   first_touch_write  the same with a write (ownership moves to PEER).
 *   page_bounce        a thread at PEER and the main thread at the origin take turns writing one word:
 *                      one sample per turn there and back (origin clock).
 *   futex_remote       a thread at PEER and the main thread hand a FUTEX_WAIT/WAKE (private) turn back and
 *                      forth: one sample per turn there and back (origin clock).
 *   threads            THREADS threads at the origin each migrate to PEER and back at once: one sample per
 *                      round (origin clock, from the first thread leaving to the last one back).
 * Plain metrics (no Popcorn call: they run on any kernel):
 *   futex_local        futex_remote with both threads at the origin.
 *   local_touch        first write to a fresh anonymous page: one sample per page.
 *   syscall            getppid 10000 times: one sample (ns per call) per batch.
 *   fork_exec          fork, execve /bin/true, wait: one sample each.
 *   mmap_touch         mmap 4 MiB, write every page, munmap: one sample each.
 * A migrated thread does not write to stdout (a remote node's file descriptors are not the program's):
 * samples go to memory and the origin prints them. A run that does not end in ITERATIONS * 2 + 60 s
 * prints what it has with an error and exits 124 (a thread may then be stuck at PEER).
 */
#include "migrate.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_SAMPLES 100000
#define MAX_THREADS 64
#define SYSCALL_BATCH 10000
#define MMAP_TOUCH_BYTES (4L << 20)

static double samples[MAX_SAMPLES];
static volatile int nsamples;
static const char *metric, *unit = "us";
static int iterations, peer, origin, nthreads;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static long page_size;

/* The clock: the TSC. A guest under TCG often cannot calibrate its TSC (no HPET or PM timer: "Marking
 * TSC unstable") and runs on refined-jiffies, whose CLOCK_MONOTONIC moves in 4 ms steps; QEMU's TSC still
 * counts the host's TSC (and under KVM it is the host's), the same on every node of the host. Its rate is
 * PHC_TSC_MHZ from the environment (the harness measures it on the host, where CLOCK_MONOTONIC is
 * precise); without it, the program calibrates against its own CLOCK_MONOTONIC: TSC cycles between two
 * ticks CALIBRATE_NS apart, tick edge to tick edge, CALIBRATIONS times (a busy TCG guest's jiffies lag:
 * seen 4% off on a 2-node cluster, exact on a 1-node one). */
#define CALIBRATE_NS 60000000ULL
#define CALIBRATIONS 5
static double ns_per_cycle;
static const char *clock_name = "CLOCK_MONOTONIC";

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

/* The first CLOCK_MONOTONIC value after `after`, with the TSC read right at that edge. */
static uint64_t next_edge(uint64_t after, uint64_t *tsc)
{
	uint64_t t;

	do {
		*tsc = rdtsc();
		t = mono_ns();
	} while (t <= after);
	return t;
}

/* The median of CALIBRATIONS measurements: one whose thread (or vCPU) was preempted between reading the
 * TSC and the clock at an edge is off, the median is not. */
static void calibrate(void)
{
	double rates[CALIBRATIONS], swap, given = getenv("PHC_TSC_MHZ") ? atof(getenv("PHC_TSC_MHZ")) : 0;
	uint64_t tsc0, tsc1, t0, t1;
	int i, j;

	if (given > 0) {
		ns_per_cycle = 1e3 / given;
		clock_name = "host TSC";
		return;
	}

	for (i = 0; i < CALIBRATIONS; i++) {
		t0 = next_edge(mono_ns(), &tsc0);
		t1 = next_edge(t0 + CALIBRATE_NS - 1, &tsc1);
		rates[i] = tsc1 > tsc0 ? (double)(t1 - t0) / (double)(tsc1 - tsc0) : 0;
	}
	for (i = 1; i < CALIBRATIONS; i++)
		for (j = i; j > 0 && rates[j - 1] > rates[j]; j--)
			swap = rates[j], rates[j] = rates[j - 1], rates[j - 1] = swap;
	ns_per_cycle = rates[CALIBRATIONS / 2];
	clock_name = ns_per_cycle > 0 ? "calibrated TSC" : "CLOCK_MONOTONIC";
}

static uint64_t now_ns(void)
{
	return ns_per_cycle > 0 ? (uint64_t)((double)rdtsc() * ns_per_cycle) : mono_ns();
}

static void add_sample(uint64_t t0, uint64_t t1, double per)
{
	if (nsamples < MAX_SAMPLES)
		samples[nsamples++] = (double)(t1 - t0) / per;
}

/* Print the result line once (the watchdog and main may race for it) and exit. */
static void finish(const char *error, int code)
{
	int i, n;

	pthread_mutex_lock(&out_lock);
	n = nsamples;
	printf("{\"bench\": \"%s\", \"unit\": \"%s\", \"clock\": \"%s\", \"clock_mhz\": %.3f, \"samples\": [",
	       metric, unit, clock_name, ns_per_cycle > 0 ? 1e3 / ns_per_cycle : 0.0);
	for (i = 0; i < n; i++)
		printf("%s%.3f", i ? ", " : "", samples[i]);
	printf("], \"error\": ");
	if (error)
		phc_json_string(error);
	else
		printf("null");
	printf("}\n");
	fflush(stdout);
	_exit(code);
}

static void fail(const char *what, long ret)
{
	char text[160];

	snprintf(text, sizeof(text), "%s: %s", what, ret < 0 ? strerror((int)-ret) : "failed");
	finish(text, 1);
}

static void *watchdog(void *arg)
{
	struct timespec ts = { .tv_sec = (long)(intptr_t)arg };
	char text[96];

	while (nanosleep(&ts, &ts) != 0)
		;
	snprintf(text, sizeof(text), "still running after %lds (%d samples)", (long)(intptr_t)arg, nsamples);
	finish(text, 124);
	return NULL;
}

static void relax(void)
{
	sched_yield();
}

static void nap_us(long us)
{
	struct timespec ts = { .tv_nsec = us * 1000 };

	nanosleep(&ts, NULL);
}

static long futex(volatile int *addr, int op, int val)
{
	struct timespec ts = { .tv_sec = 1 };

	return phc_raw_syscall(SYS_futex, (long)addr, op | FUTEX_PRIVATE_FLAG, val, op == FUTEX_WAIT ? (long)&ts : 0);
}

static void round_trip(void)
{
	long ret = phc_migrate(peer);

	if (ret != 0)
		fail("migrate to the peer", ret);
	ret = phc_migrate(origin);
	if (ret != 0)
		fail("migrate back to the origin", ret);
}

/* ---- migrate_rtt ---- */
static void bench_migrate_rtt(void)
{
	uint64_t t0;
	int i;

	for (i = 0; i < iterations; i++) {
		t0 = now_ns();
		round_trip();
		add_sample(t0, now_ns(), 1e3);
	}
}

/* ---- first_touch_read / first_touch_write / local_touch ---- */
static volatile long touch_failed;

static void touch_pages(volatile char *pages, int write)
{
	uint64_t t0, t1;
	int i;
	char sink = 0;

	for (i = 0; i < iterations; i++) {
		t0 = now_ns();
		if (write)
			pages[i * page_size + 8] = (char)i;
		else
			sink += pages[i * page_size];
		t1 = now_ns();
		add_sample(t0, t1, 1e3);
	}
	phc_escape(&sink);
}

static volatile char *fresh_pages(void)
{
	void *p = mmap(NULL, iterations * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fail("mmap", -errno);
	return p;
}

static void bench_first_touch(int write)
{
	volatile char *pages = fresh_pages();
	long ret;
	int i;

	for (i = 0; i < iterations; i++)
		pages[i * page_size] = (char)(i + 1); /* owned by the origin */
	ret = phc_migrate(peer);
	if (ret != 0)
		fail("migrate to the peer", ret);
	touch_pages(pages, write);
	ret = phc_migrate(origin);
	if (ret != 0)
		fail("migrate back to the origin", ret);
	for (i = 0; i < iterations; i++)
		if (pages[i * page_size] != (char)(i + 1))
			fail("a page read back at the origin differs", 0);
}

static void bench_first_touch_read(void)
{
	bench_first_touch(0);
}

static void bench_first_touch_write(void)
{
	bench_first_touch(1);
}

static void bench_local_touch(void)
{
	touch_pages(fresh_pages(), 1);
}

/* ---- page_bounce, futex_remote, futex_local: a partner thread ---- */
static struct {
	volatile int turn;
} __attribute__((aligned(4096))) shared;
static struct {
	volatile int arrived, failed, done;
} __attribute__((aligned(4096))) ctl;
static struct phc_thread partner;
static int partner_remote, partner_futex;

/* The partner: at PEER when remote; waits for each odd turn (spinning, or in FUTEX_WAIT), answers it. */
static int partner_main(void *arg)
{
	int i;

	(void)arg;
	if (partner_remote && phc_migrate(peer) != 0) {
		ctl.failed = 1;
		return 0;
	}
	ctl.arrived = 1;
	for (i = 0; i < iterations; i++) {
		while (shared.turn != 2 * i + 1) {
			if (partner_futex)
				futex(&shared.turn, FUTEX_WAIT, 2 * i);
			else
				relax();
		}
		shared.turn = 2 * i + 2;
		if (partner_futex)
			futex(&shared.turn, FUTEX_WAKE, 1);
	}
	if (partner_remote && phc_migrate(origin) != 0)
		ctl.failed = 1;
	ctl.done = 1;
	return 0;
}

/* Start the partner, run the turns from the origin, wait for the partner to be home. */
static void with_partner(int remote, int use_futex)
{
	uint64_t t0;
	int i, ret;

	partner_remote = remote;
	partner_futex = use_futex;
	ret = phc_thread_start(&partner, partner_main, NULL);
	if (ret != 0)
		fail("thread start", ret);
	while (!ctl.arrived && !ctl.failed)
		nap_us(200);
	if (ctl.failed)
		fail("the partner thread's migration to the peer", 0);
	for (i = 0; i < iterations; i++) {
		t0 = now_ns();
		shared.turn = 2 * i + 1;
		if (use_futex)
			futex(&shared.turn, FUTEX_WAKE, 1);
		while (shared.turn != 2 * i + 2) {
			if (use_futex)
				futex(&shared.turn, FUTEX_WAIT, 2 * i + 1);
			else
				relax();
		}
		add_sample(t0, now_ns(), 1e3);
	}
	while (!ctl.done)
		nap_us(200); /* not a futex on its tid word: that deadlocks with migrating threads (see README) */
	if (ctl.failed)
		fail("the partner thread's migration back", 0);
}

static void bench_page_bounce(void)
{
	with_partner(1, 0);
}

static void bench_futex_remote(void)
{
	with_partner(1, 1);
}

static void bench_futex_local(void)
{
	with_partner(0, 1);
}

/* ---- threads ---- */
static struct {
	volatile int go, quit;
} __attribute__((aligned(4096))) start;
static struct {
	volatile int round[MAX_THREADS];
	volatile uint64_t left[MAX_THREADS], back[MAX_THREADS];
	volatile int failed;
} __attribute__((aligned(4096))) finished;
static struct phc_thread travellers[MAX_THREADS];

static int traveller(void *arg)
{
	int me = (int)(intptr_t)arg, r;

	for (r = 1; r <= iterations; r++) {
		while (start.go < r && !start.quit)
			nap_us(50);
		if (start.quit)
			break;
		finished.left[me] = now_ns();
		if (phc_migrate(peer) != 0 || phc_migrate(origin) != 0)
			finished.failed = 1;
		finished.back[me] = now_ns();
		finished.round[me] = r;
	}
	return 0;
}

static void bench_threads(void)
{
	uint64_t first, last;
	int i, r, home;

	if (nthreads < 1 || nthreads > MAX_THREADS)
		finish("THREADS must be 1..64", 2);
	for (i = 0; i < nthreads; i++) {
		r = phc_thread_start(&travellers[i], traveller, (void *)(intptr_t)i);
		if (r != 0)
			fail("thread start", r);
	}
	for (r = 1; r <= iterations; r++) {
		start.go = r;
		do {
			nap_us(50);
			for (home = 0, i = 0; i < nthreads; i++)
				home += finished.round[i] >= r;
		} while (home < nthreads);
		/* From the first thread leaving to the last one back, as the threads read the TSC: how long the
		 * threads take to see the start signal and the main thread to see them home (naps of a jiffy on
		 * a kernel without high-resolution timers) is not in it. */
		for (first = finished.left[0], last = finished.back[0], i = 1; i < nthreads; i++) {
			first = finished.left[i] < first ? finished.left[i] : first;
			last = finished.back[i] > last ? finished.back[i] : last;
		}
		add_sample(first, last, 1e3);
		if (finished.failed)
			fail("a thread's migration", 0);
	}
	for (i = 0; i < nthreads; i++)
		phc_thread_join(&travellers[i], 10); /* all home and done: no migration left to race with */
}

/* ---- plain metrics ---- */
static void bench_syscall(void)
{
	uint64_t t0;
	int i, j;

	unit = "ns";
	for (i = 0; i < iterations; i++) {
		t0 = now_ns();
		for (j = 0; j < SYSCALL_BATCH; j++)
			phc_raw_syscall(SYS_getppid, 0, 0, 0, 0);
		add_sample(t0, now_ns(), SYSCALL_BATCH);
	}
}

static void bench_fork_exec(void)
{
	char *argv[] = { "true", NULL };
	uint64_t t0;
	int i, status;
	pid_t pid;

	for (i = 0; i < iterations; i++) {
		t0 = now_ns();
		pid = fork();
		if (pid == 0) {
			execv("/bin/true", argv);
			_exit(127);
		}
		if (pid < 0)
			fail("fork", -errno);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail("/bin/true did not exit 0", 0);
		add_sample(t0, now_ns(), 1e3);
	}
}

static void bench_mmap_touch(void)
{
	volatile char *p;
	uint64_t t0;
	long off;
	int i;

	for (i = 0; i < iterations; i++) {
		t0 = now_ns();
		p = mmap(NULL, MMAP_TOUCH_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			fail("mmap", -errno);
		for (off = 0; off < MMAP_TOUCH_BYTES; off += page_size)
			p[off] = 1;
		munmap((void *)p, MMAP_TOUCH_BYTES);
		add_sample(t0, now_ns(), 1e3);
	}
}

static const struct {
	const char *name;
	void (*run)(void);
	int popcorn; /* migrates: needs the mesh, a warm-up round trip first */
} benches[] = {
	{ "migrate_rtt", bench_migrate_rtt, 1 },
	{ "first_touch_read", bench_first_touch_read, 1 },
	{ "first_touch_write", bench_first_touch_write, 1 },
	{ "page_bounce", bench_page_bounce, 1 },
	{ "futex_remote", bench_futex_remote, 1 },
	{ "threads", bench_threads, 1 },
	{ "futex_local", bench_futex_local, 0 },
	{ "local_touch", bench_local_touch, 0 },
	{ "syscall", bench_syscall, 0 },
	{ "fork_exec", bench_fork_exec, 0 },
	{ "mmap_touch", bench_mmap_touch, 0 },
};

int main(int argc, char **argv)
{
	pthread_t dog;
	size_t i;

	if (argc < 4) {
		fprintf(stderr, "usage: %s METRIC ITERATIONS PEER [THREADS]\n", argv[0]);
		return 2;
	}
	metric = argv[1];
	iterations = atoi(argv[2]);
	peer = atoi(argv[3]);
	nthreads = argc > 4 ? atoi(argv[4]) : 1;
	page_size = sysconf(_SC_PAGESIZE);
	calibrate();
	if (iterations < 1 || iterations > MAX_SAMPLES)
		finish("ITERATIONS must be 1..100000", 2);
	for (i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
		if (strcmp(benches[i].name, metric))
			continue;
		if (pthread_create(&dog, NULL, watchdog, (void *)(intptr_t)(iterations * 2 + 60)) != 0)
			finish("watchdog thread", 1);
		if (benches[i].popcorn) {
			origin = phc_my_nid();
			if (origin < 0)
				finish("get_node_info failed: no Popcorn mesh", 1);
			if (peer == origin)
				finish("PEER is this node", 2);
			round_trip(); /* warm-up: the process's first migration creates its remote worker */
		}
		benches[i].run();
		finish(NULL, 0);
	}
	fprintf(stderr, "unknown metric %s\n", metric);
	return 2;
}
