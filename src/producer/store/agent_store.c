/*
 * agent_store.c - see agent_store.h.
 *
 * Every function is one statement. Writes return their rows with RETURNING (inside a CTE where
 * the statement does more) and the JSON is built from those rows: the outer query of a
 * statement does not see what its own CTEs wrote, so re-reading the table there would show the
 * old state.
 */
#include "producer/store/agent_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/strbuf.h"

/*
 * An agent as the REST API shows it, from an agent row aliased a; `interval` is the query
 * parameter holding the heartbeat interval in seconds ("$4"). now() is the statement's
 * transaction start, so a row a write just refreshed (last_heartbeat_at = now()) is healthy.
 */
/*
 * The derived health of an agent row aliased a whose heartbeat interval, in seconds, is the SQL
 * expression `interval`. now() is the statement's transaction start, so a row a write just
 * refreshed (last_heartbeat_at = now()) is healthy.
 */
#define AGENT_HEALTH(interval)                                                                     \
	"CASE WHEN a.status = 'STOPPED' THEN 'stopped'"                                            \
	" WHEN a.last_heartbeat_at >= now() - 3 * " interval "::integer * interval '1 second'"     \
	"  THEN 'healthy'"                                                                         \
	" WHEN a.last_heartbeat_at >= now() - 6 * " interval "::integer * interval '1 second'"     \
	"  THEN 'unhealthy'"                                                                       \
	" ELSE 'inactive' END"

/* A consumer agent as the REST API shows it, from an agent row aliased a; `interval` is the
 * query parameter holding the heartbeat interval in seconds ("$4"). */
#define AGENT_JSON(interval)                                                                       \
	"json_build_object('id', a.id, 'kind', 'consumer', 'serviceId', a.service_id,"             \
	" 'instanceId', a.instance_id,"                                                            \
	" 'consumerGroup', a.consumer_group, 'topics', a.topics, 'host', a.host, 'port', a.port,"  \
	" 'version', a.version, 'startedAt', a.started_at, 'registeredAt', a.registered_at,"       \
	" 'lastHeartbeatAt', a.last_heartbeat_at, 'status', a.status,"                             \
	" 'assignedPartitions', a.assigned_partitions, 'health', " AGENT_HEALTH(interval) ")"

/*
 * A producer agent as the REST API shows it, from a producer_service_agent row aliased a joined
 * with its latest health check aliased h (PRODUCER_LATEST_CHECK). Its health is judged by the
 * interval the instance registered with.
 */
#define PRODUCER_JSON                                                                                                \
	"json_build_object('id', a.id, 'kind', 'producer', 'serviceId', a.service_id,"                               \
	" 'instanceId', a.instance_id, 'host', a.host, 'port', a.port, 'version', a.version,"                        \
	" 'relayEnabled', a.relay_enabled, 'heartbeatIntervalSeconds', a.heartbeat_interval_s,"                      \
	" 'startedAt', a.started_at, 'registeredAt', a.registered_at,"                                               \
	" 'lastHeartbeatAt', a.last_heartbeat_at, 'status', a.status,"                                               \
	" 'health', " AGENT_HEALTH(                                                                                  \
	    "a.heartbeat_interval_s") ","                                                                            \
	                              " 'lastHealthCheck', CASE WHEN h.id IS NULL THEN NULL ELSE json_build_object(" \
	                              "  'checkedAt', h.checked_at, 'healthy', h.healthy, 'details', h.details) END)"

/* FROM clause: producer agents a with their latest health check h (service_health_check_latest
 * makes this one index probe per agent). */
#define PRODUCER_FROM                                                                              \
	" FROM ferry.producer_service_agent a LEFT JOIN LATERAL (SELECT c.id, c.checked_at,"       \
	"  c.healthy, c.details FROM ferry.service_health_check c WHERE c.agent_kind = 'producer'" \
	"  AND c.service_id = a.service_id AND c.instance_id = a.instance_id"                      \
	"  ORDER BY c.id DESC LIMIT 1) h ON true"

/* The agents one heartbeat or deregistration addresses, in a row aliased `t`: $1 service,
 * $2 instance, $3 group (NULL = all of the instance's groups). */
