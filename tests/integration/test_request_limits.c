/*
 * test_request_limits.c - what one request may cost the producer (issue 11, items 5 and 6).
 *
 * - Memory: a hostile 1 MiB body of "[{},{},...]" gets 413 and a deeply nested one 400, both
 *   before jansson builds anything, and nothing is written; a small control route refuses a
 *   body far smaller than the server's limit (per-route limits).
 * - Slow clients: a connection trickling its headers a byte at a time is closed at the request
 *   deadline although the idle timeout never fires; and while one client holds hundreds of
 *   slow connections, GET /health answers within 1 s.
 * - Database bounds: with the outbox locked by another session, an unbatched and a batched
 *   send end with 503 ("did not answer in time") within the lock timeout, nothing written, and
 *   the same sends succeed once the lock is gone.
 *
 * Every connection goes to the producer on 127.0.0.1. The slow client's sockets are bound to
 * the source address 127.0.0.2 (also loopback) so that it is a client other than the one
 * probing /health: a per-client limit protects the other clients, not the offender.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The slow client tries to hold more connections than the server takes in all
 * (MAX_CONNECTIONS): without the per-client limit it alone fills the server. */
#define SLOW_CONNECTIONS  300
#define MAX_CONNECTIONS   200
#define PER_CLIENT_LIMIT  100
#define STR_(x)           #x
#define STR(x)            STR_(x)
#define REQUEST_TIMEOUT_S 2
#define LOCK_TIMEOUT_MS   1000

static struct it_fixture fx;

static int setup(void **state)
{
	static const char *const env[] = {
	    "FERRY_RELAY_ENABLED=false",
	    "FERRY_HTTP_MAX_CONNECTIONS=" STR(MAX_CONNECTIONS),
	    "FERRY_HTTP_MAX_CONNECTIONS_PER_CLIENT=" STR(PER_CLIENT_LIMIT),
	    "FERRY_HTTP_REQUEST_TIMEOUT_S=2",
	    "FERRY_HTTP_IDLE_TIMEOUT_S=5",
	    "FERRY_DB_LOCK_TIMEOUT_MS=1000",
	    "FERRY_BATCH_MAX_WAIT_MS=5",
	    NULL};

	(void)state;
	it_fixture_open(&fx, "request_limits", env);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

static int64_t outbox_rows(void)
{
	return it_sql_int(fx.conn, "SELECT count(*) FROM ferry.outbox_message");
}

/* Expects `want` with a JSON {"error": ...} containing `needle`, and no row written. */
static void expect_error(const char *what, const char *path, const char *body, size_t len,
                         long want, const char *needle)
{
	struct it_response r = {0};
	const char *error;

	it_http(&fx.producer, "POST", path, "application/json", body, len, &r);
	error = it_json_string(r.json, "error");
	if (r.status != want || error == NULL || strstr(error, needle) == NULL)
		fail_msg("%s: answered %ld %.300s (%s), wanted %ld with '%s'", what, r.status,
		         r.text ? r.text : "", r.error, want, needle);
	if (outbox_rows() != 0)
		fail_msg("%s: a row was written", what);
	it_response_free(&r);
}

static void test_hostile_bodies(void **state)
{
	size_t size = 1024 * 1024;
	char *body = malloc(size);

	(void)state;
	assert_non_null(body);
	/* 1 MiB exactly: within FERRY_HTTP_MAX_BODY_BYTES, so only the pre-scan refuses it. */
	memset(body, ' ', size);
	body[0] = '[';
	for (size_t i = 1; i + 4 < size; i += 3)
		memcpy(body + i, "{},", 3);
	memcpy(body + size - 3, "{}]", 3);
	expect_error("1 MiB of [{},{},...]", "/api/messages/send-batch", body, size, 413,
	             "JSON holds more than 50000 values");
	expect_error("1 MiB of [{},{},...] to send", "/api/messages/send", body, size, 413,
	             "JSON holds more than 50000 values");
	/* 100,000 levels of nesting in 200 KB. */
	memset(body, '[', 100000);
	memset(body + 100000, ']', 100000);
	expect_error("deep nesting", "/api/messages/send", body, 200000, 400,
	             "JSON nests deeper than 64 levels");
	/* A control route takes 16 KiB, not the server's 1 MiB. */
	memset(body, ' ', 20000);
	memcpy(body, "{\"limit\": 1}", 12);
	expect_error("20 KB to /api/messages/retry", "/api/messages/retry", body, 20000, 413,
	             "request body exceeds 16384 bytes");
	free(body);
}

/* A socket to the producer from the loopback source address `src`; -1 on failure. */
static int connect_from(const char *src)
{
	struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &from.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	to.sin_port = htons((uint16_t)fx.producer.port);
	if (bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* True once the peer has closed `fd` (end of file or reset), waiting at most timeout_ms. */
static bool closed_by_peer(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[512];

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0;
}

static void test_request_deadline(void **state)
{
	static const char head[] = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int fd = connect_from("127.0.0.2");
	int64_t t0 = it_now_ms(), closed_at = 0;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(head) - 1);
	/* A byte every 200 ms: the idle timeout (5 s) never fires; the 2 s deadline must. */
	while (it_now_ms() - t0 < 10000) {
		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1 || closed_by_peer(fd, 200)) {
			closed_at = it_now_ms();
			break;
		}
	}
	close(fd);
	if (closed_at == 0)
		fail_msg("a connection trickling its headers was still open after 10 s");
	if (closed_at - t0 < REQUEST_TIMEOUT_S * 1000 - 100 ||
	    closed_at - t0 > REQUEST_TIMEOUT_S * 1000 + 1500)
		fail_msg("closed after %lld ms, wanted about %d s", (long long)(closed_at - t0),
		         REQUEST_TIMEOUT_S);
}

/* Closes and counts the sockets of fds[0..n) the peer has closed (marking them -1). */
static int reap_closed(int *fds, int n)
{
	int closed = 0;

	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0 && closed_by_peer(fds[i], 0)) {
			close(fds[i]);
			fds[i] = -1;
			closed++;
		}
	}
	return closed;
}

