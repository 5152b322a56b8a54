/*
 * test_shutdown_faults.c - SIGTERM ends both services within FERRY_SHUTDOWN_DEADLINE_MS
 * whatever state Kafka and PostgreSQL are in, and nothing is lost.
 *
 * Three producer + consumer pairs run on one database, each pair on a topic and a group of its
 * own, and each has processed traffic (the consumer holds partitions and committed offsets).
 * Then, one stack change at a time:
 *   1. stop-kafka, send to all pairs (their relays now hold batches Kafka never confirms),
 *      SIGTERM pair 0: Kafka down, PostgreSQL up;
 *   2. stop-pg, SIGTERM pair 1: both down;
 *   3. start-kafka, SIGTERM pair 2: PostgreSQL down, Kafka up.
 * Each service must exit 0 (a clean stop, not the watchdog; under ASan also the leak check)
 * within the deadline plus a margin for process exit, and say "stopped cleanly" in its log.
 * Then start-pg, one producer and the three consumers again: every message sent reaches its
 * group exactly once (what could not be flushed stayed PENDING and goes out now).
 *
 * Two waits the services bound themselves, not only by the watchdog:
 *   - a producer whose retry pass is waiting for Kafka's confirmations of redeliveries (Kafka
 *     stopped while they are due) stops it at once: the pass rolls back and the redelivery
 *     happens after the restart;
 *   - a consumer whose acknowledgment POST goes to a producer that accepts the connection and
 *     never answers (a listener in this test) ends the POST with the drain: the acks stay in
 *     pending_ack and a consumer started against a live producer delivers them.
 * The teardowns restart whatever a test stopped, even when it failed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define PAIRS              3
#define SHUTDOWN_DEADLINE  "8000" /* FERRY_SHUTDOWN_DEADLINE_MS for every service */
#define SHUTDOWN_TIMEOUT   "2000" /* FERRY_SHUTDOWN_TIMEOUT_MS (the drain) */
#define EXIT_MARGIN_MS     2000   /* process exit and reaping, on a loaded machine */
#define WARMUP_MESSAGES    5      /* per pair, processed before any fault */
#define OUTAGE_MESSAGES    5      /* per pair, sent while Kafka is down */
#define PROCESS_TIMEOUT_MS 60000
#define OUTAGE_WAIT_MS     30000
#define RETRY_BOUND_MS     "3000" /* FERRY_TRANSACTION_BOUND_MS of the retry-bound test */
#define PAIRS_TOPICS       "it-shutdown-faults-%" /* the pairs' topics, not the other tests' */

static struct it_db faults_db;
static bool faults_kafka_stopped, faults_pg_stopped;

struct pair {
	char topic[IT_TOPIC_MAX];
	char group[IT_TOPIC_MAX + 8];
	struct it_producer producer;
	struct it_producer consumer;
};

static struct pair pairs[PAIRS];

static const char *const producer_env[] = {"FERRY_SHUTDOWN_DEADLINE_MS=" SHUTDOWN_DEADLINE,
                                           "FERRY_SHUTDOWN_TIMEOUT_MS=" SHUTDOWN_TIMEOUT,
                                           "FERRY_RELAY_POLL_IDLE_MS=100", NULL};
static const char *const consumer_env[] = {"FERRY_SHUTDOWN_DEADLINE_MS=" SHUTDOWN_DEADLINE,
                                           "FERRY_SHUTDOWN_TIMEOUT_MS=" SHUTDOWN_TIMEOUT, NULL};

static int faults_setup(void **state)
{
	const char *const no_relay[] = {"FERRY_RELAY_ENABLED=false", NULL};
	struct it_producer p;

	(void)state;
	it_db_create(&faults_db, "shutdown_faults");
	it_producer_start(&p, &faults_db, no_relay); /* the schema */
	assert_int_equal(it_producer_stop(&p), 0);
	return 0;
}

