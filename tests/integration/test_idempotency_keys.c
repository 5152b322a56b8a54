/*
 * test_idempotency_keys.c - idempotency keys are compared whole, in the producer's scope
 * (group and topic), and never cut (issue 11, item 1):
 *
 * - two messages whose 280-byte keys share their first 255 bytes are both processed (a consumer
 *   that compared 255 bytes processed the first and acknowledged the second unprocessed);
 * - a key whose 255th byte falls inside a UTF-8 character is processed, and the partition goes
 *   on (a cut key was invalid UTF-8, refused by PostgreSQL on every retry: the partition stuck);
 * - one group reading two topics processes a message of each that reuse a key, while a second
 *   record with the same key on the same topic is still a duplicate;
 * - a record whose key is over the limit (produced by something else than ferry) is refused
 *   visibly, a failed_message row and a negative acknowledgment, and the partition goes on;
 * - an inbox written by the previous schema (consumer version 3) keeps deduplicating after the
 *   upgrade.
 *
 * Processing is observed through the example plugin, which writes one row per processing into
 * example_processed in the processing transaction.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 60000

static struct it_fixture fx;

static const char *const plugin_env[] = {"FERRY_PROCESSOR=plugin",
                                         "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN,
                                         "FERRY_HEARTBEAT_INTERVAL_S=2", NULL};

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "idempotency_keys", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Registers `topic` (1 partition: records are read in the order they were produced) with
 * `group`. */
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

/* Sends `text` to `topic` with idempotency key `idem` (no JSON escaping needed); fails the test
 * unless 201 (a new message). Returns the message id. */
static int64_t send_with_key(const char *topic, const char *text, const char *idem)
{
	struct it_response r = {0};
	char body[2048];
	int64_t id;

	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"message\":\"%s\",\"idempotencyKey\":\"%s\","
	         "\"useBatching\":false}",
	         topic, text, idem);
	if (it_post(&fx.producer, "/api/messages/send", body, &r) != 201)
		fail_msg("send to %s answered %ld: %s", topic, r.status, r.text);
	id = json_integer_value(it_json_get(r.json, "messageId"));
	it_response_free(&r);
	assert_true(id > 0);
	return id;
}

/* Produces one record to `topic` straight to Kafka (not through ferry), value `value`, with
 * the headers ferry-message-id = `id` and ferry-idempotency-key = `idem`. */
static void produce_raw(const char *topic, int64_t id, const char *idem, const char *value)
{
	char errstr[512], idtext[24];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(2);
	rd_kafka_t *rk;

	snprintf(idtext, sizeof(idtext), "%" PRId64, id);
	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", getenv("FERRY_TEST_KAFKA"),
	                                   errstr, sizeof(errstr)),
	                 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	rd_kafka_header_add(hdrs, FERRY_HEADER_MESSAGE_ID, -1, idtext, -1);
	rd_kafka_header_add(hdrs, FERRY_HEADER_IDEMPOTENCY_KEY, -1, idem, -1);
	assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
	                                   RD_KAFKA_V_VALUE((void *)value, strlen(value)),
	                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                                   RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END),
	                 RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
}

/* How often `group` processed message `id` (rows the example plugin wrote). */
static int64_t processed_times(PGconn *conn, const char *group, int64_t id)
{
	return it_sql_int(conn,
	                  "SELECT count(*) FROM example_processed WHERE consumer_group = '%s'"
	                  " AND message_id = %" PRId64,
	                  group, id);
}

static void wait_acknowledged(const char *group, int64_t id)
{
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery WHERE message_id"
	                            " = %" PRId64 " AND consumer_group = '%s'"
	                            " AND status = 'ACKNOWLEDGED'",
	                            id, group));
}

