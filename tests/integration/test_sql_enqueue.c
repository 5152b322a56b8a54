/*
 * test_sql_enqueue.c - the SQL door (SELECT ferry.enqueue(...)) and the C door
 * (ferry_outbox_enqueue from include/ferry/outbox.h): a message enqueued in a transaction that
 * rolls back is never published, one in a transaction that commits is published exactly once,
 * invalid input is an SQL error, and messages of one key reach Kafka in commit order while
 * several connections enqueue at once.
 *
 * A producer runs throughout (its relay finds rows other processes commit by polling; the
 * idle poll is shortened to 200 ms to keep the waits short).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <ferry/outbox.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERVICE_ID "it-sql-relay"
#define WAIT_MS    30000 /* for a row to be published */
#define QUIET_MS   3000  /* how long "nothing more arrives" is watched */

#define ORDER_MESSAGES 1000
#define ORDER_KEYS     10
#define ORDER_THREADS  4
#define ORDER_PER_KEY  (ORDER_MESSAGES / ORDER_KEYS)

static struct {
	struct it_db db;
	struct it_producer producer;
	PGconn *conn;
} fx;

static int setup(void **state)
{
	static const char *const env[] = {"SERVICE_ID=" SERVICE_ID, "FERRY_RELAY_POLL_IDLE_MS=200",
	                                  NULL};

	(void)state;
	it_db_create(&fx.db, "sql_enqueue");
	it_producer_start(&fx.producer, &fx.db, env); /* applies the schema */
	fx.conn = it_pg_connect(fx.db.conninfo);
	/* The application's own data, written in the same transactions as the messages. */
	it_sql_exec(fx.conn, "CREATE TABLE it_orders (id int PRIMARY KEY, state text NOT NULL)");
	return 0;
}

static int teardown(void **state)
{
	int status;

	(void)state;
	PQfinish(fx.conn);
	status = it_producer_stop(&fx.producer);
	it_db_drop(&fx.db);
	assert_int_equal(status, 0);
	return 0;
}

static bool row_sent(int64_t id)
{
	return it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                       "SELECT count(*) FROM ferry.outbox_message"
	                       " WHERE id = %" PRId64 " AND status = 'SENT'",
	                       id);
}

static int64_t rows_on(const char *topic)
{
	return it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                  topic);
}

static void test_sql_rollback_publishes_nothing(void **state)
{
	char topic[IT_TOPIC_MAX];
	struct it_records recs;
	int64_t marker;

	(void)state;
	it_topic(topic, sizeof(topic), "sql-rollback");
	it_sql_exec(fx.conn, "BEGIN");
	it_sql_exec(fx.conn, "INSERT INTO it_orders VALUES (1, 'created')");
	assert_true(
	    it_sql_int(fx.conn, "SELECT ferry.enqueue('%s', 'order-1', 'rolled back')", topic) > 0);
	it_sql_exec(fx.conn, "ROLLBACK");

	/* A later message that commits: once it is on Kafka, the relay has been past the
	 * rolled-back one's id; then watch a while longer for anything else. */
	marker = it_sql_int(fx.conn, "SELECT ferry.enqueue('%s', 'order-1', 'marker')", topic);
	assert_true(row_sent(marker));
	it_kafka_read(topic, 2, QUIET_MS, &recs);
	assert_int_equal(recs.n, 1);
	assert_string_equal(recs.v[0].value, "marker");
	assert_int_equal(rows_on(topic), 1);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM it_orders"), 0);
	it_records_free(&recs);
}

