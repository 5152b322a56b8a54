/*
 * ctl_cmd_keys.c - ferryctl keys create|list|revoke|generate: API keys, managed directly in the
 * database (ferry.api_key, or with --consumer the consumer service's ferry_consumer.api_key).
 *
 * Managing keys takes database credentials on purpose: no REST route can mint a key, so a
 * leaked API key never yields another. `create` prints the new key once, alone on stdout (for
 * `KEY=$(ferryctl keys create ...)`); only its SHA-256 is stored. `list` never shows hashes.
 * Every producer (or consumer) instance reads the table every FERRY_AUTH_REFRESH_MS, so a
 * revocation reaches all of them within seconds.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl_cmd.h"
#include "common/auth_key.h"
#include "common/auth_roles.h"
#include "common/conninfo.h"

#define CTL_KEYS_DEFAULT_DB                                                                        \
	"Host=localhost;Port=5432;Database=outbox_db;Username=outbox_user;Password=outbox_password"

static const struct ctl_opt ctl_keys_db_opts[] = {
    {"database", 'd', "CONNINFO", false,
     "database holding the keys (default $ConnectionStrings__DefaultConnection, as the producer "
     "reads it)"},
    {"consumer", 0, NULL, false,
     "the consumer service's keys (ferry_consumer.api_key; default database "
     "$ConnectionStrings__ConsumerConnection, else DefaultConnection)"},
};

static const struct ctl_opt ctl_keys_create_opts[] = {
    {"roles", 'r', "ROLES", false, "comma-separated: producer, consumer, operator, reader"},
    {"database", 'd', "CONNINFO", false,
     "database holding the keys (default $ConnectionStrings__DefaultConnection)"},
    {"consumer", 0, NULL, false, "the consumer service's keys (ferry_consumer.api_key)"},
};

/* The table the command works on: the producer's, or with --consumer the consumer's. */
static const char *ctl_keys_table(const struct ctl_args *args)
{
	return ctl_args_has(args, "consumer") ? "ferry_consumer.api_key" : "ferry.api_key";
}

/* Connects to --database, else the service's connection-string variable. Returns the
 * connection, or NULL after printing one line. */
static PGconn *ctl_keys_connect(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	const char *given = ctl_args_get(args, "database");
	char conninfo[4096], errstr[512];
	PGconn *conn = NULL;

	if (given == NULL && ctl_args_has(args, "consumer"))
		given = getenv("ConnectionStrings__ConsumerConnection");
	if (given == NULL || given[0] == '\0')
		given = getenv("ConnectionStrings__DefaultConnection");
	if (given == NULL || given[0] == '\0')
		given = CTL_KEYS_DEFAULT_DB;
	if (conninfo_translate(given, conninfo, sizeof(conninfo), errstr, sizeof(errstr)) != 0) {
		ctl_cmd_fail(ctx, "--database: %s", errstr);
		goto done;
	}
	conn = PQconnectdb(conninfo);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		const char *msg = conn != NULL ? PQerrorMessage(conn) : "out of memory";
		size_t n = strcspn(msg, "\n");

		ctl_cmd_fail(ctx, "cannot connect to the database: %.*s", (int)n, msg);
		PQfinish(conn);
		conn = NULL;
	}
done:
	return conn;
}

/* Runs a statement; on failure prints PostgreSQL's first line (after `what`) and returns NULL.
 * A missing table is explained: the service has not migrated that database yet. */
static PGresult *ctl_keys_exec(struct ctl_ctx *ctx, PGconn *conn, const char *sql, int n,
                               const char *const *params, const char *what)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		const char *msg = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(conn);
		size_t len = strcspn(msg, "\n");

		if (state != NULL && strcmp(state, "42P01") == 0)
			ctl_cmd_fail(ctx,
			             "%s: no API key table in this database (start the service "
			             "once so it migrates, or check --database / --consumer)",
			             what);
		else
			ctl_cmd_fail(ctx, "%s: %.*s", what, (int)len, msg);
		PQclear(res);
		res = NULL;
	}
	return res;
}

static int ctl_keys_create(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	const char *name = args->pos[0], *roles_text = ctl_args_get(args, "roles");
	char key[AUTH_KEY_LEN + 1], hash[AUTH_KEY_HASH_LEN + 1], roles_list[64], array[80];
	char sql[256], errstr[256];
	const char *params[3];
	unsigned roles = 0;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = CTL_EXIT_FAIL;

	if (!auth_key_name_valid(name)) {
		rc = ctl_cmd_usage_error(
		    ctx, "keys create: invalid name '%.80s' (1-63 of A-Z a-z 0-9 . _ -)", name);
		goto done;
	}
	if (roles_text == NULL) {
		rc = ctl_cmd_usage_error(ctx,
		                         "keys create: --roles is required (producer, consumer, "
		                         "operator, reader)");
		goto done;
	}
	if (auth_roles_parse(roles_text, &roles, errstr, sizeof(errstr)) != 0) {
		rc = ctl_cmd_usage_error(ctx, "keys create: --roles: %s", errstr);
		goto done;
	}
	if (auth_key_generate(key, errstr, sizeof(errstr)) != 0 || auth_key_hash(key, hash) != 0) {
		rc = ctl_cmd_fail(ctx, "keys create: cannot make a key: %s", errstr);
		goto done;
	}
	conn = ctl_keys_connect(ctx, args);
	if (conn == NULL)
		goto done;
	auth_roles_format(roles, roles_list, sizeof(roles_list));
	snprintf(array, sizeof(array), "{%s}", roles_list);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s (name, key_hash, roles) VALUES ($1, $2, $3::text[]) "
	         "ON CONFLICT (name) DO NOTHING",
	         ctl_keys_table(args));
	params[0] = name;
	params[1] = hash;
	params[2] = array;
	res = ctl_keys_exec(ctx, conn, sql, 3, params, "keys create");
	if (res == NULL)
		goto done;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		rc = ctl_cmd_fail(ctx,
		                  "keys create: a key named '%s' exists already (revoked keys keep "
		                  "their name; choose another)",
		                  name);
		goto done;
	}
	if (ctx->json) {
		json_t *out =
		    json_pack("{s:s, s:s, s:s}", "name", name, "key", key, "roles", roles_list);

		ctl_cmd_print_json(ctx, out);
		json_decref(out);
	} else {
		fprintf(ctx->out, "%s\n", key);
		fflush(ctx->out);
		fprintf(ctx->err,
		        "ferryctl: created key '%s' (%s); it is shown only this once, store it "
		        "now\n",
		        name, roles_list);
	}
	rc = CTL_EXIT_OK;
