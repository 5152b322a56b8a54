/*
 * message_store.c - see message_store.h.
 *
 * Round trips: the claim is one simple-protocol message ("BEGIN; SELECT ... FOR UPDATE SKIP
 * LOCKED"), the mark is one more ("UPDATE ... FROM unnest(arrays); COMMIT"), whatever the batch
 * size. Arrays travel as PostgreSQL array literals (strbuf.h) so a batch is one parameter.
 */
#include "producer/store/message_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/strbuf.h"

int message_store_enqueue(PGconn *conn, const struct outbox_new_message *msgs, size_t n,
                          const char *service_id, const char *instance_id,
                          enum outbox_registry_mode registry, long timeout_ms,
                          struct outbox_enqueue_result *out, char *errstr, size_t errstr_size)
{
	static const char *const registry_modes[] = {"off", "require", "auto"};
	struct strbuf arr[6] = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT,
	                        STRBUF_INIT, STRBUF_INIT, STRBUF_INIT};
	const char *params[9];
	PGresult *res = NULL;
	size_t i;
	int rc = OUTBOX_ERR_DB, a;
	bool timed_out = false;

	for (a = 0; a < 6; a++)
		pg_array_begin(&arr[a]);
	for (i = 0; i < n; i++) {
		pg_array_add(&arr[0], msgs[i].topic);
		pg_array_add(&arr[1], msgs[i].key);
		pg_array_add(&arr[2], msgs[i].payload);
		pg_array_add(&arr[3], msgs[i].headers_json ? msgs[i].headers_json : "{}");
		pg_array_add(&arr[4], msgs[i].idempotency_key);
		pg_array_add(&arr[5], msgs[i].target_group);
	}
	for (a = 0; a < 6; a++) {
		pg_array_end(&arr[a]);
		if (arr[a].failed) {
			snprintf(errstr, errstr_size, "out of memory building the enqueue batch");
			goto done;
		}
		params[a < 5 ? a : 7] = strbuf_str(&arr[a]);
	}
	params[5] = service_id;
	params[6] = instance_id;
	params[8] = registry_modes[registry];
	res = pg_exec_within(
	    conn,
	    "SELECT ord, id, duplicate FROM ferry.enqueue_batch($1::text[], $2::text[],"
	    " $3::text[], $4::jsonb[], $5::text[], $6, $7, $8::text[], $9)",
	    9, params, timeout_ms, &timed_out);
	if (timed_out) {
		snprintf(errstr, errstr_size,
		         "database did not answer within %ld ms (connection dropped)", timeout_ms);
		goto done;
	}
	if (!pg_result_ok(res)) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		pg_error_line(conn, res, errstr, errstr_size);
		/* ferry.enqueue_message's own codes, then the classes that mean "bad data". */
		if (state && strcmp(state, "FY404") == 0)
			rc = OUTBOX_ERR_NOT_REGISTERED;
		else if (state && strcmp(state, "FY400") == 0)
			rc = OUTBOX_ERR_BAD_GROUP;
		else if (state && PQstatus(conn) == CONNECTION_OK &&
		         (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
			rc = OUTBOX_ERR_INVALID;
		else if (pg_result_timed_out(res)) {
			char why[400];

			snprintf(why, sizeof(why), "%s", errstr);
			snprintf(errstr, errstr_size,
			         "database did not answer in time, nothing was written: %s", why);
			rc = OUTBOX_ERR_TIMEOUT;
		}
		goto done;
	}
	if ((size_t)PQntuples(res) != n) {
		snprintf(errstr, errstr_size, "enqueue returned %d rows for %zu messages",
		         PQntuples(res), n);
		goto done;
	}
	for (i = 0; i < n; i++) {
		long ord = strtol(PQgetvalue(res, (int)i, 0), NULL, 10);

		if (ord < 1 || (size_t)ord > n) {
			snprintf(errstr, errstr_size, "enqueue returned ordinal %ld", ord);
			goto done;
		}
		out[ord - 1].id = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
		out[ord - 1].duplicate = PQgetvalue(res, (int)i, 2)[0] == 't';
	}
	rc = OUTBOX_OK;
done:
	PQclear(res);
	for (a = 0; a < 6; a++)
		strbuf_free(&arr[a]);
	return rc;
}

