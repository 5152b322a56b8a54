/*
 * test_http_server.c - http_server over real loopback HTTP, driven by libcurl.
 *
 * One server (port 0 on 127.0.0.1, two threads, 64 KiB body limit) serves most tests; those
 * about limits, timeouts, quiescing, stopping and start-up start servers of their own. The
 * asynchronous tests hand exchanges to other threads, as the batcher does.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/http_server.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TEST_MAX_BODY       (64 * 1024)
#define TEST_BIG_BODY       (2 * 1024 * 1024)
#define TEST_ASYNC_REQUESTS 50
#define TEST_ASYNC_DELAY_MS 50

/* --- async responder: answers queued exchanges TEST_ASYNC_DELAY_MS after they arrived --- */

struct test_pending {
	struct http_exchange *ex;
	int64_t due_ms;
	int seq;
	struct test_pending *next;
};

static struct {
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	struct test_pending *head, *tail;
	bool stop;
	int seq;
	pthread_t thread;
} test_async = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static struct http_server *test_srv;
static int test_port;

static int64_t test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *test_async_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&test_async.mutex);
	for (;;) {
		struct test_pending *p;
		int64_t wait;

		while (test_async.head == NULL && !test_async.stop)
			pthread_cond_wait(&test_async.cond, &test_async.mutex);
		if (test_async.head == NULL)
			break;
		p = test_async.head;
		wait = p->due_ms - test_now_ms();
		if (wait > 0) {
			pthread_mutex_unlock(&test_async.mutex);
			usleep((useconds_t)wait * 1000);
			pthread_mutex_lock(&test_async.mutex);
			continue;
		}
		test_async.head = p->next;
		if (test_async.head == NULL)
			test_async.tail = NULL;
		pthread_mutex_unlock(&test_async.mutex);
		http_exchange_respond(p->ex, 200, json_pack("{s:i}", "seq", p->seq));
		free(p);
		pthread_mutex_lock(&test_async.mutex);
	}
	pthread_mutex_unlock(&test_async.mutex);
	return NULL;
}

/* --- handlers --- */

static void test_h_item(struct http_exchange *ex, void *opaque)
{
	(void)opaque;
	http_exchange_respond(
	    ex, 200,
	    json_pack("{s:s?, s:s?, s:s?, s:s}", "id", http_exchange_param(ex, "id"), "q",
	              http_exchange_query(ex, "q"), "h", http_exchange_header(ex, "x-test"), "path",
	              http_exchange_path(ex)));
}

static void test_h_echo(struct http_exchange *ex, void *opaque)
{
	json_t *value = http_exchange_parse_json(ex);

	(void)opaque;
	if (value == NULL)
		return;
	http_exchange_respond(
	    ex, 200, json_pack("{s:o, s:s}", "got", value, "method", http_exchange_method(ex)));
}

static void test_h_two(struct http_exchange *ex, void *opaque)
{
	(void)opaque;
	http_exchange_respond(ex, 201,
	                      json_pack("{s:s, s:s}", "a", http_exchange_param(ex, "a"), "b",
	                                http_exchange_param(ex, "b")));
}

static void test_h_async(struct http_exchange *ex, void *opaque)
{
	struct test_pending *p = calloc(1, sizeof(*p));

	(void)opaque;
	if (p == NULL)
		abort(); /* cmocka's asserts only work on the test's own thread */
	p->ex = ex;
	p->due_ms = test_now_ms() + TEST_ASYNC_DELAY_MS;
	pthread_mutex_lock(&test_async.mutex);
	p->seq = ++test_async.seq;
	if (test_async.tail != NULL)
		test_async.tail->next = p;
	else
		test_async.head = p;
	test_async.tail = p;
	pthread_cond_signal(&test_async.cond);
	pthread_mutex_unlock(&test_async.mutex);
}

static void *test_race_responder(void *arg)
{
	http_exchange_respond(arg, 200, json_pack("{s:b}", "raced", 1));
	return NULL;
}

/* Answers from another thread before the handler returns. */
static void test_h_race(struct http_exchange *ex, void *opaque)
{
	pthread_t t;

	(void)opaque;
	if (pthread_create(&t, NULL, test_race_responder, ex) != 0)
		abort();
	pthread_join(t, NULL);
}

static void *test_slow_responder(void *arg)
{
	usleep(1500 * 1000);
	http_exchange_respond(arg, 200, json_pack("{s:b}", "slow", 1));
	return NULL;
}

/* Answers 1.5 s later from a thread of its own. */
static void test_h_slow(struct http_exchange *ex, void *opaque)
{
	pthread_t t;

	(void)opaque;
	if (pthread_create(&t, NULL, test_slow_responder, ex) != 0)
		abort();
	pthread_detach(t);
}

