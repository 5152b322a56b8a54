/*
 * test_kafka_sasl.c - ferry over the stack's SASL_SSL listener (SCRAM-SHA-512, scripts/stack):
 * the producer (relay and retry job) and the consumer configured with nothing but the SASL
 * bootstrap and KAFKA_* settings deliver, redeliver after a failure and acknowledge; a wrong
 * password ends the start of either service within seconds with one line that names the user
 * and never the password, and so does a CA that did not sign the broker's certificate; a bad
 * secret value is reported without the value. A password changed on the broker after start-up
 * makes both services' health answer 503 until it is back, and delivery then resumes.
 *
 * Needs FERRY_KAFKA_SASL_BOOTSTRAP, FERRY_KAFKA_SASL_USER, FERRY_KAFKA_SASL_PASSWORD and
 * FERRY_KAFKA_CA_FILE (eval "$(scripts/stack env)"); skipped (77) without them, e.g. against
 * an external Kafka. Records are read back over the plaintext listener (FERRY_TEST_KAFKA).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 60000
/* A refused password must end the start within this (the probe itself gives up at 10 s). */
#define FAIL_FAST_MS 15000

static struct it_fixture fx;
/* KAFKA_* and ConnectionStrings__Kafka for the SASL listener: the only Kafka settings used. */
static char sasl_bootstrap[300], sasl_user[300], sasl_password[300];
static const char *sasl_env[8];

static int setup(void **state)
{
	static const char *producer_env[16];
	size_t n = 0, i;

	(void)state;
	for (i = 0; sasl_env[i]; i++)
		producer_env[n++] = sasl_env[i];
	producer_env[n++] = "FERRY_RETRY_INTERVAL_MS=200";
	producer_env[n++] = "FERRY_RETRY_BACKOFF_BASE_MS=200";
	producer_env[n++] = "FERRY_RETRY_BACKOFF_MAX_MS=1600";
	producer_env[n] = NULL;
	it_fixture_open(&fx, "kafka_sasl", producer_env);
	return 0;
}

/* Sets the SCRAM password of the stack's user (scripts/stack sasl-password), back to the
 * stack's own when `password` is NULL. Returns the command's exit status, -1 after 120 s. */
static int stack_sasl_password(const char *password)
{
	char path[1024];
	int64_t deadline = it_now_ms() + 120000;
	int status = 0;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/scripts/stack", FERRY_SOURCE_DIR);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(path, path, "sasl-password", password, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (it_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		it_sleep_ms(100);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A service's output, kept for the failure message (fail_msg does not return). */
static char seen[8192];

/* Whether a test left the broker with another password: the teardown puts it back. */
static bool rotated;

static int teardown(void **state)
{
	(void)state;
	if (rotated && stack_sasl_password(NULL) == 0)
		rotated = false;
	it_fixture_close(&fx);
	return rotated ? -1 : 0;
}

/* The whole log of a service, for asserting what it said (caller frees). */
static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t len;

	assert_non_null(buf);
	if (f == NULL)
		return buf;
	len = fread(buf, 1, (1 << 20) - 1, f);
	buf[len] = '\0';
	fclose(f);
	return buf;
}

/* `bin` with exactly `env` (NULL-ended) and PATH, output into `log`: its exit status (128 + a
 * signal), or -1 when still running after timeout_ms (then killed). *took_ms: how long. */
static int run_until_exit(const char *bin, const char *const *env, const char *log, int timeout_ms,
                          int64_t *took_ms)
{
	char *const argv[] = {(char *)bin, NULL};
	int64_t start = it_now_ms();
	int status = 0, fd;
	pid_t pid;

	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execve(bin, argv, (char *const *)env);
		_exit(127);
	}
	close(fd);
	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			break;
		if (it_now_ms() - start > timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			*took_ms = it_now_ms() - start;
			return -1;
		}
		it_sleep_ms(50);
	}
	*took_ms = it_now_ms() - start;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Registers `topic` (2 partitions) with `group`: 60 s to acknowledge, 5 retries. */
