/*
 * test_request_bounds.c - every request's time on PostgreSQL and Kafka is bounded (issue 11,
 * item 6), in the cases the server-side timeouts of test_request_limits.c cannot catch.
 *
 * - A hung database: the PostgreSQL backends serving the producer's pool and batcher are
 *   stopped (SIGSTOP); an unbatched and a batched send end with 503 "outcome unknown" within
 *   FERRY_DB_REQUEST_TIMEOUT_MS, and once the backends run again a retry with the same
 *   idempotency key leaves exactly one row per key.
 * - Every other route that reads or writes the database, on a hung database: with the
 *   backend behind the pool's idle connection stopped, an acknowledgment, a heartbeat, a
 *   message lookup, the topic list, the statistics and health each answer 503 "database did
 *   not answer within FERRY_DB_REQUEST_TIMEOUT_MS" (the writes adding "outcome unknown")
 *   within the bound plus a margin; /metrics answers within it with ferry_database_up 0.
 * - Dead-letter deletion: with a 1 ms budget, DELETE /api/messages/failed answers after its
 *   first batch with "complete": false, and calling again finishes the job.
 * - Kafka down: registering a topic answers 503 naming Kafka within FERRY_HTTP_KAFKA_TIMEOUT_MS
 *   (plus a margin), and nothing is registered.
 *
 * Stopped backends are continued, and a stopped broker started again, by the tests' teardowns
 * whatever happens in the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_TIMEOUT_MS     2000
#define KAFKA_TIMEOUT_MS  1500
#define MARGIN_MS         1500
#define DEAD_LETTERS      50
#define DELETE_BATCH_SIZE 10
#define MAX_STOPPED       32
#define STR_(x)           #x
#define STR(x)            STR_(x)

static struct it_fixture fx;
static pid_t stopped[MAX_STOPPED]; /* backends under SIGSTOP; continued by the teardown */
static int n_stopped;
static bool kafka_stopped;

