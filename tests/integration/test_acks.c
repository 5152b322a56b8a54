/*
 * test_acks.c - per-group delivery tracking and acknowledgments, producer side: a message is
 * tracked separately for every group of its topic, acknowledgments from one group leave the
 * others untouched, duplicates are harmless, negative acknowledgments keep their error, and
 * sends to an unregistered topic are refused without writing anything.
 *
 * The producer runs as in production (FERRY_AUTO_REGISTER_TOPICS=false). Topics are registered
 * with SQL, so this file does not depend on the registry API (test_registry.c covers that).
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

#define WAIT_MS 30000

static struct it_fixture fx;

static const char *const production_env[] = {"FERRY_AUTO_REGISTER_TOPICS=false", NULL};

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "acks", production_env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Asserts that the single value a query returns is `want` (and frees it). */
static void assert_sql(const char *want, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void assert_sql(const char *want, const char *fmt, ...)
{
	char sql[1024];
	char *got;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	got = it_sql_text(fx.conn, "%s", sql);
	if (strcmp(got, want) != 0)
		fail_msg("%s\n  gave '%s', expected '%s'", sql, got, want);
	free(got);
}

/* Registers `topic` with groups "<topic>-a" (ack required) and "<topic>-b" (ack required
 * unless b_no_ack). */
static void register_topic(const char *topic, bool b_no_ack)
{
	it_sql_exec(fx.conn, "INSERT INTO ferry.topic_registration (topic_name) VALUES ('%s')",
	            topic);
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry.consumer_group_registration (topic_registration_id,"
	            " consumer_group_name, requires_acknowledgment)"
	            " SELECT id, '%s-a', true FROM ferry.topic_registration WHERE topic_name = '%s'"
	            " UNION ALL"
	            " SELECT id, '%s-b', %s FROM ferry.topic_registration WHERE topic_name = '%s'",
	            topic, topic, topic, b_no_ack ? "false" : "true", topic);
}

/* Sends one message to `topic` (optionally for one group) and returns its id. */
static int64_t send_message(const char *topic, const char *group)
{
	struct it_response r = {0};
	char body[512];
	int64_t id;

	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"hello\",\"key\":\"k\"%s%s%s}",
	         topic, group ? ",\"consumerGroup\":\"" : "", group ? group : "",
	         group ? "\"" : "");
	if (it_post(&fx.producer, "/api/messages/send", body, &r) != 201)
		fail_msg("send to %s answered %ld: %s", topic, r.status, r.text);
	id = json_integer_value(it_json_get(r.json, "messageId"));
	it_response_free(&r);
	assert_true(id > 0);
	return id;
}

static void wait_status(int64_t id, const char *status)
{
	if (!it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                     "SELECT count(*) FROM ferry.outbox_message WHERE id = %" PRId64
	                     " AND status = '%s'",
	                     id, status))
		fail_msg("message %" PRId64 " did not become %s", id, status);
}

/* The status of `group` in GET /api/messages/{id}, or "(absent)". */
static char *group_status(int64_t id, const char *group, char *buf, size_t size)
{
	struct it_response r = {0};
	char path[64];
	json_t *groups, *g;
	size_t i;

	snprintf(path, sizeof(path), "/api/messages/%" PRId64, id);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	snprintf(buf, size, "(absent)");
	groups = it_json_get(r.json, "groups");
	json_array_foreach (groups, i, g) {
		if (strcmp(it_json_string(g, "consumerGroup"), group) == 0)
			snprintf(buf, size, "%s", it_json_string(g, "status"));
	}
	it_response_free(&r);
	return buf;
}

/* POSTs one acknowledgment; returns the reply's single result (caller frees). */
static json_t *ack(int64_t id, const char *group, bool success, const char *error)
{
	struct it_response r = {0};
	char body[512];
	json_t *result;

	snprintf(body, sizeof(body),
	         "{\"messageId\":%" PRId64 ",\"consumerGroup\":\"%s\",\"success\":%s,"
	         "\"consumerServiceId\":\"svc-1\",\"consumerInstanceId\":\"inst-1\"%s%s%s}",
	         id, group, success ? "true" : "false", error ? ",\"errorMessage\":\"" : "",
	         error ? error : "", error ? "\"" : "");
	if (it_post(&fx.producer, FERRY_PATH_ACKNOWLEDGE, body, &r) != 200)
		fail_msg("acknowledge answered %ld: %s", r.status, r.text);
	result = json_incref(json_array_get(it_json_get(r.json, "results"), 0));
	it_response_free(&r);
	return result;
}

