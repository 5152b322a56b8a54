/*
 * test_registry.c - the topic and consumer-group registry over REST (/api/topics/...):
 * registering a topic creates its Kafka topic with the requested partitions and stores it with
 * its groups; updates, added groups and (de)activation round-trip; invalid bodies get 400,
 * names taken 409, unknown ids and topics 404; the seeded topics are there after a fresh start
 * and not duplicated by a restart; Kafka being unreachable makes registration 503 with nothing
 * stored.
 *
 * One database and one producer serve the program (restarted once by the seed test). Topic
 * names come from it_topic(), so Kafka topics never collide with other runs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka_admin.h"

#define KAFKA_WAIT_MS 30000

static struct {
	struct it_db db;
	struct it_producer producer;
	PGconn *conn;
	struct kafka_admin *admin; /* the test's own, to look at Kafka */
} fx;

static int setup(void **state)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *bootstrap = getenv("FERRY_TEST_KAFKA");
	char errstr[512];

	(void)state;
	it_db_create(&fx.db, "registry");
	it_producer_start(&fx.producer, &fx.db, NULL);
	fx.conn = it_pg_connect(fx.db.conninfo);
	if (bootstrap == NULL || rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr,
	                                           sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		fail_msg("FERRY_TEST_KAFKA is not set or invalid");
	}
	fx.admin = kafka_admin_new(conf, errstr, sizeof(errstr));
	if (fx.admin == NULL)
		fail_msg("kafka_admin_new: %s", errstr);
	return 0;
}

static int teardown(void **state)
{
	int status;

	(void)state;
	kafka_admin_destroy(fx.admin);
	PQfinish(fx.conn);
	status = it_producer_stop(&fx.producer);
	it_db_drop(&fx.db);
	assert_int_equal(status, 0);
	return 0;
}

/* --- small helpers --------------------------------------------------------------------------- */

static json_int_t int_at(json_t *root, const char *dotted)
{
	json_t *v = it_json_get(root, dotted);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", dotted);
	return json_integer_value(v);
}

static const char *str_at(json_t *root, const char *dotted)
{
	json_t *v = it_json_get(root, dotted);

	if (!json_is_string(v))
		fail_msg("%s is not a string", dotted);
	return json_string_value(v);
}

static bool bool_at(json_t *root, const char *dotted)
{
	json_t *v = it_json_get(root, dotted);

	if (!json_is_boolean(v))
		fail_msg("%s is not a boolean", dotted);
	return json_is_true(v);
}

/* The element of array `arr` whose string member `field` is `value`, or NULL. */
static json_t *find_by(json_t *arr, const char *field, const char *value)
{
	size_t i;
	json_t *el;

	json_array_foreach (arr, i, el) {
		json_t *v = json_object_get(el, field);

		if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
			return el;
	}
	return NULL;
}

/* Sends method path with a JSON body and checks the status; the answer stays in *r. */
static void expect(const char *method, const char *path, const char *body, long want,
                   struct it_response *r)
{
	long status = it_http(&fx.producer, method, path,
	                      strcmp(method, "GET") != 0 ? "application/json" : NULL, body,
	                      body ? strlen(body) : 0, r);

	if (status != want)
		fail_msg("%s %s: want %ld, got %ld: %s", method, path, want, status,
		         r->text ? r->text : r->error);
}

/* Checks that the answer is {"error": "..."} containing `part`. */
static void expect_error_mentions(const struct it_response *r, const char *part)
{
	const char *e = str_at(r->json, "error");

	if (strstr(e, part) == NULL)
		fail_msg("error '%s' does not mention '%s'", e, part);
}

static bool partitions_are(struct kafka_admin *admin, const char *topic, int want)
{
	int64_t deadline = it_now_ms() + KAFKA_WAIT_MS;
	char errstr[512];
	int n = -1;

	while (it_now_ms() < deadline) {
		n = kafka_admin_topic_partitions(admin, topic, 5000, errstr, sizeof(errstr));
		if (n == want)
			return true;
		it_sleep_ms(200);
	}
	fprintf(stderr, "topic %s: want %d partitions, last saw %d (%s)\n", topic, want, n,
	        n < 0 ? errstr : "");
	return false;
}

