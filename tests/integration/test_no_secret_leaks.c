/*
 * test_no_secret_leaks.c - a run of ferry-producer and ferry-consumer with secrets configured,
 * through sending, a webhook failure (failed_message row, negative acknowledgment, retry), a
 * database outage (libpq connection errors on every path), every GET endpoint of both services,
 * the dashboard and /metrics; then every log line of both services and every HTTP body received
 * are searched for every secret value. None may appear.
 *
 * The secrets (add new ones to `secrets` below; each must be a distinctive string that appears
 * nowhere by chance):
 *   - the webhook URL's userinfo password and its query token:
 *     http://user:<SECRETW>@127.0.0.1:<port>/hook?token=<SECRETQ>, pointing at an HTTP server
 *     embedded in this test that answers a message's first POST 500 and later ones 200;
 *   - a webhook header, Authorization: Bearer <SECRETH> (FERRY_WEBHOOK_HEADERS_FILE), which
 *     the server checks it receives on every POST;
 *   - a PostgreSQL password in both services' connection strings (the stack trusts local
 *     connections, so libpq never needs it; it is configured all the same);
 *   - KAFKA_sasl.password=<SECRETK> (librdkafka ignores SASL settings with the plaintext
 *     protocol of the stack);
 *   - the API key IT_API_KEY: both services' FERRY_BOOTSTRAP_API_KEY, the consumer's
 *     ProducerService__ApiKey, and the Bearer token of every request the harness sends.
 * Logs are at debug level, so debug lines are searched too. The outage: the test database stops
 * accepting connections and its sessions are ended, so every connection attempt fails with
 * libpq's error (which names the database, the server's address and the user). The services
 * may not answer an HTTP client with it: no body carries "FATAL", "accepting connections" or
 * "connection to server".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include "common/http_server.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 45000

/* Every secret of the run: what no log line or HTTP body may contain. */
static const char *const secrets[] = {
    "SECRETW-5f1c2a", /* webhook URL: userinfo password */
    "SECRETQ-9b7d3e", /* webhook URL: query token */
    "SECRETH-2e8a61", /* webhook header value */
    "SECRETP-7c4f90", /* PostgreSQL password */
    "SECRETK-31d5b8", /* Kafka SASL password */
    IT_API_KEY,       /* API key: both services' bootstrap key, the consumer's
                       * ProducerService__ApiKey, and the Bearer token of every request */
    NULL,
};
#define SECRET_W secrets[0]
#define SECRET_Q secrets[1]
#define SECRET_H secrets[2]
#define SECRET_P secrets[3]
#define SECRET_K secrets[4]

/* What no HTTP body may contain besides the secrets: libpq's connection error. */
static const char *const body_forbidden[] = {"FATAL", "accepting connections",
                                             "connection to server", NULL};

static struct {
	pthread_mutex_t mu;
	json_t *seen_ids; /* message ids POSTed at least once; under mu */
	int posts;        /* POSTs received; under mu */
	int missing_auth; /* POSTs without the configured Authorization; under mu */
} hook = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static struct {
	struct it_db db;
	char conninfo[2300]; /* the database's, with a password */
	struct it_producer producer, consumer;
	struct http_server *server;
	PGconn *admin;
	char headers_path[64];
	char *bodies; /* every HTTP body received, concatenated */
	size_t bodies_len;
} fx;

/* POST /hook: the first POST of a message answers 500, later ones 200. */
static void hook_post(struct http_exchange *ex, void *opaque)
{
	json_t *body = http_exchange_parse_json(ex);
	const char *auth = http_exchange_header(ex, "Authorization");
	char want[64], key[32];
	int status = 200;

	(void)opaque;
	if (body == NULL)
		return;
	snprintf(want, sizeof(want), "Bearer %s", SECRET_H);
	snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
	         json_integer_value(json_object_get(body, "messageId")));
	pthread_mutex_lock(&hook.mu);
	hook.posts++;
	if (auth == NULL || strcmp(auth, want) != 0)
		hook.missing_auth++;
	if (json_object_get(hook.seen_ids, key) == NULL) {
		json_object_set_new(hook.seen_ids, key, json_true());
		status = 500;
	}
	pthread_mutex_unlock(&hook.mu);
	json_decref(body);
	http_exchange_respond(ex, status, json_pack("{s:b}", "ok", status == 200));
}

static const struct http_route hook_routes[] = {{"POST", "/hook", hook_post, NULL, 0}};

