/*
 * Unit tests for the consumer's pure logic: consumer-group configuration (the seed's
 * ConsumerGroups JSON and KAFKA_CONSUMER_GROUP/KAFKA_TOPICS), ferry record headers and the
 * target-group decision, the acknowledgment batch body and the reading of the producer's reply,
 * and the webhook body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "consumer/ack_sender.h"
#include "consumer/consume_record.h"
#include "consumer/consumer_config.h"
#include "consumer/processor.h"
#include "ferry/wire.h"

static void test_groups_json(void **state)
{
	struct consumer_groups g = {0};
	char err[256];

	(void)state;
	assert_int_equal(consumer_groups_parse_json(
	                     "{\"ConsumerGroups\":[{\"GroupName\":\"a\",\"Topics\":[\"t1\",\"t2\","
	                     "\"t1\"]},{\"GroupName\":\"b\",\"Topics\":[\"t3\"]}]}",
	                     &g, err, sizeof(err)),
	                 0);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.v[0].name, "a");
	assert_int_equal(g.v[0].topic_count, 2); /* t1 listed twice counts once */
	assert_string_equal(g.v[0].topics[1], "t2");
	assert_string_equal(g.v[1].topics[0], "t3");
	consumer_groups_free(&g);

	/* appsettings.json nesting */
	assert_int_equal(consumer_groups_parse_json("{\"KafkaConsumer\":{\"ConsumerGroups\":[{"
	                                            "\"GroupName\":\"x\",\"Topics\":[\"y\"]}]}}",
	                                            &g, err, sizeof(err)),
	                 0);
	assert_string_equal(g.v[0].name, "x");
	consumer_groups_free(&g);
}

static void test_groups_json_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
	    {"{", "invalid JSON"},
	    {"{}", "ConsumerGroups"},
	    {"{\"ConsumerGroups\":[]}", "non-empty"},
	    {"{\"ConsumerGroups\":[{\"Topics\":[\"t\"]}]}", "GroupName"},
	    {"{\"ConsumerGroups\":[{\"GroupName\":\"g\"}]}", "Topics"},
	    {"{\"ConsumerGroups\":[{\"GroupName\":\"g\",\"Topics\":[1]}]}", "Topics[0]"},
	    {"{\"ConsumerGroups\":[{\"GroupName\":\"g\",\"Topics\":[\"t\"]},"
	     "{\"GroupName\":\"g\",\"Topics\":[\"u\"]}]}",
	     "twice"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct consumer_groups g = {0};
		char err[256] = "";

		assert_int_equal(consumer_groups_parse_json(cases[i].text, &g, err, sizeof(err)),
		                 -1);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("'%s' gave '%s', expected it to mention '%s'", cases[i].text, err,
			         cases[i].want);
		consumer_groups_free(&g);
	}
}

static void test_groups_env(void **state)
{
	struct consumer_groups g = {0};
	char err[256];

	(void)state;
	assert_int_equal(consumer_groups_from_env("grp", " a, b ,,c ", &g, err, sizeof(err)), 0);
	assert_int_equal(g.v[0].topic_count, 3);
	assert_string_equal(g.v[0].topics[0], "a");
	assert_string_equal(g.v[0].topics[1], "b");
	assert_string_equal(g.v[0].topics[2], "c");
	consumer_groups_free(&g);
	assert_int_equal(consumer_groups_from_env(NULL, "a", &g, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "KAFKA_CONSUMER_GROUP"));
	assert_int_equal(consumer_groups_from_env("g", " , ", &g, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "KAFKA_TOPICS"));
	consumer_groups_free(&g);
}

#define H(n, v)                                                                                    \
	{                                                                                          \
		(n), (v), sizeof(v) - 1                                                            \
	}

