/*
 * test_retry_robust.c - no single row stops redelivery (issue 11, item 3):
 *   - a heartbeat whose details.partitions is not {topic: [partition numbers]} is refused (400)
 *     and nothing of it is stored;
 *   - an agent row that holds such a value anyway (written before the check existed, or by
 *     hand) neither fails the retry pass nor an operator's re-drive aimed at it: the redelivery
 *     goes by key to the group, the history says why, and every other group's redelivery goes on;
 *   - deliveries whose republish Kafka refuses are recorded and moved back in the due order,
 *     so that 500 of them at the head of the due index do not block the one behind them.
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

/* Records over 4096 bytes are refused by the retry job's producer itself (message.max.bytes),
 * at once and every time: the quickest way to make Kafka refuse a republish. */
static const char *const producer_env[] = {
    "FERRY_RETRY_INTERVAL_MS=200",      "FERRY_RETRY_BACKOFF_BASE_MS=1000",
    "FERRY_RETRY_BACKOFF_MAX_MS=60000", "FERRY_RETRY_BATCH_SIZE=100",
    "KAFKA_MESSAGE_MAX_BYTES=4096",     NULL,
};

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "retry_robust", producer_env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Registers `topic` (2 partitions) with groups g1 and g2 (g2 may be NULL): acknowledgments
 * required, `timeout_s`, infinite retries. */
static void register_topic(const char *topic, const char *g1, const char *g2, int timeout_s)
{
	struct it_response r = {0};
	char body[1024], second[400] = "";

	if (g2)
		snprintf(second, sizeof(second),
		         ",{\"consumerGroupName\":\"%s\",\"acknowledgmentTimeoutSeconds\":%d,"
		         "\"maxRetries\":-1}",
		         g2, timeout_s);
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":["
	         "{\"consumerGroupName\":\"%s\",\"acknowledgmentTimeoutSeconds\":%d,"
	         "\"maxRetries\":-1}%s]}",
	         topic, g1, timeout_s, second);
	if (it_post(&fx.producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

/* Registers consumer agent svc-robust/`instance` of `group` on `topic`; returns its id. */
static int64_t register_agent(const char *instance, const char *group, const char *topic)
{
	struct it_response r = {0};
	char body[1024];
	int64_t id;

	snprintf(
	    body, sizeof(body),
	    "{\"serviceId\": \"svc-robust\", \"instanceId\": \"%s\", \"consumerGroup\": \"%s\","
	    " \"topics\": [\"%s\"], \"host\": \"127.0.0.1\", \"port\": 5401}",
	    instance, group, topic);
	if (it_post(&fx.producer, FERRY_PATH_AGENT_REGISTER, body, &r) != 201)
		fail_msg("registering agent %s answered %ld: %s", instance, r.status, r.text);
	id = (int64_t)json_integer_value(it_json_get(r.json, "id"));
	it_response_free(&r);
	return id;
}

/* Sends one message and waits until the relay put it on Kafka with `groups` deliveries. */
static int64_t send_and_wait_sent(const char *topic, const char *key, int groups)
{
	int64_t id = it_send_message(&fx.producer, topic, key, "payload");

	if (!it_wait_sql_int(
	        fx.conn, groups, WAIT_MS,
	        "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	        " AND status = 'SENT'",
	        id))
		fail_msg("message %" PRId64 " never reached Kafka", id);
	return id;
}

/* POST a heartbeat with details {"partitions": <partitions>}; returns the status. */
static long heartbeat(const char *instance, const char *partitions, struct it_response *r)
{
	char body[1024];

	snprintf(body, sizeof(body),
	         "{\"serviceId\": \"svc-robust\", \"instanceId\": \"%s\","
	         " \"details\": {\"lag\": 0, \"partitions\": %s}}",
	         instance, partitions);
	return it_post(&fx.producer, FERRY_PATH_AGENT_HEARTBEAT, body, r);
}

static void test_bad_heartbeat_partitions_are_refused(void **state)
{
	static const char *const bad[] = {
	    "{\"%s\": [\"x\"]}",
	    "{\"%s\": \"x\"}",
	    "{\"%s\": [-1]}",
	    "{\"%s\": [1.5]}",
	    "{\"%s\": [4294967296]}",
	    "{\"%s\": [[0]]}",
	    "{\"bad topic\": [0]}",
	    "[0]",
	    "\"x\"",
	};
	char topic[IT_TOPIC_MAX], g[160], partitions[512];
	struct it_response r = {0};
	int64_t agent;
	size_t i;

	(void)state;
	it_topic(topic, sizeof(topic), "robust-hb");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(topic, g, NULL, 3600);
	agent = register_agent("inst-hb", g, topic);
	snprintf(partitions, sizeof(partitions), "{\"%s\": [1, 0]}", topic);
	assert_int_equal(heartbeat("inst-hb", partitions, &r), 200);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_service_agent WHERE id = "
	                            "%" PRId64 " AND assigned_partitions = '{\"%s\": [1, 0]}'",
	                            agent, topic),
	                 1);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(partitions, sizeof(partitions), bad[i], topic);
		if (heartbeat("inst-hb", partitions, &r) != 400)
			fail_msg("partitions %s answered %ld: %s", partitions, r.status, r.text);
		assert_non_null(r.json);
		assert_non_null(strstr(it_json_string(r.json, "error"), "details.partitions"));
	}
	/* Nothing of the refused beats was stored: the assignment is the good one's, and there is
	 * one health check (the good beat's). */
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_service_agent WHERE id = "
	                            "%" PRId64 " AND assigned_partitions = '{\"%s\": [1, 0]}'",
	                            agent, topic),
	                 1);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.service_health_check"
	                                     " WHERE instance_id = 'inst-hb'"),
	                 1);
	/* A beat without partitions keeps the assignment. */
	assert_int_equal(heartbeat("inst-hb", "null", &r), 200);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_service_agent WHERE id = "
	                            "%" PRId64 " AND assigned_partitions = '{\"%s\": [1, 0]}'",
	                            agent, topic),
	                 1);
	it_response_free(&r);
}

