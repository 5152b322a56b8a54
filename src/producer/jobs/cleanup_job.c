/*
 * cleanup_job.c - see cleanup_job.h.
 */
#include "producer/jobs/cleanup_job.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pg.h"
#include "producer/store/cleanup_store.h"
#include "producer/producer_config.h"

/* Batches per pass: a pass holds the scheduler thread for a bounded time. */
#define CLEANUP_JOB_BATCHES_PER_PASS 20

struct cleanup_job {
	char *conninfo;
	struct cleanup_job_options opts;
	PGconn *conn;
	atomic_bool stop; /* cleanup_job_request_stop: no batch starts after it */
};

struct cleanup_job *cleanup_job_new(const struct cleanup_job_options *opts)
{
	struct cleanup_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	job->conninfo = strdup(opts->conninfo);
	if (job->conninfo == NULL) {
		free(job);
		return NULL;
	}
	job->opts = *opts;
	job->opts.conninfo = job->conninfo;
	return job;
}

long cleanup_job_run(void *arg)
{
	struct cleanup_job *job = arg;
	int64_t n, messages = 0, checks = 0;
	bool more = false;
	char errstr[512];
	int b;

	if (pg_ensure(&job->conn, job->conninfo, "ferry-cleanup", errstr, sizeof(errstr)) != 0) {
		log_warn("cleanup", "database unreachable: %s", errstr);
		return -1;
	}
	for (b = 0; b < CLEANUP_JOB_BATCHES_PER_PASS && !atomic_load(&job->stop); b++) {
		if (cleanup_store_messages(job->conn, job->opts.message_retention_s,
		                           job->opts.batch_size, &n, errstr, sizeof(errstr)) != 0) {
			log_warn("cleanup", "deleting old messages: %s", errstr);
			break;
		}
		messages += n;
		if (n < job->opts.batch_size)
			break;
	}
	more = b == CLEANUP_JOB_BATCHES_PER_PASS;
	for (b = 0; b < CLEANUP_JOB_BATCHES_PER_PASS && !atomic_load(&job->stop); b++) {
		if (cleanup_store_health_checks(job->conn, job->opts.health_check_retention_s,
		                                job->opts.batch_size, &n, errstr,
		                                sizeof(errstr)) != 0) {
			log_warn("cleanup", "deleting old health checks: %s", errstr);
			break;
		}
		checks += n;
		if (n < job->opts.batch_size)
			break;
	}
	more = more || b == CLEANUP_JOB_BATCHES_PER_PASS;
	if (messages + checks > 0)
		log_info("cleanup",
		         "deleted %" PRId64 " finished message(s) and %" PRId64
		         " health check(s) past retention%s",
		         messages, checks, more ? "; more to do" : "");
	{
		const char *message[1] = {"message"}, *check[1] = {"health_check"};

		metric_add(job->opts.deleted, message, (double)messages);
		metric_add(job->opts.deleted, check, (double)checks);
	}
	return more ? 0 : -1;
}

void cleanup_job_request_stop(struct cleanup_job *job)
{
	if (job != NULL)
		atomic_store(&job->stop, true);
}

void cleanup_job_destroy(struct cleanup_job *job)
{
	if (job == NULL)
		return;
	if (job->conn)
		PQfinish(job->conn);
	free(job->conninfo);
	free(job);
}

void cleanup_job_options_from_config(const struct producer_config *cfg,
                                     struct cleanup_job_options *out)
{
	*out = (struct cleanup_job_options){
	    .message_retention_s = (int64_t)cfg->message_retention_hours * 3600,
	    .health_check_retention_s = (int64_t)cfg->health_check_retention_hours * 3600,
	    .batch_size = (int)cfg->cleanup_batch_size,
	};
}
