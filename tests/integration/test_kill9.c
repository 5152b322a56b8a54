/*
 * test_kill9.c - a relay killed with SIGKILL half-way through a backlog loses nothing.
 *
 * 20,000 rows are committed in one transaction while no producer runs. A producer starts
 * draining them and is killed -9 once some (but not all) are SENT; a second producer finishes
 * the job. Then every row is on the topic at least once, the duplicates are bounded by what
 * the first relay had in flight (relay.h: batch_size * inflight_batches), and for every key
 * the first appearance of each id follows id order (one transaction, so id order is commit
 * order).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define KILL9_ROWS          20000
#define KILL9_KEYS          50
#define KILL9_BATCH_SIZE    100 /* small enough that the kill lands mid-drain */
#define KILL9_INFLIGHT      2
#define KILL9_KILL_AFTER    2000 /* SENT rows before the kill */
#define KILL9_DRAIN_TIMEOUT 120000

#define KILL9_STR_(x) #x
#define KILL9_STR(x)  KILL9_STR_(x)

static struct it_db kill9_db;

static int kill9_setup(void **state)
{
	(void)state;
	it_db_create(&kill9_db, "kill9");
	return 0;
}

static int kill9_teardown(void **state)
{
	(void)state;
	it_db_drop(&kill9_db);
	return 0;
}

/* Polls `SELECT count(*) ... status = <status>` for the topic until it reaches `min`, every
 * 10 ms (it_wait_sql_int waits for equality; a drain passes any given count). */
static bool kill9_wait_status_at_least(PGconn *conn, const char *topic, const char *status,
                                       int64_t min, int timeout_ms, int64_t *seen)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	for (;;) {
		*seen = it_sql_int(conn,
		                   "SELECT count(*) FROM ferry.outbox_message"
		                   " WHERE topic = '%s' AND status = '%s'",
		                   topic, status);
		if (*seen >= min || it_now_ms() >= deadline)
			return *seen >= min;
		it_sleep_ms(10);
	}
}

static void test_kill9_mid_drain_loses_nothing(void **state)
{
	const char *const relay_env[] = {"FERRY_RELAY_BATCH_SIZE=" KILL9_STR(KILL9_BATCH_SIZE),
	                                 "FERRY_RELAY_INFLIGHT_BATCHES=" KILL9_STR(KILL9_INFLIGHT),
	                                 NULL};
	const char *const no_relay[] = {"FERRY_RELAY_ENABLED=false", NULL};
	char topic[IT_TOPIC_MAX];
	struct it_producer p;
	struct it_records recs;
	PGconn *conn;
	int64_t first_id, sent_at_kill, pending_after_kill, kafka_total, t0;
	uint32_t *copies;
	int64_t last_first[KILL9_KEYS];
	size_t i, distinct = 0, duplicates;

	(void)state;
	it_topic(topic, sizeof(topic), "kill9");

	/* The schema comes from the producer's migrations; a relay-less one applies them. */
	it_producer_start(&p, &kill9_db, no_relay);
	assert_int_equal(it_producer_stop(&p), 0);

	conn = it_pg_connect(kill9_db.conninfo);
	it_sql_exec(conn,
	            "SELECT count(ferry.enqueue('%s', 'k' || (i %% %d), 'payload ' || i))"
	            " FROM generate_series(1, %d) i",
	            topic, KILL9_KEYS, KILL9_ROWS);
	first_id =
	    it_sql_int(conn, "SELECT min(id) FROM ferry.outbox_message WHERE topic = '%s'", topic);

	t0 = it_now_ms();
	it_producer_start(&p, &kill9_db, relay_env);
	assert_true(kill9_wait_status_at_least(conn, topic, "SENT", KILL9_KILL_AFTER, 60000,
	                                       &sent_at_kill));
	it_producer_kill(&p);
	pending_after_kill = it_sql_int(conn,
	                                "SELECT count(*) FROM ferry.outbox_message"
	                                " WHERE topic = '%s' AND status = 'PENDING'",
	                                topic);
	printf("kill9: killed after %" PRId64 " ms with %" PRId64 " SENT, %" PRId64 " PENDING\n",
	       it_now_ms() - t0, sent_at_kill, pending_after_kill);
	/* Otherwise the drain outran the poll and the test proved nothing: lower the batch size. */
	assert_true(pending_after_kill > 0);

	t0 = it_now_ms();
	it_producer_start(&p, &kill9_db, relay_env);
	assert_true(it_wait_sql_int(conn, 0, KILL9_DRAIN_TIMEOUT,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'PENDING'",
	                            topic));
	printf("kill9: the second producer drained the rest in %" PRId64 " ms\n", it_now_ms() - t0);
	assert_int_equal(it_producer_stop(&p), 0);

	kafka_total = it_kafka_count(topic);
	assert_true(kafka_total >= KILL9_ROWS);
	it_kafka_read(topic, (size_t)kafka_total, 60000, &recs);
	assert_int_equal(recs.n, (size_t)kafka_total);

	copies = calloc(KILL9_ROWS, sizeof(*copies));
	assert_non_null(copies);
	for (i = 0; i < KILL9_KEYS; i++)
		last_first[i] = 0;
	for (i = 0; i < recs.n; i++) {
		const struct it_record *r = &recs.v[i];
		const char *hdr = it_record_header(r, FERRY_HEADER_MESSAGE_ID);
		int64_t id = hdr ? strtoll(hdr, NULL, 10) : 0, n = id - first_id + 1;
		char want_value[32], want_key[16];
		long key;

		assert_non_null(hdr);
		assert_true(n >= 1 && n <= KILL9_ROWS);
		/* The record is the row: key and payload as enqueued. */
		snprintf(want_key, sizeof(want_key), "k%" PRId64, n % KILL9_KEYS);
		snprintf(want_value, sizeof(want_value), "payload %" PRId64, n);
		assert_non_null(r->key);
		assert_string_equal(r->key, want_key);
		assert_non_null(r->value);
		assert_string_equal(r->value, want_value);
		if (copies[n - 1]++ > 0)
			continue;
		/* First appearance of this id: it must come after every earlier id of its key. */
		key = (long)(n % KILL9_KEYS);
		if (id <= last_first[key])
			fail_msg("key %s: id %" PRId64 " first appears after id %" PRId64
			         " (partition %d offset %" PRId64 ")",
			         want_key, id, last_first[key], r->partition, r->offset);
		last_first[key] = id;
		distinct++;
	}
	duplicates = recs.n - distinct;
	printf("kill9: %zu records on the topic, %zu distinct ids, %zu duplicates (bound %d)\n",
	       recs.n, distinct, duplicates, KILL9_BATCH_SIZE * KILL9_INFLIGHT);
	for (i = 0; i < KILL9_ROWS; i++)
		if (copies[i] == 0)
			fail_msg("message %" PRId64 " never reached Kafka", first_id + (int64_t)i);
	assert_int_equal(distinct, KILL9_ROWS);
	/* Only the batches in flight at the kill can be published twice (a batch being marked
	 * is one of them). */
	assert_true(duplicates <= (size_t)KILL9_BATCH_SIZE * KILL9_INFLIGHT);

	free(copies);
	it_records_free(&recs);
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill9_mid_drain_loses_nothing),
	};

	return it_finish(cmocka_run_group_tests(tests, kill9_setup, kill9_teardown));
}