static void test_h_fail(struct http_exchange *ex, void *opaque)
{
	(void)opaque;
	http_exchange_error(ex, 503, "database unavailable: %s", "try later");
}

/* Raw bytes, not JSON: ?kind=html (a page with a NUL byte inside, to show nothing is cut at
 * it), empty (204, no bytes), raw (no content type given), bad (an invalid status). */
static const char test_page[] = "<!doctype html>\n<p>caf\xc3\xa9</p>\0tail";

static void test_h_bytes(struct http_exchange *ex, void *opaque)
{
	const char *kind = http_exchange_query(ex, "kind");
	char copy[sizeof(test_page)];

	(void)opaque;
	if (kind != NULL && strcmp(kind, "empty") == 0) {
		http_exchange_respond_bytes(ex, 204, NULL, NULL, 0);
	} else if (kind != NULL && strcmp(kind, "raw") == 0) {
		http_exchange_respond_bytes(ex, 200, NULL, "abc", 3);
	} else if (kind != NULL && strcmp(kind, "bad") == 0) {
		http_exchange_respond_bytes(ex, 99, "text/plain", "x", 1);
	} else {
		/* The bytes are copied: scribbling over the buffer afterwards changes nothing. */
		memcpy(copy, test_page, sizeof(copy));
		http_exchange_respond_bytes(ex, 200, "text/html; charset=utf-8", copy,
		                            sizeof(copy) - 1);
		memset(copy, 'X', sizeof(copy));
	}
}

static const struct http_route test_routes[] = {
    {"GET", "/items/{id}", test_h_item, NULL, 0},  /* echoes param, query, header, path */
    {"POST", "/echo", test_h_echo, NULL, 0},       /* parses and echoes the JSON body */
    {"PUT", "/echo", test_h_echo, NULL, 0},        /* same, for 405's Allow list */
    {"POST", "/a/{a}/b/{b}", test_h_two, NULL, 0}, /* two parameters */
    {"POST", "/async", test_h_async, NULL, 0},     /* answered 50 ms later by test_async */
    {"GET", "/race", test_h_race, NULL, 0},        /* answered before the handler returns */
    {"GET", "/fail", test_h_fail, NULL, 0},        /* 503 */
    {"GET", "/slow", test_h_slow, NULL, 0},        /* answered 1.5 s later */
    {"GET", "/bytes", test_h_bytes, NULL, 0},      /* raw bytes with a content type */
};

/* --- HTTP client helpers --- */

struct test_reply {
	long status;
	char *body;
	size_t len;
	char content_type[128];
	char allow[128];
	CURLcode rc;
};

enum test_body_mode { TEST_BODY_LENGTH, TEST_BODY_LENGTH_NO_EXPECT, TEST_BODY_CHUNKED };

struct test_upload {
	const char *data;
	size_t len;
	size_t off;
};

