/*
 * http_pg.c - see http_pg.h.
 */
#include "common/http_pg.h"

#include <string.h>

PGconn *http_pg_conn(struct http_exchange *ex, struct pg_pool *pool, int timeout_ms)
{
	char errstr[512];
	PGconn *conn = pg_pool_get(pool, timeout_ms, errstr, sizeof(errstr));

	if (conn == NULL)
		http_exchange_error(ex, 503, "database unavailable: %s", errstr);
	return conn;
}

void http_pg_error(struct http_exchange *ex, const char *what, const char *errstr)
{
	const char *method = http_exchange_method(ex);
	bool reads = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (!pg_last_timed_out())
		http_exchange_error(ex, 503, "%s: %s", what, errstr);
	else if (reads)
		http_exchange_error(ex, 503, "%s", errstr);
	else
		/* The statement reached the server, which may commit it when it wakes up. */
		http_exchange_error(ex, 503,
		                    "%s; outcome unknown: the server may still apply the change "
		                    "when it runs again",
		                    errstr);
}
