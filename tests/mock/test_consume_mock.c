/*
 * test_consume_mock.c - the consume loop against librdkafka's mock cluster (rdkafka_mock.h):
 * a consumer group that rebalances while records flow, and fetch errors, with no broker.
 * PostgreSQL is the stack's (FERRY_TEST_PG): the inbox is a real consumer schema in a database
 * of this program's own.
 *
 * Two loops of one group share a 4-partition topic: the second joining takes partitions from
 * the first, the first leaving hands them all to the second; meanwhile fetches and offset
 * commits fail for a while. Records produced before, between
 * and after reach the inbox exactly once, each processed once (a record delivered again after
 * a rebalance is a duplicate: acknowledged again, never processed again).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "consumer/consume_loop.h"
#include "mock_harness.h"
#include "producer/relay/message_headers.h"

#define PARTITIONS 4

static struct mock_harness mh;
static PGconn *conn;                      /* mh.conn */
static rd_kafka_mock_cluster_t *mcluster; /* mh.cluster */
static const char *bootstraps;            /* mh.bootstraps */

static int group_setup(void **state)
{
	(void)state;
	log_init(LOG_LEVEL_WARN, LOG_FORMAT_TEXT); /* not a line per processed record */
	if (mock_harness_open(&mh, "mock_consume", "consumer", 3) != 0)
		return -1;
	conn = mh.conn;
	mcluster = mh.cluster;
	bootstraps = mh.bootstraps;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	mock_harness_close(&mh);
	return 0;
}

/* Produces messages first..last as the relay would (ferry headers, key "k<id % 16>") to the mock
 * cluster, and waits until they are all acknowledged by it. */
static void produce(const char *topic, int64_t first, int64_t last)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	int64_t id;

	assert_int_equal(
	    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, sizeof(errstr)),
	    RD_KAFKA_CONF_OK);
	assert_int_equal(
	    rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof(errstr)),
	    RD_KAFKA_CONF_OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	assert_non_null(rk);
	for (id = first; id <= last; id++) {
		struct message_header_fields f = {
		    .message_id = id,
		    .producer_service_id = "mock-test",
		    .producer_instance_id = "mock-test-1",
		    .created_at = "2026-01-01T00:00:00.000000Z",
		};
		char key[32], value[32];
		rd_kafka_headers_t *hdrs = message_headers_build(&f);
		rd_kafka_resp_err_t err;

		assert_non_null(hdrs);
		snprintf(key, sizeof(key), "k%d", (int)(id % 16));
		snprintf(value, sizeof(value), "message %" PRId64, id);
		err =
		    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
		                      RD_KAFKA_V_VALUE(value, strlen(value)),
		                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		                      RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
		if (err) {
			rd_kafka_headers_destroy(hdrs);
			fail_msg("produce: %s", rd_kafka_err2str(err));
		}
	}
	assert_int_equal(rd_kafka_flush(rk, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
	rd_kafka_destroy(rk);
}

static struct consume_loop *loop_start(const char *group, const char *topic, const char *instance)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *topics[] = {topic};
	const struct processor_options proc = {.kind = "log"};
	const struct consume_loop_options opts = {
	    .group = group,
	    .topics = topics,
	    .topic_count = 1,
	    .conninfo = mh.db.conninfo,
	    .service_id = "mock-consumer",
	    .instance_id = instance,
	    .poll_timeout_ms = 50,
	    .processor = &proc,
	    .close_timeout_ms = 10000,
	};
	/* As ferry-consumer configures it (main.c's consumer_defaults), with a quick group. */
	const char *settings[][2] = {
	    {"bootstrap.servers", bootstraps},
	    {"group.id", group},
	    {"client.id", instance},
	    {"auto.offset.reset", "earliest"},
	    {"enable.auto.offset.store", "false"},
	    {"enable.auto.commit", "true"},
	    {"auto.commit.interval.ms", "100"},
	    {"session.timeout.ms", "6000"},
	    {"heartbeat.interval.ms", "200"},
	    {"topic.metadata.refresh.interval.ms", "1000"},
	    {"log_level", "3"},
	};
	struct consume_loop *loop;
	size_t i;

	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		assert_int_equal(
		    rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof(errstr)),
		    RD_KAFKA_CONF_OK);
	loop = consume_loop_new(&opts, conf, errstr, sizeof(errstr));
	if (loop == NULL)
		fail_msg("consume_loop_new: %s", errstr);
	if (consume_loop_start(loop, errstr, sizeof(errstr)) != 0)
		fail_msg("consume_loop_start: %s", errstr);
	return loop;
}

