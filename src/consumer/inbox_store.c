/*
 * inbox_store.c - see inbox_store.h. Every statement is parameterised; batches of ids travel
 * as one PostgreSQL array literal (strbuf.h), so a batch is one round trip.
 */
#include "consumer/inbox_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/strbuf.h"
#include "consumer/consume_record.h"

static int inbox_store_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                            PGresult **out, char *errstr, size_t errstr_size)
{
	PGresult *res = pg_exec(conn, sql, nparams, params);

	if (!pg_result_ok(res)) {
		pg_error_line(conn, res, errstr, errstr_size);
		PQclear(res);
		return -1;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int inbox_store_record_processed(PGconn *conn, const struct ferry_consumed_message *msg,
                                 const struct inbox_origin *origin, bool *duplicate, char *errstr,
                                 size_t errstr_size)
{
	char id[24], part[16], off[24];
	char *content = NULL;
	const char *params[12];
	PGresult *res = NULL;
	int rc = -1;

	snprintf(id, sizeof(id), "%" PRId64, msg->message_id);
	snprintf(part, sizeof(part), "%" PRId32, msg->partition);
	snprintf(off, sizeof(off), "%" PRId64, msg->offset);
	if (msg->payload && consume_record_is_text(msg->payload, msg->payload_len)) {
		content = strndup(msg->payload, msg->payload_len);
		if (content == NULL) {
			snprintf(errstr, errstr_size, "out of memory");
			goto done;
		}
	}
	params[0] = id;
	params[1] = msg->consumer_group;
	params[2] = msg->topic;
	params[3] = part;
	params[4] = off;
	params[5] = content;
	params[6] = msg->idempotency_key;
	params[7] = origin->producer_service_id;
	params[8] = origin->producer_instance_id;
	params[9] = origin->consumer_service_id;
	params[10] = origin->consumer_instance_id;
	params[11] = origin->traceparent;
	if (inbox_store_exec(conn,
	                     "INSERT INTO ferry_consumer.processed_message (message_id,"
	                     " consumer_group, topic, partition, kafka_offset, content,"
	                     " idempotency_key, producer_service_id, producer_instance_id,"
	                     " consumer_service_id, consumer_instance_id, traceparent)"
	                     " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
	                     " ON CONFLICT DO NOTHING",
	                     12, params, &res, errstr, errstr_size) != 0)
		goto done;
	*duplicate = strcmp(PQcmdTuples(res), "0") == 0;
	rc = 0;
done:
	PQclear(res);
	free(content);
	return rc;
}

int inbox_store_record_failure(PGconn *conn, const struct ferry_consumed_message *msg,
                               const struct inbox_origin *origin, const char *error_message,
                               char *errstr, size_t errstr_size)
{
	char id[24];
	const char *params[8];

	snprintf(id, sizeof(id), "%" PRId64, msg->message_id);
	params[0] = id;
	params[1] = msg->consumer_group;
	params[2] = msg->topic;
	params[3] = error_message;
	params[4] = origin->producer_service_id;
	params[5] = origin->producer_instance_id;
	params[6] = origin->consumer_service_id;
	params[7] = origin->consumer_instance_id;
	return inbox_store_exec(
	    conn,
	    "INSERT INTO ferry_consumer.failed_message (message_id, consumer_group, topic,"
	    " error_message, producer_service_id, producer_instance_id, consumer_service_id,"
	    " consumer_instance_id, attempt)"
	    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, 1 + count(*)"
	    " FROM ferry_consumer.failed_message WHERE message_id = $1 AND consumer_group = $2",
	    8, params, NULL, errstr, errstr_size);
}

int inbox_store_add_ack(PGconn *conn, int64_t message_id, const char *consumer_group, bool success,
                        const char *error_message, char *errstr, size_t errstr_size)
{
	char id[24];
	const char *params[4];

	snprintf(id, sizeof(id), "%" PRId64, message_id);
	params[0] = id;
	params[1] = consumer_group;
	params[2] = success ? "true" : "false";
	params[3] = error_message;
	return inbox_store_exec(conn,
	                        "INSERT INTO ferry_consumer.pending_ack (message_id,"
	                        " consumer_group, success, error_message) VALUES ($1, $2, $3, $4)",
	                        4, params, NULL, errstr, errstr_size);
}

int inbox_store_fetch_acks(PGconn *conn, size_t limit, struct inbox_ack **acks, size_t *n,
                           char *errstr, size_t errstr_size)
{
	char lim[24];
	const char *params[1] = {lim};
	PGresult *res = NULL;
	struct inbox_ack *v = NULL;
	int rows, i, rc = -1;

	*acks = NULL;
	*n = 0;
	snprintf(lim, sizeof(lim), "%zu", limit);
	if (inbox_store_exec(conn,
	                     "SELECT id, message_id, consumer_group, success, error_message"
	                     " FROM ferry_consumer.pending_ack WHERE refused_at IS NULL"
	                     " ORDER BY id LIMIT $1",
	                     1, params, &res, errstr, errstr_size) != 0)
		goto done;
	rows = PQntuples(res);
	if (rows == 0) {
		rc = 0;
		goto done;
	}
	v = calloc((size_t)rows, sizeof(*v));
	if (v == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		goto done;
	}
	for (i = 0; i < rows; i++) {
		v[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		v[i].message_id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		v[i].consumer_group = strdup(PQgetvalue(res, i, 2));
		v[i].success = PQgetvalue(res, i, 3)[0] == 't';
		if (!PQgetisnull(res, i, 4))
			v[i].error_message = strdup(PQgetvalue(res, i, 4));
		if (v[i].consumer_group == NULL ||
		    (!PQgetisnull(res, i, 4) && v[i].error_message == NULL)) {
			inbox_acks_free(v, (size_t)i + 1);
			v = NULL;
			snprintf(errstr, errstr_size, "out of memory");
			goto done;
		}
	}
	*acks = v;
	*n = (size_t)rows;
	rc = 0;
done:
	PQclear(res);
	return rc;
}

/* The ids of `acks` as one array literal. Returns 0, or -1 when out of memory. */
static int inbox_store_id_array(const struct inbox_ack *acks, size_t n, struct strbuf *sb)
{
	char id[24];
	size_t i;

	pg_array_begin(sb);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "%" PRId64, acks[i].id);
		pg_array_add(sb, id);
	}
	pg_array_end(sb);
	return sb->failed ? -1 : 0;
}

/*
 * Runs `sql` with $1 the ids of `acks` as a bigint[] and, when arg is not NULL, $2 = arg (a
 * NULL arg is for a statement with $1 alone). Returns 0, or -1 with errstr.
 */
static int inbox_store_exec_ids(PGconn *conn, const char *sql, const struct inbox_ack *acks,
                                size_t n, const char *arg, char *errstr, size_t errstr_size)
{
	struct strbuf ids = STRBUF_INIT;
	const char *params[2];
	int rc = -1;

	if (inbox_store_id_array(acks, n, &ids) != 0) {
		snprintf(errstr, errstr_size, "out of memory");
		goto done;
	}
	params[0] = strbuf_str(&ids);
	params[1] = arg;
	rc = inbox_store_exec(conn, sql, arg ? 2 : 1, params, NULL, errstr, errstr_size);
done:
	strbuf_free(&ids);
	return rc;
}

int inbox_store_delete_acks(PGconn *conn, const struct inbox_ack *acks, size_t n, char *errstr,
                            size_t errstr_size)
{
	return inbox_store_exec_ids(
	    conn, "DELETE FROM ferry_consumer.pending_ack WHERE id = ANY ($1::bigint[])", acks, n,
	    NULL, errstr, errstr_size);
}

int inbox_store_note_ack_failure(PGconn *conn, const struct inbox_ack *acks, size_t n,
                                 const char *error, char *errstr, size_t errstr_size)
{
	return inbox_store_exec_ids(conn,
	                            "UPDATE ferry_consumer.pending_ack SET attempts = attempts + 1,"
	                            " last_error = $2 WHERE id = ANY ($1::bigint[])",
	                            acks, n, error, errstr, errstr_size);
}

int inbox_store_refuse_ack(PGconn *conn, const struct inbox_ack *ack, const char *reason,
                           char *errstr, size_t errstr_size)
{
	char id[24];
	const char *params[2] = {id, reason};

	snprintf(id, sizeof(id), "%" PRId64, ack->id);
	return inbox_store_exec(conn,
	                        "UPDATE ferry_consumer.pending_ack SET refused_at = now(),"
	                        " attempts = attempts + 1, last_error = $2 WHERE id = $1",
	                        2, params, NULL, errstr, errstr_size);
}

int inbox_store_refused_acks(PGconn *conn, int64_t *count, char *errstr, size_t errstr_size)
{
	return pg_int_query(conn,
	                    "SELECT count(*) FROM ferry_consumer.pending_ack"
	                    " WHERE refused_at IS NOT NULL",
	                    0, NULL, count, errstr, errstr_size);
}

void inbox_acks_free(struct inbox_ack *acks, size_t n)
{
	size_t i;

	for (i = 0; acks && i < n; i++) {
		free(acks[i].consumer_group);
		free(acks[i].error_message);
	}
	free(acks);
}

int inbox_store_ack_backlog(PGconn *conn, int64_t *count, double *oldest_age_s, char *errstr,
                            size_t errstr_size)
{
	PGresult *res = NULL;

	if (inbox_store_exec(
	        conn,
	        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)),"
	        " 0) FROM ferry_consumer.pending_ack WHERE refused_at IS NULL",
	        0, NULL, &res, errstr, errstr_size) != 0)
		return -1;
	*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*oldest_age_s = strtod(PQgetvalue(res, 0, 1), NULL);
	PQclear(res);
	return 0;
}