static size_t test_on_body(char *ptr, size_t size, size_t n, void *arg)
{
	struct test_reply *r = arg;
	char *grown = realloc(r->body, r->len + size * n + 1);

	if (grown == NULL)
		return 0;
	r->body = grown;
	memcpy(r->body + r->len, ptr, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static void test_copy_header_value(char *dst, size_t dst_size, const char *line, size_t len,
                                   size_t name_len)
{
	size_t start = name_len, end = len;

	while (start < end && (line[start] == ' ' || line[start] == '\t'))
		start++;
	while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n'))
		end--;
	snprintf(dst, dst_size, "%.*s", (int)(end - start), line + start);
}

static size_t test_on_header(char *line, size_t size, size_t n, void *arg)
{
	struct test_reply *r = arg;
	size_t len = size * n;

	if (len > 13 && strncasecmp(line, "Content-Type:", 13) == 0)
		test_copy_header_value(r->content_type, sizeof(r->content_type), line, len, 13);
	else if (len > 6 && strncasecmp(line, "Allow:", 6) == 0)
		test_copy_header_value(r->allow, sizeof(r->allow), line, len, 6);
	return len;
}

static size_t test_on_read(char *buf, size_t size, size_t n, void *arg)
{
	struct test_upload *up = arg;
	size_t want = size * n, left = up->len - up->off;

	if (want > left)
		want = left;
	memcpy(buf, up->data + up->off, want);
	up->off += want;
	return want;
}

static CURL *test_easy(const char *method, const char *path, struct test_reply *r)
{
	char url[512];
	CURL *c = curl_easy_init();

	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", test_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, test_on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, test_on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	return c;
}

/* Performs one request; body may be NULL. The reply's body is always NUL-terminated. */
static void test_request(const char *method, const char *path, const char *body, size_t len,
                         enum test_body_mode mode, struct test_reply *r)
{
	struct curl_slist *headers = NULL;
	struct test_upload up = {body, len, 0};
	CURL *c;

	memset(r, 0, sizeof(*r));
	c = test_easy(method, path, r);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		if (mode == TEST_BODY_CHUNKED) {
			curl_easy_setopt(c, CURLOPT_READFUNCTION, test_on_read);
			curl_easy_setopt(c, CURLOPT_READDATA, &up);
			headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
		} else {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		}
		/* Without "Expect: 100-continue" the client sends the body without waiting. */
		if (mode != TEST_BODY_LENGTH)
			headers = curl_slist_append(headers, "Expect:");
		else
			headers = curl_slist_append(headers, "Expect: 100-continue");
	}
	headers = curl_slist_append(headers, "X-Test: hello");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(headers);
	if (r->body == NULL)
		r->body = calloc(1, 1);
}

static void test_reply_free(struct test_reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* Parses the reply body as JSON and checks the framing every response must have. */
static json_t *test_reply_json(const struct test_reply *r)
{
	json_error_t err;
	json_t *j;

	assert_int_equal(r->rc, CURLE_OK);
	assert_string_equal(r->content_type, "application/json");
	assert_true(r->len > 0);
	assert_int_equal(r->body[r->len - 1], '\n');
	j = json_loadb(r->body, r->len, 0, &err);
	assert_non_null(j);
	return j;
}

static void test_expect_error(const struct test_reply *r, long status, const char *prefix)
{
	json_t *j = test_reply_json(r);
	const char *msg = json_string_value(json_object_get(j, "error"));

	assert_int_equal(r->status, status);
	assert_non_null(msg);
	if (strncmp(msg, prefix, strlen(prefix)) != 0)
		fail_msg("error \"%s\" does not start with \"%s\"", msg, prefix);
	json_decref(j);
}

/* --- fixtures --- */

static int test_group_setup(void **state)
{
	struct http_server_options opts = {.host = "127.0.0.1",
	                                   .port = 0,
	                                   .threads = 2,
	                                   .max_body_bytes = TEST_MAX_BODY,
	                                   .max_connections = 128,
	                                   .idle_timeout_s = 10};
	char err[256];

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_srv = http_server_start(
	    &opts, test_routes, sizeof(test_routes) / sizeof(test_routes[0]), err, sizeof(err));
	if (test_srv == NULL) {
		fprintf(stderr, "http_server_start: %s\n", err);
		return -1;
	}
	test_port = http_server_port(test_srv);
	if (test_port <= 0)
		return -1;
	if (pthread_create(&test_async.thread, NULL, test_async_main, NULL) != 0)
		return -1;
	return 0;
}

static int test_group_teardown(void **state)
{
	(void)state;
	pthread_mutex_lock(&test_async.mutex);
	test_async.stop = true;
	pthread_cond_signal(&test_async.cond);
	pthread_mutex_unlock(&test_async.mutex);
	pthread_join(test_async.thread, NULL);
	http_server_stop(test_srv);
	test_srv = NULL;
	curl_global_cleanup();
	return 0;
}

/* --- tests --- */

static void test_get_param_echo(void **state)
{
	struct test_reply r;
	json_t *j;

	(void)state;
	test_request("GET", "/items/42", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 200);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "42");
	assert_true(json_is_null(json_object_get(j, "q")));
	assert_string_equal(json_string_value(json_object_get(j, "h")), "hello");
	json_decref(j);
	test_reply_free(&r);

	/* Percent-encoded '/' stays inside the segment; trailing slash tolerated; query decoded. */
	test_request("GET", "/items/a%2Fb%20c/?q=x%20y", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 200);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "a/b c");
	assert_string_equal(json_string_value(json_object_get(j, "q")), "x y");
	json_decref(j);
	test_reply_free(&r);

	/* An argument without '=' has no value. */
	test_request("GET", "/items/1?q", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 200);
	j = test_reply_json(&r);
	assert_true(json_is_null(json_object_get(j, "q")));
	json_decref(j);
	test_reply_free(&r);
}

static void test_two_params(void **state)
{
	struct test_reply r;
	json_t *j;

	(void)state;
	test_request("POST", "/a/x/b/y", "", 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 201);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "a")), "x");
	assert_string_equal(json_string_value(json_object_get(j, "b")), "y");
	json_decref(j);
	test_reply_free(&r);
}

