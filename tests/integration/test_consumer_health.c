/*
 * test_consumer_health.c - the consumer's own health endpoint: 200 while it can work, 503 while
 * its database is down, and back to 200 by itself afterwards, processing again without a
 * restart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <stdio.h>
#include <string.h>

#define WAIT_MS 60000

static struct it_fixture fx;
static bool pg_stopped; /* set while this program has PostgreSQL stopped */

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "consumer_health", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* A test that failed half-way must not leave the shared stack down. */
	if (pg_stopped && it_stack("start-pg") == 0)
		pg_stopped = false;
	it_fixture_close(&fx);
	return 0;
}

static bool consumer_health_is(struct it_producer *c, long want)
{
	struct it_response r = {0};
	long got = it_get(c, "/api/consumer/health", &r);

	it_response_free(&r);
	return got == want;
}

static bool consumer_healthy(void *arg)
{
	return consumer_health_is(arg, 200);
}

/* Sends one message; a 503 (a pooled connection the restart broke: outcome unknown) is retried
 * with the same idempotency key, as the API asks clients to do. */
static void send_one(const char *topic, const char *text)
{
	struct it_response r = {0};
	char body[256];
	int attempt;

	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"message\":\"%s\",\"idempotencyKey\":\"%s\"}", topic, text,
	         text);
	for (attempt = 0; attempt < 10; attempt++) {
		if (it_post(&fx.producer, "/api/messages/send", body, &r) != 503)
			break;
		it_sleep_ms(200);
	}
	if (r.status != 201)
		fail_msg("send answered %ld: %s", r.status, r.text);
	it_response_free(&r);
}

static void test_health_follows_the_database(void **state)
{
	char topic[IT_TOPIC_MAX], g[256], t[256], url[128];
	const char *env[] = {g, t, url, NULL};
	struct it_producer c = {0};
	int64_t t0, down_ms = -1;
	int rc_stop, rc_start = -1;

	(void)state;
	it_topic(topic, sizeof(topic), "chealth");
	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s-g", topic);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(url, sizeof(url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	it_consumer_start(&c, &fx.db, env);
	send_one(topic, "before");
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE topic = '%s'",
	                            topic));
	assert_true(it_wait_until(consumer_healthy, &c, WAIT_MS));

	/* Between stop-pg and start-pg nothing may fail the test (the stack must come back). */
	pg_stopped = true;
	t0 = it_now_ms();
	rc_stop = it_stack("stop-pg");
	while (rc_stop == 0 && down_ms < 0 && it_now_ms() - t0 < 15000) {
		if (consumer_health_is(&c, 503))
			down_ms = it_now_ms() - t0;
		else
			it_sleep_ms(100);
	}
	rc_start = it_stack("start-pg");
	if (rc_start == 0)
		pg_stopped = false;
	printf("consumer health: 503 after %lld ms with PostgreSQL down\n", (long long)down_ms);
	assert_int_equal(rc_stop, 0);
	assert_int_equal(rc_start, 0);
	assert_true(down_ms >= 0);

	/* Back by itself, and processing again. */
	assert_true(it_wait_until(consumer_healthy, &c, WAIT_MS));
	PQfinish(fx.conn);
	fx.conn = it_pg_connect(fx.db.conninfo);
	send_one(topic, "after");
	assert_true(it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE topic = '%s'",
	                            topic));
	assert_int_equal(it_producer_stop(&c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_health_follows_the_database),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
