/*
 * test_browser_safety.c - what a web page on another site can make a browser send to a
 * producer on 127.0.0.1 is refused before anything is written (http_guard.h):
 *   - a POST whose Content-Type is not application/json (text/plain, a form: the "simple"
 *     requests a page may send without a CORS preflight) gets 415 and writes no row, with or
 *     without a body; application/json with parameters is accepted;
 *   - a Host that is not an allowed name (DNS rebinding) gets 421, localhost:PORT passes;
 *   - a foreign Origin gets 403 and writes no row; an origin in FERRY_CORS_ORIGINS is answered
 *     with Access-Control-Allow-Origin and Vary: Origin, and its preflight with 204;
 *   - ferryctl-style body-less writes with the JSON type still work.
 * The producer runs with FERRY_CORS_ORIGINS=https://ops.example.com.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALLOWED_ORIGIN "https://ops.example.com"

static const char *const producer_env[] = {
    "FERRY_CORS_ORIGINS=" ALLOWED_ORIGIN,
    NULL,
};

static struct it_fixture fx;
static char topic[IT_TOPIC_MAX];

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "browser_safety", producer_env);
	it_topic(topic, sizeof(topic), "browser");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

static int64_t rows(void)
{
	return it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                  topic);
}

/* A send body for the test's topic. */
static const char *send_body(void)
{
	static char body[512];

	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"message\":\"from a page\",\"useBatching\":false}", topic);
	return body;
}

/* Fails unless r is `status` with a JSON {"error"} mentioning `part`. */
static void expect_error(const struct it_response *r, long status, const char *part)
{
	const char *e = it_json_string(r->json, "error");

	if (r->status != status)
		fail_msg("answered %ld, wanted %ld: %s%s", r->status, status, r->error,
		         r->text ? r->text : "");
	if (strncmp(r->content_type, "application/json", 16) != 0)
		fail_msg("Content-Type '%s', wanted application/json", r->content_type);
	if (strstr(e, part) == NULL)
		fail_msg("error '%s' does not mention '%s'", e, part);
}

static void test_content_type(void **state)
{
	struct it_response r = {0};
	const char *body = send_body();
	char path[256];
	int64_t id;

	(void)state;
	/* What a cross-site <form> or fetch(..., {mode: "no-cors"}) can send. */
	it_http(&fx.producer, "POST", "/api/messages/send", "text/plain", body, strlen(body), &r);
	expect_error(&r, 415, "Content-Type must be application/json");
	it_http(&fx.producer, "POST", "/api/messages/send", "text/plain;charset=UTF-8", body,
	        strlen(body), &r);
	expect_error(&r, 415, "Content-Type must be application/json");
	it_http(&fx.producer, "POST", "/api/messages/send", "application/x-www-form-urlencoded",
	        body, strlen(body), &r);
	expect_error(&r, 415, "Content-Type must be application/json");
	it_http(&fx.producer, "POST", "/api/messages/send", "multipart/form-data; boundary=x", body,
	        strlen(body), &r);
	expect_error(&r, 415, "Content-Type must be application/json");
	assert_int_equal(rows(), 0);

	/* The JSON type with parameters, in any case. */
	assert_int_equal(it_http(&fx.producer, "POST", "/api/messages/send",
	                         "Application/JSON; charset=utf-8", body, strlen(body), &r),
	                 201);
	id = (int64_t)json_integer_value(it_json_get(r.json, "id"));
	assert_true(id > 0);
	assert_int_equal(rows(), 1);

	/* A body-less POST triggers an action too (a re-drive): it needs the type as well. */
	snprintf(path, sizeof(path), "/api/messages/%lld/retry", (long long)id);
	it_http(&fx.producer, "POST", path, NULL, NULL, 0, &r);
	expect_error(&r, 415, "Content-Type must be application/json");
	it_http(&fx.producer, "DELETE", "/api/messages/failed?olderThan=2000-01-01T00:00:00Z", NULL,
	        NULL, 0, &r);
	expect_error(&r, 415, "Content-Type must be application/json");
	/* ... and with it, the request reaches its handler, as ferryctl's do. */
	assert_int_equal(it_http(&fx.producer, "DELETE",
	                         "/api/messages/failed?olderThan=2000-01-01T00:00:00Z",
	                         "application/json", NULL, 0, &r),
	                 200);
	/* Reads need no type. */
	assert_int_equal(it_get(&fx.producer, "/api/topics", &r), 200);
	it_response_free(&r);
}

static void test_host(void **state)
{
	static const char *const evil[] = {"Host: evil.example", NULL};
	static const char *const evil_port[] = {"Host: evil.example:5301", NULL};
	struct it_response r = {0};
	const char *body = send_body();
	int64_t before = rows();
	char host[64];
	const char *ok[] = {host, NULL};

	(void)state;
	/* A rebinding page's requests carry its own name. */
	it_http_with_headers(&fx.producer, "POST", "/api/messages/send", "application/json", body,
	                     strlen(body), evil, &r);
	expect_error(&r, 421, "evil.example");
	it_http_with_headers(&fx.producer, "GET", "/api/topics", NULL, NULL, 0, evil_port, &r);
	expect_error(&r, 421, "FERRY_ALLOWED_HOSTS");
	assert_int_equal(rows(), before);

	snprintf(host, sizeof(host), "Host: localhost:%d", fx.producer.port);
	assert_int_equal(it_http_with_headers(&fx.producer, "POST", "/api/messages/send",
	                                      "application/json", body, strlen(body), ok, &r),
	                 201);
	assert_int_equal(rows(), before + 1);
	it_response_free(&r);
}

