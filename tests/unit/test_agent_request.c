/*
 * Unit tests for agent_request.c: what register, heartbeat and deregister bodies must look like,
 * their defaults, and the one-line errors naming the field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "producer/api/agent_request.h"

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (v == NULL)
		fail_msg("bad test JSON: %s", err.text);
	return v;
}

/* A register body with `field` (a JSON member, "" for none) appended to the valid minimum. */
static json_t *registration_with(const char *field)
{
	char text[4096];

	snprintf(text, sizeof(text),
	         "{\"serviceId\": \"svc\", \"instanceId\": \"i-1\", \"consumerGroup\": \"group-a\","
	         " \"topics\": [\"user-events\"], \"host\": \"10.0.0.5\", \"port\": 5401%s%s}",
	         field[0] ? ", " : "", field);
	return parse(text);
}

/* Parses a register body that must fail, and checks the error text. */
static void registration_fails(json_t *body, const char *want)
{
	struct agent_registration reg;
	char errstr[512];

	if (agent_request_parse_registration(body, &reg, errstr, sizeof(errstr)) == 0)
		fail_msg("accepted %s", json_dumps(body, 0));
	assert_string_equal(errstr, want);
	assert_null(reg.topics);
	assert_int_equal(reg.n_topics, 0);
	json_decref(body);
}

static void heartbeat_fails(const char *text, const char *want)
{
	struct agent_heartbeat hb;
	char errstr[512];
	json_t *v = parse(text);

	if (agent_request_parse_heartbeat(v, &hb, errstr, sizeof(errstr)) == 0)
		fail_msg("accepted %s", text);
	assert_string_equal(errstr, want);
	json_decref(v);
}

static void test_registration_full(void **state)
{
	struct agent_registration reg;
	char errstr[512];
	json_t *v = parse("{\"serviceId\": \"consumer-service-1\", \"instanceId\": \"c-1\","
	                  " \"consumerGroup\": \"group-a\", \"topics\": [\"user-events\","
	                  " \"order-events\"], \"host\": \"consumer-1.local\", \"port\": 65535,"
	                  " \"version\": \"1.2.3\"}");

	(void)state;
	assert_int_equal(agent_request_parse_registration(v, &reg, errstr, sizeof(errstr)), 0);
	assert_string_equal(reg.service_id, "consumer-service-1");
	assert_string_equal(reg.instance_id, "c-1");
	assert_string_equal(reg.consumer_group, "group-a");
	assert_int_equal(reg.n_topics, 2);
	assert_string_equal(reg.topics[0], "user-events");
	assert_string_equal(reg.topics[1], "order-events");
	assert_string_equal(reg.host, "consumer-1.local");
	assert_int_equal(reg.port, 65535);
	assert_string_equal(reg.version, "1.2.3");
	agent_registration_clear(&reg);
	assert_null(reg.topics);
	json_decref(v);
}

static void test_registration_optional_version(void **state)
{
	struct agent_registration reg;
	char errstr[512];
	json_t *absent = registration_with(""), *null = registration_with("\"version\": null");

	(void)state;
	assert_int_equal(agent_request_parse_registration(absent, &reg, errstr, sizeof(errstr)), 0);
	assert_null(reg.version);
	assert_int_equal(reg.port, 5401);
	agent_registration_clear(&reg);
	assert_int_equal(agent_request_parse_registration(null, &reg, errstr, sizeof(errstr)), 0);
	assert_null(reg.version);
	agent_registration_clear(&reg);
	json_decref(absent);
	json_decref(null);
}

static void test_registration_string_limits(void **state)
{
	struct agent_registration reg;
	char errstr[512], text[1024], long_id[300];
	json_t *v;

	(void)state;
	memset(long_id, 'x', 255);
	long_id[255] = '\0';
	snprintf(text, sizeof(text),
	         "{\"serviceId\": \"%s\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	         " \"topics\": [\"t\"], \"host\": \"h\", \"port\": 1}",
	         long_id);
	v = parse(text);
	assert_int_equal(agent_request_parse_registration(v, &reg, errstr, sizeof(errstr)), 0);
	assert_int_equal(strlen(reg.service_id), 255);
	agent_registration_clear(&reg);
	json_decref(v);
	long_id[255] = 'x';
	long_id[256] = '\0';
	snprintf(text, sizeof(text),
	         "{\"serviceId\": \"%s\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	         " \"topics\": [\"t\"], \"host\": \"h\", \"port\": 1}",
	         long_id);
	registration_fails(parse(text), "serviceId: must be a string of 1 to 255 bytes (no NUL)");
}