#define AGENT_ADDRESSED(t)                                                                         \
	t ".service_id = $1 AND " t ".instance_id = $2"                                            \
	  " AND ($3::text IS NULL OR " t ".consumer_group = $3)"

/* Runs one statement. Returns OK with *res (caller PQclears), or ERROR with errstr and *res
 * NULL. */
static int agent_store_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                            PGresult **res, char *errstr, size_t errstr_size)
{
	*res = pg_exec(conn, sql, nparams, params);
	if (pg_result_ok(*res))
		return AGENT_STORE_OK;
	pg_error_line(conn, *res, errstr, errstr_size);
	PQclear(*res);
	*res = NULL;
	return AGENT_STORE_ERROR;
}

/*
 * Runs a statement whose first column of its first row is the JSON answer. Returns OK with
 * *out, NOT_FOUND when there is no row (or the value is NULL), or ERROR. When `created` is not
 * NULL, the second column is a boolean, stored there.
 */
static int agent_store_query_json(PGconn *conn, const char *sql, int nparams,
                                  const char *const *params, json_t **out, bool *created,
                                  char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	json_error_t jerr;
	int rc;

	*out = NULL;
	rc = agent_store_exec(conn, sql, nparams, params, &res, errstr, errstr_size);
	if (rc != AGENT_STORE_OK)
		return rc;
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		rc = AGENT_STORE_NOT_FOUND;
		goto done;
	}
	*out = json_loads(PQgetvalue(res, 0, 0), 0, &jerr);
	if (*out == NULL) {
		snprintf(errstr, errstr_size, "cannot decode agent row: %s", jerr.text);
		rc = AGENT_STORE_ERROR;
		goto done;
	}
	if (created)
		*created = PQnfields(res) > 1 && PQgetvalue(res, 0, 1)[0] == 't';
done:
	PQclear(res);
	return rc;
}

int agent_store_register_consumer(PGconn *conn, const struct agent_registration *reg,
                                  int heartbeat_interval_s, json_t **out, char *errstr,
                                  size_t errstr_size)
{
	struct strbuf topics = STRBUF_INIT;
	char port[16], interval[16];
	const char *params[8];
	bool created = false;
	size_t i;
	int rc = AGENT_STORE_ERROR;

	*out = NULL;
	pg_array_begin(&topics);
	for (i = 0; i < reg->n_topics; i++)
		pg_array_add(&topics, reg->topics[i]);
	pg_array_end(&topics);
	if (topics.failed) {
		snprintf(errstr, errstr_size, "out of memory building the topics");
		goto done;
	}
	snprintf(port, sizeof(port), "%d", reg->port);
	snprintf(interval, sizeof(interval), "%d", heartbeat_interval_s);
	params[0] = reg->service_id;
	params[1] = reg->instance_id;
	params[2] = reg->consumer_group;
	params[3] = strbuf_str(&topics);
	params[4] = reg->host;
	params[5] = port;
	params[6] = reg->version;
	params[7] = interval;
	/* xmax is 0 on a row this statement inserted and our transaction id on a row it updated:
	 * the usual (if not documented) way to tell the two outcomes of ON CONFLICT DO UPDATE
	 * apart in one round trip. Concurrent registrations of one triple serialise on the unique
	 * index, so exactly one of them creates the row. */
	rc = agent_store_query_json(
	    conn,
	    "INSERT INTO ferry.consumer_service_agent AS a (service_id, instance_id, consumer_group,"
	    "  topics, host, port, version)"
	    " VALUES ($1, $2, $3, $4::text[], $5, $6::integer, $7)"
	    " ON CONFLICT (service_id, instance_id, consumer_group) DO UPDATE SET"
	    "  topics = EXCLUDED.topics, host = EXCLUDED.host, port = EXCLUDED.port,"
	    "  version = EXCLUDED.version, started_at = now(), last_heartbeat_at = now(),"
	    "  status = 'ACTIVE'"
	    " RETURNING " AGENT_JSON("$8") ", a.xmax = 0",
	    8, params, out, &created, errstr, errstr_size);
	if (rc == AGENT_STORE_NOT_FOUND) {
		snprintf(errstr, errstr_size, "registering the agent returned no row");
		rc = AGENT_STORE_ERROR;
	} else if (rc == AGENT_STORE_OK && created) {
		rc = AGENT_STORE_CREATED;
	}
done:
	strbuf_free(&topics);
	return rc;
}

