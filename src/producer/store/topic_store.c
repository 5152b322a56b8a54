/*
 * topic_store.c - see topic_store.h.
 *
 * Every function is one statement. Writes return their rows with RETURNING inside a CTE and the
 * JSON is built from those rows: the outer query of a statement does not see what its own CTEs
 * wrote, so re-reading the table there would show the old state.
 */
#include "producer/store/topic_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/strbuf.h"

/* A group as the REST API shows it, from a group row aliased g and its topic row aliased t. */
#define TOPIC_STORE_GROUP_JSON                                                                     \
	"json_build_object('id', g.id, 'topicRegistrationId', g.topic_registration_id,"            \
	" 'topicName', t.topic_name, 'consumerGroupName', g.consumer_group_name,"                  \
	" 'requiresAcknowledgment', g.requires_acknowledgment,"                                    \
	" 'acknowledgmentTimeoutMinutes', g.acknowledgment_timeout_seconds / 60.0::float8,"        \
	" 'acknowledgmentTimeoutSeconds', g.acknowledgment_timeout_seconds,"                       \
	" 'maxRetries', g.max_retries, 'isActive', g.is_active, 'activeSince', g.active_since,"    \
	" 'deactivatedAt', g.deactivated_at, 'createdAt', g.created_at,"                           \
	" 'updatedAt', g.updated_at, 'updatedBy', g.updated_by)"

/* A topic as the REST API shows it, from a topic row aliased t; `groups` is a FROM clause
 * giving its group rows aliased g. */
#define TOPIC_STORE_TOPIC_JSON(groups)                                                                    \
	"json_build_object('id', t.id, 'topicName', t.topic_name, 'description', t.description,"          \
	" 'partitions', t.partitions, 'isActive', t.is_active, 'createdAt', t.created_at,"                \
	" 'updatedAt', t.updated_at, 'consumerGroups', coalesce((SELECT json_agg(" TOPIC_STORE_GROUP_JSON \
	" ORDER BY g.id) FROM " groups "), '[]'::json))"

/* The groups of topic t, as stored. */
#define TOPIC_STORE_TOPIC_GROUPS                                                                   \
	"ferry.consumer_group_registration g WHERE g.topic_registration_id = t.id"

/*
 * Runs one statement. Returns OK with *res (caller PQclears), CONFLICT for a unique violation,
 * or ERROR; errstr set on both failures and *res NULL.
 */
static int topic_store_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                            PGresult **res, char *errstr, size_t errstr_size)
{
	const char *state;
	bool unique_violation;

	*res = pg_exec(conn, sql, nparams, params);
	if (pg_result_ok(*res))
		return TOPIC_STORE_OK;
	pg_error_line(conn, *res, errstr, errstr_size);
	state = *res ? PQresultErrorField(*res, PG_DIAG_SQLSTATE) : NULL;
	unique_violation = state && strcmp(state, "23505") == 0;
	PQclear(*res);
	*res = NULL;
	return unique_violation ? TOPIC_STORE_CONFLICT : TOPIC_STORE_ERROR;
}

/* Decodes the JSON text at (row, col) into *out. Returns 0, or -1 with errstr. */
static int topic_store_decode(const PGresult *res, int row, int col, json_t **out, char *errstr,
                              size_t errstr_size)
{
	json_error_t jerr;

	*out = json_loads(PQgetvalue(res, row, col), 0, &jerr);
	if (*out == NULL) {
		snprintf(errstr, errstr_size, "cannot decode registry row: %s", jerr.text);
		return -1;
	}
	return 0;
}

/*
 * Runs a statement whose first column of its first row is the JSON answer. Returns OK with
 * *out, NOT_FOUND when there is no row (or the value is NULL), CONFLICT or ERROR.
 */
static int topic_store_query_json(PGconn *conn, const char *sql, int nparams,
                                  const char *const *params, json_t **out, char *errstr,
                                  size_t errstr_size)
{
	PGresult *res = NULL;
	int rc;

	*out = NULL;
	rc = topic_store_exec(conn, sql, nparams, params, &res, errstr, errstr_size);
	if (rc != TOPIC_STORE_OK)
		return rc;
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		rc = TOPIC_STORE_NOT_FOUND;
	else if (topic_store_decode(res, 0, 0, out, errstr, errstr_size) != 0)
		rc = TOPIC_STORE_ERROR;
	PQclear(res);
	return rc;
}

static const char *topic_store_bool(bool v)
{
	return v ? "true" : "false";
}