static void test_registration_errors(void **state)
{
	(void)state;
	registration_fails(parse("[]"), "body: must be a JSON object");
	registration_fails(parse("{\"instanceId\": \"i\"}"), "serviceId: is required");
	registration_fails(parse("{\"serviceId\": \"\"}"),
	                   "serviceId: must be a string of 1 to 255 bytes (no NUL)");
	registration_fails(parse("{\"serviceId\": 7}"),
	                   "serviceId: must be a string of 1 to 255 bytes (no NUL)");
	registration_fails(parse("{\"serviceId\": \"s\", \"instanceId\": null}"),
	                   "instanceId: is required");
	registration_fails(parse("{\"serviceId\": \"s\", \"instanceId\": \"i\"}"),
	                   "consumerGroup: is required");
	registration_fails(registration_with("\"host\": \"\""),
	                   "host: must be a string of 1 to 255 bytes (no NUL)");
	registration_fails(registration_with("\"version\": \"\""),
	                   "version: must be a string of 1 to 255 bytes (no NUL)");
	registration_fails(registration_with("\"extra\": 1"),
	                   "extra: unknown field (expected serviceId, instanceId, consumerGroup, "
	                   "topics, host, port, version)");
}

/* registration_with() appends, so a repeated key replaces the valid one (jansson keeps the
 * last). */
static void test_registration_port(void **state)
{
	(void)state;
	registration_fails(registration_with("\"port\": 0"),
	                   "port: must be an integer from 1 to 65535");
	registration_fails(registration_with("\"port\": 65536"),
	                   "port: must be an integer from 1 to 65535");
	registration_fails(registration_with("\"port\": \"5401\""),
	                   "port: must be an integer from 1 to 65535");
	registration_fails(registration_with("\"port\": 5401.0"),
	                   "port: must be an integer from 1 to 65535");
	registration_fails(registration_with("\"port\": null"), "port: is required");
}

static void test_registration_topics(void **state)
{
	(void)state;
	registration_fails(registration_with("\"topics\": null"), "topics: is required");
	registration_fails(registration_with("\"topics\": []"),
	                   "topics: must be an array of 1 to 1000 topic names");
	registration_fails(registration_with("\"topics\": \"user-events\""),
	                   "topics: must be an array of 1 to 1000 topic names");
	registration_fails(registration_with("\"topics\": [\"ok\", \"not ok\"]"),
	                   "topics[1]: 'not ok' is not a valid topic name (1-249 characters of "
	                   "A-Z a-z 0-9 . _ -, not . or ..)");
	registration_fails(registration_with("\"topics\": [3]"),
	                   "topics[0]: '(not a string)' is not a valid topic name (1-249 "
	                   "characters of A-Z a-z 0-9 . _ -, not . or ..)");
	registration_fails(registration_with("\"topics\": [\"..\"]"),
	                   "topics[0]: '..' is not a valid topic name (1-249 characters of "
	                   "A-Z a-z 0-9 . _ -, not . or ..)");
	registration_fails(registration_with("\"topics\": [\"a\", \"b\", \"a\"]"),
	                   "topics[2]: 'a' is listed twice");
}

static void test_string_with_nul(void **state)
{
	json_t *v = registration_with("");

	(void)state;
	json_object_set_new(v, "instanceId", json_stringn("a\0b", 3));
	registration_fails(v, "instanceId: must be a string of 1 to 255 bytes (no NUL)");
	v = registration_with("");
	json_object_set_new(v, "topics", json_pack("[o]", json_stringn("t\0x y", 5)));
	registration_fails(v, "topics[0]: 't' is not a valid topic name (1-249 characters of "
	                      "A-Z a-z 0-9 . _ -, not . or ..)");
}

static void test_heartbeat(void **state)
{
	struct agent_heartbeat hb;
	char errstr[512];
	json_t *min = parse("{\"serviceId\": \"s\", \"instanceId\": \"i\"}");
	json_t *full =
	    parse("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	          " \"healthy\": false, \"details\": {\"lag\": 12}}");
	json_t *nulls =
	    parse("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"consumerGroup\": null,"
	          " \"healthy\": null, \"details\": null}");

	(void)state;
	assert_int_equal(agent_request_parse_heartbeat(min, &hb, errstr, sizeof(errstr)), 0);
	assert_string_equal(hb.service_id, "s");
	assert_string_equal(hb.instance_id, "i");
	assert_null(hb.consumer_group);
	assert_true(hb.healthy);
	assert_null(hb.details);
	assert_int_equal(agent_request_parse_heartbeat(full, &hb, errstr, sizeof(errstr)), 0);
	assert_string_equal(hb.consumer_group, "g");
	assert_false(hb.healthy);
	assert_int_equal(json_integer_value(json_object_get(hb.details, "lag")), 12);
	assert_int_equal(agent_request_parse_heartbeat(nulls, &hb, errstr, sizeof(errstr)), 0);
	assert_null(hb.consumer_group);
	assert_true(hb.healthy);
	assert_null(hb.details);
	json_decref(min);
	json_decref(full);
	json_decref(nulls);
}

