/*
 * test_auth_key.c - the pure parts of API keys: constant-time comparison, SHA-256, key format,
 * finding the key in a request's headers, role names, and what counts as loopback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/auth_key.h"
#include "common/auth_roles.h"
#include "common/service_auth.h"

static void test_ct_equal(void **state)
{
	(void)state;
	assert_true(auth_ct_equal("abcdef", "abcdef", 6));
	assert_false(auth_ct_equal("abcdef", "abcdeg", 6)); /* last byte */
	assert_false(auth_ct_equal("xbcdef", "abcdef", 6)); /* first byte */
	assert_false(auth_ct_equal("\x80", "\x00", 1));     /* high bit alone */
	assert_true(auth_ct_equal("a", "b", 0));            /* nothing to compare */
}

static void test_hash_is_sha256_hex(void **state)
{
	char hash[AUTH_KEY_HASH_LEN + 1];

	(void)state;
	assert_int_equal(auth_key_hash("abc", hash), 0);
	assert_string_equal(hash,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(auth_key_hash("", hash), 0);
	assert_string_equal(hash,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_generate(void **state)
{
	char a[AUTH_KEY_LEN + 1], b[AUTH_KEY_LEN + 1], err[128];

	(void)state;
	assert_int_equal(auth_key_generate(a, err, sizeof(err)), 0);
	assert_int_equal(auth_key_generate(b, err, sizeof(err)), 0);
	assert_int_equal(strlen(a), AUTH_KEY_LEN);
	assert_memory_equal(a, "fk_", 3);
	assert_int_equal(strspn(a + 3, "0123456789abcdef"), 64);
	assert_string_not_equal(a, b);
}

static void test_from_headers(void **state)
{
	size_t len = 99;
	const char *k;

	(void)state;
	k = auth_key_from_headers("Bearer fk_abc", NULL, &len);
	assert_non_null(k);
	assert_int_equal(len, 6);
	assert_memory_equal(k, "fk_abc", 6);
	k = auth_key_from_headers("  bearer   fk_abc  ", NULL, &len); /* scheme any case */
	assert_int_equal(len, 6);
	assert_memory_equal(k, "fk_abc", 6);
	k = auth_key_from_headers(NULL, " fk_x ", &len); /* X-Api-Key */
	assert_int_equal(len, 4);
	assert_memory_equal(k, "fk_x", 4);
	k = auth_key_from_headers("Basic dXNlcjpwdw==", "fk_x", &len); /* other scheme: X-Api-Key */
	assert_int_equal(len, 4);
	assert_null(auth_key_from_headers("Basic dXNlcjpwdw==", NULL, &len));
	assert_null(auth_key_from_headers("Bearer", NULL, &len));
	assert_null(auth_key_from_headers("Bearer    ", "", &len));
	assert_null(auth_key_from_headers("Bearerfk_abc", NULL, &len));
	assert_null(auth_key_from_headers(NULL, NULL, &len));
	assert_int_equal(len, 0);
}

static void test_name_valid(void **state)
{
	char long_name[AUTH_KEY_NAME_MAX + 1];

	(void)state;
	assert_true(auth_key_name_valid("ops-1.team_a"));
	assert_false(auth_key_name_valid(""));
	assert_false(auth_key_name_valid("a b"));
	assert_false(auth_key_name_valid("a/b"));
	memset(long_name, 'a', AUTH_KEY_NAME_MAX);
	long_name[AUTH_KEY_NAME_MAX] = '\0';
	assert_false(auth_key_name_valid(long_name));
	long_name[AUTH_KEY_NAME_MAX - 1] = '\0';
	assert_true(auth_key_name_valid(long_name));
}

static void test_roles(void **state)
{
	unsigned roles = 0;
	char err[128], buf[64];

	(void)state;
	assert_int_equal(auth_roles_parse("producer", &roles, err, sizeof(err)), 0);
	assert_int_equal(roles, AUTH_ROLE_PRODUCER);
	assert_int_equal(auth_roles_parse(" reader , operator,reader", &roles, err, sizeof(err)),
	                 0);
	assert_int_equal(roles, AUTH_ROLE_READER | AUTH_ROLE_OPERATOR);
	auth_roles_format(roles, buf, sizeof(buf));
	assert_string_equal(buf, "operator,reader");
	auth_roles_format(AUTH_ROLE_ALL, buf, sizeof(buf));
	assert_string_equal(buf, "producer,consumer,operator,reader");
	assert_int_equal(auth_roles_parse("admin", &roles, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown role 'admin'"));
	assert_int_equal(auth_roles_parse("", &roles, err, sizeof(err)), -1);
	assert_int_equal(auth_roles_parse("reader,", &roles, err, sizeof(err)), -1);
	assert_string_equal(auth_role_name(AUTH_ROLE_CONSUMER), "consumer");
	assert_null(auth_role_name(AUTH_ROLE_CONSUMER | AUTH_ROLE_READER));
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(service_auth_is_loopback("127.0.0.1"));
	assert_true(service_auth_is_loopback("127.1.2.3"));
	assert_true(service_auth_is_loopback("::1"));
	assert_true(service_auth_is_loopback("localhost"));
	assert_false(service_auth_is_loopback(""));
	assert_false(service_auth_is_loopback("0.0.0.0"));
	assert_false(service_auth_is_loopback("::"));
	assert_false(service_auth_is_loopback("10.0.0.1"));
	assert_false(service_auth_is_loopback("example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ct_equal),   cmocka_unit_test(test_hash_is_sha256_hex),
	    cmocka_unit_test(test_generate),   cmocka_unit_test(test_from_headers),
	    cmocka_unit_test(test_name_valid), cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
