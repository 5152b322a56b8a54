/*
 * test_consumer_webhook.c - the webhook processor end to end: ferry-consumer with
 * FERRY_PROCESSOR=webhook POSTs each message as JSON to a small HTTP server embedded in this
 * test (common/http_server.h on 127.0.0.1, port 0). The server records every body it receives
 * and answers 200, or 500 when the payload contains "fail".
 *
 * A good message is POSTed once, with messageId, topic, payload and consumerGroup, is recorded
 * as processed and ends ACKNOWLEDGED at the producer; a "fail" message becomes a failed_message
 * row (not processed) and a negative acknowledgment whose error names the HTTP status. A
 * message with 64 user headers reaches the webhook with all of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include "common/http_server.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 60000

/* What the webhook received: every JSON body, in arrival order. */
static struct {
	pthread_mutex_t mu;
	json_t *bodies; /* array; under mu */
} hook = {PTHREAD_MUTEX_INITIALIZER, NULL};

static struct {
	struct it_db db;
	struct it_producer producer;
	struct http_server *server;
	PGconn *conn;
} fx;

/* POST /hook: records the body; 500 when its payload contains "fail", else 200. */
static void hook_post(struct http_exchange *ex, void *opaque)
{
	json_t *body = http_exchange_parse_json(ex);
	const char *payload;
	int status;

	(void)opaque;
	if (body == NULL)
		return;
	payload = json_string_value(json_object_get(body, "payload"));
	status = payload && strstr(payload, "fail") ? 500 : 200;
	pthread_mutex_lock(&hook.mu);
	json_array_append(hook.bodies, body);
	pthread_mutex_unlock(&hook.mu);
	json_decref(body);
	http_exchange_respond(ex, status, json_pack("{s:b}", "ok", status == 200));
}

static const struct http_route hook_routes[] = {{"POST", "/hook", hook_post, NULL, 0}};

static int setup(void **state)
{
	struct http_server_options opts = {
	    .host = "127.0.0.1",
	    .port = 0,
	    .threads = 2,
	    .max_body_bytes = 1 << 20,
	    .max_connections = 16,
	    .idle_timeout_s = 30,
	};
	char errstr[256];

	(void)state;
	hook.bodies = json_array();
	fx.server = http_server_start(&opts, hook_routes, 1, errstr, sizeof(errstr));
	if (fx.server == NULL)
		fail_msg("webhook server: %s", errstr);
	it_db_create(&fx.db, "consumer_webhook");
	it_producer_start(&fx.producer, &fx.db, NULL);
	fx.conn = it_pg_connect(fx.db.conninfo);
	return 0;
}

static int teardown(void **state)
{
	int status;

	(void)state;
	PQfinish(fx.conn);
	status = it_producer_stop(&fx.producer);
	it_db_drop(&fx.db);
	http_server_stop(fx.server);
	json_decref(hook.bodies);
	assert_int_equal(status, 0);
	return 0;
}

