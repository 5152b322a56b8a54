/*
 * test_agents.c - consumer agents over REST (/api/agents/consumers/...): registering stores an
 * agent and registering the same service/instance/group again refreshes that row (same id, no
 * second row); heartbeats move last_heartbeat_at and write a health check, and an agent that
 * never registered (or deregistered) gets 404 so that it registers again; health turns
 * "unhealthy" after 3 heartbeat intervals without a beat and "inactive" after 6; deregistering
 * makes it "stopped"; invalid bodies get 400 and write nothing.
 *
 * One database and one producer, started with FERRY_AGENT_HEARTBEAT_INTERVAL_S=1 so that health
 * changes within seconds. Each test uses service ids of its own.
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

static struct it_fixture fx;

static int setup(void **state)
{
	static const char *const env[] = {"FERRY_AGENT_HEARTBEAT_INTERVAL_S=1", NULL};

	(void)state;
	it_fixture_open(&fx, "agents", env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* --- small helpers --------------------------------------------------------------------------- */

static json_int_t int_at(json_t *root, const char *dotted)
{
	json_t *v = it_json_get(root, dotted);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", dotted);
	return json_integer_value(v);
}

static const char *str_at(json_t *root, const char *dotted)
{
	json_t *v = it_json_get(root, dotted);

	if (!json_is_string(v))
		fail_msg("%s is not a string", dotted);
	return json_string_value(v);
}

/* Sends method path with a JSON body and checks the status; the answer stays in *r. */
static void expect(const char *method, const char *path, const char *body, long want,
                   struct it_response *r)
{
	long status = it_http(&fx.producer, method, path,
	                      strcmp(method, "GET") != 0 ? "application/json" : NULL, body,
	                      body ? strlen(body) : 0, r);

	if (status != want)
		fail_msg("%s %s: want %ld, got %ld: %s", method, path, want, status,
		         r->text ? r->text : r->error);
}

/* Checks that the answer is {"error": "..."} containing `part`. */
static void expect_error_mentions(const struct it_response *r, const char *part)
{
	const char *e = it_json_string(r->json, "error");

	if (strstr(e, part) == NULL)
		fail_msg("error '%s' does not mention '%s'", e, part);
}

/* Registers service/instance/group on topics user-events and order-events at port 5401. */
static void register_agent(const char *service, const char *instance, const char *group, long want,
                           struct it_response *r)
{
	char body[1024];

	snprintf(body, sizeof(body),
	         "{\"serviceId\": \"%s\", \"instanceId\": \"%s\", \"consumerGroup\": \"%s\","
	         " \"topics\": [\"user-events\", \"order-events\"], \"host\": \"10.1.2.3\","
	         " \"port\": 5401, \"version\": \"0.1.0\"}",
	         service, instance, group);
	expect("POST", FERRY_PATH_AGENT_REGISTER, body, want, r);
}

static void heartbeat(const char *body, long want, struct it_response *r)
{
	expect("POST", FERRY_PATH_AGENT_HEARTBEAT, body, want, r);
}

static int64_t agent_rows(const char *service)
{
	return it_sql_int(
	    fx.conn, "SELECT count(*) FROM ferry.consumer_service_agent WHERE service_id = '%s'",
	    service);
}

static int64_t health_checks(const char *service)
{
	return it_sql_int(fx.conn,
	                  "SELECT count(*) FROM ferry.service_health_check WHERE service_id = '%s'",
	                  service);
}

/* The agent's last_heartbeat_at as PostgreSQL's text (caller frees). */
static char *last_heartbeat(json_int_t id)
{
	return it_sql_text(fx.conn,
	                   "SELECT last_heartbeat_at::text FROM ferry.consumer_service_agent"
	                   " WHERE id = %" JSON_INTEGER_FORMAT,
	                   id);
}

/* Whether the agent's last_heartbeat_at is later than `before` (a last_heartbeat() value). */
static bool heartbeat_moved(json_int_t id, const char *before)
{
	return it_sql_int(fx.conn,
	                  "SELECT (last_heartbeat_at > '%s'::timestamptz)::int"
	                  " FROM ferry.consumer_service_agent WHERE id = %" JSON_INTEGER_FORMAT,
	                  before, id) == 1;
}

struct health_wait {
	json_int_t id;
	const char *leave; /* wait until health is no longer this */
	char seen[32];     /* the health seen last */
};

