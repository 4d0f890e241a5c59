/* popcorn.h: Popcorn syscall wrappers and the JSON-lines check protocol of the guest programs.
 *
 * Syscall numbers come from the ABI profile through the environment (PCN_NR_MIGRATE,
 * PCN_NR_PROPOSE, PCN_NR_THREAD_STATUS, PCN_NR_NODE_INFO), defaulting to the 5.2 tree's 434..437,
 * so one binary serves every profile. Each check prints one JSON object on its own line:
 *   {"check": "name", "node": N, "ok": true|false, "expected": "...", "got": "..."}
 */
#ifndef PHC_POPCORN_H
#define PHC_POPCORN_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PCN_MAX_TABLE 64 /* larger than any profile's node maximum */

struct pcn_node_info {
	unsigned int status;
	int arch;
	int distance;
};

static inline long pcn_nr(const char *name, long fallback)
{
	const char *value = getenv(name);
	return value && *value ? strtol(value, NULL, 10) : fallback;
}

#define PCN_NR_MIGRATE pcn_nr("PCN_NR_MIGRATE", 434)
#define PCN_NR_PROPOSE pcn_nr("PCN_NR_PROPOSE", 435)
#define PCN_NR_THREAD_STATUS pcn_nr("PCN_NR_THREAD_STATUS", 436)
#define PCN_NR_NODE_INFO pcn_nr("PCN_NR_NODE_INFO", 437)

/* Returns the raw result; errno is set when it is -1. */
static inline long pcn_get_node_info(int *my_nid, struct pcn_node_info *info, int len)
{
	return syscall(PCN_NR_NODE_INFO, my_nid, info, len);
}

static int phc_node = -1; /* the node this program runs on, for the check lines */

static inline void phc_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* check(name, ok, expected, got-format, ...) prints one check line; returns ok. */
static inline int phc_check(const char *name, int ok, const char *expected, const char *fmt, ...)
{
	char got[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(got, sizeof(got), fmt, ap);
	va_end(ap);
	printf("{\"check\": ");
	phc_json_string(name);
	printf(", \"node\": %d, \"ok\": %s, \"expected\": ", phc_node, ok ? "true" : "false");
	phc_json_string(expected);
	printf(", \"got\": ");
	phc_json_string(got);
	printf("}\n");
	fflush(stdout);
	return ok;
}

#endif
