/*
 * test_send.c - the REST door end to end: a message POSTed to /api/messages/send reaches its
 * Kafka topic with its key, payload and headers, and its outbox row turns SENT with the
 * record's partition and offset. Also: idempotency keys, send-batch atomicity, the pending
 * list's paging, and /api/messages/health.
 *
 * One database and one producer (relay on) serve the program; the paging test adds a second
 * database served by a producer without a relay, so that its rows stay PENDING.
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

#define SERVICE_ID "it-send-service"
#define WAIT_MS    30000 /* for a row to be published */

static struct it_fixture fx;

static int setup(void **state)
{
	static const char *const env[] = {"SERVICE_ID=" SERVICE_ID, NULL};

	(void)state;
	it_fixture_open(&fx, "send", env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

static json_int_t json_int_at(json_t *root, const char *dotted)
{
	json_t *v = it_json_get(root, dotted);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", dotted);
	return json_integer_value(v);
}

static bool row_sent(json_int_t id)
{
	return it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                       "SELECT count(*) FROM ferry.outbox_message"
	                       " WHERE id = %" JSON_INTEGER_FORMAT " AND status = 'SENT'",
	                       id);
}

/* Sends one message and follows it to Kafka, the outbox row and GET /api/messages/{id}. */
static void check_send(bool batching, const char *message_json, const char *want_payload)
{
	char topic[IT_TOPIC_MAX], body[2048], idem[160], id_text[32], path[64];
	struct it_response r = {0};
	struct it_records recs;
	struct it_record *rec;
	json_int_t id;
	char *created_at;

	it_topic(topic, sizeof(topic), batching ? "send-batched" : "send-now");
	snprintf(idem, sizeof(idem), "idem-%s", topic);
	snprintf(body, sizeof(body),
	         "{\"topic\": \"%s\", \"key\": \"order-42\", \"message\": %s,"
	         " \"headers\": {\"x-trace\": \"trace-7\"}, \"idempotencyKey\": \"%s\","
	         " \"useBatching\": %s}",
	         topic, message_json, idem, batching ? "true" : "false");

	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 201);
	id = json_int_at(r.json, "id");
	assert_true(id > 0);
	assert_int_equal(json_int_at(r.json, "messageId"), id);
	assert_true(json_is_false(it_json_get(r.json, "duplicate")));
	assert_string_equal(it_json_string(r.json, "topic"), topic);

	assert_true(row_sent(id));
	it_kafka_read(topic, 1, WAIT_MS, &recs);
	assert_int_equal(recs.n, 1);
	rec = &recs.v[0];
	assert_non_null(rec->key);
	assert_string_equal(rec->key, "order-42");
	assert_non_null(rec->value);
	assert_string_equal(rec->value, want_payload);
	snprintf(id_text, sizeof(id_text), "%" JSON_INTEGER_FORMAT, id);
	it_assert_header(rec, FERRY_HEADER_MESSAGE_ID, id_text);
	it_assert_header(rec, FERRY_HEADER_IDEMPOTENCY_KEY, idem);
	it_assert_header(rec, FERRY_HEADER_PRODUCER_SERVICE_ID, SERVICE_ID);
	it_assert_header(rec, "x-trace", "trace-7");
	created_at = it_sql_text(fx.conn,
	                         "SELECT to_char(created_at AT TIME ZONE 'UTC',"
	                         " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
	                         " FROM ferry.outbox_message WHERE id = %s",
	                         id_text);
	it_assert_header(rec, FERRY_HEADER_CREATED_AT, created_at);
	free(created_at);

	/* The row records where the record landed. */
	assert_int_equal(
	    it_sql_int(fx.conn, "SELECT kafka_partition FROM ferry.outbox_message WHERE id = %s",
	               id_text),
	    rec->partition);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT kafka_offset FROM ferry.outbox_message WHERE id = %s",
	                            id_text),
	                 rec->offset);

	snprintf(path, sizeof(path), "/api/messages/%s", id_text);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_int_equal(json_int_at(r.json, "id"), id);
	assert_string_equal(it_json_string(r.json, "status"), "SENT");
	assert_string_equal(it_json_string(r.json, "topic"), topic);
	assert_int_equal(json_int_at(r.json, "partition"), rec->partition);
	assert_int_equal(json_int_at(r.json, "offset"), rec->offset);

	it_records_free(&recs);
	it_response_free(&r);
}

