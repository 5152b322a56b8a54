/*
 * test_http_auth.c - the HTTP server's API key check, with a made-up key table: a route's roles
 * (its own, the secure default for one that states none, or open), 401 with WWW-Authenticate and
 * 403 with the missing role, both before the handler runs; the principal handed to the handler;
 * X-Api-Key; no authenticate callback means every route open. Over loopback HTTP with libcurl.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/http_server.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int handler_calls;

/* Answers 200 {"who": <principal or null>}. */
static void test_h_who(struct http_exchange *ex, void *opaque)
{
	const char *who = http_exchange_principal(ex);

	(void)opaque;
	atomic_fetch_add(&handler_calls, 1);
	http_exchange_respond(ex, 200, json_pack("{s:s?}", "who", who));
}

/* Two keys: "k-read" (reader) and "k-ops" (operator and producer). */
static bool test_authenticate(void *opaque, const char *key, size_t len, unsigned *roles,
                              char *name, size_t name_size)
{
	(void)opaque;
	if (len == 6 && memcmp(key, "k-read", 6) == 0) {
		*roles = AUTH_ROLE_READER;
		snprintf(name, name_size, "reader-key");
		return true;
	}
	if (len == 5 && memcmp(key, "k-ops", 5) == 0) {
		*roles = AUTH_ROLE_OPERATOR | AUTH_ROLE_PRODUCER;
		snprintf(name, name_size, "ops-key");
		return true;
	}
	return false;
}

static const struct http_route routes[] = {
    {"GET", "/open", test_h_who, NULL, HTTP_ROUTE_OPEN},
    {"GET", "/default", test_h_who, NULL, 0},  /* reader */
    {"POST", "/default", test_h_who, NULL, 0}, /* operator */
    {"POST", "/send", test_h_who, NULL, AUTH_ROLE_PRODUCER},
    {"POST", "/ack", test_h_who, NULL, AUTH_ROLE_CONSUMER},
};

struct test_reply {
	long status;
	char body[256];
	char www_auth[64];
};

static size_t test_write(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct test_reply *r = opaque;
	size_t have = strlen(r->body), add = size * nmemb;

	if (have + add >= sizeof(r->body))
		add = sizeof(r->body) - 1 - have;
	memcpy(r->body + have, data, add);
	r->body[have + add] = '\0';
	return size * nmemb;
}

static size_t test_header(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct test_reply *r = opaque;
	size_t n = size * nmemb;

	if (n > 18 && strncasecmp(data, "WWW-Authenticate: ", 18) == 0)
		snprintf(r->www_auth, sizeof(r->www_auth), "%.*s", (int)strcspn(data + 18, "\r\n"),
		         data + 18);
	return n;
}

/* Sends method path with the header line `auth` (NULL: none) and a small body for POST. */
static void test_call(const struct http_server *srv, const char *method, const char *path,
                      const char *auth, struct test_reply *r)
{
	struct curl_slist *headers = NULL;
	char url[256];
	CURL *curl = curl_easy_init();

	assert_non_null(curl);
	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_server_port(srv), path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{\"a\":1}");
	if (auth != NULL)
		headers = curl_slist_append(headers, auth);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, test_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, test_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
}

static struct http_server *test_start(bool with_auth)
{
	struct http_server_options o = {.host = "127.0.0.1",
	                                .threads = 1,
	                                .max_body_bytes = 1024,
	                                .max_connections = 4,
	                                .idle_timeout_s = 5,
	                                .authenticate = with_auth ? test_authenticate : NULL};
	char err[256];
	struct http_server *srv =
	    http_server_start(&o, routes, sizeof(routes) / sizeof(routes[0]), err, sizeof(err));

	assert_non_null(srv);
	return srv;
}

static void test_roles_checked_before_the_handler(void **state)
{
	struct http_server *srv = test_start(true);
	struct test_reply r;

	(void)state;
	atomic_store(&handler_calls, 0);
	test_call(srv, "GET", "/default", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_string_equal(r.body, "{\"error\":\"missing or unknown API key\"}\n");
	assert_string_equal(r.www_auth, "Bearer");
	test_call(srv, "POST", "/default", "Authorization: Bearer nope", &r);
	assert_int_equal(r.status, 401);
	test_call(srv, "POST", "/default", "Authorization: Basic azpr", &r); /* other scheme */
	assert_int_equal(r.status, 401);
	/* The default: GET needs reader, POST operator. */
	test_call(srv, "POST", "/default", "Authorization: Bearer k-read", &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.body, "{\"error\":\"this API key lacks the operator role\"}\n");
	test_call(srv, "GET", "/default", "Authorization: Bearer k-ops", &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.body, "{\"error\":\"this API key lacks the reader role\"}\n");
	test_call(srv, "POST", "/ack", "Authorization: Bearer k-ops", &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.body, "{\"error\":\"this API key lacks the consumer role\"}\n");
	assert_int_equal(atomic_load(&handler_calls), 0); /* none of those reached a handler */
	/* Admitted, with the key's name for the audit trail. */
	test_call(srv, "GET", "/default", "Authorization: Bearer k-read", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"who\":\"reader-key\"}\n");
	test_call(srv, "POST", "/send", "X-Api-Key: k-ops", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"who\":\"ops-key\"}\n");
	test_call(srv, "POST", "/default", "authorization: bearer   k-ops  ", &r);
	assert_int_equal(r.status, 200);
	/* Open: no key needed, and no principal. */
	test_call(srv, "GET", "/open", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"who\":null}\n");
	/* Unknown routes stay 404 with or without a key. */
	test_call(srv, "GET", "/nowhere", NULL, &r);
	assert_int_equal(r.status, 404);
	http_server_stop(srv);
}

static void test_no_authenticate_means_open(void **state)
{
	struct http_server *srv = test_start(false);
	struct test_reply r;

	(void)state;
	test_call(srv, "POST", "/ack", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"who\":null}\n"); /* no principal */
	http_server_stop(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roles_checked_before_the_handler),
	    cmocka_unit_test(test_no_authenticate_means_open),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
