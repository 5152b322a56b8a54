/*
 * test_relay_shards.c - three producer instances relay one database while 64 writers commit
 * with random delays: nothing is lost, nothing is published twice, and per key every message
 * reaches Kafka in commit order. The three share the work (each publishes some of it) and
 * balance the 64 shards among themselves (each at most its fair share, 22). Then the same while
 * relays come and go mid-run: shards handed over by draining (a relay joins, the others give up
 * shards only once their batches are marked) and by a clean stop (SIGTERM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "harness_writers.h"

#define SHARDS_RELAYS  3
#define SHARDS_WRITERS 64
#define SHARDS_KEYS    2   /* per writer */
#define SHARDS_ROWS    150 /* per writer */
#define SHARDS_TOTAL   (SHARDS_WRITERS * SHARDS_ROWS)

static struct it_db shards_db;

static int shards_setup(void **state)
{
	(void)state;
	it_db_create(&shards_db, "relay_shards");
	return 0;
}

static int shards_teardown(void **state)
{
	(void)state;
	it_db_drop(&shards_db);
	return 0;
}

/* The relay section of an instance's health: shards held, live relays, rows published. */
static void shards_health(const struct it_producer *p, int64_t *shards, int64_t *live,
                          int64_t *published)
{
	struct it_response r = {0};

	it_get(p, "/api/messages/health", &r);
	assert_non_null(r.json);
	*shards = json_integer_value(it_json_get(r.json, "relay.shards"));
	*live = json_integer_value(it_json_get(r.json, "relay.relaysLive"));
	*published = json_integer_value(it_json_get(r.json, "relay.published"));
	it_response_free(&r);
}

static void test_three_relays_keep_per_key_order(void **state)
{
	/* Small batches, so that the relays' claims interleave often. */
	static const char *const relay_env[] = {"FERRY_RELAY_BATCH_SIZE=100", NULL};
	struct it_producer p[SHARDS_RELAYS] = {{0}};
	struct it_writers_options wo = {0};
	struct it_writers *w;
	struct it_order_report rep;
	char topic[IT_TOPIC_MAX];
	PGconn *conn;
	int64_t t0, shards, live, published, shard_sum = 0;
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "shards");
	for (i = 0; i < SHARDS_RELAYS; i++)
		it_producer_start(&p[i], &shards_db, relay_env);
	conn = it_pg_connect(shards_db.conninfo);

	wo.conninfo = shards_db.conninfo;
	wo.topic = topic;
	wo.threads = SHARDS_WRITERS;
	wo.keys_per_thread = SHARDS_KEYS;
	wo.rows_per_thread = SHARDS_ROWS;
	wo.max_pause_ms = 3;
	wo.max_hold_ms = 3;
	t0 = it_now_ms();
	w = it_writers_start(&wo);
	it_writers_join(w);
	printf("shards: %d rows committed by %d writers in %" PRId64 " ms\n", SHARDS_TOTAL,
	       SHARDS_WRITERS, it_now_ms() - t0);
	assert_true(
	    it_wait_sql_int(conn, SHARDS_TOTAL, 60000,
	                    "SELECT count(*) FROM ferry.outbox_message WHERE status = 'SENT'"));
	printf("shards: all SENT %" PRId64 " ms after the writers started\n", it_now_ms() - t0);

	/* Every relay took part, and the shards ended up shared fairly. */
	for (i = 0; i < SHARDS_RELAYS; i++) {
		shards_health(&p[i], &shards, &live, &published);
		printf("shards: relay %d holds %" PRId64 " shards of %" PRId64
		       " relays, published %" PRId64 "\n",
		       i, shards, live, published);
		assert_int_equal(live, SHARDS_RELAYS);
		assert_true(shards >= 1 && shards <= 22);
		assert_true(published > 0);
		shard_sum += shards;
	}
	assert_int_equal(shard_sum, 64);

	it_writers_check_topic(w, "shards", &rep);
	assert_int_equal(rep.duplicates, 0); /* no crash, no failed mark: nothing twice */
	assert_int_equal(rep.distinct, SHARDS_TOTAL);

	it_writers_free(w);
	PQfinish(conn);
	for (i = 0; i < SHARDS_RELAYS; i++)
		assert_int_equal(it_producer_stop(&p[i]), 0);
}

/* Waits until the SENT count reaches `min`; returns the count. */
static int64_t shards_wait_sent(PGconn *conn, const char *topic, int64_t min)
{
	int64_t deadline = it_now_ms() + 60000, sent;

	for (;;) {
		sent = it_sql_int(conn,
		                  "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'"
		                  " AND status = 'SENT'",
		                  topic);
		if (sent >= min || it_now_ms() >= deadline)
			return sent;
		it_sleep_ms(10);
	}
}

static void test_relays_joining_and_leaving_keep_per_key_order(void **state)
{
	static const char *const relay_env[] = {"FERRY_RELAY_BATCH_SIZE=50", NULL};
	struct it_producer p[SHARDS_RELAYS] = {{0}};
	struct it_writers_options wo = {0};
	struct it_writers *w;
	struct it_order_report rep;
	char topic[IT_TOPIC_MAX];
	PGconn *conn;
	int64_t total = SHARDS_WRITERS * 300, sent;
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "shards-churn");
	conn = it_pg_connect(shards_db.conninfo);
	it_producer_start(&p[0], &shards_db, relay_env);
	wo.conninfo = shards_db.conninfo;
	wo.topic = topic;
	wo.threads = SHARDS_WRITERS;
	wo.keys_per_thread = SHARDS_KEYS;
	wo.rows_per_thread = 300;
	wo.max_pause_ms = 6;
	wo.max_hold_ms = 3;
	w = it_writers_start(&wo);

	/* One relay owns everything; two more join while rows flow; then the first stops. */
	assert_true(shards_wait_sent(conn, topic, 500) >= 500);
	it_producer_start(&p[1], &shards_db, relay_env);
	it_producer_start(&p[2], &shards_db, relay_env);
	sent = shards_wait_sent(conn, topic, 4000);
	assert_true(sent >= 4000);
	assert_int_equal(it_producer_stop(&p[0]), 0);
	printf("shards-churn: relay 0 stopped with %" PRId64 " SENT and %" PRId64 " of %" PRId64
	       " rows committed\n",
	       sent, it_writers_committed(w), total);
	assert_true(sent < total); /* mid-run: the others had to take its shards over */
	it_writers_join(w);
	assert_true(it_wait_sql_int(conn, total, 60000,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'"
	                            " AND status = 'SENT'",
	                            topic));

	it_writers_check_topic(w, "shards-churn", &rep);
	assert_int_equal(rep.duplicates, 0); /* handovers publish nothing twice */
	assert_int_equal(rep.distinct, total);

	it_writers_free(w);
	PQfinish(conn);
	for (i = 1; i < SHARDS_RELAYS; i++)
		assert_int_equal(it_producer_stop(&p[i]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_three_relays_keep_per_key_order),
	    cmocka_unit_test(test_relays_joining_and_leaving_keep_per_key_order),
	};

	return it_finish(cmocka_run_group_tests(tests, shards_setup, shards_teardown));
}