static void test_post_json_echo(void **state)
{
	static const char body[] = "{\"a\":[1,2,\"\xc3\xa9\"],\"b\":{\"c\":null}}";
	static const enum test_body_mode modes[] = {TEST_BODY_LENGTH, TEST_BODY_CHUNKED};
	json_t *want = json_loads(body, 0, NULL);

	(void)state;
	assert_non_null(want);
	for (size_t i = 0; i < 2; i++) {
		struct test_reply r;
		json_t *j;

		test_request("POST", "/echo", body, strlen(body), modes[i], &r);
		assert_int_equal(r.status, 200);
		j = test_reply_json(&r);
		assert_true(json_equal(json_object_get(j, "got"), want));
		assert_string_equal(json_string_value(json_object_get(j, "method")), "POST");
		json_decref(j);
		test_reply_free(&r);
	}
	json_decref(want);
}

/* A body of exactly the limit is accepted, whether announced or chunked. */
static void test_body_at_limit(void **state)
{
	static const enum test_body_mode modes[] = {TEST_BODY_LENGTH, TEST_BODY_CHUNKED};
	char *body = malloc(TEST_MAX_BODY);

	(void)state;
	assert_non_null(body);
	/* {"s":"xxx...x"} of exactly TEST_MAX_BODY bytes */
	memset(body, 'x', TEST_MAX_BODY);
	memcpy(body, "{\"s\":\"", 6);
	memcpy(body + TEST_MAX_BODY - 2, "\"}", 2);
	for (size_t i = 0; i < 2; i++) {
		struct test_reply r;
		json_t *j;

		test_request("POST", "/echo", body, TEST_MAX_BODY, modes[i], &r);
		assert_int_equal(r.status, 200);
		j = test_reply_json(&r);
		assert_int_equal(
		    json_string_length(json_object_get(json_object_get(j, "got"), "s")),
		    TEST_MAX_BODY - 8);
		json_decref(j);
		test_reply_free(&r);
	}
	free(body);
}

static void test_not_found(void **state)
{
	static const char *const paths[] = {"/items", "/items/1/extra", "/items//", "/"};
	struct test_reply r;
	json_t *j;

	(void)state;
	test_request("GET", "/nope", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 404);
	j = test_reply_json(&r);
	assert_string_equal(json_string_value(json_object_get(j, "error")),
	                    "no route for GET /nope");
	json_decref(j);
	test_reply_free(&r);

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		test_request("GET", paths[i], NULL, 0, TEST_BODY_LENGTH, &r);
		test_expect_error(&r, 404, "no route for GET ");
		test_reply_free(&r);
	}

	/* With a body, the 404 comes after the body has been read. */
	test_request("POST", "/nope", "{\"a\":1}", 7, TEST_BODY_CHUNKED, &r);
	test_expect_error(&r, 404, "no route for POST /nope");
	test_reply_free(&r);
}

static void test_method_not_allowed(void **state)
{
	struct test_reply r;

	(void)state;
	test_request("GET", "/echo", NULL, 0, TEST_BODY_LENGTH, &r);
	test_expect_error(&r, 405, "method GET not allowed for /echo");
	assert_string_equal(r.allow, "POST, PUT");
	test_reply_free(&r);

	test_request("DELETE", "/items/7", NULL, 0, TEST_BODY_LENGTH, &r);
	test_expect_error(&r, 405, "method DELETE not allowed");
	assert_string_equal(r.allow, "GET");
	test_reply_free(&r);

	test_request("BREW", "/items/7", NULL, 0, TEST_BODY_LENGTH, &r);
	test_expect_error(&r, 405, "method BREW not allowed");
	test_reply_free(&r);
}

static void test_body_too_large(void **state)
{
	static const enum test_body_mode modes[] = {TEST_BODY_LENGTH, TEST_BODY_LENGTH_NO_EXPECT,
	                                            TEST_BODY_CHUNKED};
	char *big = malloc(TEST_BIG_BODY);
	char want[64];
	struct test_reply r;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', TEST_BIG_BODY);
	snprintf(want, sizeof(want), "request body exceeds %d bytes", TEST_MAX_BODY);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		test_request("POST", "/echo", big, TEST_BIG_BODY, modes[i], &r);
		test_expect_error(&r, 413, want);
		test_reply_free(&r);
	}
	/* One byte over is enough. */
	test_request("POST", "/echo", big, TEST_MAX_BODY + 1, TEST_BODY_LENGTH, &r);
	test_expect_error(&r, 413, want);
	test_reply_free(&r);
	test_request("POST", "/echo", big, TEST_MAX_BODY + 1, TEST_BODY_CHUNKED, &r);
	test_expect_error(&r, 413, want);
	test_reply_free(&r);
	free(big);

	/* And the server still serves. */
	test_request("GET", "/items/1", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 200);
	test_reply_free(&r);
}