static bool health_changed(void *arg)
{
	struct health_wait *w = arg;
	struct it_response r = {0};
	char path[128];
	bool changed = false;

	snprintf(path, sizeof(path), "/api/agents/consumers/%" JSON_INTEGER_FORMAT, w->id);
	if (it_get(&fx.producer, path, &r) == 200) {
		snprintf(w->seen, sizeof(w->seen), "%s", it_json_string(r.json, "health"));
		changed = strcmp(w->seen, w->leave) != 0;
	}
	it_response_free(&r);
	return changed;
}

/* Waits (at most timeout_ms) until the agent's health leaves `leave`; returns what it became. */
static const char *wait_health_leaves(struct health_wait *w, json_int_t id, const char *leave,
                                      int timeout_ms)
{
	w->id = id;
	w->leave = leave;
	w->seen[0] = '\0';
	if (!it_wait_until(health_changed, w, timeout_ms))
		fail_msg("agent %" JSON_INTEGER_FORMAT " still '%s' after %d ms", id, leave,
		         timeout_ms);
	return w->seen;
}

/* --- tests ----------------------------------------------------------------------------------- */

static void test_register_and_reregister(void **state)
{
	struct it_response r = {0};
	char path[128], *registered_at, *started_at;
	json_int_t id, other;
	json_t *topics, *list, *el;
	size_t i, seen = 0;

	(void)state;
	register_agent("svc-reg", "i-1", "group-a", 201, &r);
	id = int_at(r.json, "id");
	assert_true(id > 0);
	assert_string_equal(str_at(r.json, "serviceId"), "svc-reg");
	assert_string_equal(str_at(r.json, "instanceId"), "i-1");
	assert_string_equal(str_at(r.json, "consumerGroup"), "group-a");
	topics = it_json_get(r.json, "topics");
	assert_int_equal(json_array_size(topics), 2);
	assert_string_equal(it_json_string(topics, "0"), "user-events");
	assert_string_equal(it_json_string(topics, "1"), "order-events");
	assert_string_equal(str_at(r.json, "host"), "10.1.2.3");
	assert_int_equal(int_at(r.json, "port"), 5401);
	assert_string_equal(str_at(r.json, "version"), "0.1.0");
	assert_string_equal(str_at(r.json, "status"), "ACTIVE");
	assert_string_equal(str_at(r.json, "health"), "healthy");
	str_at(r.json, "startedAt");
	str_at(r.json, "lastHeartbeatAt");
	registered_at = strdup(str_at(r.json, "registeredAt"));
	started_at = strdup(str_at(r.json, "startedAt"));
	snprintf(path, sizeof(path), "/api/agents/consumers/%" JSON_INTEGER_FORMAT, id);
	expect("GET", path, NULL, 200, &r);
	assert_int_equal(int_at(r.json, "id"), id);
	assert_string_equal(str_at(r.json, "registeredAt"), registered_at);

	/* The same service/instance/group again (a restarted consumer): the same row, refreshed. */
	it_sleep_ms(20);
	expect(
	    "POST", FERRY_PATH_AGENT_REGISTER,
	    "{\"serviceId\": \"svc-reg\", \"instanceId\": \"i-1\", \"consumerGroup\": \"group-a\","
	    " \"topics\": [\"analytics-events\"], \"host\": \"10.9.9.9\", \"port\": 6001}",
	    200, &r);
	assert_int_equal(int_at(r.json, "id"), id);
	assert_int_equal(json_array_size(it_json_get(r.json, "topics")), 1);
	assert_string_equal(it_json_string(r.json, "topics.0"), "analytics-events");
	assert_string_equal(str_at(r.json, "host"), "10.9.9.9");
	assert_int_equal(int_at(r.json, "port"), 6001);
	assert_true(json_is_null(it_json_get(r.json, "version")));
	assert_string_equal(str_at(r.json, "registeredAt"), registered_at);
	assert_string_not_equal(str_at(r.json, "startedAt"), started_at);
	assert_string_equal(str_at(r.json, "status"), "ACTIVE");
	assert_int_equal(agent_rows("svc-reg"), 1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT (started_at > registered_at)::int"
	                            " FROM ferry.consumer_service_agent"
	                            " WHERE id = %" JSON_INTEGER_FORMAT,
	                            id),
	                 1);
	free(registered_at);
	free(started_at);

	/* Another group of the same instance is an agent of its own. */
	register_agent("svc-reg", "i-1", "group-b", 201, &r);
	other = int_at(r.json, "id");
	assert_true(other != id);
	assert_int_equal(agent_rows("svc-reg"), 2);

	expect("GET", "/api/agents/consumers", NULL, 200, &r);
	list = r.json;
	assert_true(json_is_array(list));
	json_array_foreach (list, i, el) {
		if (int_at(el, "id") == id) {
			assert_string_equal(str_at(el, "consumerGroup"), "group-a");
			assert_string_equal(str_at(el, "health"), "healthy");
			seen++;
		} else if (int_at(el, "id") == other) {
			assert_string_equal(str_at(el, "consumerGroup"), "group-b");
			seen++;
		}
	}
	assert_int_equal(seen, 2);
	it_response_free(&r);
}

