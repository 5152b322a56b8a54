/*
 * topic_registry.c - see topic_registry.h. SQL lives in store/topic_store.c.
 */
#include "producer/topic_registry.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "producer/store/topic_store.h"

#define TOPIC_REGISTRY_DEFAULT_KAFKA_TIMEOUT_MS 5000

int topic_registry_kafka_timeout_ms(const struct topic_registry *reg)
{
	return reg->kafka_timeout_ms > 0 ? reg->kafka_timeout_ms
	                                 : TOPIC_REGISTRY_DEFAULT_KAFKA_TIMEOUT_MS;
}

int topic_registry_create_kafka_topic(const struct topic_registry *reg,
                                      const struct topic_request *req, json_t **kafka_topic,
                                      char *errstr, size_t errstr_size)
{
	int64_t deadline = clock_monotonic_ms() + topic_registry_kafka_timeout_ms(reg);
	char perr[256];
	int rc, partitions;
	int64_t left;

	*kafka_topic = NULL;
	if (reg->admin == NULL) {
		*kafka_topic = json_null();
		return 0;
	}
	rc = kafka_admin_create_topic(reg->admin, req->topic_name, req->partitions,
	                              topic_registry_kafka_timeout_ms(reg), errstr, errstr_size);
	if (rc < 0)
		return rc == KAFKA_ADMIN_TIMED_OUT ? KAFKA_ADMIN_TIMED_OUT : -1;
	partitions = req->partitions;
	left = deadline - clock_monotonic_ms();
	if (rc == 1 && left <= 0) {
		partitions = -1; /* no time left to ask: reported as unknown (null) */
		log_warn("api", "Kafka topic %s exists; no time left to read its partitions",
		         req->topic_name);
	} else if (rc == 1) {
		/* It existed: report what it really has, which may differ from the request. */
		partitions = kafka_admin_topic_partitions(reg->admin, req->topic_name, (int)left,
		                                          perr, sizeof(perr));
		if (partitions < 0)
			log_warn("api", "Kafka topic %s exists but its partitions are unknown: %s",
			         req->topic_name, perr);
		else if (partitions != req->partitions)
			log_warn(
			    "api",
			    "Kafka topic %s already existed with %d partitions; %d were asked for",
			    req->topic_name, partitions, req->partitions);
	} else {
		log_info("api", "created Kafka topic %s with %d partitions", req->topic_name,
		         partitions);
	}
	*kafka_topic = json_pack("{s:b, s:o}", "created", rc == 0, "partitions",
	                         partitions > 0 ? json_integer(partitions) : json_null());
	return 0;
}

int topic_registry_ensure_kafka_topics(const struct topic_registry *reg, char *errstr,
                                       size_t errstr_size)
{
	struct topic_store_active *topics = NULL;
	char err[512];
	size_t n = 0, i;
	PGconn *conn = NULL;
	int created = 0, failed = 0, rc;

	if (reg->admin == NULL)
		return 0;
	conn = pg_pool_get(reg->pool, reg->pool_timeout_ms, errstr, errstr_size);
	if (conn == NULL)
		return -1;
	rc = topic_store_active_topics(conn, &topics, &n, errstr, errstr_size);
	pg_pool_put(reg->pool, conn);
	if (rc != TOPIC_STORE_OK)
		return -1;
	for (i = 0; i < n; i++) {
		rc = kafka_admin_create_topic(reg->admin, topics[i].name, topics[i].partitions,
		                              topic_registry_kafka_timeout_ms(reg), err,
		                              sizeof(err));
		if (rc == 0) {
			created++;
			log_info("api", "created Kafka topic %s with %d partitions", topics[i].name,
			         topics[i].partitions);
		} else if (rc < 0) {
			snprintf(errstr, errstr_size, "cannot create Kafka topic %s: %s",
			         topics[i].name, err);
			failed = 1;
			break;
		}
	}
	free(topics);
	return failed ? -1 : created;
}
