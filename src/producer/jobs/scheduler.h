/*
 * scheduler.h - the producer's one thread for periodic jobs (docs/architecture.md, "Threads"): the
 * retry job, the cleanup job. Jobs run one after another on that thread, never two at once, each on
 * its own interval; a job that is late runs once, not once per missed interval.
 *
 * A job owns whatever it needs (its PGconn, its Kafka producer) and is called only from the
 * scheduler thread. scheduler_wake asks for a job to run as soon as the thread is free (an
 * operator's re-drive should not wait for the next tick); it is the only call other threads
 * make, besides scheduler_stop.
 */
#ifndef FERRY_SCHEDULER_H
#define FERRY_SCHEDULER_H

#include <stddef.h>

#define SCHEDULER_MAX_JOBS 8

struct scheduler;

/* One pass of a job. Returns how soon (ms) it wants to run again when it has more to do at
 * once (a full batch), or -1 to wait its interval. */
typedef long (*scheduler_job_fn)(void *arg);

/* Returns a scheduler with no jobs, or NULL when out of memory. */
struct scheduler *scheduler_new(void);

/*
 * Adds a job before scheduler_start: `name` (static string) for logs, its interval, the delay of
 * its first run, and fn(arg). Returns the job's index for scheduler_wake, or -1 when full.
 */
int scheduler_add(struct scheduler *s, const char *name, long interval_ms, long first_delay_ms,
                  scheduler_job_fn fn, void *arg);

/* Starts the thread. Returns 0, or -1 with errstr. */
int scheduler_start(struct scheduler *s, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Runs job `index` as soon as the thread is free. Any thread. */
void scheduler_wake(struct scheduler *s, int index);

/* Stops the thread after the job running now (if any) returns, and frees the scheduler. The
 * jobs' own state is their owners' to free afterwards. NULL is a no-op. */
void scheduler_destroy(struct scheduler *s);

#endif