static void test_heartbeat_errors(void **state)
{
	(void)state;
	heartbeat_fails("{\"instanceId\": \"i\"}", "serviceId: is required");
	heartbeat_fails("{\"serviceId\": \"s\"}", "instanceId: is required");
	heartbeat_fails("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"consumerGroup\": \"\"}",
	                "consumerGroup: must be a string of 1 to 255 bytes (no NUL)");
	heartbeat_fails("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"healthy\": \"yes\"}",
	                "healthy: must be true or false");
	heartbeat_fails("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"details\": [1]}",
	                "details: must be a JSON object");
	heartbeat_fails("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"topics\": []}",
	                "topics: unknown field (expected serviceId, instanceId, consumerGroup, "
	                "healthy, details)");
}

/* A heartbeat whose details.partitions is `partitions` (JSON text). */
static json_t *heartbeat_with_partitions(const char *partitions)
{
	char text[4096];

	snprintf(text, sizeof(text),
	         "{\"serviceId\": \"s\", \"instanceId\": \"i\", \"details\": {\"lag\": 1,"
	         " \"partitions\": %s}}",
	         partitions);
	return parse(text);
}

static void partitions_fail(const char *partitions, const char *want)
{
	struct agent_heartbeat hb;
	char errstr[512];
	json_t *v = heartbeat_with_partitions(partitions);

	if (agent_request_parse_heartbeat(v, &hb, errstr, sizeof(errstr)) == 0)
		fail_msg("accepted partitions %s", partitions);
	assert_string_equal(errstr, want);
	json_decref(v);
}

static void test_heartbeat_partitions(void **state)
{
	struct agent_heartbeat hb;
	char errstr[512];
	json_t *v;

	(void)state;
	/* What a consumer sends: each topic with its partitions (none is fine). */
	v = heartbeat_with_partitions("{\"user-events\": [0, 3, 2147483647], \"b.c_d\": []}");
	assert_int_equal(agent_request_parse_heartbeat(v, &hb, errstr, sizeof(errstr)), 0);
	assert_non_null(hb.partitions);
	assert_int_equal(json_array_size(json_object_get(hb.partitions, "user-events")), 3);
	assert_ptr_equal(hb.partitions, json_object_get(hb.details, "partitions"));
	json_decref(v);
	v = heartbeat_with_partitions("{}");
	assert_int_equal(agent_request_parse_heartbeat(v, &hb, errstr, sizeof(errstr)), 0);
	assert_int_equal(json_object_size(hb.partitions), 0);
	json_decref(v);
	/* Not reported: the stored assignment stays. */
	v = heartbeat_with_partitions("null");
	assert_int_equal(agent_request_parse_heartbeat(v, &hb, errstr, sizeof(errstr)), 0);
	assert_null(hb.partitions);
	json_decref(v);
	v = parse("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"details\": {\"lag\": 1}}");
	assert_int_equal(agent_request_parse_heartbeat(v, &hb, errstr, sizeof(errstr)), 0);
	assert_null(hb.partitions);
	json_decref(v);

	/* The example, and every other shape the retry job could not read. */
	partitions_fail("{\"t\": [\"x\"]}",
	                "details.partitions.t[0]: must be a partition number (an integer from 0 "
	                "to 2147483647)");
	partitions_fail("{\"t\": [0, -1]}",
	                "details.partitions.t[1]: must be a partition number (an integer from 0 "
	                "to 2147483647)");
	partitions_fail("{\"t\": [2147483648]}",
	                "details.partitions.t[0]: must be a partition number (an integer from 0 "
	                "to 2147483647)");
	partitions_fail("{\"t\": [1.0]}", "details.partitions.t[0]: must be a partition number "
	                                  "(an integer from 0 to 2147483647)");
	partitions_fail("{\"t\": [[0]]}", "details.partitions.t[0]: must be a partition number "
	                                  "(an integer from 0 to 2147483647)");
	partitions_fail("{\"t\": [null]}", "details.partitions.t[0]: must be a partition number "
	                                   "(an integer from 0 to 2147483647)");
	partitions_fail(
	    "{\"t\": \"x\"}",
	    "details.partitions.t: must be an array of at most 10000 partition numbers");
	partitions_fail(
	    "{\"t\": {\"0\": 1}}",
	    "details.partitions.t: must be an array of at most 10000 partition numbers");
	partitions_fail("[0]", "details.partitions: must be an object of at most 1000 topics, each "
	                       "with an array of partition numbers ({\"topic\": [0, 1]})");
	partitions_fail("\"x\"", "details.partitions: must be an object of at most 1000 topics, "
	                         "each with an array of partition numbers ({\"topic\": [0, 1]})");
	partitions_fail("{\"bad topic\": [0]}",
	                "details.partitions: 'bad topic' is not a valid topic name (1-249 "
	                "characters of A-Z a-z 0-9 . _ -, not . or ..)");
	partitions_fail("{\"..\": [0]}",
	                "details.partitions: '..' is not a valid topic name (1-249 "
	                "characters of A-Z a-z 0-9 . _ -, not . or ..)");
}

