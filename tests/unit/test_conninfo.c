/*
 * test_conninfo.c - ADO.NET connection strings become libpq conninfo strings that libpq itself
 * parses back to the same values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <string.h>

#include "common/conninfo.h"

/* The connection string the seed's deployments use. */
static const char test_seed[] = "Host=localhost;Port=5432;Database=outbox_db;"
                                "Username=outbox_user;Password=outbox_password";

/* The value libpq's own parser finds for `keyword` in `conninfo` (NULL if unset). Fails the test
 * if libpq rejects the string. The returned pointer lives in *opts; free with PQconninfoFree. */
static const char *test_conninfo_value(const char *conninfo, const char *keyword,
                                       PQconninfoOption **opts)
{
	char *err = NULL;

	if (*opts == NULL) {
		*opts = PQconninfoParse(conninfo, &err);
		if (*opts == NULL)
			fail_msg("libpq rejects '%s': %s", conninfo, err != NULL ? err : "?");
	}
	for (PQconninfoOption *o = *opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, keyword) == 0)
			return o->val;
	}
	fail_msg("libpq has no keyword %s", keyword);
	return NULL;
}

static void test_conninfo_seed_string(void **state)
{
	char out[512];
	char err[256] = "";
	PQconninfoOption *opts = NULL;

	(void)state;
	assert_int_equal(conninfo_translate(test_seed, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(test_conninfo_value(out, "host", &opts), "localhost");
	assert_string_equal(test_conninfo_value(out, "port", &opts), "5432");
	assert_string_equal(test_conninfo_value(out, "dbname", &opts), "outbox_db");
	assert_string_equal(test_conninfo_value(out, "user", &opts), "outbox_user");
	assert_string_equal(test_conninfo_value(out, "password", &opts), "outbox_password");
	PQconninfoFree(opts);
}

static void test_conninfo_unchanged(void **state)
{
	static const char *const inputs[] = {
	    "postgres://outbox_user:pw@localhost:5432/outbox_db",
	    "postgresql://localhost/outbox_db?sslmode=disable",
	    "host=localhost port=5432 dbname=outbox_db user=outbox_user",
	    "dbname=outbox_db",
	    "host=db",
	};
	char out[512];
	char err[256] = "";

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		assert_int_equal(conninfo_translate(inputs[i], out, sizeof(out), err, sizeof(err)),
		                 0);
		assert_string_equal(out, inputs[i]);
	}
}

static void test_conninfo_key_spellings(void **state)
{
	char out[512];
	char err[256] = "";
	PQconninfoOption *opts = NULL;

	(void)state;
	assert_int_equal(conninfo_translate("SERVER=db1,db2; port = 6432 ;User ID=alice;"
	                                    "initial catalog=shop;sslmode=VerifyFull;"
	                                    "Timeout=5;Application Name=ferry test",
	                                    out, sizeof(out), err, sizeof(err)),
	                 0);
	assert_string_equal(test_conninfo_value(out, "host", &opts), "db1,db2");
	assert_string_equal(test_conninfo_value(out, "port", &opts), "6432");
	assert_string_equal(test_conninfo_value(out, "user", &opts), "alice");
	assert_string_equal(test_conninfo_value(out, "dbname", &opts), "shop");
	assert_string_equal(test_conninfo_value(out, "sslmode", &opts), "verify-full");
	assert_string_equal(test_conninfo_value(out, "connect_timeout", &opts), "5");
	assert_string_equal(test_conninfo_value(out, "application_name", &opts), "ferry test");
	PQconninfoFree(opts);
	opts = NULL;

	assert_int_equal(conninfo_translate("host=localhost;USERNAME=bob;Search Path=my schema",
	                                    out, sizeof(out), err, sizeof(err)),
	                 0);
	assert_string_equal(test_conninfo_value(out, "host", &opts), "localhost");
	assert_string_equal(test_conninfo_value(out, "user", &opts), "bob");
	assert_string_equal(test_conninfo_value(out, "options", &opts),
	                    "-c search_path=my\\ schema");
	PQconninfoFree(opts);
}

/* Npgsql's TLS keys, as a seed-style deployment writes them for verify-full with a client
 * certificate. */
static void test_conninfo_tls_files(void **state)
{
	char out[1024];
	char err[256] = "";
	PQconninfoOption *opts = NULL;

	(void)state;
	assert_int_equal(conninfo_translate("Host=db.example;SSL Mode=VerifyFull;"
	                                    "Root Certificate=/etc/ferry/ca dir/ca.crt;"
	                                    "SSL Certificate=/etc/ferry/client.crt;"
	                                    "SSL Key=/etc/ferry/client.key;Username=u",
	                                    out, sizeof(out), err, sizeof(err)),
	                 0);
	assert_string_equal(test_conninfo_value(out, "sslmode", &opts), "verify-full");
	assert_string_equal(test_conninfo_value(out, "sslrootcert", &opts),
	                    "/etc/ferry/ca dir/ca.crt");
	assert_string_equal(test_conninfo_value(out, "sslcert", &opts), "/etc/ferry/client.crt");
	assert_string_equal(test_conninfo_value(out, "sslkey", &opts), "/etc/ferry/client.key");
	assert_string_equal(test_conninfo_value(out, "user", &opts), "u");
	PQconninfoFree(opts);
}

static void test_conninfo_password_special_chars(void **state)
{
	char out[512];
	char err[256] = "";
	PQconninfoOption *opts = NULL;

	(void)state;
	assert_int_equal(conninfo_translate("Host=h;Password=it's a \\secret\\ 'x';Username=u", out,
	                                    sizeof(out), err, sizeof(err)),
	                 0);
	assert_string_equal(test_conninfo_value(out, "password", &opts), "it's a \\secret\\ 'x'");
	assert_string_equal(test_conninfo_value(out, "user", &opts), "u");
	PQconninfoFree(opts);
	opts = NULL;

	/* ADO.NET quoting lets a password contain ';'. */
	assert_int_equal(conninfo_translate("Host=h;Password=\"a;b\"\"c\";Port=1", out, sizeof(out),
	                                    err, sizeof(err)),
	                 0);
	assert_string_equal(test_conninfo_value(out, "password", &opts), "a;b\"c");
	assert_string_equal(test_conninfo_value(out, "port", &opts), "1");
	PQconninfoFree(opts);
}

static void test_conninfo_trailing_semicolon(void **state)
{
	char out[512];
	char err[256] = "";
	PQconninfoOption *opts = NULL;

	(void)state;
	assert_int_equal(
	    conninfo_translate("Host=h;;Port=5432;", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(test_conninfo_value(out, "host", &opts), "h");
	assert_string_equal(test_conninfo_value(out, "port", &opts), "5432");
	PQconninfoFree(opts);
}

static void test_conninfo_errors(void **state)
{
	char out[512];
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_int_equal(
	    conninfo_translate("Host=h;Bogus Key=1", out, sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Bogus Key"));

	err[0] = '\0';
	assert_int_equal(
	    conninfo_translate("Host=h;Password=a;SecretTail", out, sizeof(out), err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "'='"));
	assert_null(strstr(err, "SecretTail")); /* a stray password tail is not echoed */

	err[0] = '\0';
	assert_int_equal(conninfo_translate("", out, sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	err[0] = '\0';
	assert_int_equal(conninfo_translate("   ", out, sizeof(out), err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(conninfo_translate(";;", out, sizeof(out), err, sizeof(err)), -1);
	assert_true(err[0] != '\0');

	err[0] = '\0';
	assert_int_equal(
	    conninfo_translate("Host=h;SSL Mode=sometimes", out, sizeof(out), err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "sometimes"));

	err[0] = '\0';
	assert_int_equal(
	    conninfo_translate("Host=h;Password='open", out, sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unterminated"));
}

static void test_conninfo_small_buffer(void **state)
{
	char out[16];
	char err[256] = "";

	(void)state;
	assert_int_equal(conninfo_translate(test_seed, out, sizeof(out), err, sizeof(err)), -1);
	assert_true(err[0] != '\0');
	assert_string_equal(out, ""); /* never a truncated conninfo that libpq might accept */

	err[0] = '\0';
	assert_int_equal(conninfo_translate("postgres://localhost/outbox_db", out, sizeof(out), err,
	                                    sizeof(err)),
	                 -1);
	assert_true(err[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conninfo_seed_string),
	    cmocka_unit_test(test_conninfo_unchanged),
	    cmocka_unit_test(test_conninfo_key_spellings),
	    cmocka_unit_test(test_conninfo_tls_files),
	    cmocka_unit_test(test_conninfo_password_special_chars),
	    cmocka_unit_test(test_conninfo_trailing_semicolon),
	    cmocka_unit_test(test_conninfo_errors),
	    cmocka_unit_test(test_conninfo_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