/* Keeps a copy of every body received, for the search at the end. */
static void keep_body(const struct it_response *r)
{
	char *grown;

	if (r->text == NULL)
		return;
	grown = realloc(fx.bodies, fx.bodies_len + r->text_len + 2);
	assert_non_null(grown);
	fx.bodies = grown;
	memcpy(fx.bodies + fx.bodies_len, r->text, r->text_len);
	fx.bodies_len += r->text_len;
	fx.bodies[fx.bodies_len++] = '\n';
	fx.bodies[fx.bodies_len] = '\0';
}

/* GET path on svc; keeps the body; returns the status. */
static long get(const struct it_producer *svc, const char *path, struct it_response *r)
{
	long status = it_get(svc, path, r);

	keep_body(r);
	return status;
}

static long post(const struct it_producer *svc, const char *path, const char *json,
                 struct it_response *r)
{
	long status = it_post(svc, path, json, r);

	keep_body(r);
	return status;
}

static int setup(void **state)
{
	struct http_server_options opts = {
	    .host = "127.0.0.1",
	    .port = 0,
	    .threads = 2,
	    .max_body_bytes = 1 << 20,
	    .max_connections = 16,
	    .idle_timeout_s = 30,
	};
	char errstr[256];
	int fd;
	FILE *f;

	(void)state;
	hook.seen_ids = json_object();
	fx.server = http_server_start(&opts, hook_routes, 1, errstr, sizeof(errstr));
	if (fx.server == NULL)
		fail_msg("webhook server: %s", errstr);
	snprintf(fx.headers_path, sizeof(fx.headers_path), "/tmp/ferry_it_headers_XXXXXX");
	fd = mkstemp(fx.headers_path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "# the webhook's credentials\nAuthorization: Bearer %s\n", SECRET_H);
	fclose(f);

	it_db_create(&fx.db, "no_secret_leaks");
	fx.admin = it_pg_connect(fx.db.conninfo);
	snprintf(fx.conninfo, sizeof(fx.conninfo), "%s password=%s", fx.db.conninfo, SECRET_P);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (fx.admin)
		PQfinish(fx.admin);
	it_db_drop(&fx.db);
	http_server_stop(fx.server);
	json_decref(hook.seen_ids);
	unlink(fx.headers_path);
	free(fx.bodies);
	return 0;
}