static int setup(void **state)
{
	static const char *const env[] = {"FERRY_RELAY_ENABLED=false",
	                                  "FERRY_DB_REQUEST_TIMEOUT_MS=" STR(DB_TIMEOUT_MS),
	                                  "FERRY_HTTP_KAFKA_TIMEOUT_MS=" STR(KAFKA_TIMEOUT_MS),
	                                  "FERRY_HTTP_DELETE_BUDGET_MS=1",
	                                  "FERRY_CLEANUP_BATCH_SIZE=" STR(DELETE_BATCH_SIZE),
	                                  "FERRY_BATCH_MAX_WAIT_MS=5",
	                                  NULL};

	(void)state;
	it_fixture_open(&fx, "request_bounds", env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Continues every backend a test stopped. */
static int continue_backends(void **state)
{
	(void)state;
	for (int i = 0; i < n_stopped; i++)
		(void)kill(stopped[i], SIGCONT);
	n_stopped = 0;
	return 0;
}

/* Starts the broker again when a test left it stopped. */
static int start_kafka(void **state)
{
	(void)state;
	if (kafka_stopped && it_stack("start-kafka") == 0)
		kafka_stopped = false;
	return kafka_stopped ? -1 : 0;
}

struct send {
	char body[512];
	long status;
	char error[512];
	int64_t took_ms;
};

static void *send_main(void *arg)
{
	struct send *s = arg;
	struct it_response r = {0};
	int64_t t0 = it_now_ms();
	const char *error;

	s->status = it_post(&fx.producer, "/api/messages/send", s->body, &r);
	s->took_ms = it_now_ms() - t0;
	error = it_json_string(r.json, "error");
	snprintf(s->error, sizeof(s->error), "%s", error ? error : (r.text ? r.text : r.error));
	it_response_free(&r);
	return NULL;
}

static void send_body(struct send *s, const char *topic, const char *key, bool batched)
{
	snprintf(s->body, sizeof(s->body),
	         "{\"topic\": \"%s\", \"message\": \"%s\", \"idempotencyKey\": \"%s\","
	         " \"useBatching\": %s}",
	         topic, key, key, batched ? "true" : "false");
}

/* Stops (SIGSTOP) every backend of this database whose application_name is in `apps` (an SQL
 * list: "'a', 'b'"), remembering them for continue_backends. Returns how many. */
static int stop_backends(const char *apps)
{
	char sql[512];
	PGresult *res;
	int n;

	snprintf(sql, sizeof(sql),
	         "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
	         " AND application_name IN (%s)",
	         apps);
	res = PQexec(fx.conn, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	n = PQntuples(res);
	if (n > MAX_STOPPED - n_stopped) {
		PQclear(res);
		fail_msg("%d backends of %s: more than this test stops", n, apps);
	}
	for (int i = 0; i < n; i++) {
		pid_t pid = (pid_t)strtol(PQgetvalue(res, i, 0), NULL, 10);

		if (kill(pid, SIGSTOP) != 0) {
			PQclear(res);
			fail_msg("cannot stop backend %d: %s", (int)pid, strerror(errno));
		}
		stopped[n_stopped++] = pid;
	}
	PQclear(res);
	return n;
}

static void test_hung_database(void **state)
{
	char topic[IT_TOPIC_MAX];
	struct send warm[2], hung[2];
	char *pids;

	(void)state;
	it_topic(topic, sizeof(topic), "bounds-hung");
	/* Both kinds of send once, so that the pool and the batcher hold their connections. */
	send_body(&warm[0], topic, "warm-unbatched", false);
	send_body(&warm[1], topic, "warm-batched", true);
	for (int i = 0; i < 2; i++) {
		send_main(&warm[i]);
		if (warm[i].status != 201)
			fail_msg("%s: %ld (%s)", warm[i].body, warm[i].status, warm[i].error);
	}
	/* Stop the backends behind them: to the producer the server hangs, and no
	 * statement_timeout can fire in a process that does not run. */
	assert_true(stop_backends("'ferry-producer-api', 'ferry-batcher'") >= 2);
	send_body(&hung[0], topic, "hung-unbatched", false);
	send_body(&hung[1], topic, "hung-batched", true);
	/* One after the other: libmicrohttpd's pool threads each serve several connections, so
	 * two requests at once may share a thread and the second would wait out the first's
	 * bound before its own (4 s, not 2: seen on a loaded machine). */
	for (int i = 0; i < 2; i++)
		send_main(&hung[i]);
	pids = it_sql_text(fx.conn, "SELECT string_agg(pid::text, ',') FROM pg_stat_activity"
	                            " WHERE datname = current_database() AND application_name IN"
	                            " ('ferry-producer-api', 'ferry-batcher')");
	continue_backends(NULL);
	for (int i = 0; i < 2; i++) {
		if (hung[i].status != 503 || strstr(hung[i].error, "outcome unknown") == NULL ||
		    strstr(hung[i].error, "did not answer within " STR(DB_TIMEOUT_MS) " ms") ==
		        NULL)
			fail_msg("%s: answered %ld (%s), wanted 503 outcome unknown", hung[i].body,
			         hung[i].status, hung[i].error);
		if (hung[i].took_ms < DB_TIMEOUT_MS - 100 ||
		    hung[i].took_ms > DB_TIMEOUT_MS + MARGIN_MS)
			fail_msg("%s: the 503 took %lld ms, wanted about %d", hung[i].body,
			         (long long)hung[i].took_ms, DB_TIMEOUT_MS);
	}
	/* The dropped connections' backends end once they run again (a statement they had
	 * received may commit first: hence "outcome unknown"). */
	if (pids != NULL &&
	    !it_wait_sql_int(fx.conn, 0, 10000,
	                     "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY('{%s}'::int[])"
	                     " AND state <> 'idle'",
	                     pids))
		fail_msg("the continued backends were still busy after 10 s");
	free(pids);
	/* Retried with the same keys: answered, and one row per key whatever the first did. */
	for (int i = 0; i < 2; i++) {
		send_main(&hung[i]);
		if (hung[i].status != 201 && hung[i].status != 200)
			fail_msg("%s retried: %ld (%s)", hung[i].body, hung[i].status,
			         hung[i].error);
	}
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'"
	                            " AND idempotency_key LIKE 'hung-%%'",
	                            topic),
	                 2);
}

/* A request the hung-database test makes, and what it must answer. */
struct bounded_call {
	const char *method;
	const char *path;
	const char *body; /* JSON, NULL: none */
	bool writes;      /* the answer must say the outcome is unknown */
};

static void test_hung_database_every_route(void **state)
{
	static const struct bounded_call calls[] = {
	    {"POST", "/api/messages/acknowledge",
	     "{\"messageId\": 1, \"consumerGroup\": \"bounds-g\", \"success\": true}", true},
	    {"POST", "/api/agents/consumers/heartbeat",
	     "{\"serviceId\": \"svc-bounds\", \"instanceId\": \"i-1\"}", true},
	    {"GET", "/api/messages/1", NULL, false},
	    {"GET", "/api/topics", NULL, false},
	    {"GET", "/api/messages/stats", NULL, false},
	    {"GET", "/api/messages/health", NULL, false},
	    {"GET", "/metrics", NULL, false},
	};
	const char *want = "database did not answer within " STR(DB_TIMEOUT_MS) " ms";
	struct it_response r = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const struct bounded_call *c = &calls[i];
		bool metrics = strcmp(c->path, "/metrics") == 0;
		bool health = strcmp(c->path, "/api/messages/health") == 0;
		const char *error;
		int64_t t0, took;

		/* One answered request leaves an idle connection in the pool (the previous
		 * call's dropped connection took the idle ones with it); its backend stopped,
		 * the next request borrows a connection whose server does not answer. */
		if (it_get(&fx.producer, "/api/topics", &r) != 200)
			fail_msg("GET /api/topics before %s %s answered %ld: %s", c->method,
			         c->path, r.status, r.text ? r.text : r.error);
		assert_true(stop_backends("'ferry-producer-api'") >= 1);
		t0 = it_now_ms();
		it_http(&fx.producer, c->method, c->path,
		        strcmp(c->method, "GET") != 0 ? "application/json" : NULL, c->body,
		        c->body ? strlen(c->body) : 0, &r);
		took = it_now_ms() - t0;
		continue_backends(NULL);
		if (metrics) {
			if (r.status != 200 || r.text == NULL ||
			    it_metric_sample(r.text, "ferry_database_up") != 0)
				fail_msg("/metrics on a hung database answered %ld: %.300s",
				         r.status, r.text ? r.text : r.error);
		} else {
			error = it_json_string(r.json, health ? "database.error" : "error");
			if (r.status != 503 || error == NULL ||
			    strncmp(error, want, strlen(want)) != 0 ||
			    (c->writes && strstr(error, "outcome unknown") == NULL))
				fail_msg("%s %s on a hung database answered %ld: %s", c->method,
				         c->path, r.status, r.text ? r.text : r.error);
		}
		if (took < DB_TIMEOUT_MS - 100 || took > DB_TIMEOUT_MS + MARGIN_MS)
			fail_msg("%s %s: the answer took %lld ms, wanted about %d", c->method,
			         c->path, (long long)took, DB_TIMEOUT_MS);
	}
	/* The continued backends were dropped: the pool opens fresh connections and answers. */
	assert_int_equal(it_get(&fx.producer, "/api/messages/stats", &r), 200);
	it_response_free(&r);
}