static void test_message_tracked_for_each_group(void **state)
{
	char topic[IT_TOPIC_MAX], ga[160], gb[160], buf[32];
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "fanout");
	register_topic(topic, false);
	snprintf(ga, sizeof(ga), "%s-a", topic);
	snprintf(gb, sizeof(gb), "%s-b", topic);
	id = send_message(topic, NULL);
	wait_status(id, "SENT");
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	               " AND status = 'SENT'",
	               id),
	    2);
	assert_string_equal(group_status(id, ga, buf, sizeof(buf)), "SENT");
	assert_string_equal(group_status(id, gb, buf, sizeof(buf)), "SENT");
}

/* The seeded topic of the original: order-events goes to default-consumer-group and
 * inventory-service. */
static void test_seeded_order_events_tracked_for_both_groups(void **state)
{
	char buf[32];
	int64_t id;

	(void)state;
	id = send_message("order-events", NULL);
	wait_status(id, "SENT");
	assert_string_equal(group_status(id, "default-consumer-group", buf, sizeof(buf)), "SENT");
	assert_string_equal(group_status(id, "inventory-service", buf, sizeof(buf)), "SENT");
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64,
	               id),
	    2);
}

static void test_ack_from_one_group_leaves_the_other(void **state)
{
	char topic[IT_TOPIC_MAX], ga[160], gb[160], buf[32];
	json_t *res;
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "ackone");
	register_topic(topic, false);
	snprintf(ga, sizeof(ga), "%s-a", topic);
	snprintf(gb, sizeof(gb), "%s-b", topic);
	id = send_message(topic, NULL);
	wait_status(id, "SENT");

	res = ack(id, ga, true, NULL);
	assert_string_equal(it_json_string(res, "result"), "recorded");
	assert_string_equal(it_json_string(res, "groupStatus"), "ACKNOWLEDGED");
	json_decref(res);
	assert_string_equal(group_status(id, ga, buf, sizeof(buf)), "ACKNOWLEDGED");
	assert_string_equal(group_status(id, gb, buf, sizeof(buf)), "SENT");
	assert_sql("SENT", "SELECT status FROM ferry.outbox_message WHERE id = %" PRId64, id);

	/* A repeated acknowledgment changes nothing and is said to be a duplicate. */
	res = ack(id, ga, true, NULL);
	assert_string_equal(it_json_string(res, "result"), "duplicate");
	json_decref(res);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_acknowledgment"
	                            " WHERE message_id = %" PRId64,
	                            id),
	                 1);

	/* The last group's acknowledgment completes the message. */
	res = ack(id, gb, true, NULL);
	assert_string_equal(it_json_string(res, "result"), "recorded");
	json_decref(res);
	assert_sql("ACKNOWLEDGED", "SELECT status FROM ferry.outbox_message WHERE id = %" PRId64,
	           id);
}

static void test_negative_ack_keeps_the_error(void **state)
{
	char topic[IT_TOPIC_MAX], ga[160], buf[32];
	json_t *res;
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "nack");
	register_topic(topic, false);
	snprintf(ga, sizeof(ga), "%s-a", topic);
	id = send_message(topic, NULL);
	wait_status(id, "SENT");

	res = ack(id, ga, false, "database timeout in processor");
	assert_string_equal(it_json_string(res, "result"), "recorded");
	json_decref(res);
	assert_string_equal(group_status(id, ga, buf, sizeof(buf)), "SENT");
	assert_sql("database timeout in processor|true",
	           "SELECT error_message || '|' || (negative_ack_at IS NOT NULL)"
	           " FROM ferry.message_delivery WHERE message_id = %" PRId64
	           " AND consumer_group = '%s'",
	           id, ga);
	assert_sql("false|database timeout in processor|inst-1",
	           "SELECT success || '|' || error_message || '|' ||"
	           " consumer_instance_id FROM ferry.consumer_acknowledgment"
	           " WHERE message_id = %" PRId64,
	           id);
}

