/*
 * test_redrive.c - operators' dead-letter actions: list FAILED/EXPIRED deliveries, re-drive one
 * message (to its group, or aimed at one live consumer instance, falling back to the group when
 * that instance is dead), re-drive in bulk by group and status, delete dead letters by age; each
 * action recorded in the message's history with its actor. And the requests' errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 60000

static const char *const producer_env[] = {
    "FERRY_RETRY_INTERVAL_MS=200",
    "FERRY_RETRY_BACKOFF_BASE_MS=200",
    "FERRY_AGENT_HEARTBEAT_INTERVAL_S=1",
    NULL,
};

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "redrive", producer_env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Registers `topic` (2 partitions) with group `g`: no retries, so a failure is final at once. */
static void register_topic(const char *topic, const char *g, int timeout_s)
{
	struct it_response r = {0};
	char body[512];

	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s\",\"acknowledgmentTimeoutSeconds\":%d,\"maxRetries\":0}]}",
	    topic, g, timeout_s);
	if (it_post(&fx.producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

static void start_consumer(struct it_producer *c, const char *group, const char *topic,
                           const char *instance)
{
	char inst[160];
	const char *env[] = {inst,
	                     "SERVICE_ID=redrive-consumers",
	                     "FERRY_PROCESSOR=plugin",
	                     "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN,
	                     "FERRY_HEARTBEAT_INTERVAL_S=1",
	                     NULL};

	snprintf(inst, sizeof(inst), "INSTANCE_ID=%s", instance);
	it_consumer_start_group(c, &fx.db, &fx.producer, group, topic, env);
}

static int64_t send_one(const char *topic, const char *key, const char *payload)
{
	return it_send_message(&fx.producer, topic, key, payload);
}

static void wait_group_status(int64_t id, const char *status)
{
	if (!it_wait_sql_int(
	        fx.conn, 1, WAIT_MS,
	        "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	        " AND status = '%s'",
	        id, status))
		fail_msg("message %" PRId64 " never reached %s", id, status);
}

/* POST /api/messages/{id}/retry with `body` (NULL: none) and the X-Ferry-Actor header. */
static long retry(int64_t id, const char *body, struct it_response *r)
{
	char path[64];

	snprintf(path, sizeof(path), "/api/messages/%" PRId64 "/retry", id);
	return it_http(&fx.producer, "POST", path, "application/json", body,
	               body ? strlen(body) : 0, r);
}

/* Whether a consumer agent of `group` with `instance` reports a partition of `topic`. */
static bool agent_holds_partition(void *arg)
{
	const char **a = arg;

	return it_sql_int(
	           fx.conn,
	           "SELECT count(*) FROM ferry.consumer_service_agent WHERE consumer_group = "
	           "'%s' AND instance_id = '%s' AND jsonb_array_length(coalesce("
	           "assigned_partitions -> '%s', '[]')) > 0",
	           a[0], a[1], a[2]) == 1;
}

static void test_targeted_retry_live_instance_then_dead_falls_back(void **state)
{
	char topic[IT_TOPIC_MAX], g[160], body[512];
	struct it_producer c = {0};
	struct it_response r = {0};
	struct it_records recs = {0};
	const char *arg[3];
	char *partitions;
	int64_t id;
	size_t i, found = 0;

	(void)state;
	it_topic(topic, sizeof(topic), "redrive-target");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(topic, g, 60);
	start_consumer(&c, g, topic, "inst-one");
	arg[0] = g;
	arg[1] = "inst-one";
	arg[2] = topic;
	assert_true(it_wait_until(agent_holds_partition, (void *)arg, WAIT_MS));
	id = send_one(topic, "k1", "fail-first-1");
	wait_group_status(id, "FAILED"); /* maxRetries 0: the first failure is final */

	/* Aimed at the live instance: it gets the record on a partition it holds, and succeeds. */
	snprintf(body, sizeof(body),
	         "{\"consumerGroup\":\"%s\",\"targetConsumerServiceId\":\"inst-one\"}", g);
	assert_int_equal(retry(id, body, &r), 202);
	assert_string_equal(it_json_string(r.json, "redeliveries.0.target"), "instance");
	assert_string_equal(it_json_string(r.json, "redeliveries.0.targetInstanceId"), "inst-one");
	assert_string_equal(it_json_string(r.json, "redeliveries.0.previousStatus"), "FAILED");
	assert_true(json_is_null(it_json_get(r.json, "redeliveries.0.fallbackReason")));
	it_response_free(&r);
	wait_group_status(id, "ACKNOWLEDGED");
	it_kafka_read(topic, 2, WAIT_MS, &recs);
	partitions =
	    it_sql_text(fx.conn,
	                "SELECT assigned_partitions ->> '%s' FROM ferry.consumer_service_agent"
	                " WHERE instance_id = 'inst-one'",
	                topic);
	for (i = 0; i < recs.n; i++) {
		const char *tc = it_record_header(&recs.v[i], FERRY_HEADER_TARGET_CONSUMER);
		char p[16];

		if (tc == NULL)
			continue;
		assert_string_equal(tc, "inst-one");
		snprintf(p, sizeof(p), "%d", (int)recs.v[i].partition);
		assert_non_null(strstr(partitions, p));
		found++;
	}
	assert_int_equal(found, 1);
	free(partitions);
	it_records_free(&recs);

	/* The instance dies without deregistering: 3 missed beats later, a targeted re-drive goes
	 * to the group, and the reply says why. */
	it_producer_kill(&c);
	it_sleep_ms(3500);
	it_sql_exec(
	    fx.conn,
	    "UPDATE ferry.message_delivery SET status = 'FAILED' WHERE message_id = %" PRId64, id);
	assert_int_equal(retry(id, body, &r), 202);
	assert_string_equal(it_json_string(r.json, "redeliveries.0.target"), "group");
	assert_non_null(
	    strstr(it_json_string(r.json, "redeliveries.0.fallbackReason"), "not alive"));
	it_response_free(&r);
	/* A consumer that was never there falls back the same way. */
	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET status = 'FAILED' WHERE message_id = "
	            "%" PRId64,
	            id);
	snprintf(body, sizeof(body),
	         "{\"consumerGroup\":\"%s\",\"targetConsumerServiceId\":\"nobody\"}", g);
	assert_int_equal(retry(id, body, &r), 202);
	assert_string_equal(it_json_string(r.json, "redeliveries.0.target"), "group");
	it_response_free(&r);
	/* The history has the three requests, with who asked (the key's name: the harness's key is
	 * 'bootstrap'). */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_event WHERE message_id = %" PRId64
	               " AND event = 'redrive_requested' AND actor = 'key:bootstrap'",
	               id),
	    3);
	{
		char path[64];

		snprintf(path, sizeof(path), "/api/messages/%" PRId64, id);
		assert_int_equal(it_get(&fx.producer, path, &r), 200);
		assert_true(json_array_size(it_json_get(r.json, "history")) >= 5);
		assert_string_equal(it_json_string(r.json, "history.0.event"), "failed");
		assert_string_equal(it_json_string(r.json, "history.1.event"), "redrive_requested");
		assert_string_equal(it_json_string(r.json, "history.2.event"), "retried");
		assert_string_equal(it_json_string(r.json, "history.2.detail.targetInstance"),
		                    "inst-one");
		it_response_free(&r);
	}
}