static void test_sql_commit_publishes_exactly_that(void **state)
{
	char topic[IT_TOPIC_MAX], id_text[32];
	struct it_records recs;
	struct it_record *rec;
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "sql-commit");
	it_sql_exec(fx.conn, "BEGIN");
	it_sql_exec(fx.conn, "INSERT INTO it_orders VALUES (2, 'paid')");
	id = it_sql_int(fx.conn,
	                "SELECT ferry.enqueue('%s', 'order-2', '{\"event\":\"paid\"}',"
	                " '{\"x-source\": \"sql\"}', 'order-2-paid')",
	                topic);
	it_sql_exec(fx.conn, "COMMIT");

	assert_true(row_sent(id));
	it_kafka_read(topic, 2, QUIET_MS, &recs);
	assert_int_equal(recs.n, 1);
	rec = &recs.v[0];
	assert_non_null(rec->key);
	assert_string_equal(rec->key, "order-2");
	assert_string_equal(rec->value, "{\"event\":\"paid\"}");
	snprintf(id_text, sizeof(id_text), "%" PRId64, id);
	it_assert_header(rec, FERRY_HEADER_MESSAGE_ID, id_text);
	it_assert_header(rec, FERRY_HEADER_IDEMPOTENCY_KEY, "order-2-paid");
	it_assert_header(rec, "x-source", "sql");
	/* The SQL door has no service id of its own: the relay stamps its own. */
	it_assert_header(rec, FERRY_HEADER_PRODUCER_SERVICE_ID, SERVICE_ID);
	assert_int_equal(it_kafka_count(topic), 1);

	/* The same idempotency key again, from SQL: the same message, nothing new. */
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT ferry.enqueue('%s', 'order-2', 'again', '{}',"
	                            " 'order-2-paid')",
	                            topic),
	                 id);
	assert_int_equal(rows_on(topic), 1);
	it_records_free(&recs);
}

static void test_c_door_rollback_and_commit(void **state)
{
	char topic[IT_TOPIC_MAX], err[512], id_text[32];
	struct ferry_message msg = {.key = "c-1", .headers_json = "{\"x-door\": \"c\"}"};
	struct it_records recs;
	int64_t rolled_back = 0, committed = 0, again = 0;

	(void)state;
	it_topic(topic, sizeof(topic), "c-door");
	msg.topic = topic;

	it_sql_exec(fx.conn, "BEGIN");
	msg.payload = "rolled back";
	assert_int_equal(ferry_outbox_enqueue(fx.conn, &msg, &rolled_back, err, sizeof(err)), 0);
	assert_true(rolled_back > 0);
	it_sql_exec(fx.conn, "ROLLBACK");

	it_sql_exec(fx.conn, "BEGIN");
	msg.payload = "from C";
	msg.idempotency_key = "c-1-once";
	assert_int_equal(ferry_outbox_enqueue(fx.conn, &msg, &committed, err, sizeof(err)), 0);
	it_sql_exec(fx.conn, "COMMIT");
	assert_true(committed > rolled_back);

	/* Outside a transaction it commits on its own; the key makes it the same message. */
	assert_int_equal(ferry_outbox_enqueue(fx.conn, &msg, &again, err, sizeof(err)), 0);
	assert_int_equal(again, committed);

	assert_true(row_sent(committed));
	it_kafka_read(topic, 2, QUIET_MS, &recs);
	assert_int_equal(recs.n, 1);
	assert_string_equal(recs.v[0].value, "from C");
	snprintf(id_text, sizeof(id_text), "%" PRId64, committed);
	it_assert_header(&recs.v[0], FERRY_HEADER_MESSAGE_ID, id_text);
	it_assert_header(&recs.v[0], "x-door", "c");
	assert_int_equal(rows_on(topic), 1);
	it_records_free(&recs);
}

