/*
 * test_shutdown.c - SIGTERM is a clean stop: exit 0 in bounded time, nothing lost.
 *
 * 1. SIGTERM while the relay drains a backlog: the process exits 0 within
 *    FERRY_SHUTDOWN_TIMEOUT_MS + 5 s, what it delivered is marked SENT (Kafka holds exactly
 *    the SENT rows), and a restarted producer drains the rest without duplicates.
 * 2. SIGTERM while batched requests wait in the batcher: every request answered 2xx has its
 *    row (the batcher commits what it holds before the process exits), and it reaches Kafka
 *    after a restart.
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

#include "harness.h"

#define SHUTDOWN_TIMEOUT_MS 3000 /* FERRY_SHUTDOWN_TIMEOUT_MS for these producers */
#define SHUTDOWN_GRACE_MS   5000 /* exit within the timeout plus this */
#define BACKLOG_ROWS        20000
#define BACKLOG_STOP_AFTER  2000 /* SENT rows before SIGTERM */
#define DRAIN_TIMEOUT_MS    120000
#define SENDER_THREADS      8
#define SENDER_MAX_REQUESTS 20000 /* per thread */
#define SENDER_RUN_MS       1500  /* requests flow this long before SIGTERM */
#define BATCH_WAIT_MS       "200" /* batched requests wait this long in the batcher */

#define SHUTDOWN_STR_(x) #x
#define SHUTDOWN_STR(x)  SHUTDOWN_STR_(x)

static struct it_db shutdown_db;

static int shutdown_setup(void **state)
{
	const char *const no_relay[] = {"FERRY_RELAY_ENABLED=false", NULL};
	struct it_producer p;

	(void)state;
	it_db_create(&shutdown_db, "shutdown");
	/* The schema comes from the producer's migrations. */
	it_producer_start(&p, &shutdown_db, no_relay);
	assert_int_equal(it_producer_stop(&p), 0);
	return 0;
}

static int shutdown_teardown(void **state)
{
	(void)state;
	it_db_drop(&shutdown_db);
	return 0;
}

static int64_t count_status(PGconn *conn, const char *topic, const char *status)
{
	return it_sql_int(conn,
	                  "SELECT count(*) FROM ferry.outbox_message"
	                  " WHERE topic = '%s' AND status = '%s'",
	                  topic, status);
}

/* Stops the producer with SIGTERM; returns its exit status and the time it took. */
static int stop_timed(struct it_producer *p, int64_t *elapsed_ms)
{
	int64_t t0 = it_now_ms();
	int status = it_producer_stop(p);

	*elapsed_ms = it_now_ms() - t0;
	return status;
}

static int compare_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Fails unless every id in ids[0..n) is on `topic`; returns the number of duplicate records
 * of those ids. Sorts ids. */
static size_t assert_ids_on_topic(const char *topic, int64_t *ids, size_t n)
{
	struct it_records recs;
	int64_t total = it_kafka_count(topic), id, *hit;
	unsigned char *seen = calloc(n ? n : 1, 1);
	size_t i, found = 0, duplicates = 0;

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
			continue;
		if (seen[hit - ids]++)
			duplicates++;
		else
			found++;
	}
	for (i = 0; i < n; i++)
		if (!seen[i])
			fail_msg("message %" PRId64 " is not on %s (%zu of %zu found)", ids[i],
			         topic, found, n);
	it_records_free(&recs);
	free(seen);
	return duplicates;
}

