/*
 * test_auth.c - API keys and roles against real ferry-producer and ferry-consumer processes:
 * 401 without a key, with an unknown or a revoked one; 403 for a key without the route's role,
 * one representative route per role, with nothing written; the right role (or one of two)
 * admitted; X-Api-Key accepted; a revocation with ferryctl reaching a second producer within
 * seconds; a failed refresh keeps the last good copy of the keys; the audit actor of a re-drive
 * and a group edit is the key's name; FERRY_AUTH=off open with its warning; no keys and all
 * interfaces refused at start-up; the consumer's listings behind a key; the
 * consumer's acknowledgments arriving with ProducerService__ApiKey and held back without it.
 *
 * Keys are made with ferryctl keys create on the test's database, as an operator would.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WAIT_MS    30000
#define REFRESH_MS "FERRY_AUTH_REFRESH_MS=300"

extern char **environ;

static struct it_fixture fx;
/* Keys made by setup with ferryctl: one role each, and one with two. */
static char key_producer[128], key_consumer[128], key_operator[128], key_reader[128], key_two[128];

/*
 * Runs `bin` with argv (NULL-terminated, argv[0] included) and the environment `env` (NULL:
 * this process's), and waits at most 60 s. Its stdout goes into out (NUL-terminated, at most
 * size - 1 bytes), its stderr into err when err is not NULL (else into out too). Returns the
 * exit status, or -1 when it could not run or was killed.
 */