int topic_store_register_topic(PGconn *conn, const struct topic_request *req, json_t **out,
                               char *errstr, size_t errstr_size)
{
	struct strbuf arr[4] = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT, STRBUF_INIT};
	const char *params[7];
	char partitions[16];
	size_t i;
	int rc = TOPIC_STORE_ERROR, a;

	*out = NULL;
	for (a = 0; a < 4; a++)
		pg_array_begin(&arr[a]);
	for (i = 0; i < req->n_groups; i++) {
		const struct topic_group_request *g = &req->groups[i];
		char num[16];

		pg_array_add(&arr[0], g->name);
		pg_array_add(&arr[1], topic_store_bool(g->requires_ack));
		snprintf(num, sizeof(num), "%d", g->ack_timeout_seconds);
		pg_array_add(&arr[2], num);
		snprintf(num, sizeof(num), "%d", g->max_retries);
		pg_array_add(&arr[3], num);
	}
	for (a = 0; a < 4; a++) {
		pg_array_end(&arr[a]);
		if (arr[a].failed) {
			snprintf(errstr, errstr_size, "out of memory building the groups");
			goto done;
		}
		params[3 + a] = strbuf_str(&arr[a]);
	}
	snprintf(partitions, sizeof(partitions), "%d", req->partitions);
	params[0] = req->topic_name;
	params[1] = req->description;
	params[2] = partitions;
	/* ON CONFLICT: a name registered already (also by a concurrent request, which this one
	 * waits for) leaves t empty, so no groups are inserted and there is no row. */
	rc = topic_store_query_json(
	    conn,
	    "WITH t AS (INSERT INTO ferry.topic_registration (topic_name, description, partitions)"
	    "  VALUES ($1, $2, $3::integer) ON CONFLICT (topic_name) DO NOTHING RETURNING *),"
	    " g AS (INSERT INTO ferry.consumer_group_registration (topic_registration_id,"
	    "  consumer_group_name, requires_acknowledgment, acknowledgment_timeout_seconds,"
	    "  max_retries)"
	    "  SELECT t.id, x.name, x.ack, x.timeout, x.retries FROM t,"
	    "   unnest($4::text[], $5::boolean[], $6::integer[], $7::integer[])"
	    "    WITH ORDINALITY AS x(name, ack, timeout, retries, ord)"
	    "  ORDER BY x.ord RETURNING *)"
	    "SELECT " TOPIC_STORE_TOPIC_JSON("g") " FROM t",
	    7, params, out, errstr, errstr_size);
	if (rc == TOPIC_STORE_NOT_FOUND || rc == TOPIC_STORE_CONFLICT) {
		snprintf(errstr, errstr_size, "topic '%s' is already registered", req->topic_name);
		rc = TOPIC_STORE_CONFLICT;
	}
done:
	for (a = 0; a < 4; a++)
		strbuf_free(&arr[a]);
	return rc;
}

