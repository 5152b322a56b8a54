/*
 * test_migrate_functions.c - function files (sql/<component>/functions/) as migrate_apply, what
 * both services run at start-up, applies them: after the migrations, in the given order, in
 * the same transaction, on every start (a changed body needs no migration); left alone when a
 * newer ferry migrated the database (an older instance restarting in a rolling upgrade must not
 * put its older bodies back); a failing file fails the start and leaves nothing of the run.
 * Test migrations and functions in their own schemas, under their own component names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/migrate.h"
#include "harness.h"

#define LOCK_TIMEOUT_MS 1000
#define WAIT_MS         30000

static struct it_db fn_db;

/* One migration creating schema s with a table and a first f(); a second one adding t2. */
#define MIGRATION_1(s)                                                                             \
	{                                                                                          \
		"001_" s ".sql",                                                                   \
		    "CREATE SCHEMA " s "; CREATE TABLE " s ".t (x int);"                           \
		    "CREATE FUNCTION " s ".f() RETURNS int LANGUAGE sql AS 'SELECT 1'"             \
	}
#define MIGRATION_2(s)                                                                             \
	{                                                                                          \
		"002_" s ".sql", "CREATE TABLE " s ".t2 (x int)"                                   \
	}

/* f() returning `value`, and g() = 2 * f(): g's LANGUAGE sql body is checked at creation, so
 * the order matters when f is new. */
#define FUNCTION_F(s, value)                                                                       \
	{                                                                                          \
		"f.sql", "CREATE OR REPLACE FUNCTION " s                                           \
		         ".f() RETURNS int LANGUAGE sql AS 'SELECT " value "'"                     \
	}
#define FUNCTION_G(s)                                                                              \
	{                                                                                          \
		"g.sql", "CREATE OR REPLACE FUNCTION " s ".g() RETURNS int LANGUAGE sql AS "       \
		         "'SELECT 2 * " s ".f()'"                                                  \
	}

static int run(PGconn *conn, const char *component, const struct migration_source *m, size_t n,
               const struct migration_source *f, size_t nf, char *err, size_t errsize)
{
	err[0] = '\0';
	return migrate_apply(conn, component, m, n, f, nf, LOCK_TIMEOUT_MS, WAIT_MS, err, errsize);
}

static int fn_setup(void **state)
{
	(void)state;
	it_db_create(&fn_db, "migrate_functions");
	return 0;
}

static int fn_teardown(void **state)
{
	(void)state;
	it_db_drop(&fn_db);
	return 0;
}

static void test_functions_applied_after_migrations_on_every_start(void **state)
{
	const struct migration_source migrations[] = {MIGRATION_1("fn_a")};
	const struct migration_source v1[] = {FUNCTION_F("fn_a", "10"), FUNCTION_G("fn_a")};
	const struct migration_source v2[] = {FUNCTION_F("fn_a", "30"), FUNCTION_G("fn_a")};
	PGconn *conn = it_pg_connect(fn_db.conninfo);
	char err[1024];

	(void)state;
	/* First start: the migration, then the files (f replaced, g created, in that order). */
	assert_int_equal(run(conn, "fn_a", migrations, 1, v1, 2, err, sizeof(err)), 1);
	assert_int_equal(it_sql_int(conn, "SELECT fn_a.g()"), 20);
	/* Same files again: nothing pending, nothing changes. */
	assert_int_equal(run(conn, "fn_a", migrations, 1, v1, 2, err, sizeof(err)), 0);
	assert_int_equal(it_sql_int(conn, "SELECT fn_a.g()"), 20);
	/* A changed body and no new migration: applied at the next start. */
	assert_int_equal(run(conn, "fn_a", migrations, 1, v2, 2, err, sizeof(err)), 0);
	assert_int_equal(it_sql_int(conn, "SELECT fn_a.f()"), 30);
	assert_int_equal(it_sql_int(conn, "SELECT fn_a.g()"), 60);
	PQfinish(conn);
}

static void test_newer_database_keeps_its_functions(void **state)
{
	const struct migration_source old_binary[] = {MIGRATION_1("fn_b")};
	const struct migration_source new_binary[] = {MIGRATION_1("fn_b"), MIGRATION_2("fn_b")};
	const struct migration_source new_fns[] = {FUNCTION_F("fn_b", "7")};
	const struct migration_source old_fns[] = {FUNCTION_F("fn_b", "1")};
	PGconn *conn = it_pg_connect(fn_db.conninfo);
	char err[1024];

	(void)state;
	assert_int_equal(run(conn, "fn_b", new_binary, 2, new_fns, 1, err, sizeof(err)), 2);
	assert_int_equal(it_sql_int(conn, "SELECT fn_b.f()"), 7);
	/* An older instance restarts during the rolling upgrade: it knows only migration 1. */
	assert_int_equal(run(conn, "fn_b", old_binary, 1, old_fns, 1, err, sizeof(err)), 0);
	assert_int_equal(it_sql_int(conn, "SELECT fn_b.f()"), 7);
	/* The newer one again: its bodies, applied as on every start. */
	assert_int_equal(run(conn, "fn_b", new_binary, 2, new_fns, 1, err, sizeof(err)), 0);
	assert_int_equal(it_sql_int(conn, "SELECT fn_b.f()"), 7);
	PQfinish(conn);
}

static void test_failing_function_file_leaves_nothing_of_the_run(void **state)
{
	const struct migration_source first[] = {MIGRATION_1("fn_c")};
	const struct migration_source both[] = {MIGRATION_1("fn_c"), MIGRATION_2("fn_c")};
	const struct migration_source good[] = {FUNCTION_F("fn_c", "5")};
	const struct migration_source bad[] = {
	    FUNCTION_F("fn_c", "6"),
	    {"broken.sql", "CREATE OR REPLACE FUNCTION fn_c.h( RETURNS int"},
	};
	PGconn *conn = it_pg_connect(fn_db.conninfo);
	char err[1024];

	(void)state;
	assert_int_equal(run(conn, "fn_c", first, 1, good, 1, err, sizeof(err)), 1);
	assert_int_equal(run(conn, "fn_c", both, 2, bad, 2, err, sizeof(err)), -1);
	printf("migrate_functions: %s\n", err);
	assert_non_null(strstr(err, "broken.sql"));
	assert_null(strchr(err, '\n'));
	/* Neither migration 2, nor its record, nor f's new body: the whole run rolled back. */
	assert_int_equal(it_sql_int(conn, "SELECT count(*) FROM information_schema.tables"
	                                  " WHERE table_schema = 'fn_c' AND table_name = 't2'"),
	                 0);
	assert_int_equal(it_sql_int(conn, "SELECT count(*) FROM ferry.schema_version"
	                                  " WHERE component = 'fn_c'"),
	                 1);
	assert_int_equal(it_sql_int(conn, "SELECT fn_c.f()"), 5);
	PQfinish(conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_functions_applied_after_migrations_on_every_start),
	    cmocka_unit_test(test_newer_database_keeps_its_functions),
	    cmocka_unit_test(test_failing_function_file_leaves_nothing_of_the_run),
	};

	return it_finish(cmocka_run_group_tests(tests, fn_setup, fn_teardown));
}
