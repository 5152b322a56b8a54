/*
 * test_traceparent.c - W3C traceparent validation, the send body's "traceparent" field, and the
 * log context's group and traceparent fields.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/traceparent.h"
#include "producer/api/message_request.h"

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void test_valid(void **state)
{
	(void)state;
	assert_true(traceparent_valid(TP));
	assert_true(traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
	/* A later version may append fields. */
	assert_true(
	    traceparent_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));
}

static void test_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "00",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    /* short */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 has no more */
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent */
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* uppercase */
	    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
	};

	(void)state;
	assert_false(traceparent_valid(NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (traceparent_valid(bad[i]))
			fail_msg("'%s' was accepted", bad[i]);
}

static void test_send_field_goes_into_headers(void **state)
{
	struct message_request req;
	char errstr[256];
	json_t *body = json_loads("{\"topic\":\"t\",\"message\":\"m\",\"headers\":{\"a\":\"b\"},"
	                          "\"traceparent\":\"" TP "\"}",
	                          0, NULL);
	json_t *h;

	(void)state;
	assert_int_equal(message_request_parse(body, "", &req, errstr, sizeof(errstr)), 0);
	h = json_loads(req.msg.headers_json, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(h, "traceparent")), TP);
	assert_string_equal(json_string_value(json_object_get(h, "a")), "b");
	json_decref(h);
	/* The HTTP header does not replace the body's. */
	assert_int_equal(
	    message_request_set_traceparent(
	        &req, "00-11111111111111111111111111111111-2222222222222222-01", false),
	    0);
	assert_non_null(strstr(req.msg.headers_json, TP));
	message_request_clear(&req);
	json_decref(body);

	body = json_loads("{\"topic\":\"t\",\"message\":\"m\"}", 0, NULL);
	assert_int_equal(message_request_parse(body, "", &req, errstr, sizeof(errstr)), 0);
	assert_int_equal(message_request_set_traceparent(&req, TP, false), 0);
	assert_non_null(strstr(req.msg.headers_json, TP));
	message_request_clear(&req);
	json_decref(body);
}

static void test_send_field_refused(void **state)
{
	static const char *const bad[] = {
	    "{\"topic\":\"t\",\"message\":\"m\",\"traceparent\":\"nope\"}",
	    "{\"topic\":\"t\",\"message\":\"m\",\"traceparent\":7}",
	    "{\"topic\":\"t\",\"message\":\"m\",\"headers\":{\"traceparent\":\"x\"}}",
	};
	struct message_request req;
	char errstr[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *body = json_loads(bad[i], 0, NULL);

		assert_int_equal(message_request_parse(body, "", &req, errstr, sizeof(errstr)), -1);
		assert_non_null(strstr(errstr, "traceparent"));
		json_decref(body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_send_field_goes_into_headers),
	    cmocka_unit_test(test_send_field_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