done:
	memset(key, 0, sizeof(key));
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static int ctl_keys_list(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {"NAME", "ROLES", "CREATED", "REVOKED", NULL};
	char sql[256];
	PGconn *conn = ctl_keys_connect(ctx, args);
	PGresult *res = NULL;
	json_t *all = NULL;
	struct ctl_table t;
	int rc = CTL_EXIT_FAIL;

	if (conn == NULL)
		goto done;
	snprintf(sql, sizeof(sql),
	         "SELECT name, array_to_string(roles, ','), "
	         "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
	         "to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
	         "FROM %s ORDER BY name",
	         ctl_keys_table(args));
	res = ctl_keys_exec(ctx, conn, sql, 0, NULL, "keys list");
	if (res == NULL)
		goto done;
	if (ctx->json) {
		all = json_array();
		for (int i = 0; i < PQntuples(res); i++)
			json_array_append_new(
			    all, json_pack("{s:s, s:s, s:s, s:s?}", "name", PQgetvalue(res, i, 0),
			                   "roles", PQgetvalue(res, i, 1), "createdAt",
			                   PQgetvalue(res, i, 2), "revokedAt",
			                   PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3)));
		ctl_cmd_print_json(ctx, all);
	} else {
		ctl_table_init(&t, headers);
		for (int i = 0; i < PQntuples(res); i++) {
			const char *cells[4] = {
			    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			    PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3)};

			ctl_table_add_row(&t, cells);
		}
		ctl_cmd_print_table(ctx, &t);
	}
	rc = CTL_EXIT_OK;
done:
	json_decref(all);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static int ctl_keys_revoke(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	const char *params[1] = {args->pos[0]};
	char sql[256];
	PGconn *conn = ctl_keys_connect(ctx, args);
	PGresult *res = NULL;
	int rc = CTL_EXIT_FAIL;

	if (conn == NULL)
		goto done;
	/* Revoking twice keeps the first time: the question is only whether the name exists. */
	snprintf(sql, sizeof(sql),
	         "UPDATE %s SET revoked_at = coalesce(revoked_at, now()) WHERE name = $1",
	         ctl_keys_table(args));
	res = ctl_keys_exec(ctx, conn, sql, 1, params, "keys revoke");
	if (res == NULL)
		goto done;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		rc = ctl_cmd_fail(ctx, "keys revoke: no key named '%.80s'", args->pos[0]);
		goto done;
	}
	if (!ctx->json)
		fprintf(ctx->err,
		        "ferryctl: revoked key '%s'; services stop accepting it within "
		        "FERRY_AUTH_REFRESH_MS\n",
		        args->pos[0]);
	rc = CTL_EXIT_OK;
done:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static int ctl_keys_generate(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	char key[AUTH_KEY_LEN + 1], errstr[256];

	(void)args;
	if (auth_key_generate(key, errstr, sizeof(errstr)) != 0)
		return ctl_cmd_fail(ctx, "keys generate: %s", errstr);
	fprintf(ctx->out, "%s\n", key);
	memset(key, 0, sizeof(key));
	return CTL_EXIT_OK;
}

static const struct ctl_command ctl_keys_commands[] = {
    {"keys create", "NAME", "create an API key and print it once (stores only its SHA-256)",
     "Example: FERRY_TOKEN=$(ferryctl keys create ops --roles operator,reader)",
     ctl_keys_create_opts, CTL_N(ctl_keys_create_opts), 1, 1, ctl_keys_create},
    {"keys list", NULL, "API keys: name, roles, created, revoked (never the keys)", NULL,
     ctl_keys_db_opts, CTL_N(ctl_keys_db_opts), 0, 0, ctl_keys_list},
    {"keys revoke", "NAME", "revoke an API key (every instance stops accepting it within seconds)",
     NULL, ctl_keys_db_opts, CTL_N(ctl_keys_db_opts), 1, 1, ctl_keys_revoke},
    {"keys generate", NULL, "print a new random key, stored nowhere (for FERRY_BOOTSTRAP_API_KEY)",
     NULL, NULL, 0, 0, 0, ctl_keys_generate},
};
const struct ctl_cmd_module ctl_cmd_keys_module = {ctl_keys_commands, CTL_N(ctl_keys_commands)};