static int run_capture(const char *bin, char *const *argv, char *const *env, char *out, size_t size,
                       char *err, size_t err_size)
{
	int po[2], pe[2], status = 0;
	size_t used = 0, eused = 0;
	pid_t pid;

	if (pipe(po) != 0 || pipe(pe) != 0)
		fail_msg("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(err != NULL ? pe[1] : po[1], 2);
		close(po[0]);
		close(pe[0]);
		execve(bin, argv, env != NULL ? env : environ);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	/* Small outputs: read stdout to its end, then stderr (neither fills a pipe here). */
	for (;;) {
		ssize_t n = read(po[0], out + used, size - 1 - used);

		if (n <= 0 || used + (size_t)n >= size - 1) {
			if (n > 0)
				used += (size_t)n;
			break;
		}
		used += (size_t)n;
	}
	out[used] = '\0';
	for (; err != NULL;) {
		ssize_t n = read(pe[0], err + eused, err_size - 1 - eused);

		if (n <= 0 || eused + (size_t)n >= err_size - 1) {
			if (n > 0)
				eused += (size_t)n;
			break;
		}
		eused += (size_t)n;
	}
	if (err != NULL)
		err[eused] = '\0';
	close(po[0]);
	close(pe[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ferryctl keys <args...> --database <the fixture's db>; stdout into out, stderr into err. */
static int keys(char *out, size_t size, char *err, size_t err_size, const char *sub, const char *a1,
                const char *a2, const char *a3)
{
	char *argv[10];
	int n = 0;

	argv[n++] = (char *)"ferryctl";
	argv[n++] = (char *)"keys";
	argv[n++] = (char *)sub;
	argv[n++] = (char *)"--database";
	argv[n++] = fx.db.conninfo;
	if (a1)
		argv[n++] = (char *)a1;
	if (a2)
		argv[n++] = (char *)a2;
	if (a3)
		argv[n++] = (char *)a3;
	argv[n] = NULL;
	return run_capture(FERRY_CTL_BIN, argv, NULL, out, size, err, err_size);
}

/* Creates key `name` with `roles` and copies it (stdout's one line) into key. */
static void create_key(const char *name, const char *roles, char *key, size_t size)
{
	char out[512], err[512];

	if (keys(out, sizeof(out), err, sizeof(err), "create", name, "--roles", roles) != 0)
		fail_msg("ferryctl keys create %s failed: %s", name, err);
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(strlen(out), 67); /* fk_ + 64 hex digits */
	snprintf(key, size, "%s", out);
}

/* Sends method path with `key` (NULL: none) and the JSON body (NULL: none); returns status. */
static long call(const struct it_producer *p, const char *key, const char *method, const char *path,
                 const char *json, struct it_response *r)
{
	/* Every write carries the JSON content type, body or not (else 415 before the key). */
	bool write = strcmp(method, "GET") != 0;

	return it_http_as(p, key, method, path, json || write ? "application/json" : NULL, json,
	                  json ? strlen(json) : 0, NULL, r);
}

struct revoked_arg {
	const struct it_producer *p;
	const char *key;
};

static bool key_refused(void *arg)
{
	const struct revoked_arg *a = arg;
	struct it_response r = {0};
	long status = call(a->p, a->key, "GET", "/api/messages/stats", NULL, &r);

	it_response_free(&r);
	return status == 401;
}

static bool key_admitted(void *arg)
{
	const struct revoked_arg *a = arg;
	struct it_response r = {0};
	long status = call(a->p, a->key, "GET", "/api/messages/stats", NULL, &r);

	it_response_free(&r);
	return status == 200;
}

static int setup(void **state)
{
	const char *env[] = {REFRESH_MS, NULL};

	(void)state;
	it_fixture_open(&fx, "auth", env);
	create_key("p", "producer", key_producer, sizeof(key_producer));
	create_key("c", "consumer", key_consumer, sizeof(key_consumer));
	create_key("o", "operator", key_operator, sizeof(key_operator));
	create_key("r", "reader", key_reader, sizeof(key_reader));
	create_key("pr", "producer,reader", key_two, sizeof(key_two));
	/* Made after the producer started: known once it has read the table again. */
	{
		struct revoked_arg a = {&fx.producer, key_two};

		if (!it_wait_until(key_admitted, &a, 10000))
			fail_msg("the producer never admitted the keys made with ferryctl");
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_fixture_close(&fx);
	return 0;
}

/* Fails unless the answer is `status` with {"error": want}. */
static void expect_error(long got, struct it_response *r, long status, const char *want)
{
	if (got != status || strcmp(it_json_string(r->json, "error"), want) != 0)
		fail_msg("expected %ld {\"error\":\"%s\"}, got %ld %s", status, want, got, r->text);
	it_response_free(r);
}

static int64_t rows(const char *table)
{
	return it_sql_int(fx.conn, "SELECT count(*) FROM %s", table);
}

static void test_401_and_403_write_nothing(void **state)
{
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], body[512], send[512];
	int64_t messages = rows("ferry.outbox_message"), topics = rows("ferry.topic_registration");
	int64_t events = rows("ferry.message_event");

	(void)state;
	it_topic(topic, sizeof(topic), "auth");
	snprintf(send, sizeof(send),
	         "{\"topic\":\"%s\",\"key\":\"k\",\"message\":\"x\",\"useBatching\":false}", topic);
	snprintf(body, sizeof(body), "{\"topicName\":\"%s\",\"consumerGroups\":[]}", topic);
	/* No key, an unknown key: 401, whatever the route. */
	expect_error(call(&fx.producer, NULL, "POST", "/api/messages/send", send, &r), &r, 401,
	             "missing or unknown API key");
	expect_error(call(&fx.producer, "fk_not_a_key", "POST", "/api/messages/send", send, &r), &r,
	             401, "missing or unknown API key");
	expect_error(call(&fx.producer, NULL, "GET", "/metrics", NULL, &r), &r, 401,
	             "missing or unknown API key");
	/* A known key without the route's role: 403, one route per role. */
	expect_error(call(&fx.producer, key_reader, "POST", "/api/messages/send", send, &r), &r,
	             403, "this API key lacks the producer role");
	expect_error(call(&fx.producer, key_operator, "POST", "/api/messages/send-batch", "[]", &r),
	             &r, 403, "this API key lacks the producer role");
	expect_error(
	    call(&fx.producer, key_producer, "POST", "/api/messages/acknowledge", "[]", &r), &r,
	    403, "this API key lacks the consumer role");
	expect_error(call(&fx.producer, key_reader, "POST", "/api/topics/register", body, &r), &r,
	             403, "this API key lacks the operator role");
	expect_error(call(&fx.producer, key_consumer, "POST", "/api/messages/1/retry", "{}", &r),
	             &r, 403, "this API key lacks the operator role");
	expect_error(call(&fx.producer, key_reader, "DELETE", "/api/messages/failed", NULL, &r), &r,
	             403, "this API key lacks the operator role");
	expect_error(call(&fx.producer, key_producer, "GET", "/api/topics", NULL, &r), &r, 403,
	             "this API key lacks the reader role");
	expect_error(call(&fx.producer, key_consumer, "GET", "/metrics", NULL, &r), &r, 403,
	             "this API key lacks the reader role");
	/* Nothing was written by any of them. */
	assert_int_equal(rows("ferry.outbox_message"), messages);
	assert_int_equal(rows("ferry.topic_registration"), topics);
	assert_int_equal(rows("ferry.message_event"), events);
	/* Open: liveness and the dashboard's page (it holds no data). */
	assert_int_equal(call(&fx.producer, NULL, "GET", "/health", NULL, &r), 200);
	assert_int_equal(call(&fx.producer, NULL, "GET", "/", NULL, &r), 200);
	it_response_free(&r);
}

/* Every GET route (and /metrics) takes a reader key and refuses any other role. */
static void test_every_get_is_reader(void **state)
{
	static const char *const paths[] = {
	    "/api/messages/health",
	    "/api/messages/pending",
	    "/api/messages/1",
	    "/api/messages/consumer-group/x",
	    "/api/messages/stats",
	    "/api/messages/failed",
	    "/api/topics",
	    "/api/topics/consumer-groups",
	    "/api/topics/consumer-groups/1",
	    "/api/topics/x",
	    "/api/agents/consumers",
	    "/api/agents/consumers/1",
	    "/api/agents/producers",
	    "/api/agents/producers/1",
	    "/api/agents/1",
	    "/metrics",
	};
	struct it_response r = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		long as_reader = call(&fx.producer, key_reader, "GET", paths[i], NULL, &r);
		long as_others = call(&fx.producer, key_producer, "GET", paths[i], NULL, &r);
		long as_operator = call(&fx.producer, key_operator, "GET", paths[i], NULL, &r);

		if (as_reader == 401 || as_reader == 403 || as_others != 403 || as_operator != 403)
			fail_msg("GET %s: reader %ld, producer %ld, operator %ld", paths[i],
			         as_reader, as_others, as_operator);
	}
	it_response_free(&r);
}

static void test_right_role_admitted(void **state)
{
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], body[512], send[512];
	const char *xkey[2] = {NULL, NULL};
	char xheader[160];

	(void)state;
	it_topic(topic, sizeof(topic), "auth-ok");
	snprintf(body, sizeof(body), "{\"topicName\":\"%s\",\"consumerGroups\":[]}", topic);
	assert_int_equal(call(&fx.producer, key_operator, "POST", "/api/topics/register", body, &r),
	                 201);
	snprintf(send, sizeof(send),
	         "{\"topic\":\"%s\",\"key\":\"k\",\"message\":\"x\",\"useBatching\":false}", topic);
	assert_int_equal(call(&fx.producer, key_producer, "POST", "/api/messages/send", send, &r),
	                 201);
	assert_int_equal(call(&fx.producer, key_reader, "GET", "/api/topics", NULL, &r), 200);
	assert_int_equal(call(&fx.producer, key_reader, "GET", "/metrics", NULL, &r), 200);
	/* Past the key check: the handler judges the (empty) batch itself. */
	assert_int_equal(
	    call(&fx.producer, key_consumer, "POST", "/api/messages/acknowledge", "[]", &r), 400);
	assert_null(strstr(r.text, "API key"));
	/* A key with two roles has both, and only those. */
	assert_int_equal(call(&fx.producer, key_two, "POST", "/api/messages/send", send, &r), 201);
	assert_int_equal(call(&fx.producer, key_two, "GET", "/api/topics", NULL, &r), 200);
	expect_error(call(&fx.producer, key_two, "POST", "/api/topics/register", body, &r), &r, 403,
	             "this API key lacks the operator role");
	/* X-Api-Key works as well as Authorization: Bearer. */
	snprintf(xheader, sizeof(xheader), "X-Api-Key: %s", key_producer);
	xkey[0] = xheader;
	assert_int_equal(it_http_as(&fx.producer, NULL, "POST", "/api/messages/send",
	                            "application/json", send, strlen(send), xkey, &r),
	                 201);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'",
	                            topic),
	                 3);
	it_response_free(&r);
}

