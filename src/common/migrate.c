/*
 * migrate.c - see migrate.h. One transaction for the whole run: the advisory lock is taken
 * first (pg_advisory_xact_lock, released at commit or when the connection dies), then the
 * version table is created if missing, then each pending migration runs and is recorded, then
 * every function file (CREATE OR REPLACE) runs.
 * Table locks are taken with a lock_timeout: when one runs out (an old instance's open claim
 * holds the table) the whole run rolls back, pauses and starts again.
 */
#include "common/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"

/* Arbitrary but fixed: "ferry" in ASCII. Every ferry process serialises migrations on it. */
#define MIGRATE_LOCK_KEY "7378421761"

#define MIGRATE_LOCK_BUSY (-2) /* an attempt ran out of lock_timeout */

/* Returns 0, -1 with errstr, or MIGRATE_LOCK_BUSY when lock_timeout ran out (55P03). */
static int migrate_exec(PGconn *conn, const char *sql, const char *what, char *errstr,
                        size_t errstr_size)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		snprintf(errstr, errstr_size, "migration %s failed: %s", what,
		         PQresultErrorMessage(res));
		/* libpq messages end in a newline; one line is what we promise. */
		errstr[strcspn(errstr, "\n")] = '\0';
		rc = state && strcmp(state, "55P03") == 0 ? MIGRATE_LOCK_BUSY : -1;
	}
	PQclear(res);
	return rc;
}

/*
 * Runs one statement on ferry.schema_version with text parameters. Returns the result (the
 * caller PQclears it) when its status is `expect` and it has at least `min_rows` rows; else
 * NULL with errstr "<what> failed: <PostgreSQL's message>" as one line.
 */
static PGresult *migrate_version_query(PGconn *conn, const char *sql, int nparams,
                                       const char *const *params, ExecStatusType expect,
                                       int min_rows, const char *what, char *errstr,
                                       size_t errstr_size)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) == expect && PQntuples(res) >= min_rows)
		return res;
	snprintf(errstr, errstr_size, "%s failed: %s", what, PQresultErrorMessage(res));
	errstr[strcspn(errstr, "\n")] = '\0';
	PQclear(res);
	return NULL;
}

static int migrate_is_applied(PGconn *conn, const char *component, int version, int *applied,
                              char *errstr, size_t errstr_size)
{
	char vbuf[16];
	const char *params[2] = {component, vbuf};
	PGresult *res;

	snprintf(vbuf, sizeof(vbuf), "%d", version);
	res = migrate_version_query(
	    conn, "SELECT 1 FROM ferry.schema_version WHERE component = $1 AND version = $2", 2,
	    params, PGRES_TUPLES_OK, 0, "reading ferry.schema_version", errstr, errstr_size);
	if (res == NULL)
		return -1;
	*applied = PQntuples(res) > 0;
	PQclear(res);
	return 0;
}

