/*
 * test_db_roles.c - least privilege in the database (sql/producer/009_roles.sql,
 * docs/security.md#database-roles-and-tls-to-postgresql).
 *
 * Two login roles made for this run: it_app_<pid> IN ROLE ferry_enqueue (an application using
 * the SQL door) and it_svc_<pid> IN ROLE ferry_service (the services). The producer and the
 * consumer run as it_svc_<pid>, their migrations over ConnectionStrings__MigrationConnection as
 * the owner (FERRY_TEST_PG's role, which made the database). Checked:
 *   - the application commits a business row and ferry.enqueue in one transaction and the
 *     message reaches Kafka; it cannot read, change or delete ferry's rows, nor call any other
 *     ferry function (SQLSTATE 42501);
 *   - the service role does the whole cycle: topic registration, send, relay (SENT), the
 *     consumer's acknowledgment, the retry job (a failure retried until FAILED), re-drive,
 *     deleting dead letters, heartbeats of both agents, the cleanup job; every connection of
 *     the services logs in as it_svc_<pid>;
 *   - as that role the start fails with one line naming MigrationConnection when it would
 *     have to change the schema itself, and succeeds with FERRY_MIGRATE=false.
 * The roles are dropped at the end (after the database, which holds their grants).
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
	PGconn *owner;     /* the owner (FERRY_TEST_PG's role) on db */
	char app_role[64]; /* it_app_<pid>, IN ROLE ferry_enqueue */
	char svc_role[64]; /* it_svc_<pid>, IN ROLE ferry_service */
	char app_conninfo[2300];
	char svc_conninfo[2300];
} fx;

/* Runs `sql` on FERRY_TEST_PG's own database (roles are the cluster's, not db's). */
static void cluster_exec(const char *sql)
{
	PGconn *conn;

	if (getenv("FERRY_TEST_PG") == NULL)
		return; /* the harness said so already */
	conn = it_pg_connect(getenv("FERRY_TEST_PG"));
	it_sql_exec(conn, "%s", sql);
	PQfinish(conn);
}

static void drop_roles(void)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "DROP ROLE IF EXISTS %s; DROP ROLE IF EXISTS %s", fx.app_role,
	         fx.svc_role);
	cluster_exec(sql);
}

static int setup(void **state)
{
	struct it_producer p = {0};
	char sql[512];

	(void)state;
	snprintf(fx.app_role, sizeof(fx.app_role), "it_app_%d", (int)getpid());
	snprintf(fx.svc_role, sizeof(fx.svc_role), "it_svc_%d", (int)getpid());
	it_db_create(&fx.db, "db_roles");
	/* A first start as the owner applies the schema; its migration makes the group roles
	 * (FERRY_TEST_PG's role has CREATEROLE) unless an earlier run in this cluster did. */
	it_producer_start(&p, &fx.db, (const char *const[]){"FERRY_RELAY_ENABLED=false", NULL});
	assert_int_equal(it_producer_stop(&p), 0);
	fx.owner = it_pg_connect(fx.db.conninfo);
	if (it_sql_int(fx.owner, "SELECT count(*) FROM pg_roles WHERE rolname IN"
	                         " ('ferry_service', 'ferry_enqueue') AND NOT rolcanlogin") != 2)
		fail_msg("no NOLOGIN roles ferry_service and ferry_enqueue after the migrations: "
		         "FERRY_TEST_PG's role needs CREATEROLE (scripts/stack up grants it)");
	drop_roles(); /* a leftover of a killed run with this pid */
	snprintf(sql, sizeof(sql),
	         "CREATE ROLE %s LOGIN PASSWORD 'app-pw' IN ROLE ferry_enqueue;"
	         " CREATE ROLE %s LOGIN PASSWORD 'svc-pw' IN ROLE ferry_service;"
	         /* so that dropping the database may end sessions a failed test left */
	         " GRANT %s, %s TO CURRENT_USER",
	         fx.app_role, fx.svc_role, fx.app_role, fx.svc_role);
	cluster_exec(sql);
	/* libpq takes the last of a repeated keyword: the same database as another user. */
	snprintf(fx.app_conninfo, sizeof(fx.app_conninfo), "%s user=%s password=app-pw",
	         fx.db.conninfo, fx.app_role);
	snprintf(fx.svc_conninfo, sizeof(fx.svc_conninfo), "%s user=%s password=svc-pw",
	         fx.db.conninfo, fx.svc_role);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(fx.owner);
	it_db_drop(&fx.db);
	drop_roles();
	return 0;
}

