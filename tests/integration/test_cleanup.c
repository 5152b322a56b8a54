/*
 * test_cleanup.c - the cleanup jobs remove exactly the rows past retention: on the producer,
 * finished messages (every group acknowledged, or no group) with their acknowledgments and
 * history, in batches, and old health checks; never PENDING rows, messages a group still waits
 * for, or FAILED dead letters. On the consumer, processed and failed rows past its retention.
 *
 * The rows are written directly in their final states (the relay is off), backdated by two
 * days; retention is 24 hours and the jobs run every second with batches of 3 rows.
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

static const char *const producer_env[] = {
    "FERRY_RELAY_ENABLED=false",
    "FERRY_RETRY_ENABLED=false",
    "FERRY_CLEANUP_INTERVAL_S=1",
    "FERRY_MESSAGE_RETENTION_HOURS=24",
    "FERRY_HEALTH_CHECK_RETENTION_HOURS=24",
    "FERRY_CLEANUP_BATCH_SIZE=3",
    NULL,
};

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "cleanup", producer_env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Inserts n messages of `topic` with `status`, created `age` ago, each with a delivery of
 * status `group_status` for group id `gid` (none when group_status is NULL) and an ack row. */
static void add_messages(int n, const char *topic, const char *status, const char *age,
                         const char *group_status, int64_t gid)
{
	it_sql_exec(
	    fx.conn,
	    "WITH m AS (INSERT INTO ferry.outbox_message (topic, payload, status, created_at,"
	    " sent_at) SELECT '%s', 'p', '%s', now() - interval '%s',"
	    " CASE WHEN '%s' = 'PENDING' THEN NULL ELSE now() - interval '%s' END"
	    " FROM generate_series(1, %d) RETURNING id)"
	    " INSERT INTO ferry.message_delivery (message_id, consumer_group_id,"
	    " consumer_group, status) SELECT m.id, %" PRId64 ", 'cg', '%s' FROM m"
	    " WHERE '%s' <> ''",
	    topic, status, age, status, age, n, gid, group_status ? group_status : "",
	    group_status ? group_status : "");
}