static void test_heartbeat(void **state)
{
	struct it_response r = {0};
	json_int_t a, b;
	char *a_before, *b_before;

	(void)state;
	register_agent("svc-hb", "i-1", "group-a", 201, &r);
	a = int_at(r.json, "id");
	register_agent("svc-hb", "i-1", "group-b", 201, &r);
	b = int_at(r.json, "id");
	a_before = last_heartbeat(a);
	b_before = last_heartbeat(b);

	/* Without a group: every group of the instance, and one health check. */
	it_sleep_ms(20);
	heartbeat("{\"serviceId\": \"svc-hb\", \"instanceId\": \"i-1\"}", 200, &r);
	assert_int_equal(json_array_size(it_json_get(r.json, "agents")), 2);
	assert_int_equal(int_at(r.json, "agents.0.id"), a);
	assert_int_equal(int_at(r.json, "agents.1.id"), b);
	assert_string_equal(str_at(r.json, "agents.0.health"), "healthy");
	assert_true(heartbeat_moved(a, a_before));
	assert_true(heartbeat_moved(b, b_before));
	assert_int_equal(health_checks("svc-hb"), 1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.service_health_check"
	                            " WHERE service_id = 'svc-hb' AND instance_id = 'i-1'"
	                            " AND agent_kind = 'consumer' AND healthy AND details = '{}'"),
	                 1);
	free(a_before);
	free(b_before);

	/* With a group: that group only; healthy and details are recorded as sent. */
	a_before = last_heartbeat(a);
	b_before = last_heartbeat(b);
	it_sleep_ms(20);
	heartbeat(
	    "{\"serviceId\": \"svc-hb\", \"instanceId\": \"i-1\", \"consumerGroup\": \"group-a\","
	    " \"healthy\": false, \"details\": {\"lag\": 5, \"reason\": \"slow disk\"}}",
	    200, &r);
	assert_int_equal(json_array_size(it_json_get(r.json, "agents")), 1);
	assert_int_equal(int_at(r.json, "agents.0.id"), a);
	assert_true(heartbeat_moved(a, a_before));
	assert_false(heartbeat_moved(b, b_before));
	assert_int_equal(health_checks("svc-hb"), 2);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT (details->>'lag')::int FROM ferry.service_health_check"
	                            " WHERE service_id = 'svc-hb' AND NOT healthy"),
	                 5);
	free(a_before);
	free(b_before);
	it_response_free(&r);
}

static void test_heartbeat_unknown_agent(void **state)
{
	struct it_response r = {0};

	(void)state;
	heartbeat("{\"serviceId\": \"svc-never\", \"instanceId\": \"i-1\"}", 404, &r);
	expect_error_mentions(&r, "svc-never/i-1 is not registered");
	expect_error_mentions(&r, FERRY_PATH_AGENT_REGISTER);
	assert_int_equal(health_checks("svc-never"), 0);

	/* A registered instance, but not in that group. */
	register_agent("svc-never", "i-1", "group-a", 201, &r);
	heartbeat("{\"serviceId\": \"svc-never\", \"instanceId\": \"i-1\","
	          " \"consumerGroup\": \"group-z\"}",
	          404, &r);
	expect_error_mentions(&r, "group-z");
	heartbeat("{\"serviceId\": \"svc-never\", \"instanceId\": \"i-2\"}", 404, &r);
	assert_int_equal(health_checks("svc-never"), 0);
	it_response_free(&r);
}

