/*
 * topic_registry.h - the Kafka side of the topic registry: a registered topic has its Kafka topic,
 * with its registered partition count. POST /api/topics/register (api/api_topics.c) creates it
 * before the topic is stored (store/topic_store.c), and at start-up every active registered topic
 * is made sure of. Kafka is reached through kafka_admin.h, each call bounded by kafka_timeout_ms.
 * Log lines carry the "api" tag, as they did in the handler.
 */
#ifndef FERRY_TOPIC_REGISTRY_H
#define FERRY_TOPIC_REGISTRY_H

#include <jansson.h>
#include <stddef.h>

#include "common/kafka_admin.h"
#include "common/pg.h"
#include "producer/api/topic_request.h"

struct topic_registry {
	struct pg_pool *pool;      /* borrowed; request threads borrow connections from it */
	struct kafka_admin *admin; /* borrowed; creates Kafka topics; NULL = leave Kafka alone */
	int pool_timeout_ms;       /* how long a caller waits for a pooled connection */
	int kafka_timeout_ms;      /* bound on one request's Kafka calls; 0 = 5000 */
};

/* The bound on one request's Kafka calls, in ms (kafka_timeout_ms, or 5000 when it is 0). */
int topic_registry_kafka_timeout_ms(const struct topic_registry *reg);

/*
 * Creates the Kafka topic of a register request, all of it within the registry's Kafka timeout
 * (one budget for both calls: the request's time on Kafka is bounded, not each call's).
 * Returns 0 with *kafka_topic a new {"created", "partitions"} object (JSON null without an
 * admin client; partitions as Kafka reports them for a topic that existed, null when unknown),
 * or -1 (KAFKA_ADMIN_TIMED_OUT when Kafka did not answer in time) with errstr and *kafka_topic
 * NULL. Any thread.
 */
int topic_registry_create_kafka_topic(const struct topic_registry *reg,
                                      const struct topic_request *req, json_t **kafka_topic,
                                      char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Makes sure every active registered topic exists on Kafka, creating missing ones with their
 * registered partition count (for start-up; a no-op returning 0 when reg->admin is NULL).
 * Topics that exist already are left as they are. Stops at the first failure: with Kafka down
 * every topic would wait out the timeout. Returns how many topics it created, or -1 with
 * errstr naming the failure (database or Kafka). Any thread; blocks up to kafka_timeout_ms
 * per topic, so at start-up call it after the HTTP server listens (or from a thread)
 * and treat -1 as a warning: registering a topic creates its Kafka topic anyway.
 */
int topic_registry_ensure_kafka_topics(const struct topic_registry *reg, char *errstr,
                                       size_t errstr_size) __attribute__((warn_unused_result));

#endif
