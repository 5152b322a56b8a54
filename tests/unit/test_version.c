/*
 * The version is written once, in CMakeLists.txt's project(VERSION): every binary's --version
 * and libferry's ferry_version() say exactly that (no literal left behind in a main.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ferry/version.h"

/* The first line `bin --version` prints, without its newline. */
static void version_line(const char *bin, char *out, size_t out_size)
{
	char cmd[4096];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' --version", bin);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(out, (int)out_size, p) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(pclose(p), 0);
}

static void test_header_and_library(void **state)
{
	char want[64];

	(void)state;
	assert_string_equal(FERRY_VERSION, FERRY_PROJECT_VERSION);
	assert_string_equal(ferry_version(), FERRY_PROJECT_VERSION);
	snprintf(want, sizeof(want), "%d.%d.%d", FERRY_VERSION_MAJOR, FERRY_VERSION_MINOR,
	         FERRY_VERSION_PATCH);
	assert_string_equal(want, FERRY_PROJECT_VERSION);
}

static void test_binaries(void **state)
{
	static const struct {
		const char *bin;
		const char *name;
	} bins[] = {
	    {FERRY_PRODUCER_BIN, "ferry-producer"},
	    {FERRY_CONSUMER_BIN, "ferry-consumer"},
	    {FERRY_CTL_BIN, "ferryctl"},
	};
	char got[256], want[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		version_line(bins[i].bin, got, sizeof(got));
		snprintf(want, sizeof(want), "%s %s", bins[i].name, FERRY_PROJECT_VERSION);
		assert_string_equal(got, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_and_library),
	    cmocka_unit_test(test_binaries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