static void test_send_unbatched(void **state)
{
	(void)state;
	/* A JSON document as the message travels as its compact text. */
	check_send(false, "{\"event\": \"created\", \"n\": 1}", "{\"event\":\"created\",\"n\":1}");
}

static void test_send_batched(void **state)
{
	(void)state;
	check_send(true, "\"h\\u00e9llo \xe2\x9c\x93\"", "h\xc3\xa9llo \xe2\x9c\x93");
}

static void test_idempotency_key_dedups(void **state)
{
	char topic[IT_TOPIC_MAX], now[512], batched[512];
	struct it_response r = {0};
	json_int_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "dedup");
	snprintf(now, sizeof(now),
	         "{\"topic\": \"%s\", \"message\": \"once\", \"idempotencyKey\": \"pay-1\","
	         " \"useBatching\": false}",
	         topic);
	snprintf(batched, sizeof(batched),
	         "{\"topic\": \"%s\", \"message\": \"once\", \"idempotencyKey\": \"pay-1\"}",
	         topic);

	assert_int_equal(it_post(&fx.producer, "/api/messages/send", now, &r), 201);
	id = json_int_at(r.json, "id");
	assert_true(json_is_false(it_json_get(r.json, "duplicate")));

	assert_int_equal(it_post(&fx.producer, "/api/messages/send", now, &r), 200);
	assert_int_equal(json_int_at(r.json, "id"), id);
	assert_true(json_is_true(it_json_get(r.json, "duplicate")));

	assert_true(row_sent(id));
	/* Still one message once it is published, and through the batcher too. */
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", batched, &r), 200);
	assert_int_equal(json_int_at(r.json, "id"), id);
	assert_true(json_is_true(it_json_get(r.json, "duplicate")));

	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                            topic),
	                 1);
	assert_int_equal(it_kafka_count(topic), 1);
	it_response_free(&r);
}

/* {"messages": [50 messages on topic]}, element `bad` (if >= 0) with an invalid topic. */
static char *batch_body(const char *topic, int bad)
{
	json_t *messages = json_array(), *body;
	char *text;
	int i;

	for (i = 0; i < 50; i++)
		json_array_append_new(messages, json_pack("{s:s, s:s+, s:s+}", "topic",
		                                          i == bad ? "not a topic!" : topic, "key",
		                                          "key-", i % 2 ? "odd" : "even", "message",
		                                          "message-", i < 10 ? "low" : "high"));
	body = json_pack("{s:o}", "messages", messages);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	assert_non_null(text);
	return text;
}

static void test_send_batch_is_atomic(void **state)
{
	char topic[IT_TOPIC_MAX], *body;
	struct it_response r = {0};
	json_t *results;
	size_t i;

	(void)state;
	it_topic(topic, sizeof(topic), "send-batch");

	body = batch_body(topic, 37);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send-batch", body, &r), 400);
	free(body);
	assert_non_null(strstr(it_json_string(r.json, "error"), "messages[37]"));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                            topic),
	                 0);

	body = batch_body(topic, -1);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send-batch", body, &r), 201);
	free(body);
	assert_int_equal(json_int_at(r.json, "count"), 50);
	assert_int_equal(json_int_at(r.json, "created"), 50);
	results = it_json_get(r.json, "results");
	assert_int_equal(json_array_size(results), 50);
	for (i = 1; i < 50; i++) /* in input order, so ids ascend */
		assert_true(json_int_at(json_array_get(results, i), "id") >
		            json_int_at(json_array_get(results, i - 1), "id"));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                            topic),
	                 50);
	assert_true(it_wait_sql_int(fx.conn, 50, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'SENT'",
	                            topic));
	assert_int_equal(it_kafka_count(topic), 50);
	it_response_free(&r);
}

