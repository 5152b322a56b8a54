/*
 * test_consumer.c - ferry-consumer against a real ferry-producer, PostgreSQL and Kafka, on one
 * test database (producer schema ferry, consumer schema ferry_consumer): a message is processed
 * once and its group becomes ACKNOWLEDGED at the producer; a record targeted at another group is
 * skipped; the example plugin writes its own table in the same transaction, and a payload with
 * "fail" becomes a failed_message row and a negative acknowledgment; a consumer killed with
 * SIGKILL in the middle of a stream of 5,000 messages, then restarted, processes every message
 * exactly once and delivers every acknowledgment; so does one stopped with SIGTERM mid-stream
 * (which exits 0); acknowledgments survive 30 s of producer outage.
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

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "consumer", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Registers `topic` (2 partitions, Kafka topic created) with the given groups (NULL-ended). */
static void register_topic(const char *topic, const char *const *groups)
{
	struct it_response r = {0};
	char body[1024];
	size_t len;

	len =
	    (size_t)snprintf(body, sizeof(body),
	                     "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":[", topic);
	for (; *groups; groups++)
		len += (size_t)snprintf(body + len, sizeof(body) - len,
		                        "%s{\"consumerGroupName\":\"%s\"}",
		                        len && body[len - 1] == '[' ? "" : ",", *groups);
	snprintf(body + len, sizeof(body) - len, "]}");
	it_post(&fx.producer, "/api/topics/register", body, &r);
	if (r.status != 201 && r.status != 200)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

/* Sends one message (payload `text`, optionally for one group); returns its id. */
static int64_t send_message(const char *topic, const char *text, const char *group)
{
	struct it_response r = {0};
	char body[512];
	int64_t id;

	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"%s\",\"key\":\"k\"%s%s%s}",
	         topic, text, group ? ",\"consumerGroup\":\"" : "", group ? group : "",
	         group ? "\"" : "");
	if (it_post(&fx.producer, "/api/messages/send", body, &r) != 201)
		fail_msg("send to %s answered %ld: %s", topic, r.status, r.text);
	id = json_integer_value(it_json_get(r.json, "messageId"));
	it_response_free(&r);
	assert_true(id > 0);
	return id;
}

/* Starts a consumer for `group` on `topic` with the given processor settings (NULL-ended). */
static void start_consumer(struct it_producer *c, const char *group, const char *topic,
                           const char *const *more)
{
	char g[256], t[256], url[128];
	const char *env[16];
	size_t n = 0;

	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(url, sizeof(url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	env[n++] = g;
	env[n++] = t;
	env[n++] = url;
	env[n++] = "FERRY_HEARTBEAT_INTERVAL_S=2";
	for (; more && *more && n < 15; more++)
		env[n++] = *more;
	env[n] = NULL;
	it_consumer_start(c, &fx.db, env);
}

/* The status (and error message) of `group` in GET /api/messages/{id}. */
static void group_status(int64_t id, const char *group, char *status, size_t status_size,
                         char *error, size_t error_size)
{
	struct it_response r = {0};
	char path[64];
	json_t *groups, *g;
	size_t i;

	snprintf(path, sizeof(path), "/api/messages/%" PRId64, id);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	snprintf(status, status_size, "(absent)");
	if (error)
		error[0] = '\0';
	groups = it_json_get(r.json, "groups");
	json_array_foreach (groups, i, g) {
		if (strcmp(it_json_string(g, "consumerGroup"), group) == 0) {
			snprintf(status, status_size, "%s", it_json_string(g, "status"));
			if (error && json_string_value(json_object_get(g, "errorMessage")))
				snprintf(error, error_size, "%s",
				         json_string_value(json_object_get(g, "errorMessage")));
		}
	}
	it_response_free(&r);
}

static void wait_group_status(int64_t id, const char *group, const char *want)
{
	char status[64] = "";
	int64_t deadline = it_now_ms() + WAIT_MS;

	while (it_now_ms() < deadline) {
		group_status(id, group, status, sizeof(status), NULL, 0);
		if (strcmp(status, want) == 0)
			return;
		it_sleep_ms(100);
	}
	fail_msg("message %" PRId64 " for group %s stayed %s, expected %s", id, group, status,
	         want);
}

static void test_message_processed_once_and_acknowledged(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	const char *groups[2] = {group, NULL};
	struct it_producer consumer;
	struct it_response r = {0};
	char path[256];
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "once");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, groups);
	id = send_message(topic, "hello", NULL);
	start_consumer(&consumer, group, topic, NULL);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64 " AND consumer_group = '%s'",
	                            id, group));
	wait_group_status(id, group, "ACKNOWLEDGED");
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"));
	/* The consumer's own API shows it. */
	snprintf(path, sizeof(path), "/api/consumer/processed/%s", group);
	assert_int_equal(it_get(&consumer, path, &r), 200);
	assert_int_equal(json_array_size(r.json), 1);
	assert_int_equal(json_integer_value(it_json_get(r.json, "0.messageId")), id);
	assert_string_equal(it_json_string(r.json, "0.content"), "hello");
	assert_int_equal(it_get(&consumer, "/api/consumer/health", &r), 200);
	assert_true(json_is_true(it_json_get(r.json, "database.ok")));
	assert_int_equal(it_get(&consumer, "/api/consumer/processed/x?limit=0", &r), 400);
	it_response_free(&r);
	assert_int_equal(it_producer_stop(&consumer), 0);

	/* Restarted, the group resumes after its committed offset: nothing processed twice. */
	start_consumer(&consumer, group, topic, NULL);
	id = send_message(topic, "second", NULL);
	wait_group_status(id, group, "ACKNOWLEDGED");
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE consumer_group = '%s'",
	                            group),
	                 2);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

