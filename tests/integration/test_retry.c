/*
 * test_retry.c - redelivery by the retry job: a group that fails or never acknowledges gets the
 * message again, with growing backoff, until it succeeds or its budget is spent (FAILED after
 * negative acknowledgments, EXPIRED after timeouts); other groups never process the
 * redelivery; infinite retry keeps going, never before the scheduled time; consumers that were
 * down get it when they return; two producers running the job republish each attempt once;
 * a group's shortened timeout applies to the deliveries already waiting. After each test no
 * outstanding delivery's due_at (the retry job's index) is later than its due time.
 *
 * Failures come from the example plugin: a payload "fail" always fails, "fail-first-2" fails
 * until the group has recorded two failures. Intervals are short and configured (200 ms job,
 * 200 ms backoff base), never waited out at production values.
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
    "FERRY_RETRY_BACKOFF_BASE_MS=200",
    "FERRY_RETRY_BACKOFF_MAX_MS=1600",
    "FERRY_RETRY_BATCH_SIZE=2",
    NULL,
};

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "retry", producer_env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Registers `topic` (2 partitions) with one group: its timeout (seconds) and max retries. */
static void register_topic(const struct it_producer *p, const char *topic, const char *group,
                           int timeout_s, int max_retries, const char *other_group)
{
	struct it_response r = {0};
	char body[1024];

	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":["
	         "{\"consumerGroupName\":\"%s\",\"acknowledgmentTimeoutSeconds\":%d,"
	         "\"maxRetries\":%d}%s%s%s]}",
	         topic, group, timeout_s, max_retries,
	         other_group ? ",{\"consumerGroupName\":\"" : "", other_group ? other_group : "",
	         other_group ? "\"}" : "");
	if (it_post(p, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

/* A consumer of `group` on `topic`: the example plugin, or the log processor when `plugin` is
 * false (it always succeeds). */
static void start_consumer(struct it_producer *c, const char *group, const char *topic, bool plugin,
                           const char *instance)
{
	char inst[160];
	const char *env[] = {plugin ? "FERRY_PROCESSOR=plugin" : "FERRY_PROCESSOR=log",
	                     "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN,
	                     "FERRY_HEARTBEAT_INTERVAL_S=1", instance ? inst : NULL, NULL};

	snprintf(inst, sizeof(inst), "INSTANCE_ID=%s", instance ? instance : "");
	it_consumer_start_group(c, &fx.db, &fx.producer, group, topic, env);
}

static int64_t send_one(const char *topic, const char *key, const char *payload)
{
	return it_send_message(&fx.producer, topic, key, payload);
}

static int64_t delivery_int(int64_t id, const char *group, const char *column)
{
	return it_sql_int(fx.conn,
	                  "SELECT coalesce((SELECT %s FROM ferry.message_delivery"
	                  " WHERE message_id = %" PRId64 " AND consumer_group = '%s'), -1)",
	                  column, id, group);
}

/* The group's counters on the consumer's health endpoint. */
static int64_t consumer_counter(const struct it_producer *c, const char *counter)
{
	struct it_response r = {0};
	char path[64];
	int64_t v;

	if (it_get(c, "/api/consumer/health", &r) != 200)
		fail_msg("consumer health answered %ld: %s", r.status, r.text);
	snprintf(path, sizeof(path), "groups.0.%s", counter);
	v = (int64_t)json_integer_value(it_json_get(r.json, path));
	it_response_free(&r);
	return v;
}

/* Waits until the consumer's counter reaches `want`. */
static bool it_wait_until_counter(const struct it_producer *c, const char *counter, int64_t want,
                                  int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	while (consumer_counter(c, counter) < want) {
		if (it_now_ms() > deadline)
			return false;
		it_sleep_ms(100);
	}
	return true;
}

/* The records of message `id` on `topic` (total `want` records expected on the topic). */
static size_t records_of(const char *topic, size_t want, int64_t id, struct it_records *recs,
                         const struct it_record **out, size_t max)
{
	char idbuf[32];
	size_t i, n = 0;

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	it_kafka_read(topic, want, WAIT_MS, recs);
	for (i = 0; i < recs->n && n < max; i++) {
		const char *h = it_record_header(&recs->v[i], FERRY_HEADER_MESSAGE_ID);

		if (h && strcmp(h, idbuf) == 0)
			out[n++] = &recs->v[i];
	}
	return n;
}

static void test_fails_twice_then_succeeds_other_group_once(void **state)
{
	char topic[IT_TOPIC_MAX], a[160], b[160];
	struct it_producer ca = {0}, cb = {0};
	struct it_records recs = {0};
	const struct it_record *mine[8];
	int64_t id;
	size_t n, i;

	(void)state;
	it_topic(topic, sizeof(topic), "retry-twice");
	snprintf(a, sizeof(a), "%s-a", topic);
	snprintf(b, sizeof(b), "%s-b", topic);
	register_topic(&fx.producer, topic, a, 60, 5, b);
	start_consumer(&ca, a, topic, true, NULL);
	start_consumer(&cb, b, topic, false, NULL);
	id = send_one(topic, "k1", "fail-first-2");

	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE id = %" PRId64 " AND status = 'ACKNOWLEDGED'",
	                            id));
	assert_int_equal(delivery_int(id, a, "retry_count"), 2);
	assert_int_equal(delivery_int(id, b, "retry_count"), 0);
	/* Group a failed twice, then processed it; group b processed it once, skipped both
	 * redeliveries (addressed to a), and never saw them as duplicates. */
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"
	                            " WHERE message_id = %" PRId64 " AND consumer_group = '%s'",
	                            id, a),
	                 2);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM example_processed WHERE message_id = %" PRId64
	               " AND consumer_group = '%s'",
	               id, a),
	    1);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64 " AND consumer_group = '%s'",
	                            id, b),
	                 1);
	assert_true(it_wait_until_counter(&cb, "skipped", 2, WAIT_MS));
	assert_int_equal(consumer_counter(&cb, "duplicates"), 0);
	assert_int_equal(consumer_counter(&cb, "processed"), 1);

	/* On Kafka: the original and two redeliveries addressed to group a, numbered 1 and 2. */
	n = records_of(topic, 3, id, &recs, mine, 8);
	assert_int_equal(n, 3);
	assert_null(it_record_header(mine[0], FERRY_HEADER_RETRY_COUNT));
	for (i = 1; i < 3; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%zu", i);
		it_assert_header(mine[i], FERRY_HEADER_TARGET_GROUP, a);
		it_assert_header(mine[i], FERRY_HEADER_RETRY_COUNT, want);
	}
	/* The history tells both retries and their triggers. */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_event WHERE message_id = %" PRId64
	               " AND event = 'retried' AND detail->>'trigger' = 'negative_ack'",
	               id),
	    2);
	it_records_free(&recs);
	assert_int_equal(it_producer_stop(&ca), 0);
	assert_int_equal(it_producer_stop(&cb), 0);
}