/* A test that failed half-way must not leave the stack down for the next test or program. */
static int restore_stack(void **state)
{
	(void)state;
	if (faults_pg_stopped && it_stack("start-pg") == 0)
		faults_pg_stopped = false;
	if (faults_kafka_stopped && it_stack("start-kafka") == 0)
		faults_kafka_stopped = false;
	return 0;
}

static int faults_teardown(void **state)
{
	restore_stack(state);
	it_db_drop(&faults_db);
	return 0;
}

static bool log_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* SIGTERM; fails the test unless the service exits 0 within the deadline (+ margin) and logs
 * its clean stop. */
static void stop_within_deadline(struct it_producer *svc, const char *what, const char *state)
{
	int64_t t0 = it_now_ms(), elapsed;
	int status = it_producer_stop(svc);

	elapsed = it_now_ms() - t0;
	printf("shutdown_faults: %s (%s): exit %d after %" PRId64 " ms\n", what, state, status,
	       elapsed);
	if (status != 0 || elapsed > atoi(SHUTDOWN_DEADLINE) + EXIT_MARGIN_MS) {
		it_producer_print_log(svc, 40);
		fail_msg("%s (%s): exit %d after %" PRId64 " ms; want 0 within %s ms", what, state,
		         status, elapsed, SHUTDOWN_DEADLINE);
	}
	if (!log_contains(svc->log_path, "stopped cleanly")) {
		it_producer_print_log(svc, 40);
		fail_msg("%s (%s): no \"stopped cleanly\" line in its log", what, state);
	}
}

