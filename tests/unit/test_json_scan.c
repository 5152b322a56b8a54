/*
 * test_json_scan.c - the JSON pre-scan: limits on values and depth, strings and escapes that
 * must not count, text fed in pieces, and the hostile body of issue 11 (1 MiB of "[{},{},...]")
 * refused after a few bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/json_scan.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int scan(const char *text, size_t max_values, unsigned max_depth, char *err, size_t size)
{
	struct json_scan s;

	json_scan_init(&s, max_values, max_depth);
	return json_scan_feed(&s, text, strlen(text), err, size);
}

/* Counts the values jansson builds, containers included. */
static size_t count_values(json_t *v)
{
	size_t n = 1, i;
	const char *k;
	json_t *e;

	if (json_is_array(v)) {
		json_array_foreach (v, i, e)
			n += count_values(e);
	} else if (json_is_object(v)) {
		json_object_foreach (v, k, e)
			n += count_values(e);
	}
	return n;
}

static void test_within_limits(void **state)
{
	char err[128] = "";

	(void)state;
	assert_int_equal(scan("{\"a\":[1,2,3],\"b\":{\"c\":null}}", 10, 3, err, sizeof(err)), 0);
	assert_int_equal(scan("[]", 2, 1, err, sizeof(err)), 0);
	assert_int_equal(scan("\"just a string\"", 1, 1, err, sizeof(err)), 0);
}

static void test_too_many_values(void **state)
{
	char err[128] = "";

	(void)state;
	assert_int_equal(scan("[1,2,3,4,5,6,7,8,9,10]", 5, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "JSON holds more than 5 values");
}

static void test_too_deep(void **state)
{
	char err[128] = "";

	(void)state;
	assert_int_equal(scan("[[[[[1]]]]]", 0, 4, err, sizeof(err)), -1);
	assert_string_equal(err, "JSON nests deeper than 4 levels");
	/* Depth comes back down: siblings at the limit are fine. */
	assert_int_equal(scan("[[[1]],[[2]],{\"a\":[3]}]", 0, 3, err, sizeof(err)), 0);
}

static void test_strings_do_not_count(void **state)
{
	char err[128] = "";

	(void)state;
	/* Brackets, commas and escaped quotes inside strings are text, not structure. */
	assert_int_equal(
	    scan("[\"[[[[,,,,{{{{\", \"a\\\"[,[,[\", \"\\\\\", 1]", 5, 1, err, sizeof(err)), 0);
	/* After the escaped backslash the string ends: the brackets after it count. */
	assert_int_equal(scan("[\"\\\\\",[[1]]]", 0, 2, err, sizeof(err)), -1);
}

static void test_pieces(void **state)
{
	const char *text = "{\"k\\\"[\":[1,{\"x\":[2,3]}],\"z\":\"],,\"}";
	char err[128] = "";

	(void)state;
	/* Fed a byte at a time (an escape split across feeds included), the same verdicts. */
	for (size_t limit = 1; limit < 12; limit++) {
		struct json_scan s;
		int whole = scan(text, limit, 0, err, sizeof(err));
		int rc = 0;

		json_scan_init(&s, limit, 0);
		for (size_t i = 0; text[i] != '\0' && rc == 0; i++)
			rc = json_scan_feed(&s, text + i, 1, err, sizeof(err));
		assert_int_equal(rc, whole);
	}
}

static void test_failed_stays_failed(void **state)
{
	struct json_scan s;
	char err[128] = "";

	(void)state;
	json_scan_init(&s, 2, 0);
	assert_int_equal(json_scan_feed(&s, "[1,2,", 5, err, sizeof(err)), -1);
	assert_int_equal(json_scan_feed(&s, "3]", 2, err, sizeof(err)), -1);
}

/* The count is an upper bound on what jansson builds, whatever the document. */
static void test_bound_holds(void **state)
{
	const char *docs[] = {
	    "{}",
	    "[]",
	    "[{},{},{}]",
	    "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e,f\"}}",
	    "[[],[[]],[[[]]],{\"x\":{}}]",
	    "\"a\"",
	    "[1 , 2 , \"]\" , [ 3 ] ]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct json_scan s;
		json_error_t jerr;
		char err[128];
		json_t *v = json_loads(docs[i], JSON_DECODE_ANY, &jerr);

		assert_non_null(v);
		json_scan_init(&s, 0, 0);
		assert_int_equal(json_scan_feed(&s, docs[i], strlen(docs[i]), err, sizeof(err)), 0);
		assert_true(s.values >= count_values(v));
		json_decref(v);
	}
}

/* Issue 11: 1 MiB of "[{},{},...]" is refused within the first bytes past the limit. */
static void test_hostile_body(void **state)
{
	size_t size = 1024 * 1024, fed = 0;
	char *body = malloc(size);
	struct json_scan s;
	char err[128];
	int rc = 0;

	(void)state;
	assert_non_null(body);
	body[0] = '[';
	for (size_t i = 1; i + 3 < size; i += 3)
		memcpy(body + i, "{},", 3);
	json_scan_init(&s, 10000, 32);
	/* In 16 KiB pieces, as the HTTP server feeds it. */
	while (fed < size && rc == 0) {
		size_t piece = size - fed < 16384 ? size - fed : 16384;

		rc = json_scan_feed(&s, body + fed, piece, err, sizeof(err));
		fed += piece;
	}
	assert_int_equal(rc, -1);
	assert_true(fed <= 16384 * 2);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_within_limits), cmocka_unit_test(test_too_many_values),
	    cmocka_unit_test(test_too_deep),      cmocka_unit_test(test_strings_do_not_count),
	    cmocka_unit_test(test_pieces),        cmocka_unit_test(test_failed_stays_failed),
	    cmocka_unit_test(test_bound_holds),   cmocka_unit_test(test_hostile_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