static void test_list_bulk_redrive_and_delete(void **state)
{
	char topic[IT_TOPIC_MAX], g[160], path[400], body[512];
	struct it_producer c = {0};
	struct it_response r = {0};
	int64_t ids[4];
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "redrive-bulk");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(topic, g, 60);
	start_consumer(&c, g, topic, "inst-bulk");
	for (i = 0; i < 4; i++) {
		char key[8];

		snprintf(key, sizeof(key), "k%d", i);
		ids[i] = send_one(topic, key, i < 3 ? "fail-first-1" : "always fail");
	}
	assert_true(
	    it_wait_sql_int(fx.conn, 4, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE consumer_group = "
	                    "'%s' AND status = 'FAILED'",
	                    g));

	/* The dead letters of the group, paged. */
	snprintf(path, sizeof(path), "/api/messages/failed?consumerGroup=%s&limit=3", g);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_int_equal(json_array_size(it_json_get(r.json, "failed")), 3);
	assert_int_equal(json_integer_value(it_json_get(r.json, "nextAfterId")), ids[2]);
	it_response_free(&r);
	snprintf(path, sizeof(path), "/api/messages/failed?consumerGroup=%s&afterId=%" PRId64, g,
	         ids[2]);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_int_equal(json_array_size(it_json_get(r.json, "failed")), 1);
	assert_true(json_is_null(it_json_get(r.json, "nextAfterId")));
	it_response_free(&r);
	/* The most recent first, for a dashboard. */
	snprintf(path, sizeof(path), "/api/messages/failed?consumerGroup=%s&newest=true&limit=2",
	         g);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_int_equal(json_array_size(it_json_get(r.json, "failed")), 2);
	assert_int_equal(json_integer_value(it_json_get(r.json, "failed.0.messageId")), ids[3]);
	assert_int_equal(json_integer_value(it_json_get(r.json, "failed.1.messageId")), ids[2]);
	assert_true(json_is_null(it_json_get(r.json, "nextAfterId")));
	it_response_free(&r);
	assert_int_equal(it_get(&fx.producer, "/api/messages/failed?newest=yes", &r), 400);
	it_response_free(&r);

	/* Bulk re-drive: the three that fail once succeed now; the fourth fails again. */
	snprintf(body, sizeof(body), "{\"consumerGroup\":\"%s\",\"status\":\"FAILED\"}", g);
	assert_int_equal(it_http(&fx.producer, "POST", "/api/messages/retry", "application/json",
	                         body, strlen(body), &r),
	                 202);
	assert_int_equal(json_integer_value(it_json_get(r.json, "requeued")), 4);
	it_response_free(&r);
	assert_true(
	    it_wait_sql_int(fx.conn, 3, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE consumer_group = "
	                    "'%s' AND status = 'ACKNOWLEDGED'",
	                    g));
	wait_group_status(ids[3], "FAILED");
	assert_true(
	    it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                    "SELECT count(*) FROM ferry_consumer.failed_message WHERE message_id "
	                    "= %" PRId64,
	                    ids[3]));
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.outbox_message WHERE id IN (%" PRId64
	               ", %" PRId64 ", %" PRId64 ") AND status = 'ACKNOWLEDGED'",
	               ids[0], ids[1], ids[2]),
	    3);

	/* Deleting dead letters: a young one stays, an old one goes, with its message. */
	snprintf(path, sizeof(path), "/api/messages/failed?olderThan=1h&consumerGroup=%s", g);
	assert_int_equal(it_http(&fx.producer, "DELETE", path, "application/json", NULL, 0, &r),
	                 200);
	assert_int_equal(json_integer_value(it_json_get(r.json, "deletedDeliveries")), 0);
	it_response_free(&r);
	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET updated_at = now() - interval '2 hours'"
	            " WHERE message_id = %" PRId64,
	            ids[3]);
	assert_int_equal(it_http(&fx.producer, "DELETE", path, "application/json", NULL, 0, &r),
	                 200);
	assert_int_equal(json_integer_value(it_json_get(r.json, "deletedDeliveries")), 1);
	assert_int_equal(json_integer_value(it_json_get(r.json, "deletedMessages")), 1);
	it_response_free(&r);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE id = %" PRId64,
	                            ids[3]),
	                 0);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.outbox_message WHERE id IN (%" PRId64
	               ", %" PRId64 ", %" PRId64 ")",
	               ids[0], ids[1], ids[2]),
	    3);
	assert_int_equal(it_producer_stop(&c), 0);
}

