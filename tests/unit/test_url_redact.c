/*
 * Unit tests for url_redact.c: a webhook URL is shown as scheme://host[:port] only, whatever
 * credentials it carries, and a message echoing the URL loses its secret parts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/url_redact.h"

static void expect_redacted(const char *url, const char *want)
{
	char out[300];

	assert_int_equal(url_redact(url, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void expect_invalid(const char *url)
{
	char out[300];

	assert_int_equal(url_redact(url, out, sizeof(out)), -1);
	assert_string_equal(out, URL_REDACT_INVALID);
}

static void test_keeps_scheme_host_port(void **state)
{
	(void)state;
	expect_redacted("https://example.com", "https://example.com");
	expect_redacted("https://example.com/", "https://example.com");
	expect_redacted("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080");
	expect_redacted("HTTPS://Hooks.Example.COM:443", "HTTPS://Hooks.Example.COM:443");
	expect_redacted("http://host:", "http://host"); /* empty port: dropped */
}

static void test_drops_userinfo(void **state)
{
	(void)state;
	expect_redacted("https://user:SECRETW@host/hook", "https://host");
	expect_redacted("https://TOKEN@host:8443", "https://host:8443");
	expect_redacted("https://user:p%40ss@host", "https://host");
	/* The last '@' of the authority ends the userinfo, as libcurl reads it. */
	expect_redacted("https://user:a@b@host.example/x", "https://host.example");
	expect_redacted("https://:SECRET@host", "https://host");
}

static void test_drops_path_query_fragment(void **state)
{
	(void)state;
	expect_redacted("https://hooks.slack.com/services/T000/B000/XXXXSECRET",
	                "https://hooks.slack.com");
	expect_redacted("https://host/hook?token=SECRETQ&x=1", "https://host");
	expect_redacted("https://host?token=SECRETQ", "https://host");
	expect_redacted("https://host#SECRETF", "https://host");
	expect_redacted("https://host:9000/a/b?c=d#e", "https://host:9000");
}

static void test_ipv6_hosts(void **state)
{
	(void)state;
	expect_redacted("http://[::1]:8080/hook", "http://[::1]:8080");
	expect_redacted("https://u:p@[2001:db8::7]/x?y=z", "https://[2001:db8::7]");
	expect_redacted("http://[fe80::1%25eth0]:80", "http://[fe80::1%25eth0]:80");
	expect_redacted("http://[::ffff:192.0.2.1]", "http://[::ffff:192.0.2.1]");
	expect_invalid("http://[::1");           /* no ']' */
	expect_invalid("http://[::1]x/");        /* junk after ']' */
	expect_invalid("http://[zz::1]/");       /* not hex */
	expect_invalid("http://[fe80::1%eth0]"); /* zone not "%25" */
	expect_invalid("http://[1234]");         /* no ':' */
}

static void test_ports(void **state)
{
	(void)state;
	expect_redacted("http://h:1", "http://h:1");
	expect_redacted("http://h:65535", "http://h:65535");
	expect_invalid("http://h:65536");
	expect_invalid("http://h:123456");
	expect_invalid("http://h:8o80");
	/* A password holding '/' ends the authority early: "user" would be the host and "pa" the
	 * port. Junk, and nothing of it is shown. */
	expect_invalid("https://user:pa/ss@host/hook");
}

static void test_junk(void **state)
{
	char small[8];

	(void)state;
	expect_invalid(NULL);
	expect_invalid("");
	expect_invalid("SECRET");
	expect_invalid("host.example/hook");
	expect_invalid("https:/host");
	expect_invalid("://host");
	expect_invalid("1http://host");
	expect_invalid("https://");
	expect_invalid("https:///path");
	expect_invalid("https://user:SECRET@/path");
	expect_invalid("https://ho st/");
	expect_invalid("https://h\xc3\xa9st/");
	expect_invalid("https://host\r\nX: y/");
	/* Too small for the answer: nothing half-written. */
	assert_int_equal(url_redact("https://example.com", small, sizeof(small)), -1);
	assert_string_equal(small, "(invali");
	assert_int_equal(url_redact("https://example.com", small, 0), -1);
}

static void test_text_replaces_url_and_parts(void **state)
{
	const char *url = "https://user:SECRETW@127.0.0.1:9/hook?token=SECRETQ#frag";
	char out[512];

	(void)state;
	url_redact_text(url, "POST https://user:SECRETW@127.0.0.1:9/hook?token=SECRETQ#frag: 500",
	                out, sizeof(out));
	assert_string_equal(out, "POST https://127.0.0.1:9: 500");
	/* Pieces echoed alone (libcurl's messages quote hosts, sometimes paths or userinfo). */
	url_redact_text(url,
	                "no user:SECRETW; token=SECRETQ; value SECRETQ; /hook?token=SECRETQ#frag",
	                out, sizeof(out));
	assert_null(strstr(out, "SECRET"));
	assert_string_equal(out, "no [redacted]; [redacted]; value [redacted]; [redacted]");
	url_redact_text(url, "Failed to connect to 127.0.0.1 port 9", out, sizeof(out));
	assert_string_equal(out, "Failed to connect to 127.0.0.1 port 9");
	url_redact_text(url, NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_text_root_path_and_junk_url(void **state)
{
	char out[256];

	(void)state;
	/* "/" alone is no secret: slashes elsewhere stay. */
	url_redact_text("http://h/", "a/b http://h/", out, sizeof(out));
	assert_string_equal(out, "a/b http://h");
	/* A URL that is junk is replaced whole, and so is all of it past the scheme. */
	url_redact_text("https://user:pa/ss@host/hook",
	                "bad https://user:pa/ss@host/hook; user:pa/ss@host/hook", out, sizeof(out));
	assert_string_equal(out, "bad (invalid URL); [redacted]");
	url_redact_text(NULL, "text", out, sizeof(out));
	assert_string_equal(out, "text");
}

static void test_text_truncates_without_half_secrets(void **state)
{
	const char *url = "https://u:SECRETW@h/p";
	char out[12];

	(void)state;
	url_redact_text(url, "xxxxx u:SECRETW yy", out, sizeof(out));
	/* "[redacted]" does not fit after "xxxxx ": the copy stops before it. */
	assert_string_equal(out, "xxxxx ");
	url_redact_text(url, "abc", out, 1);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keeps_scheme_host_port),
	    cmocka_unit_test(test_drops_userinfo),
	    cmocka_unit_test(test_drops_path_query_fragment),
	    cmocka_unit_test(test_ipv6_hosts),
	    cmocka_unit_test(test_ports),
	    cmocka_unit_test(test_junk),
	    cmocka_unit_test(test_text_replaces_url_and_parts),
	    cmocka_unit_test(test_text_root_path_and_junk_url),
	    cmocka_unit_test(test_text_truncates_without_half_secrets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
