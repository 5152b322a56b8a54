/*
 * test_retry_restart.c - retries survive the crash of the producer running the retry job: its
 * state is in PostgreSQL, so another instance started later carries on from the same retry
 * count, and still waits out the backoff the crashed one scheduled.
 *
 * The fixture's producer serves the API and acknowledgments with its retry job off; the retry
 * job runs in a second producer (relay off), killed with -9 mid-way and replaced by a third.
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

#define WAIT_MS 60000

static const char *const api_env[] = {"FERRY_RETRY_ENABLED=false", NULL};
static const char *const job_env[] = {
    "FERRY_RELAY_ENABLED=false",
    "FERRY_RETRY_INTERVAL_MS=100",
    "FERRY_RETRY_BACKOFF_BASE_MS=400",
    "FERRY_RETRY_BACKOFF_MAX_MS=3000",
    NULL,
};

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "retry_restart", api_env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

static void test_retries_continue_after_the_job_instance_dies(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], body[512], *sched;
	const char *env[] = {"FERRY_PROCESSOR=plugin",
	                     "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN, NULL};
	struct it_producer job = {0}, job2 = {0}, c = {0};
	struct it_response r = {0};
	int64_t id, count;

	(void)state;
	it_topic(topic, sizeof(topic), "retry-restart");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"consumerGroups\":[{\"consumerGroupName\":\"%s\","
	         "\"maxRetries\":-1}]}",
	         topic, group);
	assert_int_equal(it_post(&fx.producer, "/api/topics/register", body, &r), 201);
	it_consumer_start_group(&c, &fx.db, &fx.producer, group, topic, env);
	it_producer_start(&job, &fx.db, job_env);
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"key\":\"k\",\"message\":\"fail\"}",
	         topic);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 201);
	id = (int64_t)json_integer_value(it_json_get(r.json, "id"));
	it_response_free(&r);

	assert_true(it_wait_sql_int(
	    fx.conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	    " AND retry_count >= 2",
	    id));
	it_producer_kill(&job);
	/* Nobody runs the job now: the count stands still. */
	count = it_sql_int(
	    fx.conn, "SELECT retry_count FROM ferry.message_delivery WHERE message_id = %" PRId64,
	    id);
	/* The dead instance's schedule for the next attempt, pushed 3 s out so that keeping to it
	 * shows: the negative acknowledgment that makes the delivery due is already in. */
	sched =
	    it_sql_text(fx.conn,
	                "UPDATE ferry.message_delivery SET scheduled_retry_at = now() + interval"
	                " '3 seconds' WHERE message_id = %" PRId64 " RETURNING scheduled_retry_at",
	                id);
	it_sleep_ms(1000);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT retry_count FROM ferry.message_delivery WHERE message_id = "
	               "%" PRId64,
	               id),
	    count);

	/* Another instance takes over where the dead one stopped. */
	it_producer_start(&job2, &fx.db, job_env);
	assert_true(it_wait_sql_int(
	    fx.conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	    " AND retry_count >= %" PRId64,
	    id, count + 2));
	/* Its first retry is number count+1, not 1, and did not come before the recorded schedule
	 * (the new instance was running, with the delivery otherwise due, well before it). */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_event WHERE message_id = %" PRId64
	               " AND event = 'retried' AND (detail->>'retry')::int = %" PRId64
	               " AND at >= '%s'::timestamptz",
	               id, count + 1, sched),
	    1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(DISTINCT actor) FROM ferry.message_event WHERE"
	                            " message_id = %" PRId64 " AND event = 'retried'",
	                            id),
	                 2);
	free(sched);
	assert_int_equal(it_producer_stop(&job2), 0);
	assert_int_equal(it_producer_stop(&c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retries_continue_after_the_job_instance_dies),
	};
	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
