/* pcn_memory: page coherence between the origin and remote nodes.
 *
 * usage: pcn_memory pages|readers|foreign|residency|fork_before|fork_after NODE_ID NR_NODES [NR_PAGES]
 *   pages    NR_PAGES (default 64) pages written at the origin read remotely, rewritten remotely and
 *            read back at the origin; pages first touched remotely read at the origin; pages rewritten
 *            at the origin read again remotely (the remote copy must have been invalidated).
 *   readers  one thread per other node plus the origin all read one page, then the origin writes it:
 *            every reader sees the new value.
 *   foreign  another process reads this one's memory at the origin, as a debugger does (pread of
 *            /proc/PID/mem): a page written at the origin, then a page
 *            the main thread wrote at the peer (the peer owns it; the origin has not touched it since):
 *            the reader sees the peer's write; afterwards the origin and the peer still see it. The reader
 *            is a child forked before the first migration: an ordinary process, which Popcorn's fault
 *            path does not treat as distributed.
 *   residency  the kernel's own views of this process's memory at the origin, which walk its page table
 *            without faulting (mincore, /proc/self/smaps_rollup, /proc/self/pagemap), for a page the origin
 *            wrote and a page the main thread wrote at the peer: both pages are resident (mincore 1), the
 *            process has no swap (the guest has none: its Swap is 0 kB) and pagemap calls neither page
 *            swapped; then the origin reads the peer's write and the views are checked again.
 *   fork_before  a child forked before the first migration keeps its copy of a page (the value at the
 *            fork) while the parent's page goes to the peer, is written there and comes back, and the
 *            parent writes it again.
 *   fork_after  a child forked while the peer owns a page (written there last) reads the peer's write,
 *            and keeps it when the parent writes the page again.
 */
#include "migrate.h"
#include "program.h"
#include "child.h"

#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <poll.h>
#include <signal.h>

#define DEADLINE_S 30

#define origin phc_origin
#define nr_nodes phc_nr_nodes
static long page_size;

static unsigned long word_for(int page, int gen)
{
	return 0xc0de000000000000UL | (unsigned long)gen << 32 | (unsigned)page;
}

static void fill(unsigned long *base, int npages, int gen)
{
	int p;

	for (p = 0; p < npages; p++)
		base[p * page_size / 8] = base[(p + 1) * page_size / 8 - 1] = word_for(p, gen);
}

/* The first page that differs from generation `gen`, or -1. */
static int first_bad(const unsigned long *base, int npages, int gen)
{
	int p;

	for (p = 0; p < npages; p++)
		if (base[p * page_size / 8] != word_for(p, gen) || base[(p + 1) * page_size / 8 - 1] != word_for(p, gen))
			return p;
	return -1;
}

static void record_pages(const char *name, const unsigned long *base, int npages, int gen)
{
	int bad = first_bad(base, npages, gen), here = phc_my_nid();

	phc_record(name, here, bad < 0, "every page as last written", bad < 0 ? "all %d pages" : "page %d of %d differs",
		   bad < 0 ? npages : bad, npages);
}

static void mode_pages(void)
{
	int npages = phc_arg ? atoi(phc_arg) : 64;
	int peer = (origin + 1) % nr_nodes, ret;
	size_t len = npages * page_size;
	unsigned long *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	fill(a, npages, 1);
	ret = phc_migrate_recorded("migrate_to_peer", peer);
	if (ret != 0)
		goto out;
	record_pages("origin_written_read_remotely", a, npages, 1);
	fill(a, npages, 2);
	fill(b, npages, 3); /* first touch remotely */
	record_pages("remote_written_read_remotely", a, npages, 2);
	ret = phc_migrate_recorded("migrate_back", origin);
	record_pages("remote_written_read_at_origin", a, npages, 2);
	record_pages("remote_first_touch_read_at_origin", b, npages, 3);
	fill(a, npages, 4);
	ret = phc_migrate_recorded("migrate_to_peer_again", peer);
	if (ret != 0)
		goto out;
	record_pages("origin_rewrite_read_remotely", a, npages, 4);
	ret = phc_migrate_recorded("migrate_back_again", origin);
out:
	phc_flush();
}

