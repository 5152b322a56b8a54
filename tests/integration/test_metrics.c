/*
 * test_metrics.c - GET /metrics on both services: every metric the operators' issue names is
 * present in the Prometheus text format and moves the right way after traffic: enqueued,
 * published, acknowledged, failed and retried counters by topic (and group), the outbox backlog
 * gauges, the two latency histograms, the relay's batch sizes and delivery errors, HTTP requests
 * by route and status; on the consumer, processed/duplicate/failed counts and the ack backlog.
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

static const char *const producer_env[] = {
    "FERRY_RETRY_INTERVAL_MS=200",
    "FERRY_RETRY_BACKOFF_BASE_MS=100",
    NULL,
};

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "metrics", producer_env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

static void assert_family(const char *text, const char *name, const char *type)
{
	char want[256];

	snprintf(want, sizeof(want), "# TYPE %s %s\n", name, type);
	if (strstr(text, want) == NULL)
		fail_msg("no '%s' in /metrics", want);
}

/*
 * A delivery sent 10 s ago and not acknowledged shows in the group's gauges; once its retry is
 * due it shows in the retry job's backlog. A second session locks its message meanwhile, so the
 * job (which skips locked rows) leaves it there to be seen. Cleans up after itself.
 */
static void assert_delivery_gauges_move(const char *topic, const char *group)
{
	PGconn *holder = it_pg_connect(fx.db.conninfo);
	char unacked[512], oldest[512], *text;
	int64_t id;

	snprintf(unacked, sizeof(unacked),
	         "ferry_deliveries_unacknowledged{topic=\"%s\",group=\"%s\"}", topic, group);
	snprintf(oldest, sizeof(oldest),
	         "ferry_delivery_oldest_unacknowledged_age_seconds{topic=\"%s\",group=\"%s\"}",
	         topic, group);
	id =
	    it_sql_int(fx.conn,
	               "INSERT INTO ferry.outbox_message (topic, payload, status, sent_at)"
	               " VALUES ('%s', 'held', 'SENT', now() - interval '10 seconds') RETURNING id",
	               topic);
	it_sql_exec(fx.conn,
	            "INSERT INTO ferry.message_delivery (message_id, consumer_group_id,"
	            " consumer_group, status, sent_at, due_at)"
	            " SELECT %" PRId64 ", g.id, g.consumer_group_name, 'SENT',"
	            " now() - interval '10 seconds', now() + interval '1 hour'"
	            " FROM ferry.consumer_group_registration g WHERE g.consumer_group_name = '%s'",
	            id, group);
	text = it_scrape_metrics(&fx.producer);
	assert_true(it_metric_sample(text, unacked) == 1);
	assert_true(it_metric_sample(text, oldest) >= 10);
	assert_true(it_metric_sample(text, "ferry_retry_due_deliveries") == 0);
	free(text);

	it_sql_exec(holder, "BEGIN");
	it_sql_exec(holder, "SELECT 1 FROM ferry.outbox_message WHERE id = %" PRId64 " FOR UPDATE",
	            id);
	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET due_at = now() - interval '1 second'"
	            " WHERE message_id = %" PRId64,
	            id);
	text = it_scrape_metrics(&fx.producer);
	assert_true(it_metric_sample(text, "ferry_retry_due_deliveries") == 1);
	free(text);
	/* Done with it before the job may take it. */
	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET status = 'ACKNOWLEDGED' WHERE message_id = "
	            "%" PRId64,
	            id);
	it_sql_exec(holder, "ROLLBACK");
	it_sql_exec(fx.conn, "DELETE FROM ferry.outbox_message WHERE id = %" PRId64, id);
	PQfinish(holder);
}

/*
 * An acknowledgment can arrive before the relay has recorded the send (the consumer read the
 * record first). It is still observed by the latency histogram, so the histogram's count keeps
 * matching ferry_messages_acknowledged_total. Here the relay holds the row back (a backoff) until
 * the acknowledgment is in, then sends it.
 */