static void test_bad_json(void **state)
{
	static const struct {
		const char *body;
		size_t len;
		const char *prefix;
	} cases[] = {
	    {"{\"a\":", 5, "invalid JSON: "},
	    {"{\"a\":1} x", 9, "invalid JSON: "},
	    {"[\"\xff\"]", 5, "invalid JSON: "},         /* invalid UTF-8 */
	    {"[\"\xc3\"]", 5, "invalid JSON: "},         /* truncated UTF-8 */
	    {"[\"\xed\xa0\x80\"]", 7, "invalid JSON: "}, /* UTF-8-encoded surrogate */
	    {"[\"\\ud800\"]", 10, "invalid JSON: "},     /* lone surrogate escape */
	    {"[\"a\\u0000b\"]", 12, "invalid JSON: "},   /* escaped NUL */
	    {"{\"a\":1}\0", 8, "invalid JSON: "},        /* raw NUL byte */
	    {"[\"a\0b\"]", 7, "invalid JSON: "},         /* raw NUL in a string */
	    {"\"scalar\"", 8, "invalid JSON: "},         /* top level must be {} or [] */
	    {"", 0, "request body is empty: expected JSON"},
	};
	json_t *j;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct test_reply r;

		test_request("POST", "/echo", cases[i].body, cases[i].len, TEST_BODY_LENGTH, &r);
		test_expect_error(&r, 400, cases[i].prefix);
		test_reply_free(&r);
	}

	/* Where the parser stopped is in the message. */
	{
		struct test_reply r;
		const char *msg;

		test_request("POST", "/echo", "{\n\"a\": tru }", 12, TEST_BODY_LENGTH, &r);
		j = test_reply_json(&r);
		msg = json_string_value(json_object_get(j, "error"));
		assert_non_null(msg);
		assert_non_null(strstr(msg, " at line 2 column "));
		json_decref(j);
		test_reply_free(&r);
	}
}

static void test_server_error(void **state)
{
	struct test_reply r;

	(void)state;
	test_request("GET", "/fail", NULL, 0, TEST_BODY_LENGTH, &r);
	test_expect_error(&r, 503, "database unavailable: try later");
	test_reply_free(&r);
}

/* Handlers that answer from another thread: 50 requests at once on a two-thread pool. If a
 * waiting request held its thread, they would take >= 50 * 50 ms / 2 = 1.25 s. */
static void test_async_concurrent(void **state)
{
	struct test_reply replies[TEST_ASYNC_REQUESTS];
	CURL *easies[TEST_ASYNC_REQUESTS];
	CURLM *multi = curl_multi_init();
	int running = 0;
	bool seen[TEST_ASYNC_REQUESTS + 1];
	int64_t start, elapsed;

	(void)state;
	assert_non_null(multi);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < TEST_ASYNC_REQUESTS; i++) {
		memset(&replies[i], 0, sizeof(replies[i]));
		easies[i] = test_easy("POST", "/async", &replies[i]);
		curl_easy_setopt(easies[i], CURLOPT_POSTFIELDS, "{}");
		curl_easy_setopt(easies[i], CURLOPT_FORBID_REUSE, 1L);
		curl_multi_add_handle(multi, easies[i]);
	}
	start = test_now_ms();
	do {
		assert_int_equal(curl_multi_perform(multi, &running), CURLM_OK);
		if (running > 0)
			assert_int_equal(curl_multi_poll(multi, NULL, 0, 1000, NULL), CURLM_OK);
	} while (running > 0);
	elapsed = test_now_ms() - start;

	for (;;) {
		int left;
		CURLMsg *msg = curl_multi_info_read(multi, &left);

		if (msg == NULL)
			break;
		if (msg->msg == CURLMSG_DONE)
			assert_int_equal(msg->data.result, CURLE_OK);
	}
	for (int i = 0; i < TEST_ASYNC_REQUESTS; i++) {
		json_t *j;
		json_int_t seq;

		curl_easy_getinfo(easies[i], CURLINFO_RESPONSE_CODE, &replies[i].status);
		assert_int_equal(replies[i].status, 200);
		j = test_reply_json(&replies[i]);
		seq = json_integer_value(json_object_get(j, "seq"));
		json_decref(j);
		/* Every request got its own answer. */
		assert_true(seq >= 1 && seq <= TEST_ASYNC_REQUESTS);
		assert_false(seen[seq]);
		seen[seq] = true;
		curl_multi_remove_handle(multi, easies[i]);
		curl_easy_cleanup(easies[i]);
		test_reply_free(&replies[i]);
	}
	curl_multi_cleanup(multi);
	if (elapsed >= 1000)
		fail_msg("50 async requests took %lld ms: suspended requests block threads",
		         (long long)elapsed);
}

