/*
 * test_http_guard.c - browser safety decisions (http_guard.h): Content-Type, Host, Origin,
 * preflight, and the settings' parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/http_guard.h"

static struct http_guard *guard(const char *hosts, const char *origins)
{
	struct http_guard_options o = {
	    .allowed_hosts = hosts,
	    .cors_origins = origins,
	    .bind_host = "127.0.0.1",
	    .hostname = "box1",
	};
	char errstr[256] = "";
	struct http_guard *g = http_guard_new(&o, errstr, sizeof(errstr));

	if (g == NULL)
		fail_msg("http_guard_new: %s", errstr);
	return g;
}

static struct http_guard_verdict check(const struct http_guard *g, const char *method,
                                       const char *ct, const char *host, const char *origin)
{
	struct http_guard_request r = {
	    .method = method, .content_type = ct, .host = host, .origin = origin};
	struct http_guard_verdict v;

	http_guard_check(g, &r, &v);
	return v;
}

static void test_json_content_type(void **state)
{
	(void)state;
	assert_true(http_guard_is_json("application/json"));
	assert_true(http_guard_is_json("application/json; charset=utf-8"));
	assert_true(http_guard_is_json("Application/JSON;charset=UTF-8"));
	assert_true(http_guard_is_json("application/json ; charset=utf-8"));
	assert_false(http_guard_is_json(NULL));
	assert_false(http_guard_is_json(""));
	assert_false(http_guard_is_json("text/plain"));
	assert_false(http_guard_is_json("application/x-www-form-urlencoded"));
	assert_false(http_guard_is_json("multipart/form-data; boundary=x"));
	assert_false(http_guard_is_json("application/jsonp"));
	assert_false(http_guard_is_json("application/json-patch+json"));
	assert_false(http_guard_is_json("text/plain; application/json"));
}

static void test_writes_need_json(void **state)
{
	struct http_guard *g = guard(NULL, NULL);
	static const char *const writes[] = {"POST", "PUT", "PATCH", "DELETE"};
	struct http_guard_verdict v;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		v = check(g, writes[i], "text/plain", "localhost:5301", NULL);
		assert_int_equal(v.action, HTTP_GUARD_REFUSE);
		assert_int_equal(v.status, 415);
		assert_string_equal(v.error, "Content-Type must be application/json");
		/* No body is no excuse: a body-less POST re-drives a message. */
		v = check(g, writes[i], NULL, "localhost:5301", NULL);
		assert_int_equal(v.status, 415);
		v = check(g, writes[i], "application/json;charset=utf-8", "localhost:5301", NULL);
		assert_int_equal(v.action, HTTP_GUARD_PASS);
	}
	v = check(g, "POST", "application/x-www-form-urlencoded", "localhost", NULL);
	assert_int_equal(v.status, 415);
	v = check(g, "GET", NULL, "localhost:5301", NULL);
	assert_int_equal(v.action, HTTP_GUARD_PASS);
	v = check(g, "GET", "text/plain", "localhost:5301", NULL);
	assert_int_equal(v.action, HTTP_GUARD_PASS);
	http_guard_destroy(g);
}

static void test_default_hosts(void **state)
{
	struct http_guard *g = guard("", NULL);
	static const char *const ok[] = {
	    "localhost", "localhost:5301", "LOCALHOST:5301", "localhost.:5301",
	    "127.0.0.1", "127.0.0.1:5301", "[::1]:5301",     "[::1]",
	    "box1:5301", "BOX1",           "10.1.2.3:5301",  "[fe80::1]:80",
	};
	static const char *const refused[] = {
	    "evil.example",   "evil.example:5301", "127.0.0.1.evil.example",
	    "localhost.evil", "box2:5301",         "box1.evil.example",
	};
	struct http_guard_verdict v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = check(g, "GET", NULL, ok[i], NULL);
		if (v.action != HTTP_GUARD_PASS)
			fail_msg("Host %s refused: %d %s", ok[i], v.status, v.error);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		v = check(g, "GET", NULL, refused[i], NULL);
		if (v.action != HTTP_GUARD_REFUSE || v.status != 421)
			fail_msg("Host %s not refused with 421: %d", refused[i], v.status);
		assert_non_null(strstr(v.error, "FERRY_ALLOWED_HOSTS"));
	}
	/* Malformed: 400. */
	v = check(g, "GET", NULL, "local host", NULL);
	assert_int_equal(v.status, 400);
	v = check(g, "GET", NULL, "localhost:99999", NULL);
	assert_int_equal(v.status, 400);
	v = check(g, "GET", NULL, "user@localhost", NULL);
	assert_int_equal(v.status, 400);
	/* No Host (HTTP/1.0): not a browser. */
	v = check(g, "GET", NULL, NULL, NULL);
	assert_int_equal(v.action, HTTP_GUARD_PASS);
	/* The Host check comes before the Content-Type check. */
	v = check(g, "POST", "text/plain", "evil.example", NULL);
	assert_int_equal(v.status, 421);
	http_guard_destroy(g);
}