static int64_t topic_rows(const char *topic)
{
	return it_sql_int(fx.conn,
	                  "SELECT count(*) FROM ferry.topic_registration WHERE topic_name = '%s'",
	                  topic);
}

/* Registers topic with groups "a" (ack timeout 7 s, no ack, retries forever) and "b" (defaults);
 * returns the 201 answer in *r. */
static void register_two_groups(const char *topic, int partitions, struct it_response *r)
{
	char body[1024];

	snprintf(body, sizeof(body),
	         "{\"topicName\": \"%s\", \"description\": \"test topic\", \"partitions\": %d,"
	         " \"consumerGroups\": ["
	         "  {\"consumerGroupName\": \"a\", \"requiresAcknowledgment\": false,"
	         "   \"acknowledgmentTimeoutSeconds\": 7, \"maxRetries\": -1},"
	         "  {\"consumerGroupName\": \"b\"}]}",
	         topic, partitions);
	expect("POST", "/api/topics/register", body, 201, r);
}

/* --- tests ----------------------------------------------------------------------------------- */

static void check_seeded(void)
{
	static const struct {
		const char *topic;
		const char *groups[3];
	} seeds[] = {
	    {"user-events", {"default-consumer-group", NULL}},
	    {"order-events", {"default-consumer-group", "inventory-service", NULL}},
	    {"analytics-events", {"analytics-group", NULL}},
	    {"notification-events", {"notification-group", "email-service", NULL}},
	};
	struct it_response r = {0};
	size_t i, j;

	expect("GET", "/api/topics", NULL, 200, &r);
	assert_true(json_is_array(r.json));
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		json_t *t = find_by(r.json, "topicName", seeds[i].topic), *groups;

		if (t == NULL)
			fail_msg("seeded topic %s missing from GET /api/topics", seeds[i].topic);
		assert_true(bool_at(t, "isActive"));
		groups = json_object_get(t, "consumerGroups");
		for (j = 0; seeds[i].groups[j]; j++) {
			json_t *g = find_by(groups, "consumerGroupName", seeds[i].groups[j]);

			if (g == NULL)
				fail_msg("%s lacks seeded group %s", seeds[i].topic,
				         seeds[i].groups[j]);
			assert_string_equal(str_at(g, "topicName"), seeds[i].topic);
			assert_true(bool_at(g, "requiresAcknowledgment"));
			assert_int_equal(int_at(g, "acknowledgmentTimeoutSeconds"), 300);
			assert_int_equal(int_at(g, "acknowledgmentTimeoutMinutes"), 5);
			assert_int_equal(int_at(g, "maxRetries"), 3);
		}
		assert_int_equal(json_array_size(groups), j);
		/* Exactly one row per seeded name, however often the producer started. */
		assert_int_equal(topic_rows(seeds[i].topic), 1);
	}
	assert_int_equal(
	    it_sql_int(fx.conn, "SELECT count(*) FROM ferry.consumer_group_registration g"
	                        " JOIN ferry.topic_registration t ON t.id = g.topic_registration_id"
	                        " WHERE t.topic_name IN ('user-events', 'order-events',"
	                        "  'analytics-events', 'notification-events')"),
	    6);
	expect("GET", "/api/topics/order-events", NULL, 200, &r);
	assert_string_equal(str_at(r.json, "topicName"), "order-events");
	assert_int_equal(json_array_size(it_json_get(r.json, "consumerGroups")), 2);
	it_response_free(&r);
}

static void test_seeded_topics_survive_restart(void **state)
{
	(void)state;
	check_seeded();
	assert_int_equal(it_producer_stop(&fx.producer), 0);
	it_producer_start(&fx.producer, &fx.db, NULL);
	check_seeded();
}

