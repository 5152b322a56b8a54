/*
 * http_pg.h - what a request handler does to get a database connection: borrow one from the
 * pool, or answer 503 {"error": "database unavailable: ..."} itself.
 */
#ifndef FERRY_HTTP_PG_H
#define FERRY_HTTP_PG_H

#include "common/http_server.h"
#include "common/pg.h"

/* A pooled connection (give it back with pg_pool_put), or NULL after answering the exchange
 * with 503: the handler then just returns. */
PGconn *http_pg_conn(struct http_exchange *ex, struct pg_pool *pool, int timeout_ms);

#endif
