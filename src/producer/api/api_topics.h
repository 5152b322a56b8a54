/*
 * api_topics.h - the REST endpoints of the topic and consumer-group registry (/api/topics/...).
 *
 * Request bodies are validated by topic_request.c, SQL lives in topic_store.c, Kafka
 * topics are created by topic_registry.c; this file maps between HTTP and those three.
 * Errors are {"error": "..."} with 400 (invalid body or id), 404 (unknown topic or group), 409
 * (name taken) or 503 (database or Kafka unavailable).
 *
 *   POST /api/topics/register                     register a topic with its groups: 201
 *   GET  /api/topics                              every topic with its groups
 *   GET  /api/topics/consumer-groups              every group
 *   GET  /api/topics/consumer-groups/{id}         one group
 *   PUT  /api/topics/consumer-groups/{id}         change a group (absent fields unchanged)
 *   POST /api/topics/consumer-groups/{id}/deactivate, .../activate
 *   GET  /api/topics/{name}                       one topic with its groups
 *   POST /api/topics/{name}/consumer-groups       add a group to a topic: 201
 *   POST /api/topics/{name}/deactivate, .../activate
 *
 * Registering creates the Kafka topic first, with the requested partition count (a Kafka topic
 * that exists already is fine and is left as it is); when Kafka cannot be reached, or does not
 * answer within kafka_timeout_ms, the answer is 503 and nothing is registered. The 201 body is the
 * topic plus "kafkaTopic": {"created": bool, "partitions": n} (n as Kafka reports it for a topic
 * that existed; null when it could not be read), or "kafkaTopic": null when the context has no
 * Kafka admin client.
 */
#ifndef FERRY_API_TOPICS_H
#define FERRY_API_TOPICS_H

#include <stddef.h>

#include "common/http_server.h"
#include "producer/topic_registry.h"

struct api_topics_context {
	struct topic_registry registry; /* the pool, the Kafka admin client and their bounds */
	int default_partitions; /* "partitions" of a register request that has none (1..1000) */
};

/*
 * The routes, each with `ctx` as its opaque. Returns a static table of *n entries: one context
 * per process; ctx must outlive the HTTP server. Call before http_server_start, from one thread.
 * The table's order matters (the first matching route wins): the literal consumer-groups
 * routes come before the {name} ones, so GET /api/topics/consumer-groups is the list of groups,
 * never a topic of that name; such a topic is read through GET /api/topics.
 */
const struct http_route *api_topics_routes(struct api_topics_context *ctx, size_t *n);

#endif
