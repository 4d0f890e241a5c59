/* pcn_vma: address-space changes made on a remote node, seen at the origin, and back.
 *
 * usage: pcn_vma OP NODE_ID NR_NODES, one operation per run (a hang in one cannot hide the others):
 *   mmap         the remote maps a new region and writes it; the origin sees an rw-p mapping with the
 *                write; migrated again, the thread still sees its write.
 *   munmap       the remote unmaps a region the origin made; the origin sees it unmapped.
 *   mprotect     the remote makes an origin region read-only; the origin sees r--p and the contents.
 *   mremap       the remote grows (may move) a one-page origin region to 8 pages and writes the last;
 *                the origin sees 8 rw-p pages with the old data and the write.
 *   dontneed     the remote madvise(MADV_DONTNEED)s an origin page and reads 0; the origin reads 0.
 *   brk          the remote grows the heap by 16 pages with sbrk and writes the last byte; the origin
 *                sees the new break and the write.
 *   origin_mmap  after a round trip (the process is distributed), the origin maps and writes a region;
 *                the thread, migrated again, sees the write.
 *   origin_mremap  the origin moves (mremap MREMAP_FIXED) a two-page region whose second page the peer
 *                wrote last: both pages read right at the new address, at the origin and at the peer.
 *   origin_free  the origin madvise(MADV_FREE)s a page the peer wrote last: it reads the peer's write or
 *                0; the peer writes it again; the origin reads that write.
 *   origin_munmaps  after a round trip, the origin maps and unmaps a page 100 times (each munmap of a
 *                distributed process asks the remote node to unmap too, and waits for its reply); the
 *                thread then still migrates there and back.
 *   dontneed_vs_remote_writes  a second thread migrates to the peer and writes one page there again and
 *                again while the origin madvise(MADV_DONTNEED)s that page 1000 times; both end, the thread
 *                back at the origin.
 *   remote_dontneed_vs_writes  the same with the roles swapped: the thread at the peer DONTNEEDs the page
 *                1000 times while the origin writes it.
 *   remote_write_dontneed_vs_writes  the thread at the peer writes the page then DONTNEEDs it, 1000 times,
 *                while the origin writes it.
 * The main thread migrates (a remote thread must not print: checks are recorded, printed at the origin).
 */
#include "program.h"
#include "thread.h"

#include <sys/mman.h>

#define MAGIC 0x7e57u

static long pg;

/* Permissions of the mapping containing addr, from /proc/self/maps ("" if unmapped). */
static const char *perms_at(const void *addr)
{
	static char perms[8];
	unsigned long lo, hi, a = (unsigned long)addr;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	perms[0] = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && a >= lo && a < hi)
			break;
		else
			perms[0] = 0;
	if (f)
		fclose(f);
	return perms;
}

