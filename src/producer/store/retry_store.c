/*
 * retry_store.c - see retry_store.h.
 */
#include "producer/store/retry_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/strbuf.h"

int retry_store_settle_spent(PGconn *conn, int limit, const char *actor,
                             retry_store_settled_fn on_settled, void *arg, int *failed,
                             int *expired, char *errstr, size_t errstr_size)
{
	char lim[16];
	const char *params[2] = {lim, actor};
	PGresult *res;
	int i;

	*failed = *expired = 0;
	snprintf(lim, sizeof(lim), "%d", limit);
	res = pg_exec(conn,
	              "SELECT s.status, s.consumer_group, coalesce(m.topic, '')"
	              " FROM ferry.retry_settle_spent($1::integer, $2) s"
	              " LEFT JOIN ferry.outbox_message m ON m.id = s.message_id",
	              2, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error_line(conn, res, errstr, errstr_size);
		PQclear(res);
		return -1;
	}
	for (i = 0; i < PQntuples(res); i++) {
		bool is_failed = strcmp(PQgetvalue(res, i, 0), "FAILED") == 0;

		if (is_failed)
			(*failed)++;
		else
			(*expired)++;
		if (on_settled)
			on_settled(arg, PQgetvalue(res, i, 2), PQgetvalue(res, i, 1), is_failed);
	}
	PQclear(res);
	return 0;
}

/*
 * Due: the group waits for acknowledgments, has retries left, the backoff has passed, and the
 * last delivery was negatively acknowledged or not acknowledged in time; or an operator asked.
 * The message rows are locked (not the deliveries): the same order as ferry.acknowledge.
 * d.due_at (migration 005) bounds the scan to the deliveries whose time has come, read in that
 * order through message_delivery_due; the rest of the condition is still checked in full. The
 * order is due_at alone, which the index gives as it is, and the group's part of the condition
 * is a per-row subquery rather than a join: with a join (or a tie-breaker in the order)
 * PostgreSQL misjudged how many rows pass and sorted every due delivery before taking the first
 * ones, 130 ms instead of 5 once 20,000 were due (bench/retry-scan --due 20000).
 * No expression here may raise on what one row holds: the statement claims the whole batch, so
 * one such row would fail every pass (an agent's partitions are read by
 * ferry.agent_topic_partition, sql/producer/functions/, which returns NULL for what it cannot
 * read).
 */
static const char retry_store_claim_sql[] =
    "SELECT d.message_id, d.consumer_group_id, d.consumer_group, d.retry_count,"
    " m.topic, m.message_key, m.payload, m.headers::text, m.idempotency_key,"
    " m.producer_service_id, m.producer_instance_id, m.created_at,"
    " CASE WHEN d.redrive_requested_at IS NOT NULL THEN 'redrive'"
    "  WHEN d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity')"
    "  THEN 'negative_ack' ELSE 'timeout' END,"
    " coalesce(d.target_agent_id, 0), ag.instance_id,"
    " ferry.agent_topic_partition(ag.assigned_partitions, m.topic), d.republish_failures"
    " FROM ferry.message_delivery d"
    " JOIN ferry.outbox_message m ON m.id = d.message_id"
    " LEFT JOIN ferry.consumer_service_agent ag ON ag.id = d.target_agent_id"
    " WHERE d.status = 'SENT' AND d.due_at <= now() AND m.status <> 'PENDING'"
    " AND (d.redrive_requested_at IS NOT NULL"
    "  OR (SELECT g.requires_acknowledgment"
    "   AND (g.max_retries < 0 OR d.retry_count < g.max_retries)"
    "   AND (d.scheduled_retry_at IS NULL OR d.scheduled_retry_at <= now())"
    "   AND (d.negative_ack_at >= coalesce(d.last_retry_at, d.sent_at, '-infinity')"
    "    OR coalesce(d.last_retry_at, d.sent_at, d.updated_at)"
    "     + g.acknowledgment_timeout_seconds * interval '1 second' <= now())"
    "   FROM ferry.consumer_group_registration g WHERE g.id = d.consumer_group_id))"
    " ORDER BY d.due_at"
    " LIMIT $1"
    " FOR NO KEY UPDATE OF m, d SKIP LOCKED";

