/*
 * http_pg.c - see http_pg.h.
 */
#include "common/http_pg.h"

PGconn *http_pg_conn(struct http_exchange *ex, struct pg_pool *pool, int timeout_ms)
{
	char errstr[512];
	PGconn *conn = pg_pool_get(pool, timeout_ms, errstr, sizeof(errstr));

	if (conn == NULL)
		http_exchange_error(ex, 503, "database unavailable: %s", errstr);
	return conn;
}
