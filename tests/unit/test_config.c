/*
 * test_config.c - the settings table: defaults, environment, overrides, validation, the
 * Markdown table, KAFKA_* passthrough and --urls parsing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

static char *test_name;
static long test_batch;
static bool test_verbose;
static char *test_mode;
static char *test_topics;

static const char *const test_modes[] = {"fast", "safe", "off", NULL};

static const struct config_setting test_table[] = {
    {"TEST_FERRY_NAME", CONFIG_STRING, "ferry", 0, 0, NULL, "Instance name.", &test_name},
    {"TEST_FERRY_BATCH", CONFIG_INT, "100", 1, 1000, NULL, "Rows per batch.", &test_batch},
    {"TEST_FERRY_VERBOSE", CONFIG_BOOL, "false", 0, 0, NULL, "Say more | or less.", &test_verbose},
    {"TEST_FERRY_MODE", CONFIG_ENUM, "safe", 0, 0, test_modes, "Delivery mode.", &test_mode},
    {"KAFKA_TOPICS", CONFIG_STRING, NULL, 0, 0, NULL, "Topics to create.", &test_topics},
};
#define TEST_N (sizeof(test_table) / sizeof(test_table[0]))

static int test_setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < TEST_N; i++)
		unsetenv(test_table[i].env);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	config_free(test_table, TEST_N);
	for (size_t i = 0; i < TEST_N; i++)
		unsetenv(test_table[i].env);
	return 0;
}

static void test_config_defaults(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(config_load(test_table, TEST_N, NULL, err, sizeof(err)), 0);
	assert_string_equal(test_name, "ferry");
	assert_int_equal(test_batch, 100);
	assert_false(test_verbose);
	assert_string_equal(test_mode, "safe");
	assert_null(test_topics);
}

static void test_config_env_overrides_default(void **state)
{
	char err[256] = "";

	(void)state;
	setenv("TEST_FERRY_NAME", "other", 1);
	setenv("TEST_FERRY_BATCH", "1000", 1);
	setenv("TEST_FERRY_VERBOSE", "YES", 1);
	setenv("TEST_FERRY_MODE", "FAST", 1);
	setenv("KAFKA_TOPICS", "a,b", 1);
	assert_int_equal(config_load(test_table, TEST_N, NULL, err, sizeof(err)), 0);
	assert_string_equal(test_name, "other");
	assert_int_equal(test_batch, 1000);
	assert_true(test_verbose);
	assert_string_equal(test_mode, "fast"); /* stored in the table's spelling */
	assert_string_equal(test_topics, "a,b");
}

static void test_config_overrides_beat_env(void **state)
{
	const char *overrides[TEST_N] = {"flag-name", NULL, NULL, NULL, NULL};
	char err[256] = "";

	(void)state;
	setenv("TEST_FERRY_NAME", "env-name", 1);
	setenv("TEST_FERRY_BATCH", "7", 1);
	overrides[1] = "8";
	assert_int_equal(config_load(test_table, TEST_N, overrides, err, sizeof(err)), 0);
	assert_string_equal(test_name, "flag-name");
	assert_int_equal(test_batch, 8);
}

static void test_config_empty_env_means_default(void **state)
{
	char err[256] = "";

	(void)state;
	setenv("TEST_FERRY_BATCH", "", 1);
	setenv("TEST_FERRY_MODE", "", 1);
	assert_int_equal(config_load(test_table, TEST_N, NULL, err, sizeof(err)), 0);
	assert_int_equal(test_batch, 100);
	assert_string_equal(test_mode, "safe");
}

static void test_config_bool_spellings(void **state)
{
	static const char *const yes[] = {"true", "TRUE", "1", "yes", "On"};
	static const char *const no[] = {"false", "False", "0", "NO", "off"};
	char err[256] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		setenv("TEST_FERRY_VERBOSE", yes[i], 1);
		assert_int_equal(config_load(test_table, TEST_N, NULL, err, sizeof(err)), 0);
		assert_true(test_verbose);
		config_free(test_table, TEST_N);
		setenv("TEST_FERRY_VERBOSE", no[i], 1);
		assert_int_equal(config_load(test_table, TEST_N, NULL, err, sizeof(err)), 0);
		assert_false(test_verbose);
		config_free(test_table, TEST_N);
	}
}

/* Loads with `env` set to `value` and expects failure with exactly `expected` in errstr. */
static void test_config_expect_error(const char *env, const char *value, const char *expected)
{
	char err[256] = "";

	setenv(env, value, 1);
	assert_int_equal(config_load(test_table, TEST_N, NULL, err, sizeof(err)), -1);
	assert_string_equal(err, expected);
	config_free(test_table, TEST_N);
	unsetenv(env);
}

