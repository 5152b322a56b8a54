/*
 * redrive_store.c - see redrive_store.h.
 */
#include "producer/store/redrive_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/pg.h"
#include "common/strbuf.h"

/* Maps ferry's own SQLSTATEs (FY404, FY409) and data errors (class 22) to a request error. */
static enum redrive_store_error redrive_store_classify(const char *sqlstate)
{
	if (strcmp(sqlstate, "FY404") == 0)
		return REDRIVE_STORE_ERR_NOT_FOUND;
	if (strcmp(sqlstate, "FY409") == 0)
		return REDRIVE_STORE_ERR_CONFLICT;
	if (strncmp(sqlstate, "22", 2) == 0)
		return REDRIVE_STORE_ERR_INVALID;
	return REDRIVE_STORE_ERR_DB;
}

enum redrive_store_error redrive_store_request_redelivery(PGconn *conn, int64_t message_id,
                                                          const char *group, const char *target,
                                                          const char *actor, int heartbeat_s,
                                                          json_t **out, char *errstr,
                                                          size_t errstr_size)
{
	char id[32], hb[16], state[6];
	const char *params[5] = {id, group, target, actor, hb};

	snprintf(id, sizeof(id), "%" PRId64, message_id);
	snprintf(hb, sizeof(hb), "%d", heartbeat_s);
	if (pg_json_query(
	        conn,
	        "SELECT coalesce(json_agg(json_build_object('consumerGroup', r.consumer_group,"
	        " 'previousStatus', r.previous_status,"
	        " 'target', CASE WHEN r.consumer_group IS NULL THEN 'relay'"
	        "  WHEN r.target_agent_id IS NULL THEN 'group' ELSE 'instance' END,"
	        " 'targetConsumerServiceId', $3::text, 'targetInstanceId', r.target_instance,"
	        " 'fallbackReason', r.fallback_reason)), '[]')::text"
	        " FROM ferry.request_redelivery($1::bigint, $2, $3, $4, $5::integer) r",
	        5, params, out, state, errstr, errstr_size) == 0)
		return REDRIVE_STORE_OK;
	return redrive_store_classify(state);
}

int redrive_store_bulk_redrive(PGconn *conn, const char *group, const char *status, int limit,
                               const char *actor, int64_t *requeued, char *errstr,
                               size_t errstr_size)
{
	char lim[16];
	const char *params[4] = {group, status, lim, actor};
	const char *ids;
	PGresult *res = NULL, *res2 = NULL;
	int rc = -1;

	*requeued = 0;
	snprintf(lim, sizeof(lim), "%d", limit);
	if (pg_command(conn, "BEGIN", errstr, errstr_size) != 0)
		return -1;
	res = pg_exec(
	    conn,
	    "WITH c AS (SELECT d.message_id, d.consumer_group_id, d.status, d.retry_count"
	    "  FROM ferry.message_delivery d JOIN ferry.outbox_message m ON m.id = d.message_id"
	    "  WHERE d.consumer_group = $1 AND d.status IN ('FAILED', 'EXPIRED')"
	    "  AND ($2::text IS NULL OR d.status = $2)"
	    "  ORDER BY d.message_id LIMIT $3::integer FOR NO KEY UPDATE OF m),"
	    " u AS (UPDATE ferry.message_delivery d SET status = 'SENT',"
	    "  redrive_requested_at = clock_timestamp(), target_agent_id = NULL, retry_count = 0,"
	    "  scheduled_retry_at = NULL, updated_at = clock_timestamp()"
	    "  FROM c WHERE d.message_id = c.message_id AND d.consumer_group_id = c.consumer_group_id"
	    "  RETURNING d.message_id, d.consumer_group, c.status AS previous_status,"
	    "   c.retry_count AS previous_count),"
	    " e AS (INSERT INTO ferry.message_event (message_id, consumer_group, event, actor, detail)"
	    "  SELECT u.message_id, u.consumer_group, 'redrive_requested', $4,"
	    "   jsonb_build_object('previousStatus', u.previous_status, 'previousRetryCount',"
	    "   u.previous_count, 'target', 'group', 'bulk', true) FROM u)"
	    " SELECT count(*), coalesce(array_agg(DISTINCT u.message_id), '{}')::text FROM u",
	    4, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto done;
	}
	*requeued = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	ids = PQgetvalue(res, 0, 1);
	res2 = pg_exec(conn, "SELECT ferry.settle_message_status($1::bigint[])", 1, &ids);
	if (PQresultStatus(res2) != PGRES_TUPLES_OK) {
		pg_error_line(conn, res2, errstr, errstr_size);
		goto done;
	}
	if (pg_command(conn, "COMMIT", errstr, errstr_size) != 0)
		goto done;
	rc = 0;
done:
	if (rc != 0) {
		*requeued = 0;
		pg_rollback_open(conn);
	}
	PQclear(res);
	PQclear(res2);
	return rc;
}

