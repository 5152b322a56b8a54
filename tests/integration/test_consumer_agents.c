/*
 * test_consumer_agents.c - ferry-consumer registers itself with a real ferry-producer and keeps
 * its registration alive: once started, GET /api/agents/consumers lists it (serviceId,
 * instanceId, consumerGroup, topics) as "healthy", and it stays healthy for longer than the
 * 3 heartbeat intervals after which a silent agent turns "unhealthy" (so heartbeats arrive);
 * stopped with SIGTERM it deregisters and is listed as "stopped"; killed with SIGKILL, it is
 * no longer "healthy" a few intervals later.
 *
 * The producer runs with FERRY_AGENT_HEARTBEAT_INTERVAL_S=1 and the consumer with
 * FERRY_HEARTBEAT_INTERVAL_S=1, so that health changes within seconds.
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
#include <unistd.h>

#define WAIT_MS 30000

static struct {
	struct it_db db;
	struct it_producer producer;
} fx;

static int setup(void **state)
{
	static const char *const env[] = {"FERRY_AGENT_HEARTBEAT_INTERVAL_S=1", NULL};

	(void)state;
	it_db_create(&fx.db, "consumer_agents");
	it_producer_start(&fx.producer, &fx.db, env);
	return 0;
}

static int teardown(void **state)
{
	int status;

	(void)state;
	status = it_producer_stop(&fx.producer);
	it_db_drop(&fx.db);
	assert_int_equal(status, 0);
	return 0;
}

/* Starts a consumer of `group` on `topic` as service `service`, instance `instance`. */
static void start_consumer(struct it_producer *c, const char *service, const char *instance,
                           const char *group, const char *topic)
{
	char s[160], i[160], g[256], t[256], url[128];
	const char *env[] = {s, i, g, t, url, "FERRY_HEARTBEAT_INTERVAL_S=1", NULL};

	snprintf(s, sizeof(s), "SERVICE_ID=%s", service);
	snprintf(i, sizeof(i), "INSTANCE_ID=%s", instance);
	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(url, sizeof(url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	it_consumer_start(c, &fx.db, env);
}

/* The agent (service, instance) as GET /api/agents/consumers lists it. */
struct agent_view {
	const char *service;
	const char *instance;
	char health[32]; /* "(absent)" when not listed */
	char group[160];
	char topics[256];      /* the topics array, compact JSON */
	char heartbeat_at[64]; /* lastHeartbeatAt */
	int rows;              /* rows listed for (service, instance) */
};

static void agent_look(struct agent_view *v)
{
	struct it_response r = {0};
	json_t *a;
	size_t i;

	snprintf(v->health, sizeof(v->health), "(absent)");
	v->rows = 0;
	if (it_get(&fx.producer, "/api/agents/consumers", &r) != 200 || !json_is_array(r.json)) {
		it_response_free(&r);
		return;
	}
	json_array_foreach (r.json, i, a) {
		char *topics;

		if (strcmp(it_json_string(a, "serviceId"), v->service) != 0 ||
		    strcmp(it_json_string(a, "instanceId"), v->instance) != 0)
			continue;
		v->rows++;
		snprintf(v->health, sizeof(v->health), "%s", it_json_string(a, "health"));
		snprintf(v->group, sizeof(v->group), "%s", it_json_string(a, "consumerGroup"));
		snprintf(v->heartbeat_at, sizeof(v->heartbeat_at), "%s",
		         it_json_string(a, "lastHeartbeatAt"));
		topics = json_dumps(json_object_get(a, "topics"), JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(v->topics, sizeof(v->topics), "%s", topics ? topics : "(none)");
		free(topics);
	}
	it_response_free(&r);
}

struct health_wait {
	struct agent_view view;
	const char *want;
	bool negate; /* wait until health is NOT want */
};

static bool health_reached(void *arg)
{
	struct health_wait *w = arg;

	agent_look(&w->view);
	return (strcmp(w->view.health, w->want) == 0) != w->negate;
}

static void test_registered_healthy_then_stopped(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], instance[64], want_topics[IT_TOPIC_MAX + 8];
	struct it_producer consumer;
	struct health_wait w = {
	    {"it-consumer-agents", instance, "", "", "", "", 0}, "healthy", false};
	char first_beat[64];

	(void)state;
	it_topic(topic, sizeof(topic), "agents");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(instance, sizeof(instance), "inst-%d-a", (int)getpid());
	snprintf(want_topics, sizeof(want_topics), "[\"%s\"]", topic);
	start_consumer(&consumer, w.view.service, instance, group, topic);

	/* Registered: listed once, with its group and topics, healthy. */
	assert_true(it_wait_until(health_reached, &w, WAIT_MS));
	assert_int_equal(w.view.rows, 1);
	assert_string_equal(w.view.group, group);
	assert_string_equal(w.view.topics, want_topics);
	snprintf(first_beat, sizeof(first_beat), "%s", w.view.heartbeat_at);

	/* Still healthy after 5 s, longer than 3 intervals of 1 s: heartbeats arrive. */
	it_sleep_ms(5000);
	agent_look(&w.view);
	assert_string_equal(w.view.health, "healthy");
	assert_string_not_equal(w.view.heartbeat_at, first_beat);
	assert_int_equal(w.view.rows, 1);

	/* SIGTERM: a clean exit that deregisters, so the producer shows it stopped at once. */
	assert_int_equal(it_producer_stop(&consumer), 0);
	agent_look(&w.view);
	assert_string_equal(w.view.health, "stopped");
	assert_int_equal(w.view.rows, 1);

	/* Started again, the same agent is healthy again (registered again, no second row). */
	start_consumer(&consumer, w.view.service, instance, group, topic);
	assert_true(it_wait_until(health_reached, &w, WAIT_MS));
	assert_int_equal(w.view.rows, 1);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

static void test_killed_consumer_is_no_longer_healthy(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], instance[64];
	struct it_producer consumer;
	struct health_wait w = {
	    {"it-consumer-agents", instance, "", "", "", "", 0}, "healthy", false};

	(void)state;
	it_topic(topic, sizeof(topic), "agentkill");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(instance, sizeof(instance), "inst-%d-b", (int)getpid());
	start_consumer(&consumer, w.view.service, instance, group, topic);
	assert_true(it_wait_until(health_reached, &w, WAIT_MS));

	/* SIGKILL: no deregistration; the missing heartbeats make it unhealthy, not stopped. */
	it_producer_kill(&consumer);
	w.negate = true;
	assert_true(it_wait_until(health_reached, &w, WAIT_MS));
	assert_string_equal(w.view.health, "unhealthy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registered_healthy_then_stopped),
	    cmocka_unit_test(test_killed_consumer_is_no_longer_healthy),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
