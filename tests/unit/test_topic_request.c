/*
 * Unit tests for topic_request.c: what register-topic, add-group and update-group bodies
 * must look like, their defaults, and the one-line errors naming the field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "producer/api/topic_request.h"

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (v == NULL)
		fail_msg("bad test JSON: %s", err.text);
	return v;
}

/* Parses a register body that must fail, and checks the error text. */
static void topic_fails(const char *text, const char *want)
{
	struct topic_request req;
	char errstr[512];
	json_t *v = parse(text);

	if (topic_request_parse_topic(v, 6, &req, errstr, sizeof(errstr)) == 0)
		fail_msg("accepted %s", text);
	assert_string_equal(errstr, want);
	assert_null(req.groups);
	assert_int_equal(req.n_groups, 0);
	json_decref(v);
}

static void update_fails(const char *text, const char *want)
{
	struct topic_group_update upd;
	char errstr[512];
	json_t *v = parse(text);

	if (topic_request_parse_update(v, &upd, errstr, sizeof(errstr)) == 0)
		fail_msg("accepted %s", text);
	assert_string_equal(errstr, want);
	json_decref(v);
}

static void test_topic_full(void **state)
{
	struct topic_request req;
	char errstr[512];
	json_t *v = parse("{\"topicName\": \"payments.v2\", \"description\": \"Payments\","
	                  " \"partitions\": 12, \"consumerGroups\": ["
	                  "  {\"consumerGroupName\": \"ledger\", \"requiresAcknowledgment\": false,"
	                  "   \"acknowledgmentTimeoutMinutes\": 10, \"maxRetries\": -1},"
	                  "  {\"consumerGroupName\": \"audit_1\","
	                  "   \"acknowledgmentTimeoutSeconds\": 7}]}");

	(void)state;
	assert_int_equal(topic_request_parse_topic(v, 6, &req, errstr, sizeof(errstr)), 0);
	assert_string_equal(req.topic_name, "payments.v2");
	assert_string_equal(req.description, "Payments");
	assert_int_equal(req.partitions, 12);
	assert_int_equal(req.n_groups, 2);
	assert_string_equal(req.groups[0].name, "ledger");
	assert_false(req.groups[0].requires_ack);
	assert_int_equal(req.groups[0].ack_timeout_seconds, 600);
	assert_int_equal(req.groups[0].max_retries, -1);
	assert_string_equal(req.groups[1].name, "audit_1");
	assert_true(req.groups[1].requires_ack);
	assert_int_equal(req.groups[1].ack_timeout_seconds, 7);
	assert_int_equal(req.groups[1].max_retries, 3);
	topic_request_clear(&req);
	assert_null(req.groups);
	json_decref(v);
}

static void test_topic_defaults(void **state)
{
	struct topic_request req;
	char errstr[512];
	json_t *v = parse("{\"topicName\": \"t\"}");
	json_t *w = parse("{\"topicName\": \"t\", \"description\": null, \"partitions\": null,"
	                  " \"consumerGroups\": []}");

	(void)state;
	assert_int_equal(topic_request_parse_topic(v, 6, &req, errstr, sizeof(errstr)), 0);
	assert_null(req.description);
	assert_int_equal(req.partitions, 6); /* the caller's default */
	assert_int_equal(req.n_groups, 0);
	assert_null(req.groups);
	topic_request_clear(&req);
	assert_int_equal(topic_request_parse_topic(w, 3, &req, errstr, sizeof(errstr)), 0);
	assert_int_equal(req.partitions, 3);
	assert_int_equal(req.n_groups, 0);
	topic_request_clear(&req);
	json_decref(v);
	json_decref(w);
}

static void test_group_defaults(void **state)
{
	struct topic_group_request g;
	char errstr[512];
	json_t *v = parse("{\"consumerGroupName\": \"inventory-service\"}");

	(void)state;
	assert_int_equal(topic_request_parse_group(v, "", &g, errstr, sizeof(errstr)), 0);
	assert_string_equal(g.name, "inventory-service");
	assert_true(g.requires_ack);
	assert_int_equal(g.ack_timeout_seconds, 300);
	assert_int_equal(g.max_retries, 3);
	json_decref(v);
}

