/*
 * Unit tests for ack_request.c: the bodies POST /api/messages/acknowledge accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "producer/api/ack_request.h"

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	assert_non_null(v);
	return v;
}

static void test_single_object(void **state)
{
	json_t *body =
	    parse("{\"messageId\": 42, \"consumerGroup\": \"group-a\", \"success\": false,"
	          " \"errorMessage\": \"boom\", \"consumerServiceId\": \"svc\","
	          " \"consumerInstanceId\": \"inst\"}");
	struct delivery_ack *acks = NULL;
	char errstr[256];
	size_t n = 0;

	(void)state;
	assert_int_equal(ack_request_parse(body, &acks, &n, errstr, sizeof(errstr)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(acks[0].message_id, 42);
	assert_string_equal(acks[0].consumer_group, "group-a");
	assert_false(acks[0].success);
	assert_string_equal(acks[0].error_message, "boom");
	assert_string_equal(acks[0].consumer_service_id, "svc");
	assert_string_equal(acks[0].consumer_instance_id, "inst");
	free(acks);
	json_decref(body);
}

static void test_array(void **state)
{
	json_t *body = parse("[{\"messageId\": 1, \"consumerGroup\": \"a\", \"success\": true},"
	                     " {\"messageId\": 2, \"consumerGroup\": \"b\", \"success\": true}]");
	struct delivery_ack *acks = NULL;
	char errstr[256];
	size_t n = 0;

	(void)state;
	assert_int_equal(ack_request_parse(body, &acks, &n, errstr, sizeof(errstr)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(acks[1].message_id, 2);
	assert_null(acks[1].consumer_service_id);
	free(acks);
	json_decref(body);
}

static void test_errors_name_the_field(void **state)
{
	static const struct {
		const char *body;
		const char *needle;
	} cases[] = {
	    {"{\"consumerGroup\": \"a\", \"success\": true}", "messageId: must be"},
	    {"{\"messageId\": \"7\", \"consumerGroup\": \"a\", \"success\": true}", "messageId"},
	    {"{\"messageId\": 0, \"consumerGroup\": \"a\", \"success\": true}", "messageId"},
	    {"{\"messageId\": 1, \"success\": true}", "consumerGroup: is required"},
	    {"{\"messageId\": 1, \"consumerGroup\": \"a\"}", "success: must be true or false"},
	    {"{\"messageId\": 1, \"consumerGroup\": \"a\", \"success\": 1}", "success"},
	    {"{\"messageId\": 1, \"consumerGroup\": \"\", \"success\": true}", "consumerGroup"},
	    {"{\"messageId\": 1, \"consumerGroup\": \"a\", \"success\": true, \"x\": 1}",
	     "x: unknown field"},
	    {"[{\"messageId\": 1, \"consumerGroup\": \"a\", \"success\": true}, 5]",
	     "[1]: must be an acknowledgment object"},
	    {"[]", "expected 1 to"},
	    {"\"ack\"", "must be an acknowledgment object"},
	};
	struct delivery_ack *acks = NULL;
	char errstr[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *body = parse(cases[i].body);

		errstr[0] = '\0';
		assert_int_equal(ack_request_parse(body, &acks, &n, errstr, sizeof(errstr)), -1);
		assert_null(acks);
		if (strstr(errstr, cases[i].needle) == NULL)
			fail_msg("case %zu: '%s' does not contain '%s'", i, errstr,
			         cases[i].needle);
		json_decref(body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_single_object),
	    cmocka_unit_test(test_array),
	    cmocka_unit_test(test_errors_name_the_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