static void test_max_retries_ends_failed_with_error(void **state)
{
	char topic[IT_TOPIC_MAX], g[160], path[256];
	struct it_producer c = {0};
	struct it_records recs = {0};
	struct it_response r = {0};
	const struct it_record *mine[8];
	char *err;
	int64_t id;
	json_t *item;

	(void)state;
	it_topic(topic, sizeof(topic), "retry-budget");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(&fx.producer, topic, g, 60, 3, NULL);
	start_consumer(&c, g, topic, true, NULL);
	id = send_one(topic, "k1", "always fail");

	assert_true(it_wait_sql_int(
	    fx.conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	    " AND status = 'FAILED'",
	    id));
	assert_int_equal(delivery_int(id, g, "retry_count"), 3);
	err = it_sql_text(
	    fx.conn, "SELECT error_message FROM ferry.message_delivery WHERE message_id = %" PRId64,
	    id);
	assert_non_null(strstr(err, "payload asks to fail"));
	free(err);
	/* The message as a whole is FAILED too, and it is a dead letter with its error. */
	err =
	    it_sql_text(fx.conn, "SELECT status FROM ferry.outbox_message WHERE id = %" PRId64, id);
	assert_string_equal(err, "FAILED");
	free(err);
	snprintf(path, sizeof(path), "/api/messages/failed?consumerGroup=%s", g);
	assert_int_equal(it_get(&fx.producer, path, &r), 200);
	assert_int_equal(json_array_size(it_json_get(r.json, "failed")), 1);
	item = it_json_get(r.json, "failed.0");
	assert_int_equal(json_integer_value(json_object_get(item, "messageId")), id);
	assert_string_equal(json_string_value(json_object_get(item, "status")), "FAILED");
	assert_int_equal(json_integer_value(json_object_get(item, "retryCount")), 3);
	assert_non_null(strstr(json_string_value(json_object_get(item, "errorMessage")),
	                       "payload asks to fail"));
	it_response_free(&r);

	/* Exactly 3 retries went out: 4 records, and 4 processing failures. */
	assert_int_equal(records_of(topic, 4, id, &recs, mine, 8), 4);
	it_records_free(&recs);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"
	                            " WHERE message_id = %" PRId64,
	                            id),
	                 4);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_event WHERE message_id = %" PRId64
	               " AND event = 'failed'",
	               id),
	    1);
	it_sleep_ms(1500); /* no fourth retry comes later */
	assert_int_equal(delivery_int(id, g, "retry_count"), 3);
	assert_int_equal(it_producer_stop(&c), 0);
}

