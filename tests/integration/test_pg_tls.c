/*
 * test_pg_tls.c - both services talk to PostgreSQL over TLS with the server's certificate
 * verified (sslmode=verify-full) against the stack's test CA (scripts/stack makes it; `stack
 * env` names it in FERRY_PG_CA_FILE):
 *   - the producer with a libpq keyword string, the consumer with the seed's form (SSL
 *     Mode=VerifyFull;Root Certificate=...): a message is sent, published (SENT), processed and
 *     acknowledged, and pg_stat_ssl shows every backend of either service encrypted;
 *   - a CA that did not sign the server's certificate stops the start at once (long before
 *     FERRY_DB_STARTUP_WAIT_S) with exit 1 and one line saying so, without the password.
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
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 30000

static struct {
	struct it_db db;
	PGconn *conn;
	const char *ca; /* FERRY_PG_CA_FILE */
} fx;

static int setup(void **state)
{
	(void)state;
	fx.ca = getenv("FERRY_PG_CA_FILE");
	if (fx.ca == NULL || access(fx.ca, R_OK) != 0)
		fail_msg(
		    "FERRY_PG_CA_FILE is not set or not readable: run scripts/stack up (it makes "
		    "the test CA and turns TLS on) and eval \"$(scripts/stack env)\"");
	it_db_create(&fx.db, "pg_tls");
	fx.conn = it_pg_connect(fx.db.conninfo);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(fx.conn);
	it_db_drop(&fx.db);
	return 0;
}

/* The value of `keyword` in the test database's conninfo ("" when unset). */
static const char *db_param(PQconninfoOption *opts, const char *keyword)
{
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, keyword) == 0)
			return o->val != NULL ? o->val : "";
	}
	return "";
}

static void test_services_verify_the_server_and_run_over_tls(void **state)
{
	char producer_db[2400], consumer_db[2400], topic[IT_TOPIC_MAX], g[160], body[512];
	struct it_producer producer = {0}, consumer = {0};
	struct it_response r = {0};
	PQconninfoOption *opts;
	int64_t id;

	(void)state;
	/* The producer: libpq keywords. */
	snprintf(producer_db, sizeof(producer_db),
	         "ConnectionStrings__DefaultConnection=%s sslmode=verify-full sslrootcert='%s'",
	         fx.db.conninfo, fx.ca);
	/* The consumer: the seed's form, as a .NET deployment writes it. */
	opts = PQconninfoParse(fx.db.conninfo, NULL);
	assert_non_null(opts);
	snprintf(consumer_db, sizeof(consumer_db),
	         "ConnectionStrings__DefaultConnection=Host=%s;Port=%s;Database=%s;Username=%s;"
	         "Password=%s;SSL Mode=VerifyFull;Root Certificate=%s",
	         db_param(opts, "host"), db_param(opts, "port"), db_param(opts, "dbname"),
	         db_param(opts, "user"), db_param(opts, "password"), fx.ca);
	PQconninfoFree(opts);

	it_producer_start(&producer, &fx.db,
	                  (const char *const[]){producer_db, "FERRY_RELAY_POLL_IDLE_MS=200", NULL});
	it_topic(topic, sizeof(topic), "pg-tls");
	snprintf(g, sizeof(g), "%s-g", topic);
	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s\"}]}",
	    topic, g);
	if (it_post(&producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
	it_consumer_start_group(&consumer, &fx.db, &producer, g, topic,
	                        (const char *const[]){consumer_db, NULL});

	id = it_send_message(&producer, topic, "k", "over tls");
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery WHERE message_id ="
	                            " %" PRId64 " AND status = 'ACKNOWLEDGED'",
	                            id));
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry_consumer.processed_message"
	                            " WHERE message_id = %" PRId64,
	                            id),
	                 1);

	/* Both services hold connections, every one of them encrypted; only this test's own
	 * connection is plaintext. */
	assert_true(it_sql_int(fx.conn,
	                       "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING"
	                       " (pid) WHERE a.datname = '%s' AND s.ssl AND a.application_name"
	                       " LIKE 'ferry-producer%%'",
	                       fx.db.name) > 0);
	assert_true(it_sql_int(fx.conn,
	                       "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING"
	                       " (pid) WHERE a.datname = '%s' AND s.ssl AND a.application_name"
	                       " LIKE 'ferry-consumer%%'",
	                       fx.db.name) > 0);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s"
	                            " USING (pid) WHERE a.datname = '%s' AND NOT s.ssl"
	                            " AND a.backend_type = 'client backend'"
	                            " AND a.pid <> pg_backend_pid()",
	                            fx.db.name),
	                 0);
	assert_int_equal(it_producer_stop(&consumer), 0);
	assert_int_equal(it_producer_stop(&producer), 0);
}

