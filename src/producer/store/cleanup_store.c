/*
 * cleanup_store.c - see cleanup_store.h.
 */
#include "producer/store/cleanup_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/pg.h"

/* Runs a "... SELECT count(*)" statement with (retention seconds, batch) and reads the count. */
static int cleanup_store_count(PGconn *conn, const char *sql, int64_t retention_s, int batch,
                               int64_t *deleted, char *errstr, size_t errstr_size)
{
	char ret[32], lim[16];
	const char *params[2] = {ret, lim};

	snprintf(ret, sizeof(ret), "%" PRId64, retention_s);
	snprintf(lim, sizeof(lim), "%d", batch);
	return pg_int_query(conn, sql, 2, params, deleted, errstr, errstr_size);
}

int cleanup_store_messages(PGconn *conn, int64_t retention_s, int batch, int64_t *deleted,
                           char *errstr, size_t errstr_size)
{
	/* Walks the primary key from the oldest id, which is where old rows are, and stops at the
	 * first id created after the cutoff (the bound only narrows the walk: created_at is still
	 * checked row by row, since a long transaction can give a low id a late timestamp). No
	 * index on created_at: it would cost every enqueue a second index write. */
	return cleanup_store_count(
	    conn,
	    "WITH c AS (SELECT m.id FROM ferry.outbox_message m"
	    "  WHERE m.created_at < now() - $1::bigint * interval '1 second'"
	    "  AND m.status IN ('SENT', 'ACKNOWLEDGED')"
	    "  AND m.id < coalesce((SELECT y.id FROM ferry.outbox_message y"
	    "   WHERE y.created_at >= now() - $1::bigint * interval '1 second'"
	    "   ORDER BY y.id LIMIT 1), 9223372036854775807)"
	    "  AND NOT EXISTS (SELECT 1 FROM ferry.message_delivery d"
	    "   WHERE d.message_id = m.id AND d.status <> 'ACKNOWLEDGED')"
	    "  ORDER BY m.id LIMIT $2::integer FOR UPDATE SKIP LOCKED),"
	    " gone AS (DELETE FROM ferry.outbox_message m USING c WHERE m.id = c.id RETURNING 1)"
	    " SELECT count(*) FROM gone",
	    retention_s, batch, deleted, errstr, errstr_size);
}

int cleanup_store_health_checks(PGconn *conn, int64_t retention_s, int batch, int64_t *deleted,
                                char *errstr, size_t errstr_size)
{
	return cleanup_store_count(
	    conn,
	    "WITH c AS (SELECT h.id FROM ferry.service_health_check h"
	    "  WHERE h.checked_at < now() - $1::bigint * interval '1 second'"
	    "  ORDER BY h.id LIMIT $2::integer FOR UPDATE SKIP LOCKED),"
	    " gone AS (DELETE FROM ferry.service_health_check h USING c WHERE h.id = c.id"
	    "  RETURNING 1)"
	    " SELECT count(*) FROM gone",
	    retention_s, batch, deleted, errstr, errstr_size);
}
