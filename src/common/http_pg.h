/*
 * http_pg.h - what a request handler does to get a database connection: borrow one from the
 * pool, or answer 503 {"error": "database unavailable"} itself; and how it answers when a
 * database call failed.
 *
 * What a client reads of a database failure is ferry's own text only: libpq's connection errors
 * name the host, port and user (docs/security.md, Secrets), so the detail goes to the log (warn,
 * with the method and path) and the answer says "database unavailable" or the handler's `what`.
 * The one exception is the connection's bound expiring (pg_last_timed_out), whose text is
 * ferry's ("database did not answer within N ms (connection dropped)") and which clients act on.
 */
#ifndef FERRY_HTTP_PG_H
#define FERRY_HTTP_PG_H

#include "common/http_server.h"
#include "common/pg.h"

/* A pooled connection (give it back with pg_pool_put), or NULL after answering the exchange
 * with 503: the handler then just returns. The connection carries the pool's client-side
 * bound (pg_pool_set_bound): every statement made on it is answered in time or fails. */
PGconn *http_pg_conn(struct http_exchange *ex, struct pg_pool *pool, int timeout_ms);

/*
 * What a client may read of the database failure errstr on this thread: errstr itself when it
 * is the bound's expiry (pg_last_timed_out), else `generic`, after logging errstr at warn
 * level with ex's method and path (ex may be NULL). Returns errstr or generic (not a copy).
 * For answers that carry a database error inside a larger body (health checks).
 */
const char *http_pg_client_text(struct http_exchange *ex, const char *generic, const char *errstr);

/*
 * Answers a request whose database call failed with errstr (from a store function): 503
 * "<what>", errstr logged (http_pg_client_text). When that failure was the connection's bound
 * expiring on this thread (pg_last_timed_out), 503 "<errstr>" instead ("database did not answer
 * within N ms (connection dropped)"), followed for a request that changes something (any method but
 * GET and HEAD) by "; outcome unknown", since the server may still apply it. Call on the thread
 * that made the call, before it borrows another connection; conn may have been given back.
 */
void http_pg_error(struct http_exchange *ex, const char *what, const char *errstr);

#endif