static void test_seconds_take_precedence(void **state)
{
	struct topic_group_request g;
	char errstr[512];
	json_t *v = parse("{\"consumerGroupName\": \"g\", \"acknowledgmentTimeoutMinutes\": 2,"
	                  " \"acknowledgmentTimeoutSeconds\": 5}");
	json_t *bad = parse("{\"consumerGroupName\": \"g\", \"acknowledgmentTimeoutMinutes\": 0,"
	                    " \"acknowledgmentTimeoutSeconds\": 5}");

	(void)state;
	assert_int_equal(topic_request_parse_group(v, "", &g, errstr, sizeof(errstr)), 0);
	assert_int_equal(g.ack_timeout_seconds, 5);
	/* Both are still checked. */
	assert_int_equal(topic_request_parse_group(bad, "", &g, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "acknowledgmentTimeoutMinutes: must be an integer from 1 to "
	                            "10080");
	json_decref(v);
	json_decref(bad);
}

static void test_limits_accepted(void **state)
{
	struct topic_request req;
	char errstr[512];
	json_t *v =
	    parse("{\"topicName\": \"t\", \"partitions\": 1000, \"consumerGroups\": ["
	          " {\"consumerGroupName\": \"a\", \"acknowledgmentTimeoutSeconds\": 604800,"
	          "  \"maxRetries\": 1000},"
	          " {\"consumerGroupName\": \"b\", \"acknowledgmentTimeoutMinutes\": 10080,"
	          "  \"maxRetries\": -1},"
	          " {\"consumerGroupName\": \"c\", \"acknowledgmentTimeoutSeconds\": 1,"
	          "  \"maxRetries\": 0}]}");

	(void)state;
	assert_int_equal(topic_request_parse_topic(v, 6, &req, errstr, sizeof(errstr)), 0);
	assert_int_equal(req.partitions, 1000);
	assert_int_equal(req.groups[0].ack_timeout_seconds, 604800);
	assert_int_equal(req.groups[0].max_retries, 1000);
	assert_int_equal(req.groups[1].ack_timeout_seconds, 604800);
	assert_int_equal(req.groups[2].ack_timeout_seconds, 1);
	assert_int_equal(req.groups[2].max_retries, 0);
	topic_request_clear(&req);
	json_decref(v);
}

static void test_topic_errors(void **state)
{
	char long_name[300], body[400], want[200];

	(void)state;
	topic_fails("[]", "body: must be a JSON object");
	topic_fails("{}", "topicName: is required");
	topic_fails("{\"topicName\": null}", "topicName: is required");
	topic_fails("{\"topicName\": 7}", "topicName: must be a string");
	topic_fails("{\"topicName\": \"has space\"}",
	            "topicName: 'has space' is not a valid name (1-249 characters of A-Z a-z 0-9 "
	            ". _ -, not . or ..)");
	topic_fails("{\"topicName\": \"\"}",
	            "topicName: '' is not a valid name (1-249 characters of A-Z a-z 0-9 . _ -, "
	            "not . or ..)");
	topic_fails("{\"topicName\": \"..\"}",
	            "topicName: '..' is not a valid name (1-249 characters of A-Z a-z 0-9 . _ -, "
	            "not . or ..)");
	memset(long_name, 'x', 250);
	long_name[250] = '\0';
	snprintf(body, sizeof(body), "{\"topicName\": \"%s\"}", long_name);
	snprintf(want, sizeof(want),
	         "topicName: '%.64s' is not a valid name (1-249 characters of A-Z a-z 0-9 . _ -, "
	         "not . or ..)",
	         long_name);
	topic_fails(body, want);
	topic_fails("{\"topicName\": \"t\", \"partitions\": 0}",
	            "partitions: must be an integer from 1 to 1000");
	topic_fails("{\"topicName\": \"t\", \"partitions\": 1001}",
	            "partitions: must be an integer from 1 to 1000");
	topic_fails("{\"topicName\": \"t\", \"partitions\": 2.5}",
	            "partitions: must be an integer from 1 to 1000");
	topic_fails("{\"topicName\": \"t\", \"partitions\": \"6\"}",
	            "partitions: must be an integer from 1 to 1000");
	topic_fails("{\"topicName\": \"t\", \"description\": 1}", "description: must be a string");
	topic_fails("{\"topicName\": \"t\", \"topicname\": \"t\"}",
	            "topicname: unknown field (expected topicName, description, partitions, "
	            "consumerGroups)");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": {}}",
	            "consumerGroups: must be an array of groups");
}

