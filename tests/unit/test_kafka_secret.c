/*
 * Unit tests for kafka_secret.c: which Kafka properties are secret, and scrubbing configured
 * secret values out of librdkafka's error text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "common/kafka_auth.h"
#include "common/kafka_conf.h"
#include "common/kafka_secret.h"

static void test_secret_properties(void **state)
{
	static const char *const secret[] = {
	    "sasl.password",
	    "ssl.key.password",
	    "ssl.key.pem",
	    "ssl.keystore.password",
	    "sasl.oauthbearer.client.secret",
	    "sasl.oauthbearer.config",
	    "sasl.oauthbearer.extensions",
	    "sasl.jaas.config",
	    "some.api.token",
	    "vendor.apikey",
	    "SASL.PASSWORD",
	};
	static const char *const plain[] = {
	    "sasl.username",         "sasl.mechanisms",
	    "security.protocol",     "ssl.ca.location",
	    "ssl.key.location", /* a path, shown in errors */
	    "ssl.keystore.location", "ssl.certificate.location",
	    "ssl.certificate.pem",   "ssl.endpoint.identification.algorithm",
	    "partitioner",           "sasl.kerberos.keytab",
	    "bootstrap.servers",     "",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		if (!kafka_secret_property(secret[i]))
			fail_msg("%s should be secret", secret[i]);
	}
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (kafka_secret_property(plain[i]))
			fail_msg("%s should not be secret", plain[i]);
	}
	assert_false(kafka_secret_property(NULL));
}

static void test_scrub_every_occurrence(void **state)
{
	const char *values[] = {"hunter2", "", "pw"};
	char text[128] = "Invalid value \"hunter2\" (hunter2) for pw";

	(void)state;
	kafka_secret_scrub(text, sizeof(text), values, 3);
	assert_string_equal(text, "Invalid value \"***\" (***) for ***");
}

static void test_scrub_longest_first(void **state)
{
	/* "abc" inside "xabcx": the longer value is masked whole, leaving no "x" around it. */
	const char *values[] = {"abc", "xabcx"};
	char text[64] = "1 xabcx 2 abc";

	(void)state;
	kafka_secret_scrub(text, sizeof(text), values, 2);
	assert_string_equal(text, "1 *** 2 ***");
}

static void test_scrub_truncates_to_the_buffer(void **state)
{
	const char *values[] = {"s"};
	char text[6] = "ssss"; /* each 1-byte secret grows to 3 bytes */

	(void)state;
	kafka_secret_scrub(text, sizeof(text), values, 1);
	assert_int_equal(strlen(text), 5);
	assert_string_equal(text, "*****");
}

static void test_scrub_env_masks_pem_lines(void **state)
{
	char text[256];

	(void)state;
	setenv("KAFKA_SASL_PASSWORD", "s3cr3t-value", 1);
	setenv("KAFKA_SSL_KEY_PEM",
	       "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0\n-----END PRIVATE KEY-----\n",
	       1);
	setenv("KAFKA_SASL_USERNAME", "ferry", 1);
	snprintf(text, sizeof(text), "user ferry: s3cr3t-value; PEM line MIIEvQIBADANBgkqhkiG9w0");
	kafka_secret_scrub_env(text, sizeof(text));
	assert_string_equal(text, "user ferry: ***; PEM line ***");
	unsetenv("KAFKA_SASL_PASSWORD");
	unsetenv("KAFKA_SSL_KEY_PEM");
	unsetenv("KAFKA_SASL_USERNAME");
}

/* librdkafka's own error for a rejected value must reach the error line without the value. */
static void test_conf_build_error_has_no_secret(void **state)
{
	char errstr[1024];
	rd_kafka_conf_t *conf;

	(void)state;
	/* librdkafka quotes the value it rejects: "Invalid value \"...\" for ..." */
	setenv("KAFKA_SASL_PASSWORD", "NotShown-42", 1);
	setenv("KAFKA_SSL_KEY_PASSWORD", "", 1);
	setenv("KAFKA_SASL_OAUTHBEARER_CONFIG", "NotShown-42", 1);
	setenv("KAFKA_SECURITY_PROTOCOL", "NotShown-42", 1); /* rejected, not secret */
	conf = kafka_conf_build("127.0.0.1:1", NULL, 0, NULL, 0, errstr, sizeof(errstr));
	assert_null(conf);
	/* Not secret by name, but a secret's value is scrubbed wherever it appears. */
	assert_null(strstr(errstr, "NotShown-42"));
	assert_non_null(strstr(errstr, "KAFKA_SECURITY_PROTOCOL"));
	assert_non_null(strstr(errstr, "Invalid value"));
	unsetenv("KAFKA_SECURITY_PROTOCOL");
	unsetenv("KAFKA_SASL_PASSWORD");
	unsetenv("KAFKA_SSL_KEY_PASSWORD");
	unsetenv("KAFKA_SASL_OAUTHBEARER_CONFIG");
}

/* Health's view: only an authentication failure counts, an outage does not. */
static void test_auth_failure_noted(void **state)
{
	(void)state;
	assert_false(kafka_auth_failing());
	kafka_auth_note(RD_KAFKA_RESP_ERR__TRANSPORT, "Connection refused");
	kafka_auth_note(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, "1/1 brokers are down");
	assert_false(kafka_auth_failing());
	kafka_auth_note(RD_KAFKA_RESP_ERR__AUTHENTICATION, "SASL authentication error");
	assert_true(kafka_auth_failing());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_secret_properties),
	    cmocka_unit_test(test_scrub_every_occurrence),
	    cmocka_unit_test(test_scrub_longest_first),
	    cmocka_unit_test(test_scrub_truncates_to_the_buffer),
	    cmocka_unit_test(test_scrub_env_masks_pem_lines),
	    cmocka_unit_test(test_conf_build_error_has_no_secret),
	    cmocka_unit_test(test_auth_failure_noted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