static void test_deregister(void **state)
{
	struct it_response r = {0};
	char path[128];
	json_int_t a, b;

	(void)state;
	register_agent("svc-dereg", "i-1", "group-a", 201, &r);
	a = int_at(r.json, "id");
	register_agent("svc-dereg", "i-1", "group-b", 201, &r);
	b = int_at(r.json, "id");

	/* One group. */
	expect(
	    "POST", FERRY_PATH_AGENT_DEREGISTER,
	    "{\"serviceId\": \"svc-dereg\", \"instanceId\": \"i-1\", \"consumerGroup\": \"group-b\"}",
	    200, &r);
	assert_int_equal(json_array_size(it_json_get(r.json, "agents")), 1);
	assert_int_equal(int_at(r.json, "agents.0.id"), b);
	assert_string_equal(str_at(r.json, "agents.0.status"), "STOPPED");
	assert_string_equal(str_at(r.json, "agents.0.health"), "stopped");
	/* Its heartbeat is refused; the other group's is not. */
	heartbeat("{\"serviceId\": \"svc-dereg\", \"instanceId\": \"i-1\", \"consumerGroup\": "
	          "\"group-b\"}",
	          404, &r);
	heartbeat("{\"serviceId\": \"svc-dereg\", \"instanceId\": \"i-1\"}", 200, &r);
	assert_int_equal(json_array_size(it_json_get(r.json, "agents")), 1);
	assert_int_equal(int_at(r.json, "agents.0.id"), a);

	/* The whole instance; again changes nothing. */
	expect("POST", FERRY_PATH_AGENT_DEREGISTER,
	       "{\"serviceId\": \"svc-dereg\", \"instanceId\": \"i-1\"}", 200, &r);
	assert_int_equal(json_array_size(it_json_get(r.json, "agents")), 2);
	assert_string_equal(str_at(r.json, "agents.0.status"), "STOPPED");
	assert_string_equal(str_at(r.json, "agents.1.status"), "STOPPED");
	expect("POST", FERRY_PATH_AGENT_DEREGISTER,
	       "{\"serviceId\": \"svc-dereg\", \"instanceId\": \"i-1\"}", 200, &r);
	assert_int_equal(json_array_size(it_json_get(r.json, "agents")), 2);
	snprintf(path, sizeof(path), "/api/agents/consumers/%" JSON_INTEGER_FORMAT, a);
	expect("GET", path, NULL, 200, &r);
	assert_string_equal(str_at(r.json, "status"), "STOPPED");
	assert_string_equal(str_at(r.json, "health"), "stopped");
	heartbeat("{\"serviceId\": \"svc-dereg\", \"instanceId\": \"i-1\"}", 404, &r);
	expect_error_mentions(&r, "deregistered");
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_service_agent"
	                            " WHERE service_id = 'svc-dereg' AND status = 'STOPPED'"),
	                 2);

	/* Registering again brings the same agent back. */
	register_agent("svc-dereg", "i-1", "group-a", 200, &r);
	assert_int_equal(int_at(r.json, "id"), a);
	assert_string_equal(str_at(r.json, "status"), "ACTIVE");
	assert_string_equal(str_at(r.json, "health"), "healthy");
	assert_int_equal(agent_rows("svc-dereg"), 2);

	expect("POST", FERRY_PATH_AGENT_DEREGISTER,
	       "{\"serviceId\": \"svc-nobody\", \"instanceId\": \"i-1\"}", 404, &r);
	expect_error_mentions(&r, "never registered");
	it_response_free(&r);
}

/* Interval 1 s: healthy up to 3 s after the last beat, unhealthy up to 6 s, then inactive. */
static void test_health_follows_heartbeats(void **state)
{
	struct it_response r = {0};
	struct health_wait w;
	const char *health;
	json_int_t id;
	int64_t since;

	(void)state;
	register_agent("svc-health", "i-1", "group-a", 201, &r);
	since = it_now_ms();
	id = int_at(r.json, "id");
	assert_string_equal(str_at(r.json, "health"), "healthy");

	health = wait_health_leaves(&w, id, "healthy", 10000);
	assert_string_equal(health, "unhealthy");
	if (it_now_ms() - since < 2900)
		fail_msg("unhealthy after %lld ms, before 3 intervals",
		         (long long)(it_now_ms() - since));

	/* A beat makes it healthy again. */
	heartbeat("{\"serviceId\": \"svc-health\", \"instanceId\": \"i-1\"}", 200, &r);
	since = it_now_ms();
	assert_string_equal(str_at(r.json, "agents.0.health"), "healthy");

	health = wait_health_leaves(&w, id, "healthy", 10000);
	assert_string_equal(health, "unhealthy");
	health = wait_health_leaves(&w, id, "unhealthy", 10000);
	assert_string_equal(health, "inactive");
	if (it_now_ms() - since < 5900)
		fail_msg("inactive after %lld ms, before 6 intervals",
		         (long long)(it_now_ms() - since));

	/* Stopped wins over the age of the last beat. */
	expect("POST", FERRY_PATH_AGENT_DEREGISTER,
	       "{\"serviceId\": \"svc-health\", \"instanceId\": \"i-1\"}", 200, &r);
	assert_string_equal(str_at(r.json, "agents.0.health"), "stopped");
	it_response_free(&r);
}