/* Raw bytes go out exactly as given, with the content type given. */
static void test_respond_bytes(void **state)
{
	struct test_reply r;

	(void)state;
	test_request("GET", "/bytes?kind=html", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/html; charset=utf-8");
	assert_int_equal(r.len, sizeof(test_page) - 1);
	assert_memory_equal(r.body, test_page, sizeof(test_page) - 1);
	test_reply_free(&r);

	test_request("GET", "/bytes?kind=empty", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	test_reply_free(&r);

	/* A handler's invalid status is sent as 500, the bytes unchanged. */
	test_request("GET", "/bytes?kind=bad", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.content_type, "text/plain");
	assert_int_equal(r.len, 1);
	assert_memory_equal(r.body, "x", 1);
	test_reply_free(&r);

	/* No content type given: application/octet-stream. */
	test_request("GET", "/bytes?kind=raw", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "application/octet-stream");
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.body, "abc", 3);
	test_reply_free(&r);
}

/* respond() on another thread before the handler returns: the response still goes out. */
static void test_respond_before_return(void **state)
{
	(void)state;
	for (int i = 0; i < 20; i++) {
		struct test_reply r;
		json_t *j;

		test_request("GET", "/race", NULL, 0, TEST_BODY_LENGTH, &r);
		assert_int_equal(r.status, 200);
		j = test_reply_json(&r);
		assert_true(json_is_true(json_object_get(j, "raced")));
		json_decref(j);
		test_reply_free(&r);
	}
}

/* Several requests on one keep-alive connection, each with its own exchange. */
static void test_keep_alive(void **state)
{
	static const struct {
		const char *method, *path, *body;
		long status;
	} steps[] = {
	    {"GET", "/items/1", NULL, 200},    {"POST", "/nope", "{\"a\":1}", 404},
	    {"GET", "/echo", NULL, 405},       {"POST", "/echo", "{\"b\":2}", 200},
	    {"POST", "/echo", "{\"b\":", 400}, {"GET", "/items/2", NULL, 200},
	};
	struct test_reply r;
	CURL *c;

	(void)state;
	memset(&r, 0, sizeof(r));
	c = test_easy("GET", "/", &r);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char url[256];
		long connects = -1;

		snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", test_port, steps[i].path);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, steps[i].method);
		if (steps[i].body != NULL) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, steps[i].body);
		} else {
			curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		}
		assert_int_equal(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
		assert_int_equal(r.status, steps[i].status);
		assert_int_equal(connects, i == 0 ? 1 : 0); /* the same connection throughout */
	}
	curl_easy_cleanup(c);
	test_reply_free(&r);
}

/* --- servers of their own --- */

static struct http_server *test_start_small(unsigned max_connections, unsigned idle_s,
                                            size_t max_body)
{
	struct http_server_options opts = {.host = "127.0.0.1",
	                                   .port = 0,
	                                   .threads = 1,
	                                   .max_body_bytes = max_body,
	                                   .max_connections = max_connections,
	                                   .idle_timeout_s = idle_s};
	char err[256];
	struct http_server *srv = http_server_start(
	    &opts, test_routes, sizeof(test_routes) / sizeof(test_routes[0]), err, sizeof(err));

	if (srv == NULL)
		fail_msg("http_server_start: %s", err);
	return srv;
}

static int test_connect(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Milliseconds until the peer closes fd (EOF or reset), or -1 if still open after timeout_ms. */
static int64_t test_wait_closed(int fd, int timeout_ms)
{
	int64_t start = test_now_ms();
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[256];

	while (test_now_ms() - start < timeout_ms) {
		int left = timeout_ms - (int)(test_now_ms() - start);

		if (poll(&p, 1, left > 0 ? left : 0) > 0) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);

			if (n <= 0)
				return test_now_ms() - start;
		}
	}
	return -1;
}

/*
 * Reads what the peer sends until it closes or timeout_ms passes. Returns the byte count (0 when
 * closed without data), or -1 when the connection is still open and silent.
 */
