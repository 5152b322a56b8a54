/*
 * consumer_metrics.h - what ferry-consumer exports on GET /metrics (Prometheus text format).
 * Processing counters come from each group's consume loop and the acknowledgment backlog from
 * PostgreSQL, read when scraped; HTTP requests are counted by the server as they are answered.
 */
#ifndef FERRY_CONSUMER_METRICS_H
#define FERRY_CONSUMER_METRICS_H

#include <stddef.h>

#include "common/http_server.h"
#include "common/metrics.h"
#include "common/pg.h"

struct consume_loop;
struct inbox_cleanup;

struct consumer_metrics {
	struct metrics *registry;
	struct metric_family *processed;     /* ferry_consumer_messages_processed_total{group} */
	struct metric_family *duplicates;    /* ferry_consumer_messages_duplicate_total{group} */
	struct metric_family *failed;        /* ferry_consumer_messages_failed_total{group} */
	struct metric_family *skipped;       /* ferry_consumer_records_skipped_total{group} */
	struct metric_family *partitions;    /* ferry_consumer_assigned_partitions{group} */
	struct metric_family *ack_backlog;   /* ferry_consumer_ack_backlog */
	struct metric_family *ack_oldest;    /* ferry_consumer_ack_oldest_age_seconds */
	struct metric_family *ack_refused;   /* ferry_consumer_acks_refused */
	struct metric_family *database_up;   /* ferry_database_up */
	struct metric_family *inbox_deleted; /* ferry_consumer_inbox_deleted_total */
	struct metric_family *http_requests; /* ferry_http_requests_total{method,route,status} */
};

/* Returns 0, or -1 when out of memory. */
int consumer_metrics_init(struct consumer_metrics *m);
void consumer_metrics_destroy(struct consumer_metrics *m);

struct api_consumer_metrics_context {
	struct consumer_metrics *metrics;
	struct pg_pool *pool;
	int pool_timeout_ms;
	struct consume_loop *const *loops;
	size_t loop_count;
	struct inbox_cleanup *cleanup; /* NULL: not running */
};

/* GET /metrics, bound to ctx (static table of *n entries). */
const struct http_route *api_consumer_metrics_routes(struct api_consumer_metrics_context *ctx,
                                                     size_t *n);

#endif
