/*
 * migrate.h - versioned schema migrations, applied at start-up.
 *
 * Migrations are the files of sql/<component>/ (NNN_name.sql), compiled into the binary by
 * cmake/embed_sql.cmake. migrate_apply() runs the ones not yet recorded in
 * ferry.schema_version, in order, each in the same transaction as its record, while holding a
 * transaction-level advisory lock: several instances starting at once apply each migration
 * exactly once, and the late ones wait and then find nothing to do.
 *
 * Functions have one home each: sql/<component>/functions/<name>.sql holds the current
 * definition (CREATE OR REPLACE FUNCTION), and migrate_apply() applies all of them after the
 * migrations, on every start, in the same transaction (sql/README.md).
 */
#ifndef FERRY_MIGRATE_H
#define FERRY_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

struct migration_source {
	const char *name; /* file name: "001_outbox.sql" (leading number: version), "enqueue.sql" */
	const char *sql;  /* the whole file */
};

extern const struct migration_source migrations_producer[];
extern const size_t migrations_producer_count;
extern const struct migration_source migrations_consumer[];
extern const size_t migrations_consumer_count;
/* sql/<component>/functions/, in the order of its order.txt. */
extern const struct migration_source functions_producer[];
extern const size_t functions_producer_count;
extern const struct migration_source functions_consumer[];
extern const size_t functions_consumer_count;

/*
 * Applies the migrations of `component` ("producer" or "consumer") on `conn` (idle, not in a
 * transaction), then its `nfunctions` function files (`functions`, may be NULL when 0), in the
 * same transaction. Returns the number of migrations applied (0 when up to date), or -1 with
 * errstr naming the failing file and PostgreSQL's message; on failure nothing of the run
 * remains. Caller keeps ownership of conn. Blocks while another instance holds the migration
 * lock.
 *
 * The function files are applied on every call, also when no migration was pending (a changed
 * body needs no migration), except when the database records a migration of `component` newer
 * than the newest in `migrations`: a newer ferry migrated it, and an older instance restarting
 * during a rolling upgrade must not put back its older function bodies.
 *
 * Every table lock is awaited at most lock_timeout_ms: a lock request queued behind another
 * session (an old relay's open claim during a rolling upgrade) makes every later writer of the
 * table queue behind it too, so after lock_timeout_ms the run rolls back (the writers go on),
 * pauses 100 ms doubling to 2 s, and tries again, for at most wait_ms in all; then -1. Writers
 * are thus blocked at most lock_timeout_ms at a time, plus the time the migrations take once
 * they hold their locks.
 */
int migrate_apply(PGconn *conn, const char *component, const struct migration_source *migrations,
                  size_t n, const struct migration_source *functions, size_t nfunctions,
                  long lock_timeout_ms, long wait_ms, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