/* Shared state of the readers case; the watched value sits alone on its page. */
static struct {
	volatile unsigned long *value;
	volatile int arrived, phase, done;
} shared;

static int spin_until(volatile int *word, int at_least)
{
	struct timespec ts = { .tv_nsec = 2000000 };
	int i;

	for (i = 0; i < DEADLINE_S * 500 && *word < at_least; i++)
		nanosleep(&ts, NULL);
	return *word >= at_least;
}

static int reader(void *arg)
{
	int d = (int)(intptr_t)arg, ret = phc_migrate(d), here = phc_my_nid();
	char name[64];
	unsigned long v;

	snprintf(name, sizeof(name), "reader_on_%d_migrated", d);
	phc_record(name, here, ret == 0 && here == d, "0, on its node", "%s, on %d", phc_errname(-ret), here);
	v = *shared.value;
	snprintf(name, sizeof(name), "reader_on_%d_sees_first", d);
	phc_record(name, here, v == 1, "1", "%lu", v);
	__atomic_add_fetch(&shared.arrived, 1, __ATOMIC_SEQ_CST);
	if (spin_until(&shared.phase, 2)) {
		v = *shared.value;
		snprintf(name, sizeof(name), "reader_on_%d_sees_write", d);
		phc_record(name, here, v == 2, "2 (written at the origin)", "%lu", v);
	}
	__atomic_add_fetch(&shared.done, 1, __ATOMIC_SEQ_CST);
	if (ret == 0)
		phc_migrate(origin);
	return 0;
}

static void mode_readers(void)
{
	static struct phc_thread threads[PCN_MAX_TABLE];
	int d, readers = 0, ok;

	shared.value = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*shared.value = 1;
	for (d = 0; d < nr_nodes; d++)
		if (d != origin && phc_thread_start(&threads[d], reader, (void *)(intptr_t)d) == 0)
			readers++;
	ok = spin_until(&shared.arrived, readers);
	phc_check("readers_arrived", ok && readers == nr_nodes - 1, "one reader per other node",
		  "%d of %d arrived", shared.arrived, readers);
	phc_check("origin_sees_first", *shared.value == 1, "1", "%lu", *shared.value);
	*shared.value = 2;
	__atomic_store_n(&shared.phase, 2, __ATOMIC_SEQ_CST);
	ok = spin_until(&shared.done, readers);
	phc_check("readers_done", ok, "every reader read again", "%d of %d", shared.done, readers);
	for (d = 0; d < nr_nodes; d++)
		if (d != origin && threads[d].stack)
			phc_thread_join(&threads[d], DEADLINE_S);
	phc_flush();
}