/* Keys past 255 bytes: compared whole, and a UTF-8 character on the old cut is no poison. */
static void test_long_keys_are_compared_whole(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], k1[300], k2[300], k3[300];
	struct it_producer c = {0};
	int64_t id1, id2, id3, id4;

	(void)state;
	it_topic(topic, sizeof(topic), "idem-long");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	/* 280 bytes, the first 255 shared. */
	memset(k1, 'p', 279);
	k1[279] = '1';
	k1[280] = '\0';
	memcpy(k2, k1, 281);
	k2[279] = '2';
	/* 254 ASCII bytes, then U+00E9 on bytes 255-256, then more. */
	memset(k3, 'u', 254);
	snprintf(k3 + 254, sizeof(k3) - 254, "\xc3\xa9-tail");
	id1 = send_with_key(topic, "first", k1);
	id2 = send_with_key(topic, "second", k2);
	id3 = send_with_key(topic, "utf8", k3);
	id4 = it_send_message(&fx.producer, topic, "k", "after");
	assert_true(id1 != id2);

	it_consumer_start_group(&c, &fx.db, &fx.producer, group, topic, plugin_env);
	wait_acknowledged(group, id4);
	wait_acknowledged(group, id1);
	wait_acknowledged(group, id2);
	wait_acknowledged(group, id3);
	assert_int_equal(processed_times(fx.conn, group, id1), 1);
	assert_int_equal(processed_times(fx.conn, group, id2), 1);
	assert_int_equal(processed_times(fx.conn, group, id3), 1);
	assert_int_equal(processed_times(fx.conn, group, id4), 1);
	/* The inbox holds the keys whole. */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry_consumer.processed_message"
	               " WHERE consumer_group = '%s' AND idempotency_key IN ('%s', '%s',"
	               " '%s')",
	               group, k1, k2, k3),
	    3);
	assert_int_equal(it_producer_stop(&c), 0);
}

/* The producer keeps a key unique per topic; so does the consumer now. One group reading two
 * topics processes the message of each that reuse a key; the same key again on the same topic
 * (a different message id: another producer database, say) is a duplicate. */
static void test_same_key_on_two_topics_is_two_messages(void **state)
{
	char t1[IT_TOPIC_MAX], t2[IT_TOPIC_MAX], group[160], topics[2 * IT_TOPIC_MAX + 1];
	struct it_producer c = {0};
	int64_t id1, id2, copy_id, after;

	(void)state;
	it_topic(t1, sizeof(t1), "idem-a");
	it_topic(t2, sizeof(t2), "idem-b");
	snprintf(group, sizeof(group), "%s-g", t1);
	register_topic(t1, group);
	register_topic(t2, group);
	snprintf(topics, sizeof(topics), "%s,%s", t1, t2);
	id1 = send_with_key(t1, "order paid", "payment-77");
	id2 = send_with_key(t2, "order paid", "payment-77");
	it_consumer_start_group(&c, &fx.db, &fx.producer, group, topics, plugin_env);
	wait_acknowledged(group, id1);
	wait_acknowledged(group, id2);
	assert_int_equal(processed_times(fx.conn, group, id1), 1);
	assert_int_equal(processed_times(fx.conn, group, id2), 1);

	/* Same topic, same key, another id: not processed. One partition: once a later message
	 * is processed, the copy was read. */
	copy_id = id2 + 1000000;
	produce_raw(t1, copy_id, "payment-77", "order paid");
	after = it_send_message(&fx.producer, t1, "k", "after");
	wait_acknowledged(group, after);
	assert_int_equal(processed_times(fx.conn, group, copy_id), 0);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64,
	                            copy_id),
	                 0);
	assert_int_equal(
	    it_sql_int(
	        fx.conn,
	        "SELECT count(*) FROM ferry_consumer.failed_message WHERE consumer_group = '%s'",
	        group),
	    0);
	assert_int_equal(it_producer_stop(&c), 0);
}

/* A key over the limit, produced by something else than ferry: refused where everyone sees it,
 * and the partition moves on. */
