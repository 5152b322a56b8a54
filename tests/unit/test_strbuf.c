/*
 * Unit tests for strbuf.c, above all the PostgreSQL array-literal encoding every batch
 * travels in: any text must come back unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/strbuf.h"

static void test_append_and_printf(void **state)
{
	struct strbuf sb = STRBUF_INIT;
	int i;

	(void)state;
	assert_string_equal(strbuf_str(&sb), "");
	for (i = 0; i < 1000; i++)
		strbuf_printf(&sb, "%d,", i);
	assert_false(sb.failed);
	assert_int_equal(strncmp(strbuf_str(&sb), "0,1,2,", 6), 0);
	assert_int_equal(sb.len, strlen(sb.data));
	strbuf_reset(&sb);
	assert_string_equal(strbuf_str(&sb), "");
	strbuf_free(&sb);
}

static void test_array_literal_escapes(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	pg_array_begin(&sb);
	pg_array_add(&sb, "plain");
	pg_array_add(&sb, NULL);
	pg_array_add(&sb, "quote\"back\\slash");
	pg_array_add(&sb, "");
	pg_array_add(&sb, "{braces},commas");
	pg_array_end(&sb);
	assert_string_equal(strbuf_str(&sb),
	                    "{\"plain\",NULL,\"quote\\\"back\\\\slash\",\"\",\"{braces},commas\"}");
	strbuf_free(&sb);
}

static void test_array_len_limits_the_element(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	pg_array_begin(&sb);
	pg_array_add_len(&sb, "ab\"cdef", 4);
	pg_array_end(&sb);
	assert_string_equal(strbuf_str(&sb), "{\"ab\\\"c\"}");
	strbuf_free(&sb);
}

static void test_empty_array(void **state)
{
	struct strbuf sb = STRBUF_INIT;

	(void)state;
	pg_array_begin(&sb);
	pg_array_end(&sb);
	assert_string_equal(strbuf_str(&sb), "{}");
	strbuf_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_printf),
	    cmocka_unit_test(test_array_literal_escapes),
	    cmocka_unit_test(test_array_len_limits_the_element),
	    cmocka_unit_test(test_empty_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