/* Runs `cmd` with /bin/sh; fails the test unless it exits 0. */
static void run_shell(const char *cmd)
{
	int status = system(cmd);

	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("'%s' failed (status %d)", cmd, status);
}

static void test_a_ca_that_did_not_sign_the_server_stops_the_start(void **state)
{
	char dir[] = "/tmp/ferry-it-pgtls-XXXXXX", cmd[1024], db_env[2400], kafka_env[512];
	char log[64], line[2048], wrong_ca[64], password[256];
	PQconninfoOption *opts = PQconninfoParse(fx.db.conninfo, NULL);
	int status = 0, lines = 0, named = 0;
	int64_t started, deadline;
	pid_t pid, got = 0;
	FILE *f;

	(void)state;
	assert_non_null(opts);
	snprintf(password, sizeof(password), "%s", db_param(opts, "password"));
	PQconninfoFree(opts);
	assert_non_null(mkdtemp(dir));
	snprintf(wrong_ca, sizeof(wrong_ca), "%s/other-ca.crt", dir);
	snprintf(log, sizeof(log), "%s/producer.log", dir);
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj '/CN=not the stack CA'"
	         " -keyout %s/other-ca.key -out %s >/dev/null 2>&1",
	         dir, wrong_ca);
	run_shell(cmd);
	snprintf(db_env, sizeof(db_env),
	         "ConnectionStrings__DefaultConnection=%s sslmode=verify-full sslrootcert='%s'",
	         fx.db.conninfo, wrong_ca);
	snprintf(kafka_env, sizeof(kafka_env), "ConnectionStrings__Kafka=%s",
	         getenv("FERRY_TEST_KAFKA"));

	fflush(NULL);
	started = it_now_ms();
	pid = fork();
	if (pid == 0) {
		char *const argv[] = {(char *)FERRY_PRODUCER_BIN, NULL};
		char *const envp[] = {db_env, kafka_env, "PORT=0", "FERRY_DB_STARTUP_WAIT_S=60",
		                      NULL};

		if (freopen(log, "w", stderr) == NULL || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(126);
		execve(FERRY_PRODUCER_BIN, argv, envp);
		_exit(127);
	}
	assert_true(pid > 0);
	deadline = started + 20000;
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && it_now_ms() < deadline)
		it_sleep_ms(50);
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("ferry-producer still waiting after 20 s on a CA mismatch (log: %s)", log);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);

	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		if (strncmp(line, "ferry-producer: cannot connect to PostgreSQL", 44) == 0 &&
		    strstr(line, "certificate verify failed") != NULL)
			named++;
		if (password[0] != '\0' && strstr(line, password) != NULL)
			fail_msg("the password is in the output: %s", line);
	}
	fclose(f);
	if (named != 1 || lines != 1)
		fail_msg("expected one line naming the certificate failure, got %d line(s), %d "
		         "naming it (log: %s)",
		         lines, named, log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	run_shell(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_services_verify_the_server_and_run_over_tls),
	    cmocka_unit_test(test_a_ca_that_did_not_sign_the_server_stops_the_start),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
