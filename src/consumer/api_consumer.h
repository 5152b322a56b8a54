/*
 * api_consumer.h - the consumer's HTTP endpoints:
 *   GET /health                          liveness: 200 {"status":"ok"} while the process runs
 *   GET /api/consumer/health             per group: running, assigned partitions, last poll;
 *                                        database reachable, ack backlog and its oldest age;
 *                                        503 when the database is down or a group's consumer
 *                                        is not running
 *   GET /api/consumer/processed/{group}  ?limit=(1..1000, default 100)&afterId= (message id)
 *   GET /api/consumer/failed/{group}     ?limit=&afterId= (failure id)
 * Handlers borrow a connection from the pool per request (http_server.h).
 */
#ifndef FERRY_API_CONSUMER_H
#define FERRY_API_CONSUMER_H

#include <stddef.h>

#include "common/http_server.h"
#include "common/pg.h"
#include "consumer/consume_loop.h"

struct api_consumer_context {
	struct pg_pool *pool;
	struct consume_loop *const *loops; /* one per group */
	size_t loop_count;
	const char *service_id;
	const char *instance_id;
	int pool_timeout_ms;
};

/* The routes, bound to ctx (which must outlive the server). Writes the count to *n. */
const struct http_route *api_consumer_routes(struct api_consumer_context *ctx, size_t *n);

#endif
