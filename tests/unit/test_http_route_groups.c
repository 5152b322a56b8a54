/*
 * test_http_route_groups.c - http_server_start_groups: the groups' routes are tried in order
 * across groups, copied (the caller's groups array may go), and bounded (HTTP_MAX_ROUTES in
 * all; a group claiming routes it does not have, or a count that would wrap, fails the start
 * with a line instead of reading past an array). Over real loopback HTTP, driven by libcurl.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/http_server.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_h_named(struct http_exchange *ex, void *opaque)
{
	http_exchange_respond(ex, 200, json_pack("{s:s}", "who", (const char *)opaque));
}

static const struct http_route fixed_routes[] = {
    {"GET", "/api/items/fixed", test_h_named, "fixed", 0},
};
static const struct http_route param_routes[] = {
    {"GET", "/api/items/{id}", test_h_named, "param", 0},
    {"POST", "/api/items", test_h_named, "post", 0},
};

static const struct http_server_options test_opts = {.host = "127.0.0.1",
                                                     .port = 0,
                                                     .threads = 1,
                                                     .max_body_bytes = 1024,
                                                     .max_connections = 4,
                                                     .idle_timeout_s = 5};

static size_t test_write(char *data, size_t size, size_t nmemb, void *opaque)
{
	char *buf = opaque;
	size_t have = strlen(buf), add = size * nmemb;

	if (have + add >= 256)
		add = 255 - have;
	memcpy(buf + have, data, add);
	buf[have + add] = '\0';
	return size * nmemb;
}

/* GETs path; returns the status, the body in buf (256 bytes). */
static long test_get(const struct http_server *srv, const char *path, char *buf)
{
	char url[256];
	long status = 0;
	CURL *curl = curl_easy_init();

	assert_non_null(curl);
	buf[0] = '\0';
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", http_server_port(srv), path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, test_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, buf);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
	assert_int_equal(curl_easy_perform(curl), CURLE_OK);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	return status;
}

/* Starts a server from groups built in this frame and scribbled over before returning: the
 * server must have copied them. */
static struct http_server *test_start_two(const struct http_route *first, size_t nfirst,
                                          const struct http_route *second, size_t nsecond)
{
	struct http_route_group groups[3] = {{first, nfirst},
	                                     {NULL, 0}, /* an empty group is fine */
	                                     {second, nsecond}};
	char err[256];
	struct http_server *srv = http_server_start_groups(&test_opts, groups, 3, err, sizeof(err));

	if (srv == NULL)
		fail_msg("http_server_start_groups: %s", err);
	memset(groups, 0xa5, sizeof(groups));
	return srv;
}

/* The first group's routes are tried first: a fixed path before the pattern that would also
 * match it, whichever group each is in. */
static void test_groups_in_order(void **state)
{
	struct http_server *srv;
	char body[256];

	(void)state;
	srv = test_start_two(fixed_routes, 1, param_routes, 2);
	assert_int_equal(test_get(srv, "/api/items/fixed", body), 200);
	assert_non_null(strstr(body, "\"fixed\""));
	assert_int_equal(test_get(srv, "/api/items/7", body), 200);
	assert_non_null(strstr(body, "\"param\""));
	assert_int_equal(test_get(srv, "/api/other", body), 404);
	/* The method check sees every group's routes: POST-only /api/items gives 405. */
	assert_int_equal(test_get(srv, "/api/items", body), 405);
	http_server_stop(srv);

	srv = test_start_two(param_routes, 2, fixed_routes, 1);
	assert_int_equal(test_get(srv, "/api/items/fixed", body), 200);
	assert_non_null(strstr(body, "\"param\""));
	http_server_stop(srv);
}

/* HTTP_MAX_ROUTES routes in all start; one more fails with a line, and so do a group without
 * its array and counts that would wrap a sum. */
static void test_groups_bounded(void **state)
{
	struct http_route *many = calloc(HTTP_MAX_ROUTES, sizeof(*many));
	struct http_route_group groups[2];
	struct http_server *srv;
	char err[256], body[256];

	(void)state;
	assert_non_null(many);
	for (size_t i = 0; i < HTTP_MAX_ROUTES; i++)
		many[i] = fixed_routes[0];

	groups[0] = (struct http_route_group){many, HTTP_MAX_ROUTES - 1};
	groups[1] = (struct http_route_group){param_routes, 1};
	srv = http_server_start_groups(&test_opts, groups, 2, err, sizeof(err));
	assert_non_null(srv);
	assert_int_equal(test_get(srv, "/api/items/3", body), 200);
	http_server_stop(srv);

	groups[0].n = HTTP_MAX_ROUTES;
	err[0] = '\0';
	assert_null(http_server_start_groups(&test_opts, groups, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "more than 256 routes (route group 1)"));

	groups[0] = (struct http_route_group){fixed_routes, 1};
	groups[1] = (struct http_route_group){param_routes, SIZE_MAX};
	err[0] = '\0';
	assert_null(http_server_start_groups(&test_opts, groups, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "more than 256 routes"));

	groups[1] = (struct http_route_group){NULL, 1};
	err[0] = '\0';
	assert_null(http_server_start_groups(&test_opts, groups, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "route group 1: 1 routes but no array"));

	/* A bad route in a later group is named by its place in the whole table. */
	static const struct http_route bad[] = {{"GET", "no-slash", test_h_named, "x", 0}};
	groups[1] = (struct http_route_group){bad, 1};
	err[0] = '\0';
	assert_null(http_server_start_groups(&test_opts, groups, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "route 1:"));
	free(many);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_groups_in_order),
	    cmocka_unit_test(test_groups_bounded),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