static void test_register_round_trip(void **state)
{
	char topic[IT_TOPIC_MAX], path[256];
	struct it_response r = {0};
	json_t *a, *b, *groups;
	json_int_t topic_id, a_id;

	(void)state;
	it_topic(topic, sizeof(topic), "reg");
	register_two_groups(topic, 3, &r);
	topic_id = int_at(r.json, "id");
	assert_true(topic_id > 0);
	assert_string_equal(str_at(r.json, "topicName"), topic);
	assert_string_equal(str_at(r.json, "description"), "test topic");
	assert_int_equal(int_at(r.json, "partitions"), 3);
	assert_true(bool_at(r.json, "isActive"));
	str_at(r.json, "createdAt");
	str_at(r.json, "updatedAt");
	assert_true(bool_at(r.json, "kafkaTopic.created"));
	assert_int_equal(int_at(r.json, "kafkaTopic.partitions"), 3);
	groups = it_json_get(r.json, "consumerGroups");
	assert_int_equal(json_array_size(groups), 2);
	a = find_by(groups, "consumerGroupName", "a");
	b = find_by(groups, "consumerGroupName", "b");
	assert_non_null(a);
	assert_non_null(b);
	a_id = int_at(a, "id");
	assert_int_equal(int_at(a, "topicRegistrationId"), topic_id);
	assert_string_equal(str_at(a, "topicName"), topic);
	assert_false(bool_at(a, "requiresAcknowledgment"));
	assert_int_equal(int_at(a, "acknowledgmentTimeoutSeconds"), 7);
	assert_true(json_is_number(it_json_get(a, "acknowledgmentTimeoutMinutes")));
	assert_true(json_number_value(it_json_get(a, "acknowledgmentTimeoutMinutes")) > 0.116 &&
	            json_number_value(it_json_get(a, "acknowledgmentTimeoutMinutes")) < 0.117);
	assert_int_equal(int_at(a, "maxRetries"), -1);
	assert_true(bool_at(a, "isActive"));
	str_at(a, "activeSince");
	assert_true(json_is_null(it_json_get(a, "deactivatedAt")));
	assert_true(bool_at(b, "requiresAcknowledgment"));
	assert_int_equal(int_at(b, "acknowledgmentTimeoutSeconds"), 300);
	assert_int_equal(int_at(b, "acknowledgmentTimeoutMinutes"), 5);
	assert_int_equal(int_at(b, "maxRetries"), 3);

	/* The Kafka topic exists with the partitions asked for. */
	assert_true(partitions_are(fx.admin, topic, 3));

	/* Read back three ways. */
	snprintf(path, sizeof(path), "/api/topics/%s", topic);
	expect("GET", path, NULL, 200, &r);
	assert_int_equal(int_at(r.json, "id"), topic_id);
	assert_int_equal(json_array_size(it_json_get(r.json, "consumerGroups")), 2);
	assert_null(it_json_get(r.json, "kafkaTopic"));
	expect("GET", "/api/topics", NULL, 200, &r);
	assert_non_null(find_by(r.json, "topicName", topic));
	expect("GET", "/api/topics/consumer-groups", NULL, 200, &r);
	assert_true(json_is_array(r.json));
	assert_true(json_array_size(r.json) >= 8); /* 6 seeded + a + b */
	snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" JSON_INTEGER_FORMAT, a_id);
	expect("GET", path, NULL, 200, &r);
	assert_string_equal(str_at(r.json, "consumerGroupName"), "a");
	assert_string_equal(str_at(r.json, "topicName"), topic);
	assert_int_equal(int_at(r.json, "acknowledgmentTimeoutSeconds"), 7);

	/* The registry's rows agree. */
	assert_int_equal(topic_rows(topic), 1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_group_registration"
	                            " WHERE topic_registration_id = %" JSON_INTEGER_FORMAT,
	                            topic_id),
	                 2);
	it_response_free(&r);
}

