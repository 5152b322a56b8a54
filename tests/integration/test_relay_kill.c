/*
 * test_relay_kill.c - one of three relaying producer instances is killed with SIGKILL while 64
 * writers keep committing; the other two take over its shards and finish the work: nothing
 * lost, per-key order kept, duplicates bounded by what the killed relay had in flight
 * (batch_size x inflight_batches, relay.h).
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

#define KILL_RELAYS     3
#define KILL_WRITERS    64
#define KILL_KEYS       2   /* per writer */
#define KILL_ROWS       250 /* per writer */
#define KILL_TOTAL      (KILL_WRITERS * KILL_ROWS)
#define KILL_BATCH      50 /* small, so that the kill lands with batches in flight */
#define KILL_INFLIGHT   2
#define KILL_AFTER_SENT 3000
/* Half the rows wait at the writers' gate until the kill, so writers are busy when it lands. */
#define KILL_GATE_ROWS (KILL_ROWS / 2)

#define KILL_STR_(x) #x
#define KILL_STR(x)  KILL_STR_(x)

static struct it_db kill_db;

static int kill_setup(void **state)
{
	(void)state;
	it_db_create(&kill_db, "relay_kill");
	return 0;
}

static int kill_teardown(void **state)
{
	(void)state;
	it_db_drop(&kill_db);
	return 0;
}

static int64_t kill_health_int(const struct it_producer *p, const char *path)
{
	struct it_response r = {0};
	int64_t v;

	it_get(p, "/api/messages/health", &r);
	assert_non_null(r.json);
	v = json_integer_value(it_json_get(r.json, path));
	it_response_free(&r);
	return v;
}

struct kill_survivors {
	const struct it_producer *p; /* KILL_RELAYS - 1 of them */
};

/* The survivors count two relays and hold all 64 shards between them. */
static bool kill_shards_taken_over(void *arg)
{
	const struct kill_survivors *s = arg;
	int64_t sum = 0;
	int i;

	for (i = 0; i < KILL_RELAYS - 1; i++) {
		if (kill_health_int(&s->p[i], "relay.relaysLive") != KILL_RELAYS - 1)
			return false;
		sum += kill_health_int(&s->p[i], "relay.shards");
	}
	return sum == 64;
}

static void test_kill9_one_of_three_relays(void **state)
{
	static const char *const relay_env[] = {
	    "FERRY_RELAY_BATCH_SIZE=" KILL_STR(KILL_BATCH),
	    "FERRY_RELAY_INFLIGHT_BATCHES=" KILL_STR(KILL_INFLIGHT), NULL};
	struct it_producer p[KILL_RELAYS] = {{0}};
	struct kill_survivors survivors = {&p[1]};
	struct it_writers_options wo = {0};
	struct it_writers *w;
	struct it_order_report rep;
	char topic[IT_TOPIC_MAX];
	PGconn *conn;
	int64_t t0, sent = 0, committed;
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "relaykill");
	for (i = 0; i < KILL_RELAYS; i++)
		it_producer_start(&p[i], &kill_db, relay_env);
	conn = it_pg_connect(kill_db.conninfo);

	wo.conninfo = kill_db.conninfo;
	wo.topic = topic;
	wo.threads = KILL_WRITERS;
	wo.keys_per_thread = KILL_KEYS;
	wo.rows_per_thread = KILL_ROWS;
	wo.max_pause_ms = 3;
	wo.max_hold_ms = 3;
	wo.gate_after_rows = KILL_GATE_ROWS;
	t0 = it_now_ms();
	w = it_writers_start(&wo);

	/*
	 * Wait until the relays are well into the work (KILL_AFTER_SENT is below the rows before
	 * the gate, so this does not wait on the gate), let the writers go on and kill the first
	 * relay.
	 */
	while (it_now_ms() - t0 < 60000) {
		sent = it_sql_int(
		    conn, "SELECT count(*) FROM ferry.outbox_message WHERE status = 'SENT'");
		if (sent >= KILL_AFTER_SENT)
			break;
		it_sleep_ms(10);
	}
	assert_true(sent >= KILL_AFTER_SENT);
	printf("relay_kill: relay 0 published %" PRId64 " and held %" PRId64 " shards\n",
	       kill_health_int(&p[0], "relay.published"), kill_health_int(&p[0], "relay.shards"));
	it_writers_open_gate(w);
	it_producer_kill(&p[0]);
	committed = it_writers_committed(w);
	printf("relay_kill: killed relay 0 after %" PRId64 " ms, %" PRId64 " SENT, %" PRId64
	       " committed\n",
	       it_now_ms() - t0, sent, committed);
	/* The gate makes this so; it is what the test is about: writers still busy. */
	assert_true(committed < KILL_TOTAL);

	assert_true(it_wait_until(kill_shards_taken_over, &survivors, 15000));
	printf("relay_kill: the two survivors hold all 64 shards %" PRId64 " ms after the start\n",
	       it_now_ms() - t0);
	it_writers_join(w);
	assert_true(
	    it_wait_sql_int(conn, KILL_TOTAL, 60000,
	                    "SELECT count(*) FROM ferry.outbox_message WHERE status = 'SENT'"));
	printf("relay_kill: all SENT %" PRId64 " ms after the start\n", it_now_ms() - t0);
	for (i = 1; i < KILL_RELAYS; i++)
		assert_true(kill_health_int(&p[i], "relay.published") > 0);

	it_writers_check_topic(w, "relay_kill", &rep);
	assert_int_equal(rep.distinct, KILL_TOTAL);
	/* Only the killed relay's batches in flight can go out twice. */
	assert_true(rep.duplicates <= (size_t)KILL_BATCH * KILL_INFLIGHT);

	it_writers_free(w);
	PQfinish(conn);
	for (i = 1; i < KILL_RELAYS; i++)
		assert_int_equal(it_producer_stop(&p[i]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill9_one_of_three_relays),
	};

	return it_finish(cmocka_run_group_tests(tests, kill_setup, kill_teardown));
}