static void send_message(const char *topic, const char *text, bool batched)
{
	struct it_response r = {0};
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"message\":\"%s\",\"key\":\"k\",\"useBatching\":%s}", topic,
	         text, batched ? "true" : "false");
	if (post(&fx.producer, "/api/messages/send", body, &r) != 201)
		fail_msg("send to %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

/* Every GET of both services (and the dashboard, /metrics), bodies kept. Statuses are not
 * asserted here: during the outage they are 503s. */
static void visit_everything(const char *topic, const char *group)
{
	struct it_response r = {0};
	char path[512];
	const char *producer_paths[] = {"/",
	                                "/dashboard",
	                                "/health",
	                                "/metrics",
	                                "/api/messages/health",
	                                "/api/messages/pending",
	                                "/api/messages/failed",
	                                "/api/messages/stats",
	                                "/api/messages/1",
	                                "/api/topics",
	                                "/api/topics/consumer-groups",
	                                "/api/agents/consumers",
	                                "/api/agents/producers",
	                                NULL};
	const char *consumer_paths[] = {"/health", "/metrics", "/api/consumer/health", NULL};
	size_t i;

	for (i = 0; producer_paths[i]; i++)
		(void)get(&fx.producer, producer_paths[i], &r);
	snprintf(path, sizeof(path), "/api/topics/%s", topic);
	(void)get(&fx.producer, path, &r);
	snprintf(path, sizeof(path), "/api/messages/consumer-group/%s", group);
	(void)get(&fx.producer, path, &r);
	snprintf(path, sizeof(path), "/api/messages/failed?consumerGroup=%s", group);
	(void)get(&fx.producer, path, &r);
	for (i = 0; consumer_paths[i]; i++)
		(void)get(&fx.consumer, consumer_paths[i], &r);
	snprintf(path, sizeof(path), "/api/consumer/processed/%s", group);
	(void)get(&fx.consumer, path, &r);
	snprintf(path, sizeof(path), "/api/consumer/failed/%s", group);
	(void)get(&fx.consumer, path, &r);
	it_response_free(&r);
}

static bool producer_db_down(void *arg)
{
	struct it_response r = {0};
	bool down;

	(void)arg;
	down = get(&fx.producer, "/api/messages/health", &r) == 503 &&
	       strcmp(it_json_string(r.json, "database.error"), "database unavailable") == 0;
	it_response_free(&r);
	return down;
}

static bool consumer_db_down(void *arg)
{
	struct it_response r = {0};
	bool down;

	(void)arg;
	down = get(&fx.consumer, "/api/consumer/health", &r) == 503 &&
	       strcmp(it_json_string(r.json, "database.error"), "database unavailable") == 0;
	it_response_free(&r);
	return down;
}

/* The relay noticed the outage: its lastError (shown by the health check and the agent rows)
 * is set. */
static bool relay_noticed(void *arg)
{
	struct it_response r = {0};
	bool noticed;

	(void)arg;
	(void)get(&fx.producer, "/api/messages/health", &r);
	noticed = json_is_string(it_json_get(r.json, "relay.lastError"));
	it_response_free(&r);
	return noticed;
}

static bool producer_db_up(void *arg)
{
	struct it_response r = {0};
	bool up;

	(void)arg;
	up = get(&fx.producer, "/api/messages/health", &r) == 200;
	it_response_free(&r);
	return up;
}

/* Fails the test when `text` (a log or the bodies, called `what`) contains a secret or, for
 * bodies, libpq's connection error. */
static void assert_clean(const char *what, const char *text, bool is_body)
{
	size_t i;

	assert_non_null(text);
	for (i = 0; secrets[i]; i++) {
		const char *at = strstr(text, secrets[i]);

		if (at) {
			const char *line = at;

			while (line > text && line[-1] != '\n')
				line--;
			fail_msg("%s contains the secret %s: %.300s", what, secrets[i], line);
		}
	}
	for (i = 0; is_body && body_forbidden[i]; i++) {
		const char *at = strstr(text, body_forbidden[i]);

		if (at)
			fail_msg("%s contains '%s': %.300s", what, body_forbidden[i],
			         at - text > 100 ? at - 100 : text);
	}
}

/* A send during the outage: 503 with one of ferry's own two answers (a pooled connection the
 * outage broke mid-statement: outcome unknown), nothing of libpq's. */
static void assert_send_refused_plainly(const struct it_response *r)
{
	const char *error = it_json_string(r->json, "error");

	if (strcmp(error, "database unavailable") != 0 &&
	    strcmp(error, "database connection lost; outcome unknown (retry with the same "
	                  "idempotencyKey)") != 0)
		fail_msg("send during the outage answered: %s", r->text);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		assert_non_null(buf);
		buf[fread(buf, 1, (size_t)n, f)] = '\0';
	}
	fclose(f);
	assert_non_null(buf);
	return buf;
}

