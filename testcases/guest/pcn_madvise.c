/* pcn_madvise: MADV_RELEASE (20), Popcorn's "give up ownership of these pages".
 *
 * usage: pcn_madvise local|remote|origin|errors NODE_ID NR_NODES
 *   local   in a process that never migrated: 0, data intact.
 *   remote  at a remote node: 0, data intact, a later remote write seen at the origin.
 *   origin  at the origin of a distributed process (after a round trip): 0, data intact.
 *   errors  invalid arguments give madvise's errors (as LTP madvise02 expects), at the origin and
 *           at a remote node: unaligned start EINVAL, length wrapping EINVAL, unmapped ENOMEM,
 *           unknown advice EINVAL, zero length 0.
 */
#include "program.h"

#include <sys/mman.h>

#define MADV_RELEASE 20
#define PAGES 8

static long pg;

static int intact(const unsigned *p, unsigned seed)
{
	int i;

	for (i = 0; i < PAGES; i++)
		if (p[i * pg / 4] != seed + i)
			return 0;
	return 1;
}

static unsigned *filled(unsigned seed)
{
	unsigned *p = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int i;

	for (i = 0; i < PAGES; i++)
		p[i * pg / 4] = seed + i;
	return p;
}

static void release(const char *name, unsigned *p, unsigned seed)
{
	int ret = madvise(p, PAGES * pg, MADV_RELEASE), err = errno;

	phc_record(name, phc_my_nid(), ret == 0 && intact(p, seed), "0, data intact", "%d %s, data %s", ret,
		   phc_errname(ret ? err : 0), intact(p, seed) ? "intact" : "changed");
}

static void mode_local(void)
{
	release("release_in_undistributed_process", filled(100), 100);
}

static void mode_remote(void)
{
	unsigned *p = filled(200);

	if (phc_migrate_recorded("migrate_to_peer", (phc_origin + 1) % phc_nr_nodes) != 0)
		return;
	release("release_at_remote", p, 200);
	p[0] = 300; /* write after the release: must reach the origin */
	if (phc_migrate_recorded("migrate_back", phc_origin) != 0)
		return;
	phc_record("remote_write_after_release_seen_at_origin", phc_origin, p[0] == 300, "300", "%u", p[0]);
}

static void mode_origin(void)
{
	unsigned *p = filled(400);

	if (phc_migrate_recorded("migrate_to_peer", (phc_origin + 1) % phc_nr_nodes) != 0 ||
	    phc_migrate_recorded("migrate_back", phc_origin) != 0)
		return;
	phc_flush();
	release("release_at_origin_of_distributed_process", p, 400);
}

/* One invalid call: start, length, advice and the errno madvise must give (0: success). */
struct bad_case {
	const char *name;
	long offset; /* from a mapped, untouched page */
	size_t len;
	int advice;
	int err;
};

static void errors_here(const char *where, char *mapped, char *hole)
{
	const struct bad_case cases[] = {
		{ "unaligned_start_einval", 1, 4096, MADV_RELEASE, EINVAL },
		{ "wrapping_length_einval", 0, (size_t)-4096, MADV_RELEASE, EINVAL },
		{ "unmapped_range_enomem", hole - mapped, 4096, MADV_RELEASE, ENOMEM },
		{ "unknown_advice_einval", 0, 4096, 1000, EINVAL },
		{ "zero_length_0", 0, 0, MADV_RELEASE, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[96];
		int ret = madvise(mapped + cases[i].offset, cases[i].len, cases[i].advice), err = ret ? errno : 0;

		snprintf(name, sizeof(name), "%s_%s", where, cases[i].name);
		phc_record(name, phc_my_nid(), err == cases[i].err && ret == (cases[i].err ? -1 : 0),
			   cases[i].err ? phc_errname(cases[i].err) : "0", "%d %s", ret, phc_errname(err));
	}
}

static void mode_errors(void)
{
	char *mapped = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *hole = mapped + pg;

	munmap(hole, pg);
	errors_here("origin", mapped, hole);
	if (phc_migrate_recorded("migrate_to_peer", (phc_origin + 1) % phc_nr_nodes) != 0)
		return;
	errors_here("remote", mapped, hole);
	phc_migrate_recorded("migrate_back", phc_origin);
}

#define BAD_CASES(where)                                                                                     \
	where "_unaligned_start_einval " where "_wrapping_length_einval " where "_unmapped_range_enomem " where \
	"_unknown_advice_einval " where "_zero_length_0 "

static const struct phc_mode modes[] = {
	{ "local", mode_local, "release_in_undistributed_process" },
	{ "remote", mode_remote,
	  "migrate_to_peer release_at_remote migrate_back remote_write_after_release_seen_at_origin" },
	{ "origin", mode_origin, "migrate_to_peer migrate_back release_at_origin_of_distributed_process" },
	{ "errors", mode_errors, BAD_CASES("origin") "migrate_to_peer " BAD_CASES("remote") "migrate_back" },
};

int main(int argc, char **argv)
{
	pg = sysconf(_SC_PAGESIZE);
	return phc_main(argc, argv, modes, sizeof(modes) / sizeof(modes[0]), 60);
}
