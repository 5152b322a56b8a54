/*
 * metrics_http.h - what both services' GET /metrics share: the families every ferry process
 * exports (HTTP requests by route and status, database reachability) and the answer itself.
 */
#ifndef FERRY_METRICS_HTTP_H
#define FERRY_METRICS_HTTP_H

#include "common/http_server.h"
#include "common/metrics.h"

/* ferry_http_requests_total{method,route,status}: give it to http_server_options. */
struct metric_family *metrics_http_requests(struct metrics *m);

/* ferry_database_up: 1 when PostgreSQL answered the scrape. */
struct metric_family *metrics_database_up(struct metrics *m);

/* Answers the exchange with the registry in the Prometheus text format (503 when out of memory). */
void metrics_http_respond(struct http_exchange *ex, struct metrics *m);

#endif