static void test_config_invalid_values(void **state)
{
	(void)state;
	test_config_expect_error("TEST_FERRY_BATCH", "abc",
	                         "TEST_FERRY_BATCH: 'abc' is not an integer (expected 1..1000)");
	test_config_expect_error("TEST_FERRY_BATCH", "12x",
	                         "TEST_FERRY_BATCH: '12x' is not an integer (expected 1..1000)");
	test_config_expect_error("TEST_FERRY_BATCH", "+5",
	                         "TEST_FERRY_BATCH: '+5' is not an integer (expected 1..1000)");
	test_config_expect_error("TEST_FERRY_BATCH", " 5",
	                         "TEST_FERRY_BATCH: ' 5' is not an integer (expected 1..1000)");
	test_config_expect_error("TEST_FERRY_BATCH", "-",
	                         "TEST_FERRY_BATCH: '-' is not an integer (expected 1..1000)");
	test_config_expect_error("TEST_FERRY_BATCH", "1001",
	                         "TEST_FERRY_BATCH: '1001' is out of range (expected 1..1000)");
	test_config_expect_error("TEST_FERRY_BATCH", "-3",
	                         "TEST_FERRY_BATCH: '-3' is out of range (expected 1..1000)");
	test_config_expect_error(
	    "TEST_FERRY_BATCH", "99999999999999999999999",
	    "TEST_FERRY_BATCH: '99999999999999999999999' is out of range (expected 1..1000)");
	test_config_expect_error("TEST_FERRY_VERBOSE", "maybe",
	                         "TEST_FERRY_VERBOSE: 'maybe' is not a boolean (expected true or "
	                         "false)");
	test_config_expect_error("TEST_FERRY_MODE", "slow",
	                         "TEST_FERRY_MODE: 'slow' is not one of fast, safe, off");
}

static void test_config_invalid_override(void **state)
{
	const char *overrides[TEST_N] = {NULL, "0", NULL, NULL, NULL};
	char err[256] = "";

	(void)state;
	assert_int_equal(config_load(test_table, TEST_N, overrides, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "TEST_FERRY_BATCH"));
}

static void test_config_markdown(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rows = 0;

	(void)state;
	assert_non_null(f);
	config_print_markdown(test_table, TEST_N, f);
	fclose(f);

	assert_non_null(strstr(buf, "| Variable | Type | Default | Description |\n"));
	for (size_t i = 0; i < TEST_N; i++) {
		char needle[128];

		snprintf(needle, sizeof(needle), "| `%s` |", test_table[i].env);
		assert_non_null(strstr(buf, needle));
	}
	for (const char *p = buf; (p = strstr(p, "\n| `")) != NULL; p++)
		rows++;
	assert_int_equal(rows, (int)TEST_N);
	assert_non_null(strstr(buf, "| `TEST_FERRY_BATCH` | integer (1..1000) | `100` | "
	                            "Rows per batch. |\n"));
	assert_non_null(strstr(buf, "Say more \\| or less."));
	assert_non_null(strstr(buf, "one of fast, safe, off"));
	free(buf);
}

struct test_kafka_seen {
	int count;
	bool protocol;
	bool mechanisms;
	bool underscore;
};

static int test_kafka_cb(const char *name, const char *value, void *opaque, char *errstr,
                         size_t errstr_size)
{
	struct test_kafka_seen *seen = opaque;

	(void)errstr;
	(void)errstr_size;
	assert_string_not_equal(name, "topics"); /* KAFKA_TOPICS is a setting, not a property */
	if (strcmp(name, "security.protocol") == 0) {
		assert_string_equal(value, "SASL_SSL");
		seen->protocol = true;
	} else if (strcmp(name, "sasl.mechanisms") == 0) {
		assert_string_equal(value, "PLAIN");
		seen->mechanisms = true;
	} else if (strcmp(name, "test.with_underscore") == 0) {
		seen->underscore = true;
	}
	seen->count++;
	return 0;
}

static int test_kafka_cb_fail(const char *name, const char *value, void *opaque, char *errstr,
                              size_t errstr_size)
{
	(void)value;
	(void)opaque;
	snprintf(errstr, errstr_size, "No such configuration property: \"%s\"", name);
	return -1;
}

