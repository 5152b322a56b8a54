/*
 * test_relay_mock.c - the relay against librdkafka's mock cluster (rdkafka_mock.h): Kafka's
 * errors injected at will, no broker needed. PostgreSQL is the stack's (FERRY_TEST_PG): the
 * rows the relay publishes are real outbox rows in a database of this program's own.
 *
 *  - retriable produce errors (no leader, not enough replicas, timeouts) are retried inside
 *    librdkafka: every row is published once, in order per key, and no attempt is counted;
 *  - a fatal idempotent-producer error while rows are in flight: the relay rebuilds its
 *    producer, every row (those in flight, and those enqueued after) reaches Kafka, none is
 *    FAILED, and each key's rows first appear in id order.
 *
 * The fatal error is raised with rd_kafka_test_fatal_error on the relay's own producer handle,
 * from a statistics callback this test adds to the configuration: that callback runs inside
 * the relay thread's rd_kafka_poll, so the handle it is given is alive, and the relay needs no
 * test hook.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_harness.h"
#include "producer/relay/relay.h"

#define KEYS 8

static struct mock_harness mh;
static PGconn *conn;                      /* mh.conn */
static rd_kafka_mock_cluster_t *mcluster; /* mh.cluster */
static const char *bootstraps;            /* mh.bootstraps */

/* The fatal error, asked for by the test thread and raised by stats_cb on the relay thread. */
static atomic_bool fatal_wanted;
static atomic_int fatal_raised;

static int stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
	(void)json;
	(void)json_len;
	(void)opaque;
	if (atomic_exchange(&fatal_wanted, false) &&
	    rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
	                              "a broker lost the producer's sequence") ==
	        RD_KAFKA_RESP_ERR_NO_ERROR)
		atomic_fetch_add(&fatal_raised, 1);
	return 0; /* librdkafka frees json */
}

static int group_setup(void **state)
{
	(void)state;
	if (mock_harness_open(&mh, "mock_relay", "producer", 3) != 0)
		return -1;
	conn = mh.conn;
	mcluster = mh.cluster;
	bootstraps = mh.bootstraps;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	mock_harness_close(&mh);
	return 0;
}

/* A relay on the mock cluster, as ferry-producer configures it (main.c's producer_defaults),
 * with statistics every 50 ms when the test raises a fatal error through them. */
static struct relay *relay_on_mock(bool with_stats, long txn_bound_ms)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *settings[][2] = {
	    {"bootstrap.servers", bootstraps},
	    {"message.timeout.ms", "0"},
	    {"linger.ms", "2"},
	    {"max.in.flight", "5"},
	    {"retry.backoff.ms", "20"},
	    {"log_level", "3"},
	};
	struct relay_options ro = {
	    .conninfo = mh.db.conninfo,
	    .service_id = "mock-test",
	    .instance_id = "mock-test-1",
	    .batch_size = 20,
	    .inflight_batches = 2,
	    .poll_min_ms = 5,
	    .poll_idle_ms = 50,
	    .shutdown_timeout_ms = 5000,
	    .max_attempts = 10,
	    .txn_bound_ms = txn_bound_ms,
	};
	struct relay *relay;
	size_t i;

	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		assert_int_equal(
		    rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof(errstr)),
		    RD_KAFKA_CONF_OK);
	if (with_stats) {
		assert_int_equal(
		    rd_kafka_conf_set(conf, "statistics.interval.ms", "50", errstr, sizeof(errstr)),
		    RD_KAFKA_CONF_OK);
		rd_kafka_conf_set_stats_cb(conf, stats_cb);
	}
	relay = relay_new(&ro, conf, errstr, sizeof(errstr));
	if (relay == NULL)
		fail_msg("relay_new: %s", errstr);
	if (relay_start(relay, errstr, sizeof(errstr)) != 0)
		fail_msg("relay_start: %s", errstr);
	return relay;
}

/* Enqueues rows `first`..`last` (payload "<n>") over KEYS keys through the SQL door. */
static void enqueue(const char *topic, int first, int last)
{
	it_sql_exec(conn,
	            "SELECT ferry.enqueue('%s', 'k' || (i %% %d), i::text) "
	            "FROM generate_series(%d, %d) i ORDER BY i",
	            topic, KEYS, first, last);
}

/*
 * Reads the topic and checks that every payload 1..n is there, and that each key's payloads,
 * taken at their first appearance (a rebuild publishes again what was in flight), rise in
 * order. Returns the number of records read (duplicates included).
 */
