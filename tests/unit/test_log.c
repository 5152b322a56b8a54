/*
 * test_log.c - level/format parsing, the text and JSON line formats, context fields and the
 * threshold (including that arguments below it are never evaluated).
 *
 * stderr (fd 2) is redirected to a temporary file around each logging call and read back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* fd 2 while captured, and the file it points at. */
static int test_saved_stderr = -1;
static FILE *test_capture_file;

static void test_capture_start(void)
{
	fflush(stderr);
	test_capture_file = tmpfile();
	assert_non_null(test_capture_file);
	test_saved_stderr = dup(STDERR_FILENO);
	assert_true(test_saved_stderr >= 0);
	assert_true(dup2(fileno(test_capture_file), STDERR_FILENO) >= 0);
}

/* Restores fd 2 and returns what was written (malloc'd, NUL-terminated). */
static char *test_capture_end(void)
{
	char *buf;
	long len;

	assert_true(dup2(test_saved_stderr, STDERR_FILENO) >= 0);
	close(test_saved_stderr);
	test_saved_stderr = -1;
	assert_int_equal(fseek(test_capture_file, 0, SEEK_END), 0);
	len = ftell(test_capture_file);
	assert_true(len >= 0);
	rewind(test_capture_file);
	buf = calloc(1, (size_t)len + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)len, test_capture_file), (size_t)len);
	fclose(test_capture_file);
	test_capture_file = NULL;
	return buf;
}

static int test_count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\n')
			n++;
	}
	return n;
}

static int test_reset(void **state)
{
	(void)state;
	log_init(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	return 0;
}

static void test_log_level_parse(void **state)
{
	enum log_level level = LOG_LEVEL_ERROR;

	(void)state;
	assert_int_equal(log_level_parse("debug", &level), 0);
	assert_int_equal(level, LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("INFO", &level), 0);
	assert_int_equal(level, LOG_LEVEL_INFO);
	assert_int_equal(log_level_parse("Warn", &level), 0);
	assert_int_equal(level, LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("error", &level), 0);
	assert_int_equal(level, LOG_LEVEL_ERROR);
	assert_int_equal(log_level_parse("verbose", &level), -1);
	assert_int_equal(log_level_parse("", &level), -1);
	assert_int_equal(log_level_parse(NULL, &level), -1);
	assert_int_equal(level, LOG_LEVEL_ERROR); /* untouched on failure */
}

static void test_log_format_parse(void **state)
{
	enum log_format format = LOG_FORMAT_TEXT;

	(void)state;
	assert_int_equal(log_format_parse("json", &format), 0);
	assert_int_equal(format, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("TEXT", &format), 0);
	assert_int_equal(format, LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("xml", &format), -1);
	assert_int_equal(log_format_parse(NULL, &format), -1);
}

static void test_log_default_threshold_is_info(void **state)
{
	(void)state;
	assert_int_equal(log_threshold, LOG_LEVEL_INFO);
}

static void test_log_text_line(void **state)
{
	const struct log_ctx ctx = {.message_id = 42,
	                            .topic = "t",
	                            .partition = 1,
	                            .offset = 7,
	                            .group = "billing",
	                            .traceparent = "00-0af7651916cd43dd8448eb211c80319c-"
	                                           "b7ad6b7169203331-01"};
	char *out;

	(void)state;
	test_capture_start();
	log_info_ctx("relay", &ctx, "sent %d", 3);
	log_warn("api", "two\nlines\n");
	out = test_capture_end();

	assert_int_equal(test_count_lines(out), 2);
	/* "2026-11-26T20:21:46.123Z " is 25 characters. */
	assert_true(strlen(out) > 25);
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[19], '.');
	assert_int_equal(out[23], 'Z');
	assert_ptr_equal(strstr(out,
	                        " INFO  relay: sent 3 [message_id=42 topic=t partition=1 "
	                        "offset=7 group=billing traceparent=00-0af7651916cd43dd8448eb211c80"
	                        "319c-b7ad6b7169203331-01]\n"),
	                 out + 24);
	assert_non_null(strstr(out, " WARN  api: two lines\n"));
	free(out);
}