static void test_config_kafka_passthrough(void **state)
{
	struct test_kafka_seen seen = {0};
	char err[256] = "";

	(void)state;
	setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
	setenv("KAFKA_SASL_MECHANISMS", "PLAIN", 1);
	setenv("KAFKA_TOPICS", "a,b", 1);
	setenv("KAFKA_TEST_WITH__UNDERSCORE", "1", 1);
	setenv("KAFKA_EMPTY_ONE", "", 1);
	assert_int_equal(
	    config_kafka_passthrough(test_table, TEST_N, test_kafka_cb, &seen, err, sizeof(err)),
	    0);
	assert_true(seen.protocol);
	assert_true(seen.mechanisms);
	assert_true(seen.underscore);

	err[0] = '\0';
	assert_int_equal(config_kafka_passthrough(test_table, TEST_N, test_kafka_cb_fail, NULL, err,
	                                          sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "No such configuration property"));

	unsetenv("KAFKA_SECURITY_PROTOCOL");
	unsetenv("KAFKA_SASL_MECHANISMS");
	unsetenv("KAFKA_TEST_WITH__UNDERSCORE");
	unsetenv("KAFKA_EMPTY_ONE");
}

/* Parses `url` and expects success with `host`, `port` and the scheme `https`. */
static void test_listen_scheme_ok(const char *url, const char *host, int port, bool https)
{
	char h[64] = "unset";
	char err[256] = "";
	int p = -1;
	bool tls = !https;

	if (config_parse_listen_url(url, h, sizeof(h), &p, &tls, err, sizeof(err)) != 0)
		fail_msg("'%s' rejected: %s", url, err);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
	assert_int_equal(tls, https);
}

/* Parses the plain-HTTP `url` and expects success with `host` and `port`. */
static void test_listen_ok(const char *url, const char *host, int port)
{
	test_listen_scheme_ok(url, host, port, false);
}

/* Parses `url` and expects failure with `fragment` in errstr. */
static void test_listen_bad(const char *url, const char *fragment)
{
	char h[64];
	char err[256] = "";
	int p = -1;
	bool tls;

	if (config_parse_listen_url(url, h, sizeof(h), &p, &tls, err, sizeof(err)) != -1)
		fail_msg("'%s' accepted", url);
	if (strstr(err, fragment) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", url, err, fragment);
}

static void test_config_listen_url(void **state)
{
	(void)state;
	test_listen_ok("http://localhost:5301", "localhost", 5301);
	test_listen_ok("http://*:5301", "", 5301);
	test_listen_ok("http://+:5301", "", 5301);
	test_listen_ok("http://0.0.0.0:5301", "", 5301);
	test_listen_ok("http://[::1]:5301", "::1", 5301);
	test_listen_ok("HTTP://127.0.0.1:1/", "127.0.0.1", 1);
	test_listen_ok("5301", "", 5301);
	test_listen_ok("http://localhost:5301;https://localhost:5302", "localhost", 5301);
	test_listen_ok("http://localhost:65535", "localhost", 65535);

	test_listen_scheme_ok("https://localhost:5301", "localhost", 5301, true);
	test_listen_scheme_ok("HTTPS://[::1]:443/", "::1", 443, true);
	test_listen_scheme_ok("https://*:5301;http://localhost:5302", "", 5301, true);
	test_listen_bad("https://localhost", "missing port");
	test_listen_bad("http://localhost", "missing port");
	test_listen_bad("http://localhost:", "missing port");
	test_listen_bad("http://localhost:0", "out of range");
	test_listen_bad("http://localhost:65536", "out of range");
	test_listen_bad("http://localhost:99999999999999999999", "out of range");
	test_listen_bad("0", "out of range");
	test_listen_bad("http://localhost:53x1", "not a number");
	test_listen_bad("http://localhost:5301/api", "not a number");
	test_listen_bad("http://:5301", "missing host");
	test_listen_bad("http://[::1:5301", "']'");
	test_listen_bad("http://local host:5301", "invalid host");
	test_listen_bad("ftp://localhost:5301", "expected http://host:port, https://");
	test_listen_bad("localhost:5301", "expected http://");
	test_listen_bad("", "empty");
	test_listen_bad(";http://localhost:5301", "empty");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_defaults, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_config_env_overrides_default, test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_config_overrides_beat_env, test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_config_empty_env_means_default, test_setup,
	                                    test_teardown),
	    cmocka_unit_test_setup_teardown(test_config_bool_spellings, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_config_invalid_values, test_setup, test_teardown),
	    cmocka_unit_test_setup_teardown(test_config_invalid_override, test_setup,
	                                    test_teardown),
	    cmocka_unit_test(test_config_markdown),
	    cmocka_unit_test_setup_teardown(test_config_kafka_passthrough, test_setup,
	                                    test_teardown),
	    cmocka_unit_test(test_config_listen_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
