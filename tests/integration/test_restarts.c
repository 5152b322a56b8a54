/*
 * test_restarts.c - the producer rides out PostgreSQL and Kafka restarts by itself.
 *
 * A sender thread streams messages over HTTP (~30/s for ~25 s, batched and unbatched in turn),
 * each with its own idempotencyKey, retrying the same key on 503 or a connection error until
 * it is accepted, as a well-behaved client would. Meanwhile PostgreSQL and then Kafka are
 * restarted under the producer. Afterwards every accepted message is on the topic, nothing is
 * left PENDING, health is back to 200 and the producer is the process that was started.
 * A second case checks that health says 503 while PostgreSQL is down.
 *
 * These tests restart the shared dev stack: other integration tests running at the same time
 * see the outages too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define STREAM_RATE_PER_S    30
#define STREAM_DURATION_MS   25000
#define STREAM_MAX_MESSAGES  (STREAM_RATE_PER_S * STREAM_DURATION_MS / 1000 + 100)
#define STREAM_GIVE_UP_MS    120000 /* per message: retrying longer than this is a failure */
#define RESTART_PG_AT_MS     7000
#define RESTART_KAFKA_AT_MS  13000
#define RECOVERY_TIMEOUT_MS  120000
#define HEALTH_DOWN_WAIT_MS  15000
#define HEALTH_BACK_WAIT_MS  60000
#define RETRY_BACKOFF_MIN_MS 50
#define RETRY_BACKOFF_MAX_MS 1000

static struct it_db restarts_db;
static struct it_producer restarts_producer;
static bool restarts_pg_stopped;    /* set while this program has PostgreSQL stopped */
static bool restarts_kafka_stopped; /* set while this program has Kafka stopped */

/* What the sender thread did; read by the test after the join. */
struct stream {
	const struct it_producer *producer;
	char topic[IT_TOPIC_MAX];
	int64_t *ids; /* accepted message ids, in send order */
	size_t accepted;
	unsigned retries_503, retries_conn;
	unsigned rejected;        /* answered neither 2xx, nor 503, nor a connection error */
	char rejected_first[512]; /* what the first rejection said */
	unsigned gave_up;         /* messages never accepted within STREAM_GIVE_UP_MS */
	int64_t elapsed_ms;       /* how long the stream ran */
};

/*
 * Sends one message until it is accepted: 201 or 200 (a retry of a key that committed).
 * 503 and connection errors are retried with the same idempotencyKey. Returns the message id,
 * or 0 when the message was refused or STREAM_GIVE_UP_MS passed. Any thread.
 */
static int64_t stream_send(struct stream *s, size_t i)
{
	char body[512];
	struct it_response r = {0};
	int64_t deadline = it_now_ms() + STREAM_GIVE_UP_MS, id = 0;
	int backoff = RETRY_BACKOFF_MIN_MS;

	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"key\":\"k%zu\",\"message\":\"stream %zu\","
	         "\"idempotencyKey\":\"%s-%zu\",\"useBatching\":%s}",
	         s->topic, i % 10, i, s->topic, i, i % 2 ? "true" : "false");
	for (;;) {
		long status = it_post(s->producer, "/api/messages/send", body, &r);

		if (status == 200 || status == 201) {
			json_t *v = it_json_get(r.json, "id");

			id = json_is_integer(v) ? json_integer_value(v) : 0;
			if (id <= 0 && s->rejected++ == 0)
				snprintf(s->rejected_first, sizeof(s->rejected_first),
				         "%ld without an id: %.400s", status, r.text);
			break;
		}
		if (status != 503 && status != 0) {
			if (s->rejected++ == 0)
				snprintf(s->rejected_first, sizeof(s->rejected_first),
				         "%ld: %.400s", status, r.text);
			break;
		}
		if (status == 503)
			s->retries_503++;
		else
			s->retries_conn++;
		if (it_now_ms() >= deadline) {
			s->gave_up++;
			break;
		}
		it_sleep_ms(backoff);
		backoff = backoff * 2 > RETRY_BACKOFF_MAX_MS ? RETRY_BACKOFF_MAX_MS : backoff * 2;
	}
	it_response_free(&r);
	return id;
}