/* The consumer's API pool carries the same client-side bound (its own FERRY_DB_REQUEST_TIMEOUT_MS):
 * its health and its inbox listings answer 503 in time when the server does not answer. */
static void test_hung_database_consumer(void **state)
{
	static const char *const env[] = {"FERRY_DB_REQUEST_TIMEOUT_MS=" STR(DB_TIMEOUT_MS), NULL};
	const char *want = "database did not answer within " STR(DB_TIMEOUT_MS) " ms";
	char topic[IT_TOPIC_MAX], group[160], processed[256];
	struct it_producer consumer;
	struct it_response r = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "bounds-consumer");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(processed, sizeof(processed), "/api/consumer/processed/%s", group);
	it_consumer_start_group(&consumer, &fx.db, &fx.producer, group, topic, env);
	for (int i = 0; i < 2; i++) {
		const char *path = i == 0 ? "/api/consumer/health" : processed;
		const char *error;
		int64_t t0, took;

		/* An answered request leaves an idle pooled connection; then its backend stops. */
		if (it_get(&consumer, processed, &r) != 200)
			fail_msg("GET %s before %s answered %ld: %s", processed, path, r.status,
			         r.text ? r.text : r.error);
		assert_true(stop_backends("'ferry-consumer-api'") >= 1);
		t0 = it_now_ms();
		it_get(&consumer, path, &r);
		took = it_now_ms() - t0;
		continue_backends(NULL);
		error = it_json_string(r.json, i == 0 ? "database.error" : "error");
		if (r.status != 503 || strncmp(error, want, strlen(want)) != 0)
			fail_msg("consumer GET %s on a hung database answered %ld: %s", path,
			         r.status, r.text ? r.text : r.error);
		if (took < DB_TIMEOUT_MS - 100 || took > DB_TIMEOUT_MS + MARGIN_MS)
			fail_msg("consumer GET %s: the answer took %lld ms, wanted about %d", path,
			         (long long)took, DB_TIMEOUT_MS);
	}
	/* The dropped connection is replaced: the consumer answers again, and stops cleanly. */
	assert_int_equal(it_get(&consumer, processed, &r), 200);
	it_response_free(&r);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

