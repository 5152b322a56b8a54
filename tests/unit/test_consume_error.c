/*
 * test_consume_error.c - which database errors of a record's transaction are retried and which
 * are recorded as the record's failure (consume_error.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "consumer/consume_error.h"

static void test_connection_problems_are_retried(void **state)
{
	(void)state;
	/* No usable connection, whatever the code. */
	assert_int_equal(consume_error_classify("23514", false), CONSUME_ERROR_RETRY);
	/* No server error at all (libpq lost the connection or ran out of memory). */
	assert_int_equal(consume_error_classify(NULL, true), CONSUME_ERROR_RETRY);
	assert_int_equal(consume_error_classify("", true), CONSUME_ERROR_RETRY);
	assert_int_equal(consume_error_classify("08006", true), CONSUME_ERROR_RETRY);
	assert_int_equal(consume_error_classify("57P01", true), CONSUME_ERROR_RETRY); /* shutdown */
}

static void test_transient_errors_are_retried(void **state)
{
	(void)state;
	assert_int_equal(consume_error_classify("40001", true), CONSUME_ERROR_RETRY); /* serial. */
	assert_int_equal(consume_error_classify("40P01", true), CONSUME_ERROR_RETRY); /* deadlock */
	assert_int_equal(consume_error_classify("55P03", true), CONSUME_ERROR_RETRY); /* lock */
	assert_int_equal(consume_error_classify("53100", true), CONSUME_ERROR_RETRY); /* disk */
	assert_int_equal(consume_error_classify("57014", true), CONSUME_ERROR_RETRY); /* cancel */
	assert_int_equal(consume_error_classify("25006", true), CONSUME_ERROR_RETRY); /* standby */
	assert_int_equal(consume_error_classify("58030", true), CONSUME_ERROR_RETRY); /* I/O */
	assert_int_equal(consume_error_classify("XX000", true), CONSUME_ERROR_RETRY);
	assert_int_equal(consume_error_classify("3D000", true), CONSUME_ERROR_RETRY);
	assert_int_equal(consume_error_classify("28P01", true), CONSUME_ERROR_RETRY);
}

static void test_record_errors_are_recorded(void **state)
{
	(void)state;
	assert_int_equal(consume_error_classify("23514", true), CONSUME_ERROR_RECORD); /* check */
	assert_int_equal(consume_error_classify("23505", true), CONSUME_ERROR_RECORD); /* unique */
	assert_int_equal(consume_error_classify("22021", true), CONSUME_ERROR_RECORD); /* UTF-8 */
	assert_int_equal(consume_error_classify("22P02", true), CONSUME_ERROR_RECORD);
	assert_int_equal(consume_error_classify("P0001", true), CONSUME_ERROR_RECORD); /* RAISE */
	assert_int_equal(consume_error_classify("25P02", true), CONSUME_ERROR_RECORD); /* aborted */
	assert_int_equal(consume_error_classify("42P01", true), CONSUME_ERROR_RECORD);
	assert_int_equal(consume_error_classify("54000", true), CONSUME_ERROR_RECORD);
	/* A code of the wrong length is no code: retried. */
	assert_int_equal(consume_error_classify("235", true), CONSUME_ERROR_RETRY);
	assert_string_equal(consume_error_action_name(CONSUME_ERROR_RECORD), "record");
	assert_string_equal(consume_error_action_name(CONSUME_ERROR_RETRY), "retry");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connection_problems_are_retried),
	    cmocka_unit_test(test_transient_errors_are_retried),
	    cmocka_unit_test(test_record_errors_are_recorded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
