/*
 * test_traceparent.c - a W3C traceparent travels with its message: given as the send request's
 * HTTP header, as the body's field, or in ferry.enqueue's headers, it is a header of the Kafka
 * record, is stored in the consumer's processed row, and appears in the consumer's log line
 * for the message. A malformed one is refused with a 400 and nothing is written.
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
#define TP_HTTP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
#define TP_BODY "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
#define TP_SQL  "00-11111111111111111111111111111111-2222222222222222-00"

static struct it_fixture fx;

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "traceparent", NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

static int64_t send_with(const char *body, const char *const *headers)
{
	struct it_response r = {0};
	int64_t id;

	if (it_http_with_headers(&fx.producer, "POST", "/api/messages/send", "application/json",
	                         body, strlen(body), headers, &r) != 201)
		fail_msg("send answered %ld: %s", r.status, r.text);
	id = (int64_t)json_integer_value(it_json_get(r.json, "id"));
	it_response_free(&r);
	return id;
}

static void test_traceparent_end_to_end(void **state)
{
	static const char *const http_tp[] = {"traceparent: " TP_HTTP, NULL};
	static const char *const bad_tp[] = {"traceparent: 00-zz", NULL};
	char topic[IT_TOPIC_MAX], group[160], body[512], *log = NULL;
	const char *env[] = {"FERRY_PROCESSOR=log", NULL};
	struct it_producer c = {0};
	struct it_records recs = {0};
	struct it_response r = {0};
	int64_t ids[3];
	size_t i, len = 0;
	FILE *f;

	(void)state;
	it_topic(topic, sizeof(topic), "trace");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"consumerGroups\":[{\"consumerGroupName\":\"%s\"}]}",
	         topic, group);
	assert_int_equal(it_post(&fx.producer, "/api/topics/register", body, &r), 201);

	/* HTTP header; body field (it wins over the header); SQL door's headers. */
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"key\":\"a\",\"message\":\"one\"}", topic);
	ids[0] = send_with(body, http_tp);
	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"key\":\"b\",\"message\":\"two\",\"traceparent\":\"" TP_BODY
	         "\"}",
	         topic);
	ids[1] = send_with(body, http_tp);
	ids[2] = it_sql_int(
	    fx.conn,
	    "SELECT ferry.enqueue('%s', 'c', 'three', '{\"traceparent\": \"" TP_SQL "\"}')", topic);
	/* A malformed one: 400, nothing written. */
	assert_int_equal(it_http_with_headers(&fx.producer, "POST", "/api/messages/send",
	                                      "application/json", body, strlen(body), bad_tp, &r),
	                 400);
	assert_non_null(strstr(it_json_string(r.json, "error"), "traceparent"));
	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"message\":\"x\",\"traceparent\":\"00-abc\"}", topic);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &r), 400);
	it_response_free(&r);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s'",
	                            topic),
	                 3);

	/* On Kafka, as a record header. */
	it_kafka_read(topic, 3, WAIT_MS, &recs);
	assert_int_equal(recs.n, 3);
	for (i = 0; i < recs.n; i++) {
		int64_t id =
		    strtoll(it_record_header(&recs.v[i], FERRY_HEADER_MESSAGE_ID), NULL, 10);
		const char *want = id == ids[0] ? TP_HTTP : id == ids[1] ? TP_BODY : TP_SQL;

		it_assert_header(&recs.v[i], "traceparent", want);
	}
	it_records_free(&recs);

	/* In the consumer's processed rows and its log lines. */
	it_consumer_start_group(&c, &fx.db, &fx.producer, group, topic, env);
	assert_true(it_wait_sql_int(fx.conn, 3, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE consumer_group = '%s' AND traceparent IS NOT NULL",
	                            group));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message WHERE"
	                            " (message_id, traceparent) IN ((%" PRId64 ", '" TP_HTTP
	                            "'), (%" PRId64 ", '" TP_BODY "'), (%" PRId64 ", '" TP_SQL
	                            "'))",
	                            ids[0], ids[1], ids[2]),
	                 3);
	assert_int_equal(it_producer_stop(&c), 0);
	f = fopen(c.log_path, "r");
	assert_non_null(f);
	assert_true(getdelim(&log, &len, '\0', f) > 0);
	fclose(f);
	assert_non_null(strstr(log, "traceparent=" TP_HTTP));
	assert_non_null(strstr(log, "traceparent=" TP_SQL));
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_traceparent_end_to_end),
	};
	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