/* Starts `svc` (producer or consumer binary per `consumer`) as the service role, migrating as
 * the owner, with `extra` (NULL-terminated, up to 12 entries). */
static void start_as_service(struct it_producer *svc, bool consumer, const struct it_producer *to,
                             const char *group, const char *topic, const char *const *extra)
{
	char db_env[2400], migrate_env[2400];
	const char *env[16];
	size_t n = 0;

	snprintf(db_env, sizeof(db_env), "ConnectionStrings__DefaultConnection=%s",
	         fx.svc_conninfo);
	snprintf(migrate_env, sizeof(migrate_env), "ConnectionStrings__MigrationConnection=%s",
	         fx.db.conninfo);
	env[n++] = db_env;
	env[n++] = migrate_env;
	for (; extra && *extra && n + 1 < sizeof(env) / sizeof(env[0]); extra++)
		env[n++] = *extra;
	env[n] = NULL;
	if (consumer)
		it_consumer_start_group(svc, &fx.db, to, group, topic, env);
	else
		it_producer_start(svc, &fx.db, env);
}

static void wait_group_status(int64_t id, const char *status)
{
	if (!it_wait_sql_int(
	        fx.owner, 1, WAIT_MS,
	        "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	        " AND status = '%s'",
	        id, status))
		fail_msg("message %" PRId64 " never reached %s", id, status);
}

static void test_application_role_enqueues_and_nothing_else(void **state)
{
	static const char *const env[] = {"FERRY_RELAY_POLL_IDLE_MS=200", NULL};
	struct it_producer producer = {0};
	struct it_records recs = {0};
	char topic[IT_TOPIC_MAX];
	PGconn *app;
	int64_t id;
	char *msg;

	(void)state;
	it_topic(topic, sizeof(topic), "roles-app");
	start_as_service(&producer, false, NULL, NULL, NULL, env);
	/* The application's own table, which its role may write. */
	it_sql_exec(fx.owner, "CREATE TABLE it_orders (id int PRIMARY KEY, state text NOT NULL)");
	it_sql_exec(fx.owner, "GRANT INSERT ON it_orders TO %s", fx.app_role);

	app = it_pg_connect(fx.app_conninfo);
	assert_int_equal(it_sql_int(app,
	                            "SELECT count(*) FROM pg_roles WHERE rolname = current_user"
	                            " AND pg_has_role(current_user, 'ferry_enqueue', 'MEMBER')"),
	                 1);
	it_sql_exec(app, "BEGIN");
	it_sql_exec(app, "INSERT INTO it_orders VALUES (42, 'created')");
	id = it_sql_int(app, "SELECT ferry.enqueue('%s', 'order-42', '{\"event\":\"created\"}')",
	                topic);
	it_sql_exec(app, "COMMIT");

	it_kafka_read(topic, 1, WAIT_MS, &recs);
	assert_int_equal(recs.n, 1);
	assert_string_equal(recs.v[0].key, "order-42");
	assert_string_equal(recs.v[0].value, "{\"event\":\"created\"}");
	it_records_free(&recs);
	assert_true(it_wait_sql_int(fx.owner, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE id = %" PRId64
	                            " AND status = 'SENT'",
	                            id));

	/* No row of ferry's can it read, change or delete, nor insert past the door. */
	msg = it_sql_fails(app, "42501", "SELECT count(*) FROM ferry.outbox_message");
	assert_non_null(strstr(msg, "permission denied"));
	free(msg);
	free(it_sql_fails(app, "42501", "UPDATE ferry.outbox_message SET status = 'PENDING'"));
	free(it_sql_fails(app, "42501", "DELETE FROM ferry.outbox_message"));
	free(it_sql_fails(app, "42501",
	                  "INSERT INTO ferry.outbox_message (topic, payload) VALUES ('%s', 'x')",
	                  topic));
	free(it_sql_fails(app, "42501", "SELECT * FROM ferry.message_delivery"));
	free(it_sql_fails(app, "42501", "SELECT * FROM ferry.topic_registration"));
	/* Nor call another function: a re-drive, the shared insert without its checks, the
	 * grants. */
	free(it_sql_fails(app, "42501",
	                  "SELECT * FROM ferry.request_redelivery(%" PRId64 ", 'g', NULL, 'x', 30)",
	                  id));
	free(it_sql_fails(app, "42501",
	                  "SELECT ferry.enqueue_message('%s', NULL, 'p', '{}', NULL, NULL, NULL,"
	                  " NULL, 'off')",
	                  topic));
	free(it_sql_fails(app, "42501", "SELECT ferry.grant_roles()"));
	assert_int_equal(it_sql_int(app, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON"
	                                 " n.oid = p.pronamespace WHERE n.nspname = 'ferry' AND"
	                                 " has_function_privilege(p.oid, 'EXECUTE')"),
	                 1); /* ferry.enqueue */
	PQfinish(app);
	assert_int_equal(it_producer_stop(&producer), 0);
}