static void test_record_for_another_group_is_skipped(void **state)
{
	char topic[IT_TOPIC_MAX], ga[160], gb[160];
	const char *groups[3] = {ga, gb, NULL};
	struct it_producer consumer;
	int64_t for_b, for_all;

	(void)state;
	it_topic(topic, sizeof(topic), "target");
	snprintf(ga, sizeof(ga), "%s-a", topic);
	snprintf(gb, sizeof(gb), "%s-b", topic);
	register_topic(topic, groups);
	for_b = send_message(topic, "only for b", gb);
	for_all = send_message(topic, "for everyone", NULL);
	start_consumer(&consumer, ga, topic, NULL);
	wait_group_status(for_all, ga, "ACKNOWLEDGED");
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64,
	                            for_b),
	                 0);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

static void test_plugin_processes_and_fails(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], status[64], error[512];
	const char *groups[2] = {group, NULL};
	const char *plugin_env[] = {"FERRY_PROCESSOR=plugin",
	                            "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN, NULL};
	struct it_producer consumer;
	struct it_response r = {0};
	char path[256];
	int64_t ok_id, bad_id;

	(void)state;
	it_topic(topic, sizeof(topic), "plugin");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, groups);
	ok_id = send_message(topic, "good", NULL);
	bad_id = send_message(topic, "please fail", NULL);
	start_consumer(&consumer, group, topic, plugin_env);
	wait_group_status(ok_id, group, "ACKNOWLEDGED");
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM example_processed WHERE message_id = %" PRId64, ok_id),
	    1);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"
	                            " WHERE message_id = %" PRId64,
	                            bad_id));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64,
	                            bad_id),
	                 0);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM example_processed WHERE message_id = %" PRId64,
	               bad_id),
	    0);
	/* The negative acknowledgment reaches the producer with the processor's message. */
	{
		int64_t deadline = it_now_ms() + WAIT_MS;

		for (;;) {
			group_status(bad_id, group, status, sizeof(status), error, sizeof(error));
			if (strstr(error, "payload asks to fail") || it_now_ms() > deadline)
				break;
			it_sleep_ms(100);
		}
		if (!strstr(error, "payload asks to fail"))
			fail_msg("negative ack not seen: status %s, error '%s'", status, error);
	}
	snprintf(path, sizeof(path), "/api/consumer/failed/%s", group);
	assert_int_equal(it_get(&consumer, path, &r), 200);
	assert_int_equal(json_integer_value(it_json_get(r.json, "0.messageId")), bad_id);
	it_response_free(&r);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