/* Registers `topic` (1 partition) with `group`. */
static void register_topic(const char *topic, const char *group)
{
	struct it_response r = {0};
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":1,"
	         "\"consumerGroups\":[{\"consumerGroupName\":\"%s\"}]}",
	         topic, group);
	if (it_post(&fx.producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

static int64_t send_message(const char *topic, const char *text)
{
	struct it_response r = {0};
	char body[512];
	int64_t id;

	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"%s\",\"key\":\"k\"}", topic,
	         text);
	if (it_post(&fx.producer, "/api/messages/send", body, &r) != 201)
		fail_msg("send to %s answered %ld: %s", topic, r.status, r.text);
	id = json_integer_value(it_json_get(r.json, "messageId"));
	it_response_free(&r);
	assert_true(id > 0);
	return id;
}

/* The status and errorMessage of `group` in GET /api/messages/{id}. */
static void group_status(int64_t id, const char *group, char *status, size_t status_size,
                         char *error, size_t error_size)
{
	struct it_response r = {0};
	char path[64];
	json_t *g;
	size_t i;

	snprintf(path, sizeof(path), "/api/messages/%" PRId64, id);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	snprintf(status, status_size, "(absent)");
	error[0] = '\0';
	json_array_foreach (it_json_get(r.json, "groups"), i, g) {
		if (strcmp(it_json_string(g, "consumerGroup"), group) != 0)
			continue;
		snprintf(status, status_size, "%s", it_json_string(g, "status"));
		if (json_string_value(json_object_get(g, "errorMessage")))
			snprintf(error, error_size, "%s",
			         json_string_value(json_object_get(g, "errorMessage")));
	}
	it_response_free(&r);
}

/* How many POSTs the webhook received for message `id`; *copy gets the last one (a new
 * reference, or NULL). */
static int hook_posts_for(int64_t id, json_t **copy)
{
	json_t *b;
	size_t i;
	int n = 0;

	if (copy)
		*copy = NULL;
	pthread_mutex_lock(&hook.mu);
	json_array_foreach (hook.bodies, i, b) {
		if (json_integer_value(json_object_get(b, "messageId")) != id)
			continue;
		n++;
		if (copy) {
			json_decref(*copy);
			*copy = json_deep_copy(b);
		}
	}
	pthread_mutex_unlock(&hook.mu);
	return n;
}

static void test_webhook_receives_messages_and_failures_are_negative_acks(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], url[128], status[64], error[512];
	char g[256], t[256], producer_url[128];
	const char *env[] = {
	    g,   t, producer_url, "FERRY_PROCESSOR=webhook", url, "FERRY_HEARTBEAT_INTERVAL_S=2",
	    NULL};
	struct it_producer consumer;
	int64_t ok_id, bad_id, deadline;
	json_t *posted;

	(void)state;
	it_topic(topic, sizeof(topic), "webhook");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	ok_id = send_message(topic, "good");
	bad_id = send_message(topic, "please fail");

	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(producer_url, sizeof(producer_url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	snprintf(url, sizeof(url), "FERRY_WEBHOOK_URL=http://127.0.0.1:%d/hook",
	         http_server_port(fx.server));
	it_consumer_start(&consumer, &fx.db, env);

	/* The good message: processed, acknowledged, POSTed exactly once with its fields. */
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery WHERE message_id"
	                            " = %" PRId64 " AND consumer_group = '%s'"
	                            " AND status = 'ACKNOWLEDGED'",
	                            ok_id, group));
	group_status(ok_id, group, status, sizeof(status), error, sizeof(error));
	assert_string_equal(status, "ACKNOWLEDGED");
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64 " AND consumer_group = '%s'",
	                            ok_id, group),
	                 1);
	assert_int_equal(hook_posts_for(ok_id, &posted), 1);
	assert_string_equal(it_json_string(posted, "topic"), topic);
	assert_string_equal(it_json_string(posted, "payload"), "good");
	assert_string_equal(it_json_string(posted, "consumerGroup"), group);
	assert_string_equal(it_json_string(posted, "key"), "k");
	json_decref(posted);

	/* The failing one: a failed_message row, not processed, a negative ack naming HTTP 500. */
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"
	                            " WHERE message_id = %" PRId64 " AND consumer_group = '%s'",
	                            bad_id, group));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64,
	                            bad_id),
	                 0);
	assert_true(hook_posts_for(bad_id, NULL) >= 1);
	deadline = it_now_ms() + WAIT_MS;
	do {
		group_status(bad_id, group, status, sizeof(status), error, sizeof(error));
		if (strstr(error, "HTTP 500"))
			break;
		it_sleep_ms(100);
	} while (it_now_ms() < deadline);
	if (!strstr(error, "HTTP 500"))
		fail_msg("negative ack not seen: status %s, error '%s'", status, error);
	assert_string_not_equal(status, "ACKNOWLEDGED");
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"));
	assert_int_equal(it_producer_stop(&consumer), 0);
	/* Nothing was POSTed again meanwhile. */
	assert_int_equal(hook_posts_for(ok_id, NULL), 1);
	printf("webhook: good message acknowledged; failing one: status %s, error '%s'\n", status,
	       error);
}

/* A record with 64 user headers (the most the API takes) plus ferry's own: every one of them
 * reaches the processor (the consumer once read at most 64 and dropped the rest silently). */
static void test_every_header_reaches_the_processor(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], url[128], g[256], t[256], producer_url[128];
	const char *env[] = {
	    g,   t, producer_url, "FERRY_PROCESSOR=webhook", url, "FERRY_HEARTBEAT_INTERVAL_S=2",
	    NULL};
	struct it_producer consumer;
	struct it_response r = {0};
	char body[4096], name[16], want[16];
	json_t *posted, *headers;
	size_t len;
	int64_t id;
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "headers");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	len =
	    (size_t)snprintf(body, sizeof(body),
	                     "{\"topic\":\"%s\",\"message\":\"many headers\",\"headers\":{", topic);
	for (i = 0; i < 64; i++)
		len += (size_t)snprintf(body + len, sizeof(body) - len, "%s\"h%02d\":\"v%02d\"",
		                        i ? "," : "", i, i);
	snprintf(body + len, sizeof(body) - len, "}}");
	if (it_post(&fx.producer, "/api/messages/send", body, &r) != 201)
		fail_msg("send answered %ld: %s", r.status, r.text);
	id = json_integer_value(it_json_get(r.json, "messageId"));
	it_response_free(&r);

	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(producer_url, sizeof(producer_url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	snprintf(url, sizeof(url), "FERRY_WEBHOOK_URL=http://127.0.0.1:%d/hook",
	         http_server_port(fx.server));
	it_consumer_start(&consumer, &fx.db, env);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery WHERE message_id"
	                            " = %" PRId64 " AND consumer_group = '%s'"
	                            " AND status = 'ACKNOWLEDGED'",
	                            id, group));
	assert_int_equal(hook_posts_for(id, &posted), 1);
	headers = json_object_get(posted, "headers");
	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "h%02d", i);
		snprintf(want, sizeof(want), "v%02d", i);
		if (json_string_value(json_object_get(headers, name)) == NULL ||
		    strcmp(json_string_value(json_object_get(headers, name)), want) != 0)
			fail_msg("header %s did not reach the processor (it got %zu headers)", name,
			         json_object_size(headers));
	}
	assert_non_null(json_object_get(headers, FERRY_HEADER_MESSAGE_ID));
	printf("headers: the processor got %zu headers (64 of the user's)\n",
	       json_object_size(headers));
	json_decref(posted);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_webhook_receives_messages_and_failures_are_negative_acks),
	    cmocka_unit_test(test_every_header_reaches_the_processor),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
