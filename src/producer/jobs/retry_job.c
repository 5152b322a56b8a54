/*
 * retry_job.c - see retry_job.h.
 */
#include "producer/jobs/retry_job.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "producer/relay/message_headers.h"
#include "producer/producer_config.h"
#include "producer/jobs/retry_policy.h"
#include "producer/store/retry_store.h"

struct retry_job {
	char *conninfo;
	char *service_id;
	char *instance_id;
	char actor[300];
	int batch_size;
	long backoff_base_ms;
	long backoff_max_ms;
	long publish_timeout_ms;
	long txn_bound_ms;
	struct metric_family *retried, *failed, *expired, *publish_errors;
	uint64_t rng; /* xorshift state for the backoff's jitter */

	PGconn *conn;
	rd_kafka_t *rk;
	atomic_bool stop; /* retry_job_request_stop: a pass gives up on Kafka, none starts */
};

/* The delivery report of one redelivery: rd_kafka's opaque points at its outcome. */
struct retry_job_report {
	struct retry_outcome *outcome;
	bool done;
};

static void retry_job_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct retry_job_report *r = m->_private;

	(void)rk;
	(void)opaque;
	if (r == NULL)
		return;
	r->done = true;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		r->outcome->published = true;
		r->outcome->partition = m->partition;
	} else {
		snprintf(r->outcome->error, sizeof(r->outcome->error), "%s",
		         rd_kafka_err2str(m->err));
	}
}

static uint32_t retry_job_random(struct retry_job *job)
{
	job->rng ^= job->rng << 13;
	job->rng ^= job->rng >> 7;
	job->rng ^= job->rng << 17;
	return (uint32_t)(job->rng >> 11);
}

static void retry_job_note_error(const char *what, const char *errstr)
{
	log_warn("retry", "%s: %s", what, errstr);
}

struct retry_job *retry_job_new(const struct retry_job_options *opts, rd_kafka_conf_t *kafka_conf,
                                char *errstr, size_t errstr_size)
{
	struct retry_job *job = calloc(1, sizeof(*job));
	char timeout[32], rkerr[512];
	struct timespec ts;

	if (job == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		rd_kafka_conf_destroy(kafka_conf);
		return NULL;
	}
	job->conninfo = strdup(opts->conninfo);
	job->service_id = strdup(opts->service_id);
	job->instance_id = strdup(opts->instance_id);
	if (!job->conninfo || !job->service_id || !job->instance_id) {
		snprintf(errstr, errstr_size, "out of memory");
		rd_kafka_conf_destroy(kafka_conf);
		goto fail;
	}
	snprintf(job->actor, sizeof(job->actor), "retry-job@%s", opts->instance_id);
	job->batch_size = opts->batch_size;
	job->backoff_base_ms = opts->backoff_base_ms;
	job->backoff_max_ms = opts->backoff_max_ms;
	job->publish_timeout_ms = opts->publish_timeout_ms;
	job->txn_bound_ms = opts->txn_bound_ms;
	job->retried = opts->retried;
	job->failed = opts->failed;
	job->expired = opts->expired;
	job->publish_errors = opts->publish_errors;
	atomic_init(&job->stop, false);
	clock_gettime(CLOCK_REALTIME, &ts);
	job->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
	if (job->rng == 0)
		job->rng = 0x9e3779b97f4a7c15ULL;

	/* A redelivery that Kafka cannot take within the pass is reported failed, so the pass can
	 * finish and leave it due for the next one. */
	snprintf(timeout, sizeof(timeout), "%ld", opts->publish_timeout_ms);
	if (rd_kafka_conf_set(kafka_conf, "message.timeout.ms", timeout, rkerr, sizeof(rkerr)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "message.timeout.ms: %s", rkerr);
		rd_kafka_conf_destroy(kafka_conf);
		goto fail;
	}
	rd_kafka_conf_set_dr_msg_cb(kafka_conf, retry_job_dr);
	job->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kafka_conf, rkerr, sizeof(rkerr));
	if (job->rk == NULL) {
		snprintf(errstr, errstr_size, "%s", rkerr);
		rd_kafka_conf_destroy(kafka_conf);
		goto fail;
	}
	return job;
fail:
	retry_job_destroy(job);
	return NULL;
}

/*
 * Where a redelivery aimed at a consumer goes: the partition the claim found for it (filled
 * into out->target_instance), or by key to the group, with the reason in out->fallback_reason.
 * Returns the partition, or RD_KAFKA_PARTITION_UA.
 */