int topic_store_list_topics(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
{
	int rc = topic_store_query_json(
	    conn,
	    "SELECT coalesce(json_agg(" TOPIC_STORE_TOPIC_JSON(
	        TOPIC_STORE_TOPIC_GROUPS) " ORDER BY t.id),"
	                                  " '[]'::json) FROM ferry.topic_registration t",
	    0, NULL, out, errstr, errstr_size);

	return rc == TOPIC_STORE_OK ? rc : TOPIC_STORE_ERROR;
}

int topic_store_get_topic(PGconn *conn, const char *name, json_t **out, char *errstr,
                          size_t errstr_size)
{
	const char *params[1] = {name};

	return topic_store_query_json(
	    conn,
	    "SELECT " TOPIC_STORE_TOPIC_JSON(
	        TOPIC_STORE_TOPIC_GROUPS) " FROM ferry.topic_registration t WHERE t.topic_name = $1",
	    1, params, out, errstr, errstr_size);
}

int topic_store_list_groups(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
{
	int rc = topic_store_query_json(
	    conn,
	    "SELECT coalesce(json_agg(" TOPIC_STORE_GROUP_JSON " ORDER BY t.id, g.id), '[]'::json)"
	    " FROM ferry.consumer_group_registration g"
	    " JOIN ferry.topic_registration t ON t.id = g.topic_registration_id",
	    0, NULL, out, errstr, errstr_size);

	return rc == TOPIC_STORE_OK ? rc : TOPIC_STORE_ERROR;
}

int topic_store_get_group(PGconn *conn, int64_t id, json_t **out, char *errstr, size_t errstr_size)
{
	char idbuf[32];
	const char *params[1] = {idbuf};

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	return topic_store_query_json(conn,
	                              "SELECT " TOPIC_STORE_GROUP_JSON
	                              " FROM ferry.consumer_group_registration g"
	                              " JOIN ferry.topic_registration t"
	                              "  ON t.id = g.topic_registration_id"
	                              " WHERE g.id = $1::bigint",
	                              1, params, out, errstr, errstr_size);
}

int topic_store_update_group(PGconn *conn, int64_t id, const struct topic_group_update *upd,
                             const char *actor, json_t **out, char *errstr, size_t errstr_size)
{
	char idbuf[32], timeout[16], retries[16];
	const char *params[7];
	int rc;

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	snprintf(timeout, sizeof(timeout), "%d", upd->ack_timeout_seconds);
	snprintf(retries, sizeof(retries), "%d", upd->max_retries);
	params[0] = idbuf;
	params[1] = upd->name;
	params[2] = upd->has_requires_ack ? topic_store_bool(upd->requires_ack) : NULL;
	params[3] = upd->has_ack_timeout ? timeout : NULL;
	params[4] = upd->has_max_retries ? retries : NULL;
	params[5] = upd->has_is_active ? topic_store_bool(upd->is_active) : NULL;
	params[6] = actor;
	/* NULL parameters keep the column. $6 true on an inactive group activates it, false on an
	 * active one deactivates it; otherwise the window is left alone. */
	rc = topic_store_query_json(
	    conn,
	    "WITH u AS (UPDATE ferry.consumer_group_registration g SET"
	    "  consumer_group_name = coalesce($2, g.consumer_group_name),"
	    "  requires_acknowledgment = coalesce($3::boolean, g.requires_acknowledgment),"
	    "  acknowledgment_timeout_seconds = coalesce($4::integer,"
	    "   g.acknowledgment_timeout_seconds),"
	    "  max_retries = coalesce($5::integer, g.max_retries),"
	    "  is_active = coalesce($6::boolean, g.is_active),"
	    "  active_since = CASE WHEN $6::boolean AND NOT g.is_active THEN now()"
	    "   ELSE g.active_since END,"
	    "  deactivated_at = CASE WHEN $6::boolean AND NOT g.is_active THEN NULL"
	    "   WHEN NOT $6::boolean AND g.is_active THEN now() ELSE g.deactivated_at END,"
	    "  updated_at = now(), updated_by = $7"
	    " WHERE g.id = $1::bigint RETURNING g.*)"
	    "SELECT " TOPIC_STORE_GROUP_JSON " FROM u g"
	    " JOIN ferry.topic_registration t ON t.id = g.topic_registration_id",
	    7, params, out, errstr, errstr_size);
	if (rc == TOPIC_STORE_CONFLICT)
		snprintf(errstr, errstr_size, "the topic already has a consumer group named '%s'",
		         upd->name ? upd->name : "");
	return rc;
}

int topic_store_add_group(PGconn *conn, const char *topic, const struct topic_group_request *group,
                          const char *actor, json_t **out, char *errstr, size_t errstr_size)
{
	char timeout[16], retries[16];
	const char *params[6];
	PGresult *res = NULL;
	int rc;

	*out = NULL;
	snprintf(timeout, sizeof(timeout), "%d", group->ack_timeout_seconds);
	snprintf(retries, sizeof(retries), "%d", group->max_retries);
	params[0] = topic;
	params[1] = group->name;
	params[2] = topic_store_bool(group->requires_ack);
	params[3] = timeout;
	params[4] = retries;
	params[5] = actor;
	/* Always one row: the new group (NULL when the name was taken), and whether the topic
	 * exists, which tells the two NULL cases apart. */
	rc = topic_store_exec(
	    conn,
	    "WITH t AS (SELECT * FROM ferry.topic_registration WHERE topic_name = $1),"
	    " g AS (INSERT INTO ferry.consumer_group_registration (topic_registration_id,"
	    "  consumer_group_name, requires_acknowledgment, acknowledgment_timeout_seconds,"
	    "  max_retries, updated_by)"
	    "  SELECT t.id, $2, $3::boolean, $4::integer, $5::integer, $6 FROM t"
	    "  ON CONFLICT (topic_registration_id, consumer_group_name) DO NOTHING RETURNING *)"
	    "SELECT (SELECT " TOPIC_STORE_GROUP_JSON
	    " FROM g JOIN t ON t.id = g.topic_registration_id),"
	    " EXISTS (SELECT 1 FROM t)",
	    6, params, &res, errstr, errstr_size);
	if (rc == TOPIC_STORE_CONFLICT)
		snprintf(errstr, errstr_size, "topic '%s' already has a consumer group named '%s'",
		         topic, group->name);
	if (rc != TOPIC_STORE_OK)
		return rc;
	if (PQntuples(res) != 1) {
		snprintf(errstr, errstr_size, "adding a group returned %d rows", PQntuples(res));
		rc = TOPIC_STORE_ERROR;
	} else if (PQgetvalue(res, 0, 1)[0] != 't') {
		rc = TOPIC_STORE_NOT_FOUND;
	} else if (PQgetisnull(res, 0, 0)) {
		snprintf(errstr, errstr_size, "topic '%s' already has a consumer group named '%s'",
		         topic, group->name);
		rc = TOPIC_STORE_CONFLICT;
	} else if (topic_store_decode(res, 0, 0, out, errstr, errstr_size) != 0) {
		rc = TOPIC_STORE_ERROR;
	}
	PQclear(res);
	return rc;
}

int topic_store_set_topic_active(PGconn *conn, const char *name, bool active, json_t **out,
                                 char *errstr, size_t errstr_size)
{
	const char *params[2] = {name, topic_store_bool(active)};

	/* u: the row changed, if it was not in that state yet; r: that row, else the row as is. */
	return topic_store_query_json(
	    conn,
	    "WITH u AS (UPDATE ferry.topic_registration t SET is_active = $2::boolean,"
	    "  updated_at = now()"
	    "  WHERE t.topic_name = $1 AND t.is_active <> $2::boolean RETURNING t.*),"
	    " r AS (SELECT * FROM u UNION ALL SELECT * FROM ferry.topic_registration x"
	    "  WHERE x.topic_name = $1 AND NOT EXISTS (SELECT 1 FROM u))"
	    "SELECT " TOPIC_STORE_TOPIC_JSON(TOPIC_STORE_TOPIC_GROUPS) " FROM r t",
	    2, params, out, errstr, errstr_size);
}

int topic_store_set_group_active(PGconn *conn, int64_t id, bool active, const char *actor,
                                 json_t **out, char *errstr, size_t errstr_size)
{
	char idbuf[32];
	const char *params[3] = {idbuf, topic_store_bool(active), actor};

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	return topic_store_query_json(
	    conn,
	    "WITH u AS (UPDATE ferry.consumer_group_registration g SET is_active = $2::boolean,"
	    "  active_since = CASE WHEN $2::boolean THEN now() ELSE g.active_since END,"
	    "  deactivated_at = CASE WHEN $2::boolean THEN NULL ELSE now() END,"
	    "  updated_at = now(), updated_by = $3"
	    "  WHERE g.id = $1::bigint AND g.is_active <> $2::boolean RETURNING g.*),"
	    " r AS (SELECT * FROM u UNION ALL SELECT * FROM ferry.consumer_group_registration x"
	    "  WHERE x.id = $1::bigint AND NOT EXISTS (SELECT 1 FROM u))"
	    "SELECT " TOPIC_STORE_GROUP_JSON " FROM r g"
	    " JOIN ferry.topic_registration t ON t.id = g.topic_registration_id",
	    3, params, out, errstr, errstr_size);
}

int topic_store_active_topics(PGconn *conn, struct topic_store_active **topics, size_t *n,
                              char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	int rc, i, rows;

	*topics = NULL;
	*n = 0;
	rc = topic_store_exec(conn,
	                      "SELECT topic_name, partitions FROM ferry.topic_registration"
	                      " WHERE is_active ORDER BY id",
	                      0, NULL, &res, errstr, errstr_size);
	if (rc != TOPIC_STORE_OK)
		return TOPIC_STORE_ERROR;
	rows = PQntuples(res);
	if (rows > 0) {
		*topics = calloc((size_t)rows, sizeof(**topics));
		if (*topics == NULL) {
			snprintf(errstr, errstr_size, "out of memory listing %d topics", rows);
			rc = TOPIC_STORE_ERROR;
			goto done;
		}
	}
	for (i = 0; i < rows; i++) {
		snprintf((*topics)[i].name, sizeof((*topics)[i].name), "%s", PQgetvalue(res, i, 0));
		(*topics)[i].partitions = (int)strtol(PQgetvalue(res, i, 1), NULL, 10);
	}
	*n = (size_t)rows;
done:
	PQclear(res);
	return rc;
}