static void test_sigterm_while_backlog_drains(void **state)
{
	const char *const env[] = {"FERRY_SHUTDOWN_TIMEOUT_MS=" SHUTDOWN_STR(SHUTDOWN_TIMEOUT_MS),
	                           "FERRY_RELAY_BATCH_SIZE=100", NULL};
	char topic[IT_TOPIC_MAX];
	struct it_producer p;
	PGconn *conn = it_pg_connect(shutdown_db.conninfo);
	int64_t elapsed, sent, pending, on_kafka, *ids, first_id, t0;
	size_t i, duplicates;
	int status;

	(void)state;
	it_topic(topic, sizeof(topic), "shutdown-backlog");
	it_sql_exec(conn,
	            "SELECT count(ferry.enqueue('%s', 'k' || (i %% 50), 'payload ' || i))"
	            " FROM generate_series(1, %d) i",
	            topic, BACKLOG_ROWS);

	it_producer_start(&p, &shutdown_db, env);
	t0 = it_now_ms() + 60000;
	while (count_status(conn, topic, "SENT") < BACKLOG_STOP_AFTER && it_now_ms() < t0)
		it_sleep_ms(10);
	status = stop_timed(&p, &elapsed);
	sent = count_status(conn, topic, "SENT");
	pending = count_status(conn, topic, "PENDING");
	on_kafka = it_kafka_count(topic);
	printf("shutdown: SIGTERM with %" PRId64 " SENT: exit %d after %" PRId64 " ms, %" PRId64
	       " left PENDING, %" PRId64 " records on Kafka\n",
	       sent, status, elapsed, pending, on_kafka);
	assert_int_equal(status, 0);
	assert_true(elapsed <= SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS);
	assert_true(sent >= BACKLOG_STOP_AFTER);
	assert_true(pending > 0); /* else the backlog was gone before the signal */
	/* A clean stop marks what it delivered: nothing is on Kafka that is not SENT. */
	assert_int_equal(on_kafka, sent);

	t0 = it_now_ms();
	it_producer_start(&p, &shutdown_db, NULL);
	assert_true(it_wait_sql_int(conn, 0, DRAIN_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'PENDING'",
	                            topic));
	printf("shutdown: restarted producer drained the rest in %" PRId64 " ms\n",
	       it_now_ms() - t0);
	assert_int_equal(it_producer_stop(&p), 0);

	ids = calloc(BACKLOG_ROWS, sizeof(*ids));
	assert_non_null(ids);
	first_id =
	    it_sql_int(conn, "SELECT min(id) FROM ferry.outbox_message WHERE topic = '%s'", topic);
	for (i = 0; i < BACKLOG_ROWS; i++)
		ids[i] = first_id + (int64_t)i;
	duplicates = assert_ids_on_topic(topic, ids, BACKLOG_ROWS);
	printf("shutdown: all %d messages on Kafka, %zu duplicates\n", BACKLOG_ROWS, duplicates);
	assert_int_equal(duplicates, 0);
	free(ids);
	PQfinish(conn);
}

/* One request of a sender thread. */
struct sent_request {
	long status;     /* HTTP status, 0 for no answer */
	int64_t id;      /* message id when 2xx */
	int64_t done_at; /* it_now_ms() when the answer came */
};

struct sender {
	const struct it_producer *producer;
	const char *topic;
	int index;
	struct sent_request *reqs;
	size_t n;
	char last_error[256]; /* libcurl's reason for the request that got no answer */
};

static void sender_key(char *buf, size_t size, const char *topic, int thread, size_t i)
{
	snprintf(buf, size, "%s-%d-%zu", topic, thread, i);
}

/* Sends batched messages back to back until the server stops answering. */
static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct it_response r = {0};
	int64_t deadline = it_now_ms() + 60000;
	char body[512], key[IT_TOPIC_MAX + 32];

	while (s->n < SENDER_MAX_REQUESTS && it_now_ms() < deadline) {
		struct sent_request *q = &s->reqs[s->n++];

		sender_key(key, sizeof(key), s->topic, s->index, s->n - 1);
		snprintf(body, sizeof(body),
		         "{\"topic\":\"%s\",\"message\":\"m\",\"idempotencyKey\":\"%s\","
		         "\"useBatching\":true}",
		         s->topic, key);
		q->status = it_post(s->producer, "/api/messages/send", body, &r);
		q->done_at = it_now_ms();
		if (q->status / 100 == 2 && json_is_integer(it_json_get(r.json, "id")))
			q->id = json_integer_value(it_json_get(r.json, "id"));
		if (q->status == 0) {
			snprintf(s->last_error, sizeof(s->last_error), "%s", r.error);
			break; /* the listener is closed: the producer is stopping */
		}
	}
	it_response_free(&r);
	return NULL;
}

/* Appends `text` to the array literal being built in *buf. */
static void literal_add(FILE *buf, bool *first, const char *text)
{
	fprintf(buf, "%s\"%s\"", *first ? "" : ",", text);
	*first = false;
}