static void test_key_over_the_limit_is_refused_not_wedged(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], big[700];
	struct it_producer c = {0};
	int64_t bad_id = 987654321, after;

	(void)state;
	it_topic(topic, sizeof(topic), "idem-big");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	memset(big, 'x', 600);
	big[600] = '\0';
	produce_raw(topic, bad_id, big, "from elsewhere");
	after = it_send_message(&fx.producer, topic, "k", "after");
	it_consumer_start_group(&c, &fx.db, &fx.producer, group, topic, plugin_env);
	wait_acknowledged(group, after);
	assert_int_equal(processed_times(fx.conn, group, after), 1);
	assert_int_equal(processed_times(fx.conn, group, bad_id), 0);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry_consumer.failed_message"
	               " WHERE message_id = %" PRId64 " AND consumer_group = '%s'"
	               " AND error_message LIKE '%%600 bytes, over the limit of 512%%'",
	               bad_id, group),
	    1);
	/* Its negative acknowledgment went to the producer (which knows no such message). */
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"));
	assert_int_equal(it_producer_stop(&c), 0);
}

/* Runs the SQL file `path` (relative to the source tree) on conn. */
static void run_sql_file(PGconn *conn, const char *path)
{
	char full[1024];
	FILE *f;
	char *text;
	long size;

	snprintf(full, sizeof(full), "%s/%s", FERRY_SOURCE_DIR, path);
	f = fopen(full, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", full);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	it_sql_exec(conn, "%s", text);
	free(text);
}

/* An inbox of consumer schema version 3 (deduplicating per group) keeps deduplicating what it
 * processed once ferry-consumer upgraded it. */
static void test_upgrade_keeps_deduplicating(void **state)
{
	static const char *const versions[] = {"001_inbox.sql", "002_inbox_retention.sql",
	                                       "003_traceparent.sql"};
	char topic[IT_TOPIC_MAX], group[160], path[128];
	struct it_producer c = {0};
	struct it_db old = {0};
	PGconn *conn;
	int64_t again, fresh;
	size_t i;

	(void)state;
	it_topic(topic, sizeof(topic), "idem-upgrade");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	/* The consumer's own database, as version 3 left it, with one message processed. */
	it_db_create(&old, "idem_upgrade");
	conn = it_pg_connect(old.conninfo);
	it_sql_exec(conn, "CREATE SCHEMA ferry; CREATE TABLE ferry.schema_version (component text"
	                  " NOT NULL, version integer NOT NULL, name text NOT NULL, applied_at"
	                  " timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))");
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "sql/consumer/%s", versions[i]);
		run_sql_file(conn, path);
		it_sql_exec(conn,
		            "INSERT INTO ferry.schema_version (component, version, name)"
		            " VALUES ('consumer', %zu, '%s')",
		            i + 1, versions[i]);
	}
	it_sql_exec(
	    conn,
	    "INSERT INTO ferry_consumer.processed_message (message_id, consumer_group,"
	    " topic, partition, kafka_offset, idempotency_key, consumer_service_id,"
	    " consumer_instance_id) VALUES (424242, '%s', '%s', 0, 0, 'invoice-9', 's', 'i')",
	    group, topic);

	/* The same key again on the same topic (the producer forgot the first: another id). */
	again = send_with_key(topic, "invoice again", "invoice-9");
	fresh = send_with_key(topic, "invoice new", "invoice-10");
	it_consumer_start_group(&c, &old, &fx.producer, group, topic, plugin_env);
	wait_acknowledged(group, fresh);
	wait_acknowledged(group, again);
	assert_int_equal(it_sql_int(conn, "SELECT count(*) FROM ferry.schema_version"
	                                  " WHERE component = 'consumer' AND version = 4"),
	                 1);
	assert_int_equal(processed_times(conn, group, fresh), 1);
	assert_int_equal(
	    it_sql_int(conn, "SELECT count(*) FROM example_processed WHERE message_id = %" PRId64,
	               again),
	    0);
	assert_int_equal(it_sql_int(conn, "SELECT count(*) FROM ferry_consumer.processed_message"
	                                  " WHERE idempotency_key = 'invoice-9'"),
	                 1);
	assert_int_equal(it_producer_stop(&c), 0);
	PQfinish(conn);
	it_db_drop(&old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_long_keys_are_compared_whole),
	    cmocka_unit_test(test_same_key_on_two_topics_is_two_messages),
	    cmocka_unit_test(test_key_over_the_limit_is_refused_not_wedged),
	    cmocka_unit_test(test_upgrade_keeps_deduplicating),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
