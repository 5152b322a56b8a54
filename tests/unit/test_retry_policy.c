/*
 * test_retry_policy.c - redelivery backoff (retry_policy_delay_ms) and operators' durations
 * (duration_parse_s).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/duration.h"
#include "producer/jobs/retry_policy.h"

static void test_delay_doubles_within_jitter(void **state)
{
	(void)state;
	/* random 0 gives the floor d/2 (rounded up), UINT32_MAX something in [d/2, d]. */
	assert_int_equal(retry_policy_delay_ms(1, 1000, 60000, 0), 500);
	assert_int_equal(retry_policy_delay_ms(2, 1000, 60000, 0), 1000);
	assert_int_equal(retry_policy_delay_ms(3, 1000, 60000, 0), 2000);
	assert_int_equal(retry_policy_delay_ms(1, 1000, 60000, 500), 1000);
	assert_int_equal(retry_policy_delay_ms(1, 1000, 60000, 501), 500);
	for (uint32_t r = 0; r < 5000; r += 7) {
		int64_t d = retry_policy_delay_ms(4, 1000, 60000, r * 2654435761u);

		assert_true(d >= 4000 && d <= 8000);
	}
}

static void test_delay_never_shrinks(void **state)
{
	(void)state;
	/* Whatever the jitter, the next wait is at least the largest possible previous one. */
	for (unsigned retry = 1; retry < 40; retry++) {
		int64_t hi = retry_policy_delay_ms(retry, 250, 30000, 125);
		int64_t lo_next = retry_policy_delay_ms(retry + 1, 250, 30000, 0);

		assert_true(lo_next >= hi || lo_next >= 15000);
	}
}

static void test_delay_capped_and_overflow_safe(void **state)
{
	(void)state;
	assert_int_equal(retry_policy_delay_ms(1000000, 1000, 300000, 150000), 300000);
	assert_true(retry_policy_delay_ms(64, INT64_MAX / 2, INT64_MAX, 0) > 0);
	assert_int_equal(retry_policy_delay_ms(0, 1000, 60000, 0), 500); /* 0 counts as 1 */
	assert_int_equal(retry_policy_delay_ms(3, 0, 0, 0), 1);          /* degenerate inputs */
	assert_int_equal(retry_policy_delay_ms(5, 1, 1, 99), 1);
}

static void test_duration_units(void **state)
{
	int64_t s = 0;

	(void)state;
	assert_int_equal(duration_parse_s("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(duration_parse_s("45s", &s), 0);
	assert_int_equal(s, 45);
	assert_int_equal(duration_parse_s("30m", &s), 0);
	assert_int_equal(s, 1800);
	assert_int_equal(duration_parse_s("12h", &s), 0);
	assert_int_equal(s, 43200);
	assert_int_equal(duration_parse_s("7d", &s), 0);
	assert_int_equal(s, 604800);
	assert_int_equal(duration_parse_s("2w", &s), 0);
	assert_int_equal(s, 1209600);
}

static void test_duration_rejects(void **state)
{
	static const char *const bad[] = {
	    "",
	    "d",
	    "-5m",
	    "+5m",
	    "5x",
	    "5dd",
	    "5 d",
	    "0",
	    "0s",
	    "1.5h",
	    "99999999999999999999",
	    "40000d",
	    "2026-01-01",
	};
	int64_t s = 42;

	(void)state;
	assert_int_equal(duration_parse_s(NULL, &s), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (duration_parse_s(bad[i], &s) != -1)
			fail_msg("'%s' was accepted", bad[i]);
	}
	assert_int_equal(s, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_delay_doubles_within_jitter),
	    cmocka_unit_test(test_delay_never_shrinks),
	    cmocka_unit_test(test_delay_capped_and_overflow_safe),
	    cmocka_unit_test(test_duration_units),
	    cmocka_unit_test(test_duration_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