/* A Kafka topic that exists already is fine: registered, reported as it really is. */
static void test_register_existing_kafka_topic(void **state)
{
	char topic[IT_TOPIC_MAX], body[512], errstr[512];
	struct it_response r = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "reg-pre");
	assert_int_equal(
	    kafka_admin_create_topic(fx.admin, topic, 2, 15000, errstr, sizeof(errstr)), 0);
	assert_int_equal(
	    kafka_admin_create_topic(fx.admin, topic, 2, 15000, errstr, sizeof(errstr)), 1);
	assert_true(partitions_are(fx.admin, topic, 2));
	snprintf(body, sizeof(body), "{\"topicName\": \"%s\", \"partitions\": 4}", topic);
	expect("POST", "/api/topics/register", body, 201, &r);
	assert_false(bool_at(r.json, "kafkaTopic.created"));
	assert_int_equal(int_at(r.json, "kafkaTopic.partitions"), 2);
	assert_int_equal(int_at(r.json, "partitions"), 4);
	assert_int_equal(json_array_size(it_json_get(r.json, "consumerGroups")), 0);
	assert_true(partitions_are(fx.admin, topic, 2)); /* left as it was */
	it_response_free(&r);
}

static void test_register_errors(void **state)
{
	char topic[IT_TOPIC_MAX], body[1024];
	struct it_response r = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "reg-bad");
	expect("POST", "/api/topics/register", "{\"topicName\": \"no spaces allowed\"}", 400, &r);
	expect_error_mentions(&r, "topicName");
	expect("POST", "/api/topics/register", "{\"description\": \"no name\"}", 400, &r);
	expect_error_mentions(&r, "topicName: is required");
	snprintf(body, sizeof(body), "{\"topicName\": \"%s\", \"partitions\": 0}", topic);
	expect("POST", "/api/topics/register", body, 400, &r);
	expect_error_mentions(&r, "partitions: must be an integer from 1 to 1000");
	snprintf(body, sizeof(body),
	         "{\"topicName\": \"%s\", \"consumerGroups\": [{\"consumerGroupName\": \"x\"},"
	         " {\"consumerGroupName\": \"y\", \"maxRetries\": 1001}]}",
	         topic);
	expect("POST", "/api/topics/register", body, 400, &r);
	expect_error_mentions(&r,
	                      "consumerGroups[1].maxRetries: must be an integer from -1 to 1000");
	snprintf(body, sizeof(body),
	         "{\"topicName\": \"%s\", \"consumerGroups\": [{\"consumerGroupName\": \"x\","
	         " \"acknowledgmentTimeoutSeconds\": 0}]}",
	         topic);
	expect("POST", "/api/topics/register", body, 400, &r);
	expect_error_mentions(&r, "consumerGroups[0].acknowledgmentTimeoutSeconds");
	snprintf(body, sizeof(body),
	         "{\"topicName\": \"%s\", \"consumerGroups\": [{\"consumerGroupName\": \"x\"},"
	         " {\"consumerGroupName\": \"x\"}]}",
	         topic);
	expect("POST", "/api/topics/register", body, 400, &r);
	expect_error_mentions(&r, "consumerGroups[1].consumerGroupName");
	snprintf(body, sizeof(body), "{\"topicName\": \"%s\", \"partition\": 3}", topic);
	expect("POST", "/api/topics/register", body, 400, &r);
	expect_error_mentions(&r, "partition: unknown field");
	expect("POST", "/api/topics/register", "not json", 400, &r);
	/* Nothing of the refused requests was stored, nor created on Kafka. */
	assert_int_equal(topic_rows(topic), 0);
	assert_false(kafka_admin_topic_partitions(fx.admin, topic, 5000, body, sizeof(body)) > 0);

	/* 409 for a topic registered already, seeded ones included; the first stays as it was. */
	snprintf(body, sizeof(body), "{\"topicName\": \"%s\", \"partitions\": 2}", topic);
	expect("POST", "/api/topics/register", body, 201, &r);
	snprintf(body, sizeof(body),
	         "{\"topicName\": \"%s\", \"partitions\": 5,"
	         " \"consumerGroups\": [{\"consumerGroupName\": \"late\"}]}",
	         topic);
	expect("POST", "/api/topics/register", body, 409, &r);
	expect_error_mentions(&r, "already registered");
	assert_int_equal(topic_rows(topic), 1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT partitions FROM ferry.topic_registration"
	                            " WHERE topic_name = '%s'",
	                            topic),
	                 2);
	expect("POST", "/api/topics/register", "{\"topicName\": \"user-events\"}", 409, &r);
	assert_int_equal(topic_rows("user-events"), 1);
	it_response_free(&r);
}

