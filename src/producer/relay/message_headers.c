/*
 * message_headers.c - see message_headers.h.
 */
#include "producer/relay/message_headers.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/wire.h"

rd_kafka_headers_t *message_headers_build(const struct message_header_fields *f)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(10);
	char num[32];

	snprintf(num, sizeof(num), "%" PRId64, f->message_id);
	rd_kafka_header_add(hdrs, FERRY_HEADER_MESSAGE_ID, -1, num, -1);
	if (f->idempotency_key)
		rd_kafka_header_add(hdrs, FERRY_HEADER_IDEMPOTENCY_KEY, -1, f->idempotency_key, -1);
	rd_kafka_header_add(hdrs, FERRY_HEADER_PRODUCER_SERVICE_ID, -1, f->producer_service_id, -1);
	rd_kafka_header_add(hdrs, FERRY_HEADER_PRODUCER_INSTANCE_ID, -1, f->producer_instance_id,
	                    -1);
	rd_kafka_header_add(hdrs, FERRY_HEADER_CREATED_AT, -1, f->created_at, -1);
	/* Consumers of other groups skip a record addressed to one group. */
	if (f->target_group)
		rd_kafka_header_add(hdrs, FERRY_HEADER_TARGET_GROUP, -1, f->target_group, -1);
	if (f->retry_count > 0) {
		snprintf(num, sizeof(num), "%d", f->retry_count);
		rd_kafka_header_add(hdrs, FERRY_HEADER_RETRY_COUNT, -1, num, -1);
	}
	if (f->target_consumer)
		rd_kafka_header_add(hdrs, FERRY_HEADER_TARGET_CONSUMER, -1, f->target_consumer, -1);
	if (f->headers_json && strcmp(f->headers_json, "{}") != 0) {
		json_t *obj = json_loads(f->headers_json, 0, NULL);
		const char *name;
		json_t *value;

		json_object_foreach (obj, name, value) {
			if (json_is_string(value)) {
				rd_kafka_header_add(hdrs, name, -1, json_string_value(value),
				                    (ssize_t)json_string_length(value));
			} else {
				char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);

				if (text)
					rd_kafka_header_add(hdrs, name, -1, text, -1);
				free(text);
			}
		}
		json_decref(obj);
	}
	return hdrs;
}