static void test_redrive_errors(void **state)
{
	char topic[IT_TOPIC_MAX], g[160], body[512];
	struct it_response r = {0};
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "redrive-errors");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(topic, g, 60);
	assert_int_equal(retry(999999999, NULL, &r), 404);
	assert_non_null(it_json_string(r.json, "error"));
	assert_int_equal(retry(0, NULL, &r), 400);
	assert_int_equal(retry(1, "[1]", &r), 400);
	assert_int_equal(retry(1, "{\"consumerGroup\": 5}", &r), 400);
	assert_int_equal(retry(1, "{\"targetConsumerServiceId\": \"x\"}", &r), 400);
	assert_non_null(strstr(it_json_string(r.json, "error"), "consumerGroup"));
	assert_int_equal(retry(1, "{\"consumergroup\": \"typo\"}", &r), 400);
	assert_non_null(strstr(it_json_string(r.json, "error"), "unknown field"));
	/* Not for that group; all acknowledged; not on Kafka yet (held back by a backoff). */
	id = send_one(topic, "k", "ok");
	wait_group_status(id, "SENT");
	snprintf(body, sizeof(body), "{\"consumerGroup\":\"no-such-group\"}");
	assert_int_equal(retry(id, body, &r), 404);
	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET status = 'ACKNOWLEDGED'"
	            " WHERE message_id = %" PRId64,
	            id);
	assert_int_equal(retry(id, NULL, &r), 409);
	assert_non_null(strstr(it_json_string(r.json, "error"), "nothing to re-drive"));
	it_sql_exec(fx.conn, "INSERT INTO ferry.outbox_message (topic, payload, next_attempt_at)"
	                     " VALUES ('never-relayed-topic', 'p', now() + interval '1 hour')");
	id = it_sql_int(fx.conn,
	                "SELECT id FROM ferry.outbox_message WHERE topic = 'never-relayed-topic'");
	assert_int_equal(retry(id, NULL, &r), 409);
	/* Bulk and list and delete validation. */
	assert_int_equal(
	    it_http(&fx.producer, "POST", "/api/messages/retry", "application/json", "{}", 2, &r),
	    400);
	assert_int_equal(it_http(&fx.producer, "POST", "/api/messages/retry", "application/json",
	                         "{\"consumerGroup\":\"g\",\"status\":\"SENT\"}", 36, &r),
	                 400);
	assert_int_equal(it_http(&fx.producer, "POST", "/api/messages/retry", "application/json",
	                         "{\"consumerGroup\":\"g\",\"limit\":0}", 31, &r),
	                 400);
	assert_int_equal(it_get(&fx.producer, "/api/messages/failed?status=SENT", &r), 400);
	assert_int_equal(it_get(&fx.producer, "/api/messages/failed?limit=0", &r), 400);
	assert_int_equal(it_http(&fx.producer, "DELETE", "/api/messages/failed", "application/json",
	                         NULL, 0, &r),
	                 400);
	assert_non_null(strstr(it_json_string(r.json, "error"), "olderThan"));
	assert_int_equal(it_http(&fx.producer, "DELETE", "/api/messages/failed?olderThan=soon",
	                         "application/json", NULL, 0, &r),
	                 400);
	assert_int_equal(it_http(&fx.producer, "DELETE",
	                         "/api/messages/failed?olderThan=2026-13-45T99:00:00Z",
	                         "application/json", NULL, 0, &r),
	                 400);
	assert_non_null(it_json_string(r.json, "error"));
	it_response_free(&r);
}