static void *map(size_t pages)
{
	return mmap(NULL, pages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static int to_peer(const char *name)
{
	return phc_migrate_recorded(name, (phc_origin + 1) % phc_nr_nodes) == 0;
}

/* Back to the origin and print what was recorded remotely; 1 if back. */
static int back(const char *name)
{
	int ok = phc_migrate_recorded(name, phc_origin) == 0;

	phc_flush();
	return ok;
}

static void mode_mmap(void)
{
	unsigned *made;

	if (!to_peer("migrate_to_peer"))
		return;
	made = map(4);
	phc_record("remote_mmap", phc_my_nid(), made != MAP_FAILED, "a mapping", "%p", (void *)made);
	if (made != MAP_FAILED)
		made[3 * pg / 4] = MAGIC + 1;
	if (!back("migrate_back") || made == MAP_FAILED)
		return;
	phc_check("origin_sees_mmap", !strcmp(perms_at(made), "rw-p") && made[3 * pg / 4] == MAGIC + 1,
		  "rw-p mapping holding the remote write", "'%s' %#x", perms_at(made), made[3 * pg / 4]);
	if (!to_peer("migrate_to_peer_again"))
		return;
	phc_record("remote_sees_its_mmap_again", phc_my_nid(), made[3 * pg / 4] == MAGIC + 1, "its earlier write",
		   "%#x", made[3 * pg / 4]);
	back("migrate_back_again");
}

static void mode_munmap(void)
{
	unsigned *unmapped = map(2);
	int ret;

	unmapped[0] = MAGIC;
	if (!to_peer("migrate_to_peer"))
		return;
	errno = 0;
	ret = munmap(unmapped, 2 * pg);
	phc_record("remote_munmap", phc_my_nid(), ret == 0, "0", "%d, errno %s", ret, phc_errname(errno));
	if (!back("migrate_back"))
		return;
	phc_check("origin_sees_munmap", !*perms_at(unmapped) && !*perms_at((char *)unmapped + pg), "unmapped", "'%s'",
		  perms_at(unmapped));
}

static void mode_mprotect(void)
{
	unsigned *ro = map(2);
	int ret;

	ro[0] = MAGIC;
	if (!to_peer("migrate_to_peer"))
		return;
	errno = 0;
	ret = mprotect(ro, 2 * pg, PROT_READ);
	phc_record("remote_mprotect", phc_my_nid(), ret == 0, "0", "%d, errno %s", ret, phc_errname(errno));
	if (!back("migrate_back"))
		return;
	phc_check("origin_sees_mprotect", !strcmp(perms_at(ro), "r--p") && ro[0] == MAGIC, "r--p, contents kept",
		  "'%s' %#x", perms_at(ro), ro[0]);
}

static void mode_mremap(void)
{
	unsigned *grow = map(1), *moved;

	grow[0] = MAGIC;
	if (!to_peer("migrate_to_peer"))
		return;
	moved = mremap(grow, pg, 8 * pg, MREMAP_MAYMOVE);
	phc_record("remote_mremap", phc_my_nid(), moved != MAP_FAILED, "a mapping", "%p", (void *)moved);
	if (moved != MAP_FAILED)
		moved[7 * pg / 4] = MAGIC + 2;
	if (!back("migrate_back") || moved == MAP_FAILED)
		return;
	phc_check("origin_sees_mremap", !strcmp(perms_at((char *)moved + 7 * pg), "rw-p") && moved[0] == MAGIC &&
		  moved[7 * pg / 4] == MAGIC + 2, "8 pages: old data, remote write", "'%s' %#x %#x",
		  perms_at((char *)moved + 7 * pg), moved[0], moved[7 * pg / 4]);
}

static void mode_dontneed(void)
{
	unsigned *dontneed = map(1);
	int ret;

	dontneed[0] = MAGIC;
	if (!to_peer("migrate_to_peer"))
		return;
	errno = 0;
	ret = madvise(dontneed, pg, MADV_DONTNEED);
	phc_record("remote_madvise_dontneed", phc_my_nid(), ret == 0, "0", "%d, errno %s", ret, phc_errname(errno));
	phc_record("remote_dontneed_reads_zero", phc_my_nid(), dontneed[0] == 0, "0", "%#x", dontneed[0]);
	if (!back("migrate_back"))
		return;
	phc_check("origin_sees_dontneed", dontneed[0] == 0, "0 (page dropped)", "%#x", dontneed[0]);
}

static void mode_brk(void)
{
	char *old_brk = sbrk(0), *new_brk;

	if (!to_peer("migrate_to_peer"))
		return;
	new_brk = sbrk(16 * pg);
	phc_record("remote_sbrk", phc_my_nid(), new_brk == old_brk, "old break", "%p (old %p)", new_brk, old_brk);
	if (new_brk == old_brk)
		old_brk[16 * pg - 1] = 0x5a;
	if (!back("migrate_back"))
		return;
	phc_check("origin_sees_brk", sbrk(0) == old_brk + 16 * pg && old_brk[16 * pg - 1] == 0x5a,
		  "break moved 16 pages, remote write there", "%p (expected %p)", sbrk(0), old_brk + 16 * pg);
}

static void mode_origin_mmap(void)
{
	unsigned *later;

	if (!to_peer("migrate_to_peer") || !back("migrate_back"))
		return;
	later = map(1);
	later[0] = MAGIC + 3;
	if (!to_peer("migrate_to_peer_again"))
		return;
	phc_record("remote_sees_origin_mmap", phc_my_nid(), later[0] == MAGIC + 3, "origin's write", "%#x", later[0]);
	back("migrate_back_again");
}

/* The origin moves a two-page region whose second page the peer wrote last (and owns): both pages read
 * right at the new address, at the origin and, migrated again, at the peer. */
static void mode_origin_mremap(void)
{
	volatile unsigned *region = map(2), *moved;
	void *target;
	size_t second = pg / sizeof(unsigned);

	region[0] = MAGIC;
	region[second] = MAGIC;
	if (!to_peer("migrate_to_peer"))
		return;
	region[second] = MAGIC + 1; /* the peer owns the second page now */
	if (!back("migrate_back"))
		return;
	target = map(2); /* the new place, replaced by the move */
	moved = mremap((void *)region, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	phc_check("origin_mremap", moved == target, "the region at the new address", "%p (asked %p): %s",
		  (void *)moved, target, moved == MAP_FAILED ? phc_errname(errno) : "ok");
	if (moved == MAP_FAILED)
		return;
	phc_check("origin_reads_its_moved_page", moved[0] == MAGIC, "origin's write", "%#x", moved[0]);
	phc_check("origin_reads_moved_remote_write", moved[second] == MAGIC + 1, "the peer's write", "%#x",
		  moved[second]);
	if (!to_peer("migrate_to_peer_again"))
		return;
	phc_record("remote_reads_moved_pages", phc_my_nid(), moved[0] == MAGIC && moved[second] == MAGIC + 1,
		   "origin's write, its own write", "%#x, %#x", moved[0], moved[second]);
	back("migrate_back_again");
}

/* The origin madvise(MADV_FREE)s a page the peer wrote last (and owns): it reads the peer's write or 0 (a
 * freed page may be dropped); the peer writes it again (a write after MADV_FREE keeps the page) and the
 * origin reads that write. */
static void mode_origin_free(void)
{
	volatile unsigned *page = map(1);
	unsigned first;
	int ret;

	page[0] = MAGIC;
	if (!to_peer("migrate_to_peer"))
		return;
	page[0] = MAGIC + 1; /* the peer owns the page now */
	if (!back("migrate_back"))
		return;
	errno = 0;
	ret = madvise((void *)page, pg, MADV_FREE);
	phc_check("origin_madvise_free", ret == 0, "0", "%d (%s)", ret, phc_errname(errno));
	first = page[0];
	phc_check("origin_reads_freed_page", first == MAGIC + 1 || first == 0, "the peer's write or 0", "%#x", first);
	if (!to_peer("migrate_to_peer_again"))
		return;
	page[0] = MAGIC + 2;
	phc_record("peer_writes_after_free", phc_my_nid(), page[0] == MAGIC + 2, "its write", "%#x", page[0]);
	if (!back("migrate_back_again"))
		return;
	phc_check("origin_sees_write_after_free", page[0] == MAGIC + 2, "the peer's new write", "%#x", page[0]);
}

#define ORIGIN_MUNMAPS 100

static void mode_origin_munmaps(void)
{
	int i, failed = 0, first_errno = 0;

	if (!to_peer("migrate_to_peer") || !back("migrate_back"))
		return;
	for (i = 0; i < ORIGIN_MUNMAPS; i++) {
		void *page = map(1);

		errno = 0;
		if (page == MAP_FAILED || munmap(page, pg) != 0) {
			failed++;
			first_errno = first_errno ? first_errno : errno;
		}
	}
	phc_check("origin_munmaps_succeed", failed == 0, "100 of 100", "%d failed, first errno %s", failed,
		  phc_errname(first_errno));
	if (to_peer("migrate_to_peer_again"))
		back("migrate_back_again");
}

/* ---- dontneed_vs_remote_writes / remote_dontneed_vs_writes ---- */
#define RACE_ADVICES 1000
static struct {
	volatile int stop, at_peer, back;
	volatile long writes, advices, advice_errors;
} __attribute__((aligned(4096))) race;
static volatile unsigned *race_page;

/* What the side that does not advise does: write the page until told to stop (counting on its own stack:
 * the shared counters' page must not bounce between the nodes as well). */
static void write_until_stopped(void)
{
	long writes = 0;

	while (!race.stop)
		race_page[writes++ % 1024] = MAGIC;
	race.writes = writes;
}

/* Who does what in a DONTNEED race: the thread at the peer writes or advises (or both, each write
 * followed by a DONTNEED of the page it just wrote, which the peer then owns), the origin the other. */
enum race_roles { ORIGIN_ADVISES, PEER_ADVISES, PEER_WRITES_AND_ADVISES };

/* What the advising side does: DONTNEED the page RACE_ADVICES times (raw calls: no errno in a thread),
 * writing it before each when `write_first`. */
static void advise_dontneed(int write_first)
{
	long advices, errors = 0;

	for (advices = 0; advices < RACE_ADVICES; advices++) {
		if (write_first)
			race_page[advices % 1024] = MAGIC + 1;
		errors += phc_raw_syscall(SYS_madvise, (long)race_page, pg, MADV_DONTNEED, 0) != 0;
	}
	race.advices = advices;
	race.advice_errors = errors;
}

static int race_thread(void *arg)
{
	enum race_roles roles = (enum race_roles)(intptr_t)arg;

	if (phc_migrate((phc_origin + 1) % phc_nr_nodes) != 0) {
		race.back = -1;
		return 0;
	}
	race.at_peer = 1;
	if (roles != ORIGIN_ADVISES) {
		advise_dontneed(roles == PEER_WRITES_AND_ADVISES);
		race.stop = 1;
	} else {
		write_until_stopped();
	}
	race.back = phc_migrate(phc_origin) == 0 ? 1 : -1;
	return 0;
}

/* Start the thread, race it from the origin, then wait for it by reading its tid word (not FUTEX_WAIT:
 * P14) at most 60 s (phc_thread_wait_exit). */
static void dontneed_race(enum race_roles roles)
{
	static struct phc_thread thread;
	struct timespec nap = { .tv_nsec = 10000000 };
	int ret, looks = 6000;

	race_page = map(1);
	race_page[0] = MAGIC;
	ret = phc_thread_start(&thread, race_thread, (void *)(intptr_t)roles);
	phc_check("thread_started", ret == 0, "0", "%s", phc_errname(-ret));
	if (ret != 0)
		return;
	while (!race.at_peer && !race.back && looks-- > 0)
		nanosleep(&nap, NULL);
	phc_check("thread_at_peer", race.at_peer, "1", "%d (back %d)", race.at_peer, race.back);
	if (race.at_peer && roles != ORIGIN_ADVISES) {
		write_until_stopped();
	} else if (race.at_peer) {
		advise_dontneed(0);
		race.stop = 1;
	}
	ret = phc_thread_wait_exit(&thread, 60, 10);
	phc_check("thread_back_and_ended", race.back == 1 && ret == 0, "back at the origin, ended",
		  "back %d, tid %d", race.back, (int)thread.tid);
	phc_check("every_dontneed_succeeds", race.advices == RACE_ADVICES && race.advice_errors == 0, "1000 of 1000",
		  "%ld done, %ld failed (%ld writes)", race.advices, race.advice_errors, race.writes);
}

static void mode_dontneed_vs_remote_writes(void)
{
	dontneed_race(ORIGIN_ADVISES);
}

static void mode_remote_dontneed_vs_writes(void)
{
	dontneed_race(PEER_ADVISES);
}

static void mode_remote_write_dontneed_vs_writes(void)
{
	dontneed_race(PEER_WRITES_AND_ADVISES);
}

static const struct phc_mode modes[] = {
	{ "mmap", mode_mmap,
	  "migrate_to_peer remote_mmap migrate_back origin_sees_mmap migrate_to_peer_again remote_sees_its_mmap_again "
	  "migrate_back_again" },
	{ "munmap", mode_munmap, "migrate_to_peer remote_munmap migrate_back origin_sees_munmap" },
	{ "mprotect", mode_mprotect, "migrate_to_peer remote_mprotect migrate_back origin_sees_mprotect" },
	{ "mremap", mode_mremap, "migrate_to_peer remote_mremap migrate_back origin_sees_mremap" },
	{ "dontneed", mode_dontneed,
	  "migrate_to_peer remote_madvise_dontneed remote_dontneed_reads_zero migrate_back origin_sees_dontneed" },
	{ "brk", mode_brk, "migrate_to_peer remote_sbrk migrate_back origin_sees_brk" },
	{ "origin_mmap", mode_origin_mmap,
	  "migrate_to_peer migrate_back migrate_to_peer_again remote_sees_origin_mmap migrate_back_again" },
	{ "dontneed_vs_remote_writes", mode_dontneed_vs_remote_writes,
	  "thread_started thread_at_peer thread_back_and_ended every_dontneed_succeeds" },
	{ "remote_dontneed_vs_writes", mode_remote_dontneed_vs_writes,
	  "thread_started thread_at_peer thread_back_and_ended every_dontneed_succeeds" },
	{ "remote_write_dontneed_vs_writes", mode_remote_write_dontneed_vs_writes,
	  "thread_started thread_at_peer thread_back_and_ended every_dontneed_succeeds" },
	{ "origin_mremap", mode_origin_mremap,
	  "migrate_to_peer migrate_back origin_mremap origin_reads_its_moved_page origin_reads_moved_remote_write "
	  "migrate_to_peer_again remote_reads_moved_pages migrate_back_again" },
	{ "origin_free", mode_origin_free,
	  "migrate_to_peer migrate_back origin_madvise_free origin_reads_freed_page migrate_to_peer_again "
	  "peer_writes_after_free migrate_back_again origin_sees_write_after_free" },
	{ "origin_munmaps", mode_origin_munmaps,
	  "migrate_to_peer migrate_back origin_munmaps_succeed migrate_to_peer_again migrate_back_again" },
};

int main(int argc, char **argv)
{
	pg = sysconf(_SC_PAGESIZE);
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 90);
}