static void test_classify(void **state)
{
	const struct ferry_header ours[] = {
	    H("other", "x"),
	    H(FERRY_HEADER_MESSAGE_ID, "42"),
	    H(FERRY_HEADER_IDEMPOTENCY_KEY, "key-1"),
	    H(FERRY_HEADER_PRODUCER_SERVICE_ID, "svc"),
	    H(FERRY_HEADER_PRODUCER_INSTANCE_ID, "inst"),
	};
	const struct ferry_header targeted[] = {H(FERRY_HEADER_MESSAGE_ID, "7"),
	                                        H(FERRY_HEADER_TARGET_GROUP, "billing")};
	const struct ferry_header bad[] = {H(FERRY_HEADER_MESSAGE_ID, "12x")};
	const struct ferry_header zero[] = {H(FERRY_HEADER_MESSAGE_ID, "0")};
	const struct ferry_header huge[] = {H(FERRY_HEADER_MESSAGE_ID, "99999999999999999999")};
	const struct ferry_header foreign[] = {H("traceparent", "00-abc")};
	struct consume_headers h;

	(void)state;
	assert_int_equal(consume_record_classify(ours, 5, "g", &h), CONSUME_PROCESS);
	assert_int_equal(h.message_id, 42);
	assert_true(h.has_idempotency_key);
	assert_string_equal(h.idempotency_key, "key-1");
	assert_string_equal(h.producer_service_id, "svc");
	assert_string_equal(h.producer_instance_id, "inst");
	assert_false(h.has_target_group);

	assert_int_equal(consume_record_classify(targeted, 2, "orders", &h), CONSUME_OTHER_GROUP);
	assert_string_equal(h.target_group, "billing");
	assert_int_equal(consume_record_classify(targeted, 2, "billing", &h), CONSUME_PROCESS);
	assert_int_equal(h.message_id, 7);

	assert_int_equal(consume_record_classify(bad, 1, "g", &h), CONSUME_BAD_ID);
	assert_int_equal(consume_record_classify(zero, 1, "g", &h), CONSUME_BAD_ID);
	assert_int_equal(consume_record_classify(huge, 1, "g", &h), CONSUME_BAD_ID);
	assert_int_equal(consume_record_classify(foreign, 1, "g", &h), CONSUME_NOT_FERRY);
	assert_int_equal(consume_record_classify(NULL, 0, "g", &h), CONSUME_NOT_FERRY);
	assert_string_equal(consume_decision_name(CONSUME_OTHER_GROUP), "other-group");
}

/* Idempotency keys are whole or refused: never cut (issue 11, item 1). */
static void test_classify_idempotency_key(void **state)
{
	char long_key[FERRY_IDEMPOTENCY_KEY_MAX_BYTES + 2], utf8_key[300];
	struct ferry_header hs[3] = {{FERRY_HEADER_MESSAGE_ID, "5", 1},
	                             {FERRY_HEADER_IDEMPOTENCY_KEY, NULL, 0},
	                             {FERRY_HEADER_TARGET_GROUP, "other", 5}};
	struct consume_headers h;

	(void)state;
	/* 280 bytes: all of it kept (a cut at 255 made two keys that share a prefix one). */
	memset(long_key, 'k', 280);
	long_key[280] = '\0';
	hs[1].value = long_key;
	hs[1].value_len = 280;
	assert_int_equal(consume_record_classify(hs, 2, "g", &h), CONSUME_PROCESS);
	assert_int_equal(strlen(h.idempotency_key), 280);
	assert_memory_equal(h.idempotency_key, long_key, 280);

	/* A 2-byte character on bytes 255 and 256: kept whole, still valid UTF-8. */
	memset(utf8_key, 'u', 254);
	memcpy(utf8_key + 254, "\xc3\xa9tail", 6);
	hs[1].value = utf8_key;
	hs[1].value_len = 260;
	assert_int_equal(consume_record_classify(hs, 2, "g", &h), CONSUME_PROCESS);
	assert_int_equal(strlen(h.idempotency_key), 260);
	assert_true(consume_record_is_text(h.idempotency_key, 260));

	/* Exactly the limit is fine; one byte more is refused, with the reason. */
	memset(long_key, 'k', sizeof(long_key) - 1);
	hs[1].value = long_key;
	hs[1].value_len = FERRY_IDEMPOTENCY_KEY_MAX_BYTES;
	assert_int_equal(consume_record_classify(hs, 2, "g", &h), CONSUME_PROCESS);
	assert_int_equal(strlen(h.idempotency_key), FERRY_IDEMPOTENCY_KEY_MAX_BYTES);
	hs[1].value_len = FERRY_IDEMPOTENCY_KEY_MAX_BYTES + 1;
	assert_int_equal(consume_record_classify(hs, 2, "g", &h), CONSUME_REFUSE);
	assert_non_null(strstr(h.refusal, "513 bytes, over the limit of 512"));
	assert_string_equal(consume_decision_name(CONSUME_REFUSE), "refuse");
	/* ...unless the record is another group's: then it is simply not ours. */
	assert_int_equal(consume_record_classify(hs, 3, "g", &h), CONSUME_OTHER_GROUP);

	/* Not UTF-8 (a character cut in half, a NUL): refused, never sent to PostgreSQL. */
	hs[1].value = "abc\xc3";
	hs[1].value_len = 4;
	assert_int_equal(consume_record_classify(hs, 2, "g", &h), CONSUME_REFUSE);
	assert_non_null(strstr(h.refusal, "not UTF-8"));
	hs[1].value = "a\0b";
	hs[1].value_len = 3;
	assert_int_equal(consume_record_classify(hs, 2, "g", &h), CONSUME_REFUSE);
}