static void assert_early_ack_is_observed(const char *topic, const char *group)
{
	char acked[512], observed[512], body[512], *text;
	struct it_response r = {0};
	double acked_before, observed_before;
	int64_t id;

	snprintf(acked, sizeof(acked),
	         "ferry_messages_acknowledged_total{topic=\"%s\",group=\"%s\"}", topic, group);
	snprintf(observed, sizeof(observed),
	         "ferry_publish_to_ack_seconds_count{topic=\"%s\",group=\"%s\"}", topic, group);
	text = it_scrape_metrics(&fx.producer);
	acked_before = it_metric_sample(text, acked);
	observed_before = it_metric_sample(text, observed);
	free(text);
	assert_true(acked_before == observed_before);

	id = it_sql_int(
	    fx.conn,
	    "INSERT INTO ferry.outbox_message (topic, message_key, payload, next_attempt_at)"
	    " VALUES ('%s', 'early', 'acked first', now() + interval '1 hour') RETURNING id",
	    topic);
	snprintf(body, sizeof(body),
	         "{\"messageId\":%" PRId64 ",\"consumerGroup\":\"%s\",\"success\":true}", id,
	         group);
	if (it_post(&fx.producer, FERRY_PATH_ACKNOWLEDGE, body, &r) != 200)
		fail_msg("acknowledge answered %ld: %s", r.status, r.text);
	assert_string_equal(it_json_string(r.json, "results.0.result"), "recorded");
	it_response_free(&r);
	it_sql_exec(fx.conn,
	            "UPDATE ferry.outbox_message SET next_attempt_at = NULL WHERE id = %" PRId64,
	            id);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE id = %" PRId64
	                            " AND status = 'ACKNOWLEDGED'",
	                            id));

	text = it_scrape_metrics(&fx.producer);
	assert_true(it_metric_sample(text, acked) == acked_before + 1);
	assert_true(it_metric_sample(text, observed) == observed_before + 1);
	free(text);
}

