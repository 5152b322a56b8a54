/*
 * producer_metrics.h - what ferry-producer exports on GET /metrics (Prometheus text format):
 * the families, declared once at start-up. The endpoint is api/api_metrics.c, its SQL
 * store/metrics_store.c.
 *
 * Event counters are counted where the event happens (the API for enqueues and
 * acknowledgments, the relay for publications, the retry job for retries and verdicts).
 * State is read when scraped (api_metrics.h): the outbox backlog and its oldest pending row, each
 * group's unacknowledged deliveries and the retry job's due ones from PostgreSQL (partial indexes
 * keep those to the rows in flight) and the relay's counters from relay_get_status. A scrape with
 * PostgreSQL down still answers, with ferry_database_up 0.
 */
#ifndef FERRY_PRODUCER_METRICS_H
#define FERRY_PRODUCER_METRICS_H

#include <stddef.h>

#include "common/metrics.h"

struct producer_metrics {
	struct metrics *registry;
	struct metric_family *enqueued;     /* ferry_messages_enqueued_total{topic} */
	struct metric_family *published;    /* ferry_messages_published_total{topic} */
	struct metric_family *acknowledged; /* ferry_messages_acknowledged_total{topic,group} */
	struct metric_family *nacked;       /* ferry_messages_negatively_acknowledged_total */
	struct metric_family *retried;      /* ferry_messages_retried_total{topic,group} */
	struct metric_family *failed;       /* ferry_messages_failed_total{topic,group} */
	struct metric_family *expired;      /* ferry_messages_expired_total{topic,group} */
	struct metric_family *commit_to_publish; /* ferry_commit_to_publish_seconds{topic} */
	struct metric_family *publish_to_ack;    /* ferry_publish_to_ack_seconds{topic,group} */
	struct metric_family *batch_size;        /* ferry_relay_batch_size */
	struct metric_family *delivery_errors;   /* ferry_kafka_delivery_errors_total */
	struct metric_family *relay_batches;     /* ferry_relay_batches_total */
	struct metric_family *relay_failed;      /* ferry_relay_messages_failed_total */
	struct metric_family *relay_stalled;     /* ferry_relay_stalled_partitions */
	struct metric_family *relay_detached;    /* ferry_relay_detached_rows */
	struct metric_family *backlog;           /* ferry_outbox_backlog */
	struct metric_family *oldest_pending;    /* ferry_outbox_oldest_pending_age_seconds */
	struct metric_family *unacked;           /* ferry_deliveries_unacknowledged{topic,group} */
	struct metric_family *oldest_unacked; /* ferry_delivery_oldest_unacknowledged_age_seconds */
	struct metric_family *retry_due;      /* ferry_retry_due_deliveries */
	struct metric_family *database_up;    /* ferry_database_up */
	struct metric_family *retry_errors;   /* ferry_retry_publish_errors_total */
	struct metric_family *cleanup_deleted; /* ferry_cleanup_deleted_total{kind} */
	struct metric_family *http_requests;   /* ferry_http_requests_total{method,route,status} */
};

/* Declares every family into m->registry. Returns 0, or -1 when out of memory. */
int producer_metrics_init(struct producer_metrics *m);
void producer_metrics_destroy(struct producer_metrics *m);

#endif