/* A NUL inside a name must not hide the rest of it from the check ("a\0b" is not "a"). */
static void test_name_with_nul(void **state)
{
	struct topic_request req;
	char errstr[512];
	json_t *v = json_object();

	(void)state;
	json_object_set_new(v, "topicName", json_stringn("a\0b", 3));
	assert_int_equal(topic_request_parse_topic(v, 6, &req, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "topicName: 'a' is not a valid name (1-249 characters of A-Z "
	                            "a-z 0-9 . _ -, not . or ..)");
	json_decref(v);
}

static void test_group_errors_name_the_element(void **state)
{
	(void)state;
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\"},"
	            " {\"consumerGroupName\": \"b\", \"maxRetries\": -2}]}",
	            "consumerGroups[1].maxRetries: must be an integer from -1 to 1000");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\","
	            " \"maxRetries\": 1001}]}",
	            "consumerGroups[0].maxRetries: must be an integer from -1 to 1000");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [\"a\"]}",
	            "consumerGroups[0]: must be a JSON object");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{}]}",
	            "consumerGroups[0].consumerGroupName: is required");
	topic_fails(
	    "{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a/b\"}]}",
	    "consumerGroups[0].consumerGroupName: 'a/b' is not a valid name (1-249 "
	    "characters of A-Z a-z 0-9 . _ -, not . or ..)");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\","
	            " \"requiresAcknowledgment\": \"yes\"}]}",
	            "consumerGroups[0].requiresAcknowledgment: must be true or false");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\","
	            " \"acknowledgmentTimeoutSeconds\": 604801}]}",
	            "consumerGroups[0].acknowledgmentTimeoutSeconds: must be an integer from 1 to "
	            "604800");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\","
	            " \"acknowledgmentTimeoutMinutes\": 10081}]}",
	            "consumerGroups[0].acknowledgmentTimeoutMinutes: must be an integer from 1 to "
	            "10080");
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\","
	            " \"retries\": 1}]}",
	            "consumerGroups[0].retries: unknown field (expected consumerGroupName, "
	            "requiresAcknowledgment, acknowledgmentTimeoutMinutes, "
	            "acknowledgmentTimeoutSeconds, maxRetries)");
	/* isActive belongs to the update body only. */
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\","
	            " \"isActive\": true}]}",
	            "consumerGroups[0].isActive: unknown field (expected consumerGroupName, "
	            "requiresAcknowledgment, acknowledgmentTimeoutMinutes, "
	            "acknowledgmentTimeoutSeconds, maxRetries)");
}

static void test_duplicate_group_names(void **state)
{
	(void)state;
	topic_fails("{\"topicName\": \"t\", \"consumerGroups\": [{\"consumerGroupName\": \"a\"},"
	            " {\"consumerGroupName\": \"b\"}, {\"consumerGroupName\": \"a\"}]}",
	            "consumerGroups[2].consumerGroupName: 'a' is already consumerGroups[0]");
}

static void test_too_many_groups(void **state)
{
	char body[8192], want[128];
	size_t off;
	int i;

	(void)state;
	off = (size_t)snprintf(body, sizeof(body), "{\"topicName\": \"t\", \"consumerGroups\": [");
	for (i = 0; i <= TOPIC_REQUEST_MAX_GROUPS; i++)
		off += (size_t)snprintf(body + off, sizeof(body) - off,
		                        "%s{\"consumerGroupName\": \"g%d\"}", i ? "," : "", i);
	snprintf(body + off, sizeof(body) - off, "]}");
	snprintf(want, sizeof(want), "consumerGroups: at most %d groups, not %d",
	         TOPIC_REQUEST_MAX_GROUPS, TOPIC_REQUEST_MAX_GROUPS + 1);
	topic_fails(body, want);
}

