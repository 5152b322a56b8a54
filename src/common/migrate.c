/*
 * migrate.c - see migrate.h. One transaction for the whole run: the advisory lock is taken
 * first (pg_advisory_xact_lock, released at commit or when the connection dies), then the
 * version table is created if missing, then each pending migration runs and is recorded.
 */
#include "common/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Arbitrary but fixed: "ferry" in ASCII. Every ferry process serialises migrations on it. */
#define MIGRATE_LOCK_KEY "7378421761"

static int migrate_exec(PGconn *conn, const char *sql, const char *what, char *errstr,
                        size_t errstr_size)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(errstr, errstr_size, "migration %s failed: %s", what,
		         PQresultErrorMessage(res));
		/* libpq messages end in a newline; one line is what we promise. */
		errstr[strcspn(errstr, "\n")] = '\0';
		rc = -1;
	}
	PQclear(res);
	return rc;
}

static int migrate_is_applied(PGconn *conn, const char *component, int version, int *applied,
                              char *errstr, size_t errstr_size)
{
	char vbuf[16];
	const char *params[2] = {component, vbuf};
	PGresult *res;
	int rc = 0;

	snprintf(vbuf, sizeof(vbuf), "%d", version);
	res = PQexecParams(
	    conn, "SELECT 1 FROM ferry.schema_version WHERE component = $1 AND version = $2", 2,
	    NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errstr, errstr_size, "reading ferry.schema_version failed: %s",
		         PQresultErrorMessage(res));
		errstr[strcspn(errstr, "\n")] = '\0';
		rc = -1;
		goto done;
	}
	*applied = PQntuples(res) > 0;
done:
	PQclear(res);
	return rc;
}

static int migrate_record(PGconn *conn, const char *component, int version, const char *name,
                          char *errstr, size_t errstr_size)
{
	char vbuf[16];
	const char *params[3] = {component, vbuf, name};
	PGresult *res;
	int rc = 0;

	snprintf(vbuf, sizeof(vbuf), "%d", version);
	res = PQexecParams(conn,
	                   "INSERT INTO ferry.schema_version (component, version, name) "
	                   "VALUES ($1, $2, $3)",
	                   3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(errstr, errstr_size, "recording migration %s failed: %s", name,
		         PQresultErrorMessage(res));
		errstr[strcspn(errstr, "\n")] = '\0';
		rc = -1;
	}
	PQclear(res);
	return rc;
}

int migrate_apply(PGconn *conn, const char *component, const struct migration_source *migrations,
                  size_t n, char *errstr, size_t errstr_size)
{
	int applied_count = 0;
	int in_tx = 0;
	size_t i;

	if (migrate_exec(conn, "BEGIN", "BEGIN", errstr, errstr_size) != 0)
		goto fail;
	in_tx = 1;
	if (migrate_exec(conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", "lock", errstr,
	                 errstr_size) != 0)
		goto fail;
	if (migrate_exec(conn,
	                 "CREATE SCHEMA IF NOT EXISTS ferry;"
	                 "CREATE TABLE IF NOT EXISTS ferry.schema_version ("
	                 "  component text NOT NULL,"
	                 "  version integer NOT NULL,"
	                 "  name text NOT NULL,"
	                 "  applied_at timestamptz NOT NULL DEFAULT now(),"
	                 "  PRIMARY KEY (component, version))",
	                 "schema_version", errstr, errstr_size) != 0)
		goto fail;

	for (i = 0; i < n; i++) {
		const struct migration_source *m = &migrations[i];
		int version, applied = 0;

		if (m->name == NULL) /* the generator's placeholder for an empty set */
			continue;
		version = atoi(m->name);
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
		if (migrate_exec(conn, m->sql, m->name, errstr, errstr_size) != 0)
			goto fail;
		if (migrate_record(conn, component, version, m->name, errstr, errstr_size) != 0)
			goto fail;
		log_info("migrate", "applied %s migration %s", component, m->name);
		applied_count++;
	}
	if (migrate_exec(conn, "COMMIT", "COMMIT", errstr, errstr_size) != 0) {
		in_tx = 0; /* a failed COMMIT ends the transaction */
		goto fail;
	}
	return applied_count;
fail:
	if (in_tx) {
		PGresult *res = PQexec(conn, "ROLLBACK");
		PQclear(res);
	}
	return -1;
}
