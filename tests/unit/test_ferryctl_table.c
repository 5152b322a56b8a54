/*
 * Unit tests for ferryctl's tables (ctl_table.c): aligned columns, numbers right-aligned, one
 * line per row whatever a cell holds, long cells cut, widths in characters not bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli/ctl_table.h"

static void render(struct ctl_table *t, char *buf, size_t size)
{
	struct strbuf sb = STRBUF_INIT;

	ctl_table_render(t, &sb);
	snprintf(buf, size, "%s", strbuf_str(&sb));
	strbuf_free(&sb);
}

static void test_alignment(void **state)
{
	static const char *const headers[] = {"GROUP", ">PENDING", "ACTIVE", NULL};
	static const char *const r1[] = {"analytics-group", "7", "yes"};
	static const char *const r2[] = {"g", "12345", NULL};
	struct ctl_table t;
	char out[1024];

	(void)state;
	ctl_table_init(&t, headers);
	assert_int_equal(t.n_cols, 3);
	ctl_table_add_row(&t, r1);
	ctl_table_add_row(&t, r2);
	render(&t, out, sizeof(out));
	assert_string_equal(out, "GROUP            PENDING  ACTIVE\n"
	                         "analytics-group        7  yes\n"
	                         "g                  12345  -\n");
	ctl_table_free(&t);
}

static void test_empty_table_and_trailing_spaces(void **state)
{
	static const char *const headers[] = {"A", "B", NULL};
	static const char *const r1[] = {"long value", ""};
	struct ctl_table t;
	char out[256];

	(void)state;
	ctl_table_init(&t, headers);
	render(&t, out, sizeof(out));
	assert_string_equal(out, "A  B\n");
	/* An empty last cell leaves no trailing spaces behind. */
	ctl_table_add_row(&t, r1);
	render(&t, out, sizeof(out));
	assert_string_equal(out, "A           B\nlong value\n");
	ctl_table_free(&t);
}

static void test_cells_stay_on_one_line(void **state)
{
	static const char *const headers[] = {"KEY", "X", NULL};
	static const char *const r1[] = {"a\nb\tc\x1b[31m", "1"};
	static const char *const r2[] = {"bad\xff\xfe utf8", "2"};
	struct ctl_table t;
	char out[256];

	(void)state;
	ctl_table_init(&t, headers);
	ctl_table_add_row(&t, r1);
	ctl_table_add_row(&t, r2);
	render(&t, out, sizeof(out));
	assert_string_equal(out, "KEY         X\n"
	                         "a?b?c?[31m  1\n"
	                         "bad?? utf8  2\n");
	ctl_table_free(&t);
}

static void test_utf8_width_and_cutting(void **state)
{
	static const char *const headers[] = {"NAME", "N", NULL};
	static const char *const r1[] = {"über", "1"};
	static const char *const r2[] = {"a very long description indeed", "2"};
	static const char *const r3[] = {"ääääääääää", "3"};
	struct ctl_table t;
	char out[512];

	(void)state;
	ctl_table_init(&t, headers);
	ctl_table_set_max_width(&t, 0, 10);
	ctl_table_add_row(&t, r1);
	ctl_table_add_row(&t, r2);
	ctl_table_add_row(&t, r3);
	render(&t, out, sizeof(out));
	/* "über" is 4 characters wide though 5 bytes; exactly 10 characters are not cut. */
	assert_string_equal(out, "NAME        N\n"
	                         "über        1\n"
	                         "a very ...  2\n"
	                         "ääääääääää  3\n");
	ctl_table_free(&t);
}

static void test_many_rows(void **state)
{
	static const char *const headers[] = {">ID", NULL};
	struct ctl_table t;
	struct strbuf sb = STRBUF_INIT;
	char id[16];
	const char *cells[1] = {id};
	int i;

	(void)state;
	ctl_table_init(&t, headers);
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "%d", i);
		ctl_table_add_row(&t, cells);
	}
	assert_int_equal(t.n_rows, 1000);
	ctl_table_render(&t, &sb);
	assert_int_equal(strncmp(strbuf_str(&sb), " ID\n  0\n  1\n", 12), 0);
	assert_string_equal(strbuf_str(&sb) + sb.len - 8, "998\n999\n");
	strbuf_free(&sb);
	ctl_table_free(&t);
}

static void test_ages(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(ctl_table_format_age(-3, buf, sizeof(buf)), "0s");
	assert_string_equal(ctl_table_format_age(0.9, buf, sizeof(buf)), "0s");
	assert_string_equal(ctl_table_format_age(45, buf, sizeof(buf)), "45s");
	assert_string_equal(ctl_table_format_age(192, buf, sizeof(buf)), "3m12s");
	assert_string_equal(ctl_table_format_age(7500, buf, sizeof(buf)), "2h05m");
	assert_string_equal(ctl_table_format_age(3 * 86400 + 4 * 3600 + 59, buf, sizeof(buf)),
	                    "3d04h");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alignment),
	    cmocka_unit_test(test_empty_table_and_trailing_spaces),
	    cmocka_unit_test(test_cells_stay_on_one_line),
	    cmocka_unit_test(test_utf8_width_and_cutting),
	    cmocka_unit_test(test_many_rows),
	    cmocka_unit_test(test_ages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