int agent_store_heartbeat(PGconn *conn, const struct agent_heartbeat *hb, int heartbeat_interval_s,
                          json_t **out, char *errstr, size_t errstr_size)
{
	char interval[16], *details = NULL, *partitions = NULL;
	const char *params[7];
	int rc;

	*out = NULL;
	if (hb->details) {
		details = json_dumps(hb->details, JSON_COMPACT);
		if (details == NULL) {
			snprintf(errstr, errstr_size, "out of memory encoding the details");
			return AGENT_STORE_ERROR;
		}
	}
	if (hb->partitions) {
		partitions = json_dumps(hb->partitions, JSON_COMPACT);
		if (partitions == NULL) {
			free(details);
			snprintf(errstr, errstr_size, "out of memory encoding the partitions");
			return AGENT_STORE_ERROR;
		}
	}
	snprintf(interval, sizeof(interval), "%d", heartbeat_interval_s);
	params[0] = hb->service_id;
	params[1] = hb->instance_id;
	params[2] = hb->consumer_group;
	params[3] = interval;
	params[4] = hb->healthy ? "true" : "false";
	params[5] = details ? details : "{}";
	params[6] = partitions; /* checked by agent_request.c; NULL keeps the stored one */
	/* The INSERT runs whether or not the outer query reads it (PostgreSQL always completes a
	 * data-modifying CTE), and sees u's rows: one health check per heartbeat, none for an
	 * agent that is not registered. */
	rc = agent_store_query_json(
	    conn,
	    "WITH u AS (UPDATE ferry.consumer_service_agent a SET last_heartbeat_at = now(),"
	    "  assigned_partitions = coalesce($7::jsonb, a.assigned_partitions)"
	    "  WHERE " AGENT_ADDRESSED(
	        "a") " AND a.status = 'ACTIVE' RETURNING a.*),"
	             " h AS (INSERT INTO ferry.service_health_check (agent_kind, service_id, instance_id,"
	             "  healthy, details)"
	             "  SELECT 'consumer', $1, $2, $5::boolean, $6::jsonb WHERE EXISTS (SELECT 1 FROM u))"
	             "SELECT json_agg(" AGENT_JSON("$4") " ORDER BY a.id) FROM u a",
	    7, params, out, NULL, errstr, errstr_size);
	free(details);
	free(partitions);
	return rc;
}

int agent_store_deregister(PGconn *conn, const struct agent_deregistration *dereg,
                           int heartbeat_interval_s, json_t **out, char *errstr, size_t errstr_size)
{
	char interval[16];
	const char *params[4];

	snprintf(interval, sizeof(interval), "%d", heartbeat_interval_s);
	params[0] = dereg->service_id;
	params[1] = dereg->instance_id;
	params[2] = dereg->consumer_group;
	params[3] = interval;
	/* u: the rows stopped now; r: those, and the addressed rows that were stopped already. */
	return agent_store_query_json(
	    conn,
	    "WITH u AS (UPDATE ferry.consumer_service_agent a SET status = 'STOPPED'"
	    "  WHERE " AGENT_ADDRESSED(
	        "a") " AND a.status <> 'STOPPED' RETURNING a.*),"
	             " r AS (SELECT * FROM u UNION ALL SELECT * FROM ferry.consumer_service_agent x"
	             "  WHERE " AGENT_ADDRESSED("x") " AND x.id NOT IN (SELECT id FROM u))"
	                                             "SELECT json_agg(" AGENT_JSON(
	                                                 "$4") " ORDER BY a.id) FROM r a",
	    4, params, out, NULL, errstr, errstr_size);
}

int agent_store_list_consumers(PGconn *conn, int heartbeat_interval_s, json_t **out, char *errstr,
                               size_t errstr_size)
{
	char interval[16];
	const char *params[1] = {interval};
	int rc;

	snprintf(interval, sizeof(interval), "%d", heartbeat_interval_s);
	rc = agent_store_query_json(conn,
	                            "SELECT coalesce(json_agg(" AGENT_JSON(
	                                "$1") " ORDER BY a.id),"
	                                      " '[]'::json) FROM ferry.consumer_service_agent a",
	                            1, params, out, NULL, errstr, errstr_size);
	return rc == AGENT_STORE_OK ? rc : AGENT_STORE_ERROR;
}