static void test_metrics_move_with_traffic(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], body[1024], s[512];
	const char *env[] = {"FERRY_PROCESSOR=plugin",
	                     "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN, NULL};
	struct it_producer c = {0};
	struct it_response r = {0};
	char *before, *after, *cons;
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "metrics");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s\",\"maxRetries\":1}]}",
	    topic, group);
	assert_int_equal(it_post(&fx.producer, "/api/topics/register", body, &r), 201);
	before = it_scrape_metrics(&fx.producer);
	/* Present before any traffic. */
	assert_family(before, "ferry_messages_enqueued_total", "counter");
	assert_family(before, "ferry_messages_published_total", "counter");
	assert_family(before, "ferry_messages_acknowledged_total", "counter");
	assert_family(before, "ferry_messages_failed_total", "counter");
	assert_family(before, "ferry_messages_retried_total", "counter");
	assert_family(before, "ferry_outbox_backlog", "gauge");
	assert_family(before, "ferry_outbox_oldest_pending_age_seconds", "gauge");
	assert_family(before, "ferry_deliveries_unacknowledged", "gauge");
	assert_family(before, "ferry_delivery_oldest_unacknowledged_age_seconds", "gauge");
	assert_family(before, "ferry_retry_due_deliveries", "gauge");
	assert_family(before, "ferry_commit_to_publish_seconds", "histogram");
	assert_family(before, "ferry_publish_to_ack_seconds", "histogram");
	assert_family(before, "ferry_relay_batch_size", "histogram");
	assert_family(before, "ferry_kafka_delivery_errors_total", "counter");
	assert_family(before, "ferry_http_requests_total", "counter");
	assert_true(it_metric_sample(before, "ferry_database_up") == 1);
	/* A registered group is listed before it has had any delivery. */
	snprintf(s, sizeof(s), "ferry_deliveries_unacknowledged{topic=\"%s\",group=\"%s\"}", topic,
	         group);
	assert_true(it_metric_sample(before, s) == 0);

	/* 20 messages, 2 of which always fail: with maxRetries 1 they are retried once, then
	 * FAILED. */
	for (i = 0; i < 20; i++) {
		snprintf(body, sizeof(body),
		         "{\"topic\":\"%s\",\"key\":\"k%d\",\"message\":\"%s %d\"}", topic, i % 4,
		         i < 2 ? "fail" : "ok", i);
		assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 201);
	}
	assert_int_equal(it_get(&fx.producer, "/api/messages/999999999", &r), 404);
	it_response_free(&r);
	it_consumer_start_group(&c, &fx.db, &fx.producer, group, topic, env);
	assert_true(
	    it_wait_sql_int(fx.conn, 18, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE consumer_group"
	                    " = '%s' AND status = 'ACKNOWLEDGED'",
	                    group));
	assert_true(
	    it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE consumer_group"
	                    " = '%s' AND status = 'FAILED'",
	                    group));
	after = it_scrape_metrics(&fx.producer);

	snprintf(s, sizeof(s), "ferry_messages_enqueued_total{topic=\"%s\"}", topic);
	assert_true(it_metric_sample(before, s) < 0);
	assert_true(it_metric_sample(after, s) == 20);
	snprintf(s, sizeof(s), "ferry_messages_published_total{topic=\"%s\"}", topic);
	assert_true(it_metric_sample(after, s) == 20);
	snprintf(s, sizeof(s), "ferry_messages_acknowledged_total{topic=\"%s\",group=\"%s\"}",
	         topic, group);
	assert_true(it_metric_sample(after, s) == 18);
	snprintf(s, sizeof(s),
	         "ferry_messages_negatively_acknowledged_total{topic=\"%s\",group=\"%s\"}", topic,
	         group);
	assert_true(it_metric_sample(after, s) == 4); /* 2 messages x (first attempt + 1 retry) */
	snprintf(s, sizeof(s), "ferry_messages_retried_total{topic=\"%s\",group=\"%s\"}", topic,
	         group);
	assert_true(it_metric_sample(after, s) == 2);
	snprintf(s, sizeof(s), "ferry_messages_failed_total{topic=\"%s\",group=\"%s\"}", topic,
	         group);
	assert_true(it_metric_sample(after, s) == 2);
	snprintf(s, sizeof(s), "ferry_commit_to_publish_seconds_count{topic=\"%s\"}", topic);
	assert_true(it_metric_sample(after, s) == 20);
	snprintf(s, sizeof(s), "ferry_publish_to_ack_seconds_count{topic=\"%s\",group=\"%s\"}",
	         topic, group);
	assert_true(it_metric_sample(after, s) == 18);
	snprintf(s, sizeof(s),
	         "ferry_publish_to_ack_seconds_bucket{topic=\"%s\",group=\"%s\",le=\"+Inf\"}",
	         topic, group);
	assert_true(it_metric_sample(after, s) == 18);
	assert_true(it_metric_sample(after, "ferry_relay_batch_size_count") >=
	            (it_metric_sample(before, "ferry_relay_batch_size_count") < 0
	                 ? 1
	                 : it_metric_sample(before, "ferry_relay_batch_size_count") + 1));
	assert_true(it_metric_sample(after, "ferry_relay_batch_size_sum") >= 20);
	assert_true(it_metric_sample(after, "ferry_kafka_delivery_errors_total") == 0);
	assert_true(it_metric_sample(after, "ferry_outbox_backlog") == 0);
	assert_true(it_metric_sample(after, "ferry_outbox_oldest_pending_age_seconds") == 0);
	assert_true(it_metric_sample(
	                after, "ferry_http_requests_total{method=\"POST\",route=\"/api/messages/"
	                       "send\",status=\"201\"}") >= 20);
	assert_true(it_metric_sample(
	                after, "ferry_http_requests_total{method=\"GET\",route=\"/api/messages/"
	                       "{id}\",status=\"404\"}") == 1);
	assert_true(it_metric_sample(
	                after, "ferry_http_requests_total{method=\"POST\",route=\"/api/messages/"
	                       "acknowledge\",status=\"200\"}") >= 1);

	/* The consumer's own. */
	cons = it_scrape_metrics(&c);
	snprintf(s, sizeof(s), "ferry_consumer_messages_processed_total{group=\"%s\"}", group);
	assert_true(it_metric_sample(cons, s) == 18);
	snprintf(s, sizeof(s), "ferry_consumer_messages_failed_total{group=\"%s\"}", group);
	assert_true(it_metric_sample(cons, s) == 4);
	snprintf(s, sizeof(s), "ferry_consumer_messages_duplicate_total{group=\"%s\"}", group);
	assert_true(it_metric_sample(cons, s) == 0);
	/* Every acknowledgment was accepted (the producer recorded them all, waited for above). */
	assert_true(it_metric_sample(cons, "ferry_consumer_ack_backlog") == 0);
	assert_true(it_metric_sample(cons, "ferry_database_up") == 1);
	assert_family(cons, "ferry_http_requests_total", "counter");

	/* The ack backlog grows when the producer cannot be reached: a second group's consumer,
	 * pointed at a port nothing listens on, processes the topic and keeps its 20 acks. (The
	 * first consumer stops first: consumers sharing a database share its ack outbox, and any of
	 * them delivers any ack.) */
	assert_int_equal(it_producer_stop(&c), 0);
	{
		struct it_producer nowhere = {.port = 1}, orphan = {0};
		char orphan_group[200];
		char *text = NULL;
		int64_t deadline = it_now_ms() + WAIT_MS;

		snprintf(orphan_group, sizeof(orphan_group), "%s-orphan", group);
		it_consumer_start_group(&orphan, &fx.db, &nowhere, orphan_group, topic, env);
		while (it_now_ms() < deadline) {
			free(text);
			text = it_scrape_metrics(&orphan);
			if (it_metric_sample(text, "ferry_consumer_ack_backlog") == 20)
				break;
			it_sleep_ms(200);
		}
		assert_true(it_metric_sample(text, "ferry_consumer_ack_backlog") == 20);
		assert_true(it_metric_sample(text, "ferry_consumer_ack_oldest_age_seconds") > 0);
		free(text);
		assert_int_equal(it_producer_stop(&orphan), 0);
	}

	/* Everything settled: nothing unacknowledged, nothing due. */
	free(after);
	after = it_scrape_metrics(&fx.producer);
	snprintf(s, sizeof(s), "ferry_deliveries_unacknowledged{topic=\"%s\",group=\"%s\"}", topic,
	         group);
	assert_true(it_metric_sample(after, s) == 0);
	assert_true(it_metric_sample(after, "ferry_retry_due_deliveries") == 0);
	assert_delivery_gauges_move(topic, group);
	assert_early_ack_is_observed(topic, group);

	/* A backlog shows on the producer: a row held back by a backoff, 10 s old, counts. */
	it_sql_exec(fx.conn, "INSERT INTO ferry.outbox_message (topic, payload, next_attempt_at,"
	                     " created_at) VALUES ('metrics-held', 'p', now() + interval '1 hour',"
	                     " now() - interval '10 seconds')");
	free(after);
	after = it_scrape_metrics(&fx.producer);
	assert_true(it_metric_sample(after, "ferry_outbox_backlog") == 1);
	assert_true(it_metric_sample(after, "ferry_outbox_oldest_pending_age_seconds") >= 10);
	it_sql_exec(fx.conn, "DELETE FROM ferry.outbox_message WHERE topic = 'metrics-held'");
	free(before);
	free(after);
	free(cons);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics_move_with_traffic),
	};
	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
