/*
 * test_json_fields.c - the JSON field readers every request parser uses: "not given" (absent or
 * null) against "required", each reader's exact error text with and without a `where` path,
 * the 1/0/-1 return, the object check's "body" and dropped dot, and the known-field checker's
 * list, custom list and bounded quote of a client's field name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/json_fields.h"

#include <jansson.h>
#include <string.h>

static json_t *load(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	assert_non_null(v);
	return v;
}

static void test_get_and_member(void **state)
{
	json_t *o = load("{\"a\": 1, \"n\": null}"), *v = NULL;
	char err[128] = "";

	(void)state;
	assert_non_null(json_fields_get(o, "a"));
	assert_null(json_fields_get(o, "n"));
	assert_null(json_fields_get(o, "missing"));
	assert_null(json_fields_get(json_array_get(o, 0), "a"));
	assert_int_equal(json_fields_member(o, "", "a", true, &v, err, sizeof(err)), 1);
	assert_ptr_equal(v, json_object_get(o, "a"));
	assert_int_equal(json_fields_member(o, "", "n", false, &v, err, sizeof(err)), 0);
	assert_null(v);
	assert_int_equal(json_fields_member(o, "x[2].", "n", true, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "x[2].n: is required");
	assert_int_equal(json_fields_member(o, NULL, "b", true, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "b: is required");
	json_decref(o);
}

static void test_check_object(void **state)
{
	json_t *arr = load("[1]"), *obj = load("{}");
	char err[128] = "";

	(void)state;
	assert_int_equal(json_fields_check_object(obj, "", NULL, err, sizeof(err)), 0);
	assert_int_equal(json_fields_check_object(arr, "", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "body: must be a JSON object");
	assert_int_equal(
	    json_fields_check_object(arr, "consumerGroups[1].", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "consumerGroups[1]: must be a JSON object");
	assert_int_equal(
	    json_fields_check_object(NULL, "[3].", "an acknowledgment object", err, sizeof(err)),
	    -1);
	assert_string_equal(err, "[3]: must be an acknowledgment object");
	json_decref(arr);
	json_decref(obj);
}

static void test_check_known(void **state)
{
	static const char *const known[] = {"topic", "message", NULL};
	json_t *ok = load("{\"topic\": 1, \"message\": 2}");
	json_t *bad = load("{\"topic\": 1, \"colour\": 2}");
	json_t *long_name =
	    load("{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	         "aaaaaaaaaaaaaaaaa\": 1}");
	char err[256] = "";

	(void)state;
	assert_null(json_fields_unknown(ok, known));
	assert_string_equal(json_fields_unknown(bad, known), "colour");
	assert_int_equal(json_fields_check_known(ok, "", known, NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(json_fields_check_known(bad, "", known, NULL, 0, err, sizeof(err)), -1);
	assert_string_equal(err, "colour: unknown field (expected topic, message)");
	assert_int_equal(
	    json_fields_check_known(bad, "messages[0].", known, "topic", 0, err, sizeof(err)), -1);
	assert_string_equal(err, "messages[0].colour: unknown field (expected topic)");
	/* A client's name is quoted whole, or cut to name_max bytes. */
	assert_int_equal(json_fields_check_known(long_name, "", known, NULL, 4, err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "aaaa: unknown field (expected topic, message)");
	assert_int_equal(json_fields_check_known(long_name, "", known, NULL, 0, err, sizeof(err)),
	                 -1);
	assert_int_equal(strlen(err), 92 + strlen(": unknown field (expected topic, message)"));
	json_decref(ok);
	json_decref(bad);
	json_decref(long_name);
}