static void test_ack_body(void **state)
{
	struct inbox_ack acks[2] = {
	    {1, 100, "g1", true, NULL},
	    {2, 101, "g2", false, "boom"},
	};
	json_t *body;
	char *text;

	(void)state;
	body = ack_sender_body(acks, 2, "svc", "inst");
	assert_non_null(body);
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text,
	                    "[{\"consumerGroup\":\"g1\",\"consumerInstanceId\":\"inst\","
	                    "\"consumerServiceId\":\"svc\",\"messageId\":100,\"success\":true},"
	                    "{\"consumerGroup\":\"g2\",\"consumerInstanceId\":\"inst\","
	                    "\"consumerServiceId\":\"svc\",\"errorMessage\":\"boom\","
	                    "\"messageId\":101,\"success\":false}]");
	free(text);
	json_decref(body);
}

static void test_ack_reply(void **state)
{
	json_t *reply = json_loads(
	    "{\"results\":[{\"messageId\":1,\"consumerGroup\":\"g\",\"result\":\"recorded\"},"
	    "{\"messageId\":2,\"consumerGroup\":\"g\",\"result\":\"duplicate\"},"
	    "{\"messageId\":3,\"consumerGroup\":\"g\",\"result\":\"unknown_message\","
	    "\"error\":\"no such message\"},"
	    "{\"messageId\":4,\"consumerGroup\":\"g\",\"result\":\"not_for_group\"}]}",
	    0, NULL);

	(void)state;
	assert_non_null(reply);
	assert_int_equal(ack_sender_count_rejected(reply), 2);
	assert_int_equal(ack_sender_count_rejected(NULL), 0);
	json_decref(reply);
}

static void test_webhook_body(void **state)
{
	const struct ferry_header hdrs[] = {H(FERRY_HEADER_MESSAGE_ID, "5"), H("bin", "\xff\xfe")};
	struct ferry_consumed_message m = {0};
	json_t *body;

	(void)state;
	m.message_id = 5;
	m.topic = "t";
	m.consumer_group = "g";
	m.key = "k";
	m.key_len = 1;
	m.payload = "{\"a\":1}";
	m.payload_len = 7;
	m.headers = hdrs;
	m.header_count = 2;
	body = processor_webhook_body(&m);
	assert_non_null(body);
	assert_int_equal(json_integer_value(json_object_get(body, "messageId")), 5);
	assert_string_equal(json_string_value(json_object_get(body, "payload")), "{\"a\":1}");
	assert_string_equal(json_string_value(json_object_get(body, "key")), "k");
	assert_string_equal(json_string_value(json_object_get(body, "consumerGroup")), "g");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "headers"),
	                                                      FERRY_HEADER_MESSAGE_ID)),
	                    "5");
	assert_true(json_is_null(json_object_get(json_object_get(body, "headers"), "bin")));
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_groups_json),
	    cmocka_unit_test(test_groups_json_errors),
	    cmocka_unit_test(test_groups_env),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_classify_idempotency_key),
	    cmocka_unit_test(test_ack_body),
	    cmocka_unit_test(test_ack_reply),
	    cmocka_unit_test(test_webhook_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