static void test_sigterm_answers_batched_requests_with_their_rows(void **state)
{
	const char *const env[] = {"FERRY_SHUTDOWN_TIMEOUT_MS=" SHUTDOWN_STR(SHUTDOWN_TIMEOUT_MS),
	                           "FERRY_BATCH_MAX_WAIT_MS=" BATCH_WAIT_MS, NULL};
	char topic[IT_TOPIC_MAX], key[IT_TOPIC_MAX + 32], num[32];
	struct sender senders[SENDER_THREADS];
	pthread_t threads[SENDER_THREADS];
	struct it_producer p;
	PGconn *conn;
	FILE *ids_lit, *keys_lit;
	char *ids_text = NULL, *keys_text = NULL;
	size_t ids_len, keys_len, ok = 0, answered_after = 0, refused = 0, no_answer = 0, other = 0;
	size_t i, t;
	bool first_id = true, first_key = true;
	int64_t sigterm_at, elapsed, *ok_ids;
	int status;

	(void)state;
	it_topic(topic, sizeof(topic), "shutdown-batched");
	it_producer_start(&p, &shutdown_db, env);
	for (t = 0; t < SENDER_THREADS; t++) {
		senders[t] = (struct sender){.producer = &p, .topic = topic, .index = (int)t};
		senders[t].reqs = calloc(SENDER_MAX_REQUESTS, sizeof(*senders[t].reqs));
		assert_non_null(senders[t].reqs);
	}
	for (t = 0; t < SENDER_THREADS; t++)
		assert_int_equal(pthread_create(&threads[t], NULL, sender_main, &senders[t]), 0);
	/* No assertion until the join: a failure would unwind while the threads run. */
	it_sleep_ms(SENDER_RUN_MS);
	sigterm_at = it_now_ms();
	status = stop_timed(&p, &elapsed);
	for (t = 0; t < SENDER_THREADS; t++)
		pthread_join(threads[t], NULL);

	ids_lit = open_memstream(&ids_text, &ids_len);
	keys_lit = open_memstream(&keys_text, &keys_len);
	assert_non_null(ids_lit);
	assert_non_null(keys_lit);
	ok_ids = calloc(SENDER_THREADS * SENDER_MAX_REQUESTS, sizeof(*ok_ids));
	assert_non_null(ok_ids);
	for (t = 0; t < SENDER_THREADS; t++) {
		for (i = 0; i < senders[t].n; i++) {
			const struct sent_request *q = &senders[t].reqs[i];

			if (q->status / 100 == 2) {
				assert_true(q->id > 0);
				ok_ids[ok++] = q->id;
				answered_after += q->done_at >= sigterm_at;
				snprintf(num, sizeof(num), "%" PRId64, q->id);
				literal_add(ids_lit, &first_id, num);
				sender_key(key, sizeof(key), topic, (int)t, i);
				literal_add(keys_lit, &first_key, key);
			} else if (q->status == 503) {
				refused++;
			} else if (q->status == 0) {
				no_answer++;
			} else {
				other++;
			}
		}
	}
	fclose(ids_lit);
	fclose(keys_lit);
	printf("shutdown: exit %d after %" PRId64 " ms; %zu requests answered 2xx (%zu of them "
	       "after SIGTERM), %zu x 503, %zu without an answer, %zu other\n",
	       status, elapsed, ok, answered_after, refused, no_answer, other);
	/* A request without an answer never got in: the listener was already closed. One that
	 * was taken and then dropped (reset, empty reply) would leave its client guessing. */
	for (t = 0; t < SENDER_THREADS; t++)
		if (senders[t].last_error[0] && strstr(senders[t].last_error, "connect to") == NULL)
			fail_msg("sender %zu: a request was dropped: %s", t, senders[t].last_error);
	assert_int_equal(status, 0);
	assert_true(elapsed <= SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS);
	assert_true(ok > 0);
	assert_int_equal(other, 0);
	/* Requests were waiting in the batcher when the signal came, and were answered. */
	assert_true(answered_after > 0);

	/* Every 2xx has its row: that id, that idempotency key, that topic. */
	conn = it_pg_connect(shutdown_db.conninfo);
	assert_int_equal(it_sql_int(conn,
	                            "SELECT count(*) FROM unnest('{%s}'::bigint[], '{%s}'::text[])"
	                            " AS a(id, k) WHERE NOT EXISTS (SELECT 1"
	                            " FROM ferry.outbox_message m WHERE m.id = a.id"
	                            " AND m.idempotency_key = a.k AND m.topic = '%s')",
	                            ids_text, keys_text, topic),
	                 0);

	/* And reaches Kafka once a producer runs again. */
	it_producer_start(&p, &shutdown_db, NULL);
	assert_true(it_wait_sql_int(conn, 0, DRAIN_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'PENDING'",
	                            topic));
	assert_int_equal(it_producer_stop(&p), 0);
	(void)assert_ids_on_topic(topic, ok_ids, ok);

	free(ok_ids);
	free(ids_text);
	free(keys_text);
	for (t = 0; t < SENDER_THREADS; t++)
		free(senders[t].reqs);
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sigterm_while_backlog_drains),
	    cmocka_unit_test(test_sigterm_answers_batched_requests_with_their_rows),
	};

	return it_finish(cmocka_run_group_tests(tests, shutdown_setup, shutdown_teardown));
}