static void *stream_main(void *arg)
{
	struct stream *s = arg;
	int64_t start = it_now_ms(), next = start;
	size_t i;

	for (i = 0; i < STREAM_MAX_MESSAGES && it_now_ms() - start < STREAM_DURATION_MS; i++) {
		int64_t id = stream_send(s, i);

		if (id > 0)
			s->ids[s->accepted++] = id;
		/* Hold the pace; after an outage carry on from now rather than burst to catch up.
		 */
		next += 1000 / STREAM_RATE_PER_S;
		if (it_now_ms() > next + 1000 / STREAM_RATE_PER_S)
			next = it_now_ms();
		while (it_now_ms() < next)
			it_sleep_ms(2);
	}
	s->elapsed_ms = it_now_ms() - start;
	return NULL;
}

/* Counts the topic's PENDING rows. */
static int64_t pending_count(PGconn *conn, const char *topic)
{
	return it_sql_int(conn,
	                  "SELECT count(*) FROM ferry.outbox_message"
	                  " WHERE topic = '%s' AND status = 'PENDING'",
	                  topic);
}

static bool health_is_200(void *arg)
{
	struct it_response r = {0};
	long status = it_get(arg, "/api/messages/health", &r);

	it_response_free(&r);
	return status == 200;
}

/* The producer started in setup has not exited (waitpid would reap it if it had). */
static bool producer_alive(const struct it_producer *p)
{
	int status;

	return p->pid > 0 && waitpid(p->pid, &status, WNOHANG) == 0;
}

static int compare_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Fails unless every id in ids[0..n) is on `topic`; returns the number of duplicate records. */
static size_t assert_ids_on_topic(const char *topic, int64_t *ids, size_t n)
{
	struct it_records recs;
	int64_t total = it_kafka_count(topic), id;
	size_t i, found = 0, duplicates = 0;
	unsigned char *seen = calloc(n ? n : 1, 1);
	int64_t *hit;

	assert_non_null(seen);
	qsort(ids, n, sizeof(*ids), compare_id);
	it_kafka_read(topic, (size_t)total, 60000, &recs);
	assert_int_equal(recs.n, (size_t)total);
	for (i = 0; i < recs.n; i++) {
		const char *hdr = it_record_header(&recs.v[i], FERRY_HEADER_MESSAGE_ID);

		assert_non_null(hdr);
		id = strtoll(hdr, NULL, 10);
		hit = bsearch(&id, ids, n, sizeof(*ids), compare_id);
		if (hit == NULL)
			continue; /* enqueued but never acknowledged to the client: allowed */
		if (seen[hit - ids]++)
			duplicates++;
		else
			found++;
	}
	for (i = 0; i < n; i++)
		if (!seen[i])
			fail_msg("accepted message %" PRId64 " is not on %s (%zu of %zu found)",
			         ids[i], topic, found, n);
	it_records_free(&recs);
	free(seen);
	return duplicates;
}

static int restarts_setup(void **state)
{
	(void)state;
	it_db_create(&restarts_db, "restarts");
	it_producer_start(&restarts_producer, &restarts_db, NULL);
	return 0;
}

static int restarts_teardown(void **state)
{
	(void)state;
	/* A test that failed half-way must not leave the shared stack down. */
	if (restarts_pg_stopped && it_stack("start-pg") == 0)
		restarts_pg_stopped = false;
	if (restarts_kafka_stopped && it_stack("start-kafka") == 0)
		restarts_kafka_stopped = false;
	it_producer_stop(&restarts_producer);
	it_db_drop(&restarts_db);
	return 0;
}