static void test_missing_plugin_is_a_clear_error(void **state)
{
	(void)state;
	/* Start-up must fail: checked by running the binary directly. */
	assert_int_equal(
	    system("KAFKA_CONSUMER_GROUP=g KAFKA_TOPICS=t FERRY_PROCESSOR=plugin "
	           "FERRY_PROCESSOR_PLUGIN=/nonexistent.so FERRY_MIGRATE=false FERRY_AUTH=off "
	           "FERRY_DB_STARTUP_WAIT_S=0 " FERRY_CONSUMER_BIN
	           " 2>&1 | grep -q 'FERRY_PROCESSOR_PLUGIN: cannot load'"),
	    0);
}

/* Sends n messages "m<i>" over 17 keys to `topic` with send-batch, 500 per request. */
static void send_batches(const char *topic, int n)
{
	struct it_response r = {0};
	char *body = malloc((size_t)500 * (strlen(topic) + 64) + 16);
	int i, j, len;

	assert_non_null(body);
	for (i = 0; i < n; i += 500) {
		len = sprintf(body, "[");
		for (j = i; j < n && j < i + 500; j++)
			len += sprintf(body + len,
			               "%s{\"topic\":\"%s\",\"message\":\"m%d\",\"key\":\"k%d\"}",
			               j > i ? "," : "", topic, j, j % 17);
		sprintf(body + len, "]");
		if (it_post(&fx.producer, "/api/messages/send-batch", body, &r) != 201)
			fail_msg("send-batch answered %ld: %s", r.status, r.text);
	}
	it_response_free(&r);
	free(body);
}

/* Every one of the n messages of `topic` processed exactly once by `group`, every ack delivered:
 * the producer shows each delivery ACKNOWLEDGED and pending_ack is empty. */
static void assert_exactly_once_and_acknowledged(const char *topic, const char *group, int n)
{
	assert_true(it_wait_sql_int(fx.conn, n, WAIT_MS * 2,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE consumer_group = '%s'",
	                            group));
	assert_true(it_wait_sql_int(fx.conn, n, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery d"
	                            " JOIN ferry.outbox_message m ON m.id = d.message_id"
	                            " WHERE m.topic = '%s' AND d.consumer_group = '%s'"
	                            " AND d.status = 'ACKNOWLEDGED'",
	                            topic, group));
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"));
	/* Exactly once: n distinct messages, n rows, all of this topic. */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(DISTINCT p.message_id) FROM"
	               " ferry_consumer.processed_message p JOIN ferry.outbox_message m"
	               " ON m.id = p.message_id WHERE m.topic = '%s'"
	               " AND p.consumer_group = '%s'",
	               topic, group),
	    n);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE consumer_group = '%s'",
	                            group),
	                 n);
}

/* SIGKILL in the middle of a stream of 5,000, then a restart: exactly once, every ack
 * delivered. */
static void test_crash_and_restart_exactly_once(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	const char *groups[2] = {group, NULL};
	struct it_producer consumer;
	const int n = 5000;
	int64_t at_kill, t0 = it_now_ms();

	(void)state;
	it_topic(topic, sizeof(topic), "crash");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, groups);
	send_batches(topic, n);
	start_consumer(&consumer, group, topic, NULL);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT (count(*) >= %d)::int FROM"
	                            " ferry_consumer.processed_message WHERE consumer_group = '%s'",
	                            n / 4, group));
	it_producer_kill(&consumer);
	at_kill = it_sql_int(fx.conn,
	                     "SELECT count(*) FROM ferry_consumer.processed_message"
	                     " WHERE consumer_group = '%s'",
	                     group);
	/* Killed in the middle, not after the end. */
	assert_true(at_kill < n);
	start_consumer(&consumer, group, topic, NULL);
	assert_exactly_once_and_acknowledged(topic, group, n);
	assert_int_equal(it_producer_stop(&consumer), 0);
	printf("crash: %d messages, killed at %" PRId64
	       " processed, all acknowledged after %" PRId64 " ms\n",
	       n, at_kill, it_now_ms() - t0);
}

