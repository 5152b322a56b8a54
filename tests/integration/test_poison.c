/*
 * test_poison.c - a message Kafka refuses for good (larger than message.max.bytes) is retried
 * with a backoff of its own and then marked FAILED with the error, while it holds back only the
 * messages behind it with the same key: 1,000 messages with other keys behind it are delivered
 * at once, and the later messages of its key go out, in order, once it is FAILED.
 *
 * Two ways Kafka refuses it: librdkafka itself at produce time (the producer's default
 * message.max.bytes, 1,000,000, is below the size), and the broker (the producer's limit raised
 * to 5 MB, so the record reaches the broker, whose message.max.bytes is 1,048,588 in
 * scripts/stack), which answers in the delivery report.
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

#define POISON_GOOD      1000
#define POISON_FOLLOWERS 3 /* later messages with the poison's key */

static void poison_run(const char *name, const char *const *relay_env)
{
	static const char *const no_relay[] = {"FERRY_RELAY_ENABLED=false", NULL};
	struct it_db db = {0};
	struct it_producer p = {0};
	struct it_response r = {0};
	struct it_records recs;
	char topic[IT_TOPIC_MAX], path[64];
	PGconn *conn;
	int64_t started, poison_id, status_n;
	char *got, *metrics;
	size_t i, followers = 0;

	it_db_create(&db, name);
	it_producer_start(&p, &db, no_relay); /* applies the schema */
	assert_int_equal(it_producer_stop(&p), 0);
	conn = it_pg_connect(db.conninfo);
	it_topic(topic, sizeof(topic), "poison");
	/* The poison first, so that every claim meets it before the good rows. */
	poison_id =
	    it_sql_int(conn, "SELECT ferry.enqueue('%s', 'bad', repeat('x', 2000000))", topic);
	it_sql_exec(conn,
	            "SELECT ferry.enqueue('%s', 'k' || (i %% 10), 'good ' || i)"
	            " FROM generate_series(1, %d) i",
	            topic, POISON_GOOD);
	it_sql_exec(
	    conn, "SELECT ferry.enqueue('%s', 'bad', 'after ' || i) FROM generate_series(1, %d) i",
	    topic, POISON_FOLLOWERS);

	started = it_now_ms();
	it_producer_start(&p, &db, relay_env);
	assert_true(
	    it_wait_sql_int(conn, POISON_GOOD, 30000,
	                    "SELECT count(*) FROM ferry.outbox_message WHERE status = 'SENT'"
	                    " AND message_key <> 'bad'"));
	/* 1,000 rows are a couple of batches: the poison must not have cost its backoff time. */
	printf("%s: %d other messages delivered in %" PRId64 " ms\n", name, POISON_GOOD,
	       it_now_ms() - started);
	assert_true(it_now_ms() - started < 15000);
	/* While the poison is still being retried, its key's later messages wait behind it. */
	status_n = it_sql_int(conn,
	                      "SELECT count(*) FROM ferry.outbox_message WHERE message_key = 'bad'"
	                      " AND id > %" PRId64 " AND status <> 'PENDING'"
	                      " AND (SELECT status FROM ferry.outbox_message WHERE id = %" PRId64
	                      ") = 'PENDING'",
	                      poison_id, poison_id);
	assert_int_equal(status_n, 0);

	/* FERRY_RELAY_MAX_ATTEMPTS=3: refused at 0 s, 1 s and 3 s, then FAILED. */
	assert_true(it_wait_sql_int(conn, 1, 30000,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE id = %" PRId64
	                            " AND status = 'FAILED'",
	                            poison_id));
	got =
	    it_sql_text(conn,
	                "SELECT publish_attempts || '|' || (error_message ILIKE '%%too large%%')"
	                " || '|' || (processed_at IS NOT NULL) || '|' || (next_attempt_at IS NULL)"
	                " FROM ferry.outbox_message WHERE id = %" PRId64,
	                poison_id);
	assert_string_equal(got, "3|true|true|true");
	free(got);
	/* The API shows it. */
	snprintf(path, sizeof(path), "/api/messages/%" PRId64, poison_id);
	assert_int_equal(it_get(&p, path, &r), 200);
	assert_string_equal(it_json_string(r.json, "status"), "FAILED");
	assert_non_null(strstr(it_json_string(r.json, "errorMessage"), "too large"));
	it_response_free(&r);
	/* And its metrics: three refusals counted, one message given up on. */
	metrics = it_scrape_metrics(&p);
	assert_true(it_metric_sample(metrics, "ferry_kafka_delivery_errors_total") == 3);
	assert_true(it_metric_sample(metrics, "ferry_relay_messages_failed_total") == 1);
	free(metrics);

	/* Then the key's later messages go out, after the poison was FAILED. */
	assert_true(it_wait_sql_int(conn, POISON_FOLLOWERS, 30000,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE message_key ="
	                            " 'bad' AND status = 'SENT' AND sent_at > (SELECT processed_at"
	                            " FROM ferry.outbox_message WHERE id = %" PRId64 ")",
	                            poison_id));
	assert_int_equal(it_kafka_count(topic), POISON_GOOD + POISON_FOLLOWERS);
	it_kafka_read(topic, POISON_GOOD + POISON_FOLLOWERS, 30000, &recs);
	assert_int_equal(recs.n, POISON_GOOD + POISON_FOLLOWERS);
	for (i = 0; i < recs.n; i++) {
		char want[32];

		if (recs.v[i].key == NULL || strcmp(recs.v[i].key, "bad") != 0)
			continue;
		snprintf(want, sizeof(want), "after %zu", ++followers);
		assert_string_equal(recs.v[i].value,
		                    want); /* in order, and the poison not at all */
	}
	assert_int_equal(followers, POISON_FOLLOWERS);
	it_records_free(&recs);

	PQfinish(conn);
	assert_int_equal(it_producer_stop(&p), 0);
	it_db_drop(&db);
}

/* librdkafka refuses it when it is produced. */
static void test_poison_refused_by_librdkafka(void **state)
{
	static const char *const env[] = {"FERRY_RELAY_MAX_ATTEMPTS=3", NULL};

	(void)state;
	poison_run("poison_local", env);
}

/* The broker refuses it, in the delivery report. */
static void test_poison_refused_by_the_broker(void **state)
{
	static const char *const env[] = {"FERRY_RELAY_MAX_ATTEMPTS=3",
	                                  "KAFKA_MESSAGE_MAX_BYTES=5000000", NULL};

	(void)state;
	poison_run("poison_broker", env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_poison_refused_by_librdkafka),
	    cmocka_unit_test(test_poison_refused_by_the_broker),
	};

	return it_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
