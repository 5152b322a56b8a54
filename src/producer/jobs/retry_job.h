/*
 * retry_job.h - the retry job (the seed's ProcessRetryMessagesJob), run by the scheduler.
 *
 * Each pass: settle the deliveries whose retry budget is spent (FAILED / EXPIRED), then claim
 * the deliveries due for another attempt (their messages locked, SKIP LOCKED), republish each
 * to Kafka addressed to its one group (header ferry-target-group: the topic's other groups skip
 * it, so a group that succeeded never sees the redelivery), wait for Kafka's confirmations, and
 * record retry count, time and the next earliest attempt (exponential backoff with jitter,
 * retry_policy.h) in the same transaction. All state is in PostgreSQL, so retries survive
 * restarts, and the claim's row locks make several producer instances' jobs take different
 * deliveries: an attempt is republished once. A crash between Kafka's confirmation and the
 * commit republishes that attempt again on the next pass (at least once; the consumer's inbox
 * makes the second copy harmless).
 *
 * A redelivery aimed at one consumer instance goes to a partition that instance reported holding
 * (its heartbeats carry its assignment): in Kafka, the instance that owns a partition is the one
 * that reads it. If the instance no longer holds one, is gone, reported partitions that are not
 * partition numbers (a row stored before heartbeats were checked) or one the topic does not
 * have, the record goes by key to the group and the 'retried' event says why.
 *
 * No row stops a pass: the claim cannot fail on what one row holds (retry_store.c), and a
 * redelivery Kafka refuses is recorded ('republish_failed' with the error, counted in
 * publish_errors) with its due_at moved back by a backoff of its own (retry_policy.h over its
 * republish_failures), so refused rows at the head of the due order do not hold back the rest.
 *
 * Owns its PGconn and its own idempotent Kafka producer (separate from the relay's: a broker
 * refusing redeliveries never stalls first deliveries). Called only on the scheduler thread.
 * What it did is counted in the metric families of its options.
 */
#ifndef FERRY_RETRY_JOB_H
#define FERRY_RETRY_JOB_H

#include <librdkafka/rdkafka.h>

#include "common/metrics.h"
#include <stddef.h>
#include <stdint.h>

struct retry_job;

struct retry_job_options {
	const char *conninfo;    /* copied */
	const char *service_id;  /* stamped as producer when a message has none (copied) */
	const char *instance_id; /* copied; the history's actor is "retry-job@<instance_id>" */
	int batch_size;
	long backoff_base_ms;
	long backoff_max_ms;
	long publish_timeout_ms; /* a pass gives up on Kafka after this long (and surely after
	                            1.5 times it), its transaction open meanwhile */
	long txn_bound_ms;       /* > 0: PostgreSQL ends the job's session should a transaction of
	                            it sit idle this long (idle_in_transaction_session_timeout) */
	/* Counters labelled topic,group (NULL: not counted): republished, settled FAILED, settled
	 * EXPIRED. */
	struct metric_family *retried;
	struct metric_family *failed;
	struct metric_family *expired;
	struct metric_family *publish_errors; /* unlabelled: redeliveries Kafka did not confirm */
};

struct producer_config;

/* Fills *out with what comes from the settings (producer_config.h), leaving conninfo, instance_id
 * and the metrics for the service to wire. Strings point into cfg, which must outlive *out. Pure;
 * any thread. */
void retry_job_options_from_config(const struct producer_config *cfg,
                                   struct retry_job_options *out);

/* Creates the job; takes ownership of kafka_conf (also on failure). NULL with errstr. */
struct retry_job *retry_job_new(const struct retry_job_options *opts, rd_kafka_conf_t *kafka_conf,
                                char *errstr, size_t errstr_size);

/* One pass (a scheduler_job_fn): returns 0 to run again at once (a full batch), else -1. */
long retry_job_run(void *job);

/*
 * Asks the job to stop for the shutdown: a pass waiting for Kafka's confirmations gives up
 * within 50 ms (plus 100 ms to purge), rolls its whole claim back (nothing recorded: every
 * delivery it claimed stays due with its retry count, and the next start republishes it, one
 * Kafka had confirmed included: at least once), and no later pass claims anything. Call it
 * before scheduler_destroy, which waits for the pass. Any thread; NULL is a no-op.
 */
void retry_job_request_stop(struct retry_job *job);

/* Frees the job (after the scheduler stopped). NULL is a no-op. */
void retry_job_destroy(struct retry_job *job);

#endif