/* SIGTERM in the middle of a stream: exit 0; restarted, nothing processed twice. */
static void test_sigterm_during_processing_exactly_once(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	const char *groups[2] = {group, NULL};
	struct it_producer consumer;
	const int n = 3000;
	int64_t at_stop;

	(void)state;
	it_topic(topic, sizeof(topic), "sigterm");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, groups);
	send_batches(topic, n);
	start_consumer(&consumer, group, topic, NULL);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT (count(*) >= %d)::int FROM"
	                            " ferry_consumer.processed_message WHERE consumer_group = '%s'",
	                            n / 4, group));
	assert_int_equal(it_producer_stop(&consumer), 0);
	at_stop = it_sql_int(fx.conn,
	                     "SELECT count(*) FROM ferry_consumer.processed_message"
	                     " WHERE consumer_group = '%s'",
	                     group);
	assert_true(at_stop < n);
	start_consumer(&consumer, group, topic, NULL);
	assert_exactly_once_and_acknowledged(topic, group, n);
	assert_int_equal(it_producer_stop(&consumer), 0);
	printf("sigterm: %d messages, stopped at %" PRId64 " processed\n", n, at_stop);
}

/* The producer down for 30 s while the consumer processes: acks wait in pending_ack, and all
 * arrive once it is back. */
static void test_acks_survive_producer_outage(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	const char *groups[2] = {group, NULL};
	struct it_producer consumer;
	const int n = 200;
	int port = fx.producer.port;
	char portenv[32];
	const char *env[2] = {portenv, NULL};
	int64_t down_at, outage_ms;

	(void)state;
	it_topic(topic, sizeof(topic), "outage");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, groups);
	send_batches(topic, n);
	/* Wait until the relay published them, then take the producer away. */
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'"
	                            " AND status = 'PENDING'",
	                            topic));
	assert_int_equal(it_kafka_count(topic), n);
	assert_int_equal(it_producer_stop(&fx.producer), 0);
	down_at = it_now_ms();
	/* The consumer starts while the producer is down and processes every record. */
	start_consumer(&consumer, group, topic, NULL);
	assert_true(it_wait_sql_int(fx.conn, n, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE consumer_group = '%s'",
	                            group));
	/* Keep the producer down 30 s in all; the acks wait, none is lost or given up. */
	while (it_now_ms() - down_at < 30000) {
		assert_int_equal(it_sql_int(fx.conn,
		                            "SELECT count(*) FROM ferry_consumer.pending_ack"
		                            " WHERE consumer_group = '%s' AND success",
		                            group),
		                 n);
		it_sleep_ms(1000);
	}
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE consumer_group = '%s' AND status = 'ACKNOWLEDGED'",
	                            group),
	                 0);
	/* Back on the same port (the consumer's ProducerService__BaseUrl). */
	snprintf(portenv, sizeof(portenv), "PORT=%d", port);
	it_producer_start(&fx.producer, &fx.db, env);
	outage_ms = it_now_ms() - down_at;
	assert_true(outage_ms >= 30000);
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"));
	assert_true(it_wait_sql_int(fx.conn, n, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE consumer_group = '%s' AND status = 'ACKNOWLEDGED'",
	                            group));
	assert_int_equal(it_producer_stop(&consumer), 0);
	printf("outage: producer down %" PRId64 " ms, %d acks delivered after it came back\n",
	       outage_ms, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_processed_once_and_acknowledged),
	    cmocka_unit_test(test_record_for_another_group_is_skipped),
	    cmocka_unit_test(test_plugin_processes_and_fails),
	    cmocka_unit_test(test_missing_plugin_is_a_clear_error),
	    cmocka_unit_test(test_crash_and_restart_exactly_once),
	    cmocka_unit_test(test_sigterm_during_processing_exactly_once),
	    cmocka_unit_test(test_acks_survive_producer_outage),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