static void test_delete_dead_letters_in_parts(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], body[512], path[256];
	struct it_response r = {0};
	int64_t deleted = 0;
	int calls = 0;
	bool complete = false;

	(void)state;
	it_topic(topic, sizeof(topic), "bounds-delete");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s\",\"maxRetries\":0}]}",
	    topic, group);
	if (it_post(&fx.producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	/* DEAD_LETTERS messages on Kafka whose one delivery failed two hours ago. */
	it_sql_exec(
	    fx.conn,
	    "INSERT INTO ferry.outbox_message (topic, message_key, payload, status, sent_at,"
	    " processed_at) SELECT '%s', 'k', 'p', 'SENT', now(), now()"
	    " FROM generate_series(1, %d)",
	    topic, DEAD_LETTERS);
	it_sql_exec(
	    fx.conn,
	    "INSERT INTO ferry.message_delivery (message_id, consumer_group_id,"
	    " consumer_group, status, sent_at) SELECT m.id, g.id, g.consumer_group_name,"
	    " 'FAILED', now() FROM ferry.outbox_message m, ferry.consumer_group_registration g"
	    " WHERE m.topic = '%s' AND g.consumer_group_name = '%s'",
	    topic, group);
	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET updated_at = now() - interval '2 hours'"
	            " WHERE consumer_group = '%s'",
	            group);
	snprintf(path, sizeof(path), "/api/messages/failed?olderThan=1h&consumerGroup=%s", group);
	/* A 1 ms budget: each call does one batch (of 10) and says it is not done. */
	while (!complete && calls < DEAD_LETTERS) {
		json_t *c;

		if (it_http(&fx.producer, "DELETE", path, "application/json", NULL, 0, &r) != 200)
			fail_msg("DELETE %s answered %ld: %s", path, r.status, r.text);
		c = it_json_get(r.json, "complete");
		if (!json_is_boolean(c))
			fail_msg("no \"complete\" in %s", r.text);
		complete = json_is_true(c);
		if (calls == 0 && complete)
			fail_msg("the first call, with a 1 ms budget, deleted everything: %s",
			         r.text);
		deleted += json_integer_value(it_json_get(r.json, "deletedDeliveries"));
		calls++;
	}
	it_response_free(&r);
	assert_true(complete);
	assert_true(calls >= 2);
	assert_int_equal(deleted, DEAD_LETTERS);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE consumer_group = '%s'",
	                            group),
	                 0);
}

static void test_register_topic_with_kafka_down(void **state)
{
	char topic[IT_TOPIC_MAX], body[512], path[256];
	struct it_response r = {0};
	int64_t t0, took;
	const char *error;

	(void)state;
	it_topic(topic, sizeof(topic), "bounds-kafka-down");
	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s-g\"}]}",
	    topic, topic);
	kafka_stopped = true; /* from here on, whatever happens, the teardown starts it */
	assert_int_equal(it_stack("stop-kafka"), 0);
	t0 = it_now_ms();
	it_post(&fx.producer, "/api/topics/register", body, &r);
	took = it_now_ms() - t0;
	error = it_json_string(r.json, "error");
	if (r.status != 503 || strstr(error, "Kafka did not answer within") == NULL)
		fail_msg("register with Kafka down answered %ld after %lld ms: %s", r.status,
		         (long long)took, r.text ? r.text : r.error);
	if (took > KAFKA_TIMEOUT_MS + MARGIN_MS)
		fail_msg("the 503 took %lld ms, bound %d ms", (long long)took, KAFKA_TIMEOUT_MS);
	/* Nothing half-registered: the registry does not know the topic. */
	snprintf(path, sizeof(path), "/api/topics/%s", topic);
	assert_int_equal(it_get(&fx.producer, path, &r), 404);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.topic_registration"
	                            " WHERE topic_name = '%s'",
	                            topic),
	                 0);
	it_response_free(&r);
	assert_int_equal(start_kafka(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_hung_database, continue_backends),
	    cmocka_unit_test_teardown(test_hung_database_every_route, continue_backends),
	    cmocka_unit_test_teardown(test_hung_database_consumer, continue_backends),
	    cmocka_unit_test(test_delete_dead_letters_in_parts),
	    cmocka_unit_test_teardown(test_register_topic_with_kafka_down, start_kafka),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
