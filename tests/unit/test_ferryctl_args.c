/*
 * Unit tests for ferryctl's argument parsing (ctl_args.c) and for the dispatcher's usage errors
 * (ctl_cmd.c): what an operator types either works or gets exit 2 and one line saying why,
 * before anything is sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl_args.h"
#include "cli/ctl_cmd.h"

static const struct ctl_opt opts[] = {
    {"topic", 't', "TOPIC", false, "the topic"},
    {"header", 'H', "NAME=VALUE", true, "a header"},
    {"json", 0, NULL, false, "json output"},
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static int parse(struct ctl_args *a, char *err, size_t size, int argc, ...)
{
	char *argv[16];
	va_list ap;
	int i;

	va_start(ap, argc);
	for (i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	return ctl_args_parse(opts, N_OPTS, argc, argv, a, err, size);
}

static void test_forms_of_options(void **state)
{
	struct ctl_args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, err, sizeof(err), 7, "pos1", "--topic", "t1", "-H", "a=1",
	                       "--header=b=2", "--json"),
	                 0);
	assert_string_equal(ctl_args_get(&a, "topic"), "t1");
	assert_int_equal(ctl_args_count(&a, "header"), 2);
	assert_string_equal(ctl_args_value(&a, "header", 0), "a=1");
	assert_string_equal(ctl_args_value(&a, "header", 1), "b=2");
	assert_true(ctl_args_has(&a, "json"));
	assert_string_equal(ctl_args_get(&a, "json"), "");
	assert_int_equal(a.n_pos, 1);
	assert_string_equal(a.pos[0], "pos1");
	assert_null(ctl_args_get(&a, "nonexistent"));
	ctl_args_free(&a);

	/* "--" ends options; "-" alone is a positional (stdin by convention). */
	assert_int_equal(parse(&a, err, sizeof(err), 4, "-", "--", "--topic", "-x"), 0);
	assert_int_equal(a.n_pos, 3);
	assert_string_equal(a.pos[0], "-");
	assert_string_equal(a.pos[1], "--topic");
	assert_string_equal(a.pos[2], "-x");
	assert_false(ctl_args_has(&a, "topic"));
	ctl_args_free(&a);

	/* An empty value is a value. */
	assert_int_equal(parse(&a, err, sizeof(err), 1, "--topic="), 0);
	assert_string_equal(ctl_args_get(&a, "topic"), "");
	ctl_args_free(&a);
}

static void test_option_errors(void **state)
{
	struct ctl_args a;
	char err[256];

	(void)state;
	assert_int_equal(parse(&a, err, sizeof(err), 1, "--bogus"), -1);
	assert_string_equal(err, "unknown option '--bogus'");
	assert_int_equal(parse(&a, err, sizeof(err), 1, "--bogus=1"), -1);
	assert_string_equal(err, "unknown option '--bogus'");
	assert_int_equal(parse(&a, err, sizeof(err), 1, "-x"), -1);
	assert_string_equal(err, "unknown option '-x'");
	assert_int_equal(parse(&a, err, sizeof(err), 1, "--topic"), -1);
	assert_string_equal(err, "option --topic needs a value (TOPIC)");
	assert_int_equal(parse(&a, err, sizeof(err), 1, "--json=yes"), -1);
	assert_string_equal(err, "option --json takes no value");
	assert_int_equal(parse(&a, err, sizeof(err), 4, "-t", "a", "--topic", "b"), -1);
	assert_string_equal(err, "option --topic given more than once");
	/* A failed parse leaves nothing to free, but freeing is safe. */
	ctl_args_free(&a);
}

static void test_help_lines(void **state)
{
	char buf[1024];

	(void)state;
	ctl_args_format_help(opts, N_OPTS, buf, sizeof(buf));
	assert_non_null(strstr(buf, "  -t, --topic TOPIC"));
	assert_non_null(strstr(buf, "      --json "));
	assert_non_null(strstr(buf, "a header (repeatable)"));
	/* Truncation keeps it a string. */
	ctl_args_format_help(opts, N_OPTS, buf, 10);
	assert_true(strlen(buf) < 10);
}

