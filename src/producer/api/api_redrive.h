/*
 * api_redrive.h - operators' dead-letter endpoints: see what failed, re-drive it, delete it.
 *
 *   GET    /api/messages/failed?consumerGroup=&status=FAILED|EXPIRED&limit=100&afterId=0
 *          dead letters, paged by message id: FAILED and EXPIRED deliveries with their errors,
 *          and messages the relay gave up on (consumerGroup null)
 *   DELETE /api/messages/failed?olderThan=<7d | 2026-11-01T00:00:00Z>&consumerGroup=
 *          deletes dead letters last changed before then, in batches, for at most
 *          delete_budget_ms; 200 {deletedDeliveries, deletedMessages, complete} (complete
 *          false: the budget ran out with more to delete; call again to go on)
 *   POST   /api/messages/{id}/retry   body optional {consumerGroup, targetConsumerServiceId}:
 *          202 {"messageId", "redeliveries": [{consumerGroup, previousStatus, target
 *          ("instance"|"group"), targetConsumerServiceId, targetInstanceId, fallbackReason}]}
 *   POST   /api/messages/retry        {consumerGroup, status?, limit?}: 202 {"requeued": n}
 *
 * A re-drive only records the request (durably, in the message's history with the actor:
 * "key:<name>" of the request's API key, or with FERRY_AUTH=off the X-Ferry-Actor header) and
 * wakes this process's retry job, which republishes it; so it
 * survives a crash right after the answer. Errors: 400 invalid input, 404 unknown message or
 * group, 409 nothing to re-drive (all acknowledged, or not on Kafka yet), 503 database down.
 */
#ifndef FERRY_API_REDRIVE_H
#define FERRY_API_REDRIVE_H

#include <stddef.h>

#include "common/http_server.h"
#include "common/pg.h"
#include "producer/jobs/scheduler.h"

struct api_redrive_context {
	struct pg_pool *pool;
	int pool_timeout_ms;
	int heartbeat_interval_s;    /* consumers' expected interval: alive = beat within 3 */
	int delete_batch_size;       /* rows per transaction of DELETE /api/messages/failed */
	long delete_budget_ms;       /* ... which starts no batch after this long */
	struct scheduler *scheduler; /* NULL when this process runs no retry job */
	int retry_job;               /* its index in the scheduler */
};

/* The routes (static table, *n entries), each with ctx as opaque; they must come before
 * /api/messages/{id}. One context per process; it must outlive the HTTP server. */
const struct http_route *api_redrive_routes(struct api_redrive_context *ctx, size_t *n);

#endif
