/*
 * test_bad_requests.c - what the REST API refuses, and how: every bad request gets a 4xx with
 * Content-Type application/json and a JSON body {"error": "..."}, and nothing reaches the
 * outbox. Unknown routes get 404, known routes with the wrong method 405, in the same shape.
 *
 * The producer runs with a 4 KiB body limit and without a relay (nothing here needs Kafka, and
 * a row a bug let through stays visible as PENDING). The last test sends a valid request to
 * the same endpoint, so the refusals above cannot come from a broken harness or server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY 4096

static struct it_fixture fx;

static int setup(void **state)
{
	static const char *const env[] = {"FERRY_HTTP_MAX_BODY_BYTES=4096",
	                                  "FERRY_RELAY_ENABLED=false", NULL};

	(void)state;
	it_fixture_open(&fx, "bad_requests", env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Sends the request and checks the refusal: status, JSON error body, and no row written. */
static void expect_refusal(const char *name, const char *method, const char *path, const char *body,
                           size_t len, long want)
{
	struct it_response r = {0};
	json_t *error;

	it_http(&fx.producer, method, path, strcmp(method, "GET") != 0 ? "application/json" : NULL,
	        body, len, &r);
	if (r.status != want)
		fail_msg("%s: %s %s answered %ld, wanted %ld (%s%.300s)", name, method, path,
		         r.status, want, r.error, r.text ? r.text : "");
	if (strncmp(r.content_type, "application/json", 16) != 0)
		fail_msg("%s: Content-Type is '%s', wanted application/json", name, r.content_type);
	error = it_json_get(r.json, "error");
	if (!json_is_object(r.json) || !json_is_string(error) || json_string_length(error) == 0)
		fail_msg("%s: body %.300s has no \"error\" string", name, r.text);
	if (it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message") != 0)
		fail_msg("%s: a row was written", name);
	it_response_free(&r);
}

struct bad_body {
	const char *name;
	const char *path;
	const char *body;
};

static void test_invalid_bodies(void **state)
{
	static const struct bad_body cases[] = {
	    {"malformed JSON", "/api/messages/send", "{\"topic\": \"t1\", \"message\": "},
	    {"empty body", "/api/messages/send", ""},
	    {"not an object", "/api/messages/send", "[\"t1\", \"m\"]"},
	    {"missing topic", "/api/messages/send", "{\"message\": \"m\"}"},
	    {"missing message", "/api/messages/send", "{\"topic\": \"t1\"}"},
	    {"null message", "/api/messages/send", "{\"topic\": \"t1\", \"message\": null}"},
	    {"topic a number", "/api/messages/send", "{\"topic\": 42, \"message\": \"m\"}"},
	    {"message a number", "/api/messages/send", "{\"topic\": \"t1\", \"message\": 42}"},
	    {"headers an array", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"headers\": [\"a\"]}"},
	    {"headers a string", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"headers\": \"a=b\"}"},
	    {"header value a number", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"headers\": {\"a\": 1}}"},
	    {"reserved header name", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"headers\": {\"ferry-message-id\": \"1\"}}"},
	    {"unknown field", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"colour\": \"red\"}"},
	    {"key a number", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"key\": 7}"},
	    {"empty idempotencyKey", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"idempotencyKey\": \"\"}"},
	    {"useBatching a string", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"m\", \"useBatching\": \"yes\"}"},
	    {"topic with a space", "/api/messages/send",
	     "{\"topic\": \"bad topic\", \"message\": \"m\"}"},
	    {"topic ..", "/api/messages/send", "{\"topic\": \"..\", \"message\": \"m\"}"},
	    {"topic empty", "/api/messages/send", "{\"topic\": \"\", \"message\": \"m\"}"},
	    {"topic of 250 characters", "/api/messages/send",
	     "{\"topic\": \""
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 81 */
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 162 */
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* 243 */
	     "aaaaaaa" /* 250 */
	     "\", \"message\": \"m\"}"},
	    {"invalid UTF-8 in a string", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"caf\xc3\x28 \xff\xfe\"}"},
	    {"NUL in the message", "/api/messages/send",
	     "{\"topic\": \"t1\", \"message\": \"a\\u0000b\"}"},
	    {"batch: empty array", "/api/messages/send-batch", "[]"},
	    {"batch: empty messages", "/api/messages/send-batch", "{\"messages\": []}"},
	    {"batch: messages an object", "/api/messages/send-batch", "{\"messages\": {}}"},
	    {"batch: unknown field", "/api/messages/send-batch",
	     "{\"msgs\": [{\"topic\": \"t1\", \"message\": \"m\"}]}"},
	    {"batch: one bad element", "/api/messages/send-batch",
	     "[{\"topic\": \"t1\", \"message\": \"m\"}, {\"topic\": \"t1\", \"message\": 1}]"},
	    {"batch: malformed JSON", "/api/messages/send-batch", "[{\"topic\": \"t1\""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refusal(cases[i].name, "POST", cases[i].path, cases[i].body,
		               strlen(cases[i].body), 400);
}

/* An idempotency key over 512 bytes is a 400 on both routes, and nothing is written. */
static void test_idempotency_key_over_the_limit(void **state)
{
	char key[600], body[1024];

	(void)state;
	memset(key, 'i', 513);
	key[513] = '\0';
	snprintf(body, sizeof(body),
	         "{\"topic\": \"t1\", \"message\": \"m\", \"idempotencyKey\": \"%s\"}", key);
	expect_refusal("idempotencyKey of 513 bytes", "POST", "/api/messages/send", body,
	               strlen(body), 400);
	snprintf(body, sizeof(body),
	         "[{\"topic\": \"t1\", \"message\": \"m\", \"idempotencyKey\": \"%s\"}]", key);
	expect_refusal("batch: idempotencyKey of 513 bytes", "POST", "/api/messages/send-batch",
	               body, strlen(body), 400);
}

/* A valid send body whose message is `size` bytes of 'x' (so only its size is wrong). */
static char *valid_body(size_t size)
{
	static const char head[] = "{\"topic\": \"t1\", \"message\": \"", tail[] = "\"}";
	char *body = malloc(sizeof(head) + size + sizeof(tail));

	assert_non_null(body);
	memcpy(body, head, sizeof(head) - 1);
	memset(body + sizeof(head) - 1, 'x', size);
	memcpy(body + sizeof(head) - 1 + size, tail, sizeof(tail));
	return body;
}

static void test_body_over_the_limit(void **state)
{
	char *big = valid_body(8 * 1024), *huge = valid_body(2 * 1024 * 1024);

	(void)state;
	expect_refusal("8 KiB body", "POST", "/api/messages/send", big, strlen(big), 413);
	expect_refusal("2 MiB body", "POST", "/api/messages/send", huge, strlen(huge), 413);
	expect_refusal("8 KiB batch", "POST", "/api/messages/send-batch", big, strlen(big), 413);
	free(big);
	free(huge);
}

static void test_unknown_routes_and_methods(void **state)
{
	(void)state;
	expect_refusal("unknown route", "GET", "/api/nothing-here", NULL, 0, 404);
	expect_refusal("unknown route under /api/messages", "POST", "/api/messages/send/now", NULL,
	               0, 404);
	/* GET / is the dashboard page (test_dashboard.c); anything else there is refused. */
	expect_refusal("POST on the dashboard", "POST", "/", "{}", 2, 405);
	expect_refusal("unknown route under the dashboard", "GET", "/dashboard/x", NULL, 0, 404);
	expect_refusal("DELETE on send", "DELETE", "/api/messages/send", NULL, 0, 405);
	expect_refusal("PUT on send-batch", "PUT", "/api/messages/send-batch", "[]", 2, 405);
	expect_refusal("POST on health", "POST", "/api/messages/health", "{}", 2, 405);
	expect_refusal("DELETE on a message", "DELETE", "/api/messages/1", NULL, 0, 405);
}

static void test_bad_ids_and_queries(void **state)
{
	(void)state;
	expect_refusal("id not a number", "GET", "/api/messages/abc", NULL, 0, 400);
	expect_refusal("id zero", "GET", "/api/messages/0", NULL, 0, 400);
	expect_refusal("id negative", "GET", "/api/messages/-5", NULL, 0, 400);
	expect_refusal("id with trailing text", "GET", "/api/messages/12abc", NULL, 0, 400);
	expect_refusal("id not found", "GET", "/api/messages/999999", NULL, 0, 404);
	/* Past 64 bits is an error, not a clamp to the largest id. */
	expect_refusal("id overflowing", "GET", "/api/messages/99999999999999999999", NULL, 0, 400);
	expect_refusal("afterId overflowing", "GET",
	               "/api/messages/pending?afterId=99999999999999999999", NULL, 0, 400);
	expect_refusal("limit with a sign", "GET", "/api/messages/pending?limit=+5", NULL, 0, 400);
	expect_refusal("limit zero", "GET", "/api/messages/pending?limit=0", NULL, 0, 400);
	expect_refusal("limit too big", "GET", "/api/messages/pending?limit=1001", NULL, 0, 400);
	expect_refusal("limit not a number", "GET", "/api/messages/pending?limit=ten", NULL, 0,
	               400);
	expect_refusal("afterId negative", "GET", "/api/messages/pending?afterId=-1", NULL, 0, 400);
}

/* The control: the same endpoint takes a valid request just under the limit. */
static void test_valid_request_is_accepted(void **state)
{
	char *body = valid_body(MAX_BODY - 100);
	struct it_response r = {0};

	(void)state;
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 201);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message"), 1);
	free(body);
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_invalid_bodies),
	    cmocka_unit_test(test_idempotency_key_over_the_limit),
	    cmocka_unit_test(test_body_over_the_limit),
	    cmocka_unit_test(test_unknown_routes_and_methods),
	    cmocka_unit_test(test_bad_ids_and_queries),
	    cmocka_unit_test(test_valid_request_is_accepted), /* last: it writes a row */
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
