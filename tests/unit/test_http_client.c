/*
 * test_http_client.c - http_client_post_json_abortable against a peer that never answers: a
 * listening socket on 127.0.0.1 that never accepts (the kernel completes the connection, so
 * libcurl sends its request and waits for a reply that never comes). The abort hook must end the
 * request long before its timeout, as the consumer's shutdown needs; without a hook the timeout
 * still applies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TEST_TIMEOUT_MS 30000 /* far longer than any of these tests may take */
#define TEST_ABORT_MS   300   /* when the hook starts answering true */

static int test_listen_fd = -1;
static char test_url[64];

static int64_t test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof(a);

	(void)state;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	test_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (test_listen_fd < 0 || bind(test_listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(test_listen_fd, 16) != 0 ||
	    getsockname(test_listen_fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	snprintf(test_url, sizeof(test_url), "http://127.0.0.1:%d/api/messages/acknowledge",
	         ntohs(a.sin_port));
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	close(test_listen_fd);
	curl_global_cleanup();
	return 0;
}

struct test_abort {
	int64_t at_ms; /* monotonic: answer true from then on */
	int calls;
};

static bool test_should_abort(void *arg)
{
	struct test_abort *t = arg;

	t->calls++;
	return test_now_ms() >= t->at_ms;
}

static void test_abort_ends_a_request_the_peer_never_answers(void **state)
{
	CURL *curl = curl_easy_init();
	struct strbuf reply = STRBUF_INIT;
	struct test_abort t = {test_now_ms() + TEST_ABORT_MS, 0};
	char errstr[512] = "";
	long status = -1;
	int64_t t0 = test_now_ms(), took;
	int rc;

	(void)state;
	assert_non_null(curl);
	rc = http_client_post_json_abortable(curl, test_url, "[]", NULL, TEST_TIMEOUT_MS,
	                                     test_should_abort, &t, "test stop", &status, &reply,
	                                     errstr, sizeof(errstr));
	took = test_now_ms() - t0;
	assert_int_equal(rc, -1);
	assert_int_equal(status, 0);
	assert_non_null(strstr(errstr, "aborted: test stop"));
	assert_true(t.calls > 0);
	/* libcurl asks about once a second while nothing moves: well within 3 s, not 30. */
	assert_true(took >= TEST_ABORT_MS);
	assert_true(took < 3000);
	strbuf_free(&reply);
	curl_easy_cleanup(curl);
}

static void test_without_a_hook_the_timeout_applies(void **state)
{
	CURL *curl = curl_easy_init();
	char errstr[512] = "";
	long status = -1;
	int64_t t0 = test_now_ms(), took;

	(void)state;
	assert_non_null(curl);
	assert_int_equal(http_client_post_json_abortable(curl, test_url, "[]", NULL, TEST_ABORT_MS,
	                                                 NULL, NULL, NULL, &status, NULL, errstr,
	                                                 sizeof(errstr)),
	                 -1);
	took = test_now_ms() - t0;
	assert_int_equal(status, 0);
	assert_null(strstr(errstr, "aborted"));
	assert_true(took >= TEST_ABORT_MS - 50 && took < 3000);
	curl_easy_cleanup(curl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_abort_ends_a_request_the_peer_never_answers),
	    cmocka_unit_test(test_without_a_hook_the_timeout_applies),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