static size_t assert_all_in_key_order(const char *topic, int n)
{
	struct it_records recs = {0};
	int last[KEYS];
	char *seen = calloc((size_t)n + 1, 1);
	size_t i, total;
	int k, distinct = 0;

	assert_non_null(seen);
	for (k = 0; k < KEYS; k++)
		last[k] = 0;
	it_kafka_read(topic, (size_t)n, 20000, &recs);
	for (i = 0; i < recs.n; i++) {
		int v = atoi(recs.v[i].value);

		assert_true(v >= 1 && v <= n);
		assert_int_equal(atoi(recs.v[i].key + 1), v % KEYS);
		if (seen[v])
			continue;
		seen[v] = 1;
		distinct++;
		if (v < last[v % KEYS])
			fail_msg("key k%d: payload %d first appeared after %d", v % KEYS, v,
			         last[v % KEYS]);
		last[v % KEYS] = v;
	}
	assert_int_equal(distinct, n);
	total = recs.n;
	it_records_free(&recs);
	free(seen);
	return total;
}

static void wait_published(const char *topic, int n)
{
	assert_true(it_wait_sql_int(conn, n, 30000,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s' "
	                            "AND status NOT IN ('PENDING', 'FAILED')",
	                            topic));
}

static void test_retriable_errors_are_retried_inside_librdkafka(void **state)
{
	char topic[IT_TOPIC_MAX];
	struct relay *relay;
	const int n = 200;

	(void)state;
	it_topic(topic, sizeof(topic), "mock-retriable");
	assert_int_equal(rd_kafka_mock_topic_create(mcluster, topic, 3, 3), 0);
	/* The next produce requests fail as a broker in trouble answers; librdkafka retries. */
	rd_kafka_mock_push_request_errors(
	    mcluster, 0 /* Produce */, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
	    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
	    RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR__TRANSPORT,
	    RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE);
	relay = relay_on_mock(false, 30000);
	enqueue(topic, 1, n);
	relay_wake(relay);
	wait_published(topic, n);
	relay_destroy(relay);
	/* Each row was marked once (one attempt, the successful one), none is FAILED, none
	 * carries an error, and each is on Kafka exactly once. */
	assert_int_equal(it_sql_int(conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s' "
	                            "AND (publish_attempts <> 1 OR status = 'FAILED' "
	                            "OR error_message IS NOT NULL)",
	                            topic),
	                 0);
	assert_int_equal(assert_all_in_key_order(topic, n), n);
}

static bool fatal_was_raised(void *arg)
{
	(void)arg;
	return atomic_load(&fatal_raised) > 0;
}

static bool some_rows_published(void *arg)
{
	return it_sql_int(conn,
	                  "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s' "
	                  "AND status <> 'PENDING'",
	                  (const char *)arg) > 0;
}

static void test_fatal_error_rebuilds_the_producer(void **state)
{
	char topic[IT_TOPIC_MAX];
	struct relay *relay;
	struct relay_status st;
	const int n1 = 100, n2 = 100;

	(void)state;
	it_topic(topic, sizeof(topic), "mock-fatal");
	assert_int_equal(rd_kafka_mock_topic_create(mcluster, topic, 2, 3), 0);
	/* Partition 0 has no leader: its rows stay in flight inside librdkafka. */
	assert_int_equal(rd_kafka_mock_partition_set_leader(mcluster, topic, 0, -1), 0);
	/* A short transaction bound: the batches holding partition 0's rows are detached after a
	 * second (their other rows marked), so the fatal error finds rows in flight both inside
	 * claims and detached. */
	relay = relay_on_mock(true, 3000);
	enqueue(topic, 1, n1);
	relay_wake(relay);
	assert_true(it_wait_until(some_rows_published, topic, 20000)); /* partition 1's rows */
	atomic_store(&fatal_wanted, true);
	assert_true(it_wait_until(fatal_was_raised, NULL, 10000));
	/* Rows enqueued after the fatal error: a producer that was not rebuilt refuses them all. */
	enqueue(topic, n1 + 1, n1 + n2);
	relay_wake(relay);
	assert_int_equal(rd_kafka_mock_partition_set_leader(mcluster, topic, 0, 1), 0);
	wait_published(topic, n1 + n2);
	relay_get_status(relay, &st);
	relay_destroy(relay);
	assert_int_equal(atomic_load(&fatal_raised), 1);
	assert_int_equal(it_sql_int(conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s' "
	                            "AND status = 'FAILED'",
	                            topic),
	                 0);
	assert_int_equal(st.failed_total, 0);
	printf("fatal error: %" PRId64 " rows counted a refused attempt, %zu records for %d rows\n",
	       it_sql_int(conn,
	                  "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s' "
	                  "AND publish_attempts > 1",
	                  topic),
	       assert_all_in_key_order(topic, n1 + n2), n1 + n2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retriable_errors_are_retried_inside_librdkafka),
	    cmocka_unit_test(test_fatal_error_rebuilds_the_producer),
	};

	return it_finish(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