static int32_t retry_job_target(const struct retry_due *d, struct retry_outcome *out)
{
	const struct log_ctx ctx = {d->message_id, d->topic, -1, -1, d->group, NULL};

	if (d->target_instance && d->target_partition >= 0) {
		out->target_instance = d->target_instance;
		return d->target_partition;
	}
	if (d->target_agent_id == 0)
		return RD_KAFKA_PARTITION_UA;
	if (d->target_instance == NULL)
		snprintf(out->fallback_reason, sizeof(out->fallback_reason),
		         "consumer agent %" PRId64
		         " is no longer registered: sent by key to the group",
		         d->target_agent_id);
	else if (d->target_unreadable)
		snprintf(
		    out->fallback_reason, sizeof(out->fallback_reason),
		    "consumer %.100s reported partitions of %.100s that are not partition numbers:"
		    " sent by key to the group",
		    d->target_instance, d->topic);
	else
		snprintf(
		    out->fallback_reason, sizeof(out->fallback_reason),
		    "consumer %.100s holds no partition of %.100s now: sent by key to the group",
		    d->target_instance, d->topic);
	if (d->target_unreadable)
		log_warn_ctx("retry", &ctx, "group %s: %s", d->group, out->fallback_reason);
	return RD_KAFKA_PARTITION_UA;
}

/* Hands one redelivery to librdkafka. Returns its error (the headers are then still ours). */
static rd_kafka_resp_err_t retry_job_produce(struct retry_job *job, const struct retry_due *d,
                                             int32_t partition, rd_kafka_headers_t *hdrs,
                                             struct retry_job_report *report)
{
	return rd_kafka_producev(job->rk, RD_KAFKA_V_TOPIC(d->topic),
	                         RD_KAFKA_V_PARTITION(partition),
	                         RD_KAFKA_V_KEY(d->key, d->key_len),
	                         RD_KAFKA_V_VALUE((void *)d->payload, d->payload_len),
	                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
	                         RD_KAFKA_V_OPAQUE(report), RD_KAFKA_V_END);
}

/*
 * Purges what librdkafka still holds of this pass and marks every report not in yet as failed
 * with `why`, so that no report can point at freed memory once the pass returns.
 */