static void test_unknown_topic_and_group(void **state)
{
	struct it_response r = {0};

	(void)state;
	expect("GET", "/api/topics/no-such-topic", NULL, 404, &r);
	expect_error_mentions(&r, "no-such-topic");
	expect("POST", "/api/topics/no-such-topic/deactivate", NULL, 404, &r);
	expect("POST", "/api/topics/no-such-topic/activate", NULL, 404, &r);
	expect("POST", "/api/topics/no-such-topic/consumer-groups",
	       "{\"consumerGroupName\": \"g\"}", 404, &r);
	expect("GET", "/api/topics/consumer-groups/999999999", NULL, 404, &r);
	expect_error_mentions(&r, "999999999");
	expect("PUT", "/api/topics/consumer-groups/999999999", "{\"maxRetries\": 1}", 404, &r);
	expect("POST", "/api/topics/consumer-groups/999999999/deactivate", NULL, 404, &r);
	expect("POST", "/api/topics/consumer-groups/999999999/activate", NULL, 404, &r);
	/* A non-numeric id is a bad request, not a topic called "consumer-groups". */
	expect("GET", "/api/topics/consumer-groups/abc", NULL, 400, &r);
	expect("PUT", "/api/topics/consumer-groups/-1", "{}", 400, &r);
	it_response_free(&r);
}

static void test_update_group(void **state)
{
	char topic[IT_TOPIC_MAX], path[256], *updated_before;
	struct it_response r = {0};
	json_int_t a_id, b_id;

	(void)state;
	it_topic(topic, sizeof(topic), "upd");
	register_two_groups(topic, 1, &r);
	a_id =
	    int_at(find_by(it_json_get(r.json, "consumerGroups"), "consumerGroupName", "a"), "id");
	b_id =
	    int_at(find_by(it_json_get(r.json, "consumerGroups"), "consumerGroupName", "b"), "id");
	updated_before = strdup(str_at(
	    find_by(it_json_get(r.json, "consumerGroups"), "consumerGroupName", "a"), "updatedAt"));
	snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" JSON_INTEGER_FORMAT, a_id);

	/* Only what is sent changes; minutes become seconds. */
	expect("PUT", path, "{\"acknowledgmentTimeoutMinutes\": 2, \"maxRetries\": 10}", 200, &r);
	assert_int_equal(int_at(r.json, "id"), a_id);
	assert_string_equal(str_at(r.json, "consumerGroupName"), "a");
	assert_int_equal(int_at(r.json, "acknowledgmentTimeoutSeconds"), 120);
	assert_int_equal(int_at(r.json, "acknowledgmentTimeoutMinutes"), 2);
	assert_int_equal(int_at(r.json, "maxRetries"), 10);
	assert_false(bool_at(r.json, "requiresAcknowledgment"));
	assert_true(bool_at(r.json, "isActive"));
	assert_true(strcmp(str_at(r.json, "updatedAt"), updated_before) > 0);
	free(updated_before);

	/* Seconds win over minutes; the change is stored. */
	expect("PUT", path,
	       "{\"requiresAcknowledgment\": true, \"acknowledgmentTimeoutSeconds\": 9,"
	       " \"acknowledgmentTimeoutMinutes\": 60}",
	       200, &r);
	assert_int_equal(int_at(r.json, "acknowledgmentTimeoutSeconds"), 9);
	assert_true(bool_at(r.json, "requiresAcknowledgment"));
	expect("GET", path, NULL, 200, &r);
	assert_int_equal(int_at(r.json, "acknowledgmentTimeoutSeconds"), 9);
	assert_int_equal(int_at(r.json, "maxRetries"), 10);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT acknowledgment_timeout_seconds"
	                            " FROM ferry.consumer_group_registration"
	                            " WHERE id = %" JSON_INTEGER_FORMAT,
	                            a_id),
	                 9);

	/* Renaming onto a sibling is a conflict and changes nothing. */
	expect("PUT", path, "{\"consumerGroupName\": \"b\", \"maxRetries\": 0}", 409, &r);
	expect_error_mentions(&r, "'b'");
	expect("GET", path, NULL, 200, &r);
	assert_string_equal(str_at(r.json, "consumerGroupName"), "a");
	assert_int_equal(int_at(r.json, "maxRetries"), 10);

	/* A free name is fine. */
	expect("PUT", path, "{\"consumerGroupName\": \"a2\"}", 200, &r);
	assert_string_equal(str_at(r.json, "consumerGroupName"), "a2");

	/* Invalid bodies. */
	expect("PUT", path, "{\"maxRetries\": -2}", 400, &r);
	expect_error_mentions(&r, "maxRetries: must be an integer from -1 to 1000");
	expect("PUT", path, "{\"consumerGroupName\": \"bad name\"}", 400, &r);
	expect_error_mentions(&r, "consumerGroupName");
	expect("PUT", path, "{\"acknowledgmentTimeoutSeconds\": 604801}", 400, &r);
	expect("PUT", path, "{\"topicName\": \"x\"}", 400, &r);
	expect_error_mentions(&r, "unknown field");

	/* isActive through PUT deactivates and reactivates. */
	expect("PUT", path, "{\"isActive\": false}", 200, &r);
	assert_false(bool_at(r.json, "isActive"));
	str_at(r.json, "deactivatedAt");
	expect("PUT", path, "{\"isActive\": true}", 200, &r);
	assert_true(bool_at(r.json, "isActive"));
	assert_true(json_is_null(it_json_get(r.json, "deactivatedAt")));

	/* Group b untouched throughout. */
	snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" JSON_INTEGER_FORMAT, b_id);
	expect("GET", path, NULL, 200, &r);
	assert_string_equal(str_at(r.json, "consumerGroupName"), "b");
	assert_int_equal(int_at(r.json, "acknowledgmentTimeoutSeconds"), 300);
	assert_int_equal(int_at(r.json, "maxRetries"), 3);
	it_response_free(&r);
}