/* A fresh private anonymous page (`pages` of them), zero-filled. */
static unsigned long *map_pages(int pages)
{
	return mmap(NULL, pages * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* The main thread migrates to the peer, writes `value` at `word` there (the page is the peer's then; the
 * origin does not touch it after) and migrates back: 0, or the failed migration's result (recorded). */
static int write_at_peer(volatile unsigned long *word, unsigned long value)
{
	int ret = phc_migrate_recorded("migrate_to_peer", (origin + 1) % nr_nodes);

	if (ret == 0) {
		*word = value;
		ret = phc_migrate_recorded("migrate_back", origin);
	}
	return ret;
}

/* The foreign reader's answer for one address: bytes read (or -errno) and the word read. */
struct foreign_answer {
	long ret;
	unsigned long word;
};

/* The reader: for each address asked for on ask_fd, read the parent's word there through /proc/PID/mem
 * (as a debugger does: access_remote_vm), answer on answer_fd; exits when ask_fd closes. (process_vm_readv
 * takes the same path, but the reference kernel is built without it: CONFIG_CROSS_MEMORY_ATTACH off.) */
static void foreign_reader(int ask_fd, int answer_fd, pid_t parent)
{
	char path[64];
	unsigned long addr;
	int mem;

	snprintf(path, sizeof(path), "/proc/%d/mem", parent);
	while (read(ask_fd, &addr, sizeof(addr)) == sizeof(addr)) {
		struct foreign_answer a = { 0 };

		mem = open(path, O_RDONLY | O_CLOEXEC);
		a.ret = mem < 0 ? -errno : pread(mem, &a.word, sizeof(a.word), (off_t)addr);
		a.ret = a.ret < 0 && mem >= 0 ? -errno : a.ret;
		if (mem >= 0)
			close(mem);
		if (write(answer_fd, &a, sizeof(a)) != sizeof(a))
			break;
	}
	_exit(0);
}

/* Ask the reader for the word at addr; check NAME: it read 8 bytes, the word `want` (`expected` in words). */
static void check_foreign(const char *name, int ask_fd, int answer_fd, volatile unsigned long *addr,
			  unsigned long want, const char *expected)
{
	unsigned long where = (unsigned long)addr;
	struct pollfd ready = { .fd = answer_fd, .events = POLLIN };
	struct foreign_answer a = { 0 };
	const char *failed = NULL;

	if (write(ask_fd, &where, sizeof(where)) != sizeof(where))
		failed = "the reader is gone";
	else if (poll(&ready, 1, DEADLINE_S * 1000) != 1)
		failed = "no answer in 30 s";
	else if (read(answer_fd, &a, sizeof(a)) != sizeof(a))
		failed = "the reader died";
	if (failed)
		phc_check(name, 0, expected, "%s", failed);
	else if (a.ret < 0)
		phc_check(name, 0, expected, "%s", phc_errname(-a.ret));
	else
		phc_check(name, a.ret == 8 && a.word == want, expected, "%ld bytes, %#lx", a.ret, a.word);
}

/* The child reader of the fork modes: answers each address asked for with its own word there (its copy of
 * the parent's memory at the fork), until ask_fd closes. */
static void own_reader(int ask_fd, int answer_fd, pid_t parent)
{
	unsigned long addr;

	(void)parent;
	while (read(ask_fd, &addr, sizeof(addr)) == sizeof(addr)) {
		struct foreign_answer a = { .ret = sizeof(a.word), .word = *(volatile unsigned long *)addr };

		if (write(answer_fd, &a, sizeof(a)) != sizeof(a))
			break;
	}
	_exit(0);
}

/* Fork a reader child running `reader`, asked on ask[1], answering on answer[0]; -1 (and check `first`
 * failed) when it cannot be started. */
static pid_t start_reader(void (*reader)(int, int, pid_t), int ask[2], int answer[2], const char *first)
{
	pid_t child;

	if (pipe(ask) || pipe(answer)) {
		phc_check(first, 0, "a reader", "pipe: %s", phc_errname(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN); /* a reader that died: a failed write, not the end of this program */
	fflush(stdout); /* the plan and the records so far, printed once */
	child = fork();
	if (child < 0) {
		phc_check(first, 0, "a reader", "fork: %s", phc_errname(errno));
		return -1;
	}
	if (child == 0) {
		close(ask[1]);
		close(answer[0]);
		reader(ask[0], answer[1], getppid());
	}
	close(ask[0]);
	close(answer[1]);
	return child;
}

/* Let the reader go (its cue to exit) and check it exited 0. */
static void end_reader(pid_t child, int ask[2], int answer[2], const char *name)
{
	close(ask[1]);
	close(answer[0]);
	phc_check_child_exit(name, child, 0, "exited 0", DEADLINE_S);
}

static void mode_foreign(void)
{
	int peer = (origin + 1) % nr_nodes, ask[2], answer[2], ret;
	volatile unsigned long *word;
	pid_t child = start_reader(foreign_reader, ask, answer, "reader_sees_origin_write");

	if (child < 0) {
		phc_flush();
		return;
	}
	word = map_pages(1);
	*word = word_for(0, 1);
	check_foreign("reader_sees_origin_write", ask[1], answer[0], word, word_for(0, 1),
		      "8 bytes, the origin's write");
	ret = write_at_peer(word, word_for(0, 2));
	if (ret == 0) {
		check_foreign("reader_sees_remote_write", ask[1], answer[0], word, word_for(0, 2),
			      "8 bytes, the peer's write");
		phc_record("origin_sees_remote_write_after", phc_my_nid(), *word == word_for(0, 2), "the peer's write",
			   "%#lx", *word);
		ret = phc_migrate_recorded("migrate_to_peer_again", peer);
		if (ret == 0) {
			phc_record("peer_sees_its_write_after", phc_my_nid(), *word == word_for(0, 2), "the peer's write",
				   "%#lx", *word);
			phc_migrate_recorded("migrate_back_again", origin);
		}
	}
	end_reader(child, ask, answer, "reader_exited");
	phc_flush();
}

/* Forked before the first migration: the child's copy of a page stays what it was at the fork while the
 * parent's page goes to the peer, is written there and comes back, and the parent writes it again. */
static void mode_fork_before(void)
{
	volatile unsigned long *word = map_pages(1);
	int ask[2], answer[2];
	pid_t child;

	*word = word_for(0, 1);
	child = start_reader(own_reader, ask, answer, "child_sees_its_copy");
	if (child < 0) {
		phc_flush();
		return;
	}
	check_foreign("child_sees_its_copy", ask[1], answer[0], word, word_for(0, 1), "8 bytes, the value at the fork");
	if (write_at_peer(word, word_for(0, 2)) == 0) {
		phc_record("origin_sees_remote_write", phc_my_nid(), *word == word_for(0, 2), "the peer's write",
			   "%#lx", *word);
		check_foreign("child_sees_its_copy_after_remote_write", ask[1], answer[0], word, word_for(0, 1),
			      "8 bytes, the value at the fork");
		*word = word_for(0, 3);
		check_foreign("child_sees_its_copy_after_origin_write", ask[1], answer[0], word, word_for(0, 1),
			      "8 bytes, the value at the fork");
	}
	end_reader(child, ask, answer, "child_exited");
	phc_flush();
}

/* Forked while the peer owns a page (the main thread wrote it there; the origin has not touched it since):
 * the child reads the peer's write, and keeps it when the parent writes the page again. */
static void mode_fork_after(void)
{
	volatile unsigned long *word = map_pages(1);
	int ask[2], answer[2];
	pid_t child;

	*word = word_for(0, 1);
	if (write_at_peer(word, word_for(0, 2)) != 0) {
		phc_flush();
		return;
	}
	child = start_reader(own_reader, ask, answer, "child_sees_remote_write");
	if (child < 0) {
		phc_flush();
		return;
	}
	check_foreign("child_sees_remote_write", ask[1], answer[0], word, word_for(0, 2),
		      "8 bytes, the peer's write (the value at the fork)");
	phc_record("origin_sees_remote_write", phc_my_nid(), *word == word_for(0, 2), "the peer's write", "%#lx",
		   *word);
	*word = word_for(0, 3);
	check_foreign("child_keeps_its_copy_after_origin_write", ask[1], answer[0], word, word_for(0, 2),
		      "8 bytes, the value at the fork");
	end_reader(child, ask, answer, "child_exited");
	phc_flush();
}

/* The residency views of one page at the origin; each fills `got` (for the check's "got"). */
static int mincore_of(void *page, char *got, size_t len)
{
	unsigned char vec = 0xff;

	if (mincore(page, page_size, &vec) != 0) {
		snprintf(got, len, "mincore: %s", phc_errname(errno));
		return 0;
	}
	snprintf(got, len, "%u", vec);
	return vec == 1;
}

/* The process's swapped-out memory as smaps_rollup adds it up (its "Swap:" line), in kB, or -1. */
static long smaps_swap_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Swap: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Whether pagemap says the page is swapped (bit 62), present (bit 63); "got" names both. */
static int pagemap_not_swapped(void *page, char *got, size_t len)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	off_t at = (off_t)((unsigned long)page / page_size) * sizeof(entry);
	ssize_t n = fd < 0 ? -1 : pread(fd, &entry, sizeof(entry), at);

	if (fd >= 0)
		close(fd);
	if (n != sizeof(entry)) {
		snprintf(got, len, "pagemap: %s", n < 0 ? phc_errname(errno) : "short read");
		return 0;
	}
	if (entry >> 62 & 1)
		snprintf(got, len, "swapped (swap type %u), %s", (unsigned)(entry & 0x1f),
			 entry >> 63 & 1 ? "present" : "not present");
	else
		snprintf(got, len, "not swapped, %s", entry >> 63 & 1 ? "present" : "not present");
	return !(entry >> 62 & 1);
}

static void check_residency(const char *when, void *page, const char *which)
{
	char name[96], got[96];
	long kb = smaps_swap_kb();
	int ok;

	snprintf(name, sizeof(name), "mincore_%s_%s", which, when);
	ok = mincore_of(page, got, sizeof(got));
	phc_check(name, ok, "1 (resident)", "%s", got);
	snprintf(name, sizeof(name), "pagemap_%s_%s", which, when);
	ok = pagemap_not_swapped(page, got, sizeof(got));
	phc_check(name, ok, "not swapped", "%s", got);
	snprintf(name, sizeof(name), "smaps_swap_%s_%s", which, when);
	phc_check(name, kb == 0, "Swap: 0 kB (the guest has no swap)", kb < 0 ? "no Swap line" : "Swap: %ld kB", kb);
}

static void mode_residency(void)
{
	unsigned long *pages = map_pages(2);
	volatile unsigned long *mine = pages, *theirs = pages + page_size / 8;

	*mine = word_for(0, 1);
	*theirs = word_for(1, 1);
	check_residency("before", (void *)theirs, "page");
	if (write_at_peer(theirs, word_for(1, 2)) == 0) {
		char got[96];

		/* only the kernel's views first: nothing here touches the peer's page */
		phc_check("mincore_origin_page", mincore_of((void *)mine, got, sizeof(got)), "1 (resident)", "%s", got);
		check_residency("peer_owns", (void *)theirs, "page");
		phc_check("origin_reads_peer_write", *theirs == word_for(1, 2), "the peer's write", "%#lx", *theirs);
		check_residency("after_origin_read", (void *)theirs, "page");
	}
	phc_flush();
}

static const struct phc_mode modes[] = {
	{ "pages", mode_pages,
	  "migrate_to_peer origin_written_read_remotely remote_written_read_remotely migrate_back "
	  "remote_written_read_at_origin remote_first_touch_read_at_origin migrate_to_peer_again "
	  "origin_rewrite_read_remotely migrate_back_again" },
	{ "readers", mode_readers,
	  "readers_arrived origin_sees_first readers_done reader_on_{other}_migrated reader_on_{other}_sees_first "
	  "reader_on_{other}_sees_write" },
	{ "foreign", mode_foreign,
	  "reader_sees_origin_write migrate_to_peer migrate_back reader_sees_remote_write "
	  "origin_sees_remote_write_after migrate_to_peer_again peer_sees_its_write_after migrate_back_again "
	  "reader_exited" },
	{ "residency", mode_residency,
	  "mincore_page_before pagemap_page_before smaps_swap_page_before migrate_to_peer migrate_back "
	  "mincore_origin_page mincore_page_peer_owns pagemap_page_peer_owns smaps_swap_page_peer_owns "
	  "origin_reads_peer_write mincore_page_after_origin_read pagemap_page_after_origin_read "
	  "smaps_swap_page_after_origin_read" },
	{ "fork_before", mode_fork_before,
	  "child_sees_its_copy migrate_to_peer migrate_back origin_sees_remote_write "
	  "child_sees_its_copy_after_remote_write child_sees_its_copy_after_origin_write child_exited" },
	{ "fork_after", mode_fork_after,
	  "migrate_to_peer migrate_back child_sees_remote_write origin_sees_remote_write "
	  "child_keeps_its_copy_after_origin_write child_exited" },
};

int main(int argc, char **argv)
{
	page_size = sysconf(_SC_PAGESIZE);
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 120);
}