static void test_revocation_reaches_every_instance(void **state)
{
	const char *env[] = {REFRESH_MS, NULL};
	struct it_producer second = {0};
	struct it_response r = {0};
	char key[128], out[1024], err[512];
	struct revoked_arg a1, a2;
	int64_t t0;

	(void)state;
	create_key("short-lived", "reader", key, sizeof(key));
	it_producer_start(&second, &fx.db, env);
	/* Both instances know it (each refreshes within FERRY_AUTH_REFRESH_MS). */
	a1 = (struct revoked_arg){&fx.producer, key};
	a2 = (struct revoked_arg){&second, key};
	assert_true(it_wait_until(key_admitted, &a1, 10000));
	assert_true(it_wait_until(key_admitted, &a2, 10000));
	assert_int_equal(
	    keys(out, sizeof(out), err, sizeof(err), "revoke", "short-lived", NULL, NULL), 0);
	t0 = it_now_ms();
	assert_true(it_wait_until(key_refused, &a1, 10000));
	assert_true(it_wait_until(key_refused, &a2, 10000));
	print_message("revocation reached both producers in %" PRId64 " ms\n", it_now_ms() - t0);
	/* list shows it revoked, never a hash; a second revoke of an unknown name fails. */
	assert_int_equal(keys(out, sizeof(out), err, sizeof(err), "list", NULL, NULL, NULL), 0);
	assert_non_null(strstr(out, "short-lived"));
	assert_null(strstr(out, key + 3));
	assert_int_equal(keys(out, sizeof(out), err, sizeof(err), "revoke", "nobody", NULL, NULL),
	                 1);
	assert_non_null(strstr(err, "no key named 'nobody'"));
	assert_int_equal(
	    keys(out, sizeof(out), err, sizeof(err), "create", "p", "--roles", "reader"), 1);
	assert_non_null(strstr(err, "exists already"));
	assert_int_equal(
	    keys(out, sizeof(out), err, sizeof(err), "create", "x", "--roles", "admin"), 2);
	assert_non_null(strstr(err, "unknown role 'admin'"));
	assert_int_equal(it_producer_stop(&second), 0);
	it_response_free(&r);
}