/* The topic with the pair's group, which acknowledges (so acks pending at a shutdown count). */
static void register_topic(struct pair *pr)
{
	struct it_response r = {0};
	char body[8192]; /* the group field may hold up to 4 KiB */

	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":3,\"consumerGroups\":[{"
	         "\"consumerGroupName\":\"%s\",\"requiresAcknowledgment\":true,"
	         "\"acknowledgmentTimeoutMinutes\":60,\"maxRetries\":3}]}",
	         pr->topic, pr->group);
	if (it_post(&pr->producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", pr->topic, r.status, r.text);
	it_response_free(&r);
}

static void start_consumer(struct pair *pr)
{
	it_consumer_start_group(&pr->consumer, &faults_db, &pr->producer, pr->group, pr->topic,
	                        consumer_env);
}

static void test_sigterm_with_kafka_or_pg_down(void **state)
{
	PGconn *conn = it_pg_connect(faults_db.conninfo);
	struct it_producer last;
	char key[32];
	size_t i, k;

	(void)state;
	for (i = 0; i < PAIRS; i++) {
		struct pair *pr = &pairs[i];

		char topic[IT_TOPIC_MAX];

		it_topic(topic, sizeof(topic), "shutdown-faults");
		snprintf(pr->topic, sizeof(pr->topic), "%s", topic);
		snprintf(pr->group, sizeof(pr->group), "%s-g", topic);
		it_producer_start(&pr->producer, &faults_db, producer_env);
		register_topic(pr);
		start_consumer(pr);
		for (k = 0; k < WARMUP_MESSAGES; k++) {
			snprintf(key, sizeof(key), "k%zu", k);
			it_send_message(&pr->producer, pr->topic, key, "warm-up");
		}
	}
	for (i = 0; i < PAIRS; i++)
		assert_true(it_wait_sql_int(conn, WARMUP_MESSAGES, PROCESS_TIMEOUT_MS,
		                            "SELECT count(*) FROM ferry_consumer.processed_message"
		                            " WHERE consumer_group = '%s'",
		                            pairs[i].group));

	/* 1. Kafka down. The relays claim what is sent now and wait for Kafka with it. */
	faults_kafka_stopped = true;
	assert_int_equal(it_stack("stop-kafka"), 0);
	for (i = 0; i < PAIRS; i++)
		for (k = 0; k < OUTAGE_MESSAGES; k++) {
			snprintf(key, sizeof(key), "k%zu", k);
			it_send_message(&pairs[i].producer, pairs[i].topic, key, "outage");
		}
	/* Wait until a relay holds an open claim for them: the hard case for a shutdown. */
	assert_true(it_wait_sql_int(conn, 1, OUTAGE_WAIT_MS,
	                            "SELECT least(count(*), 1) FROM pg_stat_activity"
	                            " WHERE datname = current_database()"
	                            " AND state = 'idle in transaction'"));
	stop_within_deadline(&pairs[0].consumer, "consumer 0", "Kafka down");
	stop_within_deadline(&pairs[0].producer, "producer 0", "Kafka down");

	/* 2. Both down. */
	faults_pg_stopped = true;
	assert_int_equal(it_stack("stop-pg"), 0);
	stop_within_deadline(&pairs[1].consumer, "consumer 1", "Kafka and PostgreSQL down");
	stop_within_deadline(&pairs[1].producer, "producer 1", "Kafka and PostgreSQL down");

	/* 3. PostgreSQL down, Kafka back. */
	assert_int_equal(it_stack("start-kafka"), 0);
	faults_kafka_stopped = false;
	stop_within_deadline(&pairs[2].consumer, "consumer 2", "PostgreSQL down");
	stop_within_deadline(&pairs[2].producer, "producer 2", "PostgreSQL down");

	assert_int_equal(it_stack("start-pg"), 0);
	faults_pg_stopped = false;

	/* Nothing lost: one producer and the consumers again, and every message arrives once. */
	PQfinish(conn);
	conn = it_pg_connect(faults_db.conninfo);
	it_producer_start(&last, &faults_db, producer_env);
	for (i = 0; i < PAIRS; i++) {
		pairs[i].producer = last; /* the consumers acknowledge to this one */
		start_consumer(&pairs[i]);
	}
	for (i = 0; i < PAIRS; i++)
		assert_true(it_wait_sql_int(conn, WARMUP_MESSAGES + OUTAGE_MESSAGES,
		                            PROCESS_TIMEOUT_MS,
		                            "SELECT count(*) FROM ferry_consumer.processed_message"
		                            " WHERE consumer_group = '%s'",
		                            pairs[i].group));
	/* And every acknowledgment, those queued when a consumer stopped included. */
	assert_true(it_wait_sql_int(conn, 0, PROCESS_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE status <> 'ACKNOWLEDGED' AND topic LIKE '%s'",
	                            PAIRS_TOPICS));
	assert_int_equal(
	    it_sql_int(conn, "SELECT count(*) FROM ferry.outbox_message WHERE topic LIKE '%s'",
	               PAIRS_TOPICS),
	    PAIRS * (WARMUP_MESSAGES + OUTAGE_MESSAGES));
	for (i = 0; i < PAIRS; i++)
		assert_int_equal(it_producer_stop(&pairs[i].consumer), 0);
	assert_int_equal(it_producer_stop(&last), 0);
	PQfinish(conn);
}

/*
 * A retry pass waiting for Kafka: one delivery to a group nobody reads is made due (its timeout
 * cut to 1 s) after Kafka stopped, so the retry job claims it and waits for a confirmation that
 * cannot come (message.timeout.ms is half of FERRY_TRANSACTION_BOUND_MS: 15 s by default, longer
 * than the deadline). Before the fix the shutdown waited for the pass until the watchdog's exit 3.
 */
static void test_sigterm_during_a_retry_pass_with_kafka_down(void **state)
{
	const char *const env[] = {"FERRY_SHUTDOWN_DEADLINE_MS=" SHUTDOWN_DEADLINE,
	                           "FERRY_SHUTDOWN_TIMEOUT_MS=" SHUTDOWN_TIMEOUT,
	                           "FERRY_RETRY_INTERVAL_MS=100", NULL};
	PGconn *conn = it_pg_connect(faults_db.conninfo);
	struct it_producer p = {0};
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], group[IT_TOPIC_MAX + 8], body[1024], path[128];
	const char *shorter = "{\"acknowledgmentTimeoutSeconds\": 1}";
	int64_t id;

	(void)state;
	it_topic(topic, sizeof(topic), "shutdown-retry");
	snprintf(group, sizeof(group), "%s-g", topic);
	it_producer_start(&p, &faults_db, env);
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":[{"
	         "\"consumerGroupName\":\"%s\",\"acknowledgmentTimeoutSeconds\":600,"
	         "\"maxRetries\":5}]}",
	         topic, group);
	if (it_post(&p, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
	id = it_send_message(&p, topic, "k1", "nobody reads this group");
	assert_true(it_wait_sql_int(conn, 1, OUTAGE_WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64 " AND status = 'SENT'",
	                            id));

	faults_kafka_stopped = true;
	assert_int_equal(it_stack("stop-kafka"), 0);
	/* Due now: the retry job claims it and waits for Kafka with the claim open. */
	snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" PRId64,
	         it_sql_int(conn,
	                    "SELECT consumer_group_id FROM ferry.message_delivery"
	                    " WHERE message_id = %" PRId64,
	                    id));
	if (it_http(&p, "PUT", path, "application/json", shorter, strlen(shorter), &r) != 200)
		fail_msg("updating the group answered %ld: %s", r.status, r.text);
	it_response_free(&r);
	/* Idle in its transaction for a while: waiting for Kafka, not between two statements. */
	assert_true(it_wait_sql_int(conn, 1, OUTAGE_WAIT_MS,
	                            "SELECT least(count(*), 1) FROM pg_stat_activity"
	                            " WHERE datname = current_database()"
	                            " AND application_name = 'ferry-retry'"
	                            " AND state = 'idle in transaction'"
	                            " AND now() - state_change > interval '500 ms'"));
	stop_within_deadline(&p, "producer", "retry pass waiting for Kafka");
	/* Rolled back: not counted as a retry, still due. */
	assert_int_equal(it_sql_int(conn,
	                            "SELECT retry_count FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64,
	                            id),
	                 0);

	assert_int_equal(it_stack("start-kafka"), 0);
	faults_kafka_stopped = false;
	it_producer_start(&p, &faults_db, env);
	assert_true(it_wait_sql_int(conn, 1, PROCESS_TIMEOUT_MS,
	                            "SELECT least(retry_count, 1) FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64,
	                            id));
	assert_true(it_kafka_count(topic) >= 2); /* the first delivery and the redelivery */
	assert_int_equal(it_producer_stop(&p), 0);
	PQfinish(conn);
}