/* Re-drives message `id`'s delivery to `group`, aimed at agent `agent` (0: the group), in SQL
 * (what POST /api/messages/{id}/retry records). */
static void redrive_sql(int64_t id, const char *group, int64_t agent)
{
	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET redrive_requested_at = clock_timestamp(),"
	            " target_agent_id = nullif(%" PRId64 ", 0) WHERE message_id = %" PRId64
	            " AND consumer_group = '%s'",
	            agent, id, group);
}

static void test_unreadable_agent_row_does_not_stop_redelivery(void **state)
{
	char topic[IT_TOPIC_MAX], g1[160], g2[160], body[512], path[64];
	struct it_response r = {0};
	int64_t a, b, m1, m2, m3;

	(void)state;
	it_topic(topic, sizeof(topic), "robust-row");
	snprintf(g1, sizeof(g1), "%s-g1", topic);
	snprintf(g2, sizeof(g2), "%s-g2", topic);
	register_topic(topic, g1, g2, 3600);
	a = register_agent("inst-a", g1, topic);
	b = register_agent("inst-b", g1, topic);
	m1 = send_and_wait_sent(topic, "k1", 2);
	m2 = send_and_wait_sent(topic, "k2", 2);
	m3 = send_and_wait_sent(topic, "k3", 2);

	/* Rows no heartbeat can write any more, as an older version stored them: the issue's
	 * example, and a list of numbers none of which is a partition. */
	it_sql_exec(fx.conn,
	            "UPDATE ferry.consumer_service_agent SET assigned_partitions ="
	            " jsonb_build_object('%s', '[\"x\"]'::jsonb) WHERE id = %" PRId64,
	            topic, a);
	it_sql_exec(fx.conn,
	            "UPDATE ferry.consumer_service_agent SET assigned_partitions ="
	            " jsonb_build_object('%s', '[99999999999, -3, 1.5, null, [0]]'::jsonb)"
	            " WHERE id = %" PRId64,
	            topic, b);
	/* Re-drives aimed at them, and one of another group, all due in the same pass. */
	redrive_sql(m1, g1, a);
	redrive_sql(m2, g1, b);
	redrive_sql(m1, g2, 0);

	/* Every one is republished: the aimed ones by key to the group, saying why. */
	if (!it_wait_sql_int(fx.conn, 3, WAIT_MS,
	                     "SELECT count(*) FROM ferry.message_event WHERE event = 'retried'"
	                     " AND message_id IN (%" PRId64 ", %" PRId64 ")",
	                     m1, m2)) {
		it_producer_print_log(&fx.producer, 20);
		fail_msg("the redeliveries were not all republished");
	}
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_event WHERE event = 'retried'"
	               " AND consumer_group = '%s' AND message_id IN (%" PRId64 ", %" PRId64
	               ") AND detail ->> 'targetInstance' IS NULL"
	               " AND detail ->> 'fallbackReason' LIKE '%%not partition numbers%%'",
	               g1, m1, m2),
	    2);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery WHERE message_id IN"
	               " (%" PRId64 ", %" PRId64 ") AND retry_count = 1"
	               " AND redrive_requested_at IS NULL AND target_agent_id IS NULL",
	               m1, m2),
	    3);

	/* An operator's re-drive aimed at such an agent is not a database error either: it falls
	 * back to the group (the other agent is not a candidate) and says why. */
	it_sql_exec(fx.conn,
	            "UPDATE ferry.consumer_service_agent SET assigned_partitions ="
	            " jsonb_build_object('%s', '\"x\"'::jsonb) WHERE id = %" PRId64,
	            topic, b);
	snprintf(body, sizeof(body),
	         "{\"consumerGroup\":\"%s\",\"targetConsumerServiceId\":\"inst-b\"}", g1);
	snprintf(path, sizeof(path), "/api/messages/%" PRId64 "/retry", m3);
	if (it_post(&fx.producer, path, body, &r) != 202)
		fail_msg("re-drive aimed at an unreadable agent answered %ld: %s", r.status,
		         r.text);
	assert_string_equal(it_json_string(r.json, "redeliveries.0.target"), "group");
	assert_non_null(
	    strstr(it_json_string(r.json, "redeliveries.0.fallbackReason"), "holds no partition"));
	it_response_free(&r);
	if (!it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                     "SELECT count(*) FROM ferry.message_event WHERE event = 'retried'"
	                     " AND message_id = %" PRId64,
	                     m3))
		fail_msg("the re-drive of message %" PRId64 " was not republished", m3);
}

