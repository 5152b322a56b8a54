/*
 * test_consumer_errors.c - errors that must not stop a partition.
 *
 * A database error about one record (here a CHECK constraint the test adds to the inbox table,
 * which rejects that record's row) is recorded in failed_message, negatively acknowledged with
 * PostgreSQL's message, and the records behind it in the same partition are processed. A
 * processor that meets a serialization failure and says so (FERRY_PROCESSOR_RETRY) gets the same
 * record again: processed once, nothing recorded as failed, acknowledged positively, in order.
 *
 * The ack sender: an acknowledgment the producer refuses with 400 is set aside (refused_at,
 * counted by ferry_consumer_acks_refused) while every other acknowledgment gets through; a
 * backlog of acknowledgments whose one body would exceed the producer's body limit goes out in
 * bodies under FERRY_ACK_MAX_BODY_BYTES.
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

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "consumer_errors", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Registers `topic` (one partition, so order is the partition's) for `group`. */
static void register_topic(const char *topic, const char *group)
{
	struct it_response r = {0};
	char body[1024];

	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":"
	         "[{\"consumerGroupName\":\"%s\"}]}",
	         topic, group);
	it_post(&fx.producer, "/api/topics/register", body, &r);
	if (r.status != 201 && r.status != 200)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

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
	for (; more && *more && n < 15; more++)
		env[n++] = *more;
	env[n] = NULL;
	it_consumer_start(c, &fx.db, env);
}

/* A CHECK constraint on the inbox refuses one record's row: that record is recorded as failed
 * and negatively acknowledged, the next records of the partition are processed. */
static void test_data_error_is_recorded_and_partition_moves_on(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	struct it_producer consumer;
	int64_t first, poison, after;
	char *err;

	(void)state;
	it_topic(topic, sizeof(topic), "dataerr");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	start_consumer(&consumer, group, topic, NULL); /* applies the consumer schema */
	it_sql_exec(fx.conn,
	            "ALTER TABLE ferry_consumer.processed_message ADD CONSTRAINT"
	            " it_no_poison CHECK (content IS NULL OR content NOT LIKE '%%poison%%')");
	first = it_send_message(&fx.producer, topic, "k", "first");
	poison = it_send_message(&fx.producer, topic, "k", "poison pill");
	after = it_send_message(&fx.producer, topic, "k", "after");
	/* The record behind the refused one is processed and acknowledged. */
	assert_true(it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id IN (%" PRId64 ", %" PRId64 ")"
	                            " AND status = 'ACKNOWLEDGED'",
	                            first, after));
	/* The refused one: one failed_message row with PostgreSQL's message, no inbox row, and a
	 * negative acknowledgment at the producer. */
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"
	                            " WHERE message_id = %" PRId64 " AND consumer_group = '%s'",
	                            poison, group),
	                 1);
	err = it_sql_text(fx.conn,
	                  "SELECT error_message FROM ferry_consumer.failed_message"
	                  " WHERE message_id = %" PRId64,
	                  poison);
	assert_non_null(strstr(err, "23514"));
	assert_non_null(strstr(err, "it_no_poison"));
	free(err);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64,
	                            poison),
	                 0);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64
	                            " AND negative_ack_at IS NOT NULL"
	                            " AND error_message LIKE '%%it_no_poison%%'",
	                            poison));
	assert_int_equal(it_producer_stop(&consumer), 0);
	it_sql_exec(fx.conn,
	            "ALTER TABLE ferry_consumer.processed_message DROP CONSTRAINT it_no_poison");
}

/* Lines of the log at `path` that contain `text`. */
static int log_count(const char *path, const char *text)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		fail_msg("cannot read %s", path);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

/* The example plugin meets SQLSTATE 40001 on its first 2 attempts at "serialize-first-2" and
 * answers FERRY_PROCESSOR_RETRY: the record is retried, not recorded as a failure, and the
 * record behind it waits for it. */
static void test_processor_serialization_failure_is_retried(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	const char *plugin[] = {"FERRY_PROCESSOR=plugin",
	                        "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN, NULL};
	struct it_producer consumer;
	int64_t conflicted, after;

	(void)state;
	it_topic(topic, sizeof(topic), "serialize");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	start_consumer(&consumer, group, topic, plugin);
	conflicted = it_send_message(&fx.producer, topic, "k", "serialize-first-2");
	after = it_send_message(&fx.producer, topic, "k", "after");
	assert_true(it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id IN (%" PRId64 ", %" PRId64 ")"
	                            " AND status = 'ACKNOWLEDGED'",
	                            conflicted, after));
	/* Retried in place: no failure recorded, no negative acknowledgment, processed once and
	 * before the record behind it. */
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"
	                            " WHERE consumer_group = '%s'",
	                            group),
	                 0);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64
	                            " AND negative_ack_at IS NOT NULL",
	                            conflicted),
	                 0);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM example_processed"
	                            " WHERE message_id = %" PRId64,
	                            conflicted),
	                 1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message a"
	                            " JOIN ferry_consumer.processed_message b"
	                            " ON a.consumer_group = b.consumer_group"
	                            " WHERE a.message_id = %" PRId64 " AND b.message_id = %" PRId64
	                            " AND a.kafka_offset < b.kafka_offset",
	                            conflicted, after),
	                 1);
	assert_int_equal(it_producer_stop(&consumer), 0);
	/* And it was retried (twice), not merely processed: the consumer said so. */
	assert_int_equal(log_count(consumer.log_path, "processor asked for a retry"), 2);
}