static void test_redrive_of_a_message_the_relay_gave_up_on(void **state)
{
	char topic[IT_TOPIC_MAX], g[160], body[256];
	struct it_response r = {0};
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "redrive-unsent");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(topic, g, 60);
	/* As the relay leaves a message Kafka refused FERRY_RELAY_MAX_ATTEMPTS times. */
	id = it_sql_int(fx.conn,
	                "INSERT INTO ferry.outbox_message (topic, message_key, payload, status,"
	                " publish_attempts, processed_at, error_message) VALUES ('%s', 'k', 'p',"
	                " 'FAILED', 5, now(), 'Broker: Message size too large') RETURNING id",
	                topic);
	snprintf(body, sizeof(body), "{\"consumerGroup\":\"%s\"}", g);
	assert_int_equal(retry(id, body, &r), 409); /* not a group's to take */
	assert_int_equal(retry(id, NULL, &r), 202);
	assert_string_equal(it_json_string(r.json, "redeliveries.0.target"), "relay");
	assert_string_equal(it_json_string(r.json, "redeliveries.0.previousStatus"), "FAILED");
	it_response_free(&r);
	/* The relay takes it again: on Kafka, then tracked for its group. */
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE id = %" PRId64
	                            " AND status = 'SENT' AND publish_attempts = 1",
	                            id));
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery WHERE message_id = "
	               "%" PRId64 " AND status = 'SENT'",
	               id),
	    1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_targeted_retry_live_instance_then_dead_falls_back),
	    cmocka_unit_test(test_list_bulk_redrive_and_delete),
	    cmocka_unit_test(test_redrive_errors),
	    cmocka_unit_test(test_redrive_of_a_message_the_relay_gave_up_on),
	};
	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