int message_store_claim(PGconn *conn, size_t limit, const int *shards, size_t nshards,
                        const int64_t *exclude, size_t nexclude, long idle_timeout_ms,
                        struct outbox_batch *batch, char *errstr, size_t errstr_size)
{
	struct strbuf sql = STRBUF_INIT;
	PGresult *res = NULL;
	size_t i;
	int rc = -1;

	memset(batch, 0, sizeof(*batch));
	/* One message to the server: the transaction and the locking read together. ORDER BY id
	 * walks the partial pending index; SKIP LOCKED passes over the batch still in flight.
	 * The shard filter reads the row the claim fetches anyway (006_relay_shards.sql says why
	 * there is no per-shard index); with every shard owned it is left out. The NOT EXISTS
	 * probes the backoff index, which is empty while Kafka refuses nothing. */
	strbuf_printf(&sql, "BEGIN;");
	/* SET LOCAL: for this transaction only, and in the same round trip. */
	if (idle_timeout_ms > 0)
		strbuf_printf(&sql, "SET LOCAL idle_in_transaction_session_timeout = %ld;",
		              idle_timeout_ms);
	strbuf_printf(&sql, "SELECT m.id, m.topic, m.message_key, m.payload, m.headers::text,"
	                    " m.idempotency_key, m.producer_service_id, m.producer_instance_id,"
	                    " to_char(m.created_at AT TIME ZONE 'UTC',"
	                    " 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
	                    " m.target_group, m.publish_attempts"
	                    " FROM ferry.outbox_message m WHERE m.status = 'PENDING'"
	                    " AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= now())");
	if (shards) {
		strbuf_printf(&sql, " AND m.shard = ANY('{");
		for (i = 0; i < nshards; i++)
			strbuf_printf(&sql, "%s%d", i ? "," : "", shards[i]);
		strbuf_printf(&sql, "}'::smallint[])");
	}
	if (exclude && nexclude > 0) {
		/* Detached rows: PENDING and unlocked, but still on their way (relay.h). */
		strbuf_printf(&sql, " AND m.id <> ALL('{");
		for (i = 0; i < nexclude; i++)
			strbuf_printf(&sql, "%s%" PRId64, i ? "," : "", exclude[i]);
		strbuf_printf(&sql, "}'::bigint[])");
	}
	strbuf_printf(&sql,
	              " AND NOT (m.message_key IS NOT NULL AND EXISTS (SELECT 1"
	              "  FROM ferry.outbox_message b WHERE b.status = 'PENDING'"
	              "  AND b.next_attempt_at IS NOT NULL AND b.topic = m.topic"
	              "  AND b.message_key = m.message_key AND b.id < m.id"
	              "  AND b.next_attempt_at > now()))"
	              " ORDER BY m.id LIMIT %zu FOR UPDATE OF m SKIP LOCKED",
	              limit);
	if (sql.failed) {
		snprintf(errstr, errstr_size, "out of memory building the claim");
		goto fail;
	}
	res = PQexec(conn, strbuf_str(&sql));
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto fail;
	}
	batch->n = (size_t)PQntuples(res);
	if (batch->n == 0) {
		PQclear(res);
		res = NULL;
		if (pg_command(conn, "COMMIT", errstr, errstr_size) != 0)
			goto fail;
		strbuf_free(&sql);
		return 0;
	}
	batch->rows = calloc(batch->n, sizeof(*batch->rows));
	if (batch->rows == NULL) {
		snprintf(errstr, errstr_size, "out of memory claiming %zu rows", batch->n);
		goto fail;
	}
	for (i = 0; i < batch->n; i++) {
		struct outbox_row *r = &batch->rows[i];
		int row = (int)i;

		r->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
		r->topic = PQgetvalue(res, row, 1);
		r->key = PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2);
		r->key_len = r->key ? (size_t)PQgetlength(res, row, 2) : 0;
		r->payload = PQgetvalue(res, row, 3);
		r->payload_len = (size_t)PQgetlength(res, row, 3);
		r->headers_json = PQgetvalue(res, row, 4);
		r->idempotency_key = PQgetisnull(res, row, 5) ? NULL : PQgetvalue(res, row, 5);
		r->producer_service_id = PQgetisnull(res, row, 6) ? NULL : PQgetvalue(res, row, 6);
		r->producer_instance_id = PQgetisnull(res, row, 7) ? NULL : PQgetvalue(res, row, 7);
		r->created_at = PQgetvalue(res, row, 8);
		r->target_group = PQgetisnull(res, row, 9) ? NULL : PQgetvalue(res, row, 9);
		r->publish_attempts = atoi(PQgetvalue(res, row, 10));
	}
	batch->res = res;
	strbuf_free(&sql);
	return 0;
