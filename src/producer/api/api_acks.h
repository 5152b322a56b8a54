/*
 * api_acks.h - acknowledgments and the per-group read endpoints of the producer service:
 *   POST /api/messages/acknowledge               one acknowledgment or an array of them
 *   GET  /api/messages/consumer-group/{group}    paged, ?status=&limit=&afterId=
 *   GET  /api/messages/stats                     counts by group and status
 * Any producer instance can take any acknowledgment: the state lives in PostgreSQL.
 */
#ifndef FERRY_API_ACKS_H
#define FERRY_API_ACKS_H

#include <stddef.h>

#include "common/http_server.h"
#include "producer/api/api_messages.h"

/* The routes, bound to `ctx` (shared with api_messages). They must come before
 * api_messages_routes' "/api/messages/{id}" in the server's table. */
const struct http_route *api_acks_routes(struct api_context *ctx, size_t *n);

#endif