static void test_producer_cleanup_removes_exactly_the_old_finished_rows(void **state)
{
	int64_t gid;
	char *metrics;

	(void)state;
	it_sql_exec(fx.conn, "BEGIN");
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry.topic_registration (topic_name) VALUES ('cleanup-t'), "
	            "('cleanup-nogroups')");
	gid = it_sql_int(fx.conn,
	                 "INSERT INTO ferry.consumer_group_registration (topic_registration_id,"
	                 " consumer_group_name) SELECT id, 'cg' FROM ferry.topic_registration"
	                 " WHERE topic_name = 'cleanup-t' RETURNING id");
	/* Old and finished: 10 acknowledged (more than three batches), 2 for no group. */
	add_messages(10, "cleanup-t", "ACKNOWLEDGED", "2 days", "ACKNOWLEDGED", gid);
	add_messages(2, "cleanup-nogroups", "SENT", "2 days", NULL, gid);
	/* Old but not finished: a group still waits, a dead letter, not yet on Kafka. */
	add_messages(1, "cleanup-t", "SENT", "2 days", "SENT", gid);
	add_messages(1, "cleanup-t", "FAILED", "2 days", "FAILED", gid);
	add_messages(1, "cleanup-t", "PENDING", "2 days", NULL, gid);
	/* Young and finished. */
	add_messages(3, "cleanup-t", "ACKNOWLEDGED", "1 hour", "ACKNOWLEDGED", gid);
	/* Their acknowledgments and history go with them. */
	it_sql_exec(fx.conn, "INSERT INTO ferry.consumer_acknowledgment (message_id,"
	                     " consumer_group_id, consumer_group, success)"
	                     " SELECT message_id, consumer_group_id, 'cg', true"
	                     " FROM ferry.message_delivery WHERE status = 'ACKNOWLEDGED'");
	it_sql_exec(fx.conn, "INSERT INTO ferry.message_event (message_id, event, actor)"
	                     " SELECT id, 'retried', 'test' FROM ferry.outbox_message");
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry.service_health_check (agent_kind, service_id, instance_id,"
	            " healthy, checked_at) SELECT 'consumer', 's', 'i', true, now() - interval"
	            " '25 hours' FROM generate_series(1, 5)");
	/* Young ones stay (the agents' own beats add more meanwhile; these are the test's). */
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry.service_health_check (agent_kind, service_id, instance_id,"
	            " healthy, checked_at) SELECT 'consumer', 'young', 'i', true, now() - interval"
	            " '23 hours' FROM generate_series(1, 3)");
	it_sql_exec(fx.conn, "COMMIT");

	assert_true(
	    it_wait_sql_int(fx.conn, 6, WAIT_MS, "SELECT count(*) FROM ferry.outbox_message"));
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry.service_health_check"
	                            " WHERE checked_at < now() - interval '24 hours'"));
	it_sleep_ms(2500); /* more passes take nothing else */
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message"), 6);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE created_at <"
	                            " now() - interval '1 day'"),
	                 3);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message WHERE"
	                                     " status = 'ACKNOWLEDGED'"),
	                 3);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.message_event"), 6);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.consumer_acknowledgment"),
	                 3);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.service_health_check WHERE"
	                                     " checked_at < now() - interval '24 hours'"),
	                 0);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.service_health_check WHERE"
	                                     " service_id = 'young'"),
	                 3);
	/* What was deleted is counted. */
	metrics = it_scrape_metrics(&fx.producer);
	assert_true(it_metric_sample(metrics, "ferry_cleanup_deleted_total{kind=\"message\"}") ==
	            12);
	assert_true(
	    it_metric_sample(metrics, "ferry_cleanup_deleted_total{kind=\"health_check\"}") == 5);
	free(metrics);
}

static void test_consumer_cleans_its_inbox(void **state)
{
	struct it_producer c = {0};
	char url[128];
	const char *env[] = {
	    "KAFKA_CONSUMER_GROUP=cleanup-cg", "KAFKA_TOPICS=cleanup-t",           url,
	    "FERRY_INBOX_RETENTION_HOURS=24",  "FERRY_INBOX_CLEANUP_INTERVAL_S=1", NULL};

	(void)state;
	snprintf(url, sizeof(url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	it_consumer_start(&c, &fx.db, env);
	it_sql_exec(
	    fx.conn,
	    "INSERT INTO ferry_consumer.processed_message (message_id, consumer_group, topic,"
	    " partition, kafka_offset, processed_at, consumer_service_id,"
	    " consumer_instance_id) SELECT g, 'cleanup-cg', 'cleanup-t', 0, g,"
	    " CASE WHEN g <= 1500 THEN now() - interval '25 hours' ELSE now() END, 's', 'i'"
	    " FROM generate_series(1, 1600) g");
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry_consumer.failed_message (message_id, consumer_group, topic,"
	            " error_message, failed_at, consumer_service_id, consumer_instance_id)"
	            " SELECT g, 'cleanup-cg', 'cleanup-t', 'e', CASE WHEN g <= 3 THEN now() -"
	            " interval '25 hours' ELSE now() END, 's', 'i' FROM generate_series(1, 5) g");
	/* 1,500 old processed rows: two batches of the cleanup's thousand. */
	assert_true(it_wait_sql_int(fx.conn, 100, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"));
	assert_true(it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"));
	assert_int_equal(it_sql_int(fx.conn, "SELECT min(message_id) FROM"
	                                     " ferry_consumer.processed_message"),
	                 1501);
	assert_int_equal(it_producer_stop(&c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_producer_cleanup_removes_exactly_the_old_finished_rows),
	    cmocka_unit_test(test_consumer_cleans_its_inbox),
	};
	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