/*
 * The retry job's transaction is bounded whatever Kafka does (issue: no transaction of the relay
 * or the retry job open longer than FERRY_TRANSACTION_BOUND_MS): with Kafka stopped and a
 * redelivery due, each pass waits at most part of the bound for Kafka, records the failed
 * republish and commits; no 'ferry-retry' transaction is ever older than the bound.
 */
static void test_retry_transaction_bounded_while_kafka_down(void **state)
{
	const char *const env[] = {"FERRY_TRANSACTION_BOUND_MS=" RETRY_BOUND_MS,
	                           "FERRY_RETRY_INTERVAL_MS=100", NULL};
	PGconn *conn = it_pg_connect(faults_db.conninfo);
	struct it_producer p = {0};
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], group[IT_TOPIC_MAX + 8], body[1024], path[128];
	const char *shorter = "{\"acknowledgmentTimeoutSeconds\": 1}";
	int64_t id, oldest = 0, until;

	(void)state;
	it_topic(topic, sizeof(topic), "retry-bound");
	snprintf(group, sizeof(group), "%s-g", topic);
	it_producer_start(&p, &faults_db, env);
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":[{"
	         "\"consumerGroupName\":\"%s\",\"acknowledgmentTimeoutSeconds\":600,"
	         "\"maxRetries\":5}]}",
	         topic, group);
	if (it_post(&p, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
	id = it_send_message(&p, topic, "k1", "nobody reads this group");
	assert_true(it_wait_sql_int(conn, 1, OUTAGE_WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64 " AND status = 'SENT'",
	                            id));
	faults_kafka_stopped = true;
	assert_int_equal(it_stack("stop-kafka"), 0);
	snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" PRId64,
	         it_sql_int(conn,
	                    "SELECT consumer_group_id FROM ferry.message_delivery"
	                    " WHERE message_id = %" PRId64,
	                    id));
	if (it_http(&p, "PUT", path, "application/json", shorter, strlen(shorter), &r) != 200)
		fail_msg("updating the group answered %ld: %s", r.status, r.text);
	it_response_free(&r);
	/* A pass waits for Kafka with its claim open... */
	assert_true(it_wait_sql_int(conn, 1, OUTAGE_WAIT_MS,
	                            "SELECT least(count(*), 1) FROM pg_stat_activity"
	                            " WHERE datname = current_database()"
	                            " AND application_name = 'ferry-retry'"
	                            " AND state = 'idle in transaction'"
	                            " AND now() - state_change > interval '500 ms'"));
	/* ...but never longer than the bound: sampled for twice the bound. */
	until = it_now_ms() + 2 * atoi(RETRY_BOUND_MS);
	while (it_now_ms() < until) {
		int64_t ms =
		    it_sql_int(conn, "SELECT coalesce(max(extract(epoch FROM clock_timestamp()"
		                     " - xact_start) * 1000), 0)::bigint FROM pg_stat_activity"
		                     " WHERE datname = current_database()"
		                     " AND application_name = 'ferry-retry'"
		                     " AND xact_start IS NOT NULL");

		oldest = ms > oldest ? ms : oldest;
		it_sleep_ms(50);
	}
	fprintf(stderr, "oldest retry-job transaction with Kafka down: %" PRId64 " ms (bound %s)\n",
	        oldest, RETRY_BOUND_MS);
	assert_true(oldest < atoi(RETRY_BOUND_MS));
	/* The pass gave up, recorded why, and committed. */
	assert_true(it_wait_sql_int(conn, 1, OUTAGE_WAIT_MS,
	                            "SELECT least(count(*), 1) FROM ferry.message_event"
	                            " WHERE message_id = %" PRId64
	                            " AND event = 'republish_failed'",
	                            id));
	assert_int_equal(it_producer_stop(&p), 0);
	assert_int_equal(it_stack("start-kafka"), 0);
	faults_kafka_stopped = false;
	PQfinish(conn);
}