static ssize_t test_read_reply(int fd, char *buf, size_t size, int timeout_ms)
{
	int64_t start = test_now_ms();
	size_t got = 0;

	while (got + 1 < size) {
		int left = timeout_ms - (int)(test_now_ms() - start);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		n = recv(fd, buf + got, size - 1 - got, 0);
		if (n <= 0) {
			buf[got] = '\0';
			return (ssize_t)got;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got > 0 ? (ssize_t)got : -1;
}

/* A body announced far past what would be drained is refused at once, even without Expect. */
static void test_huge_announced_body(void **state)
{
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: t\r\n"
	                          "Content-Length: 1000000000000\r\n\r\n";
	int fd = test_connect(test_port);
	char buf[1024];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
	assert_true(test_read_reply(fd, buf, sizeof(buf), 3000) > 0);
	close(fd);
	assert_memory_equal(buf, "HTTP/1.1 413", 12);
	assert_non_null(strstr(buf, "\"error\":\"request body exceeds"));
}

/* Connections over the limit are not served while the limit is reached: libmicrohttpd stops
 * accepting, so they wait in the kernel's backlog (or, in other modes, are closed at once).
 * Either way, once slots free up the server serves again. */
static void test_connection_limit(void **state)
{
	static const char req[] = "GET /items/9 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct http_server *srv = test_start_small(2, 30, 1024);
	int port = http_server_port(srv);
	int saved_port = test_port;
	int held[2], extra[3];
	bool queued[3];
	char buf[1024];
	struct test_reply r;

	(void)state;
	for (int i = 0; i < 2; i++) {
		held[i] = test_connect(port);
		assert_true(held[i] >= 0);
	}
	usleep(100 * 1000); /* let the server accept both */
	for (int i = 0; i < 3; i++) {
		extra[i] = test_connect(port);
		queued[i] = false;
		if (extra[i] < 0)
			continue; /* refused outright */
		if (send(extra[i], req, sizeof(req) - 1, MSG_NOSIGNAL) !=
		    (ssize_t)(sizeof(req) - 1))
			continue; /* closed by the server already */
		/* Not answered while the limit is reached: either closed or silent. */
		queued[i] = (test_read_reply(extra[i], buf, sizeof(buf), 300) == -1);
	}
	/* The held ones are still open. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(test_wait_closed(held[i], 50), -1);
	for (int i = 0; i < 2; i++)
		close(held[i]);
	/* Queued connections are served once slots free up (at most two at a time). */
	for (int i = 0; i < 3; i++) {
		if (queued[i]) {
			assert_true(test_read_reply(extra[i], buf, sizeof(buf), 3000) > 0);
			assert_memory_equal(buf, "HTTP/1.1 200", 12);
		}
		if (extra[i] >= 0)
			close(extra[i]);
	}
	test_port = port;
	test_request("GET", "/items/5", NULL, 0, TEST_BODY_LENGTH, &r);
	assert_int_equal(r.status, 200);
	test_reply_free(&r);
	test_port = saved_port;
	http_server_stop(srv);
}

static void test_idle_timeout(void **state)
{
	struct http_server *srv = test_start_small(4, 1, 1024);
	int fd = test_connect(http_server_port(srv));
	int64_t closed_after;

	(void)state;
	assert_true(fd >= 0);
	closed_after = test_wait_closed(fd, 5000);
	close(fd);
	http_server_stop(srv);
	if (closed_after < 500)
		fail_msg("idle connection closed after %lld ms, expected about 1000",
		         (long long)closed_after);
}

/* Bodies of several MiB (over the up-front allocation) are received whole. */
static void test_large_body(void **state)
{
	static const enum test_body_mode modes[] = {TEST_BODY_LENGTH, TEST_BODY_CHUNKED};
	const size_t size = 3 * 1024 * 1024;
	struct http_server *srv = test_start_small(4, 5, 4 * 1024 * 1024);
	int saved_port = test_port;
	char *body = malloc(size);

	(void)state;
	assert_non_null(body);
	memset(body, 'z', size);
	memcpy(body, "[\"", 2);
	memcpy(body + size - 2, "\"]", 2);
	test_port = http_server_port(srv);
	for (size_t i = 0; i < 2; i++) {
		struct test_reply r;
		json_t *j;

		test_request("POST", "/echo", body, size, modes[i], &r);
		assert_int_equal(r.status, 200);
		j = test_reply_json(&r);
		assert_int_equal(json_string_length(json_array_get(json_object_get(j, "got"), 0)),
		                 size - 4);
		json_decref(j);
		test_reply_free(&r);
	}
	test_port = saved_port;
	free(body);
	http_server_stop(srv);
}

/* A request waiting for its answer longer than the idle timeout is not cut off. */
static void test_slow_answer_not_idle(void **state)
{
	struct http_server *srv = test_start_small(4, 1, 1024);
	int saved_port = test_port;
	struct test_reply r;

	(void)state;
	test_port = http_server_port(srv);
	test_request("GET", "/slow", NULL, 0, TEST_BODY_LENGTH, &r);
	test_port = saved_port;
	assert_int_equal(r.status, 200);
	test_reply_free(&r);
	http_server_stop(srv);
}

static void test_quiesce(void **state)
{
	struct http_server *srv = test_start_small(4, 5, 1024);
	int port = http_server_port(srv);
	int fd;

	(void)state;
	http_server_quiesce(srv);
	http_server_quiesce(srv); /* twice is harmless */
	/* The listening socket is gone: connecting is refused, not left waiting in a backlog. */
	fd = test_connect(port);
	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, -1);
	http_server_stop(srv);
	http_server_stop(NULL);
}

static void *test_client_main(void *arg)
{
	test_request("POST", "/async", "{}", 2, TEST_BODY_LENGTH, arg);
	return NULL;
}

/* Stopping while a request waits for its asynchronous answer: stop waits for the answer (and
 * libmicrohttpd would abort the process if it did not). */
static void test_stop_waits_for_answers(void **state)
{
	struct http_server *srv = test_start_small(4, 5, 1024);
	int saved_port = test_port, seq0, seq = 0;
	struct test_reply r;
	pthread_t client;

	(void)state;
	pthread_mutex_lock(&test_async.mutex);
	seq0 = test_async.seq;
	pthread_mutex_unlock(&test_async.mutex);
	test_port = http_server_port(srv);
	assert_int_equal(pthread_create(&client, NULL, test_client_main, &r), 0);
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&test_async.mutex);
		seq = test_async.seq;
		pthread_mutex_unlock(&test_async.mutex);
		if (seq != seq0)
			break;
		usleep(1000);
	}
	assert_int_not_equal(seq, seq0);
	http_server_stop(srv);
	pthread_join(client, NULL);
	test_port = saved_port;
	assert_int_equal(r.status, 200);
	test_reply_free(&r);
}

