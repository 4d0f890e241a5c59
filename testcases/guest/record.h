/* record.h: checks observed anywhere, printed at the origin; a watchdog that bounds every program.
 *
 * A migrated thread must not write to stdout: Popcorn does not forward system calls such as write(2),
 * so the remote node's file descriptors are not the program's. phc_record() therefore only stores a
 * check (with the node it was observed on) in memory, which is coherent across nodes; phc_flush()
 * prints the stored checks from the origin. phc_watchdog(seconds) starts a thread that stays at the
 * origin and, if the program is still running then, prints a failed "watchdog" check and exits 124.
 */
#ifndef PHC_RECORD_H
#define PHC_RECORD_H

#include "popcorn.h" /* first: it defines _GNU_SOURCE */
#include <pthread.h>

#include "thread.h"
#include <stdarg.h>
#include <stdint.h>
#include <time.h>


#define PHC_MAX_RECORDS 256

struct phc_record_entry {
	char name[64];
	int node, ok;
	char expected[128];
	char got[192];
};

static struct phc_record_entry phc_records[PHC_MAX_RECORDS];
static unsigned int phc_nrecords, phc_records_flushed;
static pthread_mutex_t phc_records_lock = PTHREAD_MUTEX_INITIALIZER;

/* Store one check observed on node `node` (no system call unless contended); returns ok. */
static inline int phc_record(const char *name, int node, int ok, const char *expected, const char *fmt, ...)
{
	struct phc_record_entry *e;
	va_list ap;

	pthread_mutex_lock(&phc_records_lock);
	e = &phc_records[phc_nrecords < PHC_MAX_RECORDS ? phc_nrecords++ : PHC_MAX_RECORDS - 1];
	pthread_mutex_unlock(&phc_records_lock);
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->expected, sizeof(e->expected), "%s", expected);
	va_start(ap, fmt);
	vsnprintf(e->got, sizeof(e->got), fmt, ap);
	va_end(ap);
	e->node = node;
	e->ok = ok;
	return ok;
}

/* Print the stored checks not printed yet (call at the origin). */
static inline void phc_flush(void)
{
	int saved = phc_node;
	unsigned int i;

	for (i = phc_records_flushed; i < phc_nrecords && i < PHC_MAX_RECORDS; i++) {
		phc_node = phc_records[i].node;
		phc_check(phc_records[i].name, phc_records[i].ok, phc_records[i].expected, "%s", phc_records[i].got);
	}
	phc_records_flushed = phc_nrecords;
	phc_node = saved;
}

static int phc_watchdog_main(void *arg)
{
	struct timespec ts = { .tv_sec = (long)(intptr_t)arg };

	while (nanosleep(&ts, &ts) != 0)
		;
	phc_flush();
	phc_check("watchdog", 0, "program finished in time", "still running after %lds", (long)(intptr_t)arg);
	_exit(124);
	return 0;
}

/* Bound the program's runtime: after `seconds`, a failed check and exit 124. */
static inline void phc_watchdog(int seconds)
{
	static struct phc_thread watchdog;

	if (phc_thread_start(&watchdog, phc_watchdog_main, (void *)(intptr_t)seconds) != 0)
		alarm(seconds);
}

/* "ret R errno NAME" for a raw system call result. */
static inline const char *phc_errname(int err)
{
	const char *name = err ? strerrorname_np(err) : "0";
	return name ? name : "?";
}

#endif