/* Makes rows the cleanup job must remove: health checks past retention, and every message up
 * to `last_id` (finished: SENT without groups, or acknowledged) aged past it (the job walks ids
 * from the oldest and stops at the first young one). */
static void age_rows(int64_t last_id)
{
	it_sql_exec(fx.owner,
	            "UPDATE ferry.outbox_message SET created_at = now() - interval '3 days'"
	            " WHERE id <= %" PRId64,
	            last_id);
	it_sql_exec(fx.owner, "INSERT INTO ferry.service_health_check (agent_kind, service_id,"
	                      " instance_id, healthy, checked_at) SELECT 'consumer', 'roles-old',"
	                      " 'i', true, now() - interval '25 hours' FROM generate_series(1, 3)");
}

static void test_service_role_runs_the_whole_cycle(void **state)
{
	static const char *const producer_env[] = {"FERRY_RELAY_POLL_IDLE_MS=200",
	                                           "FERRY_RETRY_INTERVAL_MS=200",
	                                           "FERRY_RETRY_BACKOFF_BASE_MS=200",
	                                           "FERRY_AGENT_HEARTBEAT_INTERVAL_S=1",
	                                           "FERRY_CLEANUP_INTERVAL_S=1",
	                                           "FERRY_MESSAGE_RETENTION_HOURS=24",
	                                           "FERRY_HEALTH_CHECK_RETENTION_HOURS=24",
	                                           NULL};
	static const char *const consumer_env[] = {"FERRY_PROCESSOR=plugin",
	                                           "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN,
	                                           "FERRY_HEARTBEAT_INTERVAL_S=1", NULL};
	struct it_producer producer = {0}, consumer = {0};
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], g[160], body[512], path[256];
	int64_t ok_id, batched_id, flaky_id, dead_id;

	(void)state;
	it_topic(topic, sizeof(topic), "roles-svc");
	snprintf(g, sizeof(g), "%s-g", topic);
	start_as_service(&producer, false, NULL, NULL, NULL, producer_env);

	/* Topic registration, one retry per delivery. */
	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s\",\"acknowledgmentTimeoutSeconds\":60,\"maxRetries\":1}]}",
	    topic, g);
	if (it_post(&producer, "/api/topics/register", body, &r) != 201)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
	/* The example processor creates its own table in public: the application's business,
	 * granted by the application's owner, not by ferry. */
	it_sql_exec(fx.owner, "GRANT CREATE ON SCHEMA public TO %s", fx.svc_role);
	start_as_service(&consumer, true, &producer, g, topic, consumer_env);

	/* Send, relay, process, acknowledge; a batched send too (ferry.enqueue_batch). */
	ok_id = it_send_message(&producer, topic, "k", "hello");
	wait_group_status(ok_id, "ACKNOWLEDGED");
	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"key\":\"kb\",\"message\":\"batched\",\"useBatching\":true}",
	         topic);
	assert_int_equal(it_post(&producer, "/api/messages/send", body, &r), 201);
	batched_id = (int64_t)json_integer_value(it_json_get(r.json, "id"));
	it_response_free(&r);
	assert_true(batched_id > 0);
	wait_group_status(batched_id, "ACKNOWLEDGED");
	/* The read side: health and metrics answer from the database. */
	assert_int_equal(it_get(&producer, "/api/messages/health", &r), 200);
	assert_int_equal(it_get(&producer, "/metrics", &r), 200);
	assert_int_equal(it_get(&consumer, "/api/consumer/health", &r), 200);
	it_response_free(&r);
	/* Fails twice (the first delivery and the retry job's one retry): FAILED; re-driven, it
	 * succeeds. */
	flaky_id = it_send_message(&producer, topic, "k2", "fail-first-2");
	wait_group_status(flaky_id, "FAILED");
	assert_true(
	    it_sql_int(fx.owner,
	               "SELECT count(*) FROM ferry.message_event WHERE message_id = %" PRId64
	               " AND event = 'retried'",
	               flaky_id) >= 1);
	snprintf(path, sizeof(path), "/api/messages/%" PRId64 "/retry", flaky_id);
	snprintf(body, sizeof(body), "{\"consumerGroup\":\"%s\"}", g);
	assert_int_equal(
	    it_http(&producer, "POST", path, "application/json", body, strlen(body), &r), 202);
	it_response_free(&r);
	wait_group_status(flaky_id, "ACKNOWLEDGED");

	/* A dead letter, aged, then deleted through the API. */
	dead_id = it_send_message(&producer, topic, "k3", "fail");
	wait_group_status(dead_id, "FAILED");
	it_sql_exec(fx.owner,
	            "UPDATE ferry.message_delivery SET updated_at = now() - interval '2 hours'"
	            " WHERE message_id = %" PRId64,
	            dead_id);
	snprintf(path, sizeof(path), "/api/messages/failed?olderThan=1h&consumerGroup=%s", g);
	assert_int_equal(it_http(&producer, "DELETE", path, "application/json", NULL, 0, &r), 200);
	assert_int_equal(json_integer_value(it_json_get(r.json, "deletedDeliveries")), 1);
	it_response_free(&r);

	/* Both agents beat. */
	assert_true(it_wait_sql_int(fx.owner, 1, WAIT_MS,
	                            "SELECT least(count(*), 1) FROM ferry.producer_service_agent"));
	assert_true(it_wait_sql_int(fx.owner, 1, WAIT_MS,
	                            "SELECT least(count(*), 1) FROM ferry.consumer_service_agent"
	                            " WHERE consumer_group = '%s'",
	                            g));

	/* The cleanup job removes what is old and finished. */
	age_rows(ok_id);
	assert_true(it_wait_sql_int(
	    fx.owner, 0, WAIT_MS, "SELECT count(*) FROM ferry.outbox_message WHERE id <= %" PRId64,
	    ok_id));
	assert_true(it_wait_sql_int(fx.owner, 0, WAIT_MS,
	                            "SELECT count(*) FROM ferry.service_health_check"
	                            " WHERE service_id = 'roles-old'"));

	/* The service role changes no schema and grants nothing. */
	{
		PGconn *svc = it_pg_connect(fx.svc_conninfo);

		free(it_sql_fails(svc, "42501", "SELECT ferry.grant_roles()"));
		free(it_sql_fails(svc, "42501", "DELETE FROM ferry.schema_version"));
		free(it_sql_fails(svc, "42501", "TRUNCATE ferry.outbox_message"));
		free(it_sql_fails(svc, "42501",
		                  "ALTER TABLE ferry.outbox_message ADD COLUMN x int"));
		PQfinish(svc);
	}

	/* Every connection of both services is the service role's. */
	assert_true(it_sql_int(fx.owner,
	                       "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
	                       " AND usename = '%s'",
	                       fx.db.name, fx.svc_role) > 0);
	assert_int_equal(it_sql_int(fx.owner,
	                            "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s'"
	                            " AND application_name LIKE 'ferry-%%' AND usename <> '%s'",
	                            fx.db.name, fx.svc_role),
	                 0);
	assert_int_equal(it_producer_stop(&consumer), 0);
	assert_int_equal(it_producer_stop(&producer), 0);
}