static void test_start_errors(void **state)
{
	struct http_server_options opts = {.host = "127.0.0.1",
	                                   .port = test_port, /* in use by the group's server */
	                                   .threads = 1,
	                                   .max_body_bytes = 1024,
	                                   .max_connections = 4,
	                                   .idle_timeout_s = 5};
	static const struct http_route bad[] = {{"GET", "no-slash", test_h_item, NULL, 0}};
	static const struct http_route many[] = {
	    {"GET", "/{a}/{b}/{c}/{d}/{e}", test_h_item, NULL, 0}};
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_null(http_server_start(&opts, test_routes, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot listen on 127.0.0.1:"));

	opts.port = 0;
	opts.host = "host.invalid";
	err[0] = '\0';
	assert_null(http_server_start(&opts, test_routes, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot listen on host.invalid:0"));

	opts.host = NULL;
	opts.threads = 0;
	assert_null(http_server_start(&opts, test_routes, 1, err, sizeof(err)));
	opts.threads = 8; /* more threads than connections */
	assert_null(http_server_start(&opts, test_routes, 1, err, sizeof(err)));
	opts.threads = 1;
	assert_null(http_server_start(&opts, bad, 1, err, sizeof(err)));
	assert_null(http_server_start(&opts, many, 1, err, sizeof(err)));
}

/* IPv6 loopback (where the host has IPv6), all interfaces, and a name to resolve. */
static void test_bind_variants(void **state)
{
	static const char *const hosts[] = {"::1", "", "localhost"};
	struct http_server_options opts = {.port = 0,
	                                   .threads = 1,
	                                   .max_body_bytes = 1024,
	                                   .max_connections = 4,
	                                   .idle_timeout_s = 5};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		struct http_server *srv;

		opts.host = hosts[i];
		srv = http_server_start(&opts, test_routes, 1, err, sizeof(err));
		if (srv == NULL) {
			/* Only acceptable for IPv6 on a host without it. */
			assert_string_equal(hosts[i], "::1");
			continue;
		}
		assert_true(http_server_port(srv) > 0);
		if (hosts[i][0] == '\0') {
			/* All interfaces: reachable over IPv4 loopback. */
			int saved = test_port;
			struct test_reply r;

			test_port = http_server_port(srv);
			test_request("GET", "/items/v4", NULL, 0, TEST_BODY_LENGTH, &r);
			assert_int_equal(r.status, 200);
			test_reply_free(&r);
			test_port = saved;
		}
		http_server_stop(srv);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_param_echo),   cmocka_unit_test(test_two_params),
	    cmocka_unit_test(test_post_json_echo),   cmocka_unit_test(test_body_at_limit),
	    cmocka_unit_test(test_not_found),        cmocka_unit_test(test_method_not_allowed),
	    cmocka_unit_test(test_body_too_large),   cmocka_unit_test(test_bad_json),
	    cmocka_unit_test(test_server_error),     cmocka_unit_test(test_respond_bytes),
	    cmocka_unit_test(test_async_concurrent), cmocka_unit_test(test_respond_before_return),
	    cmocka_unit_test(test_keep_alive),       cmocka_unit_test(test_huge_announced_body),
	    cmocka_unit_test(test_connection_limit), cmocka_unit_test(test_idle_timeout),
	    cmocka_unit_test(test_large_body),       cmocka_unit_test(test_slow_answer_not_idle),
	    cmocka_unit_test(test_quiesce),          cmocka_unit_test(test_stop_waits_for_answers),
	    cmocka_unit_test(test_start_errors),     cmocka_unit_test(test_bind_variants),
	};

	return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
