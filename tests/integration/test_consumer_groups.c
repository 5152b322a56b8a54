/*
 * test_consumer_groups.c - what consumer groups promise: every group processes every message of
 * its topic once (and the producer sees each group acknowledge), instances of one group split
 * the partitions and together process each message once, and a record delivered again (same
 * ferry-message-id) is recognised and not processed twice.
 *
 * Processing is observed through the example plugin, which writes one row per processing into
 * example_processed in the processing transaction: a second processing would show as a second
 * row.
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

#define WAIT_MS 90000

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "consumer_groups", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Registers `topic` with `partitions` partitions and the groups (NULL-ended) over REST. */
static void register_topic(const char *topic, int partitions, const char *const *groups)
{
	struct it_response r = {0};
	char body[1024];
	int len;

	len = snprintf(body, sizeof(body),
	               "{\"topicName\":\"%s\",\"partitions\":%d,\"consumerGroups\":[", topic,
	               partitions);
	for (; *groups; groups++)
		len += snprintf(body + len, sizeof(body) - (size_t)len,
		                "%s{\"consumerGroupName\":\"%s\"}", body[len - 1] == '[' ? "" : ",",
		                *groups);
	snprintf(body + len, sizeof(body) - (size_t)len, "]}");
	if (it_post(&fx.producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

/* Starts a consumer of `group` on `topic`, processing with the example plugin. */
static void start_consumer(struct it_producer *c, const char *group, const char *topic)
{
	char g[512], t[512], url[128]; /* room for any group (Release builds check it) */
	const char *env[] = {g,
	                     t,
	                     url,
	                     "FERRY_PROCESSOR=plugin",
	                     "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN,
	                     "FERRY_HEARTBEAT_INTERVAL_S=2",
	                     NULL};

	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(url, sizeof(url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	it_consumer_start(c, &fx.db, env);
}

/* Sends n messages over 20 keys with one send-batch request. */
static void send_messages(const char *topic, int n)
{
	struct it_response r = {0};
	char *body = malloc((size_t)n * 96 + 32);
	int i, len = 0;

	assert_non_null(body);
	len += sprintf(body + len, "[");
	for (i = 0; i < n; i++)
		len +=
		    sprintf(body + len, "%s{\"topic\":\"%s\",\"key\":\"k%d\",\"message\":\"m%d\"}",
		            i ? "," : "", topic, i % 20, i);
	sprintf(body + len, "]");
	if (it_post(&fx.producer, "/api/messages/send-batch", body, &r) != 201)
		fail_msg("send-batch answered %ld: %s", r.status, r.text);
	it_response_free(&r);
	free(body);
}

static void test_every_group_processes_every_message_once(void **state)
{
	char topic[IT_TOPIC_MAX], groups[3][160];
	const char *names[4];
	struct it_producer consumers[3] = {{0}};
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "threegroups");
	for (i = 0; i < 3; i++) {
		snprintf(groups[i], sizeof(groups[i]), "%s-g%d", topic, i);
		names[i] = groups[i];
	}
	names[3] = NULL;
	register_topic(topic, 3, names);
	for (i = 0; i < 3; i++)
		start_consumer(&consumers[i], groups[i], topic);
	send_messages(topic, 300);

	/* Every message acknowledged by all three groups, hence ACKNOWLEDGED as a whole. */
	assert_true(it_wait_sql_int(fx.conn, 300, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'"
	                            " AND status = 'ACKNOWLEDGED'",
	                            topic));
	for (i = 0; i < 3; i++) {
		assert_int_equal(it_sql_int(fx.conn,
		                            "SELECT count(*) FROM example_processed"
		                            " WHERE consumer_group = '%s'",
		                            groups[i]),
		                 300);
		assert_int_equal(
		    it_sql_int(fx.conn,
		               "SELECT count(DISTINCT message_id) FROM example_processed"
		               " WHERE consumer_group = '%s'",
		               groups[i]),
		    300);
		assert_int_equal(
		    it_sql_int(fx.conn,
		               "SELECT count(*) FROM ferry.message_delivery"
		               " WHERE consumer_group = '%s' AND status = 'ACKNOWLEDGED'",
		               groups[i]),
		    300);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(it_producer_stop(&consumers[i]), 0);
}

static void test_two_instances_split_the_partitions(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	const char *names[2] = {group, NULL};
	struct it_producer a = {0}, b = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "twoinstances");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, 6, names);
	start_consumer(&a, group, topic);
	start_consumer(&b, group, topic);
	/* Let the group settle with both members before the stream starts. */
	it_sleep_ms(3000);
	send_messages(topic, 600);

	assert_true(it_wait_sql_int(fx.conn, 600, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE consumer_group = '%s' AND status = 'ACKNOWLEDGED'",
	                            group));
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM example_processed WHERE consumer_group = '%s'", group),
	    600);
	/* Both instances did part of the work. */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(DISTINCT consumer_instance_id)"
	               " FROM ferry_consumer.processed_message WHERE consumer_group = '%s'",
	               group),
	    2);
	assert_int_equal(it_producer_stop(&a), 0);
	assert_int_equal(it_producer_stop(&b), 0);
}

/* Produces `rec` again, byte for byte (key, value, headers), to `topic`: a redelivery. */
static void produce_again(const char *topic, const struct it_record *rec)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(rec->header_count);
	rd_kafka_t *rk;
	size_t i;

	assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", getenv("FERRY_TEST_KAFKA"),
	                                   errstr, sizeof(errstr)),
	                 RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	for (i = 0; i < rec->header_count; i++)
		rd_kafka_header_add(hdrs, rec->headers[i].name, -1, rec->headers[i].value, -1);
	assert_int_equal(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
	                                   RD_KAFKA_V_KEY(rec->key, rec->key_len),
	                                   RD_KAFKA_V_VALUE(rec->value, rec->value_len),
	                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	                                   RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END),
	                 RD_KAFKA_RESP_ERR_NO_ERROR);
	assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
}

static void test_redelivered_record_is_not_processed_twice(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	const char *names[2] = {group, NULL};
	struct it_producer c = {0};
	struct it_records recs = {0};
	const char *id_text;
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "redelivery");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, 1, names);
	start_consumer(&c, group, topic);
	send_messages(topic, 1);
	it_kafka_read(topic, 1, WAIT_MS, &recs);
	assert_int_equal(recs.n, 1);
	id_text = it_record_header(&recs.v[0], FERRY_HEADER_MESSAGE_ID);
	assert_non_null(id_text);
	id = strtoll(id_text, NULL, 10);
	assert_true(it_wait_sql_int(
	    fx.conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	    " AND status = 'ACKNOWLEDGED'",
	    id));

	produce_again(topic, &recs.v[0]);
	assert_int_equal(it_kafka_count(topic), 2);
	/* One partition: once a message sent after the copy is processed, the copy was read. */
	send_messages(topic, 1);
	assert_true(it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE consumer_group = '%s'",
	                            group));
	/* The copy was acknowledged again (no ack left behind) but processed only once. */
	assert_true(it_wait_sql_int(fx.conn, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"));
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM example_processed WHERE message_id = %" PRId64, id),
	    1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64,
	                            id),
	                 1);
	it_records_free(&recs);
	assert_int_equal(it_producer_stop(&c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_group_processes_every_message_once),
	    cmocka_unit_test(test_two_instances_split_the_partitions),
	    cmocka_unit_test(test_redelivered_record_is_not_processed_twice),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