static void test_log_json_line(void **state)
{
	const struct log_ctx ctx = {
	    .message_id = 42, .topic = "orders", .partition = 1, .offset = 7, .group = "g1"};
	json_error_t jerr;
	json_t *obj;
	char *out;

	(void)state;
	log_init(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	test_capture_start();
	log_error_ctx("relay", &ctx, "said \"%s\" \\ \t%d", "hi", 5);
	out = test_capture_end();

	assert_int_equal(test_count_lines(out), 1);
	obj = json_loads(out, 0, &jerr);
	if (obj == NULL)
		fail_msg("not JSON: %s (%s)", out, jerr.text);
	assert_true(json_is_string(json_object_get(obj, "ts")));
	assert_int_equal(strlen(json_string_value(json_object_get(obj, "ts"))), 24);
	assert_string_equal(json_string_value(json_object_get(obj, "level")), "error");
	assert_string_equal(json_string_value(json_object_get(obj, "module")), "relay");
	assert_string_equal(json_string_value(json_object_get(obj, "msg")), "said \"hi\" \\ \t5");
	assert_int_equal(json_integer_value(json_object_get(obj, "message_id")), 42);
	assert_string_equal(json_string_value(json_object_get(obj, "topic")), "orders");
	assert_int_equal(json_integer_value(json_object_get(obj, "partition")), 1);
	assert_int_equal(json_integer_value(json_object_get(obj, "offset")), 7);
	assert_string_equal(json_string_value(json_object_get(obj, "group")), "g1");
	assert_null(json_object_get(obj, "traceparent"));
	json_decref(obj);
	free(out);
}

static void test_log_context_only_when_set(void **state)
{
	const struct log_ctx none = {
	    .message_id = -1, .topic = NULL, .partition = -1, .offset = -1};
	const struct log_ctx id_only = {
	    .message_id = 9, .topic = NULL, .partition = -1, .offset = -1};
	json_t *obj;
	char *out;
	char *second;

	(void)state;
	log_init(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	test_capture_start();
	log_info_ctx("m", &none, "a");
	log_info_ctx("m", &id_only, "b");
	out = test_capture_end();
	assert_int_equal(test_count_lines(out), 2);
	second = strchr(out, '\n') + 1;

	obj = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(obj);
	assert_int_equal(json_object_size(obj), 4); /* ts, level, module, msg */
	assert_null(json_object_get(obj, "message_id"));
	assert_null(json_object_get(obj, "topic"));
	json_decref(obj);

	obj = json_loads(second, 0, NULL);
	assert_non_null(obj);
	assert_int_equal(json_object_size(obj), 5);
	assert_int_equal(json_integer_value(json_object_get(obj, "message_id")), 9);
	assert_null(json_object_get(obj, "topic"));
	assert_null(json_object_get(obj, "partition"));
	assert_null(json_object_get(obj, "offset"));
	json_decref(obj);
	free(out);

	log_init(LOG_LEVEL_INFO, LOG_FORMAT_TEXT);
	test_capture_start();
	log_info_ctx("m", &none, "a");
	log_info_ctx("m", &id_only, "b");
	out = test_capture_end();
	assert_non_null(strstr(out, "m: a\n"));
	assert_non_null(strstr(out, "m: b [message_id=9]\n"));
	free(out);
}

static int test_evaluations;

static int test_expensive(void)
{
	test_evaluations++;
	return 1;
}

static void test_log_threshold(void **state)
{
	char *out;

	(void)state;
	test_evaluations = 0;
	log_init(LOG_LEVEL_WARN, LOG_FORMAT_TEXT);
	test_capture_start();
	log_debug("m", "debug %d", test_expensive());
	log_info("m", "info %d", test_expensive());
	out = test_capture_end();
	assert_string_equal(out, "");
	assert_int_equal(test_evaluations, 0);
	free(out);

	test_capture_start();
	log_warn("m", "warn %d", test_expensive());
	out = test_capture_end();
	assert_int_equal(test_evaluations, 1);
	assert_non_null(strstr(out, " WARN  m: warn 1\n"));
	free(out);
}

static void test_log_long_and_odd_messages(void **state)
{
	char *big = malloc(10001);
	json_t *obj;
	char *out;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 10000);
	big[10000] = '\0';
	log_init(LOG_LEVEL_DEBUG, LOG_FORMAT_JSON);
	errno = EAGAIN;
	test_capture_start();
	log_debug("m", "%s", big);
	log_info("m", "bad utf-8: \xff\xfe end");
	out = test_capture_end();
	assert_int_equal(errno, EAGAIN); /* logging leaves errno alone */
	assert_int_equal(test_count_lines(out), 2);

	obj = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(obj);
	assert_string_equal(json_string_value(json_object_get(obj, "msg")), big);
	json_decref(obj);
	obj = json_loads(strchr(out, '\n') + 1, 0, NULL);
	assert_non_null(obj); /* invalid UTF-8 is replaced, the line is still JSON */
	assert_string_equal(json_string_value(json_object_get(obj, "msg")), "bad utf-8: ?? end");
	json_decref(obj);
	free(out);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_log_default_threshold_is_info),
	    cmocka_unit_test(test_log_level_parse),
	    cmocka_unit_test(test_log_format_parse),
	    cmocka_unit_test_setup_teardown(test_log_text_line, test_reset, test_reset),
	    cmocka_unit_test_setup_teardown(test_log_json_line, test_reset, test_reset),
	    cmocka_unit_test_setup_teardown(test_log_context_only_when_set, test_reset, test_reset),
	    cmocka_unit_test_setup_teardown(test_log_threshold, test_reset, test_reset),
	    cmocka_unit_test_setup_teardown(test_log_long_and_odd_messages, test_reset, test_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
