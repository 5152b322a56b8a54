/*
 * test_wire.c - the producer-consumer wire contract of ferry/wire.h, checked from both ends.
 *
 * 1. Every name is pinned to its text here, the one deliberate second spelling: renaming a
 *    header or a field breaks every producer or consumer already deployed, so it must fail a
 *    test, not pass silently because both sides moved together.
 * 2. What the producer writes, the consumer reads: the Kafka headers that message_headers_build
 *    makes are classified by consume_record_classify; the acknowledgment body that ack_sender
 *    builds (with an errorMessage longer than the limit, cut inside a UTF-8 character) is
 *    accepted by the producer's ack_request_parse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/ack_sender.h"
#include "consumer/consume_record.h"
#include "ferry/wire.h"
#include "producer/api/ack_request.h"
#include "producer/relay/message_headers.h"

static void test_names_pinned(void **state)
{
	(void)state;
	assert_string_equal(FERRY_HEADER_MESSAGE_ID, "ferry-message-id");
	assert_string_equal(FERRY_HEADER_IDEMPOTENCY_KEY, "ferry-idempotency-key");
	assert_string_equal(FERRY_HEADER_PRODUCER_SERVICE_ID, "ferry-producer-service-id");
	assert_string_equal(FERRY_HEADER_PRODUCER_INSTANCE_ID, "ferry-producer-instance-id");
	assert_string_equal(FERRY_HEADER_CREATED_AT, "ferry-created-at");
	assert_string_equal(FERRY_HEADER_TARGET_GROUP, "ferry-target-group");
	assert_string_equal(FERRY_HEADER_RETRY_COUNT, "ferry-retry-count");
	assert_string_equal(FERRY_HEADER_TARGET_CONSUMER, "ferry-target-consumer");
	assert_string_equal(FERRY_HEADER_PREFIX, "ferry-");
	assert_int_equal(FERRY_HEADER_PREFIX_LEN, strlen(FERRY_HEADER_PREFIX));
	assert_string_equal(FERRY_HEADER_TRACEPARENT, "traceparent");

	assert_string_equal(FERRY_PATH_ACKNOWLEDGE, "/api/messages/acknowledge");
	assert_string_equal(FERRY_ACK_MESSAGE_ID, "messageId");
	assert_string_equal(FERRY_ACK_CONSUMER_GROUP, "consumerGroup");
	assert_string_equal(FERRY_ACK_SUCCESS, "success");
	assert_string_equal(FERRY_ACK_CONSUMER_SERVICE_ID, "consumerServiceId");
	assert_string_equal(FERRY_ACK_CONSUMER_INSTANCE_ID, "consumerInstanceId");
	assert_string_equal(FERRY_ACK_ERROR_MESSAGE, "errorMessage");
	assert_int_equal(FERRY_ACK_MAX_STRING_BYTES, 1024);
	assert_string_equal(FERRY_ACK_REPLY_RESULTS, "results");
	assert_string_equal(FERRY_ACK_REPLY_RESULT, "result");
	assert_string_equal(FERRY_ACK_REPLY_ERROR, "error");
	assert_string_equal(FERRY_ACK_RESULT_RECORDED, "recorded");
	assert_string_equal(FERRY_ACK_RESULT_DUPLICATE, "duplicate");
	assert_string_equal(FERRY_ACK_RESULT_UNKNOWN_MESSAGE, "unknown_message");
	assert_string_equal(FERRY_ACK_RESULT_NOT_FOR_GROUP, "not_for_group");

	assert_string_equal(FERRY_PATH_AGENT_REGISTER, "/api/agents/consumers/register");
	assert_string_equal(FERRY_PATH_AGENT_HEARTBEAT, "/api/agents/consumers/heartbeat");
	assert_string_equal(FERRY_PATH_AGENT_DEREGISTER, "/api/agents/consumers/deregister");
	assert_string_equal(FERRY_AGENT_SERVICE_ID, "serviceId");
	assert_string_equal(FERRY_AGENT_INSTANCE_ID, "instanceId");
	assert_string_equal(FERRY_AGENT_CONSUMER_GROUP, "consumerGroup");
	assert_string_equal(FERRY_AGENT_TOPICS, "topics");
	assert_string_equal(FERRY_AGENT_HOST, "host");
	assert_string_equal(FERRY_AGENT_PORT, "port");
	assert_string_equal(FERRY_AGENT_VERSION, "version");
	assert_string_equal(FERRY_AGENT_HEALTHY, "healthy");
	assert_string_equal(FERRY_AGENT_DETAILS, "details");
	assert_string_equal(FERRY_AGENT_DETAILS_PARTITIONS, "partitions");
	assert_string_equal(FERRY_AGENT_DETAILS_ASSIGNED_PARTITIONS, "assignedPartitions");
	assert_string_equal(FERRY_AGENT_DETAILS_PROCESSED, "processed");
	assert_string_equal(FERRY_AGENT_DETAILS_FAILED, "failed");
	assert_string_equal(FERRY_AGENT_DETAILS_DUPLICATES, "duplicates");
	assert_string_equal(FERRY_AGENT_DETAILS_SUMMARY, "summary");
	assert_int_equal(FERRY_AGENT_MAX_STRING_BYTES, 255);
	assert_int_equal(FERRY_AGENT_MAX_TOPICS, 1000);
	assert_int_equal(FERRY_AGENT_MAX_PARTITIONS, 10000);
	assert_int_equal(FERRY_AGENT_MAX_ASSIGNED, 100000);
}

/* The headers the relay writes, as the consume loop hands them to consume_record_classify. */
static size_t headers_of(const struct message_header_fields *f, struct ferry_header *out,
                         size_t max, rd_kafka_headers_t **keep)
{
	rd_kafka_headers_t *hdrs = message_headers_build(f);
	const char *name;
	const void *value;
	size_t i, size;

	assert_non_null(hdrs);
	for (i = 0; i < max && rd_kafka_header_get_all(hdrs, i, &name, &value, &size) ==
	                           RD_KAFKA_RESP_ERR_NO_ERROR;
	     i++)
		out[i] = (struct ferry_header){name, value, size};
	*keep = hdrs;
	return i;
}