fail:
	strbuf_free(&sql);
	PQclear(res);
	free(batch->rows);
	memset(batch, 0, sizeof(*batch));
	message_store_abandon(conn);
	return rc;
}

void message_store_batch_free(struct outbox_batch *batch)
{
	PQclear(batch->res);
	free(batch->rows);
	memset(batch, 0, sizeof(*batch));
}

int message_store_mark(PGconn *conn, const struct outbox_delivery *d, size_t n, int max_attempts,
                       char *errstr, size_t errstr_size)
{
	struct strbuf ids = STRBUF_INIT, parts = STRBUF_INIT, offs = STRBUF_INIT,
	              errs = STRBUF_INIT;
	struct strbuf sql = STRBUF_INIT;
	char *errs_lit = NULL;
	PGresult *res = NULL;
	size_t i;
	int rc = -1;

	pg_array_begin(&ids);
	pg_array_begin(&parts);
	pg_array_begin(&offs);
	pg_array_begin(&errs);
	for (i = 0; i < n; i++) {
		char num[32];

		if (d[i].held)
			continue; /* never reached Kafka: nothing to record */
		snprintf(num, sizeof(num), "%" PRId64, d[i].id);
		pg_array_add(&ids, num);
		snprintf(num, sizeof(num), "%" PRId32, d[i].partition);
		pg_array_add(&parts, d[i].error ? NULL : num);
		snprintf(num, sizeof(num), "%" PRId64, d[i].offset);
		pg_array_add(&offs, d[i].error ? NULL : num);
		pg_array_add(&errs, d[i].error);
	}
	pg_array_end(&ids);
	pg_array_end(&parts);
	pg_array_end(&offs);
	pg_array_end(&errs);
	if (ids.failed || parts.failed || offs.failed || errs.failed) {
		snprintf(errstr, errstr_size, "out of memory building the mark batch");
		goto fail;
	}
	/* Error texts come from librdkafka and may hold quotes: escape the literal properly. */
	errs_lit = PQescapeLiteral(conn, strbuf_str(&errs), errs.len);
	if (errs_lit == NULL) {
		pg_error_line(conn, NULL, errstr, errstr_size);
		goto fail;
	}
	/* Statement 1: the outcome of each row, and in the same statement the fan-out to the groups
	 * each delivered message is for (ON CONFLICT: an acknowledgment may have overtaken this
	 * mark). Statement 2: messages whose groups are all done already (none needs an
	 * acknowledgment) become ACKNOWLEDGED; it must see statement 1's rows, hence two. */
	strbuf_printf(
	    &sql,
	    "WITH d AS (SELECT * FROM unnest('%s'::bigint[], '%s'::int[], '%s'::bigint[],"
	    "  %s::text[]) AS d(id, p, o, err)),"
	    " marked AS (UPDATE ferry.outbox_message m SET"
	    "  status = CASE WHEN d.err IS NULL THEN 'SENT'"
	    "   WHEN m.publish_attempts + 1 >= %d THEN 'FAILED' ELSE m.status END,"
	    "  sent_at = CASE WHEN d.err IS NULL THEN clock_timestamp() ELSE m.sent_at END,"
	    "  processed_at = CASE WHEN d.err IS NOT NULL AND m.publish_attempts + 1 >= %d"
	    "   THEN clock_timestamp() ELSE m.processed_at END,"
	    "  kafka_partition = coalesce(d.p, m.kafka_partition),"
	    "  kafka_offset = coalesce(d.o, m.kafka_offset),"
	    "  publish_attempts = m.publish_attempts + 1,"
	    "  error_message = d.err,"
	    /* A refused row waits 1 s, 2 s, 4 s ... up to 5 minutes before its next attempt; a
	     * FAILED one waits for nothing (and so leaves the backoff index, freeing its key). */
	    "  next_attempt_at = CASE WHEN d.err IS NULL OR m.publish_attempts + 1 >= %d"
	    "   THEN NULL ELSE clock_timestamp() +"
	    "   least(300, 2 ^ least(m.publish_attempts, 16)) * interval '1 second' END"
	    "  FROM d WHERE m.id = d.id AND m.status = 'PENDING'"
	    "  RETURNING m.id, m.topic, m.target_group, m.created_at, m.sent_at,"
	    "   d.err IS NULL AS ok)"
	    /* due_at: ferry.delivery_due_at of a fresh delivery (migration 005), the moment its
	     * acknowledgment is overdue. A delivery row already there was written by an
	     * acknowledgment that beat this mark (the consumer read the record before we got here):
	     * it keeps its due_at, and the send it answered happened no later than a negative
	     * acknowledgment of it, so sent_at is not put after that, or the retry job would take
	     * the send for a newer one and wait out the whole timeout instead of retrying. */
	    "INSERT INTO ferry.message_delivery AS x"
	    " (message_id, consumer_group_id, consumer_group, status, sent_at,"
	    "  acknowledged_at, due_at)"
	    " SELECT k.id, g.id, g.consumer_group_name,"
	    "  CASE WHEN g.requires_acknowledgment THEN 'SENT' ELSE 'ACKNOWLEDGED' END,"
	    "  k.sent_at, CASE WHEN g.requires_acknowledgment THEN NULL ELSE k.sent_at END,"
	    "  k.sent_at + r.acknowledgment_timeout_seconds * interval '1 second'"
	    " FROM marked k"
	    " CROSS JOIN LATERAL ferry.message_groups(k.topic, k.target_group, k.created_at) g"
	    " JOIN ferry.consumer_group_registration r ON r.id = g.id"
	    " WHERE k.ok"
	    " ON CONFLICT (message_id, consumer_group_id) DO UPDATE"
	    "  SET sent_at = coalesce(x.sent_at, least(EXCLUDED.sent_at, x.negative_ack_at));"
	    "UPDATE ferry.outbox_message m SET status = 'ACKNOWLEDGED',"
	    " processed_at = clock_timestamp()"
	    " WHERE m.id = ANY('%s'::bigint[]) AND m.status = 'SENT'"
	    " AND EXISTS (SELECT 1 FROM ferry.message_delivery x WHERE x.message_id = m.id)"
	    " AND NOT EXISTS (SELECT 1 FROM ferry.message_delivery x"
	    "  WHERE x.message_id = m.id AND x.status <> 'ACKNOWLEDGED');"
	    "COMMIT",
	    strbuf_str(&ids), strbuf_str(&parts), strbuf_str(&offs), errs_lit, max_attempts,
	    max_attempts, max_attempts, strbuf_str(&ids));
	if (sql.failed) {
		snprintf(errstr, errstr_size, "out of memory building the mark statement");
		goto fail;
	}
	res = PQexec(conn, strbuf_str(&sql));
	if (!pg_result_ok(res) || PQtransactionStatus(conn) != PQTRANS_IDLE) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto fail;
	}
	rc = 0;
	goto done;