/* A producer that never answers: a listener on 127.0.0.1 that accepts connections, reads what
 * they send and never replies. */
struct silent_peer {
	int listen_fd;
	int port;
	int fds[16];        /* accepted, held open */
	char heads[16][64]; /* the first bytes each sent */
	size_t n;
};

static void silent_peer_open(struct silent_peer *sp)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
	socklen_t len = sizeof(a);

	memset(sp, 0, sizeof(*sp));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sp->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(sp->listen_fd >= 0);
	assert_int_equal(bind(sp->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sp->listen_fd, 16), 0);
	assert_int_equal(getsockname(sp->listen_fd, (struct sockaddr *)&a, &len), 0);
	sp->port = ntohs(a.sin_port);
}

/* it_wait_until condition: accepts what is waiting, reads what arrived, and is true once a POST
 * of acknowledgments is among it (the consumer now waits for an answer that never comes). */
static bool silent_peer_has_ack_post(void *arg)
{
	struct silent_peer *sp = arg;
	size_t i;
	int fd;

	while (sp->n < 16 && (fd = accept4(sp->listen_fd, NULL, NULL, SOCK_NONBLOCK)) >= 0)
		sp->fds[sp->n++] = fd;
	for (i = 0; i < sp->n; i++) {
		size_t have = strlen(sp->heads[i]);
		ssize_t got;

		if (have + 1 < sizeof(sp->heads[i]) &&
		    (got = read(sp->fds[i], sp->heads[i] + have, sizeof(sp->heads[i]) - 1 - have)) >
		        0)
			sp->heads[i][have + (size_t)got] = '\0';
		if (strncmp(sp->heads[i], "POST /api/messages/acknowledge ", 31) == 0)
			return true;
	}
	return false;
}

