/*
 * ack_store.c - see ack_store.h.
 */
#include "producer/store/ack_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pg.h"
#include "common/strbuf.h"
#include "producer/store/message_store.h"

int ack_store_acknowledge(PGconn *conn, const struct delivery_ack *acks, size_t n,
                          struct delivery_ack_outcome *out, char *errstr, size_t errstr_size)
{
	struct strbuf arr[6] = {STRBUF_INIT, STRBUF_INIT, STRBUF_INIT,
	                        STRBUF_INIT, STRBUF_INIT, STRBUF_INIT};
	const char *params[6];
	PGresult *res = NULL;
	size_t i;
	int rc = -1, a;

	for (a = 0; a < 6; a++)
		pg_array_begin(&arr[a]);
	for (i = 0; i < n; i++) {
		char id[32];

		snprintf(id, sizeof(id), "%" PRId64, acks[i].message_id);
		pg_array_add(&arr[0], id);
		pg_array_add(&arr[1], acks[i].consumer_group);
		pg_array_add(&arr[2], acks[i].success ? "t" : "f");
		pg_array_add(&arr[3], acks[i].error_message);
		pg_array_add(&arr[4], acks[i].consumer_service_id);
		pg_array_add(&arr[5], acks[i].consumer_instance_id);
	}
	for (a = 0; a < 6; a++) {
		pg_array_end(&arr[a]);
		if (arr[a].failed) {
			snprintf(errstr, errstr_size, "out of memory building the acknowledgments");
			goto done;
		}
		params[a] = strbuf_str(&arr[a]);
	}
	res = pg_exec(conn,
	              /* The joins see the rows as they were before the acknowledgments (one
	               * snapshot): the topic, and when the group was last sent the message,
	               * for the publish-to-acknowledgment latency. An acknowledgment that
	               * beat the relay's record of the send (the consumer read the record
	               * before the relay marked it) took no measurable time: 0, so that
	               * every recorded success is observed. */
	              "SELECT a.ord, a.result, coalesce(a.group_status, ''),"
	              " coalesce(m.topic, ''), coalesce(extract(epoch FROM clock_timestamp()"
	              " - coalesce(d.last_retry_at, d.sent_at)),"
	              " CASE WHEN m.id IS NULL THEN -1 ELSE 0 END)"
	              " FROM ferry.acknowledge($1::bigint[], $2::text[], $3::boolean[],"
	              " $4::text[], $5::text[], $6::text[]) a"
	              " LEFT JOIN ferry.outbox_message m ON m.id = ($1::bigint[])[a.ord]"
	              " LEFT JOIN ferry.message_delivery d ON d.message_id = m.id"
	              "  AND d.consumer_group = ($2::text[])[a.ord]",
	              6, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		pg_error_line(conn, res, errstr, errstr_size);
		goto done;
	}
	if ((size_t)PQntuples(res) != n) {
		snprintf(errstr, errstr_size, "acknowledge returned %d rows for %zu",
		         PQntuples(res), n);
		goto done;
	}
	for (i = 0; i < n; i++) {
		long ord = strtol(PQgetvalue(res, (int)i, 0), NULL, 10);
		const char *r = PQgetvalue(res, (int)i, 1);
		struct delivery_ack_outcome *o;

		if (ord < 1 || (size_t)ord > n) {
			snprintf(errstr, errstr_size, "acknowledge returned ordinal %ld", ord);
			goto done;
		}
		o = &out[ord - 1];
		o->result = strcmp(r, "recorded") == 0          ? DELIVERY_ACK_RECORDED
		            : strcmp(r, "duplicate") == 0       ? DELIVERY_ACK_DUPLICATE
		            : strcmp(r, "unknown_message") == 0 ? DELIVERY_ACK_UNKNOWN_MESSAGE
		                                                : DELIVERY_ACK_NOT_FOR_GROUP;
		snprintf(o->group_status, sizeof(o->group_status), "%s",
		         PQgetvalue(res, (int)i, 2));
		snprintf(o->topic, sizeof(o->topic), "%s", PQgetvalue(res, (int)i, 3));
		o->since_sent_s = strtod(PQgetvalue(res, (int)i, 4), NULL);
	}
	rc = 0;
done:
	PQclear(res);
	for (a = 0; a < 6; a++)
		strbuf_free(&arr[a]);
	return rc;
}