static void test_no_secret_in_logs_or_answers(void **state)
{
	char topic[IT_TOPIC_MAX], group[160], body[512], conn_env[2400], url[256], headers[128];
	char g[256], t[256], producer_url[128];
	const char *producer_env[] = {conn_env,
	                              "KAFKA_sasl.password=SECRETK-31d5b8",
	                              "KAFKA_sasl.username=ferry",
	                              "FERRY_LOG_LEVEL=debug",
	                              "FERRY_RETRY_INTERVAL_MS=300",
	                              "FERRY_RETRY_BACKOFF_BASE_MS=100",
	                              "FERRY_DB_REQUEST_TIMEOUT_MS=3000",
	                              NULL};
	const char *consumer_env[] = {conn_env,
	                              g,
	                              t,
	                              producer_url,
	                              "FERRY_PROCESSOR=webhook",
	                              url,
	                              headers,
	                              "KAFKA_sasl.password=SECRETK-31d5b8",
	                              "FERRY_LOG_LEVEL=debug",
	                              "FERRY_HEARTBEAT_INTERVAL_S=1",
	                              "FERRY_DB_REQUEST_TIMEOUT_MS=3000",
	                              NULL};
	struct it_response r = {0};
	PGconn *ctl;
	char *log;

	(void)state;
	assert_string_equal(SECRET_K, "SECRETK-31d5b8"); /* the literal in the env lists */
	snprintf(conn_env, sizeof(conn_env), "ConnectionStrings__DefaultConnection=%s",
	         fx.conninfo);
	it_producer_start(&fx.producer, &fx.db, producer_env);

	it_topic(topic, sizeof(topic), "secrets");
	snprintf(group, sizeof(group), "%s-g", topic);
	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":[{"
	         "\"consumerGroupName\":\"%s\",\"maxRetries\":5}]}",
	         topic, group);
	if (post(&fx.producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(producer_url, sizeof(producer_url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	snprintf(url, sizeof(url), "FERRY_WEBHOOK_URL=http://user:%s@127.0.0.1:%d/hook?token=%s",
	         SECRET_W, http_server_port(fx.server), SECRET_Q);
	snprintf(headers, sizeof(headers), "FERRY_WEBHOOK_HEADERS_FILE=%s", fx.headers_path);
	it_consumer_start(&fx.consumer, &fx.db, consumer_env);

	/* Two messages: each fails once (HTTP 500: failed_message row, negative ack), then the
	 * retry job redelivers it and the webhook takes it. */
	send_message(topic, "first", false);
	send_message(topic, "second", true);
	assert_true(it_wait_sql_int(fx.admin, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.failed_message"
	                            " WHERE consumer_group = '%s'",
	                            group));
	visit_everything(topic, group); /* failures on show */
	assert_true(it_wait_sql_int(fx.admin, 2, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery"
	                            " WHERE consumer_group = '%s' AND status = 'ACKNOWLEDGED'",
	                            group));
	pthread_mutex_lock(&hook.mu);
	assert_true(hook.posts >= 4);
	assert_int_equal(hook.missing_auth, 0);
	pthread_mutex_unlock(&hook.mu);
	/* The failure as recorded names the webhook by scheme, host and port only. */
	{
		char *err = it_sql_text(fx.admin,
		                        "SELECT max(error_message) FROM"
		                        " ferry_consumer.failed_message WHERE consumer_group"
		                        " = '%s'",
		                        group);
		char want[128];

		snprintf(want, sizeof(want), "webhook http://127.0.0.1:%d answered HTTP 500",
		         http_server_port(fx.server));
		assert_non_null(err);
		assert_string_equal(err, want);
		free(err);
	}
	visit_everything(topic, group);

	/* The outage: the database accepts no connection and its sessions are ended, so every new
	 * connection fails with libpq's error. */
	ctl = it_pg_connect(getenv("FERRY_TEST_PG"));
	PQfinish(fx.admin);
	fx.admin = NULL;
	it_sql_exec(
	    ctl,
	    "ALTER DATABASE %s ALLOW_CONNECTIONS false;"
	    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND usename = current_user",
	    fx.db.name, fx.db.name);
	assert_true(it_wait_until(producer_db_down, NULL, WAIT_MS));
	assert_true(it_wait_until(consumer_db_down, NULL, WAIT_MS));
	assert_true(it_wait_until(relay_noticed, NULL, WAIT_MS));
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"x\",\"useBatching\":false}",
	         topic);
	assert_int_equal(post(&fx.producer, "/api/messages/send", body, &r), 503);
	assert_send_refused_plainly(&r);
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"x\",\"useBatching\":true}",
	         topic);
	assert_int_equal(post(&fx.producer, "/api/messages/send", body, &r), 503);
	assert_send_refused_plainly(&r);
	assert_int_equal(get(&fx.producer, "/api/messages/pending", &r), 503);
	assert_string_equal(it_json_string(r.json, "error"), "database unavailable");
	visit_everything(topic, group);
	it_sql_exec(ctl, "ALTER DATABASE %s ALLOW_CONNECTIONS true", fx.db.name);
	PQfinish(ctl);
	fx.admin = it_pg_connect(fx.db.conninfo);
	assert_true(it_wait_until(producer_db_up, NULL, WAIT_MS));
	visit_everything(topic, group);
	it_response_free(&r);

	assert_int_equal(it_producer_stop(&fx.consumer), 0);
	assert_int_equal(it_producer_stop(&fx.producer), 0);

	/* The search: both logs (debug level) and every body. */
	log = read_file(fx.producer.log_path);
	assert_non_null(strstr(log, "database unavailable"));  /* the outage was logged... */
	assert_non_null(strstr(log, "accepting connections")); /* ...with libpq's detail */
	assert_clean("the producer's log", log, false);
	free(log);
	log = read_file(fx.consumer.log_path);
	assert_clean("the consumer's log", log, false);
	free(log);
	assert_clean("the HTTP bodies", fx.bodies, true);
	printf("no secret in %zu bytes of HTTP bodies and both logs\n", fx.bodies_len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_secret_in_logs_or_answers),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
