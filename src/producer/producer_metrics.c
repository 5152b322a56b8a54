/*
 * producer_metrics.c - see producer_metrics.h.
 */
#include "producer/producer_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "common/metrics_http.h"

/* Seconds: from a few milliseconds (a warm relay) to minutes (an outage, a slow consumer). */
static const double producer_metrics_latency_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};
static const double producer_metrics_batch_buckets[] = {1,   5,   10,   25,   50,   100,
                                                        250, 500, 1000, 2500, 5000, 10000};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

int producer_metrics_init(struct producer_metrics *m)
{
	struct metrics *r;

	memset(m, 0, sizeof(*m));
	r = m->registry = metrics_new();
	if (r == NULL)
		return -1;
	m->enqueued =
	    metrics_counter(r, "ferry_messages_enqueued_total",
	                    "Messages this instance's REST API committed to the outbox.", "topic");
	m->published =
	    metrics_counter(r, "ferry_messages_published_total",
	                    "Messages this instance's relay published and marked SENT.", "topic");
	m->acknowledged =
	    metrics_counter(r, "ferry_messages_acknowledged_total",
	                    "Successful acknowledgments recorded, per group.", "topic,group");
	m->nacked = metrics_counter(r, "ferry_messages_negatively_acknowledged_total",
	                            "Negative acknowledgments (processing failures) recorded.",
	                            "topic,group");
	m->retried =
	    metrics_counter(r, "ferry_messages_retried_total",
	                    "Redeliveries this instance's retry job republished.", "topic,group");
	m->failed = metrics_counter(r, "ferry_messages_failed_total",
	                            "Deliveries settled FAILED (retries spent after failures).",
	                            "topic,group");
	m->expired = metrics_counter(
	    r, "ferry_messages_expired_total",
	    "Deliveries settled EXPIRED (retries spent, never acknowledged).", "topic,group");
	m->commit_to_publish = metrics_histogram(
	    r, "ferry_commit_to_publish_seconds",
	    "From the enqueuing transaction's start to Kafka's confirmation.", "topic",
	    producer_metrics_latency_buckets, NB(producer_metrics_latency_buckets));
	m->publish_to_ack = metrics_histogram(
	    r, "ferry_publish_to_ack_seconds",
	    "From a group's (last) delivery to its successful acknowledgment (0 when the "
	    "acknowledgment arrived before the relay recorded the send).",
	    "topic,group", producer_metrics_latency_buckets, NB(producer_metrics_latency_buckets));
	m->batch_size =
	    metrics_histogram(r, "ferry_relay_batch_size", "Rows per batch the relay marked.", NULL,
	                      producer_metrics_batch_buckets, NB(producer_metrics_batch_buckets));
	m->delivery_errors =
	    metrics_counter(r, "ferry_kafka_delivery_errors_total",
	                    "Rows Kafka refused or failed to deliver (relay).", NULL);
	m->relay_batches =
	    metrics_counter(r, "ferry_relay_batches_total", "Batches the relay marked.", NULL);
	m->relay_failed = metrics_counter(
	    r, "ferry_relay_messages_failed_total",
	    "Messages the relay gave up on: Kafka refused them FERRY_RELAY_MAX_ATTEMPTS times.",
	    NULL);
	m->relay_stalled =
	    metrics_gauge(r, "ferry_relay_stalled_partitions",
	                  "Kafka partitions this relay has had rows waiting for longer than "
	                  "FERRY_TRANSACTION_BOUND_MS (no leader, too few in-sync replicas).",
	                  NULL);
	m->relay_detached = metrics_gauge(
	    r, "ferry_relay_detached_rows",
	    "Rows this relay handed to Kafka whose confirmation is late, waiting outside any "
	    "database transaction.",
	    NULL);
	m->backlog = metrics_gauge(r, "ferry_outbox_backlog",
	                           "PENDING messages in the outbox (all instances).", NULL);
	m->oldest_pending =
	    metrics_gauge(r, "ferry_outbox_oldest_pending_age_seconds",
	                  "Age of the oldest PENDING message: the relay's lag.", NULL);
	m->unacked = metrics_gauge(
	    r, "ferry_deliveries_unacknowledged",
	    "Deliveries a group has been sent and not acknowledged yet (SENT), per group; every "
	    "registered group, 0 included (all instances).",
	    "topic,group");
	m->oldest_unacked = metrics_gauge(
	    r, "ferry_delivery_oldest_unacknowledged_age_seconds",
	    "Age of a group's oldest unacknowledged delivery, from its first send: the group's lag.",
	    "topic,group");
	m->retry_due = metrics_gauge(
	    r, "ferry_retry_due_deliveries",
	    "Deliveries whose retry-job action (redelivery or verdict) is due and not yet taken: the "
	    "retry job's backlog (all instances).",
	    NULL);
	m->database_up = metrics_database_up(r);
	m->retry_errors =
	    metrics_counter(r, "ferry_retry_publish_errors_total",
	                    "Redeliveries Kafka refused or did not confirm in time.", NULL);
	m->cleanup_deleted =
	    metrics_counter(r, "ferry_cleanup_deleted_total",
	                    "Rows the cleanup job deleted past retention.", "kind");
	m->http_requests = metrics_http_requests(r);
	if (!m->enqueued || !m->published || !m->acknowledged || !m->nacked || !m->retried ||
	    !m->failed || !m->expired || !m->commit_to_publish || !m->publish_to_ack ||
	    !m->batch_size || !m->delivery_errors || !m->relay_batches || !m->relay_failed ||
	    !m->relay_stalled || !m->relay_detached || !m->backlog || !m->oldest_pending ||
	    !m->unacked || !m->oldest_unacked || !m->retry_due || !m->database_up ||
	    !m->retry_errors || !m->cleanup_deleted || !m->http_requests) {
		producer_metrics_destroy(m);
		return -1;
	}
	return 0;
}

void producer_metrics_destroy(struct producer_metrics *m)
{
	metrics_free(m->registry);
	memset(m, 0, sizeof(*m));
}
