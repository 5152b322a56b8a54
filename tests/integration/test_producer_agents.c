/*
 * test_producer_agents.c - every ferry-producer registers itself as a producer agent and beats:
 * GET /api/agents/producers lists each instance "healthy" with its latest health check (database
 * latency, Kafka, backlog); one that stops beating (SIGSTOP) turns "unhealthy" within 3 heartbeat
 * intervals and "healthy" again once it runs again (SIGCONT); SIGTERM deregisters it ("stopped");
 * SIGKILL leaves it to turn "unhealthy" and then "inactive". GET /api/agents/{id} answers for
 * either kind of agent, whose ids never collide.
 *
 * One database; the fixture's producer answers the queries while other producer instances
 * (distinct INSTANCE_IDs) come and go on the same database. All run with
 * FERRY_AGENT_HEARTBEAT_INTERVAL_S=1, so health changes within seconds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INTERVAL_MS 1000
#define WAIT_MS     30000

static struct it_fixture fx;

static int setup(void **state)
{
	static const char *const env[] = {"FERRY_AGENT_HEARTBEAT_INTERVAL_S=1",
	                                  "INSTANCE_ID=observer", NULL};

	(void)state;
	it_fixture_open(&fx, "producer_agents", env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Starts another producer instance on the fixture's database. */
static void start_instance(struct it_producer *p, const char *instance, bool relay)
{
	char i[160];
	const char *env[] = {i, "FERRY_AGENT_HEARTBEAT_INTERVAL_S=1",
	                     relay ? NULL : "FERRY_RELAY_ENABLED=false", NULL};

	snprintf(i, sizeof(i), "INSTANCE_ID=%s", instance);
	it_producer_start(p, &fx.db, env);
}

/* The producer agent `instance` as GET /api/agents/producers lists it: a new reference, or NULL
 * when it is not listed. */
static json_t *find_producer(const char *instance)
{
	struct it_response r = {0};
	json_t *a, *found = NULL;
	size_t i;

	if (it_get(&fx.producer, "/api/agents/producers", &r) == 200 && json_is_array(r.json)) {
		json_array_foreach (r.json, i, a) {
			if (strcmp(it_json_string(a, "instanceId"), instance) == 0)
				found = json_incref(a);
		}
	}
	it_response_free(&r);
	return found;
}

struct health_wait {
	const char *instance;
	const char *want;
	char seen[32];
};

static bool health_is(void *arg)
{
	struct health_wait *w = arg;
	json_t *a = find_producer(w->instance);

	snprintf(w->seen, sizeof(w->seen), "%s", a ? it_json_string(a, "health") : "(absent)");
	json_decref(a);
	return strcmp(w->seen, w->want) == 0;
}

/* Waits at most timeout_ms for `instance` to show health `want`; returns the ms it took. */
static int64_t await_health(const char *instance, const char *want, int timeout_ms)
{
	struct health_wait w = {instance, want, ""};
	int64_t t0 = it_now_ms();

	if (!it_wait_until(health_is, &w, timeout_ms))
		fail_msg("producer agent %s: health '%s' after %d ms, want '%s'", instance, w.seen,
		         timeout_ms, want);
	return it_now_ms() - t0;
}

static json_int_t int_at(json_t *root, const char *dotted)
{
	json_t *v = it_json_get(root, dotted);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", dotted);
	return json_integer_value(v);
}

static void test_listed_with_health_checks(void **state)
{
	struct it_producer p = {0};
	json_t *a;

	(void)state;
	start_instance(&p, "listed", true);
	await_health("listed", "healthy", WAIT_MS);
	/* A few beats, each writing a health check. */
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT (count(*) >= 3)::int FROM ferry.service_health_check"
	                            " WHERE agent_kind = 'producer' AND instance_id = 'listed'"));
	a = find_producer("listed");
	assert_non_null(a);
	assert_string_equal(it_json_string(a, "kind"), "producer");
	assert_string_equal(it_json_string(a, "serviceId"), "producer-service-1");
	assert_string_equal(it_json_string(a, "status"), "ACTIVE");
	assert_int_equal(int_at(a, "port"), p.port);
	assert_int_equal(int_at(a, "heartbeatIntervalSeconds"), 1);
	assert_true(json_is_true(it_json_get(a, "relayEnabled")));
	assert_true(json_is_true(it_json_get(a, "lastHealthCheck.healthy")));
	assert_true(json_is_true(it_json_get(a, "lastHealthCheck.details.database.ok")));
	assert_true(json_is_number(it_json_get(a, "lastHealthCheck.details.database.latencyMs")));
	assert_true(json_is_true(it_json_get(a, "lastHealthCheck.details.kafka.ok")));
	assert_true(json_is_integer(it_json_get(a, "lastHealthCheck.details.outbox.pending")));
	json_decref(a);
	assert_int_equal(it_producer_stop(&p), 0);
}

