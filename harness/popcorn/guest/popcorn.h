/* popcorn.h: Popcorn syscall wrappers and the JSON-lines check protocol of the guest programs.
 *
 * Syscall numbers come from the ABI profile through the environment (PCN_NR_MIGRATE,
 * PCN_NR_PROPOSE, PCN_NR_THREAD_STATUS, PCN_NR_NODE_INFO), defaulting to the 5.2 tree's 434..437,
 * so one binary serves every profile. A check program first prints its plan, every check name it
 * will print (program.h), then one JSON object per check, each on its own line:
 *   {"plan": ["name", ...]}
 *   {"check": "name", "node": N, "ok": true|false, "expected": "...", "got": "..."}
 * harness/guest.py judges the whole output (harness.guest.judge).
 *
 * Compile-time switch, for the suite's self-test: -DPHC_INVERT_CHECK=\"name\" prints check `name`
 * with its ok inverted (the program itself goes on as if it had not been).
 */
#ifndef PHC_POPCORN_H
#define PHC_POPCORN_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PCN_MAX_TABLE 64 /* larger than any profile's node maximum */

#define PHC_STR_(x) #x
#define PHC_STR(x) PHC_STR_(x)

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

static int phc_node __attribute__((unused)) = -1; /* the node this program runs on, for the check lines */

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

/* Held while a line is printed: the watchdog thread may print while another thread does. These threads
 * share their thread-local storage (thread.h), so stdio's own lock, which is recursive by thread, does
 * not keep them apart; a normal pthread mutex does. */
static pthread_mutex_t phc_print_lock __attribute__((unused)) = PTHREAD_MUTEX_INITIALIZER;

/* Print one check line (the caller holds phc_print_lock, or has given up on it). */
static inline void phc_print_check(const char *name, int node, int ok, const char *expected, const char *got)
{
#ifdef PHC_INVERT_CHECK
	if (!strcmp(name, PHC_INVERT_CHECK))
		ok = !ok;
#endif
	printf("{\"check\": ");
	phc_json_string(name);
	printf(", \"node\": %d, \"ok\": %s, \"expected\": ", node, ok ? "true" : "false");
	phc_json_string(expected);
	printf(", \"got\": ");
	phc_json_string(got);
	printf("}\n");
	fflush(stdout);
}

/* check(name, ok, expected, got-format, ...) prints one check line; returns ok (as observed, even when
 * PHC_INVERT_CHECK inverts what is printed). */
static inline int phc_check(const char *name, int ok, const char *expected, const char *fmt, ...)
{
	char got[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(got, sizeof(got), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&phc_print_lock);
	phc_print_check(name, phc_node, ok, expected, got);
	pthread_mutex_unlock(&phc_print_lock);
	return ok;
}

#endif