static void test_add_group(void **state)
{
	char topic[IT_TOPIC_MAX], path[256];
	struct it_response r = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "add");
	register_two_groups(topic, 1, &r);
	snprintf(path, sizeof(path), "/api/topics/%s/consumer-groups", topic);
	expect("POST", path,
	       "{\"consumerGroupName\": \"c\", \"acknowledgmentTimeoutSeconds\": 30,"
	       " \"maxRetries\": 0}",
	       201, &r);
	assert_string_equal(str_at(r.json, "consumerGroupName"), "c");
	assert_string_equal(str_at(r.json, "topicName"), topic);
	assert_int_equal(int_at(r.json, "acknowledgmentTimeoutSeconds"), 30);
	assert_int_equal(int_at(r.json, "maxRetries"), 0);
	assert_true(bool_at(r.json, "isActive"));
	expect("POST", path, "{\"consumerGroupName\": \"c\"}", 409, &r);
	expect("POST", path, "{\"consumerGroupName\": \"a\"}", 409, &r);
	expect("POST", path, "{\"consumerGroupName\": \"d\", \"maxRetries\": \"3\"}", 400, &r);
	expect_error_mentions(&r, "maxRetries");
	expect("POST", path, "{}", 400, &r);
	snprintf(path, sizeof(path), "/api/topics/%s", topic);
	expect("GET", path, NULL, 200, &r);
	assert_int_equal(json_array_size(it_json_get(r.json, "consumerGroups")), 3);
	it_response_free(&r);
}

