/*
 * metrics_store.c - see metrics_store.h.
 */
#include "producer/store/metrics_store.h"

#include <stdlib.h>

#include "common/pg.h"

int metrics_store_backlog(PGconn *conn, double *pending, double *oldest_age_s, char *errstr,
                          size_t errstr_size)
{
	PGresult *res =
	    pg_exec(conn,
	            "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)),"
	            " 0) FROM ferry.outbox_message WHERE status = 'PENDING'",
	            0, NULL);
	int rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		*pending = strtod(PQgetvalue(res, 0, 0), NULL);
		*oldest_age_s = strtod(PQgetvalue(res, 0, 1), NULL);
		rc = 0;
	} else {
		pg_error_line(conn, res, errstr, errstr_size);
	}
	PQclear(res);
	return rc;
}

/*
 * The due count reads only the retry job's own index (message_delivery_due): joining the messages
 * to leave out the rare delivery whose message is not marked SENT yet (an acknowledgment that beat
 * the relay) made PostgreSQL scan the whole outbox once many deliveries were due.
 */
int metrics_store_deliveries(PGconn *conn, metrics_store_group_fn fn, void *arg, double *retry_due,
                             char *errstr, size_t errstr_size)
{
	PGresult *res = pg_exec(
	    conn,
	    "SELECT t.topic_name, g.consumer_group_name, count(d.message_id),"
	    " coalesce(extract(epoch FROM now() - min(d.sent_at)), 0), NULL"
	    " FROM ferry.consumer_group_registration g"
	    " JOIN ferry.topic_registration t ON t.id = g.topic_registration_id"
	    " LEFT JOIN ferry.message_delivery d ON d.consumer_group_id = g.id AND d.status = 'SENT'"
	    " GROUP BY 1, 2"
	    " UNION ALL SELECT NULL, NULL, NULL, NULL, count(*) FROM ferry.message_delivery d"
	    " WHERE d.status = 'SENT' AND d.due_at <= now()",
	    0, NULL);
	int i, n, rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			if (!PQgetisnull(res, i, 4)) {
				*retry_due = strtod(PQgetvalue(res, i, 4), NULL);
				continue;
			}
			fn(arg, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
			   strtod(PQgetvalue(res, i, 2), NULL),
			   strtod(PQgetvalue(res, i, 3), NULL));
		}
		rc = 0;
	} else {
		pg_error_line(conn, res, errstr, errstr_size);
	}
	PQclear(res);
	return rc;
}