static void test_sized_string(void **state)
{
	json_t *o = load("{\"s\": \"abc\", \"e\": \"\", \"n\": 5, \"z\": \"a\\u0000b\"}");
	const char *out = "untouched";
	char err[128] = "";

	(void)state;
	assert_int_equal(
	    json_fields_sized_string(o, "", "s", true, 3, true, &out, err, sizeof(err)), 1);
	assert_string_equal(out, "abc");
	assert_int_equal(
	    json_fields_sized_string(o, "", "none", false, 3, true, &out, err, sizeof(err)), 0);
	assert_null(out);
	assert_int_equal(
	    json_fields_sized_string(o, "", "s", true, 2, true, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "s: must be a string of 1 to 2 bytes (no NUL)");
	assert_int_equal(
	    json_fields_sized_string(o, "[1].", "e", true, 9, false, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "[1].e: must be a string of 1 to 9 bytes");
	assert_int_equal(
	    json_fields_sized_string(o, "", "n", true, 9, false, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "n: must be a string of 1 to 9 bytes");
	/* A NUL passes only where the caller did not ask for the check. */
	assert_int_equal(
	    json_fields_sized_string(o, "", "z", true, 9, false, &out, err, sizeof(err)), 1);
	assert_int_equal(
	    json_fields_sized_string(o, "", "z", true, 9, true, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "z: must be a string of 1 to 9 bytes (no NUL)");
	assert_int_equal(
	    json_fields_sized_string(o, "", "none", true, 9, true, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "none: is required");
	json_decref(o);
}

static void test_text(void **state)
{
	json_t *o = load("{\"s\": \"abc\", \"e\": \"\", \"n\": 5, \"z\": \"a\\u0000b\"}");
	const char *out = NULL;
	char err[128] = "";

	(void)state;
	assert_int_equal(json_fields_text(o, "", "e", true, 3, &out, err, sizeof(err)), 1);
	assert_string_equal(out, "");
	assert_int_equal(json_fields_text(o, "", "none", false, 3, &out, err, sizeof(err)), 0);
	assert_int_equal(json_fields_text(o, "m.", "n", false, 3, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "m.n: must be a string");
	assert_int_equal(json_fields_text(o, "", "s", false, 2, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "s: longer than 2 bytes");
	assert_int_equal(json_fields_text(o, "", "z", false, 9, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "z: must not contain NUL characters");
	assert_int_equal(json_fields_text(o, "", "none", true, 9, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "none: is required");
	json_decref(o);
}

static void test_int(void **state)
{
	json_t *o = load("{\"i\": 7, \"big\": 99999999999, \"f\": 1.0, \"s\": \"7\", \"n\": null}");
	int out = -5;
	char err[128] = "";

	(void)state;
	assert_int_equal(json_fields_int(o, "", "i", true, 1, 7, &out, err, sizeof(err)), 1);
	assert_int_equal(out, 7);
	out = -5;
	assert_int_equal(json_fields_int(o, "", "n", false, 1, 7, &out, err, sizeof(err)), 0);
	assert_int_equal(out, -5);
	assert_int_equal(json_fields_int(o, "", "i", true, 1, 6, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "i: must be an integer from 1 to 6");
	assert_int_equal(json_fields_int(o, "g[0].", "big", true, -1, 10, &out, err, sizeof(err)),
	                 -1);
	assert_string_equal(err, "g[0].big: must be an integer from -1 to 10");
	assert_int_equal(json_fields_int(o, "", "f", true, 0, 9, &out, err, sizeof(err)), -1);
	assert_int_equal(json_fields_int(o, "", "s", true, 0, 9, &out, err, sizeof(err)), -1);
	assert_int_equal(json_fields_int(o, "", "n", true, 0, 9, &out, err, sizeof(err)), -1);
	assert_string_equal(err, "n: is required");
	json_decref(o);
}

static void test_bool_and_object(void **state)
{
	json_t *o = load("{\"t\": true, \"f\": false, \"one\": 1, \"d\": {\"x\": 1}, \"a\": []}");
	json_t *obj = NULL;
	bool b = true;
	char err[128] = "";

	(void)state;
	assert_int_equal(json_fields_bool(o, "", "f", &b, err, sizeof(err)), 1);
	assert_false(b);
	assert_int_equal(json_fields_bool(o, "", "t", &b, err, sizeof(err)), 1);
	assert_true(b);
	assert_int_equal(json_fields_bool(o, "", "none", &b, err, sizeof(err)), 0);
	assert_true(b);
	assert_int_equal(json_fields_bool(o, "x.", "one", &b, err, sizeof(err)), -1);
	assert_string_equal(err, "x.one: must be true or false");
	assert_int_equal(json_fields_object(o, "", "d", &obj, err, sizeof(err)), 1);
	assert_ptr_equal(obj, json_object_get(o, "d"));
	assert_int_equal(json_fields_object(o, "", "none", &obj, err, sizeof(err)), 0);
	assert_null(obj);
	assert_int_equal(json_fields_object(o, "", "a", &obj, err, sizeof(err)), -1);
	assert_string_equal(err, "a: must be a JSON object");
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_and_member),
	    cmocka_unit_test(test_check_object),
	    cmocka_unit_test(test_check_known),
	    cmocka_unit_test(test_sized_string),
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_int),
	    cmocka_unit_test(test_bool_and_object),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