static void test_deactivate_activate(void **state)
{
	char topic[IT_TOPIC_MAX], path[256], *deactivated_at, *updated_at, *active_since;
	struct it_response r = {0};
	json_int_t b_id;

	(void)state;
	it_topic(topic, sizeof(topic), "act");
	register_two_groups(topic, 1, &r);
	b_id =
	    int_at(find_by(it_json_get(r.json, "consumerGroups"), "consumerGroupName", "b"), "id");
	active_since =
	    strdup(str_at(find_by(it_json_get(r.json, "consumerGroups"), "consumerGroupName", "b"),
	                  "activeSince"));

	/* Group: deactivate, deactivate again (nothing changes), activate. */
	snprintf(path, sizeof(path),
	         "/api/topics/consumer-groups/%" JSON_INTEGER_FORMAT "/deactivate", b_id);
	expect("POST", path, NULL, 200, &r);
	assert_false(bool_at(r.json, "isActive"));
	deactivated_at = strdup(str_at(r.json, "deactivatedAt"));
	updated_at = strdup(str_at(r.json, "updatedAt"));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_group_registration"
	                            " WHERE id = %" JSON_INTEGER_FORMAT " AND NOT is_active"
	                            " AND deactivated_at IS NOT NULL",
	                            b_id),
	                 1);
	expect("POST", path, NULL, 200, &r);
	assert_false(bool_at(r.json, "isActive"));
	assert_string_equal(str_at(r.json, "deactivatedAt"), deactivated_at);
	assert_string_equal(str_at(r.json, "updatedAt"), updated_at);
	snprintf(path, sizeof(path),
	         "/api/topics/consumer-groups/%" JSON_INTEGER_FORMAT "/activate", b_id);
	expect("POST", path, NULL, 200, &r);
	assert_true(bool_at(r.json, "isActive"));
	assert_true(json_is_null(it_json_get(r.json, "deactivatedAt")));
	assert_true(strcmp(str_at(r.json, "activeSince"), active_since) > 0);
	assert_true(strcmp(str_at(r.json, "activeSince"), deactivated_at) >= 0);
	free(deactivated_at);
	free(updated_at);
	free(active_since);
	expect("POST", path, NULL, 200, &r); /* activating an active group: fine */
	assert_true(bool_at(r.json, "isActive"));

	/* Topic: deactivate (groups keep their own state), again, activate. */
	snprintf(path, sizeof(path), "/api/topics/%s/deactivate", topic);
	expect("POST", path, NULL, 200, &r);
	assert_false(bool_at(r.json, "isActive"));
	assert_string_equal(str_at(r.json, "topicName"), topic);
	assert_int_equal(json_array_size(it_json_get(r.json, "consumerGroups")), 2);
	assert_true(bool_at(json_array_get(it_json_get(r.json, "consumerGroups"), 0), "isActive"));
	updated_at = strdup(str_at(r.json, "updatedAt"));
	expect("POST", path, NULL, 200, &r);
	assert_false(bool_at(r.json, "isActive"));
	assert_string_equal(str_at(r.json, "updatedAt"), updated_at);
	free(updated_at);
	snprintf(path, sizeof(path), "/api/topics/%s", topic);
	expect("GET", path, NULL, 200, &r);
	assert_false(bool_at(r.json, "isActive"));
	snprintf(path, sizeof(path), "/api/topics/%s/activate", topic);
	expect("POST", path, NULL, 200, &r);
	assert_true(bool_at(r.json, "isActive"));
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.topic_registration WHERE topic_name = '%s'"
	               " AND is_active",
	               topic),
	    1);
	it_response_free(&r);
}

/* Kafka unreachable: 503, and nothing is registered. */
static void test_register_without_kafka(void **state)
{
	static const char *const env[] = {"ConnectionStrings__Kafka=127.0.0.1:1", NULL};
	struct it_producer offline = {0};
	char topic[IT_TOPIC_MAX], body[512];
	struct it_response r = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "reg-offline");
	it_producer_start(&offline, &fx.db, env);
	snprintf(body, sizeof(body), "{\"topicName\": \"%s\", \"partitions\": 2}", topic);
	assert_int_equal(it_post(&offline, "/api/topics/register", body, &r), 503);
	expect_error_mentions(&r, topic);
	assert_int_equal(topic_rows(topic), 0);
	assert_int_equal(it_producer_stop(&offline), 0);
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seeded_topics_survive_restart),
	    cmocka_unit_test(test_register_round_trip),
	    cmocka_unit_test(test_register_existing_kafka_topic),
	    cmocka_unit_test(test_register_errors),
	    cmocka_unit_test(test_unknown_topic_and_group),
	    cmocka_unit_test(test_update_group),
	    cmocka_unit_test(test_add_group),
	    cmocka_unit_test(test_deactivate_activate),
	    cmocka_unit_test(test_register_without_kafka),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