static void test_stream_survives_pg_and_kafka_restarts(void **state)
{
	struct it_producer *p = &restarts_producer;
	struct stream s = {.producer = p};
	struct it_response r = {0};
	pthread_t sender;
	PGconn *conn;
	int64_t t0 = it_now_ms(), t_pg, t_kafka, t_drained, rows;
	int rc_pg, rc_kafka;
	size_t duplicates;

	(void)state;
	it_topic(s.topic, sizeof(s.topic), "restarts");
	s.ids = calloc(STREAM_MAX_MESSAGES, sizeof(*s.ids));
	assert_non_null(s.ids);
	assert_int_equal(pthread_create(&sender, NULL, stream_main, &s), 0);

	/* No assertion until the join: a failure would unwind while the thread still runs. */
	it_sleep_ms(RESTART_PG_AT_MS);
	t_pg = it_now_ms();
	rc_pg = it_stack("restart-pg");
	t_pg = it_now_ms() - t_pg;
	if (it_now_ms() - t0 < RESTART_KAFKA_AT_MS)
		it_sleep_ms((int)(RESTART_KAFKA_AT_MS - (it_now_ms() - t0)));
	t_kafka = it_now_ms();
	rc_kafka = it_stack("restart-kafka");
	t_kafka = it_now_ms() - t_kafka;
	pthread_join(sender, NULL);

	printf("restarts: %zu accepted in %" PRId64 " ms; retried %u x 503, %u x no answer; "
	       "restart-pg %" PRId64 " ms, restart-kafka %" PRId64 " ms\n",
	       s.accepted, s.elapsed_ms, s.retries_503, s.retries_conn, t_pg, t_kafka);
	assert_int_equal(rc_pg, 0);
	assert_int_equal(rc_kafka, 0);
	if (s.rejected)
		fail_msg("%u messages refused; first: %s", s.rejected, s.rejected_first);
	assert_int_equal(s.gave_up, 0);
	assert_true(s.accepted >= STREAM_RATE_PER_S * STREAM_DURATION_MS / 1000 / 2);

	/* Every accepted message has its row, and the relay catches up on its own. */
	conn = it_pg_connect(restarts_db.conninfo);
	rows = it_sql_int(conn, "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                  s.topic);
	assert_int_equal(rows, (int64_t)s.accepted);
	t_drained = it_now_ms();
	if (!it_wait_sql_int(conn, 0, RECOVERY_TIMEOUT_MS,
	                     "SELECT count(*) FROM ferry.outbox_message"
	                     " WHERE topic = '%s' AND status = 'PENDING'",
	                     s.topic))
		fail_msg("%" PRId64 " rows still PENDING %d s after the restarts",
		         pending_count(conn, s.topic), RECOVERY_TIMEOUT_MS / 1000);
	printf("restarts: outbox drained %" PRId64 " ms after the stream ended\n",
	       it_now_ms() - t_drained);
	assert_true(it_wait_until(health_is_200, p, HEALTH_BACK_WAIT_MS));

	duplicates = assert_ids_on_topic(s.topic, s.ids, s.accepted);
	printf("restarts: all %zu accepted messages on Kafka, %zu duplicate records\n", s.accepted,
	       duplicates);

	/* Same process: it recovered, nobody restarted it. */
	assert_true(producer_alive(p));
	assert_int_equal(it_get(p, "/health", &r), 200);
	it_response_free(&r);

	free(s.ids);
	PQfinish(conn);
}

static void test_health_503_while_pg_down(void **state)
{
	struct it_producer *p = &restarts_producer;
	struct stream s = {.producer = p};
	struct it_response r = {0};
	int64_t t0, down_ms = -1, id;
	long send_unbatched = -1, send_batched = -1;
	char body[512];
	int rc_stop, rc_start = -1;
	PGconn *conn;

	(void)state;
	it_topic(s.topic, sizeof(s.topic), "pgdown");
	assert_true(it_wait_until(health_is_200, p, HEALTH_BACK_WAIT_MS));

	/* Between stop-pg and start-pg nothing may fail the test (the stack must come back). */
	restarts_pg_stopped = true;
	t0 = it_now_ms();
	rc_stop = it_stack("stop-pg");
	if (rc_stop == 0) {
		while (down_ms < 0 && it_now_ms() - t0 < HEALTH_DOWN_WAIT_MS) {
			if (it_get(p, "/api/messages/health", &r) == 503)
				down_ms = it_now_ms() - t0;
			else
				it_sleep_ms(100);
		}
		snprintf(body, sizeof(body),
		         "{\"topic\":\"%s\",\"message\":\"down\",\"useBatching\":false}", s.topic);
		send_unbatched = it_post(p, "/api/messages/send", body, &r);
		snprintf(body, sizeof(body),
		         "{\"topic\":\"%s\",\"message\":\"down\",\"useBatching\":true}", s.topic);
		send_batched = it_post(p, "/api/messages/send", body, &r);
	}
	rc_start = it_stack("start-pg");
	if (rc_start == 0)
		restarts_pg_stopped = false;
	it_response_free(&r);

	printf("pgdown: health said 503 after %" PRId64 " ms; sends answered %ld (unbatched), "
	       "%ld (batched)\n",
	       down_ms, send_unbatched, send_batched);
	assert_int_equal(rc_stop, 0);
	assert_int_equal(rc_start, 0);
	assert_true(down_ms >= 0);
	/* Nothing was written, and the client is told to retry: 503, not 500. */
	assert_int_equal(send_unbatched, 503);
	assert_int_equal(send_batched, 503);

	/* Back by itself, and accepting and relaying again. */
	t0 = it_now_ms();
	assert_true(it_wait_until(health_is_200, p, HEALTH_BACK_WAIT_MS));
	printf("pgdown: health back to 200 %" PRId64 " ms after start-pg\n", it_now_ms() - t0);
	id = stream_send(&s, 1);
	assert_true(id > 0);
	conn = it_pg_connect(restarts_db.conninfo);
	assert_true(it_wait_sql_int(conn, 0, RECOVERY_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'PENDING'",
	                            s.topic));
	assert_int_equal(it_sql_int(conn,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s'",
	                            s.topic),
	                 1);
	assert_true(producer_alive(p));
	PQfinish(conn);
}

/* With Kafka down the outbox is the buffer: sends are still accepted and wait PENDING, health
 * says 503 meanwhile, and when the broker is back the rows go out by themselves. */
static void test_kafka_down_sends_wait_in_the_outbox(void **state)
{
	struct it_producer *p = &restarts_producer;
	struct stream s = {.producer = p};
	struct it_response r = {0};
	int64_t t0, down_ms = -1, id = -1;
	int rc_stop, rc_start = -1;
	char *statuses;
	PGconn *conn;

	(void)state;
	it_topic(s.topic, sizeof(s.topic), "kafkadown");
	assert_true(it_wait_until(health_is_200, p, HEALTH_BACK_WAIT_MS));

	/* Between stop-kafka and start-kafka nothing may fail the test (the stack must come back).
	 */
	restarts_kafka_stopped = true;
	t0 = it_now_ms();
	rc_stop = it_stack("stop-kafka");
	if (rc_stop == 0) {
		while (down_ms < 0 && it_now_ms() - t0 < HEALTH_DOWN_WAIT_MS) {
			if (it_get(p, "/api/messages/health", &r) == 503)
				down_ms = it_now_ms() - t0;
			else
				it_sleep_ms(100);
		}
		id = stream_send(&s, 1);
	}
	conn = it_pg_connect(restarts_db.conninfo);
	if (id > 0)
		it_sleep_ms(1000); /* the relay tries meanwhile; the row must stay PENDING */
	statuses = it_sql_text(conn,
	                       "SELECT coalesce(string_agg(status, ','), 'none')"
	                       " FROM ferry.outbox_message WHERE topic = '%s'",
	                       s.topic);
	rc_start = it_stack("start-kafka");
	if (rc_start == 0)
		restarts_kafka_stopped = false;
	it_response_free(&r);

	printf("kafkadown: rows while Kafka was down: %s\n", statuses);
	assert_string_equal(statuses, id > 0 ? "PENDING" : "none");
	free(statuses);
	printf("kafkadown: health said 503 after %" PRId64 " ms; send while down gave id %" PRId64
	       "\n",
	       down_ms, id);
	assert_int_equal(rc_stop, 0);
	assert_int_equal(rc_start, 0);
	assert_true(down_ms >= 0);
	assert_true(id > 0);
	assert_true(it_wait_until(health_is_200, p, HEALTH_BACK_WAIT_MS));
	assert_true(it_wait_sql_int(conn, 1, RECOVERY_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'SENT'",
	                            s.topic));
	assert_int_equal(it_kafka_count(s.topic), 1);
	assert_true(producer_alive(p));
	PQfinish(conn);
}

/* The process that lived through the outages still stops cleanly (under ASan: no leaks). */
static void test_producer_stops_cleanly_afterwards(void **state)
{
	(void)state;
	assert_true(producer_alive(&restarts_producer));
	assert_int_equal(it_producer_stop(&restarts_producer), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream_survives_pg_and_kafka_restarts),
	    cmocka_unit_test(test_health_503_while_pg_down),
	    cmocka_unit_test(test_kafka_down_sends_wait_in_the_outbox),
	    cmocka_unit_test(test_producer_stops_cleanly_afterwards),
	};

	return it_finish(cmocka_run_group_tests(tests, restarts_setup, restarts_teardown));
}
