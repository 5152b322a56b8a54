/* test_http_path.c - http_path: splitting request targets, matching route patterns, numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/http_path.h"
#include "common/http_server.h"

static void test_split_decodes_each_segment(void **state)
{
	struct http_path p;

	(void)state;
	assert_int_equal(http_path_split(&p, "/api/topics/a%2Fb/?x=1"), 0);
	assert_true(p.ok);
	assert_int_equal(p.n_segs, 3);
	assert_string_equal(p.segs[2], "a/b"); /* an encoded '/' stays in its segment */
	http_path_clear(&p);
	assert_int_equal(http_path_split(&p, "/"), 0);
	assert_true(p.ok);
	assert_int_equal(p.n_segs, 0);
	http_path_clear(&p);
}

static void test_split_refuses(void **state)
{
	static const char *const bad[] = {"*", "http://x/y", "/a/%00", "", "?x"};
	char many[3 * (HTTP_PATH_MAX_SEGMENTS + 1) + 1] = "";
	struct http_path p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(http_path_split(&p, bad[i]), 0);
		assert_false(p.ok);
		http_path_clear(&p);
	}
	for (int i = 0; i <= HTTP_PATH_MAX_SEGMENTS; i++)
		strcat(many, "/ab");
	assert_int_equal(http_path_split(&p, many), 0);
	assert_false(p.ok);
	http_path_clear(&p);
}

static void test_matches_captures_params(void **state)
{
	struct http_path_param params[HTTP_MAX_PATH_PARAMS];
	struct http_path p;
	size_t n = 0;

	(void)state;
	assert_int_equal(http_path_split(&p, "/api/topics/orders/groups/g1"), 0);
	assert_true(http_path_matches(&p, "/api/topics/{name}/groups/{group}", params,
	                              HTTP_MAX_PATH_PARAMS, &n));
	assert_int_equal(n, 2);
	assert_int_equal(params[0].name_len, 4);
	assert_memory_equal(params[0].name, "name", 4);
	assert_string_equal(params[1].value, "g1");
	assert_false(http_path_matches(&p, "/api/topics/{name}", NULL, 0, NULL));
	assert_false(http_path_matches(&p, "/api/topics/{name}/groups/{group}/x", NULL, 0, NULL));
	http_path_clear(&p);
	assert_int_equal(http_path_split(&p, "/api/topics//groups/g1"), 0);
	assert_false(http_path_matches(&p, "/api/topics/{name}/groups/{group}", NULL, 0, NULL));
	http_path_clear(&p);
}

static void test_parse_ll(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(http_path_parse_ll("42", false, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(http_path_parse_ll("-5", true, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(http_path_parse_ll("-5", false, &v), -1);
	assert_int_equal(http_path_parse_ll(" 5", true, &v), -1);
	assert_int_equal(http_path_parse_ll("5x", true, &v), -1);
	assert_int_equal(http_path_parse_ll("", true, &v), -1);
	assert_int_equal(http_path_parse_ll(NULL, true, &v), -1);
	assert_int_equal(http_path_parse_ll("99999999999999999999", true, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_decodes_each_segment),
	    cmocka_unit_test(test_split_refuses),
	    cmocka_unit_test(test_matches_captures_params),
	    cmocka_unit_test(test_parse_ll),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
