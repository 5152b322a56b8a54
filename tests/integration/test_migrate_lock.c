/*
 * test_migrate_lock.c - a migration never makes the application's writers wait longer than
 * FERRY_MIGRATE_LOCK_TIMEOUT_MS at a time.
 *
 * The rolling-upgrade case: an old relay holds an open claim (FOR UPDATE on outbox rows) while
 * a new instance starts with a pending migration that alters ferry.outbox_message. The pending
 * migration is a test one handed to the real migrator (migrate_apply, what both services run at
 * start-up) next to the schema the producer applied. While the claim is open, the ALTER's lock
 * request queues; ferry.enqueue from a third session queues behind it, and must get through
 * within the lock timeout (before the fix it waited for the claim to end: here its
 * statement_timeout fails it). Once the claim ends the migration completes.
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

#include "common/migrate.h"
#include "harness.h"

#define LOCK_TIMEOUT_MS  300
#define ENQUEUE_SLACK_MS 700   /* one round trip on a loaded machine */
#define ENQUEUES         4     /* timed while the claim is open */
#define MIGRATE_WAIT_MS  60000 /* the migrator's total retry budget */

static struct it_db lock_db;

static const struct migration_source pending_migration[] = {
    {"900_test_outbox_column.sql",
     "ALTER TABLE ferry.outbox_message ADD COLUMN test_upgrade_note text"},
};

struct migrator {
	const char *conninfo;
	int applied;      /* migrate_apply's result */
	char error[1024]; /* its errstr */
};

/* Runs the migrator like a starting service does (any thread: no harness calls). */
static void *migrator_main(void *arg)
{
	struct migrator *m = arg;
	PGconn *conn = PQconnectdb(m->conninfo);

	m->applied = -1;
	if (PQstatus(conn) != CONNECTION_OK)
		snprintf(m->error, sizeof(m->error), "%s", PQerrorMessage(conn));
	else
		/* With the real function files: they run in the same transaction, after it. */
		m->applied =
		    migrate_apply(conn, "producer", pending_migration, 1, functions_producer,
		                  functions_producer_count, LOCK_TIMEOUT_MS, MIGRATE_WAIT_MS,
		                  m->error, sizeof(m->error));
	PQfinish(conn);
	return NULL;
}

static int lock_setup(void **state)
{
	const char *const no_relay[] = {"FERRY_RELAY_ENABLED=false", NULL};
	struct it_producer p;

	(void)state;
	it_db_create(&lock_db, "migrate_lock");
	it_producer_start(&p, &lock_db, no_relay); /* the schema */
	assert_int_equal(it_producer_stop(&p), 0);
	return 0;
}

static int lock_teardown(void **state)
{
	(void)state;
	it_db_drop(&lock_db);
	return 0;
}

static void test_migration_does_not_block_writers_behind_a_claim(void **state)
{
	PGconn *claim = it_pg_connect(lock_db.conninfo);
	PGconn *app = it_pg_connect(lock_db.conninfo);
	PGconn *watch = it_pg_connect(lock_db.conninfo);
	struct migrator m = {.conninfo = lock_db.conninfo};
	char topic[IT_TOPIC_MAX];
	pthread_t thread;
	int64_t t0, took, worst = 0;
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "migrate-lock");
	it_sql_exec(app, "SELECT ferry.enqueue('%s', 'k', 'before')", topic);
	/* Before the fix this session would wait for the claim; fail it rather than hang. */
	it_sql_exec(app, "SET statement_timeout = 5000");
	/* The old relay's claim: rows locked FOR UPDATE in a transaction left open. */
	it_sql_exec(claim,
	            "BEGIN; SELECT id FROM ferry.outbox_message WHERE topic = '%s' FOR UPDATE",
	            topic);

	assert_int_equal(pthread_create(&thread, NULL, migrator_main, &m), 0);
	/* No assertion until the join below, except through the wait helpers' bounded checks. */
	for (i = 0; i < ENQUEUES; i++) {
		/* Enqueue exactly while the ALTER's lock request waits in the queue. */
		bool queued =
		    it_wait_sql_int(watch, 1, 10000,
		                    "SELECT least(count(*), 1) FROM pg_locks WHERE NOT granted"
		                    " AND mode = 'AccessExclusiveLock'"
		                    " AND relation = 'ferry.outbox_message'::regclass");
		PGresult *res;

		if (!queued)
			break;
		t0 = it_now_ms();
		res = PQexec(app, "SELECT ferry.enqueue('migrate-lock-app', 'k', 'during')");
		took = it_now_ms() - t0;
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			printf("migrate_lock: enqueue failed after %" PRId64 " ms: %s", took,
			       PQresultErrorMessage(res));
			worst = took > worst ? took : worst;
			PQclear(res);
			break;
		}
		PQclear(res);
		worst = took > worst ? took : worst;
	}
	printf("migrate_lock: %d enqueues while the migration waited; the slowest took %" PRId64
	       " ms (lock_timeout %d ms)\n",
	       i, worst, LOCK_TIMEOUT_MS);
	it_sql_exec(claim, "COMMIT");
	pthread_join(thread, NULL);

	assert_int_equal(i, ENQUEUES);
	assert_true(worst <= LOCK_TIMEOUT_MS + ENQUEUE_SLACK_MS);
	/* The claim is gone: the migration went through, once. */
	if (m.applied != 1)
		fail_msg("migrate_apply returned %d: %s", m.applied, m.error);
	assert_int_equal(
	    it_sql_int(watch, "SELECT count(*) FROM information_schema.columns"
	                      " WHERE table_schema = 'ferry' AND table_name = 'outbox_message'"
	                      " AND column_name = 'test_upgrade_note'"),
	    1);
	assert_int_equal(it_sql_int(watch, "SELECT count(*) FROM ferry.schema_version"
	                                   " WHERE component = 'producer' AND version = 900"),
	                 1);
	PQfinish(watch);
	PQfinish(app);
	PQfinish(claim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_migration_does_not_block_writers_behind_a_claim),
	};

	return it_finish(cmocka_run_group_tests(tests, lock_setup, lock_teardown));
}