static void test_integers_and_booleans(void **state)
{
	char err[256];
	int64_t v;
	bool b;

	(void)state;
	assert_int_equal(ctl_args_parse_int("42", "--count", 1, 100, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 42);
	assert_int_equal(ctl_args_parse_int("-1", "--max-retries", -1, 1000, &v, err, sizeof(err)),
	                 0);
	assert_int_equal(v, -1);
	assert_int_equal(ctl_args_parse_int("0", "--count", 1, 100, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "--count: expected an integer from 1 to 100, got '0'");
	assert_int_equal(ctl_args_parse_int("12x", "--count", 1, 100, &v, err, sizeof(err)), -1);
	assert_int_equal(ctl_args_parse_int("", "--count", 1, 100, &v, err, sizeof(err)), -1);
	assert_int_equal(ctl_args_parse_int(" 5", "--count", 1, 100, &v, err, sizeof(err)), -1);
	assert_int_equal(
	    ctl_args_parse_int("99999999999999999999", "id", 1, INT64_MAX, &v, err, sizeof(err)),
	    -1);
	assert_int_equal(ctl_args_parse_bool("TRUE", "--active", &b, err, sizeof(err)), 0);
	assert_true(b);
	assert_int_equal(ctl_args_parse_bool("off", "--active", &b, err, sizeof(err)), 0);
	assert_false(b);
	assert_int_equal(ctl_args_parse_bool("maybe", "--active", &b, err, sizeof(err)), -1);
	assert_string_equal(err, "--active: expected true or false, got 'maybe'");
}

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {{"30", 30000},   {"30s", 30000},       {"250ms", 250},     {"5m", 300000},
	            {"2h", 7200000}, {"7d", 604800000},    {"1h30m", 5400000}, {"1.5s", 1500},
	            {"0s", 0},       {"1m30s500ms", 90500}};
	static const char *const bad[] = {"",     "s",    "-5s",    "5x",     "5 s",
	                                  "1h30", "5sec", "1e400s", "99999d", "m5"};
	char err[256];
	int64_t ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(
		    ctl_args_parse_duration(good[i].text, "--grace", &ms, err, sizeof(err)), 0);
		assert_int_equal(ms, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ctl_args_parse_duration(bad[i], "--grace", &ms, err, sizeof(err)) == 0)
			fail_msg("'%s' was accepted as %lld ms", bad[i], (long long)ms);
		assert_non_null(strstr(err, "--grace: expected a duration"));
	}
}

/* Runs ctl_cmd_main with output captured; returns the exit code. */
static int run_main(char *out, size_t out_size, char *err, size_t err_size, int argc, ...)
{
	char *argv[16];
	FILE *fo = fmemopen(out, out_size, "w"), *fe = fmemopen(err, err_size, "w");
	va_list ap;
	int i, rc;

	assert_non_null(fo);
	assert_non_null(fe);
	argv[0] = "ferryctl";
	va_start(ap, argc);
	for (i = 1; i <= argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	rc = ctl_cmd_main(argc + 1, argv, fo, fe);
	fclose(fo);
	fclose(fe);
	return rc;
}

static void test_usage_errors_exit_2(void **state)
{
	char out[8192], err[1024];

	(void)state;
	unsetenv("FERRY_URL");
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 1, "frobnicate"), 2);
	assert_string_equal(err,
	                    "ferryctl: unknown command 'frobnicate' (try 'ferryctl --help')\n");
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 2, "topics", "frob"), 2);
	assert_string_equal(
	    err, "ferryctl: unknown subcommand 'topics frob' (try 'ferryctl topics --help')\n");
	assert_int_equal(
	    run_main(out, sizeof(out), err, sizeof(err), 3, "topics", "list", "--bogus"), 2);
	assert_string_equal(err, "ferryctl: topics list: unknown option '--bogus' (try 'ferryctl "
	                         "topics list --help')\n");
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 1, "--bogus"), 2);
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 2, "send", "only-topic"), 2);
	assert_non_null(strstr(err, "send: missing TOPIC MESSAGE"));
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 3, "messages", "show", "x"),
	                 2);
	assert_non_null(strstr(err, "message id: expected an integer"));
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 3, "e2e", "--count", "0"), 2);
	assert_int_equal(
	    run_main(out, sizeof(out), err, sizeof(err), 3, "verify", "--grace", "soon"), 2);
	/* A malformed URL is named, before any request. */
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 4, "--url", "localhost:5301",
	                          "topics", "list"),
	                 2);
	assert_string_equal(err,
	                    "ferryctl: invalid URL 'localhost:5301': expected http://host:port "
	                    "(--url or FERRY_URL)\n");
	/* Nothing at all: the overview on stderr, exit 2. */
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 0), 2);
	assert_non_null(strstr(err, "Usage: ferryctl"));
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 1, "topics"), 2);
	assert_non_null(strstr(err, "Usage: ferryctl topics SUBCOMMAND"));
}

static void test_help_exits_0(void **state)
{
	char out[8192], err[1024];

	(void)state;
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 1, "--help"), 0);
	assert_non_null(strstr(out, "groups status"));
	assert_non_null(strstr(out, "e2e"));
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 2, "topics", "--help"), 0);
	assert_non_null(strstr(out, "deactivate"));
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 2, "send", "--help"), 0);
	assert_non_null(strstr(out, "Usage: ferryctl send TOPIC MESSAGE|@FILE|@-"));
	assert_non_null(strstr(out, "--no-batching"));
	assert_non_null(strstr(out, "--url URL"));
	/* --help wins over missing arguments. */
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 3, "messages", "show", "-h"),
	                 0);
	assert_int_equal(run_main(out, sizeof(out), err, sizeof(err), 2, "e2e", "--help"), 0);
	assert_non_null(strstr(out, "--batching"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forms_of_options), cmocka_unit_test(test_option_errors),
	    cmocka_unit_test(test_help_lines),       cmocka_unit_test(test_integers_and_booleans),
	    cmocka_unit_test(test_durations),        cmocka_unit_test(test_usage_errors_exit_2),
	    cmocka_unit_test(test_help_exits_0),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
