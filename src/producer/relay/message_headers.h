/*
 * message_headers.h - the Kafka record headers of an outbox message, the contract with every
 * consumer (src/consumer/consume_record.h reads them): ferry-message-id, ferry-idempotency-key,
 * ferry-producer-service-id, ferry-producer-instance-id, ferry-created-at, ferry-target-group,
 * then the application's own headers. A redelivery adds ferry-retry-count and, when aimed at
 * one consumer instance, ferry-target-consumer. The names are spelled in ferry/wire.h
 * (FERRY_HEADER_*), the one home of the producer-consumer contract.
 */
#ifndef FERRY_MESSAGE_HEADERS_H
#define FERRY_MESSAGE_HEADERS_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

struct message_header_fields {
	int64_t message_id;
	const char *idempotency_key;      /* NULL = none */
	const char *producer_service_id;  /* not NULL */
	const char *producer_instance_id; /* not NULL */
	const char *created_at;           /* ISO-8601 */
	const char *target_group;         /* NULL = every group of the topic */
	const char *headers_json;         /* the application's, a JSON object text; NULL = none */
	int retry_count;                  /* > 0 for a redelivery */
	const char *target_consumer;      /* NULL = any instance of the group */
};

/* Returns new headers (the caller owns them until rd_kafka_producev takes them). Application
 * headers that are not strings (only the SQL door can store such) travel as their JSON text. */
rd_kafka_headers_t *message_headers_build(const struct message_header_fields *f);

#endif