static void register_topic(const char *topic, const char *group)
{
	struct it_response r = {0};
	char body[1024];

	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":["
	         "{\"consumerGroupName\":\"%s\",\"acknowledgmentTimeoutSeconds\":60,"
	         "\"maxRetries\":5}]}",
	         topic, group);
	if (it_post(&fx.producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

/* Send -> relay -> Kafka over SASL_SSL; the consumer (over SASL_SSL) fails once; the retry job
 * republishes over SASL_SSL; the consumer processes it and the producer records the ack. */
static void test_deliver_retry_and_ack_over_sasl(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	struct it_producer consumer = {0};
	struct it_records recs = {0};
	const char *env[16];
	size_t n = 0, i;
	int64_t id;
	char *log;

	(void)state;
	it_topic(topic, sizeof(topic), "sasl");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	for (i = 0; sasl_env[i]; i++)
		env[n++] = sasl_env[i];
	env[n++] = "FERRY_PROCESSOR=plugin";
	env[n++] = "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN;
	env[n++] = "FERRY_HEARTBEAT_INTERVAL_S=1";
	env[n] = NULL;
	it_consumer_start_group(&consumer, &fx.db, &fx.producer, group, topic, env);

	/* The example plugin fails this payload once, then processes it. */
	id = it_send_message(&fx.producer, topic, "k1", "fail-first-1");
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE id = %" PRId64 " AND status = 'ACKNOWLEDGED'",
	                            id));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT retry_count FROM ferry.message_delivery"
	                            " WHERE message_id = %" PRId64,
	                            id),
	                 1);
	/* On Kafka: the first delivery by the relay, the redelivery by the retry job. */
	it_kafka_read(topic, 2, WAIT_MS, &recs);
	assert_int_equal(recs.n, 2);
	it_assert_header_at(&recs.v[1], "ferry-retry-count", "1", __FILE__, __LINE__);
	it_records_free(&recs);
	assert_int_equal(it_producer_stop(&consumer), 0);

	/* The password was never written by either service. */
	log = read_all(consumer.log_path);
	assert_null(strstr(log, sasl_password));
	free(log);
	log = read_all(fx.producer.log_path);
	assert_null(strstr(log, sasl_password));
	free(log);
}

/* Does `pw` or an entry of `more` (NULL-ended) set the variable `entry` sets? */
static bool overridden(const char *entry, const char *pw, const char *const *more)
{
	size_t len = strcspn(entry, "=") + 1;

	if (strncmp(entry, pw, len) == 0)
		return true;
	for (; more && *more; more++)
		if (strncmp(entry, *more, len) == 0)
			return true;
	return false;
}

/* GET `path` of `svc`: its HTTP status. */
static long health_status(const struct it_producer *svc, const char *path)
{
	struct it_response r = {0};
	long status = it_get(svc, path, &r);

	it_response_free(&r);
	return status;
}

/* Waits (at most timeout_ms) until GET `path` of `svc` answers `want`. */
static bool wait_health(const struct it_producer *svc, const char *path, long want, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	while (it_now_ms() < deadline) {
		if (health_status(svc, path) == want)
			return true;
		it_sleep_ms(200);
	}
	return health_status(svc, path) == want;
}

/* The password changes on the broker after start-up (the stack's broker ends a SASL session
 * after 15 s, so clients authenticate again soon): both services' health answers 503 saying
 * why, and once the password is back the producer is healthy and delivers again, no restart. */
static void test_password_rotated_after_start(void **state)
{
	char topic[IT_TOPIC_MAX], group[160];
	struct it_producer consumer = {0};
	struct it_response r = {0};
	const char *env[16];
	size_t n = 0, i;
	int64_t id;
	char *log;

	(void)state;
	it_topic(topic, sizeof(topic), "sasl-rot");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(topic, group);
	for (i = 0; sasl_env[i]; i++)
		env[n++] = sasl_env[i];
	env[n++] = "FERRY_HEARTBEAT_INTERVAL_S=1";
	env[n] = NULL;
	it_consumer_start_group(&consumer, &fx.db, &fx.producer, group, topic, env);
	assert_true(wait_health(&fx.producer, "/api/messages/health", 200, WAIT_MS));

	rotated = true;
	assert_int_equal(stack_sasl_password("Rotated-By-Test-99"), 0);
	assert_true(wait_health(&fx.producer, "/api/messages/health", 503, WAIT_MS));
	assert_int_equal(it_get(&fx.producer, "/api/messages/health", &r), 503);
	assert_non_null(strstr(it_json_string(r.json, "kafka.error"), "refused"));
	it_response_free(&r);
	assert_true(wait_health(&consumer, "/api/consumer/health", 503, WAIT_MS));
	assert_int_equal(it_get(&consumer, "/api/consumer/health", &r), 503);
	assert_false(json_is_true(it_json_get(r.json, "kafka.ok")));
	it_response_free(&r);

	assert_int_equal(stack_sasl_password(NULL), 0);
	rotated = false;
	assert_true(wait_health(&fx.producer, "/api/messages/health", 200, WAIT_MS));
	id = it_send_message(&fx.producer, topic, "k1", "after the rotation");
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message"
	                            " WHERE id = %" PRId64 " AND status = 'ACKNOWLEDGED'",
	                            id));
	assert_int_equal(it_producer_stop(&consumer), 0);
	log = read_all(consumer.log_path);
	snprintf(seen, sizeof(seen), "%s", log);
	free(log);
	assert_null(strstr(seen, "Rotated-By-Test-99"));
	assert_null(strstr(seen, sasl_password));
}