/* Runs FERRY_PRODUCER_BIN as the service role with no migration connection (FERRY_MIGRATE
 * left at true), stdout and stderr into `log`; returns its exit status, or -1 when it was
 * still running after 20 s (then it is killed). */
static int run_producer_migrating_as_service(const char *log)
{
	char db_env[2400], kafka_env[512];
	int status = 0;
	int64_t deadline;
	pid_t pid, got = 0;

	snprintf(db_env, sizeof(db_env), "ConnectionStrings__DefaultConnection=%s",
	         fx.svc_conninfo);
	snprintf(kafka_env, sizeof(kafka_env), "ConnectionStrings__Kafka=%s",
	         getenv("FERRY_TEST_KAFKA"));
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		char *const argv[] = {(char *)FERRY_PRODUCER_BIN, NULL};
		char *const envp[] = {db_env,
		                      kafka_env,
		                      "PORT=0",
		                      "FERRY_DB_STARTUP_WAIT_S=5",
		                      "FERRY_RELAY_ENABLED=false",
		                      "FERRY_RETRY_ENABLED=false",
		                      NULL};

		if (freopen(log, "w", stderr) == NULL || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(126);
		execve(FERRY_PRODUCER_BIN, argv, envp);
		_exit(127);
	}
	assert_true(pid > 0);
	deadline = it_now_ms() + 20000;
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && it_now_ms() < deadline)
		it_sleep_ms(50);
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_service_role_start_needs_no_ddl(void **state)
{
	struct it_producer p = {0};
	char log[512], line[2048], db_env[2400];
	const char *env[] = {db_env, "FERRY_MIGRATE=false", "FERRY_RELAY_ENABLED=false", NULL};
	bool named = false;
	FILE *f;

	(void)state;
	/* Migrating would replace the function bodies, which only their owner may: one line
	 * says which setting to use. */
	snprintf(log, sizeof(log), "%s/it_db_roles_%d.log",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	assert_int_equal(run_producer_migrating_as_service(log), 1);
	f = fopen(log, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "ferry-producer: ", 16) == 0 &&
		    strstr(line, "ConnectionStrings__MigrationConnection") != NULL)
			named = true;
		assert_null(strstr(line, "svc-pw"));
	}
	fclose(f);
	if (!named)
		fail_msg("no line naming ConnectionStrings__MigrationConnection in %s", log);
	unlink(log);

	/* With the schema current and FERRY_MIGRATE=false the role needs nothing more. */
	snprintf(db_env, sizeof(db_env), "ConnectionStrings__DefaultConnection=%s",
	         fx.svc_conninfo);
	it_producer_start(&p, &fx.db, env);
	assert_int_equal(it_producer_stop(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_application_role_enqueues_and_nothing_else),
	    cmocka_unit_test(test_service_role_runs_the_whole_cycle),
	    cmocka_unit_test(test_service_role_start_needs_no_ddl),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
