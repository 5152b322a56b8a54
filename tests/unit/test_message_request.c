/*
 * Unit tests for message_request.c: what a send / send-batch body must look like.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "producer/api/message_request.h"

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	assert_non_null(v);
	return v;
}

static void test_full_message(void **state)
{
	struct message_request req;
	char errstr[256];
	json_t *v = parse("{\"topic\":\"user-events\",\"message\":\"hi\",\"key\":\"k1\","
	                  "\"headers\":{\"trace\":\"abc\"},\"idempotencyKey\":\"i-1\","
	                  "\"useBatching\":false}");

	(void)state;
	assert_int_equal(message_request_parse(v, "", &req, errstr, sizeof(errstr)), 0);
	assert_string_equal(req.msg.topic, "user-events");
	assert_string_equal(req.msg.payload, "hi");
	assert_string_equal(req.msg.key, "k1");
	assert_string_equal(req.msg.idempotency_key, "i-1");
	assert_string_equal(req.msg.headers_json, "{\"trace\":\"abc\"}");
	assert_false(req.use_batching);
	message_request_clear(&req);
	json_decref(v);
}

static void test_defaults(void **state)
{
	struct message_request req;
	char errstr[256];
	json_t *v = parse("{\"topic\":\"t\",\"message\":\"x\"}");

	(void)state;
	assert_int_equal(message_request_parse(v, "", &req, errstr, sizeof(errstr)), 0);
	assert_true(req.use_batching); /* the seed's default */
	assert_null(req.msg.key);
	assert_null(req.msg.headers_json);
	assert_null(req.msg.idempotency_key);
	message_request_clear(&req);
	json_decref(v);
}

static void test_json_payload_is_serialised(void **state)
{
	struct message_request req;
	char errstr[256];
	json_t *v = parse("{\"topic\":\"t\",\"message\":{\"a\": [1, 2]}}");

	(void)state;
	assert_int_equal(message_request_parse(v, "", &req, errstr, sizeof(errstr)), 0);
	assert_string_equal(req.msg.payload, "{\"a\":[1,2]}");
	message_request_clear(&req);
	json_decref(v);
}

static void test_errors_name_the_field(void **state)
{
	static const struct {
		const char *body;
		const char *needle;
	} cases[] = {
	    {"{\"message\":\"x\"}", "topic: is required"},
	    {"{\"topic\":5,\"message\":\"x\"}", "topic: must be a string"},
	    {"{\"topic\":\"a b\",\"message\":\"x\"}", "not a valid Kafka topic name"},
	    {"{\"topic\":\"..\",\"message\":\"x\"}", "not a valid Kafka topic name"},
	    {"{\"topic\":\"t\"}", "message: is required"},
	    {"{\"topic\":\"t\",\"message\":12}", "message: must be a string"},
	    {"{\"topic\":\"t\",\"message\":\"x\",\"key\":1}", "key: must be a string"},
	    {"{\"topic\":\"t\",\"message\":\"x\",\"headers\":[]}", "headers: must be an object"},
	    {"{\"topic\":\"t\",\"message\":\"x\",\"headers\":{\"a\":1}}", "headers.a: must be"},
	    {"{\"topic\":\"t\",\"message\":\"x\",\"headers\":{\"ferry-message-id\":\"1\"}}",
	     "reserved"},
	    {"{\"topic\":\"t\",\"message\":\"x\",\"useBatching\":\"yes\"}", "useBatching"},
	    {"{\"topic\":\"t\",\"message\":\"x\",\"idempotencyKey\":\"\"}", "must not be empty"},
	    {"{\"topic\":\"t\",\"message\":\"x\",\"colour\":\"red\"}", "colour: unknown field"},
	    {"{\"topic\":\"t\",\"message\":\"a\\u0000b\"}", "NUL"},
	    {"[1]", "must be a JSON object"},
	};
	struct message_request req;
	char errstr[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t jerr;
		json_t *v = json_loads(cases[i].body, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

		assert_non_null(v);
		errstr[0] = '\0';
		assert_int_equal(message_request_parse(v, "", &req, errstr, sizeof(errstr)), -1);
		if (strstr(errstr, cases[i].needle) == NULL)
			fail_msg("case %zu: '%s' does not contain '%s'", i, errstr,
			         cases[i].needle);
		json_decref(v);
	}
}

static void test_topic_names(void **state)
{
	char long_name[251];

	(void)state;
	assert_true(message_request_topic_valid("order-events"));
	assert_true(message_request_topic_valid("a.b_c-D9"));
	assert_false(message_request_topic_valid(""));
	assert_false(message_request_topic_valid("."));
	assert_false(message_request_topic_valid("a/b"));
	assert_false(message_request_topic_valid(NULL));
	memset(long_name, 'x', 250);
	long_name[250] = '\0';
	assert_false(message_request_topic_valid(long_name));
	long_name[249] = '\0';
	assert_true(message_request_topic_valid(long_name));
}

static void test_batch_forms(void **state)
{
	struct message_request *reqs = NULL;
	char errstr[256];
	size_t n = 0;
	json_t *wrapped = parse("{\"messages\":[{\"topic\":\"a\",\"message\":\"1\"},"
	                        "{\"topic\":\"b\",\"message\":\"2\",\"key\":\"k\"}]}");
	json_t *bare = parse("[{\"topic\":\"a\",\"message\":\"1\"}]");
	json_t *bad = parse("[{\"topic\":\"a\",\"message\":\"1\"},{\"topic\":\"a\"}]");
	json_t *empty = parse("[]");

	(void)state;
	assert_int_equal(message_request_parse_batch(wrapped, &reqs, &n, errstr, sizeof(errstr)),
	                 0);
	assert_int_equal(n, 2);
	assert_string_equal(reqs[1].msg.key, "k");
	message_request_free_array(reqs, n);

	assert_int_equal(message_request_parse_batch(bare, &reqs, &n, errstr, sizeof(errstr)), 0);
	assert_int_equal(n, 1);
	message_request_free_array(reqs, n);

	assert_int_equal(message_request_parse_batch(bad, &reqs, &n, errstr, sizeof(errstr)), -1);
	assert_non_null(strstr(errstr, "messages[1].message: is required"));
	assert_int_equal(message_request_parse_batch(empty, &reqs, &n, errstr, sizeof(errstr)), -1);
	assert_non_null(strstr(errstr, "1 to"));

	json_decref(wrapped);
	json_decref(bare);
	json_decref(bad);
	json_decref(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_message),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_json_payload_is_serialised),
	    cmocka_unit_test(test_errors_name_the_field),
	    cmocka_unit_test(test_topic_names),
	    cmocka_unit_test(test_batch_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