static void test_validation(void **state)
{
	static const struct {
		const char *body;
		const char *mentions;
	} bad_registrations[] = {
	    {"{\"instanceId\": \"i\", \"consumerGroup\": \"g\", \"topics\": [\"t\"],"
	     " \"host\": \"h\", \"port\": 1}",
	     "serviceId: is required"},
	    {"{\"serviceId\": \"svc-bad\", \"instanceId\": \"\", \"consumerGroup\": \"g\","
	     " \"topics\": [\"t\"], \"host\": \"h\", \"port\": 1}",
	     "instanceId: must be a string of 1 to 255 bytes"},
	    {"{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	     " \"topics\": [\"t\"], \"host\": \"h\", \"port\": 0}",
	     "port: must be an integer from 1 to 65535"},
	    {"{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	     " \"topics\": [\"t\"], \"host\": \"h\", \"port\": 65536}",
	     "port: must be an integer from 1 to 65535"},
	    {"{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	     " \"topics\": [\"t\"], \"host\": \"h\"}",
	     "port: is required"},
	    {"{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	     " \"topics\": [\"good\", \"bad topic\"], \"host\": \"h\", \"port\": 1}",
	     "topics[1]: 'bad topic' is not a valid topic name"},
	    {"{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	     " \"topics\": [], \"host\": \"h\", \"port\": 1}",
	     "topics: must be an array of 1 to 1000 topic names"},
	    {"{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"consumerGroup\": \"g\","
	     " \"topics\": [\"t\"], \"host\": \"h\", \"port\": 1, \"metadata\": {}}",
	     "metadata: unknown field"},
	};
	struct it_response r = {0};
	char body[1024], long_id[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_registrations) / sizeof(bad_registrations[0]); i++) {
		expect("POST", FERRY_PATH_AGENT_REGISTER, bad_registrations[i].body, 400, &r);
		expect_error_mentions(&r, bad_registrations[i].mentions);
	}
	memset(long_id, 'x', 256);
	long_id[256] = '\0';
	snprintf(body, sizeof(body),
	         "{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"consumerGroup\": \"%s\","
	         " \"topics\": [\"t\"], \"host\": \"h\", \"port\": 1}",
	         long_id);
	expect("POST", FERRY_PATH_AGENT_REGISTER, body, 400, &r);
	expect_error_mentions(&r, "consumerGroup: must be a string of 1 to 255 bytes");
	expect("POST", FERRY_PATH_AGENT_REGISTER, "not json", 400, &r);
	assert_int_equal(agent_rows("svc-bad"), 0);

	heartbeat("{\"serviceId\": \"svc-bad\"}", 400, &r);
	expect_error_mentions(&r, "instanceId: is required");
	heartbeat("{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"details\": [1]}", 400, &r);
	expect_error_mentions(&r, "details: must be a JSON object");
	heartbeat("{\"serviceId\": \"svc-bad\", \"instanceId\": \"i\", \"healthy\": \"yes\"}", 400,
	          &r);
	expect_error_mentions(&r, "healthy: must be true or false");
	assert_int_equal(health_checks("svc-bad"), 0);
	expect("POST", FERRY_PATH_AGENT_DEREGISTER, "{\"serviceId\": \"svc-bad\"}", 400, &r);
	expect_error_mentions(&r, "instanceId: is required");

	expect("GET", "/api/agents/consumers/abc", NULL, 400, &r);
	expect_error_mentions(&r, "positive integer");
	expect("GET", "/api/agents/consumers/0", NULL, 400, &r);
	expect("GET", "/api/agents/consumers/999999999", NULL, 404, &r);
	expect_error_mentions(&r, "999999999");
	expect("GET", FERRY_PATH_AGENT_REGISTER, NULL, 400, &r);
	expect("POST", "/api/agents/consumers", "{}", 405, &r);
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_and_reregister),   cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_heartbeat_unknown_agent),   cmocka_unit_test(test_deregister),
	    cmocka_unit_test(test_health_follows_heartbeats), cmocka_unit_test(test_validation),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
