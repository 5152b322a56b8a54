/*
 * test_consumer_errors.c - errors that must not stop a partition.
 *
 * A database error about one record (here a CHECK constraint the test adds to the inbox table,
 * which rejects that record's row) is recorded in failed_message, negatively acknowledged with
 * PostgreSQL's message, and the records behind it in the same partition are processed.
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_error_is_recorded_and_partition_moves_on),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