struct log_arg {
	const char *path;
	const char *text;
};

/* Whether the log at a->path holds a->text. */
static bool log_says(void *arg)
{
	const struct log_arg *a = arg;
	char line[2048];
	bool found = false;
	FILE *f = fopen(a->path, "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, a->text) != NULL;
	fclose(f);
	return found;
}

/* A refresh that fails (the key table unreadable) keeps the keys the instance knew: known keys
 * still work, unknown ones are still refused, and the instance says so once, then recovers. */
static void test_refresh_failure_keeps_the_last_good_copy(void **state)
{
	struct it_response r = {0};
	struct log_arg failing = {fx.producer.log_path,
	                          "could not refresh the API keys, keeping the last"
	                          " good copy"};
	struct log_arg again = {fx.producer.log_path, "API keys refreshed again"};

	(void)state;
	assert_int_equal(call(&fx.producer, key_reader, "GET", "/api/messages/stats", NULL, &r),
	                 200);
	it_response_free(&r);
	it_sql_exec(fx.conn, "ALTER TABLE ferry.api_key RENAME TO api_key_away");
	if (!it_wait_until(log_says, &failing, 10000)) {
		it_sql_exec(fx.conn, "ALTER TABLE ferry.api_key_away RENAME TO api_key");
		fail_msg("the producer never said its key refresh failed");
	}
	assert_int_equal(call(&fx.producer, key_reader, "GET", "/api/messages/stats", NULL, &r),
	                 200);
	it_response_free(&r);
	assert_int_equal(call(&fx.producer, "fk_not_a_key_anyone_made_0000000000000000000000000000",
	                      "GET", "/api/messages/stats", NULL, &r),
	                 401);
	it_response_free(&r);
	it_sql_exec(fx.conn, "ALTER TABLE ferry.api_key_away RENAME TO api_key");
	assert_true(it_wait_until(log_says, &again, 10000));
	assert_int_equal(call(&fx.producer, key_reader, "GET", "/api/messages/stats", NULL, &r),
	                 200);
	it_response_free(&r);
}

static void test_redrive_actor_is_the_key_name(void **state)
{
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], body[512], path[96];
	int64_t id, group_id;

	(void)state;
	it_topic(topic, sizeof(topic), "auth-actor");
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"consumerGroups\":[{\"consumerGroupName\":\"ga\"}]}",
	         topic);
	assert_int_equal(call(&fx.producer, key_operator, "POST", "/api/topics/register", body, &r),
	                 201);
	id = it_send_message(&fx.producer, topic, "k", "x");
	assert_true(
	    it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE message_id = "
	                    "%" PRId64,
	                    id));
	it_sql_exec(
	    fx.conn,
	    "UPDATE ferry.message_delivery SET status = 'FAILED' WHERE message_id = %" PRId64, id);
	snprintf(path, sizeof(path), "/api/messages/%" PRId64 "/retry", id);
	/* A client-chosen actor header is not what is recorded: the key's name is. */
	{
		char auth[160];
		const char *h[] = {auth, "X-Ferry-Actor: someone-else", NULL};

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key_operator);
		assert_int_equal(it_http_with_headers(&fx.producer, "POST", path,
		                                      "application/json",
		                                      "{\"consumerGroup\":\"ga\"}", 22, h, &r),
		                 202);
	}
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_event WHERE message_id = "
	                            "%" PRId64
	                            " AND event = 'redrive_requested' AND actor = 'key:o'",
	                            id),
	                 1);
	it_response_free(&r);

	/* A group edit records the key's name too, whatever X-Ferry-Actor says. */
	group_id = it_sql_int(fx.conn,
	                      "SELECT g.id FROM ferry.consumer_group_registration g"
	                      " JOIN ferry.topic_registration t ON t.id = g.topic_registration_id"
	                      " WHERE t.topic_name = '%s' AND g.consumer_group_name = 'ga'",
	                      topic);
	snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" PRId64, group_id);
	{
		char auth[160];
		const char *h[] = {auth, "X-Ferry-Actor: someone-else", NULL};

		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key_operator);
		assert_int_equal(it_http_with_headers(&fx.producer, "PUT", path, "application/json",
		                                      "{\"maxRetries\":7}", 16, h, &r),
		                 200);
	}
	assert_string_equal(json_string_value(it_json_get(r.json, "updatedBy")), "key:o");
	it_response_free(&r);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.consumer_group_registration"
	                            " WHERE id = %" PRId64 " AND updated_by = 'key:o'"
	                            " AND max_retries = 7",
	                            group_id),
	                 1);
}

