/*
 * test_redrive_request.c - operators' re-drive bodies and the actor header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "producer/api/redrive_request.h"

static void test_one_accepts(void **state)
{
	struct redrive_one_request req;
	char errstr[256];
	json_t *body = json_loads("{\"consumerGroup\":\"billing\","
	                          "\"targetConsumerServiceId\":\"consumer-7\"}",
	                          0, NULL);

	(void)state;
	assert_int_equal(redrive_request_parse_one(NULL, &req, errstr, sizeof(errstr)), 0);
	assert_null(req.consumer_group);
	assert_null(req.target);
	assert_int_equal(redrive_request_parse_one(body, &req, errstr, sizeof(errstr)), 0);
	assert_string_equal(req.consumer_group, "billing");
	assert_string_equal(req.target, "consumer-7");
	json_decref(body);
}

static void test_one_refuses(void **state)
{
	static const char *const bad[][2] = {
	    {"[]", "JSON object"},
	    {"{\"consumerGroup\":5}", "consumerGroup must be a string"},
	    {"{\"consumerGroup\":\"a b\"}", "consumerGroup is not valid"},
	    {"{\"consumerGroup\":\"\"}", "consumerGroup is not valid"},
	    {"{\"targetConsumerServiceId\":\"x\"}", "needs consumerGroup"},
	    {"{\"consumerGroup\":\"g\",\"targetConsumerServiceId\":\"\"}", "1-255 bytes"},
	    {"{\"group\":\"g\"}", "unknown field 'group'"},
	};
	struct redrive_one_request req;
	char errstr[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *body = json_loads(bad[i][0], JSON_DECODE_ANY, NULL);

		assert_non_null(body);
		assert_int_equal(redrive_request_parse_one(body, &req, errstr, sizeof(errstr)), -1);
		if (strstr(errstr, bad[i][1]) == NULL)
			fail_msg("%s: error '%s' lacks '%s'", bad[i][0], errstr, bad[i][1]);
		json_decref(body);
	}
}

static void test_bulk(void **state)
{
	static const char *const bad[][2] = {
	    {"{}", "consumerGroup is required"},
	    {"{\"consumerGroup\":\"g\",\"status\":\"SENT\"}", "FAILED or EXPIRED"},
	    {"{\"consumerGroup\":\"g\",\"status\":\"\"}", "FAILED or EXPIRED"},
	    {"{\"consumerGroup\":\"g\",\"limit\":0}", "limit"},
	    {"{\"consumerGroup\":\"g\",\"limit\":10001}", "limit"},
	    {"{\"consumerGroup\":\"g\",\"limit\":\"5\"}", "limit"},
	    {"{\"consumerGroup\":\"g\",\"stat\":\"FAILED\"}", "unknown field"},
	};
	struct redrive_bulk_request req;
	char errstr[256];
	json_t *body =
	    json_loads("{\"consumerGroup\":\"g\",\"status\":\"EXPIRED\",\"limit\":20}", 0, NULL);

	(void)state;
	assert_int_equal(redrive_request_parse_bulk(body, &req, errstr, sizeof(errstr)), 0);
	assert_string_equal(req.consumer_group, "g");
	assert_string_equal(req.status, "EXPIRED");
	assert_int_equal(req.limit, 20);
	json_decref(body);
	body = json_loads("{\"consumerGroup\":\"g\"}", 0, NULL);
	assert_int_equal(redrive_request_parse_bulk(body, &req, errstr, sizeof(errstr)), 0);
	assert_null(req.status);
	assert_int_equal(req.limit, 1000);
	json_decref(body);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		body = json_loads(bad[i][0], 0, NULL);
		assert_int_equal(redrive_request_parse_bulk(body, &req, errstr, sizeof(errstr)),
		                 -1);
		if (strstr(errstr, bad[i][1]) == NULL)
			fail_msg("%s: error '%s' lacks '%s'", bad[i][0], errstr, bad[i][1]);
		json_decref(body);
	}
}

static void test_actor(void **state)
{
	char buf[200];

	(void)state;
	redrive_request_actor("alice@ops", buf, sizeof(buf));
	assert_string_equal(buf, "api:alice@ops");
	redrive_request_actor(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "api:anonymous");
	redrive_request_actor("", buf, sizeof(buf));
	assert_string_equal(buf, "api:anonymous");
	redrive_request_actor("bad\nname", buf, sizeof(buf));
	assert_string_equal(buf, "api:anonymous");
	memset(buf, 'x', 150);
	buf[150] = '\0';
	redrive_request_actor(buf, buf + 160, 40);
	assert_string_equal(buf + 160, "api:anonymous");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_accepts),
	    cmocka_unit_test(test_one_refuses),
	    cmocka_unit_test(test_bulk),
	    cmocka_unit_test(test_actor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