static void test_stopped_process_turns_unhealthy_then_recovers(void **state)
{
	struct it_producer p = {0};
	int64_t took;

	(void)state;
	start_instance(&p, "paused", true);
	await_health("paused", "healthy", WAIT_MS);
	/* Let it beat once more so the last beat is recent, then freeze it. */
	it_sleep_ms(INTERVAL_MS + 200);
	assert_int_equal(kill(p.pid, SIGSTOP), 0);
	took = await_health("paused", "unhealthy", 3 * INTERVAL_MS + 2000);
	/* Its last beat was at most one interval before the stop, so it is called unhealthy
	 * within 3 intervals of the stop (plus a poll's slack), and not before 2. */
	assert_true(took >= 2 * INTERVAL_MS - 200);
	assert_true(took <= 3 * INTERVAL_MS + 500);
	assert_int_equal(kill(p.pid, SIGCONT), 0);
	took = await_health("paused", "healthy", 2 * INTERVAL_MS + 2000);
	assert_int_equal(it_producer_stop(&p), 0);
}

static void test_graceful_stop_deregisters(void **state)
{
	struct it_producer p = {0};
	json_t *a;

	(void)state;
	start_instance(&p, "graceful", false);
	await_health("graceful", "healthy", WAIT_MS);
	a = find_producer("graceful");
	assert_true(json_is_false(it_json_get(a, "relayEnabled")));
	/* An instance without a relay does not ask Kafka, and says so. */
	assert_true(
	    it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                    "SELECT (count(*) > 0)::int FROM ferry.service_health_check WHERE"
	                    " instance_id = 'graceful' AND healthy"
	                    " AND details->'kafka'->>'checked' = 'false'"));
	json_decref(a);
	assert_int_equal(it_producer_stop(&p), 0);
	a = find_producer("graceful");
	assert_non_null(a);
	assert_string_equal(it_json_string(a, "status"), "STOPPED");
	assert_string_equal(it_json_string(a, "health"), "stopped");
	json_decref(a);
	/* Stopped is final until it starts again: a restart registers the same row anew. */
	start_instance(&p, "graceful", false);
	await_health("graceful", "healthy", WAIT_MS);
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.producer_service_agent"
	                                     " WHERE instance_id = 'graceful'"),
	                 1);
	assert_int_equal(it_producer_stop(&p), 0);
}

static void test_killed_goes_unhealthy_then_inactive(void **state)
{
	struct it_producer p = {0};

	(void)state;
	start_instance(&p, "killed", true);
	await_health("killed", "healthy", WAIT_MS);
	it_producer_kill(&p);
	await_health("killed", "unhealthy", 3 * INTERVAL_MS + 2000);
	await_health("killed", "inactive", 3 * INTERVAL_MS + 2000);
}

static void test_one_id_space(void **state)
{
	struct it_response r = {0};
	json_t *a = find_producer("observer");
	json_int_t producer_id, consumer_id;
	char path[96];

	(void)state;
	assert_non_null(a);
	producer_id = int_at(a, "id");
	json_decref(a);
	assert_int_equal(it_post(&fx.producer, FERRY_PATH_AGENT_REGISTER,
	                         "{\"serviceId\":\"svc\",\"instanceId\":\"c1\",\"consumerGroup\":"
	                         "\"g1\",\"topics\":[\"t1\"],\"host\":\"h\",\"port\":5401}",
	                         &r),
	                 201);
	consumer_id = int_at(r.json, "id");
	assert_true(consumer_id != producer_id);
	/* Registrations draw ids, beats do not: six producer registrations so far (one a
	 * restart), against dozens of beats since. */
	assert_true(consumer_id <= 10);
	/* No producer agent has a consumer agent's id, nor the other way round. */
	assert_int_equal(it_sql_int(fx.conn, "SELECT count(*) FROM ferry.producer_service_agent p"
	                                     " JOIN ferry.consumer_service_agent c USING (id)"),
	                 0);

	snprintf(path, sizeof(path), "/api/agents/%lld", (long long)producer_id);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_string_equal(it_json_string(r.json, "kind"), "producer");
	assert_string_equal(it_json_string(r.json, "instanceId"), "observer");
	snprintf(path, sizeof(path), "/api/agents/%lld", (long long)consumer_id);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_string_equal(it_json_string(r.json, "kind"), "consumer");
	assert_string_equal(it_json_string(r.json, "consumerGroup"), "g1");
	snprintf(path, sizeof(path), "/api/agents/producers/%lld", (long long)producer_id);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	snprintf(path, sizeof(path), "/api/agents/producers/%lld", (long long)consumer_id);
	assert_int_equal(it_get(&fx.producer, path, &r), 404);
	assert_int_equal(it_get(&fx.producer, "/api/agents/987654321", &r), 404);
	assert_non_null(json_object_get(r.json, "error"));
	assert_int_equal(it_get(&fx.producer, "/api/agents/abc", &r), 400);
	assert_non_null(json_object_get(r.json, "error"));
	assert_int_equal(it_get(&fx.producer, "/api/agents/producers/0", &r), 400);
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_listed_with_health_checks),
	    cmocka_unit_test(test_stopped_process_turns_unhealthy_then_recovers),
	    cmocka_unit_test(test_graceful_stop_deregisters),
	    cmocka_unit_test(test_killed_goes_unhealthy_then_inactive),
	    cmocka_unit_test(test_one_id_space),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