/* Sends three messages to a topic of `group` (no consumer reads it) and waits until they are
 * SENT, so that acknowledgments for them are recorded. */
static void three_sent_messages(const char *group, int64_t ids[3])
{
	char topic[IT_TOPIC_MAX];
	int i;

	it_topic(topic, sizeof(topic), "acked");
	register_topic(topic, group);
	for (i = 0; i < 3; i++)
		ids[i] = it_send_message(&fx.producer, topic, "k", "m");
	assert_true(it_wait_sql_int(fx.conn, 3, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE consumer_group = '%s' AND status = 'SENT'",
	                            group));
}

/* A consumer whose only work is its ack sender: its own group reads an empty topic. */
static void start_ack_sender(struct it_producer *c, const char *const *more)
{
	char topic[IT_TOPIC_MAX], group[160];

	it_topic(topic, sizeof(topic), "idle");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	start_consumer(c, group, topic, more);
}

/* One acknowledgment the producer refuses (400: a group name over its 1,024 bytes) between two
 * good ones: it is set aside and counted, the good ones are recorded. */
static void test_refused_ack_is_set_aside(void **state)
{
	char group[160];
	int64_t ids[3];
	struct it_producer consumer;
	char *metrics;

	(void)state;
	it_sql_exec(fx.conn, "DELETE FROM ferry_consumer.pending_ack");
	snprintf(group, sizeof(group), "refused-%d", (int)(it_now_ms() % 100000));
	three_sent_messages(group, ids);
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry_consumer.pending_ack (message_id, consumer_group, success)"
	            " VALUES (%" PRId64 ", '%s', true), (%" PRId64 ", repeat('g', 2000), true),"
	            " (%" PRId64 ", '%s', true)",
	            ids[0], group, ids[1], ids[2], group);
	start_ack_sender(&consumer, NULL);
	assert_true(it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id IN (%" PRId64 ", %" PRId64 ")"
	                            " AND status = 'ACKNOWLEDGED'",
	                            ids[0], ids[2]));
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"
	                            " WHERE refused_at IS NOT NULL AND message_id = %" PRId64
	                            " AND last_error LIKE '%%HTTP 400%%'",
	                            ids[1]));
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry_consumer.pending_ack"), 1);
	metrics = it_scrape_metrics(&consumer);
	assert_true(it_metric_sample(metrics, "ferry_consumer_acks_refused") == 1.0);
	assert_true(it_metric_sample(metrics, "ferry_consumer_ack_backlog") == 0.0);
	free(metrics);
	/* Acks queued later are not held back by it. */
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry_consumer.pending_ack (message_id, consumer_group, success)"
	            " VALUES (%" PRId64 ", '%s', false)",
	            ids[1], group);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64
	                            " AND negative_ack_at IS NOT NULL",
	                            ids[1]));
	assert_int_equal(it_producer_stop(&consumer), 0);
	it_sql_exec(fx.conn, "DELETE FROM ferry_consumer.pending_ack");
}

/* 1,000 acknowledgments with long error texts, read in one round (FERRY_ACK_BATCH_SIZE=1000):
 * one body would be ~1.2 MB, over the producer's 1 MiB; one text is 3,000 bytes of 2-byte
 * characters, over its 1,024-byte errorMessage limit. All go out, none is refused. */
static void test_large_batch_stays_under_body_limit(void **state)
{
	static const char *const env[] = {"FERRY_ACK_BATCH_SIZE=1000", NULL};
	struct it_producer consumer;
	char *metrics;

	(void)state;
	it_sql_exec(fx.conn, "DELETE FROM ferry_consumer.pending_ack");
	/* Unknown message ids: the producer answers 200 with unknown_message, and the rows go. */
	it_sql_exec(fx.conn, "INSERT INTO ferry_consumer.pending_ack (message_id, consumer_group,"
	                     " success, error_message) SELECT 900000000000 + i, 'big', false,"
	                     " CASE WHEN i = 500 THEN repeat(chr(233), 1500) ELSE repeat('e', 1000)"
	                     " END FROM generate_series(1, 1000) i");
	start_ack_sender(&consumer, env);
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"));
	metrics = it_scrape_metrics(&consumer);
	assert_true(it_metric_sample(metrics, "ferry_consumer_acks_refused") == 0.0);
	free(metrics);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_error_is_recorded_and_partition_moves_on),
	    cmocka_unit_test(test_processor_serialization_failure_is_retried),
	    cmocka_unit_test(test_refused_ack_is_set_aside),
	    cmocka_unit_test(test_large_batch_stays_under_body_limit),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