/*
 * One client (127.0.0.2) opens SLOW_CONNECTIONS connections, more than the server's global
 * limit (MAX_CONNECTIONS), each stuck in its headers. /health is asked at once, well within
 * the request deadline that would otherwise free the slots: without the per-client limit the
 * slow client holds every slot and /health is refused or left waiting; with it, the slow
 * client holds PER_CLIENT_LIMIT connections and the rest are closed.
 */
static void test_health_under_slowloris(void **state)
{
	static const char head[] = "POST /api/messages/send HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	int fds[SLOW_CONNECTIONS];
	struct it_response r = {0};
	int opened = 0, refused = 0;
	int64_t t0, took;

	(void)state;
	t0 = it_now_ms();
	for (int i = 0; i < SLOW_CONNECTIONS; i++) {
		fds[i] = connect_from("127.0.0.2");
		if (fds[i] >= 0 && send(fds[i], head, sizeof(head) - 1, MSG_NOSIGNAL) < 0) {
			close(fds[i]);
			fds[i] = -1;
		}
		opened += fds[i] >= 0;
	}
	/* The kernel queues accepted connections in order: the probe comes after all of them. */
	it_get(&fx.producer, "/health", &r);
	took = it_now_ms() - t0;
	/* Those over the per-client limit are closed at once (the deadline, 2 s, is not due). */
	refused = reap_closed(fds, SLOW_CONNECTIONS);
	while (refused < SLOW_CONNECTIONS - PER_CLIENT_LIMIT && it_now_ms() - t0 < 1500) {
		it_sleep_ms(20);
		refused += reap_closed(fds, SLOW_CONNECTIONS);
	}
	for (int i = 0; i < SLOW_CONNECTIONS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	assert_true(opened > MAX_CONNECTIONS);
	if (r.status != 200 || took > 1000)
		fail_msg("GET /health answered %ld after %lld ms while one client held %d slow "
		         "connections (%s)",
		         r.status, (long long)took, opened - refused, r.error);
	if (refused < SLOW_CONNECTIONS - PER_CLIENT_LIMIT)
		fail_msg("only %d of %d connections over the per-client limit were closed", refused,
		         SLOW_CONNECTIONS - PER_CLIENT_LIMIT);
	it_response_free(&r);
}

struct locked_send {
	const char *body;
	long status;
	char error[512];
	int64_t took_ms;
};

static void *locked_send_main(void *arg)
{
	struct locked_send *s = arg;
	struct it_response r = {0};
	int64_t t0 = it_now_ms();
	const char *error;

	s->status = it_post(&fx.producer, "/api/messages/send", s->body, &r);
	s->took_ms = it_now_ms() - t0;
	error = it_json_string(r.json, "error");
	snprintf(s->error, sizeof(s->error), "%s", error ? error : (r.text ? r.text : r.error));
	it_response_free(&r);
	return NULL;
}

static void test_locked_outbox(void **state)
{
	char topic[IT_TOPIC_MAX], unbatched[512], batched[512];
	struct locked_send sends[2] = {{.body = unbatched}, {.body = batched}};
	PGconn *locker = it_pg_connect(fx.db.conninfo);
	pthread_t threads[2];
	struct it_response r = {0};

	(void)state;
	it_topic(topic, sizeof(topic), "limits-locked");
	snprintf(unbatched, sizeof(unbatched), "{\"topic\": \"%s\", \"message\": \"unbatched\"}",
	         topic);
	snprintf(batched, sizeof(batched),
	         "{\"topic\": \"%s\", \"message\": \"batched\", \"useBatching\": true}", topic);
	/* Register the topic first (auto-registration), then empty the outbox again. */
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", sends[0].body, &r), 201);
	it_sql_exec(fx.conn, "DELETE FROM ferry.outbox_message");
	it_sql_exec(locker, "BEGIN");
	it_sql_exec(locker, "LOCK TABLE ferry.outbox_message IN EXCLUSIVE MODE");
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, locked_send_main, &sends[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	it_sql_exec(locker, "ROLLBACK");
	PQfinish(locker);
	for (int i = 0; i < 2; i++) {
		if (sends[i].status != 503 ||
		    strstr(sends[i].error, "did not answer in time") == NULL)
			fail_msg("%s: answered %ld (%s), wanted 503", sends[i].body,
			         sends[i].status, sends[i].error);
		if (sends[i].took_ms > LOCK_TIMEOUT_MS + 2000)
			fail_msg("%s: the 503 took %lld ms", sends[i].body,
			         (long long)sends[i].took_ms);
	}
	assert_int_equal(outbox_rows(), 0);
	/* The lock gone, both kinds of send work again on the same connections. */
	for (int i = 0; i < 2; i++) {
		locked_send_main(&sends[i]);
		if (sends[i].status != 201)
			fail_msg("%s after the lock: %ld (%s)", sends[i].body, sends[i].status,
			         sends[i].error);
	}
	assert_int_equal(outbox_rows(), 2);
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hostile_bodies), cmocka_unit_test(test_request_deadline),
	    cmocka_unit_test(test_health_under_slowloris),
	    cmocka_unit_test(test_locked_outbox), /* last: it writes rows */
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