static void test_ack_errors_are_per_item(void **state)
{
	char topic[IT_TOPIC_MAX], body[512];
	struct it_response r = {0};
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "ackerr");
	register_topic(topic, false);
	id = send_message(topic, NULL);
	wait_status(id, "SENT");
	snprintf(body, sizeof(body),
	         "[{\"messageId\":999999999,\"consumerGroup\":\"%s-a\",\"success\":true},"
	         " {\"messageId\":%" PRId64 ",\"consumerGroup\":\"not-a-group\",\"success\":true},"
	         " {\"messageId\":%" PRId64 ",\"consumerGroup\":\"%s-a\",\"success\":true}]",
	         topic, id, id, topic);
	assert_int_equal(it_post(&fx.producer, FERRY_PATH_ACKNOWLEDGE, body, &r), 200);
	assert_string_equal(it_json_string(r.json, "results.0.result"), "unknown_message");
	assert_string_equal(it_json_string(r.json, "results.1.result"), "not_for_group");
	assert_string_equal(it_json_string(r.json, "results.2.result"), "recorded");
	assert_int_equal(json_integer_value(it_json_get(r.json, "errors")), 2);
	assert_int_equal(json_integer_value(it_json_get(r.json, "recorded")), 1);

	/* A malformed body is refused as a whole. */
	assert_int_equal(it_post(&fx.producer, FERRY_PATH_ACKNOWLEDGE,
	                         "{\"messageId\":\"x\",\"consumerGroup\":\"g\",\"success\":true}",
	                         &r),
	                 400);
	assert_non_null(it_json_get(r.json, "error"));
	it_response_free(&r);
}

static void test_unregistered_topic_is_404_and_writes_nothing(void **state)
{
	char topic[IT_TOPIC_MAX], body[256];
	struct it_response r = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "unregistered");
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"x\",\"useBatching\":%s}",
	         topic, "true");
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 404);
	assert_non_null(strstr(it_json_string(r.json, "error"), "not registered"));
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"x\",\"useBatching\":%s}",
	         topic, "false");
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 404);
	snprintf(body, sizeof(body), "[{\"topic\":\"%s\",\"message\":\"x\"}]", topic);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send-batch", body, &r), 404);
	it_response_free(&r);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                            topic),
	                 0);
}

static void test_target_group(void **state)
{
	char topic[IT_TOPIC_MAX], ga[160], gb[160], buf[32], body[256];
	struct it_response r = {0};
	struct it_records recs = {0};
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "target");
	register_topic(topic, false);
	snprintf(ga, sizeof(ga), "%s-a", topic);
	snprintf(gb, sizeof(gb), "%s-b", topic);
	id = send_message(topic, gb);
	wait_status(id, "SENT");
	assert_string_equal(group_status(id, gb, buf, sizeof(buf)), "SENT");
	assert_string_equal(group_status(id, ga, buf, sizeof(buf)), "(absent)");
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64,
	               id),
	    1);
	it_kafka_read(topic, 1, WAIT_MS, &recs);
	assert_int_equal(recs.n, 1);
	it_assert_header(&recs.v[0], FERRY_HEADER_TARGET_GROUP, gb);
	it_records_free(&recs);

	/* A group that is not registered for the topic: 400, nothing written. */
	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"message\":\"x\",\"consumerGroup\":\"elsewhere\"}", topic);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 400);
	it_response_free(&r);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                            topic),
	                 1);
}

static void test_group_without_ack_is_done_when_sent(void **state)
{
	char topic[IT_TOPIC_MAX], ga[160], gb[160], buf[32];
	json_t *res;
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "noack");
	register_topic(topic, true);
	snprintf(ga, sizeof(ga), "%s-a", topic);
	snprintf(gb, sizeof(gb), "%s-b", topic);
	id = send_message(topic, NULL);
	wait_status(id, "SENT");
	assert_string_equal(group_status(id, gb, buf, sizeof(buf)), "ACKNOWLEDGED");
	assert_string_equal(group_status(id, ga, buf, sizeof(buf)), "SENT");
	res = ack(id, ga, true, NULL);
	json_decref(res);
	assert_sql("ACKNOWLEDGED", "SELECT status FROM ferry.outbox_message WHERE id = %" PRId64,
	           id);
}