static void test_infinite_retry_grows_and_respects_schedule(void **state)
{
	char topic[IT_TOPIC_MAX], g[160];
	struct it_producer c = {0};
	PGresult *res;
	int64_t id;
	int i, n;

	(void)state;
	it_topic(topic, sizeof(topic), "retry-forever");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(&fx.producer, topic, g, 60, -1, NULL);
	start_consumer(&c, g, topic, true, NULL);
	id = send_one(topic, "k1", "always fail");

	assert_true(it_wait_sql_int(
	    fx.conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	    " AND retry_count >= 6",
	    id));
	/* Still in play: -1 never settles. */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	               " AND status = 'SENT'",
	               id),
	    1);
	{
		char sql[256];

		snprintf(
		    sql, sizeof(sql),
		    "SELECT (detail->>'delayMs')::bigint, (extract(epoch FROM at) * 1000)::bigint"
		    " FROM ferry.message_event WHERE event = 'retried' AND message_id = %" PRId64
		    " ORDER BY id",
		    id);
		res = PQexec(fx.conn, sql);
	}
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	n = PQntuples(res);
	assert_true(n >= 6);
	for (i = 1; i < n; i++) {
		int64_t prev_delay = strtoll(PQgetvalue(res, i - 1, 0), NULL, 10);
		int64_t delay = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		int64_t gap = strtoll(PQgetvalue(res, i, 1), NULL, 10) -
		              strtoll(PQgetvalue(res, i - 1, 1), NULL, 10);

		/* Waits grow until the 1600 ms cap is reached (retry 4: 1600 nominal, jitter
		 * keeps at least half), and no retry came before its time. */
		if (i < 4 && delay < prev_delay)
			fail_msg("retry %d waited %" PRId64 " ms after %" PRId64 " ms", i + 1,
			         delay, prev_delay);
		assert_true(delay <= 1600);
		if (i >= 3)
			assert_true(delay >= 800);
		if (gap < prev_delay)
			fail_msg("retry %d came %" PRId64
			         " ms after the previous, before its %" PRId64 " ms backoff",
			         i + 1, gap, prev_delay);
	}
	assert_true(strtoll(PQgetvalue(res, n - 1, 0), NULL, 10) >
	            strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	PQclear(res);
	assert_int_equal(it_producer_stop(&c), 0);
}

/* PUT /api/topics/consumer-groups/{id} of the group `message_id` was delivered to, with `json`. */
static void update_group_of(int64_t message_id, const char *json)
{
	struct it_response r = {0};
	char path[128];

	snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" PRId64,
	         it_sql_int(fx.conn,
	                    "SELECT consumer_group_id FROM ferry.message_delivery"
	                    " WHERE message_id = %" PRId64,
	                    message_id));
	if (it_http(&fx.producer, "PUT", path, "application/json", json, strlen(json), &r) != 200)
		fail_msg("updating the group answered %ld: %s", r.status, r.text);
	it_response_free(&r);
}

/*
 * due_at must never be later than what ferry.delivery_due_at says (a later one would delay a
 * redelivery; an earlier one only costs the job a row read).
 */
static void assert_due_at_bounds(void)
{
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery d"
	               " JOIN ferry.consumer_group_registration g ON g.id = d.consumer_group_id"
	               " WHERE d.status = 'SENT' AND d.due_at > ferry.delivery_due_at(d, g)"),
	    0);
}

static int check_due_at(void **state)
{
	(void)state;
	assert_due_at_bounds();
	return 0;
}

/*
 * A topic `name` with one group (600 s timeout, 5 retries; its name into g) that no consumer
 * reads, and one message to it, waited for until SENT. Returns the message id.
 */
static int64_t send_to_unread_group(const char *name, char *g, size_t g_size)
{
	char topic[IT_TOPIC_MAX];
	int64_t id;

	it_topic(topic, sizeof(topic), name);
	snprintf(g, g_size, "%s-g", topic);
	register_topic(&fx.producer, topic, g, 600, 5, NULL);
	id = send_one(topic, "k1", "nobody reads this group");
	assert_true(
	    it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = "
	                    "%" PRId64 " AND status = 'SENT'",
	                    id));
	return id;
}