fail:
	message_store_abandon(conn);
done:
	PQclear(res);
	PQfreemem(errs_lit);
	strbuf_free(&sql);
	strbuf_free(&ids);
	strbuf_free(&parts);
	strbuf_free(&offs);
	strbuf_free(&errs);
	return rc;
}

void message_store_abandon(PGconn *conn)
{
	PGresult *res;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK ||
	    PQtransactionStatus(conn) == PQTRANS_IDLE)
		return;
	res = PQexec(conn, "ROLLBACK");
	PQclear(res);
}

static int message_store_json_rows(PGconn *conn, PGresult *res, json_t *array, char *errstr,
                                   size_t errstr_size)
{
	json_error_t jerr;
	int i;

	for (i = 0; i < PQntuples(res); i++) {
		json_t *obj = json_loads(PQgetvalue(res, i, 0), 0, &jerr);

		if (obj == NULL || json_array_append_new(array, obj) != 0) {
			snprintf(errstr, errstr_size, "cannot decode message row: %s", jerr.text);
			return -1;
		}
	}
	(void)conn;
	return 0;
}

int message_store_get(PGconn *conn, int64_t id, json_t **out, char *errstr, size_t errstr_size)
{
	char idbuf[32];
	const char *params[1] = {idbuf};
	json_t *arr = NULL;
	PGresult *res;
	int rc = -1;

	*out = NULL;
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	res = pg_exec(conn,
	              "SELECT " MESSAGE_STORE_MESSAGE_JSON
	              "::text FROM ferry.outbox_message m WHERE m.id = $1",
	              1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto done;
	}
	if (PQntuples(res) == 0) {
		rc = 0;
		goto done;
	}
	arr = json_array();
	if (message_store_json_rows(conn, res, arr, errstr, errstr_size) != 0)
		goto done;
	*out = json_incref(json_array_get(arr, 0));
	rc = 1;
done:
	json_decref(arr);
	PQclear(res);
	return rc;
}

