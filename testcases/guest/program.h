/* program.h: the common command line of the conformance programs: PROGRAM MODE NODE_ID NR_NODES [ARG].
 *
 * phc_main() starts the watchdog, sets phc_origin (this node's id, also the node of printed checks),
 * phc_nr_nodes, phc_max_nodes and phc_arg, then runs the mode named on the command line.
 */
#ifndef PHC_PROGRAM_H
#define PHC_PROGRAM_H

#include "migrate.h"
#include "record.h"

struct phc_mode {
	const char *name;
	void (*run)(void);
};

static int phc_origin, phc_nr_nodes, phc_max_nodes;
static const char *phc_arg; /* the optional fifth argument, or NULL */

/* Migrate to nid and record "0 and running on nid" under `name`; returns the result. */
static inline int phc_migrate_recorded(const char *name, int nid)
{
	int ret = phc_migrate(nid), here = phc_my_nid();

	phc_record(name, here, ret == 0 && here == nid, "0, running on the destination", "%s, on %d",
		   phc_errname(-ret), here);
	return ret;
}

/* Parse the command line and run the mode; 0, or 2 on a usage error. */
static inline int phc_main(int argc, char **argv, const struct phc_mode *modes, size_t n, int watchdog_s)
{
	size_t i;

	phc_watchdog(watchdog_s);
	if (argc < 4) {
		fprintf(stderr, "usage: %s MODE NODE_ID NR_NODES [ARG]\n", argv[0]);
		return 2;
	}
	phc_origin = phc_node = atoi(argv[2]);
	phc_nr_nodes = atoi(argv[3]);
	phc_max_nodes = (int)pcn_nr("PCN_MAX_NODES", 32);
	phc_arg = argc > 4 ? argv[4] : NULL;
	for (i = 0; i < n; i++)
		if (!strcmp(argv[1], modes[i].name)) {
			modes[i].run();
			phc_flush();
			return 0;
		}
	fprintf(stderr, "unknown mode %s\n", argv[1]);
	return 2;
}

#endif
