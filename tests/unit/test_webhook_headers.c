/*
 * Unit tests for webhook_headers.c: the FERRY_WEBHOOK_HEADERS_FILE format, and that neither a
 * header injection nor an error message carrying a value gets through.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consumer/webhook_headers.h"

/* Parses text; returns the count and leaves *list for the caller to check and free. */
static int parse(const char *text, struct curl_slist **list, char *errstr, size_t errstr_size)
{
	return webhook_headers_parse(text, strlen(text), list, errstr, errstr_size);
}

static void expect_refused(const char *text, const char *want_error)
{
	struct curl_slist *list = NULL;
	char errstr[256] = "";

	assert_int_equal(parse(text, &list, errstr, sizeof(errstr)), -1);
	assert_null(list);
	assert_string_equal(errstr, want_error);
	assert_null(strstr(errstr, "SECRET"));
}

static void test_parses_lines(void **state)
{
	struct curl_slist *list = NULL;
	char errstr[256];

	(void)state;
	assert_int_equal(parse("# credentials of the hook\n"
	                       "Authorization: Bearer SECRETH\n"
	                       "\n"
	                       "  X-Api-Key:\tk;v=1, two  \n"
	                       "X-Utf8: caf\xc3\xa9",
	                       &list, errstr, sizeof(errstr)),
	                 3);
	assert_non_null(list);
	assert_string_equal(list->data, "Authorization: Bearer SECRETH");
	assert_string_equal(list->next->data, "X-Api-Key: k;v=1, two");
	assert_string_equal(list->next->next->data, "X-Utf8: caf\xc3\xa9");
	assert_null(list->next->next->next);
	curl_slist_free_all(list);
}

static void test_appends_to_callers_list(void **state)
{
	struct curl_slist *list = curl_slist_append(NULL, "Content-Type: application/json");
	char errstr[256];

	(void)state;
	assert_int_equal(parse("A: 1\nB: 2\n", &list, errstr, sizeof(errstr)), 2);
	assert_string_equal(list->data, "Content-Type: application/json");
	assert_string_equal(list->next->data, "A: 1");
	assert_string_equal(list->next->next->data, "B: 2");
	/* A name the caller's list has already is a duplicate. */
	assert_int_equal(parse("a: 3\n", &list, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "line 1: header 'a' given twice");
	assert_null(list->next->next->next);
	curl_slist_free_all(list);
}

static void test_empty_file(void **state)
{
	struct curl_slist *list = NULL;
	char errstr[256];

	(void)state;
	assert_int_equal(parse("", &list, errstr, sizeof(errstr)), 0);
	assert_int_equal(parse("\n# nothing\n   \n", &list, errstr, sizeof(errstr)), 0);
	assert_null(list);
}

static void test_refuses_injection(void **state)
{
	(void)state;
	/* CR anywhere: "value\r\nX-Evil: 1" would be two headers on the wire. */
	expect_refused("Authorization: Bearer SECRETH\r\nX-Evil: 1\n",
	               "line 1: control character (CR, NUL or other) in the line; write one header "
	               "per line with LF line ends");
	expect_refused("A: 1\nAuthorization: SECRET\rX: y",
	               "line 2: control character (CR, NUL or other) in the line; write one header "
	               "per line with LF line ends");
	expect_refused("A: SECRET\x01", "line 1: control character (CR, NUL or other) in the line; "
	                                "write one header per line with LF line ends");
	{
		struct curl_slist *list = NULL;
		char errstr[256];
		const char nul[] = "A: SEC\0RET\n";

		assert_int_equal(
		    webhook_headers_parse(nul, sizeof(nul) - 1, &list, errstr, sizeof(errstr)), -1);
		assert_null(list);
	}
}

static void test_refuses_bad_names_and_values(void **state)
{
	(void)state;
	expect_refused("Bearer SECRETH\n", "line 1: expected 'Name: value'");
	expect_refused(": SECRET\n", "line 1: the header name must be letters, digits and "
	                             "!#$%&'*+-.^_`|~");
	expect_refused("Bad Name: SECRET\n", "line 1: the header name must be letters, digits and "
	                                     "!#$%&'*+-.^_`|~");
	expect_refused("X(y): SECRET\n", "line 1: the header name must be letters, digits and "
	                                 "!#$%&'*+-.^_`|~");
	expect_refused("X-Empty:   \n", "line 1: header 'X-Empty' has no value");
	expect_refused("content-type: text/SECRET\n",
	               "line 1: header 'content-type' is set by ferry");
	expect_refused("Host: SECRET\n", "line 1: header 'Host' is set by ferry");
	expect_refused("Transfer-Encoding: SECRET\n",
	               "line 1: header 'Transfer-Encoding' is set by ferry");
	expect_refused("A: 1\nB: 2\nA: SECRET\n", "line 3: header 'A' given twice");
}

static void test_limits(void **state)
{
	char *big = malloc(WEBHOOK_HEADERS_MAX_BYTES + 2);
	char many[64 * 16 + 32];
	size_t i, used = 0;

	(void)state;
	assert_non_null(big);
	memset(big, '#', WEBHOOK_HEADERS_MAX_BYTES + 1);
	big[WEBHOOK_HEADERS_MAX_BYTES + 1] = '\0';
	expect_refused(big, "more than 65536 bytes");
	free(big);
	for (i = 0; i <= WEBHOOK_HEADERS_MAX; i++)
		used += (size_t)snprintf(many + used, sizeof(many) - used, "H%zu: v\n", i);
	expect_refused(many, "line 65: more than 64 headers");
}

static void test_load_names_path_not_content(void **state)
{
	char path[] = "/tmp/ferry_webhook_headers_XXXXXX";
	struct curl_slist *list = NULL;
	char errstr[512];
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs("Authorization: Bearer SECRETH\nbroken SECRET line\n", f);
	fclose(f);
	assert_int_equal(webhook_headers_load(path, &list, errstr, sizeof(errstr)), -1);
	assert_null(list);
	assert_non_null(strstr(errstr, "FERRY_WEBHOOK_HEADERS_FILE "));
	assert_non_null(strstr(errstr, "line 2: expected 'Name: value'"));
	assert_null(strstr(errstr, "SECRET"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("Authorization: Bearer SECRETH\n", f);
	fclose(f);
	assert_int_equal(webhook_headers_load(path, &list, errstr, sizeof(errstr)), 1);
	assert_string_equal(list->data, "Authorization: Bearer SECRETH");
	curl_slist_free_all(list);
	unlink(path);
	assert_int_equal(webhook_headers_load(path, &list, errstr, sizeof(errstr)), -1);
	assert_non_null(strstr(errstr, "FERRY_WEBHOOK_HEADERS_FILE: cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parses_lines),
	    cmocka_unit_test(test_appends_to_callers_list),
	    cmocka_unit_test(test_empty_file),
	    cmocka_unit_test(test_refuses_injection),
	    cmocka_unit_test(test_refuses_bad_names_and_values),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_load_names_path_not_content),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
