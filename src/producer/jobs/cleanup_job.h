/*
 * cleanup_job.h - the cleanup job (the seed's CleanupOldMessagesJob), run by the scheduler:
 * deletes finished messages past FERRY_MESSAGE_RETENTION_HOURS and health checks past
 * FERRY_HEALTH_CHECK_RETENTION_HOURS, in batches (cleanup_store.h says what "finished" means;
 * nothing some group still needs is ever removed). A pass deletes a bounded number of batches
 * and asks to run again at once while there is more, so the retry job gets the scheduler thread
 * in between. Owns its PGconn; called only on the scheduler thread.
 */
#ifndef FERRY_CLEANUP_JOB_H
#define FERRY_CLEANUP_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/metrics.h"

struct cleanup_job;

struct cleanup_job_options {
	const char *conninfo; /* copied */
	int64_t message_retention_s;
	int64_t health_check_retention_s;
	int batch_size;
	struct metric_family
	    *deleted; /* counter labelled kind ("message", "health_check"), or NULL */
};

struct producer_config;

/* Fills *out with what comes from the settings (producer_config.h), leaving conninfo and the metric
 * for the service to wire. Strings point into cfg, which must outlive *out. Pure; any thread. */
void cleanup_job_options_from_config(const struct producer_config *cfg,
                                     struct cleanup_job_options *out);

/* NULL when out of memory. */
struct cleanup_job *cleanup_job_new(const struct cleanup_job_options *opts);

/* One pass (a scheduler_job_fn): 0 to run again at once, -1 to wait for the interval. */
long cleanup_job_run(void *job);

/* Asks a pass in progress to start no further batch (shutdown: the scheduler waits for the pass).
 * Any thread; NULL is a no-op. */
void cleanup_job_request_stop(struct cleanup_job *job);

void cleanup_job_destroy(struct cleanup_job *job);

#endif