int redrive_store_list_dead(PGconn *conn, const char *group, const char *status, int64_t after_id,
                            int limit, bool newest, json_t **out, char *errstr, size_t errstr_size)
{
	char after[32], lim[16];
	const char *params[5] = {group, status, after, lim, newest ? "true" : "false"};

	snprintf(after, sizeof(after), "%" PRId64, after_id);
	snprintf(lim, sizeof(lim), "%d", limit);
	/* Candidates from the two small partial indexes, then their dead rows in full. */
	return pg_json_query(
	    conn,
	    "WITH ids AS (SELECT x.id FROM ("
	    "  SELECT d.message_id AS id FROM ferry.message_delivery d"
	    "   WHERE d.status IN ('FAILED', 'EXPIRED') AND ($5::boolean OR d.message_id > $3::bigint)"
	    "   AND ($1::text IS NULL OR d.consumer_group = $1) AND ($2::text IS NULL OR d.status = $2)"
	    "  UNION"
	    "  SELECT m.id FROM ferry.outbox_message m"
	    "   WHERE m.status = 'FAILED' AND m.sent_at IS NULL AND ($5::boolean OR m.id > $3::bigint)"
	    "   AND $1::text IS NULL AND ($2::text IS NULL OR $2 = 'FAILED')) x"
	    "  ORDER BY CASE WHEN $5::boolean THEN -x.id ELSE x.id END LIMIT $4::integer),"
	    " rows AS ("
	    "  SELECT m.id AS message_id, d.consumer_group AS grp, json_build_object("
	    "   'messageId', m.id, 'topic', m.topic, 'key', m.message_key,"
	    "   'consumerGroup', d.consumer_group, 'status', d.status,"
	    "   'retryCount', d.retry_count, 'lastRetryAt', d.last_retry_at,"
	    "   'errorMessage', d.error_message, 'updatedAt', d.updated_at,"
	    "   'createdAt', m.created_at) AS j"
	    "  FROM ids JOIN ferry.outbox_message m ON m.id = ids.id"
	    "  JOIN ferry.message_delivery d ON d.message_id = m.id"
	    "  WHERE d.status IN ('FAILED', 'EXPIRED')"
	    "  AND ($1::text IS NULL OR d.consumer_group = $1) AND ($2::text IS NULL OR d.status = $2)"
	    "  UNION ALL"
	    "  SELECT m.id, NULL, json_build_object("
	    "   'messageId', m.id, 'topic', m.topic, 'key', m.message_key,"
	    "   'consumerGroup', NULL, 'status', m.status, 'retryCount', m.publish_attempts,"
	    "   'lastRetryAt', NULL, 'errorMessage', m.error_message,"
	    "   'updatedAt', coalesce(m.processed_at, m.created_at), 'createdAt', m.created_at)"
	    "  FROM ids JOIN ferry.outbox_message m ON m.id = ids.id"
	    "  WHERE m.status = 'FAILED' AND m.sent_at IS NULL)"
	    " SELECT json_build_object("
	    "  'failed', coalesce((SELECT json_agg(r.j ORDER BY CASE WHEN $5::boolean THEN -r.message_id ELSE r.message_id END,"
	    "   r.grp) FROM rows r),"
	    "   '[]'),"
	    "  'count', (SELECT count(*) FROM rows),"
	    "  'nextAfterId', CASE WHEN $5::boolean OR (SELECT count(*) FROM ids) < $4::integer"
	    "   THEN NULL"
	    "   ELSE (SELECT max(id) FROM ids) END)::text",
	    5, params, out, NULL, errstr, errstr_size);
}

/* The deletion's cutoff: the timestamp parameter `ts` when given, else `age` seconds before the
 * database's now(). */
#define REDRIVE_STORE_CUTOFF(ts, age)                                                              \
	"coalesce(" ts "::timestamptz, now() - " age "::bigint * interval '1 second')"

