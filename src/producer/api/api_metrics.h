/*
 * api_metrics.h - GET /metrics (Prometheus text format): the families of producer_metrics.h, with
 * the state that is read when scraped set first: the backlog, each group's unacknowledged
 * deliveries and the due retries from PostgreSQL (store/metrics_store.c), and the relay's
 * counters from relay_get_status. A scrape with PostgreSQL down still answers, with
 * ferry_database_up 0.
 */
#ifndef FERRY_API_METRICS_H
#define FERRY_API_METRICS_H

#include <stddef.h>

#include "common/http_server.h"
#include "common/pg.h"
#include "producer/producer_metrics.h"

struct relay;

/* What GET /metrics reads when scraped. Pointers may be NULL (that part is not running). */
struct api_metrics_context {
	struct producer_metrics *metrics; /* borrowed */
	struct pg_pool *pool;             /* borrowed */
	int pool_timeout_ms;              /* wait for a pooled connection */
	struct relay *relay;              /* borrowed; NULL when the relay is disabled */
};

/* GET /metrics, bound to ctx (static table of *n entries; ctx must outlive the server). */
const struct http_route *api_metrics_routes(struct api_metrics_context *ctx, size_t *n);

#endif