static void test_add_group_errors(void **state)
{
	struct topic_group_request g;
	char errstr[512];
	json_t *v = parse("{\"consumerGroupName\": \"g\", \"maxRetries\": true}");
	json_t *w = parse("[1]");

	(void)state;
	assert_int_equal(topic_request_parse_group(v, "", &g, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "maxRetries: must be an integer from -1 to 1000");
	assert_int_equal(topic_request_parse_group(w, "", &g, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "body: must be a JSON object");
	json_decref(v);
	json_decref(w);
}

static void test_update_fields(void **state)
{
	struct topic_group_update upd;
	char errstr[512];
	json_t *v = parse("{\"consumerGroupName\": \"renamed\", \"requiresAcknowledgment\": false,"
	                  " \"acknowledgmentTimeoutMinutes\": 3, \"maxRetries\": 0,"
	                  " \"isActive\": false}");

	(void)state;
	assert_int_equal(topic_request_parse_update(v, &upd, errstr, sizeof(errstr)), 0);
	assert_string_equal(upd.name, "renamed");
	assert_true(upd.has_requires_ack);
	assert_false(upd.requires_ack);
	assert_true(upd.has_ack_timeout);
	assert_int_equal(upd.ack_timeout_seconds, 180);
	assert_true(upd.has_max_retries);
	assert_int_equal(upd.max_retries, 0);
	assert_true(upd.has_is_active);
	assert_false(upd.is_active);
	json_decref(v);
}

static void test_update_absent_fields_unchanged(void **state)
{
	struct topic_group_update upd;
	char errstr[512];
	json_t *empty = parse("{}");
	json_t *nulls = parse("{\"consumerGroupName\": null, \"maxRetries\": null}");
	json_t *secs = parse("{\"acknowledgmentTimeoutSeconds\": 42, \"isActive\": true}");

	(void)state;
	assert_int_equal(topic_request_parse_update(empty, &upd, errstr, sizeof(errstr)), 0);
	assert_null(upd.name);
	assert_false(upd.has_requires_ack);
	assert_false(upd.has_ack_timeout);
	assert_false(upd.has_max_retries);
	assert_false(upd.has_is_active);
	assert_int_equal(topic_request_parse_update(nulls, &upd, errstr, sizeof(errstr)), 0);
	assert_null(upd.name);
	assert_false(upd.has_max_retries);
	assert_int_equal(topic_request_parse_update(secs, &upd, errstr, sizeof(errstr)), 0);
	assert_true(upd.has_ack_timeout);
	assert_int_equal(upd.ack_timeout_seconds, 42);
	assert_true(upd.has_is_active);
	assert_true(upd.is_active);
	assert_false(upd.has_requires_ack);
	json_decref(empty);
	json_decref(nulls);
	json_decref(secs);
}

static void test_update_errors(void **state)
{
	(void)state;
	update_fails("\"x\"", "body: must be a JSON object");
	update_fails("{\"consumerGroupName\": \"bad name\"}",
	             "consumerGroupName: 'bad name' is not a valid name (1-249 characters of A-Z "
	             "a-z 0-9 . _ -, not . or ..)");
	update_fails("{\"maxRetries\": -5}", "maxRetries: must be an integer from -1 to 1000");
	update_fails("{\"acknowledgmentTimeoutSeconds\": 0}",
	             "acknowledgmentTimeoutSeconds: must be an integer from 1 to 604800");
	update_fails("{\"isActive\": 1}", "isActive: must be true or false");
	update_fails(
	    "{\"topicName\": \"t\"}",
	    "topicName: unknown field (expected consumerGroupName, requiresAcknowledgment, "
	    "acknowledgmentTimeoutMinutes, acknowledgmentTimeoutSeconds, maxRetries, "
	    "isActive)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_topic_full),
	    cmocka_unit_test(test_topic_defaults),
	    cmocka_unit_test(test_group_defaults),
	    cmocka_unit_test(test_seconds_take_precedence),
	    cmocka_unit_test(test_limits_accepted),
	    cmocka_unit_test(test_topic_errors),
	    cmocka_unit_test(test_name_with_nul),
	    cmocka_unit_test(test_group_errors_name_the_element),
	    cmocka_unit_test(test_duplicate_group_names),
	    cmocka_unit_test(test_too_many_groups),
	    cmocka_unit_test(test_add_group_errors),
	    cmocka_unit_test(test_update_fields),
	    cmocka_unit_test(test_update_absent_fields_unchanged),
	    cmocka_unit_test(test_update_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