static void test_shortened_timeout_applies_to_waiting_deliveries(void **state)
{
	char g[160];
	int64_t id, due_in_s;

	(void)state;
	id = send_to_unread_group("retry-retune", g, sizeof(g));
	/* The relay set the delivery due when its 600 s timeout runs out. */
	due_in_s = it_sql_int(fx.conn,
	                      "SELECT extract(epoch FROM d.due_at - d.sent_at)::bigint"
	                      " FROM ferry.message_delivery d WHERE d.message_id = %" PRId64,
	                      id);
	assert_int_equal(due_in_s, 600);

	/* An operator shortens the timeout to 1 s: the waiting delivery is redelivered now, not
	 * ten minutes later. */
	update_group_of(id, "{\"acknowledgmentTimeoutSeconds\": 1}");
	assert_true(
	    it_wait_sql_int(fx.conn, 1, 20000,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = "
	                    "%" PRId64 " AND retry_count >= 1",
	                    id));
	/* ...because its (new) timeout ran out. */
	assert_true(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_event WHERE message_id = %" PRId64
	               " AND event = 'retried' AND detail->>'trigger' = 'timeout'",
	               id) >= 1);
	assert_due_at_bounds();
}

/*
 * A longer timeout does not rewrite the deliveries waiting (the operator's request stays short);
 * a due_at left too early, here set by hand, is moved to its real time by the job, which does
 * not redeliver it meanwhile.
 */
static void test_early_due_at_is_refreshed_not_redelivered(void **state)
{
	char g[160];
	int64_t id;

	(void)state;
	id = send_to_unread_group("retry-refresh", g, sizeof(g));
	update_group_of(id, "{\"acknowledgmentTimeoutSeconds\": 1200}");
	assert_int_equal(delivery_int(id, g, "extract(epoch FROM due_at - sent_at)::bigint"), 600);

	it_sql_exec(fx.conn,
	            "UPDATE ferry.message_delivery SET due_at = '-infinity' WHERE message_id = "
	            "%" PRId64,
	            id);
	assert_true(it_wait_sql_int(fx.conn, 1200, 20000,
	                            "SELECT CASE WHEN isfinite(due_at)"
	                            " THEN extract(epoch FROM due_at - sent_at)::bigint ELSE -1 END"
	                            " FROM ferry.message_delivery WHERE message_id = %" PRId64,
	                            id));
	assert_int_equal(delivery_int(id, g, "retry_count"), 0);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_event WHERE message_id = "
	                            "%" PRId64,
	                            id),
	                 0);
}

/*
 * The consumer's negative acknowledgment can reach the producer before the relay has marked
 * the message SENT (it read the record in between). It still counts: the retry job redelivers
 * after the backoff, not after the group's 600 s timeout. The enqueue and the acknowledgment
 * share a transaction here, so the relay can only mark the message after both.
 */
static void test_nack_before_the_relay_marks_sent_still_counts(void **state)
{
	char topic[IT_TOPIC_MAX], g[160];
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "retry-early-nack");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(&fx.producer, topic, g, 600, 5, NULL);
	it_sql_exec(fx.conn, "BEGIN");
	id = it_sql_int(fx.conn, "SELECT ferry.enqueue('%s', 'k1', 'fails at once')", topic);
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.acknowledge(ARRAY[%" PRId64 "], ARRAY['%s'],"
	               " ARRAY[false], ARRAY['boom'], ARRAY['it-svc'], ARRAY['it-inst'])"
	               " WHERE result = 'recorded'",
	               id, g),
	    1);
	it_sql_exec(fx.conn, "COMMIT");

	assert_true(it_wait_sql_int(fx.conn, 1, 20000,
	                            "SELECT count(*) FROM ferry.message_event WHERE message_id = "
	                            "%" PRId64 " AND event = 'retried'"
	                            " AND detail->>'trigger' = 'negative_ack'",
	                            id));
	/* The send it answered is not recorded as later than the answer. */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_delivery WHERE message_id = "
	               "%" PRId64 " AND sent_at <= negative_ack_at",
	               id),
	    1);
}