int agent_store_get_consumer(PGconn *conn, int64_t id, int heartbeat_interval_s, json_t **out,
                             char *errstr, size_t errstr_size)
{
	char idbuf[32], interval[16];
	const char *params[2] = {idbuf, interval};

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	snprintf(interval, sizeof(interval), "%d", heartbeat_interval_s);
	return agent_store_query_json(
	    conn,
	    "SELECT " AGENT_JSON(
	        "$2") " FROM ferry.consumer_service_agent a WHERE a.id = $1::bigint",
	    2, params, out, NULL, errstr, errstr_size);
}

/* The parameters of a producer registration, $1..$7, in `params` (7 entries); port and
 * interval are formatted into the caller's buffers. */
static void agent_store_producer_params(const struct agent_producer_registration *reg,
                                        const char **params, char *port, size_t port_size,
                                        char *interval, size_t interval_size)
{
	snprintf(port, port_size, "%d", reg->port);
	snprintf(interval, interval_size, "%d", reg->heartbeat_interval_s);
	params[0] = reg->service_id;
	params[1] = reg->instance_id;
	params[2] = reg->host;
	params[3] = port;
	params[4] = reg->version;
	params[5] = reg->relay_enabled ? "true" : "false";
	params[6] = interval;
}

/* The upsert of registration ($8 true: a new start) and of a heartbeat that found no row
 * ($8 false), as an INSERT of `select`'s rows. */
#define PRODUCER_UPSERT_OF(select)                                                                 \
	"INSERT INTO ferry.producer_service_agent AS a (service_id, instance_id, host, port,"      \
	"  version, relay_enabled, heartbeat_interval_s) " select                                  \
	" ON CONFLICT (service_id, instance_id) DO UPDATE SET host = EXCLUDED.host,"               \
	"  port = EXCLUDED.port, version = EXCLUDED.version,"                                      \
	"  relay_enabled = EXCLUDED.relay_enabled,"                                                \
	"  heartbeat_interval_s = EXCLUDED.heartbeat_interval_s,"                                  \
	"  started_at = CASE WHEN $8::boolean THEN now() ELSE a.started_at END,"                   \
	"  last_heartbeat_at = now(), status = 'ACTIVE'"                                           \
	" RETURNING a.id, a.xmax = 0 AS created"
#define PRODUCER_UPSERT                                                                            \
	PRODUCER_UPSERT_OF("VALUES ($1, $2, $3, $4::integer, $5, $6::boolean, $7::integer)")
#define PRODUCER_UPSERT_FROM_SELECT                                                                \
	PRODUCER_UPSERT_OF("SELECT $1, $2, $3, $4::integer, $5, $6::boolean, $7::integer"          \
	                   " WHERE NOT EXISTS (SELECT 1 FROM u)")

/* Runs a producer upsert whose first row is (id, created). Returns CREATED, OK or ERROR. */
static int agent_store_producer_upsert(PGconn *conn, const char *sql, int nparams,
                                       const char *const *params, int64_t *id, char *errstr,
                                       size_t errstr_size)
{
	PGresult *res = NULL;
	int rc;

	rc = agent_store_exec(conn, sql, nparams, params, &res, errstr, errstr_size);
	if (rc != AGENT_STORE_OK)
		return rc;
	if (PQntuples(res) != 1) {
		snprintf(errstr, errstr_size, "registering the producer agent returned no row");
		rc = AGENT_STORE_ERROR;
		goto done;
	}
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (PQgetvalue(res, 0, 1)[0] == 't')
		rc = AGENT_STORE_CREATED;
done:
	PQclear(res);
	return rc;
}

int agent_store_register_producer(PGconn *conn, const struct agent_producer_registration *reg,
                                  int64_t *id, char *errstr, size_t errstr_size)
{
	char port[16], interval[16];
	const char *params[8];

	agent_store_producer_params(reg, params, port, sizeof(port), interval, sizeof(interval));
	params[7] = "true";
	return agent_store_producer_upsert(conn, PRODUCER_UPSERT, 8, params, id, errstr,
	                                   errstr_size);
}