/* The environment of a service started by run_until_exit: the SASL settings with `password`,
 * plus `more` (NULL-ended). */
static void failing_env(const char **env, size_t cap, const char *password, const char *const *more)
{
	static char pw[400], db[2300];
	size_t n = 0;

	snprintf(pw, sizeof(pw), "KAFKA_SASL_PASSWORD=%s", password);
	snprintf(db, sizeof(db), "ConnectionStrings__DefaultConnection=%s", fx.db.conninfo);
	env[n++] = "PATH=/usr/bin:/bin";
	env[n++] = db;
	env[n++] = "PORT=0";
	env[n++] = "FERRY_HTTP_HOST=127.0.0.1";
	for (size_t i = 0; sasl_env[i]; i++)
		if (!overridden(sasl_env[i], pw, more))
			env[n++] = sasl_env[i];
	env[n++] = pw;
	for (; more && *more && n + 1 < cap; more++)
		env[n++] = *more;
	env[n] = NULL;
}

/* Runs `bin` with a wrong password: it must exit 1 within FAIL_FAST_MS, its last line the
 * verdict, and the password nowhere. */
static void assert_auth_failure(const char *bin, const char *name, const char *log_path,
                                const char *const *more)
{
	const char *env[24];
	char want[1024], *log;
	int64_t took = 0;
	int rc;
	bool said, leaked;

	failing_env(env, 24, "Wrong-Password-4711", more);
	rc = run_until_exit(bin, env, log_path, FAIL_FAST_MS, &took);
	log = read_all(log_path);
	snprintf(seen, sizeof(seen), "%s", log);
	snprintf(want, sizeof(want),
	         "%s: Kafka authentication failed for user %s at %s (SASL/SCRAM-SHA-512): check "
	         "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD\n",
	         name, sasl_user, sasl_bootstrap);
	/* The verdict is the last line: nothing after it. */
	said = strlen(log) >= strlen(want) && strcmp(log + strlen(log) - strlen(want), want) == 0;
	leaked = strstr(log, "Wrong-Password-4711") != NULL;
	free(log);
	if (rc != 1)
		fail_msg("%s exited %d after %" PRId64 " ms, expected 1:\n%s", name, rc, took,
		         seen);
	if (!said)
		fail_msg("%s did not end with \"%s\":\n%s", name, want, seen);
	assert_false(leaked);
	print_message("%s: refused in %" PRId64 " ms\n", name, took);
}

static void test_wrong_password_fails_fast(void **state)
{
	char path[600];

	(void)state;
	const char *consumer_env[] = {"KAFKA_CONSUMER_GROUP=sasl-fail", "KAFKA_TOPICS=sasl-fail",
	                              NULL};

	snprintf(path, sizeof(path), "%s.producer-auth.log", fx.producer.log_path);
	assert_auth_failure(FERRY_PRODUCER_BIN, "ferry-producer", path, NULL);
	snprintf(path, sizeof(path), "%s.consumer-auth.log", fx.producer.log_path);
	assert_auth_failure(FERRY_CONSUMER_BIN, "ferry-consumer", path, consumer_env);
}

/* A CA that did not sign the broker's certificate: the TLS handshake is refused, which ends
 * the start as a refused password does. */
