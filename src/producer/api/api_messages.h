/*
 * api_messages.h - the /api/messages/... and /health endpoints of the producer service.
 *
 * Handlers run on libmicrohttpd's threads. Unbatched sends borrow a pooled connection and
 * commit on their own; batched sends are handed to the batcher and answered from its thread
 * after the group commit (the exchange stays suspended meanwhile). Both wake the relay.
 */
#ifndef FERRY_API_MESSAGES_H
#define FERRY_API_MESSAGES_H

#include <stddef.h>

#include "common/http_server.h"
#include "producer/producer_metrics.h"
#include "common/pg.h"
#include "producer/relay/batcher.h"
#include "producer/relay/relay.h"

/* What the handlers need; owned by main, outlives the HTTP server. */
struct api_context {
	struct pg_pool *pool;    /* request-thread connections */
	struct batcher *batcher; /* group commit for useBatching */
	struct relay *relay;     /* woken after commits; probed by health (may be NULL) */
	const char *service_id;
	const char *instance_id;
	int pool_timeout_ms; /* how long a request waits for a free connection */
	long db_timeout_ms; /* client-side bound on a send's statement (pg_exec_within); 0 = none */
	int kafka_timeout_ms; /* bound on health's broker probe (capped at 1000); 0 = 1000 */
	enum outbox_registry_mode registry; /* REQUIRE, or AUTO with FERRY_AUTO_REGISTER_TOPICS */
	struct producer_metrics *metrics; /* enqueues and acknowledgments are counted; NULL: not */
};

/* The routes, bound to `ctx`. Writes the count to *n; the array lives as long as ctx. */
const struct http_route *api_messages_routes(struct api_context *ctx, size_t *n);

#endif
