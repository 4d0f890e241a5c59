/* pcn_memory: page coherence between the origin and remote nodes.
 *
 * usage: pcn_memory pages|readers NODE_ID NR_NODES [NR_PAGES]
 *   pages    NR_PAGES (default 64) pages written at the origin read remotely, rewritten remotely and
 *            read back at the origin; pages first touched remotely read at the origin; pages rewritten
 *            at the origin read again remotely (the remote copy must have been invalidated).
 *   readers  one thread per other node plus the origin all read one page, then the origin writes it:
 *            every reader sees the new value.
 */
#include "migrate.h"
#include "program.h"

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

static const struct phc_mode modes[] = {
	{ "pages", mode_pages,
	  "migrate_to_peer origin_written_read_remotely remote_written_read_remotely migrate_back "
	  "remote_written_read_at_origin remote_first_touch_read_at_origin migrate_to_peer_again "
	  "origin_rewrite_read_remotely migrate_back_again" },
	{ "readers", mode_readers,
	  "readers_arrived origin_sees_first readers_done reader_on_{other}_migrated reader_on_{other}_sees_first "
	  "reader_on_{other}_sees_write" },
};

int main(int argc, char **argv)
{
	page_size = sysconf(_SC_PAGESIZE);
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 120);
}