struct two_loops {
	struct consume_loop *a, *b;
	int want_a, want_b; /* partitions each must hold; -1 any > 0 */
};

static bool assignment_is(void *arg)
{
	struct two_loops *t = arg;
	struct consume_loop_status sa = {0}, sb = {0};

	if (t->a)
		consume_loop_status(t->a, &sa);
	if (t->b)
		consume_loop_status(t->b, &sb);
	if (sa.assigned_partitions + sb.assigned_partitions != PARTITIONS)
		return false;
	return (t->want_a < 0 ? sa.assigned_partitions > 0 : sa.assigned_partitions == t->want_a) &&
	       (t->want_b < 0 ? sb.assigned_partitions > 0 : sb.assigned_partitions == t->want_b);
}

static void wait_inbox(const char *group, const char *topic, int64_t n)
{
	assert_true(it_wait_sql_int(conn, n, 60000,
	                            "SELECT count(*) FROM ferry_consumer.processed_message "
	                            "WHERE consumer_group = '%s' AND topic = '%s'",
	                            group, topic));
}

static void test_rebalance_keeps_exactly_once(void **state)
{
	char topic[IT_TOPIC_MAX], group[IT_TOPIC_MAX];
	struct two_loops t = {0};
	struct consume_loop_status sa, sb;

	(void)state;
	it_topic(topic, sizeof(topic), "mock-rebalance");
	it_topic(group, sizeof(group), "mock-group");
	assert_int_equal(rd_kafka_mock_topic_create(mcluster, topic, PARTITIONS, 3), 0);
	produce(topic, 1, 200);
	t.a = loop_start(group, topic, "member-a");
	t.want_a = PARTITIONS;
	assert_true(it_wait_until(assignment_is, &t, 30000));
	wait_inbox(group, topic, 200);

	/* A second member joins: the partitions are shared between them. */
	t.b = loop_start(group, topic, "member-b");
	t.want_a = -1;
	t.want_b = -1;
	assert_true(it_wait_until(assignment_is, &t, 30000));
	/* Fetches and offset commits fail for a while, as with a broker in trouble: the loops
	 * fetch again, and what is delivered again is a duplicate, not processed again. */
	rd_kafka_mock_push_request_errors(
	    mcluster, 1 /* Fetch */, 4, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
	    RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
	    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
	rd_kafka_mock_push_request_errors(
	    mcluster, 8 /* OffsetCommit */, 3, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
	    RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR__TRANSPORT);
	produce(topic, 201, 400);
	wait_inbox(group, topic, 400);

	/* The first leaves while records flow: the second takes every partition over. */
	produce(topic, 401, 600);
	consume_loop_request_stop(t.a);
	consume_loop_join(t.a);
	consume_loop_status(t.a, &sa);
	consume_loop_destroy(t.a);
	t.a = NULL;
	t.want_a = 0;
	t.want_b = PARTITIONS;
	assert_true(it_wait_until(assignment_is, &t, 30000));
	produce(topic, 601, 800);
	wait_inbox(group, topic, 800);
	consume_loop_status(t.b, &sb);
	consume_loop_request_stop(t.b);
	consume_loop_join(t.b);
	consume_loop_destroy(t.b);

	/* Every message once in the inbox, each processed by exactly one member, once. */
	assert_int_equal(it_sql_int(conn,
	                            "SELECT count(DISTINCT message_id) FROM "
	                            "ferry_consumer.processed_message WHERE consumer_group = '%s' "
	                            "AND message_id BETWEEN 1 AND 800",
	                            group),
	                 800);
	assert_int_equal(sa.processed + sb.processed, 800);
	assert_true(sa.processed > 0 && sb.processed > 0);
	assert_int_equal(sa.failed + sb.failed, 0);
	printf("rebalance: member a processed %" PRId64 ", member b %" PRId64
	       ", duplicates acknowledged again %" PRId64 "\n",
	       sa.processed, sb.processed, sa.duplicates + sb.duplicates);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rebalance_keeps_exactly_once),
	};

	return it_finish(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