enum redrive_store_error redrive_store_delete_dead(PGconn *conn, const char *before,
                                                   int64_t older_than_s, const char *group,
                                                   int batch, long budget_ms, const char *actor,
                                                   int64_t *deliveries, int64_t *messages,
                                                   bool *complete, char *errstr, size_t errstr_size)
{
	char lim[16];
	char age[32];
	const char *params[5] = {before, group, lim, actor, age};
	enum redrive_store_error rc = REDRIVE_STORE_OK;
	int64_t deadline = clock_monotonic_ms() + budget_ms;

	*deliveries = *messages = 0;
	*complete = false;
	snprintf(lim, sizeof(lim), "%d", batch);
	snprintf(age, sizeof(age), "%" PRId64, older_than_s);
	/* Batches, each committed on its own, so the outbox is never locked for long. */
	for (;;) {
		PGresult *res = pg_exec(
		    conn,
		    "WITH c AS (SELECT d.message_id, d.consumer_group_id"
		    "  FROM ferry.message_delivery d JOIN ferry.outbox_message m ON m.id = d.message_id"
		    "  WHERE d.status IN ('FAILED', 'EXPIRED') AND d.updated_at < " REDRIVE_STORE_CUTOFF(
		        "$1",
		        "$5") "  AND ($2::text IS NULL OR d.consumer_group = $2)"
		              "  ORDER BY d.message_id LIMIT $3::integer FOR NO KEY UPDATE OF m),"
		              " del AS (DELETE FROM ferry.message_delivery d USING c"
		              "  WHERE d.message_id = c.message_id AND d.consumer_group_id = c.consumer_group_id"
		              "  RETURNING d.message_id, d.consumer_group, d.status),"
		              " ev AS (INSERT INTO ferry.message_event (message_id, consumer_group, event, actor,"
		              "  detail) SELECT del.message_id, del.consumer_group, 'dead_letter_deleted', $4,"
		              "  jsonb_build_object('status', del.status) FROM del)"
		              " SELECT count(*), coalesce(array_agg(DISTINCT del.message_id), '{}')::text FROM del",
		    5, params);
		const char *ids;
		int64_t n;
		PGresult *res2;

		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			pg_error_line(conn, res, errstr, errstr_size);
			rc = redrive_store_classify(state ? state : "");
			PQclear(res);
			return rc;
		}
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		ids = PQgetvalue(res, 0, 1);
		/* Messages nothing waits for any more go; the others' status follows their groups.
		 */
		res2 = pg_exec(
		    conn,
		    "WITH gone AS (DELETE FROM ferry.outbox_message m"
		    "  WHERE m.id = ANY($1::bigint[]) AND m.status <> 'PENDING'"
		    "  AND NOT EXISTS (SELECT 1 FROM ferry.message_delivery d"
		    "   WHERE d.message_id = m.id AND d.status <> 'ACKNOWLEDGED')"
		    "  AND (m.status <> 'SENT' OR NOT EXISTS (SELECT 1 FROM ferry.message_delivery d"
		    "   WHERE d.message_id = m.id))"
		    "  RETURNING m.id)"
		    " SELECT count(*) FROM gone",
		    1, &ids);
		if (PQresultStatus(res2) != PGRES_TUPLES_OK) {
			pg_error_line(conn, res2, errstr, errstr_size);
			PQclear(res);
			PQclear(res2);
			return REDRIVE_STORE_ERR_DB;
		}
		*deliveries += n;
		*messages += strtoll(PQgetvalue(res2, 0, 0), NULL, 10);
		PQclear(res2);
		res2 = pg_exec(conn, "SELECT ferry.settle_message_status($1::bigint[])", 1, &ids);
		PQclear(res);
		if (PQresultStatus(res2) != PGRES_TUPLES_OK) {
			pg_error_line(conn, res2, errstr, errstr_size);
			PQclear(res2);
			return REDRIVE_STORE_ERR_DB;
		}
		PQclear(res2);
		if (n < batch)
			break;
		/* Each batch is committed: stopping here loses nothing, and the caller goes on. */
		if (clock_monotonic_ms() >= deadline)
			return REDRIVE_STORE_OK;
	}
	/* Messages the relay gave up on (never on Kafka, no deliveries) have no group: only an
	 * unfiltered deletion takes them. */
	while (group == NULL) {
		PGresult *res = pg_exec(
		    conn,
		    "WITH c AS (SELECT m.id FROM ferry.outbox_message m"
		    "  WHERE m.status = 'FAILED' AND m.sent_at IS NULL"
		    "  AND coalesce(m.processed_at, m.created_at) < " REDRIVE_STORE_CUTOFF(
		        "$1",
		        "$3") "  AND NOT EXISTS (SELECT 1 FROM ferry.message_delivery d WHERE d.message_id = m.id)"
		              "  ORDER BY m.id LIMIT $2::integer FOR UPDATE SKIP LOCKED),"
		              " gone AS (DELETE FROM ferry.outbox_message m USING c WHERE m.id = c.id"
		              "  RETURNING m.id)"
		              " SELECT count(*) FROM gone",
		    3, (const char *const[]){before, lim, age});
		int64_t n;

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			pg_error_line(conn, res, errstr, errstr_size);
			rc = redrive_store_classify(state ? state : "");
			PQclear(res);
			return rc;
		}
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		*messages += n;
		if (n < batch)
			break;
		if (clock_monotonic_ms() >= deadline)
			return REDRIVE_STORE_OK;
	}
	*complete = true;
	return REDRIVE_STORE_OK;
}