static void test_stopped_group_gets_it_when_back(void **state)
{
	char topic[IT_TOPIC_MAX], g[160];
	struct it_producer c = {0};
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "retry-away");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(&fx.producer, topic, g, 1, 10, NULL);
	/* The group exists and has its offsets; then its consumers go away. */
	start_consumer(&c, g, topic, true, NULL);
	assert_int_equal(it_producer_stop(&c), 0);
	id = send_one(topic, "k1", "hello while away");

	/* Past the 1 s acknowledgment timeout, the job redelivers; nobody is there. */
	assert_true(it_wait_sql_int(
	    fx.conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	    " AND retry_count >= 1 AND status = 'SENT'",
	    id));
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM ferry.message_event WHERE message_id = %" PRId64
	               " AND detail->>'trigger' = 'timeout'",
	               id) >= 1,
	    1);
	start_consumer(&c, g, topic, true, NULL);
	assert_true(it_wait_sql_int(
	    fx.conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	    " AND status = 'ACKNOWLEDGED'",
	    id));
	/* Processed once, however many copies were waiting on Kafka. */
	assert_int_equal(
	    it_sql_int(fx.conn,
	               "SELECT count(*) FROM example_processed WHERE message_id = %" PRId64, id),
	    1);
	assert_int_equal(it_producer_stop(&c), 0);
}

static void test_two_producers_republish_each_attempt_once(void **state)
{
	char topic[IT_TOPIC_MAX], g[160];
	struct it_producer second = {0}, c = {0};
	struct it_records recs = {0};
	int64_t first_id, i;
	int seen[20][4];

	(void)state;
	it_producer_start(&second, &fx.db, producer_env);
	it_topic(topic, sizeof(topic), "retry-two");
	snprintf(g, sizeof(g), "%s-g", topic);
	register_topic(&fx.producer, topic, g, 60, 3, NULL);
	start_consumer(&c, g, topic, true, NULL);
	first_id = send_one(topic, "k0", "fail 0");
	for (i = 1; i < 20; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%" PRId64, i);
		send_one(topic, key, "fail");
	}
	assert_true(
	    it_wait_sql_int(fx.conn, 20, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE consumer_group = "
	                    "'%s' AND status = 'FAILED'",
	                    g));
	/* Both instances run the job with small batches, so their passes interleave (which one
	 * takes which delivery is the scheduler's business: both usually appear in the history). */
	{
		int64_t actors = it_sql_int(fx.conn,
		                            "SELECT count(DISTINCT actor) FROM ferry.message_event"
		                            " WHERE event = 'retried' AND consumer_group = '%s'",
		                            g);

		assert_true(actors >= 1 && actors <= 2);
		print_message("retries were republished by %" PRId64 " instance(s)\n", actors);
	}
	/* ...and every message went out exactly 4 times: the original and retries 1, 2, 3. */
	it_sleep_ms(1000);
	it_kafka_read(topic, 80, WAIT_MS, &recs);
	assert_int_equal(recs.n, 80);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < (int64_t)recs.n; i++) {
		int64_t id =
		    strtoll(it_record_header(&recs.v[i], FERRY_HEADER_MESSAGE_ID), NULL, 10);
		const char *rc = it_record_header(&recs.v[i], FERRY_HEADER_RETRY_COUNT);
		int retry = rc ? atoi(rc) : 0;

		assert_true(id >= first_id && id < first_id + 20);
		assert_true(retry >= 0 && retry <= 3);
		seen[id - first_id][retry]++;
	}
	for (i = 0; i < 20; i++)
		for (int r = 0; r < 4; r++)
			if (seen[i][r] != 1)
				fail_msg("message %" PRId64 " attempt %d went out %d times",
				         first_id + i, r, seen[i][r]);
	it_records_free(&recs);
	assert_int_equal(it_producer_stop(&c), 0);
	assert_int_equal(it_producer_stop(&second), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_fails_twice_then_succeeds_other_group_once,
	                              check_due_at),
	    cmocka_unit_test_teardown(test_max_retries_ends_failed_with_error, check_due_at),
	    cmocka_unit_test_teardown(test_infinite_retry_grows_and_respects_schedule,
	                              check_due_at),
	    cmocka_unit_test_teardown(test_stopped_group_gets_it_when_back, check_due_at),
	    cmocka_unit_test_teardown(test_two_producers_republish_each_attempt_once, check_due_at),
	    cmocka_unit_test_teardown(test_shortened_timeout_applies_to_waiting_deliveries,
	                              check_due_at),
	    cmocka_unit_test_teardown(test_nack_before_the_relay_marks_sent_still_counts,
	                              check_due_at),
	    cmocka_unit_test_teardown(test_early_due_at_is_refreshed_not_redelivered, check_due_at),
	};
	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
