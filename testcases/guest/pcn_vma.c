/* pcn_vma: address-space changes made on a remote node, seen at the origin, and back.
 *
 * usage: pcn_vma ops NODE_ID NR_NODES
 * At the remote node: mmap a new region and write it; munmap, mprotect (read-only), mremap (grow,
 * may move), madvise(MADV_DONTNEED) regions the origin made; grow the heap with sbrk and write it.
 * At the origin afterwards, /proc/self/maps and the contents must show each change. Then the origin
 * maps a region and the thread, migrated again, must see it and the remotely made region.
 */
#include "program.h"

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

static void mode_ops(void)
{
	int peer = (phc_origin + 1) % phc_nr_nodes, here;
	unsigned *unmapped = map(2), *ro = map(2), *grow = map(1), *dontneed = map(1), *made, *moved, *later;
	char *old_brk = sbrk(0), *new_brk;

	unmapped[0] = ro[0] = grow[0] = dontneed[0] = MAGIC;
	if (phc_migrate_recorded("migrate_to_peer", peer) != 0)
		return;
	here = phc_my_nid();
	made = map(4);
	phc_record("remote_mmap", here, made != MAP_FAILED, "a mapping", "%p", (void *)made);
	if (made != MAP_FAILED)
		made[3 * pg / 4] = MAGIC + 1;
	phc_record("remote_munmap", here, munmap(unmapped, 2 * pg) == 0, "0", "%s", phc_errname(errno));
	phc_record("remote_mprotect", here, mprotect(ro, 2 * pg, PROT_READ) == 0, "0", "%s", phc_errname(errno));
	moved = mremap(grow, pg, 8 * pg, MREMAP_MAYMOVE);
	phc_record("remote_mremap", here, moved != MAP_FAILED, "a mapping", "%p", (void *)moved);
	if (moved != MAP_FAILED)
		moved[7 * pg / 4] = MAGIC + 2;
	phc_record("remote_madvise_dontneed", here, madvise(dontneed, pg, MADV_DONTNEED) == 0, "0", "%s",
		   phc_errname(errno));
	phc_record("remote_dontneed_reads_zero", here, dontneed[0] == 0, "0", "%#x", dontneed[0]);
	new_brk = sbrk(16 * pg);
	phc_record("remote_sbrk", here, new_brk == old_brk, "old break", "%p (old %p)", new_brk, old_brk);
	if (new_brk == old_brk)
		old_brk[16 * pg - 1] = 0x5a;
	if (phc_migrate_recorded("migrate_back", phc_origin) != 0)
		return;
	phc_flush();
	phc_check("origin_sees_mmap", made != MAP_FAILED && !strcmp(perms_at(made), "rw-p") && made[3 * pg / 4] == MAGIC + 1,
		  "rw-p mapping holding the remote write", "'%s' %#x", perms_at(made), made != MAP_FAILED ? made[3 * pg / 4] : 0);
	phc_check("origin_sees_munmap", !*perms_at(unmapped) && !*perms_at((char *)unmapped + pg), "unmapped", "'%s'",
		  perms_at(unmapped));
	phc_check("origin_sees_mprotect", !strcmp(perms_at(ro), "r--p") && ro[0] == MAGIC, "r--p, contents kept",
		  "'%s' %#x", perms_at(ro), ro[0]);
	phc_check("origin_sees_mremap", moved != MAP_FAILED && !strcmp(perms_at((char *)moved + 7 * pg), "rw-p") &&
		  moved[0] == MAGIC && moved[7 * pg / 4] == MAGIC + 2, "8 pages: old data, remote write",
		  "'%s' %#x %#x", perms_at((char *)moved + 7 * pg), moved != MAP_FAILED ? moved[0] : 0,
		  moved != MAP_FAILED ? moved[7 * pg / 4] : 0);
	phc_check("origin_sees_dontneed", dontneed[0] == 0, "0 (page dropped)", "%#x", dontneed[0]);
	phc_check("origin_sees_brk", sbrk(0) == old_brk + 16 * pg && old_brk[16 * pg - 1] == 0x5a,
		  "break moved 16 pages, remote write there", "%p (expected %p)", sbrk(0), old_brk + 16 * pg);
	later = map(1);
	later[0] = MAGIC + 3;
	if (phc_migrate_recorded("migrate_to_peer_again", peer) != 0)
		return;
	here = phc_my_nid();
	phc_record("remote_sees_origin_mmap", here, later[0] == MAGIC + 3, "origin's write", "%#x", later[0]);
	phc_record("remote_sees_its_mmap_again", here, made != MAP_FAILED && made[3 * pg / 4] == MAGIC + 1,
		   "its earlier write", "%#x", made != MAP_FAILED ? made[3 * pg / 4] : 0);
	phc_migrate_recorded("migrate_back_again", phc_origin);
}

static const struct phc_mode modes[] = { { "ops", mode_ops } };

int main(int argc, char **argv)
{
	pg = sysconf(_SC_PAGESIZE);
	return phc_main(argc, argv, modes, 1, 90);
}
