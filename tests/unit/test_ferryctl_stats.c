/*
 * Unit tests for ferryctl's e2e arithmetic (ctl_stats.c): nearest-rank percentiles, the
 * progress bar, and the API's timestamps read back as numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "cli/ctl_stats.h"

static void test_percentiles(void **state)
{
	double v[100], one[1] = {7}, unsorted[5] = {5, 1, 4, 2, 3};
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		v[i] = i + 1; /* 1..100 */
	assert_true(ctl_stats_percentile(v, 100, 50) == 50);
	assert_true(ctl_stats_percentile(v, 100, 90) == 90);
	assert_true(ctl_stats_percentile(v, 100, 99) == 99);
	assert_true(ctl_stats_percentile(v, 100, 100) == 100);
	assert_true(ctl_stats_percentile(v, 100, 0.5) == 1);
	/* Nearest rank: always one of the values, never an interpolation. */
	assert_true(ctl_stats_percentile(v, 3, 50) == 2);
	assert_true(ctl_stats_percentile(v, 2, 50) == 1);
	assert_true(ctl_stats_percentile(v, 2, 51) == 2);
	assert_true(ctl_stats_percentile(v, 10, 99) == 10);
	assert_true(ctl_stats_percentile(one, 1, 50) == 7);
	assert_true(ctl_stats_percentile(one, 1, 99) == 7);
	assert_true(ctl_stats_percentile(v, 0, 50) == 0);
	ctl_stats_sort(unsorted, 5);
	for (i = 0; i < 5; i++)
		assert_true(unsorted[i] == i + 1);
}

static void test_progress_bar(void **state)
{
	char buf[128];

	(void)state;
	ctl_stats_progress(50, 100, 2.14, 10, buf, sizeof(buf));
	assert_string_equal(buf, "[#####.....]  50/100  50%  2.1s");
	ctl_stats_progress(0, 200, 0, 4, buf, sizeof(buf));
	assert_string_equal(buf, "[....]   0/200   0%  0.0s");
	ctl_stats_progress(250, 200, 1, 4, buf, sizeof(buf));
	assert_string_equal(buf, "[####] 200/200 100%  1.0s");
	ctl_stats_progress(0, 0, 0, 3, buf, sizeof(buf));
	assert_string_equal(buf, "[###] 0/0 100%  0.0s");
	/* Small buffers are cut, still a string. */
	ctl_stats_progress(1, 2, 0, 1000, buf, 8);
	assert_int_equal(strlen(buf), 7);
}

static void test_timestamps(void **state)
{
	double t, u;

	(void)state;
	/* PostgreSQL's JSON for timestamptz. */
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-26T23:00:30.123456+00:00", &t), 0);
	assert_true(t > 1795734030.12 && t < 1795734030.13);
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-26T23:00:30Z", &u), 0);
	assert_true(t - u > 0.1234 && t - u < 0.1235);
	/* The same instant in another zone, with and without the colon, and with a space. */
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-27T01:00:30+02:00", &t), 0);
	assert_true(t == u);
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-26 18:30:30-0430", &t), 0);
	assert_true(t == u);
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-27T00:00:30+01", &t), 0);
	assert_true(t == u);
	assert_int_equal(ctl_stats_parse_timestamp("1970-01-01T00:00:00Z", &t), 0);
	assert_true(t == 0);
	/* Not timestamps. */
	assert_int_equal(ctl_stats_parse_timestamp(NULL, &t), -1);
	assert_int_equal(ctl_stats_parse_timestamp("", &t), -1);
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-26T23:00:30", &t), -1);
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-26", &t), -1);
	assert_int_equal(ctl_stats_parse_timestamp("2026-13-26T23:00:30Z", &t), -1);
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-26T23:00:30.Z", &t), -1);
	assert_int_equal(ctl_stats_parse_timestamp("2026-11-26T23:00:30Zjunk", &t), -1);
	assert_int_equal(ctl_stats_parse_timestamp("7d", &t), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percentiles),
	    cmocka_unit_test(test_progress_bar),
	    cmocka_unit_test(test_timestamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