static void test_failing_republish_does_not_block_the_rest(void **state)
{
	char topic[IT_TOPIC_MAX], g[160];
	int64_t good, start;
	char *metrics;

	(void)state;
	it_topic(topic, sizeof(topic), "robust-due");
	snprintf(g, sizeof(g), "%s-g", topic);
	/* A 1 s timeout: the good message is due by timeout, after the 500 below. */
	register_topic(topic, g, NULL, 1);
	good = send_and_wait_sent(topic, "good", 1);

	/* 500 re-driven deliveries at the very head of the due index (-infinity), each too large
	 * for the producer to take: every republish of them fails. */
	it_sql_exec(
	    fx.conn,
	    "WITH m AS (INSERT INTO ferry.outbox_message (topic, message_key, payload, status,"
	    "  sent_at, processed_at)"
	    "  SELECT '%s', 'big-' || i, repeat('x', 5000), 'SENT', now(), NULL"
	    "  FROM generate_series(1, 500) i RETURNING id)"
	    " INSERT INTO ferry.message_delivery (message_id, consumer_group_id, consumer_group,"
	    "  status, sent_at, redrive_requested_at, due_at)"
	    " SELECT m.id, g.id, '%s', 'SENT', now(), now(), '-infinity'"
	    " FROM m, ferry.consumer_group_registration g WHERE g.consumer_group_name = '%s'",
	    topic, g, g);
	start = it_now_ms();

	/* The good one is retried all the same, within a few passes (100 per pass). */
	if (!it_wait_sql_int(
	        fx.conn, 1, WAIT_MS,
	        "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	        " AND retry_count >= 1",
	        good)) {
		it_producer_print_log(&fx.producer, 20);
		fail_msg("500 failing redeliveries blocked the good one");
	}
	fprintf(stderr, "good delivery retried %" PRId64 " ms after 500 failing ones were queued\n",
	        it_now_ms() - start);

	/* Each failing one was recorded (with Kafka's error) and moved behind it; none counts as a
	 * retry. */
	assert_true(it_wait_sql_int(
	    fx.conn, 500, WAIT_MS,
	    "SELECT count(DISTINCT message_id) FROM ferry.message_event WHERE event ="
	    " 'republish_failed' AND consumer_group = '%s' AND detail ->> 'error' <> ''"
	    " AND (detail ->> 'failures')::int >= 1",
	    g));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_delivery d JOIN"
	                            " ferry.outbox_message m ON m.id = d.message_id WHERE"
	                            " m.message_key LIKE 'big-%%' AND m.topic = '%s' AND"
	                            " d.retry_count = 0 AND d.republish_failures >= 1"
	                            " AND d.redrive_requested_at IS NOT NULL",
	                            topic),
	                 500);
	metrics = it_scrape_metrics(&fx.producer);
	assert_true(it_metric_sample(metrics, "ferry_retry_publish_errors_total") >= 500);
	free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_heartbeat_partitions_are_refused),
	    cmocka_unit_test(test_unreadable_agent_row_does_not_stop_redelivery),
	    cmocka_unit_test(test_failing_republish_does_not_block_the_rest),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