/* The bounds: topics, partitions per topic, partitions in all, topic name length. */
static void test_heartbeat_partitions_bounds(void **state)
{
	struct agent_heartbeat hb;
	char errstr[512], name[260];
	json_t *body, *parts, *list;
	size_t i;

	(void)state;
	body = heartbeat_with_partitions("{}");
	parts = json_object_get(json_object_get(body, "details"), "partitions");
	list = json_array();
	for (i = 0; i < AGENT_REQUEST_MAX_PARTITIONS; i++)
		json_array_append_new(list, json_integer((json_int_t)i));
	json_object_set_new(parts, "t", list);
	assert_int_equal(agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)), 0);
	json_array_append_new(list, json_integer(0));
	assert_int_equal(agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)), -1);
	assert_string_equal(
	    errstr, "details.partitions.t: must be an array of at most 10000 partition numbers");
	json_decref(body);

	/* 1000 topics are fine, 1001 are not. */
	body = heartbeat_with_partitions("{}");
	parts = json_object_get(json_object_get(body, "details"), "partitions");
	for (i = 0; i < AGENT_REQUEST_MAX_TOPICS; i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		json_object_set_new(parts, name, json_pack("[i]", 0));
	}
	assert_int_equal(agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)), 0);
	json_object_set_new(parts, "one-more", json_pack("[i]", 0));
	assert_int_equal(agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr,
	                    "details.partitions: must be an object of at most 1000 topics, "
	                    "each with an array of partition numbers ({\"topic\": [0, 1]})");
	json_decref(body);

	/* 11 topics of 10000 partitions: over the total. */
	body = heartbeat_with_partitions("{}");
	parts = json_object_get(json_object_get(body, "details"), "partitions");
	list = json_array();
	for (i = 0; i < AGENT_REQUEST_MAX_PARTITIONS; i++)
		json_array_append_new(list, json_integer((json_int_t)i));
	for (i = 0; i <= AGENT_REQUEST_MAX_ASSIGNED / AGENT_REQUEST_MAX_PARTITIONS; i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		json_object_set(parts, name, list);
	}
	json_decref(list);
	assert_int_equal(agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr,
	                    "details.partitions: more than 100000 partition numbers in all");
	json_decref(body);

	/* A topic name of 249 characters is the longest. */
	body = heartbeat_with_partitions("{}");
	parts = json_object_get(json_object_get(body, "details"), "partitions");
	memset(name, 'a', 249);
	name[249] = '\0';
	json_object_set_new(parts, name, json_pack("[i]", 1));
	assert_int_equal(agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)), 0);
	name[249] = 'a';
	name[250] = '\0';
	json_object_set_new(parts, name, json_pack("[i]", 1));
	assert_int_equal(agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)), -1);
	assert_non_null(strstr(errstr, "is not a valid topic name"));
	json_decref(body);
}

static void test_deregistration(void **state)
{
	struct agent_deregistration d;
	char errstr[512];
	json_t *all = parse("{\"serviceId\": \"s\", \"instanceId\": \"i\"}");
	json_t *one =
	    parse("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"consumerGroup\": \"g\"}");
	json_t *bad = parse("{\"serviceId\": \"s\", \"instanceId\": \"i\", \"healthy\": true}");

	(void)state;
	assert_int_equal(agent_request_parse_deregistration(all, &d, errstr, sizeof(errstr)), 0);
	assert_string_equal(d.service_id, "s");
	assert_string_equal(d.instance_id, "i");
	assert_null(d.consumer_group);
	assert_int_equal(agent_request_parse_deregistration(one, &d, errstr, sizeof(errstr)), 0);
	assert_string_equal(d.consumer_group, "g");
	assert_int_equal(agent_request_parse_deregistration(bad, &d, errstr, sizeof(errstr)), -1);
	assert_string_equal(errstr, "healthy: unknown field (expected serviceId, instanceId, "
	                            "consumerGroup)");
	json_decref(all);
	json_decref(one);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registration_full),
	    cmocka_unit_test(test_registration_optional_version),
	    cmocka_unit_test(test_registration_string_limits),
	    cmocka_unit_test(test_registration_errors),
	    cmocka_unit_test(test_registration_port),
	    cmocka_unit_test(test_registration_topics),
	    cmocka_unit_test(test_string_with_nul),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_heartbeat_errors),
	    cmocka_unit_test(test_heartbeat_partitions),
	    cmocka_unit_test(test_heartbeat_partitions_bounds),
	    cmocka_unit_test(test_deregistration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
