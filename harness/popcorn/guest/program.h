/* program.h: the common command line of the conformance programs: PROGRAM MODE NODE_ID NR_NODES [ARG].
 *
 * phc_main() starts the watchdog, sets phc_origin (this node's id, also the node of printed checks),
 * phc_nr_nodes, phc_max_nodes and phc_arg, prints the mode's plan and runs the mode (with PHC_PLAN_ONLY
 * set in the environment, it only prints the plan). An unknown mode: exit 2, the modes on stderr.
 *
 * The plan: each mode declares every check it prints, as space-separated names in its table entry; a
 * name may hold one placeholder, expanded at run time into one name per value:
 *   {other}  every node id of the cluster but the origin (0 .. NR_NODES-1 without NODE_ID);
 *   {slot}   every node id the kernel can have (0 .. PCN_MAX_NODES-1).
 * "migrate_returns_0_to_{other}" on node 0 of 3 nodes is migrate_returns_0_to_1 and migrate_returns_0_to_2.
 * The program prints {"plan": [...]} before anything else; the harness fails a run whose checks are not
 * exactly the plan (a missing one, one printed twice, one not planned). "watchdog" and
 * "record_overflow" (record.h) are never planned: printed, they are failures.
 */
#ifndef PHC_PROGRAM_H
#define PHC_PROGRAM_H

#include "migrate.h"
#include "record.h"

struct phc_mode {
	const char *name;
	void (*run)(void);
	const char *checks; /* the plan: every check name printed, space-separated, with placeholders */
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

/* Print one plan name (unless *first is negative: a dry run). */
static inline void phc_plan_name(const char *name, int *first)
{
	if (*first < 0)
		return;
	printf("%s", *first ? "" : ", ");
	phc_json_string(name);
	*first = 0;
}

/* Print one plan entry, expanded; 0, or -1 for an unknown placeholder. */
static inline int phc_plan_entry(const char *entry, size_t len, int *first)
{
	char text[128], name[160];
	char *open, *close;
	int id, end, skip;

	snprintf(text, sizeof(text), "%.*s", (int)len, entry);
	open = strchr(text, '{');
	if (!open) {
		phc_plan_name(text, first);
		return 0;
	}
	close = strchr(open, '}');
	if (!close)
		return -1;
	*open = *close = 0;
	if (!strcmp(open + 1, "other"))
		end = phc_nr_nodes, skip = phc_origin;
	else if (!strcmp(open + 1, "slot"))
		end = phc_max_nodes, skip = -1;
	else
		return -1;
	for (id = 0; id < end; id++)
		if (id != skip) {
			snprintf(name, sizeof(name), "%s%d%s", text, id, close + 1);
			phc_plan_name(name, first);
		}
	return 0;
}

/* Every entry of a plan, printed (first = 1) or only checked (first = -1); 0, or -1 if one is invalid. */
static inline int phc_plan_entries(const char *p, int first)
{
	size_t len;

	while (*(p += strspn(p, " "))) {
		len = strcspn(p, " ");
		if (phc_plan_entry(p, len, &first) != 0)
			return -1;
		p += len;
	}
	return 0;
}

/* Print the plan line of a mode; 0, or -1 (nothing printed) if a placeholder is unknown. */
static inline int phc_print_plan(const struct phc_mode *mode)
{
	if (phc_plan_entries(mode->checks, -1) != 0) {
		fprintf(stderr, "mode %s: invalid placeholder in its plan '%s'\n", mode->name, mode->checks);
		return -1;
	}
	pthread_mutex_lock(&phc_print_lock);
	printf("{\"plan\": [");
	phc_plan_entries(mode->checks, 1);
	printf("]}\n");
	fflush(stdout);
	pthread_mutex_unlock(&phc_print_lock);
	return 0;
}

/* Parse the command line, print the plan and run the mode; 0, or 2 on a usage error. */
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
			if (phc_print_plan(&modes[i]) != 0)
				return 2;
			if (getenv("PHC_PLAN_ONLY"))
				return 0;
			modes[i].run();
			phc_flush();
			return 0;
		}
	fprintf(stderr, "unknown mode %s; modes:", argv[1]);
	for (i = 0; i < n; i++)
		fprintf(stderr, " %s", modes[i].name);
	fprintf(stderr, "\n");
	return 2;
}

#endif