static void test_invalid_input_is_an_error(void **state)
{
	char topic[IT_TOPIC_MAX], err[512] = "";
	struct ferry_message msg = {.topic = "no such/topic", .payload = "p"};
	int64_t id = 0, before;
	char *m;

	(void)state;
	it_topic(topic, sizeof(topic), "sql-invalid");
	before = it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message");

	m = it_sql_fails(fx.conn, "22023", "SELECT ferry.enqueue('bad topic', 'k', 'p')");
	assert_non_null(strstr(m, "invalid topic name"));
	free(m);
	free(it_sql_fails(fx.conn, "22023", "SELECT ferry.enqueue('..', 'k', 'p')"));
	free(it_sql_fails(fx.conn, "22004", "SELECT ferry.enqueue('%s', 'k', NULL)", topic));
	free(it_sql_fails(fx.conn, "22023", "SELECT ferry.enqueue('%s', 'k', 'p', '[1]')", topic));
	/* The table's own check holds for writers that bypass the function. */
	free(it_sql_fails(fx.conn, "23514",
	                  "INSERT INTO ferry.outbox_message (topic, payload) VALUES ('a b', 'p')"));

	/* The C door reports PostgreSQL's message and leaves the transaction aborted. */
	it_sql_exec(fx.conn, "BEGIN");
	assert_int_equal(ferry_outbox_enqueue(fx.conn, &msg, &id, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid topic name"));
	assert_null(strchr(err, '\n'));
	free(it_sql_fails(fx.conn, "25P02", "SELECT 1"));
	it_sql_exec(fx.conn, "ROLLBACK");
	msg.topic = topic;
	msg.payload = NULL;
	assert_int_equal(ferry_outbox_enqueue(fx.conn, &msg, &id, err, sizeof(err)), -1);

	/* Idempotency keys: at most 512 bytes (not characters) at every door, never cut. */
	m = it_sql_fails(fx.conn, "22001",
	                 "SELECT ferry.enqueue('%s', 'k', 'p', '{}', repeat('i', 513))", topic);
	assert_non_null(strstr(m, "513 bytes, over the limit of 512"));
	free(m);
	free(it_sql_fails(fx.conn, "22001",
	                  "SELECT ferry.enqueue('%s', 'k', 'p', '{}', repeat(U&'\\00e9', 257))",
	                  topic));
	{
		char big[FERRY_IDEMPOTENCY_KEY_MAX_BYTES + 2];

		memset(big, 'i', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		msg.payload = "p";
		msg.idempotency_key = big;
		/* Refused before anything is sent: the caller's transaction goes on. */
		it_sql_exec(fx.conn, "BEGIN");
		assert_int_equal(ferry_outbox_enqueue(fx.conn, &msg, &id, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "idempotency_key is 513 bytes, over the limit of 512"));
		assert_int_equal(it_sql_int(fx.conn, "SELECT 1"), 1);
		it_sql_exec(fx.conn, "ROLLBACK");
		msg.idempotency_key = NULL;
	}

	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message"), before);
	/* Exactly the limit is accepted, whole. */
	id = it_sql_int(fx.conn, "SELECT ferry.enqueue('%s', 'k', 'p', '{}', repeat('i', 512))",
	                topic);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT octet_length(idempotency_key) FROM ferry.outbox_message"
	                            " WHERE id = %" PRId64,
	                            id),
	                 512);
}

/* One of the concurrent writers: owns the keys k with k % ORDER_THREADS == index, so each
 * key's commit order is this thread's order. Runs off the cmocka thread: no assertions. */
struct writer {
	pthread_t thread;
	int index;
	const char *conninfo;
	const char *topic;
	pthread_barrier_t *start;
	int written;
	char error[512]; /* "" when all went well */
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	PGconn *conn = PQconnectdb(w->conninfo);
	char key[16], payload[16];
	int i;

	pthread_barrier_wait(w->start);
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(w->error, sizeof(w->error), "connect: %s", PQerrorMessage(conn));
		goto done;
	}
	/* Message i has key i % ORDER_KEYS and is that key's (i / ORDER_KEYS)th. */
	for (i = 0; i < ORDER_MESSAGES; i++) {
		struct ferry_message msg = {.topic = w->topic, .key = key, .payload = payload};

		if (i % ORDER_KEYS % ORDER_THREADS != w->index)
			continue;
		snprintf(key, sizeof(key), "key-%d", i % ORDER_KEYS);
		snprintf(payload, sizeof(payload), "%d", i / ORDER_KEYS);
		if (ferry_outbox_enqueue(conn, &msg, NULL, w->error, sizeof(w->error)) != 0)
			goto done; /* one statement outside a transaction: committed on its own */
		w->written++;
	}
done:
	PQfinish(conn);
	return NULL;
}