/* One page of GET /api/messages/pending: its ids, and nextAfterId (0 for null). */
static void check_page(const struct it_producer *p, const char *query, const json_int_t *want,
                       size_t n, json_int_t want_next)
{
	char path[128];
	struct it_response r = {0};
	json_t *items, *next;
	size_t i;

	snprintf(path, sizeof(path), "/api/messages/pending%s", query);
	assert_int_equal(it_get(p, path, &r), 200);
	items = it_json_get(r.json, "items");
	assert_true(json_is_array(items));
	assert_int_equal(json_array_size(items), n);
	for (i = 0; i < n; i++) {
		assert_int_equal(json_int_at(json_array_get(items, i), "id"), want[i]);
		assert_string_equal(it_json_string(json_array_get(items, i), "status"), "PENDING");
	}
	next = it_json_get(r.json, "nextAfterId");
	if (want_next == 0)
		assert_true(json_is_null(next));
	else
		assert_int_equal(json_int_at(r.json, "nextAfterId"), want_next);
	it_response_free(&r);
}

static void test_pending_paging(void **state)
{
	static const char *const env[] = {"FERRY_RELAY_ENABLED=false", NULL};
	char topic[IT_TOPIC_MAX], body[256], q[64];
	struct it_response r = {0};
	struct it_producer api;
	struct it_db db;
	json_int_t ids[5];
	int i;

	(void)state;
	it_db_create(&db, "send_norelay");
	it_producer_start(&api, &db, env);
	it_topic(topic, sizeof(topic), "pending");

	check_page(&api, "", NULL, 0, 0);
	for (i = 0; i < 5; i++) {
		snprintf(body, sizeof(body),
		         "{\"topic\": \"%s\", \"message\": \"m%d\", \"useBatching\": %s}", topic, i,
		         i % 2 ? "true" : "false");
		assert_int_equal(it_post(&api, "/api/messages/send", body, &r), 201);
		ids[i] = json_int_at(r.json, "id");
	}
	check_page(&api, "?limit=2", ids, 2, ids[1]);
	snprintf(q, sizeof(q), "?limit=2&afterId=%" JSON_INTEGER_FORMAT, ids[1]);
	check_page(&api, q, ids + 2, 2, ids[3]);
	snprintf(q, sizeof(q), "?limit=2&afterId=%" JSON_INTEGER_FORMAT, ids[3]);
	check_page(&api, q, ids + 4, 1, 0);
	check_page(&api, "?limit=1000", ids, 5, 0);

	/* Without a relay the rows wait, and health says how many. */
	assert_int_equal(it_get(&api, "/api/messages/health", &r), 200);
	assert_int_equal(json_int_at(r.json, "outbox.pending"), 5);
	assert_true(json_is_false(it_json_get(r.json, "relay.enabled")));

	it_response_free(&r);
	assert_int_equal(it_producer_stop(&api), 0);
	it_db_drop(&db);
}

static void test_health(void **state)
{
	struct it_response r = {0};

	(void)state;
	assert_int_equal(it_get(&fx.producer, "/api/messages/health", &r), 200);
	assert_string_equal(it_json_string(r.json, "status"), "Healthy");
	assert_string_equal(it_json_string(r.json, "serviceId"), SERVICE_ID);
	assert_true(json_is_true(it_json_get(r.json, "database.ok")));
	assert_true(json_is_true(it_json_get(r.json, "kafka.ok")));
	assert_true(json_int_at(r.json, "kafka.brokers") >= 1);
	assert_true(json_is_true(it_json_get(r.json, "relay.running")));
	assert_true(json_int_at(r.json, "outbox.pending") >= 0);
	assert_true(json_int_at(r.json, "relay.published") >= 1); /* the earlier tests' rows */
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_send_unbatched),
	    cmocka_unit_test(test_send_batched),
	    cmocka_unit_test(test_idempotency_key_dedups),
	    cmocka_unit_test(test_send_batch_is_atomic),
	    cmocka_unit_test(test_pending_paging),
	    cmocka_unit_test(test_health),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
