/*
 * http_pg.c - see http_pg.h.
 */
#include "common/http_pg.h"

#include <string.h>

#include "common/log.h"

const char *http_pg_client_text(struct http_exchange *ex, const char *generic, const char *errstr)
{
	/* ferry's own words ("database did not answer within N ms"): nothing of the server's. */
	if (pg_last_timed_out())
		return errstr;
	/* libpq's connection errors name the host, port and user, and a server's message may
	 * quote data: for the operator's log, not for an HTTP client. */
	log_warn("http", "%s %s: %s: %s", ex ? http_exchange_method(ex) : "-",
	         ex ? http_exchange_path(ex) : "-", generic, errstr);
	return generic;
}

PGconn *http_pg_conn(struct http_exchange *ex, struct pg_pool *pool, int timeout_ms)
{
	char errstr[512];
	PGconn *conn = pg_pool_get(pool, timeout_ms, errstr, sizeof(errstr));

	if (conn == NULL)
		http_exchange_error(ex, 503, "%s",
		                    http_pg_client_text(ex, "database unavailable", errstr));
	return conn;
}

void http_pg_error(struct http_exchange *ex, const char *what, const char *errstr)
{
	const char *method = http_exchange_method(ex);
	bool reads = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	if (!pg_last_timed_out())
		http_exchange_error(ex, 503, "%s", http_pg_client_text(ex, what, errstr));
	else if (reads)
		http_exchange_error(ex, 503, "%s", errstr);
	else
		/* The statement reached the server, which may commit it when it wakes up. */
		http_exchange_error(ex, 503,
		                    "%s; outcome unknown: the server may still apply the change "
		                    "when it runs again",
		                    errstr);
}