static void silent_peer_close(struct silent_peer *sp)
{
	size_t i;

	for (i = 0; i < sp->n; i++)
		close(sp->fds[i]);
	close(sp->listen_fd);
}

static void test_sigterm_while_the_producer_does_not_answer_acks(void **state)
{
	PGconn *conn = it_pg_connect(faults_db.conninfo);
	struct silent_peer sp;
	struct it_producer silent = {0};
	struct pair pr;
	char topic[IT_TOPIC_MAX], key[32];
	size_t k;

	(void)state;
	silent_peer_open(&sp);
	silent.port = sp.port; /* no process: only its address, for the consumer's acks */
	memset(&pr, 0, sizeof(pr));
	it_topic(topic, sizeof(topic), "shutdown-acks");
	snprintf(pr.topic, sizeof(pr.topic), "%s", topic);
	snprintf(pr.group, sizeof(pr.group), "%s-g", topic);
	it_producer_start(&pr.producer, &faults_db, producer_env);
	register_topic(&pr);
	it_consumer_start_group(&pr.consumer, &faults_db, &silent, pr.group, pr.topic,
	                        consumer_env);
	for (k = 0; k < OUTAGE_MESSAGES; k++) {
		snprintf(key, sizeof(key), "k%zu", k);
		(void)it_send_message(&pr.producer, pr.topic, key, "acks to nowhere");
	}
	assert_true(it_wait_sql_int(conn, OUTAGE_MESSAGES, PROCESS_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"
	                            " WHERE consumer_group = '%s'",
	                            pr.group));
	/* A POST of them is in progress, with its 10 s timeout: the wait to bound. */
	assert_true(it_wait_until(silent_peer_has_ack_post, &sp, PROCESS_TIMEOUT_MS));
	stop_within_deadline(&pr.consumer, "consumer", "producer not answering acknowledgments");
	assert_int_equal(it_sql_int(conn,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"
	                            " WHERE consumer_group = '%s'",
	                            pr.group),
	                 OUTAGE_MESSAGES);
	silent_peer_close(&sp);

	/* The next start, against a producer that answers, delivers them. */
	it_consumer_start_group(&pr.consumer, &faults_db, &pr.producer, pr.group, pr.topic,
	                        consumer_env);
	assert_true(it_wait_sql_int(conn, OUTAGE_MESSAGES, PROCESS_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE topic = '%s' AND status = 'ACKNOWLEDGED'",
	                            pr.topic));
	assert_true(it_wait_sql_int(conn, 0, PROCESS_TIMEOUT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack"
	                            " WHERE consumer_group = '%s'",
	                            pr.group));
	assert_int_equal(it_producer_stop(&pr.consumer), 0);
	assert_int_equal(it_producer_stop(&pr.producer), 0);
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_sigterm_while_the_producer_does_not_answer_acks,
	                              restore_stack),
	    cmocka_unit_test_teardown(test_sigterm_during_a_retry_pass_with_kafka_down,
	                              restore_stack),
	    cmocka_unit_test_teardown(test_retry_transaction_bounded_while_kafka_down,
	                              restore_stack),
	    cmocka_unit_test_teardown(test_sigterm_with_kafka_or_pg_down, restore_stack),
	};

	return it_finish(cmocka_run_group_tests(tests, faults_setup, faults_teardown));
}
