/* record.h: checks observed anywhere, printed at the origin; a watchdog that bounds every program.
 *
 * A migrated thread must not write to stdout: Popcorn does not forward system calls such as write(2),
 * so the remote node's file descriptors are not the program's. phc_record() therefore only stores a
 * check (with the node it was observed on) in memory, which is coherent across nodes; phc_flush()
 * prints the stored checks from the origin. The store holds PHC_MAX_RECORDS checks over the program's
 * life; more are dropped and reported by a failed "record_overflow" check (which any program may print).
 * phc_watchdog(seconds) starts a thread that stays at the origin and, if the program is still running
 * then, prints a failed "watchdog" check and exits 124.
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
	volatile int ready; /* set once the entry is complete: a flush prints complete entries only */
	char expected[128];
	char got[192];
};

static struct phc_record_entry phc_records[PHC_MAX_RECORDS];
static unsigned int phc_nrecords; /* entries asked for, dropped ones included */
static unsigned int phc_records_flushed, phc_overflow_reported;
static pthread_mutex_t phc_records_lock = PTHREAD_MUTEX_INITIALIZER;

/* Store one check observed on node `node` (no system call unless contended); returns ok. A check
 * beyond PHC_MAX_RECORDS is dropped (the next flush reports the overflow). */
static inline int phc_record(const char *name, int node, int ok, const char *expected, const char *fmt, ...)
{
	struct phc_record_entry *e;
	unsigned int index;
	va_list ap;

	pthread_mutex_lock(&phc_records_lock);
	index = phc_nrecords++;
	pthread_mutex_unlock(&phc_records_lock);
	if (index >= PHC_MAX_RECORDS)
		return ok;
	e = &phc_records[index];
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->expected, sizeof(e->expected), "%s", expected);
	va_start(ap, fmt);
	vsnprintf(e->got, sizeof(e->got), fmt, ap);
	va_end(ap);
	e->node = node;
	e->ok = ok;
	__atomic_store_n(&e->ready, 1, __ATOMIC_RELEASE);
	return ok;
}

/* phc_flush() with phc_print_lock held (or given up on). */
static inline void phc_flush_locked(void)
{
	unsigned int i, n = __atomic_load_n(&phc_nrecords, __ATOMIC_ACQUIRE);

	for (i = phc_records_flushed; i < n && i < PHC_MAX_RECORDS; i++) {
		if (!__atomic_load_n(&phc_records[i].ready, __ATOMIC_ACQUIRE))
			break; /* still being written: a later flush prints it */
		phc_print_check(phc_records[i].name, phc_records[i].node, phc_records[i].ok, phc_records[i].expected,
				phc_records[i].got);
	}
	if (i != phc_records_flushed) /* no write otherwise: the page may be another node's */
		phc_records_flushed = i;
	if (n > PHC_MAX_RECORDS && !phc_overflow_reported) {
		char got[96];

		phc_overflow_reported = 1;
		snprintf(got, sizeof(got), "%u checks recorded, %u dropped", n, n - PHC_MAX_RECORDS);
		phc_print_check("record_overflow", phc_node, 0, "at most " PHC_STR(PHC_MAX_RECORDS) " checks recorded",
				got);
	}
}

/* Print the stored checks not printed yet (call at the origin). */
static inline void phc_flush(void)
{
	pthread_mutex_lock(&phc_print_lock);
	phc_flush_locked();
	pthread_mutex_unlock(&phc_print_lock);
}

static int phc_watchdog_main(void *arg)
{
	struct timespec ts = { .tv_sec = (long)(intptr_t)arg }, poll = { .tv_nsec = 10000000 };
	char got[64];
	int i;

	while (nanosleep(&ts, &ts) != 0)
		;
	/* Another thread may hold the print lock for good (stuck in a write): print after 2 s anyway. */
	for (i = 0; i < 200 && pthread_mutex_trylock(&phc_print_lock) != 0; i++)
		nanosleep(&poll, NULL);
	phc_flush_locked();
	snprintf(got, sizeof(got), "still running after %lds", (long)(intptr_t)arg);
	phc_print_check("watchdog", phc_node, 0, "program finished in time", got);
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