static void test_auth_off_is_open_and_says_so(void **state)
{
	const char *env[] = {"FERRY_AUTH=off", "FERRY_BOOTSTRAP_API_KEY=", NULL};
	struct it_producer open_p = {0};
	struct it_response r = {0};
	char cmd[1024];

	(void)state;
	it_producer_start(&open_p, &fx.db, env);
	assert_int_equal(call(&open_p, NULL, "GET", "/api/topics", NULL, &r), 200);
	snprintf(cmd, sizeof(cmd), "grep -q 'FERRY_AUTH=off: every route is open' '%s'",
	         open_p.log_path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(it_producer_stop(&open_p), 0);
	it_response_free(&r);
}

/* No key anywhere and all interfaces: exit 1 with one line saying how to fix it. */
static void test_no_keys_on_all_interfaces_refused(void **state)
{
	struct it_db empty;
	char conn[2300], kafka[512], out[8192], err[8192];
	char *argv[] = {(char *)"ferry-producer", NULL};
	char *env[] = {conn,
	               kafka,
	               (char *)"PORT=0",
	               (char *)"FERRY_HTTP_HOST=0.0.0.0",
	               (char *)"FERRY_RELAY_ENABLED=false",
	               (char *)"FERRY_RETRY_ENABLED=false",
	               (char *)"FERRY_CLEANUP_ENABLED=false",
	               (char *)"PATH=/usr/bin:/bin",
	               NULL};
	int rc;

	(void)state;
	it_db_create(&empty, "auth_empty");
	snprintf(conn, sizeof(conn), "ConnectionStrings__DefaultConnection=%s", empty.conninfo);
	snprintf(kafka, sizeof(kafka), "ConnectionStrings__Kafka=%s", getenv("FERRY_TEST_KAFKA"));
	rc = run_capture(FERRY_PRODUCER_BIN, argv, env, out, sizeof(out), err, sizeof(err));
	if (rc != 1 || strstr(err, "ferry-producer: no API key exists and the service would listen "
	                           "on 0.0.0.0") == NULL)
		fail_msg("expected exit 1 and the refusal line, got %d: %s", rc, err);
	it_db_drop(&empty);
}

static bool delivery_acknowledged(void *arg)
{
	const int64_t *id = arg;

	return it_sql_int(fx.conn,
	                  "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	                  " AND status = 'ACKNOWLEDGED'",
	                  *id) == 1;
}

static bool consumer_key_admitted(void *arg)
{
	const struct revoked_arg *a = arg;
	struct it_response r = {0};
	long status = call(a->p, a->key, "GET", "/metrics", NULL, &r);

	it_response_free(&r);
	return status == 200;
}

static void test_consumer_keys(void **state)
{
	struct it_producer with_key = {0}, without = {0};
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], topic2[IT_TOPIC_MAX], body[512], ack_key[160], cmd[1024];
	const char *env_key[] = {ack_key, NULL};
	const char *env_none[] = {"ProducerService__ApiKey=", NULL};
	int64_t id, id2;

	(void)state;
	/* Acknowledgments with a consumer-role key arrive. */
	it_topic(topic, sizeof(topic), "auth-acks");
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"consumerGroups\":[{\"consumerGroupName\":\"%s-g\"}]}",
	         topic, topic);
	assert_int_equal(call(&fx.producer, key_operator, "POST", "/api/topics/register", body, &r),
	                 201);
	snprintf(ack_key, sizeof(ack_key), "ProducerService__ApiKey=%s", key_consumer);
	snprintf(body, sizeof(body), "%s-g", topic);
	it_consumer_start_group(&with_key, &fx.db, &fx.producer, body, topic, env_key);
	id = it_send_message(&fx.producer, topic, "k", "x");
	assert_true(it_wait_until(delivery_acknowledged, &id, WAIT_MS));
	/* Its own listings need a key: none 401, the consumer's bootstrap key (reader) 200. */
	snprintf(body, sizeof(body), "/api/consumer/processed/%s-g", topic);
	expect_error(call(&with_key, NULL, "GET", body, NULL, &r), &r, 401,
	             "missing or unknown API key");
	assert_int_equal(call(&with_key, IT_API_KEY, "GET", body, NULL, &r), 200);
	assert_int_equal(call(&with_key, NULL, "GET", "/metrics", NULL, &r), 401);
	assert_int_equal(call(&with_key, NULL, "GET", "/health", NULL, &r), 200);
	/* The consumer's own key table: a key made with ferryctl keys create --consumer. */
	{
		char out[512], err[512];
		struct revoked_arg a;

		assert_int_equal(keys(out, sizeof(out), err, sizeof(err), "create", "dash",
		                      "--roles=reader", "--consumer"),
		                 0);
		out[strcspn(out, "\n")] = '\0';
		a = (struct revoked_arg){&with_key, out};
		assert_true(it_wait_until(consumer_key_admitted, &a, 10000));
		/* ... and only there: the producer does not know it. */
		assert_int_equal(call(&fx.producer, out, "GET", "/api/topics", NULL, &r), 401);
	}
	assert_int_equal(it_producer_stop(&with_key), 0);

	/* Without ProducerService__ApiKey: processed, but the acknowledgment is refused (401)
	 * and stays pending in the inbox. */
	it_topic(topic2, sizeof(topic2), "auth-noack");
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"consumerGroups\":[{\"consumerGroupName\":\"%s-g\"}]}",
	         topic2, topic2);
	assert_int_equal(call(&fx.producer, key_operator, "POST", "/api/topics/register", body, &r),
	                 201);
	snprintf(body, sizeof(body), "%s-g", topic2);
	it_consumer_start_group(&without, &fx.db, &fx.producer, body, topic2, env_none);
	id2 = it_send_message(&fx.producer, topic2, "k", "x");
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack WHERE "
	                            "message_id = %" PRId64,
	                            id2));
	snprintf(cmd, sizeof(cmd),
	         "for i in $(seq 1 150); do grep -q 'answered HTTP 401' '%s' && exit 0; "
	         "sleep 0.2; done; exit 1",
	         without.log_path);
	assert_int_equal(system(cmd), 0);
	assert_false(delivery_acknowledged(&id2));
	assert_int_equal(it_producer_stop(&without), 0);
	it_response_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_401_and_403_write_nothing),
	    cmocka_unit_test(test_right_role_admitted),
	    cmocka_unit_test(test_every_get_is_reader),
	    cmocka_unit_test(test_revocation_reaches_every_instance),
	    cmocka_unit_test(test_refresh_failure_keeps_the_last_good_copy),
	    cmocka_unit_test(test_redrive_actor_is_the_key_name),
	    cmocka_unit_test(test_auth_off_is_open_and_says_so),
	    cmocka_unit_test(test_no_keys_on_all_interfaces_refused),
	    cmocka_unit_test(test_consumer_keys),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
