/*
 * api_limits.h - the per-route request limits of ferry-producer's REST API, one table for every
 * route family (api_<noun>.c), given to the HTTP server at start-up.
 */
#ifndef FERRY_API_LIMITS_H
#define FERRY_API_LIMITS_H

#include <stddef.h>

#include "common/http_server.h"

/*
 * Per-route limits tighter than the server's (FERRY_HTTP_MAX_BODY_BYTES and
 * FERRY_HTTP_MAX_JSON_VALUES), sized to what each route can legitimately carry: the send routes
 * take the server's limits, the small control requests far less. Static; writes the count.
 */
const struct http_route_limit *api_limits_table(size_t *n);

#endif