static void test_configured_hosts(void **state)
{
	struct http_guard *g = guard(" producer1 , ferry.example.com", NULL);
	struct http_guard_verdict v;

	(void)state;
	assert_int_equal(check(g, "GET", NULL, "producer1:5301", NULL).action, HTTP_GUARD_PASS);
	assert_int_equal(check(g, "GET", NULL, "Ferry.Example.com", NULL).action, HTTP_GUARD_PASS);
	/* Always allowed: names a rebinding page cannot have. */
	assert_int_equal(check(g, "GET", NULL, "localhost:1", NULL).action, HTTP_GUARD_PASS);
	assert_int_equal(check(g, "GET", NULL, "192.168.0.7:5301", NULL).action, HTTP_GUARD_PASS);
	/* The defaults are replaced. */
	v = check(g, "GET", NULL, "box1:5301", NULL);
	assert_int_equal(v.status, 421);
	http_guard_destroy(g);

	g = guard("*", NULL);
	assert_int_equal(check(g, "GET", NULL, "evil.example", NULL).action, HTTP_GUARD_PASS);
	http_guard_destroy(g);
}

static void test_bad_settings(void **state)
{
	static const struct {
		const char *hosts, *origins, *want;
	} bad[] = {
	    {"localhost:5301", NULL, "FERRY_ALLOWED_HOSTS: 'localhost:5301' is not a host name"},
	    {"http://x", NULL, "FERRY_ALLOWED_HOSTS: 'http://x' is not a host name"},
	    {"a b", NULL, "FERRY_ALLOWED_HOSTS: 'a b' is not a host name"},
	    {NULL, "app.example.com", "FERRY_CORS_ORIGINS: 'app.example.com' is not an origin"},
	    {NULL, "https://app.example.com/", "FERRY_CORS_ORIGINS: 'https://app.example.com/'"},
	    {NULL, "https://a.example, null", "FERRY_CORS_ORIGINS: 'null' is not an origin"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct http_guard_options o = {.allowed_hosts = bad[i].hosts,
		                               .cors_origins = bad[i].origins};
		char errstr[256] = "";
		struct http_guard *g = http_guard_new(&o, errstr, sizeof(errstr));

		if (g != NULL)
			fail_msg("%s / %s accepted", bad[i].hosts, bad[i].origins);
		if (strstr(errstr, bad[i].want) == NULL)
			fail_msg("error '%s' lacks '%s'", errstr, bad[i].want);
	}
}

static void test_origin(void **state)
{
	struct http_guard *g = guard(NULL, "https://ops.example.com, http://localhost:3000");
	struct http_guard_verdict v;

	(void)state;
	/* The page's own origin: same name and port as Host. */
	v = check(g, "POST", "application/json", "localhost:5301", "http://localhost:5301");
	assert_int_equal(v.action, HTTP_GUARD_PASS);
	assert_false(v.cors);
	v = check(g, "POST", "application/json", "127.0.0.1:80", "http://127.0.0.1");
	assert_int_equal(v.action, HTTP_GUARD_PASS);
	/* Another port of the same host is another origin. */
	v = check(g, "POST", "application/json", "localhost:5301", "http://localhost:8080");
	assert_int_equal(v.action, HTTP_GUARD_REFUSE);
	assert_int_equal(v.status, 403);
	assert_non_null(strstr(v.error, "http://localhost:8080"));
	/* Refused whatever the method or content type. */
	v = check(g, "GET", NULL, "localhost:5301", "https://evil.example");
	assert_int_equal(v.status, 403);
	v = check(g, "POST", "text/plain", "localhost:5301", "https://evil.example");
	assert_int_equal(v.status, 403);
	v = check(g, "POST", "application/json", "localhost:5301", "null");
	assert_int_equal(v.status, 403);
	/* Configured origins pass, with the CORS headers. */
	v = check(g, "POST", "application/json", "localhost:5301", "https://OPS.example.com:443");
	assert_int_equal(v.action, HTTP_GUARD_PASS);
	assert_true(v.cors);
	v = check(g, "GET", NULL, "localhost:5301", "http://localhost:3000");
	assert_true(v.cors);
	/* ... and still need JSON; the page may read why. */
	v = check(g, "POST", "text/plain", "localhost:5301", "https://ops.example.com");
	assert_int_equal(v.status, 415);
	assert_true(v.cors);
	http_guard_destroy(g);
}

static void test_preflight(void **state)
{
	struct http_guard *g = guard(NULL, "https://ops.example.com");
	struct http_guard_request r = {.method = "OPTIONS",
	                               .host = "localhost:5301",
	                               .origin = "https://ops.example.com",
	                               .preflight = "POST"};
	struct http_guard_verdict v;

	(void)state;
	http_guard_check(g, &r, &v);
	assert_int_equal(v.action, HTTP_GUARD_PREFLIGHT);
	assert_int_equal(v.status, 204);
	assert_true(v.cors);
	r.origin = "https://evil.example";
	http_guard_check(g, &r, &v);
	assert_int_equal(v.action, HTTP_GUARD_REFUSE);
	assert_int_equal(v.status, 403);
	/* OPTIONS that is no preflight goes on to routing (405 there). */
	r.origin = NULL;
	r.preflight = NULL;
	http_guard_check(g, &r, &v);
	assert_int_equal(v.action, HTTP_GUARD_PASS);
	http_guard_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_content_type), cmocka_unit_test(test_writes_need_json),
	    cmocka_unit_test(test_default_hosts),     cmocka_unit_test(test_configured_hosts),
	    cmocka_unit_test(test_bad_settings),      cmocka_unit_test(test_origin),
	    cmocka_unit_test(test_preflight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