static void test_ack_that_overtakes_the_relay(void **state)
{
	static const char *const no_relay[] = {"FERRY_AUTO_REGISTER_TOPICS=false",
	                                       "FERRY_RELAY_ENABLED=false", NULL};
	struct it_producer api_only = {0};
	char topic[IT_TOPIC_MAX], ga[160], gb[160], buf[32];
	struct it_producer saved = fx.producer;
	json_t *res;
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "overtake");
	register_topic(topic, false);
	snprintf(ga, sizeof(ga), "%s-a", topic);
	snprintf(gb, sizeof(gb), "%s-b", topic);
	/* Stop the relay so the message stays PENDING while it is acknowledged. */
	assert_int_equal(it_producer_stop(&fx.producer), 0);
	it_producer_start(&api_only, &fx.db, no_relay);
	fx.producer = api_only;
	id = send_message(topic, NULL);
	assert_string_equal(group_status(id, ga, buf, sizeof(buf)), "PENDING");
	res = ack(id, ga, true, NULL);
	assert_string_equal(it_json_string(res, "result"), "recorded");
	json_decref(res);
	assert_int_equal(it_producer_stop(&fx.producer), 0);

	/* The relay comes back: it keeps the early acknowledgment and tracks the other group. */
	fx.producer = saved;
	it_producer_start(&fx.producer, &fx.db, production_env);
	wait_status(id, "SENT");
	assert_string_equal(group_status(id, ga, buf, sizeof(buf)), "ACKNOWLEDGED");
	assert_string_equal(group_status(id, gb, buf, sizeof(buf)), "SENT");
}

static void test_group_listing_and_stats(void **state)
{
	char topic[IT_TOPIC_MAX], ga[160], gb[160], path[256];
	struct it_response r = {0};
	int64_t ids[3];
	json_t *g, *groups;
	size_t i;
	int seen = 0;

	(void)state;
	it_topic(topic, sizeof(topic), "stats");
	register_topic(topic, false);
	snprintf(ga, sizeof(ga), "%s-a", topic);
	snprintf(gb, sizeof(gb), "%s-b", topic);
	for (i = 0; i < 3; i++)
		ids[i] = send_message(topic, NULL);
	for (i = 0; i < 3; i++)
		wait_status(ids[i], "SENT");
	json_decref(ack(ids[0], ga, true, NULL));
	json_decref(ack(ids[1], ga, false, "nope"));

	snprintf(path, sizeof(path), "/api/messages/consumer-group/%s?status=ACKNOWLEDGED", ga);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_int_equal(json_array_size(it_json_get(r.json, "items")), 1);
	assert_int_equal(json_integer_value(it_json_get(r.json, "items.0.id")), ids[0]);
	snprintf(path, sizeof(path), "/api/messages/consumer-group/%s?status=SENT&limit=1", ga);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_int_equal(json_array_size(it_json_get(r.json, "items")), 1);
	assert_int_equal(json_integer_value(it_json_get(r.json, "nextAfterId")), ids[1]);
	assert_int_equal(it_get(&fx.producer, "/api/messages/consumer-group/x?status=LOST", &r),
	                 400);

	assert_int_equal(it_get(&fx.producer, "/api/messages/stats", &r), 200);
	groups = it_json_get(r.json, "groups");
	json_array_foreach (groups, i, g) {
		if (strcmp(it_json_string(g, "topic"), topic) != 0)
			continue;
		seen++;
		if (strcmp(it_json_string(g, "consumerGroup"), ga) == 0) {
			assert_int_equal(json_integer_value(it_json_get(g, "ACKNOWLEDGED")), 1);
			assert_int_equal(json_integer_value(it_json_get(g, "SENT")), 2);
		} else {
			assert_int_equal(json_integer_value(it_json_get(g, "SENT")), 3);
		}
	}
	assert_int_equal(seen, 2);
	assert_true(json_integer_value(it_json_get(r.json, "outbox.SENT")) >= 3);
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_tracked_for_each_group),
	    cmocka_unit_test(test_seeded_order_events_tracked_for_both_groups),
	    cmocka_unit_test(test_ack_from_one_group_leaves_the_other),
	    cmocka_unit_test(test_negative_ack_keeps_the_error),
	    cmocka_unit_test(test_ack_errors_are_per_item),
	    cmocka_unit_test(test_unregistered_topic_is_404_and_writes_nothing),
	    cmocka_unit_test(test_target_group),
	    cmocka_unit_test(test_group_without_ack_is_done_when_sent),
	    cmocka_unit_test(test_ack_that_overtakes_the_relay),
	    cmocka_unit_test(test_group_listing_and_stats),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