int agent_store_producer_heartbeat(PGconn *conn, const struct agent_producer_registration *reg,
                                   bool healthy, const char *details_json, int64_t *id,
                                   char *errstr, size_t errstr_size)
{
	char port[16], interval[16];
	const char *params[10];
	int rc;

	agent_store_producer_params(reg, params, port, sizeof(port), interval, sizeof(interval));
	params[7] = "false";
	params[8] = healthy ? "true" : "false";
	params[9] = details_json;
	/* One statement, so the beat and its health check commit together. The ordinary beat is
	 * the UPDATE; the upsert runs only when there was no row to update (an INSERT ... SELECT
	 * that selects nothing evaluates no default), so beats do not draw an id from the shared
	 * sequence each time. The INSERT of the health check runs although the outer query does
	 * not read it (PostgreSQL completes every data-modifying CTE). */
	rc = agent_store_producer_upsert(
	    conn,
	    "WITH u AS (UPDATE ferry.producer_service_agent a SET host = $3, port = $4::integer,"
	    "  version = $5, relay_enabled = $6::boolean, heartbeat_interval_s = $7::integer,"
	    "  last_heartbeat_at = now(), status = 'ACTIVE'"
	    "  WHERE a.service_id = $1 AND a.instance_id = $2"
	    "  RETURNING a.id, false AS created),"
	    " i AS (" PRODUCER_UPSERT_FROM_SELECT "),"
	    " h AS (INSERT INTO ferry.service_health_check (agent_kind, service_id, instance_id,"
	    "  healthy, details) VALUES ('producer', $1, $2, $9::boolean, $10::jsonb))"
	    " SELECT id, created FROM u UNION ALL SELECT id, created FROM i",
	    10, params, id, errstr, errstr_size);
	return rc == AGENT_STORE_CREATED ? AGENT_STORE_OK : rc;
}

int agent_store_deregister_producer(PGconn *conn, const char *service_id, const char *instance_id,
                                    char *errstr, size_t errstr_size)
{
	const char *params[2] = {service_id, instance_id};
	PGresult *res = NULL;
	int rc;

	rc = agent_store_exec(conn,
	                      "UPDATE ferry.producer_service_agent SET status = 'STOPPED'"
	                      " WHERE service_id = $1 AND instance_id = $2",
	                      2, params, &res, errstr, errstr_size);
	if (rc != AGENT_STORE_OK)
		return rc;
	if (strcmp(PQcmdTuples(res), "0") == 0)
		rc = AGENT_STORE_NOT_FOUND;
	PQclear(res);
	return rc;
}

int agent_store_list_producers(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
{
	int rc = agent_store_query_json(conn,
	                                "SELECT coalesce(json_agg(" PRODUCER_JSON " ORDER BY a.id),"
	                                " '[]'::json)" PRODUCER_FROM,
	                                0, NULL, out, NULL, errstr, errstr_size);

	return rc == AGENT_STORE_OK ? rc : AGENT_STORE_ERROR;
}

int agent_store_get_producer(PGconn *conn, int64_t id, json_t **out, char *errstr,
                             size_t errstr_size)
{
	char idbuf[32];
	const char *params[1] = {idbuf};

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	return agent_store_query_json(
	    conn, "SELECT " PRODUCER_JSON PRODUCER_FROM " WHERE a.id = $1::bigint", 1, params, out,
	    NULL, errstr, errstr_size);
}

int agent_store_get_any(PGconn *conn, int64_t id, int heartbeat_interval_s, json_t **out,
                        char *errstr, size_t errstr_size)
{
	char idbuf[32], interval[16];
	const char *params[2] = {idbuf, interval};

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	snprintf(interval, sizeof(interval), "%d", heartbeat_interval_s);
	/* The shared id space makes at most one of the two subqueries find a row. */
	return agent_store_query_json(
	    conn,
	    "SELECT coalesce((SELECT " PRODUCER_JSON PRODUCER_FROM " WHERE a.id = $1::bigint),"
	    " (SELECT " AGENT_JSON("$2") " FROM ferry.consumer_service_agent a"
	                                 " WHERE a.id = $1::bigint))",
	    2, params, out, NULL, errstr, errstr_size);
}