int retry_store_refresh_due_at(PGconn *conn, int limit, int *moved, char *errstr,
                               size_t errstr_size)
{
	char lim[16];
	const char *params[1] = {lim};
	int64_t n;
	int rc;

	snprintf(lim, sizeof(lim), "%d", limit);
	rc = pg_int_query(conn, "SELECT ferry.retry_refresh_due_at($1::integer)", 1, params, &n,
	                  errstr, errstr_size);
	*moved = (int)n;
	return rc;
}

static const char *retry_store_nullable(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int retry_store_claim(PGconn *conn, int limit, struct retry_batch *batch, char *errstr,
                      size_t errstr_size)
{
	char lim[16];
	const char *params[1] = {lim};
	size_t i;

	memset(batch, 0, sizeof(*batch));
	snprintf(lim, sizeof(lim), "%d", limit);
	if (pg_command(conn, "BEGIN", errstr, errstr_size) != 0)
		return -1;
	batch->res = pg_exec(conn, retry_store_claim_sql, 1, params);
	if (PQresultStatus(batch->res) != PGRES_TUPLES_OK) {
		pg_error_line(conn, batch->res, errstr, errstr_size);
		goto fail;
	}
	batch->n = (size_t)PQntuples(batch->res);
	if (batch->n == 0) {
		if (pg_command(conn, "COMMIT", errstr, errstr_size) != 0)
			goto fail;
		return 0;
	}
	batch->rows = calloc(batch->n, sizeof(*batch->rows));
	if (batch->rows == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	for (i = 0; i < batch->n; i++) {
		const PGresult *r = batch->res;
		struct retry_due *d = &batch->rows[i];
		int row = (int)i;

		d->message_id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
		d->group_id = strtoll(PQgetvalue(r, row, 1), NULL, 10);
		d->group = PQgetvalue(r, row, 2);
		d->retry_count = atoi(PQgetvalue(r, row, 3));
		d->topic = PQgetvalue(r, row, 4);
		d->key = retry_store_nullable(r, row, 5);
		d->key_len = d->key ? (size_t)PQgetlength(r, row, 5) : 0;
		d->payload = PQgetvalue(r, row, 6);
		d->payload_len = (size_t)PQgetlength(r, row, 6);
		d->headers_json = PQgetvalue(r, row, 7);
		d->idempotency_key = retry_store_nullable(r, row, 8);
		d->producer_service_id = retry_store_nullable(r, row, 9);
		d->producer_instance_id = retry_store_nullable(r, row, 10);
		d->created_at = PQgetvalue(r, row, 11);
		d->trigger = PQgetvalue(r, row, 12);
		d->target_agent_id = strtoll(PQgetvalue(r, row, 13), NULL, 10);
		d->target_instance = retry_store_nullable(r, row, 14);
		d->target_unreadable = d->target_agent_id != 0 && PQgetisnull(r, row, 15);
		d->target_partition =
		    PQgetisnull(r, row, 15) ? -1 : (int32_t)atoi(PQgetvalue(r, row, 15));
		d->republish_failures = atoi(PQgetvalue(r, row, 16));
	}
	return 0;
fail:
	retry_store_abandon(conn);
	retry_store_batch_free(batch);
	return -1;
}

void retry_store_batch_free(struct retry_batch *batch)
{
	PQclear(batch->res);
	free(batch->rows);
	memset(batch, 0, sizeof(*batch));
}

int retry_store_record(PGconn *conn, const struct retry_batch *batch,
                       const struct retry_outcome *out, const char *actor, char *errstr,
                       size_t errstr_size)
{
	enum { N_ARRAYS = 9 };
	struct strbuf arr[N_ARRAYS];
	const char *params[N_ARRAYS + 1];
	PGresult *res = NULL;
	size_t i;
	int a, rc = -1;

	for (a = 0; a < N_ARRAYS; a++) {
		memset(&arr[a], 0, sizeof(arr[a]));
		pg_array_begin(&arr[a]);
	}
	for (i = 0; i < batch->n; i++) {
		char num[32];

		snprintf(num, sizeof(num), "%" PRId64, batch->rows[i].message_id);
		pg_array_add(&arr[0], num);
		snprintf(num, sizeof(num), "%" PRId64, batch->rows[i].group_id);
		pg_array_add(&arr[1], num);
		snprintf(num, sizeof(num), "%" PRId64, out[i].delay_ms);
		pg_array_add(&arr[2], num);
		snprintf(num, sizeof(num), "%" PRId32, out[i].published ? out[i].partition : -1);
		pg_array_add(&arr[3], num);
		pg_array_add(&arr[4], batch->rows[i].trigger);
		pg_array_add(&arr[5], out[i].target_instance);
		pg_array_add(&arr[6], out[i].published ? "true" : "false");
		pg_array_add(&arr[7], out[i].error);
		pg_array_add(&arr[8], out[i].fallback_reason);
	}
	for (a = 0; a < N_ARRAYS; a++) {
		pg_array_end(&arr[a]);
		if (arr[a].failed) {
			snprintf(errstr, errstr_size, "out of memory");
			goto done;
		}
		params[a] = strbuf_str(&arr[a]);
	}
	params[N_ARRAYS] = actor;
	/* Published: one more retry, its backoff, the re-drive done, the failure count reset.
	 * Refused by Kafka: not a retry; due again only after the backoff of its failure count, so
	 * that the next pass takes the deliveries behind it (an update that names none of status,
	 * negative_ack_at and redrive_requested_at: the due_at trigger leaves this due_at alone).
	 */
	res = pg_exec(
	    conn,
	    "WITH o AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[],"
	    "  $4::integer[], $5::text[], $6::text[], $7::boolean[], $8::text[], $9::text[])"
	    "  AS o(message_id, group_id, delay_ms, kafka_partition, trigger, target_instance,"
	    "   published, error, fallback_reason)),"
	    " u AS (UPDATE ferry.message_delivery d"
	    "  SET retry_count = d.retry_count + 1, last_retry_at = clock_timestamp(),"
	    "   scheduled_retry_at = clock_timestamp() + o.delay_ms * interval '1 millisecond',"
	    "   redrive_requested_at = NULL, target_agent_id = NULL, republish_failures = 0,"
	    "   updated_at = clock_timestamp()"
	    "  FROM o WHERE o.published"
	    "   AND d.message_id = o.message_id AND d.consumer_group_id = o.group_id"
	    "  RETURNING d.message_id, d.consumer_group, d.retry_count, d.scheduled_retry_at,"
	    "   o.delay_ms, o.kafka_partition, o.trigger, o.target_instance, o.fallback_reason),"
	    " f AS (UPDATE ferry.message_delivery d"
	    "  SET republish_failures = d.republish_failures + 1,"
	    "   due_at = clock_timestamp() + o.delay_ms * interval '1 millisecond'"
	    "  FROM o WHERE NOT o.published"
	    "   AND d.message_id = o.message_id AND d.consumer_group_id = o.group_id"
	    "  RETURNING d.message_id, d.consumer_group, d.republish_failures, d.due_at,"
	    "   o.trigger, o.error, o.fallback_reason)"
	    " INSERT INTO ferry.message_event (message_id, consumer_group, event, actor, detail)"
	    " SELECT u.message_id, u.consumer_group, 'retried', $10,"
	    "  jsonb_strip_nulls(jsonb_build_object('retry', u.retry_count, 'trigger', u.trigger,"
	    "  'delayMs', u.delay_ms, 'scheduledRetryAt', u.scheduled_retry_at,"
	    "  'partition', u.kafka_partition, 'targetInstance', u.target_instance,"
	    "  'fallbackReason', u.fallback_reason))"
	    " FROM u"
	    " UNION ALL"
	    " SELECT f.message_id, f.consumer_group, 'republish_failed', $10,"
	    "  jsonb_strip_nulls(jsonb_build_object('error', f.error, 'failures',"
	    "  f.republish_failures, 'trigger', f.trigger, 'nextAttemptAt', f.due_at,"
	    "  'fallbackReason', f.fallback_reason))"
	    " FROM f",
	    N_ARRAYS + 1, params);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto done;
	}
	if (pg_command(conn, "COMMIT", errstr, errstr_size) != 0)
		goto done;
	rc = 0;
done:
	if (rc != 0)
		retry_store_abandon(conn);
	PQclear(res);
	for (a = 0; a < N_ARRAYS; a++)
		strbuf_free(&arr[a]);
	return rc;
}

void retry_store_abandon(PGconn *conn)
{
	pg_rollback_open(conn);
}