static void retry_job_give_up(struct retry_job *job, const struct retry_batch *batch,
                              struct retry_outcome *out, struct retry_job_report *reports,
                              const char *why)
{
	size_t i;

	rd_kafka_purge(job->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	/* The purged messages' reports are served by this poll (librdkafka enqueues them at
	 * once); any still missing after it is marked here and its report ignored later. */
	rd_kafka_poll(job->rk, 100);
	for (i = 0; i < batch->n; i++) {
		if (reports[i].done)
			continue;
		reports[i].done = true;
		snprintf(out[i].error, sizeof(out[i].error), "%s", why);
	}
}

/*
 * Publishes the claimed deliveries and waits for Kafka's reports (or the pass's timeout, or a
 * stop request: then returns false and the caller rolls the pass back). Each row stands alone:
 * one Kafka refuses is reported failed in its outcome, and the rest go on.
 */
static bool retry_job_publish(struct retry_job *job, const struct retry_batch *batch,
                              struct retry_outcome *out, struct retry_job_report *reports)
{
	size_t i;
	/* The pass's transaction is open: give up well within the bound of retry_job.h, measured on
	 * the clock (a poll may return early or late). */
	const int64_t give_up_at =
	    clock_monotonic_ms() + job->publish_timeout_ms +
	    (job->publish_timeout_ms / 2 < 5000 ? job->publish_timeout_ms / 2 : 5000);

	for (i = 0; i < batch->n; i++) {
		const struct retry_due *d = &batch->rows[i];
		int32_t partition = retry_job_target(d, &out[i]);
		struct message_header_fields f = {
		    .message_id = d->message_id,
		    .idempotency_key = d->idempotency_key,
		    .producer_service_id =
		        d->producer_service_id ? d->producer_service_id : job->service_id,
		    .producer_instance_id =
		        d->producer_instance_id ? d->producer_instance_id : job->instance_id,
		    .created_at = d->created_at,
		    .target_group = d->group,
		    .headers_json = d->headers_json,
		    .retry_count = d->retry_count + 1,
		    .target_consumer = out[i].target_instance,
		};
		rd_kafka_headers_t *hdrs = message_headers_build(&f);
		rd_kafka_resp_err_t err;

		reports[i].outcome = &out[i];
		err = retry_job_produce(job, d, partition, hdrs, &reports[i]);
		if (err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION && out[i].target_instance) {
			/* The consumer reported a partition the topic does not have: by key. */
			snprintf(out[i].fallback_reason, sizeof(out[i].fallback_reason),
			         "partition %" PRId32 " of %.100s reported by consumer %.100s does "
			         "not exist: sent by key to the group",
			         partition, d->topic, out[i].target_instance);
			rd_kafka_headers_destroy(hdrs);
			out[i].target_instance = NULL;
			f.target_consumer = NULL;
			hdrs = message_headers_build(&f);
			err = retry_job_produce(job, d, RD_KAFKA_PARTITION_UA, hdrs, &reports[i]);
		}
		if (err) {
			/* Not enqueued: the headers are still ours. */
			rd_kafka_headers_destroy(hdrs);
			reports[i].done = true;
			snprintf(out[i].error, sizeof(out[i].error), "%s", rd_kafka_err2str(err));
		}
	}
	/* Every report arrives within message.timeout.ms; poll until they are all in. */
	for (;;) {
		bool all = true;

		for (i = 0; i < batch->n && all; i++)
			all = reports[i].done;
		if (all)
			break;
		rd_kafka_poll(job->rk, 50);
		/* The service is stopping: waiting out message.timeout.ms would hold its shutdown
		 * (FERRY_SHUTDOWN_DEADLINE_MS) for up to half the transaction bound. */
		if (atomic_load(&job->stop)) {
			retry_job_give_up(job, batch, out, reports, "stopped by the shutdown");
			return false;
		}
		if (clock_monotonic_ms() > give_up_at) {
			char why[96];

			/* Should not happen (message.timeout.ms reports them first). */
			snprintf(why, sizeof(why), "no delivery report from Kafka within %ld ms",
			         job->publish_timeout_ms);
			retry_job_give_up(job, batch, out, reports, why);
			break;
		}
	}
	return true;
}

static void retry_job_settled(void *arg, const char *topic, const char *group, bool failed)
{
	struct retry_job *job = arg;
	const char *labels[2] = {topic, group};

	metric_add(failed ? job->failed : job->expired, labels, 1);
}

/*
 * After a claim that did not fill its batch, what is left with a passed due_at is not due after
 * all (its due_at was too early: a group's timeout was lengthened, say): move it to its real
 * time, so that later passes stop reading it. True when a whole batch moved (there may be more:
 * run again at once). A failure only costs those reads: noted, not fatal to the pass.
 */
static bool retry_job_refresh(struct retry_job *job)
{
	char errstr[512];
	int moved = 0;

	if (retry_store_refresh_due_at(job->conn, job->batch_size, &moved, errstr,
	                               sizeof(errstr)) != 0) {
		retry_job_note_error("refreshing due times", errstr);
		return false;
	}
	if (moved > 0)
		log_debug("retry", "%d delivery(ies) were not due yet: due time recomputed", moved);
	return moved == job->batch_size;
}

long retry_job_run(void *arg)
{
	struct retry_job *job = arg;
	struct retry_batch batch;
	struct retry_outcome *out = NULL;
	struct retry_job_report *reports = NULL;
	char errstr[512];
	int failed = 0, expired = 0;
	size_t errors = 0;
	long again = -1;
	size_t i;

	if (atomic_load(&job->stop))
		return -1; /* shutting down: no new pass */
	if (pg_ensure(&job->conn, job->conninfo, "ferry-retry", errstr, sizeof(errstr)) != 0) {
		retry_job_note_error("database unreachable", errstr);
		return -1;
	}
	if (job->txn_bound_ms > 0) {
		/* A backstop for the bound: PostgreSQL itself ends a transaction left idle. */
		char set[96];

		snprintf(set, sizeof(set), "SET idle_in_transaction_session_timeout = %ld",
		         job->txn_bound_ms);
		if (pg_command(job->conn, set, errstr, sizeof(errstr)) != 0) {
			retry_job_note_error("setting the transaction bound", errstr);
			return -1;
		}
	}
	if (retry_store_settle_spent(job->conn, job->batch_size, job->actor, retry_job_settled, job,
	                             &failed, &expired, errstr, sizeof(errstr)) != 0) {
		retry_job_note_error("settling spent retries", errstr);
		return -1;
	}
	if (failed + expired > 0)
		log_info("retry", "%d delivery(ies) FAILED and %d EXPIRED: retry budget spent",
		         failed, expired);
	if (retry_store_claim(job->conn, job->batch_size, &batch, errstr, sizeof(errstr)) != 0) {
		retry_job_note_error("claiming due retries", errstr);
		return -1;
	}
	if (batch.n == 0)
		goto free_batch;
	out = calloc(batch.n, sizeof(*out));
	reports = calloc(batch.n, sizeof(*reports));
	if (out == NULL || reports == NULL) {
		retry_store_abandon(job->conn);
		retry_job_note_error("retry pass", "out of memory");
		goto free_batch;
	}
	if (!retry_job_publish(job, &batch, out, reports)) {
		size_t confirmed = 0;

		/* Nothing of the pass is recorded: every claimed delivery stays due with its retry
		 * count, and the next start (this instance's or another's) republishes it. One
		 * Kafka confirmed just now goes out again then: at least once, as after a crash. */
		for (i = 0; i < batch.n; i++)
			confirmed += out[i].published;
		retry_store_abandon(job->conn);
		log_info(
		    "retry",
		    "pass stopped by the shutdown: %zu claimed redelivery(ies) rolled back and "
		    "still due (%zu confirmed by Kafka will be republished)",
		    batch.n, confirmed);
		goto free_batch; /* (stopping: no refresh either) */
	}
	for (i = 0; i < batch.n; i++) {
		const struct retry_due *d = &batch.rows[i];
		const struct log_ctx ctx = {
		    d->message_id, d->topic, out[i].published ? out[i].partition : -1, -1,
		    d->group,      NULL};

		if (out[i].published) {
			out[i].delay_ms = retry_policy_delay_ms(
			    (unsigned)d->retry_count + 1, job->backoff_base_ms, job->backoff_max_ms,
			    retry_job_random(job));
			log_info_ctx("retry", &ctx,
			             "group %s: retry %d (%s)%s%s, next not before %" PRId64 " ms",
			             d->group, d->retry_count + 1, d->trigger,
			             out[i].target_instance ? " to consumer " : "",
			             out[i].target_instance ? out[i].target_instance : "",
			             out[i].delay_ms);
		} else {
			/* Recorded and moved back by its own backoff: a row Kafka keeps refusing
			 * must not be the first one every pass takes. */
			out[i].delay_ms = retry_policy_delay_ms(
			    (unsigned)d->republish_failures + 1, job->backoff_base_ms,
			    job->backoff_max_ms, retry_job_random(job));
			errors++;
			log_warn_ctx(
			    "retry", &ctx,
			    "group %s: redelivery not published (failure %d): %s; due again "
			    "in %" PRId64 " ms",
			    d->group, d->republish_failures + 1,
			    out[i].error[0] ? out[i].error : "unknown error", out[i].delay_ms);
		}
	}
	if (retry_store_record(job->conn, &batch, out, job->actor, errstr, sizeof(errstr)) != 0) {
		retry_job_note_error("recording retries (they will be republished)", errstr);
	} else {
		for (i = 0; i < batch.n; i++) {
			const char *labels[2] = {batch.rows[i].topic, batch.rows[i].group};

			if (out[i].published)
				metric_add(job->retried, labels, 1);
		}
	}
	metric_add(job->publish_errors, NULL, (double)errors);
	if (errors == 0 && (int)batch.n == job->batch_size)
		again = 0;
free_batch:
	/* The claim's transaction is over here (recorded, abandoned, or none was opened). */
	if ((int)batch.n < job->batch_size && !atomic_load(&job->stop) && retry_job_refresh(job))
		again = 0;
	free(out);
	free(reports);
	retry_store_batch_free(&batch);
	return again;
}

void retry_job_request_stop(struct retry_job *job)
{
	if (job != NULL)
		atomic_store(&job->stop, true);
}

void retry_job_destroy(struct retry_job *job)
{
	if (job == NULL)
		return;
	if (job->rk) {
		/* Every pass waited for (or purged) its reports: nothing of ours is queued. */
		rd_kafka_flush(job->rk, 1000);
		rd_kafka_destroy(job->rk);
	}
	if (job->conn)
		PQfinish(job->conn);
	free(job->conninfo);
	free(job->service_id);
	free(job->instance_id);
	free(job);
}

void retry_job_options_from_config(const struct producer_config *cfg, struct retry_job_options *out)
{
	*out = (struct retry_job_options){
	    .service_id = cfg->service_id,
	    .batch_size = (int)cfg->retry_batch_size,
	    .backoff_base_ms = cfg->retry_backoff_base_ms,
	    .backoff_max_ms = cfg->retry_backoff_max_ms,
	    /* The pass's transaction waits for Kafka at most this long, so it stays within the
	     * bound with room for the claim and the record. */
	    .publish_timeout_ms = cfg->transaction_bound_ms / 2,
	    .txn_bound_ms = cfg->transaction_bound_ms,
	};
}
