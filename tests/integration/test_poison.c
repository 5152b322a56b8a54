/*
 * test_poison.c - a message Kafka refuses for good (here: larger than the producer's
 * message.max.bytes) keeps its row PENDING with the error and a backoff of its own, and does
 * not slow down the messages behind it.
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

static void test_refused_message_does_not_hold_up_the_rest(void **state)
{
	static const char *const no_relay[] = {"FERRY_RELAY_ENABLED=false", NULL};
	struct it_db db = {0};
	struct it_producer p = {0};
	char topic[IT_TOPIC_MAX];
	PGconn *conn;
	int64_t started;

	(void)state;
	it_db_create(&db, "poison");
	it_producer_start(&p, &db, no_relay); /* applies the schema */
	assert_int_equal(it_producer_stop(&p), 0);
	conn = it_pg_connect(db.conninfo);
	it_topic(topic, sizeof(topic), "poison");
	/* The poison first, so that every claim meets it before the good rows. */
	it_sql_exec(conn, "SELECT ferry.enqueue('%s', 'bad', repeat('x', 2000000))", topic);
	it_sql_exec(conn,
	            "SELECT ferry.enqueue('%s', 'k' || (i %% 10), 'good ' || i)"
	            " FROM generate_series(1, 1000) i",
	            topic);

	started = it_now_ms();
	it_producer_start(&p, &db, NULL);
	assert_true(it_wait_sql_int(
	    conn, 1000, 30000, "SELECT count(*) FROM ferry.outbox_message WHERE status = 'SENT'"));
	/* 1,000 rows are a couple of batches: the poison must not have cost backoff time. */
	assert_true(it_now_ms() - started < 15000);
	assert_int_equal(it_kafka_count(topic), 1000);
	{
		char *got = it_sql_text(
		    conn, "SELECT status || '|' || (publish_attempts >= 1) || '|' ||"
		          " (error_message IS NOT NULL) || '|' || (next_attempt_at > now())"
		          " FROM ferry.outbox_message WHERE message_key = 'bad'");

		assert_string_equal(got, "PENDING|true|true|true");
		free(got);
	}
	PQfinish(conn);
	assert_int_equal(it_producer_stop(&p), 0);
	it_db_drop(&db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_message_does_not_hold_up_the_rest),
	};

	return it_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