static int migrate_record(PGconn *conn, const char *component, int version, const char *name,
                          char *errstr, size_t errstr_size)
{
	char vbuf[16], what[300];
	const char *params[3] = {component, vbuf, name};
	PGresult *res;

	snprintf(vbuf, sizeof(vbuf), "%d", version);
	snprintf(what, sizeof(what), "recording migration %s", name);
	res = migrate_version_query(conn,
	                            "INSERT INTO ferry.schema_version (component, version, name) "
	                            "VALUES ($1, $2, $3)",
	                            3, params, PGRES_COMMAND_OK, 0, what, errstr, errstr_size);
	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/* The newest migration version the database records for component (0: none) in *version. */
static int migrate_recorded_max(PGconn *conn, const char *component, int *version, char *errstr,
                                size_t errstr_size)
{
	const char *params[1] = {component};
	PGresult *res;

	res = migrate_version_query(conn,
	                            "SELECT coalesce(max(version), 0) FROM ferry.schema_version "
	                            "WHERE component = $1",
	                            1, params, PGRES_TUPLES_OK, 1, "reading ferry.schema_version",
	                            errstr, errstr_size);
	if (res == NULL)
		return -1;
	*version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/*
 * Applies the function files (CREATE OR REPLACE, so idempotent) inside the migrations'
 * transaction, after them. Returns 0, -1 with errstr, or MIGRATE_LOCK_BUSY.
 */
static int migrate_functions(PGconn *conn, const char *component,
                             const struct migration_source *migrations, size_t n,
                             const struct migration_source *functions, size_t nfunctions,
                             char *errstr, size_t errstr_size)
{
	int known = 0, recorded = 0, rc;
	size_t i;

	for (i = 0; i < n; i++)
		if (migrations[i].name != NULL && atoi(migrations[i].name) > known)
			known = atoi(migrations[i].name);
	if (migrate_recorded_max(conn, component, &recorded, errstr, errstr_size) != 0)
		return -1;
	if (recorded > known) {
		/* A newer ferry migrated this database: its function bodies are the ones to keep.
		 */
		log_info("migrate",
		         "the database has %s migration %d, newer than this binary's %d: its "
		         "functions are left as the newer version defined them",
		         component, recorded, known);
		return 0;
	}
	for (i = 0; i < nfunctions; i++) {
		char what[256];

		if (functions[i].name == NULL) /* the generator's placeholder for an empty set */
			continue;
		snprintf(what, sizeof(what), "functions/%s", functions[i].name);
		if ((rc = migrate_exec(conn, functions[i].sql, what, errstr, errstr_size)) != 0)
			return rc;
	}
	return 0;
}

/* One attempt: returns the number applied, -1 with errstr, or MIGRATE_LOCK_BUSY (rolled back). */
static int migrate_attempt(PGconn *conn, const char *component,
                           const struct migration_source *migrations, size_t n,
                           const struct migration_source *functions, size_t nfunctions,
                           long lock_timeout_ms, char *errstr, size_t errstr_size)
{
	char setting[64];
	int applied_count = 0;
	int in_tx = 0, rc;
	size_t i;

	if ((rc = migrate_exec(conn, "BEGIN", "BEGIN", errstr, errstr_size)) != 0)
		goto fail;
	in_tx = 1;
	/* Waiting for another instance's migrations is fine: nobody queues behind this lock. */
	if ((rc = migrate_exec(conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", "lock",
	                       errstr, errstr_size)) != 0)
		goto fail;
	/* Waiting for a table lock is not: every writer of that table would queue behind us. */
	snprintf(setting, sizeof(setting), "SET LOCAL lock_timeout = %ld", lock_timeout_ms);
	if ((rc = migrate_exec(conn, setting, "lock_timeout", errstr, errstr_size)) != 0)
		goto fail;
	if ((rc = migrate_exec(conn,
	                       "CREATE SCHEMA IF NOT EXISTS ferry;"
	                       "CREATE TABLE IF NOT EXISTS ferry.schema_version ("
	                       "  component text NOT NULL,"
	                       "  version integer NOT NULL,"
	                       "  name text NOT NULL,"
	                       "  applied_at timestamptz NOT NULL DEFAULT now(),"
	                       "  PRIMARY KEY (component, version))",
	                       "schema_version", errstr, errstr_size)) != 0)
		goto fail;

	for (i = 0; i < n; i++) {
		const struct migration_source *m = &migrations[i];
		int version, applied = 0;

		if (m->name == NULL) /* the generator's placeholder for an empty set */
			continue;
		version = atoi(m->name);
		rc = -1;
		if (version <= 0) {
			snprintf(errstr, errstr_size,
			         "migration file %s does not start with a version number", m->name);
			goto fail;
		}
		if (migrate_is_applied(conn, component, version, &applied, errstr, errstr_size) !=
		    0)
			goto fail;
		if (applied)
			continue;
		if ((rc = migrate_exec(conn, m->sql, m->name, errstr, errstr_size)) != 0)
			goto fail;
		if (migrate_record(conn, component, version, m->name, errstr, errstr_size) != 0) {
			rc = -1;
			goto fail;
		}
		log_info("migrate", "applied %s migration %s", component, m->name);
		applied_count++;
	}
	if ((rc = migrate_functions(conn, component, migrations, n, functions, nfunctions, errstr,
	                            errstr_size)) != 0)
		goto fail;
	if ((rc = migrate_exec(conn, "COMMIT", "COMMIT", errstr, errstr_size)) != 0) {
		in_tx = 0; /* a failed COMMIT ends the transaction */
		goto fail;
	}
	return applied_count;
fail:
	if (in_tx) {
		PGresult *res = PQexec(conn, "ROLLBACK");
		PQclear(res);
	}
	return rc == MIGRATE_LOCK_BUSY ? MIGRATE_LOCK_BUSY : -1;
}

int migrate_apply(PGconn *conn, const char *component, const struct migration_source *migrations,
                  size_t n, const struct migration_source *functions, size_t nfunctions,
                  long lock_timeout_ms, long wait_ms, char *errstr, size_t errstr_size)
{
	int64_t deadline = clock_monotonic_ms() + wait_ms;
	unsigned attempt = 0;
	int rc;

	for (;;) {
		rc = migrate_attempt(conn, component, migrations, n, functions, nfunctions,
		                     lock_timeout_ms, errstr, errstr_size);
		if (rc != MIGRATE_LOCK_BUSY)
			return rc;
		if (clock_monotonic_ms() >= deadline) {
			size_t len = strlen(errstr);

			snprintf(errstr + len, errstr_size - len,
			         " (a table lock was still held by another session after %ld ms of "
			         "retries)",
			         wait_ms);
			return -1;
		}
		/* Between attempts the writers that queued behind us get through. */
		log_warn("migrate",
		         "%s migrations: a table lock is held by another session (%s); rolled "
		         "back, retrying",
		         component, errstr);
		{
			long pause = pg_backoff_ms(attempt++, 100, 2000);
			struct timespec d = {pause / 1000, (pause % 1000) * 1000000L};

			nanosleep(&d, NULL);
		}
	}
}