static int inbox_store_page(PGconn *conn, const char *sql, const char *group, int64_t after_id,
                            int limit, char **json, char *errstr, size_t errstr_size)
{
	char after[24], lim[16];
	const char *params[3] = {group, after, lim};
	PGresult *res = NULL;

	*json = NULL;
	snprintf(after, sizeof(after), "%" PRId64, after_id);
	snprintf(lim, sizeof(lim), "%d", limit);
	if (inbox_store_exec(conn, sql, 3, params, &res, errstr, errstr_size) != 0)
		return -1;
	*json = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (*json == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	return 0;
}

int inbox_store_list_processed(PGconn *conn, const char *group, int64_t after_id, int limit,
                               char **json, char *errstr, size_t errstr_size)
{
	return inbox_store_page(
	    conn,
	    "SELECT coalesce(json_agg(json_build_object('messageId', message_id,"
	    " 'consumerGroup', consumer_group, 'topic', topic, 'partition', partition,"
	    " 'offset', kafka_offset, 'processedAt', processed_at, 'content', content,"
	    " 'idempotencyKey', idempotency_key, 'producerServiceId', producer_service_id,"
	    " 'producerInstanceId', producer_instance_id, 'consumerServiceId', consumer_service_id,"
	    " 'consumerInstanceId', consumer_instance_id, 'traceparent', traceparent)"
	    " ORDER BY message_id), '[]')::text"
	    " FROM (SELECT * FROM ferry_consumer.processed_message WHERE consumer_group = $1"
	    " AND message_id > $2 ORDER BY message_id LIMIT $3) p",
	    group, after_id, limit, json, errstr, errstr_size);
}

int inbox_store_list_failed(PGconn *conn, const char *group, int64_t after_id, int limit,
                            char **json, char *errstr, size_t errstr_size)
{
	return inbox_store_page(
	    conn,
	    "SELECT coalesce(json_agg(json_build_object('id', id, 'messageId', message_id,"
	    " 'consumerGroup', consumer_group, 'topic', topic, 'errorMessage', error_message,"
	    " 'failedAt', failed_at, 'attempt', attempt, 'producerServiceId', producer_service_id,"
	    " 'producerInstanceId', producer_instance_id, 'consumerServiceId', consumer_service_id,"
	    " 'consumerInstanceId', consumer_instance_id) ORDER BY id), '[]')::text"
	    " FROM (SELECT * FROM ferry_consumer.failed_message WHERE consumer_group = $1"
	    " AND id > $2 ORDER BY id LIMIT $3) f",
	    group, after_id, limit, json, errstr, errstr_size);
}

int inbox_store_delete_old(PGconn *conn, int64_t retention_s, int batch, int64_t *deleted,
                           char *errstr, size_t errstr_size)
{
	static const char *const sql[2] = {
	    "WITH c AS (SELECT p.message_id, p.consumer_group FROM ferry_consumer.processed_message p"
	    "  WHERE p.processed_at < now() - $1::bigint * interval '1 second'"
	    "  ORDER BY p.processed_at LIMIT $2::integer),"
	    " gone AS (DELETE FROM ferry_consumer.processed_message p USING c"
	    "  WHERE p.message_id = c.message_id AND p.consumer_group = c.consumer_group RETURNING 1)"
	    " SELECT count(*) FROM gone",
	    "WITH c AS (SELECT f.id FROM ferry_consumer.failed_message f"
	    "  WHERE f.failed_at < now() - $1::bigint * interval '1 second'"
	    "  ORDER BY f.failed_at LIMIT $2::integer),"
	    " gone AS (DELETE FROM ferry_consumer.failed_message f USING c WHERE f.id = c.id"
	    "  RETURNING 1)"
	    " SELECT count(*) FROM gone",
	};
	char ret[32], lim[16];
	const char *params[2] = {ret, lim};
	int i;

	*deleted = 0;
	snprintf(ret, sizeof(ret), "%" PRId64, retention_s);
	snprintf(lim, sizeof(lim), "%d", batch);
	for (i = 0; i < 2; i++) {
		int64_t n;

		if (pg_int_query(conn, sql[i], 2, params, &n, errstr, errstr_size) != 0)
			return -1;
		*deleted += n;
	}
	return 0;
}