int message_store_list_pending(PGconn *conn, int64_t after_id, int limit, json_t **out,
                               char *errstr, size_t errstr_size)
{
	char after[32], lim[16];
	const char *params[2] = {after, lim};
	json_t *items = json_array();
	PGresult *res;
	int rc = -1, n;

	*out = NULL;
	snprintf(after, sizeof(after), "%" PRId64, after_id);
	snprintf(lim, sizeof(lim), "%d", limit);
	res =
	    pg_exec(conn,
	            "SELECT " MESSAGE_STORE_MESSAGE_JSON "::text, m.id FROM ferry.outbox_message m"
	            " WHERE m.status = 'PENDING' AND m.id > $1 ORDER BY m.id LIMIT $2",
	            2, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto done;
	}
	if (message_store_json_rows(conn, res, items, errstr, errstr_size) != 0)
		goto done;
	n = PQntuples(res);
	/* A full page may have more behind it; the client continues from the last id. */
	*out = json_pack("{s:O, s:o}", "items", items, "nextAfterId",
	                 n == limit && n > 0
	                     ? json_integer(strtoll(PQgetvalue(res, n - 1, 1), NULL, 10))
	                     : json_null());
	rc = *out ? 0 : -1;
	if (rc != 0)
		snprintf(errstr, errstr_size, "out of memory building the page");
done:
	json_decref(items);
	PQclear(res);
	return rc;
}

int message_store_pending_stats(PGconn *conn, struct outbox_pending_stats *out, char *errstr,
                                size_t errstr_size)
{
	PGresult *res;
	int rc = -1;

	res = pg_exec(conn,
	              "SELECT count(*),"
	              " coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)"
	              " FROM ferry.outbox_message WHERE status = 'PENDING'",
	              0, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto done;
	}
	out->pending = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	out->oldest_age_seconds = strtod(PQgetvalue(res, 0, 1), NULL);
	rc = 0;
done:
	PQclear(res);
	return rc;
}

int message_store_history(PGconn *conn, int64_t message_id, json_t **out, char *errstr,
                          size_t errstr_size)
{
	char id[32];
	const char *params[1] = {id};

	snprintf(id, sizeof(id), "%" PRId64, message_id);
	return pg_json_query(conn,
	                     "SELECT coalesce(json_agg(json_build_object('event', e.event,"
	                     " 'consumerGroup', e.consumer_group, 'actor', e.actor, 'at', e.at,"
	                     " 'detail', e.detail) ORDER BY e.id), '[]')::text"
	                     " FROM ferry.message_event e WHERE e.message_id = $1::bigint",
	                     1, params, out, NULL, errstr, errstr_size);
}

int message_store_groups(PGconn *conn, int64_t id, json_t **out, char *errstr, size_t errstr_size)
{
	char idbuf[32];
	const char *params[1] = {idbuf};

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	/* Groups the relay has not reached yet have no row: they show as PENDING. */
	return pg_json_query(
	    conn,
	    "SELECT coalesce(json_agg(json_build_object("
	    " 'consumerGroupId', g.id, 'consumerGroup', g.consumer_group_name,"
	    " 'requiresAcknowledgment', g.requires_acknowledgment,"
	    " 'status', coalesce(d.status, 'PENDING'), 'sentAt', d.sent_at,"
	    " 'acknowledgedAt', d.acknowledged_at, 'negativeAckAt', d.negative_ack_at,"
	    " 'retryCount', coalesce(d.retry_count, 0), 'errorMessage', d.error_message,"
	    " 'consumerServiceId', d.consumer_service_id,"
	    " 'consumerInstanceId', d.consumer_instance_id) ORDER BY g.id), '[]')::text"
	    " FROM ferry.outbox_message m"
	    " CROSS JOIN LATERAL ferry.message_groups(m.topic, m.target_group, m.created_at) g"
	    " LEFT JOIN ferry.message_delivery d"
	    "  ON d.message_id = m.id AND d.consumer_group_id = g.id"
	    " WHERE m.id = $1",
	    1, params, out, NULL, errstr, errstr_size);
}
