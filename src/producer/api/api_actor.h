/*
 * api_actor.h - who is acting, for the audit trail of re-drives, dead-letter deletions and
 * consumer-group edits.
 */
#ifndef FERRY_API_ACTOR_H
#define FERRY_API_ACTOR_H

#include <stddef.h>

#include "common/http_server.h"

/*
 * Writes the actor of the request into buf (NUL-terminated, truncated to size): "key:<name>"
 * of the API key that authenticated it; with authentication off, the client's X-Ferry-Actor
 * header as "api:<header>" (redrive_request_actor), which nobody vouches for.
 */
void api_actor(struct http_exchange *ex, char *buf, size_t size);

#endif