static void test_headers_round_trip(void **state)
{
	struct message_header_fields f = {
	    .message_id = 9007199254740993LL,
	    .idempotency_key = "order-42-paid",
	    .producer_service_id = "svc-a",
	    .producer_instance_id = "inst-1",
	    .created_at = "2024-05-01T10:00:00Z",
	    .target_group = "billing",
	    .headers_json = "{\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-"
	                    "b7ad6b7169203331-01\",\"app\":\"x\"}",
	    .retry_count = 2,
	    .target_consumer = "consumer-7",
	};
	struct ferry_header hs[16];
	struct consume_headers ch;
	rd_kafka_headers_t *hdrs = NULL;
	size_t n;

	(void)state;
	n = headers_of(&f, hs, 16, &hdrs);
	assert_int_equal(consume_record_classify(hs, n, "billing", &ch), CONSUME_PROCESS);
	assert_int_equal(ch.message_id, f.message_id);
	assert_string_equal(ch.idempotency_key, f.idempotency_key);
	assert_string_equal(ch.producer_service_id, f.producer_service_id);
	assert_string_equal(ch.producer_instance_id, f.producer_instance_id);
	assert_string_equal(ch.target_group, "billing");
	assert_string_equal(ch.traceparent,
	                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	assert_int_equal(consume_record_classify(hs, n, "shipping", &ch), CONSUME_OTHER_GROUP);
	rd_kafka_headers_destroy(hdrs);

	/* Without a target group or key: every group processes it, no key is seen. */
	f.target_group = NULL;
	f.idempotency_key = NULL;
	n = headers_of(&f, hs, 16, &hdrs);
	assert_int_equal(consume_record_classify(hs, n, "shipping", &ch), CONSUME_PROCESS);
	assert_int_equal(ch.has_idempotency_key, 0);
	rd_kafka_headers_destroy(hdrs);
}

static void test_ack_round_trip(void **state)
{
	char err[2000], errstr[256];
	struct inbox_ack acks[2] = {
	    {.id = 1, .message_id = 41, .consumer_group = "billing", .success = true},
	    {.id = 2,
	     .message_id = 42,
	     .consumer_group = "billing",
	     .success = false,
	     .error_message = err},
	};
	struct delivery_ack *parsed = NULL;
	size_t n = 0, i;
	json_t *body;

	(void)state;
	/* 1,023 ASCII bytes then two-byte characters: the limit falls inside one. */
	memset(err, 'e', 1023);
	for (i = 1023; i + 2 < sizeof(err); i += 2)
		memcpy(err + i, "\xc3\xa9", 2);
	err[i] = '\0';
	body = ack_sender_body(acks, 2, "svc-c", "inst-c");
	assert_non_null(body);
	assert_int_equal(ack_request_parse(body, &parsed, &n, errstr, sizeof(errstr)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(parsed[0].message_id, 41);
	assert_string_equal(parsed[0].consumer_group, "billing");
	assert_true(parsed[0].success);
	assert_null(parsed[0].error_message);
	assert_string_equal(parsed[0].consumer_service_id, "svc-c");
	assert_string_equal(parsed[0].consumer_instance_id, "inst-c");
	assert_int_equal(parsed[1].message_id, 42);
	assert_false(parsed[1].success);
	assert_non_null(parsed[1].error_message);
	assert_int_equal(strlen(parsed[1].error_message), 1023);
	assert_memory_equal(parsed[1].error_message, err, 1023);
	free(parsed);
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_pinned),
	    cmocka_unit_test(test_headers_round_trip),
	    cmocka_unit_test(test_ack_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