static void test_wrong_ca_fails_fast(void **state)
{
	char ca_file[] = "/tmp/ferry-it-ca-XXXXXX";
	char ca_env[64], path[600], *log;
	const char *more[] = {ca_env, NULL};
	const char *env[24];
	int64_t took = 0;
	int rc, fd;

	(void)state;
	/* A CA of its own: the same generator as the stack's, another key. */
	fd = mkstemp(ca_file);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path),
	         "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj '/CN=other CA' "
	         "-keyout /dev/null -out %s >/dev/null 2>&1",
	         ca_file);
	assert_int_equal(system(path), 0);
	snprintf(ca_env, sizeof(ca_env), "KAFKA_SSL_CA_LOCATION=%s", ca_file);
	snprintf(path, sizeof(path), "%s.wrong-ca.log", fx.producer.log_path);
	failing_env(env, 24, sasl_password, more);
	rc = run_until_exit(FERRY_PRODUCER_BIN, env, path, FAIL_FAST_MS, &took);
	unlink(ca_file);
	log = read_all(path);
	snprintf(seen, sizeof(seen), "%s", log);
	free(log);
	if (rc != 1 || strstr(seen, "ferry-producer: Kafka TLS handshake failed at ") == NULL)
		fail_msg("ferry-producer exited %d, expected 1 and the TLS line:\n%s", rc, seen);
	assert_null(strstr(seen, sasl_password));
}

/* A secret librdkafka rejects is reported without its value. */
static void test_bad_secret_value_not_echoed(void **state)
{
	const char *more[] = {"KAFKA_SSL_KEY_PEM=NotAPem-SecretBits-0042", NULL};
	const char *env[24];
	char path[600], *log;
	int64_t took = 0;
	int rc;

	(void)state;
	snprintf(path, sizeof(path), "%s.bad-secret.log", fx.producer.log_path);
	failing_env(env, 24, sasl_password, more);
	rc = run_until_exit(FERRY_PRODUCER_BIN, env, path, FAIL_FAST_MS, &took);
	log = read_all(path);
	snprintf(seen, sizeof(seen), "%s", log);
	free(log);
	print_message("%s", seen);
	if (rc != 1 || strstr(seen, "ssl.key.pem") == NULL)
		fail_msg("ferry-producer exited %d, expected 1 and an error about ssl.key.pem:\n%s",
		         rc, seen);
	assert_null(strstr(seen, "NotAPem-SecretBits-0042"));
	assert_null(strstr(seen, sasl_password));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_deliver_retry_and_ack_over_sasl),
	    cmocka_unit_test(test_wrong_password_fails_fast),
	    cmocka_unit_test(test_wrong_ca_fails_fast),
	    cmocka_unit_test(test_password_rotated_after_start),
	    cmocka_unit_test(test_bad_secret_value_not_echoed),
	};
	const char *boot = getenv("FERRY_KAFKA_SASL_BOOTSTRAP");
	const char *user = getenv("FERRY_KAFKA_SASL_USER");
	const char *pw = getenv("FERRY_KAFKA_SASL_PASSWORD");
	const char *ca = getenv("FERRY_KAFKA_CA_FILE");
	static char e_boot[400], e_user[400], e_pw[400], e_ca[700];
	size_t n = 0;

	if (!boot || !user || !pw || !ca) {
		fprintf(stderr, "test_kafka_sasl: no SASL_SSL listener in the environment "
		                "(eval \"$(scripts/stack env)\" of the local stack): skipped\n");
		return 77;
	}
	snprintf(sasl_bootstrap, sizeof(sasl_bootstrap), "%s", boot);
	snprintf(sasl_user, sizeof(sasl_user), "%s", user);
	snprintf(sasl_password, sizeof(sasl_password), "%s", pw);
	snprintf(e_boot, sizeof(e_boot), "ConnectionStrings__Kafka=%s", boot);
	snprintf(e_user, sizeof(e_user), "KAFKA_SASL_USERNAME=%s", user);
	snprintf(e_pw, sizeof(e_pw), "KAFKA_SASL_PASSWORD=%s", pw);
	snprintf(e_ca, sizeof(e_ca), "KAFKA_SSL_CA_LOCATION=%s", ca);
	sasl_env[n++] = e_boot;
	sasl_env[n++] = "KAFKA_SECURITY_PROTOCOL=SASL_SSL";
	sasl_env[n++] = "KAFKA_SASL_MECHANISMS=SCRAM-SHA-512";
	sasl_env[n++] = e_user;
	sasl_env[n++] = e_pw;
	sasl_env[n++] = e_ca;
	sasl_env[n] = NULL;
	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