int ack_store_list_group(PGconn *conn, const char *group, const char *status, int64_t after_id,
                         int limit, json_t **out, char *errstr, size_t errstr_size)
{
	char after[32], lim[16];
	const char *params[4] = {group, status, after, lim};

	snprintf(after, sizeof(after), "%" PRId64, after_id);
	snprintf(lim, sizeof(lim), "%d", limit);
	/* Rows the relay made, plus PENDING messages it has not reached that are for the group.
	 * Both halves walk an index in id order, so a page costs what it returns. */
	return pg_json_query(
	    conn,
	    "WITH page AS ("
	    " (SELECT m.id, " MESSAGE_STORE_MESSAGE_JSON "::jsonb ||"
	    "  jsonb_build_object('groupStatus', d.status, 'groupSentAt', d.sent_at,"
	    "   'acknowledgedAt', d.acknowledged_at, 'negativeAckAt', d.negative_ack_at,"
	    "   'groupRetryCount', d.retry_count, 'groupErrorMessage', d.error_message,"
	    "   'consumerServiceId', d.consumer_service_id,"
	    "   'consumerInstanceId', d.consumer_instance_id) AS item"
	    "  FROM ferry.message_delivery d JOIN ferry.outbox_message m ON m.id = d.message_id"
	    "  WHERE d.consumer_group = $1 AND d.message_id > $3::bigint"
	    "   AND ($2::text IS NULL OR d.status = $2)"
	    "  ORDER BY d.message_id LIMIT $4::int)"
	    " UNION ALL"
	    " (SELECT m.id, " MESSAGE_STORE_MESSAGE_JSON "::jsonb ||"
	    "  jsonb_build_object('groupStatus', 'PENDING') AS item"
	    "  FROM ferry.outbox_message m"
	    "  WHERE m.status = 'PENDING' AND m.id > $3::bigint"
	    "   AND ($2::text IS NULL OR $2 = 'PENDING')"
	    "   AND EXISTS (SELECT 1 FROM ferry.message_groups(m.topic, m.target_group,"
	    "    m.created_at) g WHERE g.consumer_group_name = $1)"
	    "   AND NOT EXISTS (SELECT 1 FROM ferry.message_delivery d"
	    "    WHERE d.message_id = m.id AND d.consumer_group = $1)"
	    "  ORDER BY m.id LIMIT $4::int)"
	    " ORDER BY id LIMIT $4::int)"
	    "SELECT json_build_object('consumerGroup', $1::text,"
	    " 'items', coalesce((SELECT json_agg(item ORDER BY id) FROM page), '[]'),"
	    " 'nextAfterId', CASE WHEN (SELECT count(*) FROM page) = $4::int"
	    "  THEN (SELECT max(id) FROM page) END)::text",
	    4, params, out, NULL, errstr, errstr_size);
}

int ack_store_stats(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
{
	/* Per group: the relay's rows by status, plus PENDING messages not yet fanned out. */
	return pg_json_query(
	    conn,
	    "WITH per_group AS ("
	    " SELECT d.consumer_group, m.topic, d.status, count(*) AS n,"
	    "  max(extract(epoch FROM clock_timestamp() - d.sent_at))"
	    "   FILTER (WHERE d.status = 'SENT') AS oldest_unacked"
	    " FROM ferry.message_delivery d JOIN ferry.outbox_message m ON m.id = d.message_id"
	    " GROUP BY 1, 2, 3"
	    " UNION ALL"
	    " SELECT g.consumer_group_name, m.topic, 'PENDING', count(*), NULL"
	    " FROM ferry.outbox_message m"
	    " CROSS JOIN LATERAL ferry.message_groups(m.topic, m.target_group, m.created_at) g"
	    " WHERE m.status = 'PENDING'"
	    "  AND NOT EXISTS (SELECT 1 FROM ferry.message_delivery d"
	    "   WHERE d.message_id = m.id AND d.consumer_group_id = g.id)"
	    " GROUP BY 1, 2),"
	    " groups AS ("
	    " SELECT consumer_group, topic,"
	    "  coalesce(sum(n) FILTER (WHERE status = 'PENDING'), 0) AS pending,"
	    "  coalesce(sum(n) FILTER (WHERE status = 'SENT'), 0) AS sent,"
	    "  coalesce(sum(n) FILTER (WHERE status = 'ACKNOWLEDGED'), 0) AS acknowledged,"
	    "  coalesce(sum(n) FILTER (WHERE status = 'FAILED'), 0) AS failed,"
	    "  coalesce(sum(n) FILTER (WHERE status = 'EXPIRED'), 0) AS expired,"
	    "  coalesce(max(oldest_unacked), 0) AS oldest"
	    " FROM per_group GROUP BY 1, 2)"
	    "SELECT json_build_object("
	    " 'outbox', (SELECT json_build_object("
	    "   'PENDING', count(*) FILTER (WHERE status = 'PENDING'),"
	    "   'SENT', count(*) FILTER (WHERE status = 'SENT'),"
	    "   'ACKNOWLEDGED', count(*) FILTER (WHERE status = 'ACKNOWLEDGED'),"
	    "   'FAILED', count(*) FILTER (WHERE status = 'FAILED'),"
	    "   'EXPIRED', count(*) FILTER (WHERE status = 'EXPIRED'),"
	    "   'total', count(*)) FROM ferry.outbox_message),"
	    " 'groups', coalesce((SELECT json_agg(json_build_object("
	    "   'consumerGroup', consumer_group, 'topic', topic, 'PENDING', pending,"
	    "   'SENT', sent, 'ACKNOWLEDGED', acknowledged, 'FAILED', failed,"
	    "   'EXPIRED', expired, 'oldestUnacknowledgedAgeSeconds', oldest)"
	    "   ORDER BY consumer_group, topic) FROM groups), '[]'))::text",
	    0, NULL, out, NULL, errstr, errstr_size);
}