/* A record of one key, as it came off Kafka. */
struct seen {
	int32_t partition;
	int64_t offset;
	int64_t id; /* ferry-message-id */
	int seq;    /* the payload: the key's commit order */
};

static int seen_by_offset(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return (x->offset > y->offset) - (x->offset < y->offset);
}

static void test_per_key_order_under_concurrent_commits(void **state)
{
	static struct seen by_key[ORDER_KEYS][ORDER_PER_KEY];
	struct writer writers[ORDER_THREADS];
	int counts[ORDER_KEYS] = {0};
	char topic[IT_TOPIC_MAX];
	pthread_barrier_t start;
	struct it_records recs;
	int i, k, written = 0;
	size_t r;

	(void)state;
	it_topic(topic, sizeof(topic), "sql-order");
	pthread_barrier_init(&start, NULL, ORDER_THREADS);
	for (i = 0; i < ORDER_THREADS; i++) {
		writers[i] = (struct writer){
		    .index = i, .conninfo = fx.db.conninfo, .topic = topic, .start = &start};
		assert_int_equal(pthread_create(&writers[i].thread, NULL, writer_run, &writers[i]),
		                 0);
	}
	for (i = 0; i < ORDER_THREADS; i++) {
		pthread_join(writers[i].thread, NULL);
		if (writers[i].error[0])
			fail_msg("writer %d: %s", i, writers[i].error);
		written += writers[i].written;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(written, ORDER_MESSAGES);

	assert_true(it_wait_sql_int(fx.conn, ORDER_MESSAGES, 60000,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'SENT'",
	                            topic));
	it_kafka_read(topic, ORDER_MESSAGES, 60000, &recs);
	assert_int_equal(recs.n, ORDER_MESSAGES);
	assert_int_equal(it_kafka_count(topic), ORDER_MESSAGES); /* and not one more */

	for (r = 0; r < recs.n; r++) {
		const struct it_record *rec = &recs.v[r];
		const char *id = it_record_header(rec, FERRY_HEADER_MESSAGE_ID);

		assert_non_null(rec->key);
		assert_non_null(id);
		k = atoi(rec->key + strlen("key-"));
		assert_true(k >= 0 && k < ORDER_KEYS && counts[k] < ORDER_PER_KEY);
		by_key[k][counts[k]++] = (struct seen){rec->partition, rec->offset,
		                                       strtoll(id, NULL, 10), atoi(rec->value)};
	}
	for (k = 0; k < ORDER_KEYS; k++) {
		assert_int_equal(counts[k], ORDER_PER_KEY);
		qsort(by_key[k], ORDER_PER_KEY, sizeof(by_key[k][0]), seen_by_offset);
		for (i = 0; i < ORDER_PER_KEY; i++) {
			if (by_key[k][i].seq != i ||
			    (i > 0 && (by_key[k][i].partition != by_key[k][0].partition ||
			               by_key[k][i].id <= by_key[k][i - 1].id)))
				fail_msg(
				    "key-%d: record %d on Kafka (partition %d offset %lld) is id "
				    "%lld, commit #%d",
				    k, i, (int)by_key[k][i].partition,
				    (long long)by_key[k][i].offset, (long long)by_key[k][i].id,
				    by_key[k][i].seq);
		}
	}
	it_records_free(&recs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sql_rollback_publishes_nothing),
	    cmocka_unit_test(test_sql_commit_publishes_exactly_that),
	    cmocka_unit_test(test_c_door_rollback_and_commit),
	    cmocka_unit_test(test_invalid_input_is_an_error),
	    cmocka_unit_test(test_per_key_order_under_concurrent_commits),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