/* --- raw requests, for the CORS response headers ---------------------------------------- */

struct raw {
	long status;
	char headers[4096]; /* response header lines as received */
	size_t used;
};

static size_t raw_header(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct raw *r = opaque;
	size_t n = size * nmemb;
	size_t room = sizeof(r->headers) - 1 - r->used;
	size_t take = n < room ? n : room;

	memcpy(r->headers + r->used, data, take);
	r->used += take;
	r->headers[r->used] = '\0';
	return n;
}

static size_t raw_body(char *data, size_t size, size_t nmemb, void *opaque)
{
	(void)data;
	(void)opaque;
	return size * nmemb;
}

/* Sends method path with the header lines (NULL-terminated) and `body` (NULL: none). */
static void raw_request(const char *method, const char *path, const char *const *lines,
                        const char *body, struct raw *r)
{
	struct curl_slist *headers = NULL;
	char url[512];
	CURL *c = curl_easy_init();

	assert_non_null(c);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fx.producer.port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_body);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	headers = curl_slist_append(headers, "Expect:");
	/* The harness's key, as it_http sends it: these checks are about browsers, not keys. */
	headers = curl_slist_append(headers, "Authorization: Bearer " IT_API_KEY);
	for (; lines && *lines; lines++)
		headers = curl_slist_append(headers, *lines);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (curl_easy_perform(c) != CURLE_OK)
		fail_msg("%s %s: no answer", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
}

/* Whether the response has the header line "name: value" (name case-insensitive). */
static bool has_header(const struct raw *r, const char *name, const char *value)
{
	char want[256];
	size_t n = (size_t)snprintf(want, sizeof(want), "%s: %s\r\n", name, value);
	size_t name_len = strlen(name);

	for (const char *p = r->headers; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncasecmp(p, want, name_len) == 0 &&
		    strncmp(p + name_len, want + name_len, n - name_len) == 0)
			return true;
		if (strchr(p, '\n') == NULL)
			break;
	}
	return false;
}

static void test_origin(void **state)
{
	static const char *const evil[] = {"Origin: https://evil.example",
	                                   "Content-Type: application/json", NULL};
	static const char *const allowed[] = {"Origin: " ALLOWED_ORIGIN,
	                                      "Content-Type: application/json", NULL};
	struct it_response r = {0};
	const char *body = send_body();
	int64_t before = rows();
	char own_origin[64];
	const char *own[] = {own_origin, NULL};
	struct raw raw;

	(void)state;
	/* A page elsewhere: refused, nothing written, whatever the method. */
	it_http_with_headers(&fx.producer, "POST", "/api/messages/send", "application/json", body,
	                     strlen(body), evil, &r);
	expect_error(&r, 403, "https://evil.example");
	it_http_with_headers(&fx.producer, "GET", "/api/messages/pending", NULL, NULL, 0, evil, &r);
	expect_error(&r, 403, "FERRY_CORS_ORIGINS");
	assert_int_equal(rows(), before);
	raw_request("POST", "/api/messages/send", evil, body, &raw);
	assert_int_equal(raw.status, 403);
	assert_false(has_header(&raw, "Access-Control-Allow-Origin", "https://evil.example"));

	/* The service's own page (the dashboard): same host and port as Host. */
	snprintf(own_origin, sizeof(own_origin), "Origin: http://127.0.0.1:%d", fx.producer.port);
	assert_int_equal(it_http_with_headers(&fx.producer, "POST", "/api/messages/send",
	                                      "application/json", body, strlen(body), own, &r),
	                 201);
	assert_int_equal(rows(), before + 1);

	/* A configured origin: answered, with the headers that let its page read the answer. */
	raw_request("POST", "/api/messages/send", allowed, body, &raw);
	assert_int_equal(raw.status, 201);
	assert_true(has_header(&raw, "Access-Control-Allow-Origin", ALLOWED_ORIGIN));
	assert_true(has_header(&raw, "Vary", "Origin"));
	assert_int_equal(rows(), before + 2);
	it_response_free(&r);
}

static void test_preflight(void **state)
{
	static const char *const allowed[] = {"Origin: " ALLOWED_ORIGIN,
	                                      "Access-Control-Request-Method: POST",
	                                      "Access-Control-Request-Headers: authorization, "
	                                      "content-type",
	                                      NULL};
	static const char *const evil[] = {"Origin: https://evil.example",
	                                   "Access-Control-Request-Method: POST", NULL};
	struct raw raw;

	(void)state;
	raw_request("OPTIONS", "/api/messages/send", allowed, NULL, &raw);
	assert_int_equal(raw.status, 204);
	assert_true(has_header(&raw, "Access-Control-Allow-Origin", ALLOWED_ORIGIN));
	assert_true(has_header(&raw, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE"));
	assert_true(
	    has_header(&raw, "Access-Control-Allow-Headers", "Authorization, Content-Type"));
	assert_true(has_header(&raw, "Vary", "Origin"));

	raw_request("OPTIONS", "/api/messages/send", evil, NULL, &raw);
	assert_int_equal(raw.status, 403);
	assert_false(has_header(&raw, "Access-Control-Allow-Origin", "https://evil.example"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_origin),
	    cmocka_unit_test(test_preflight),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
