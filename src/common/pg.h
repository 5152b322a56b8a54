/*
 * pg.h - PostgreSQL connections: connect, reconnect with backoff, and a small pool.
 *
 * A PGconn is never used by two threads at once. Long-lived owners (the relay, the batcher)
 * keep their own connection and call pg_ensure() before each unit of work; request threads
 * borrow one from a struct pg_pool for the length of a request. A lost database is an ordinary
 * event: pg_ensure() and pg_pool_get() fail fast with errstr, and the caller backs off.
 */
#ifndef FERRY_PG_H
#define FERRY_PG_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Opens a connection (libpq conninfo, already translated by conninfo_translate) and sets
 * application_name to `app_name` when not NULL. Returns the connection, which the caller owns
 * (PQfinish), or NULL with errstr set to one line from libpq.
 */
PGconn *pg_connect(const char *conninfo, const char *app_name, char *errstr, size_t errstr_size);

/*
 * Connects like pg_connect, retrying with backoff for up to wait_s seconds: at start-up, so that
 * the order in which a database and a service start does not matter (compose, systemd). Logs
 * a warning per failed attempt. Returns the connection (caller owns it), or NULL with errstr
 * holding the last failure; at once when the failure is a TLS mismatch (a certificate the
 * configured CA did not sign, a wrong host name, a missing certificate file), which no wait
 * mends.
 */
PGconn *pg_connect_wait(const char *conninfo, const char *app_name, long wait_s, char *errstr,
                        size_t errstr_size);

/*
 * Makes *conn usable: returns 0 at once if it is open and idle; otherwise closes it and
 * connects anew (one attempt). Returns -1 with errstr when the database cannot be reached;
 * *conn is then NULL. Callers back off between failures (see pg_backoff_ms).
 */
int pg_ensure(PGconn **conn, const char *conninfo, const char *app_name, char *errstr,
              size_t errstr_size) __attribute__((warn_unused_result));

/* Copies PostgreSQL's message for `res` (or the connection's) into errstr as one line, and
 * remembers the SQLSTATE of `res` for pg_last_sqlstate(). */
void pg_error_line(const PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size);

/*
 * The SQLSTATE ("23514") of the last error that pg_error_line reported on the calling thread,
 * or "" when that error came with no server result (the connection failed, out of memory).
 * Lets a caller that only got errstr back from a store function decide whether to retry
 * (consume_error.h). Thread-local; valid until the thread's next pg_error_line.
 */
const char *pg_last_sqlstate(void);

/* Forgets the calling thread's last SQLSTATE and pg_last_timed_out (call before a sequence
 * whose errors you classify). */
void pg_last_sqlstate_clear(void);

/*
 * True when the last error pg_error_line reported on the calling thread was a statement its
 * connection's bound (pg_set_bound) expired on, or when a pg_exec_within on this thread timed
 * out since: the server did not answer in time, the connection was dropped, and whether the
 * statement ran is unknown. Errstr then reads "database did not answer within N ms (connection
 * dropped)", ferry's own words, which an HTTP client may read (http_pg.h). Thread-local, like
 * pg_last_sqlstate; pg_pool_get clears it, pg_error_line sets it anew.
 */
bool pg_last_timed_out(void);

/* True when `res` is COMMAND_OK or TUPLES_OK. NULL is false. */
bool pg_result_ok(const PGresult *res);

/*
 * Gives conn a client-side bound: from then on every statement run through pg_exec (and so
 * pg_command, pg_json_query, pg_int_query, pg_apply_limits, and the stores built on them) that
 * the server has not answered within timeout_ms drops the connection (see pg_exec_within).
 * The bound lives with the connection (libpq instance data, freed by PQfinish), so a pooled
 * connection carries it into every request that borrows it. timeout_ms <= 0 removes it.
 * Returns 0, or -1 when out of memory (no bound then). The thread owning conn.
 */
int pg_set_bound(PGconn *conn, long timeout_ms) __attribute__((warn_unused_result));

/* conn's bound in ms (pg_set_bound), 0 when it has none. */
long pg_bound_ms(const PGconn *conn);

/* True when a statement on conn was not answered within its bound: conn was dropped. */
bool pg_bound_expired(const PGconn *conn);

/*
 * Runs one statement the way every store does: PQexec when params is NULL and nparams 0 (the
 * simple protocol: several statements separated by ';' allowed), else PQexecParams (text
 * parameters, NULL = SQL NULL, text results); bounded by conn's bound when it has one
 * (pg_set_bound), plain libpq otherwise. Returns what libpq would: the result (the caller
 * PQclears it), NULL or an error result on failure (report it with pg_error_line, which then
 * names the bound when it expired). After an expired bound, conn is CONNECTION_BAD and every
 * later pg_exec on it returns NULL at once. The thread owning conn.
 */
PGresult *pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
    __attribute__((warn_unused_result));

/* Runs a parameterless command (BEGIN/COMMIT/ROLLBACK...) through pg_exec. Returns 0, or -1
 * with errstr. */
int pg_command(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Rolls back the transaction `conn` has open, if any (pg_command "ROLLBACK"). Errors are ignored:
 * a broken connection rolls back by itself. NULL or a connection not OK is left alone. */
void pg_rollback_open(PGconn *conn);

/*
 * Runs a query (parameters as text, NULL = SQL NULL) whose single row and column is JSON text
 * built by PostgreSQL, and parses it into *out (a new reference). Returns 0, or -1 with errstr
 * (*out NULL); PQresultErrorField(SQLSTATE) is in *sqlstate when sqlstate is not NULL
 * (6 bytes; "" when the failure was not the server's).
 */
int pg_json_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  json_t **out, char *sqlstate, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Runs a query (parameters as text, NULL = SQL NULL) whose single row and column is an integer
 * (a count, say), into *out. Returns 0, or -1 with errstr (*out 0).
 */
int pg_int_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                 int64_t *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Exponential backoff: returns min(cap_ms, base_ms * 2^attempt) with +-20% jitter. */
long pg_backoff_ms(unsigned attempt, long base_ms, long cap_ms);

/*
 * Server-side bounds for a session, so that no statement made for a request can block its
 * thread without limit: a lock held elsewhere fails the statement after lock_timeout_ms
 * (SQLSTATE 55P03), a statement running longer than statement_timeout_ms is cancelled (57014),
 * and a transaction left open is ended by the server after idle_in_transaction_ms. 0 leaves
 * the server's setting.
 */
struct pg_session_limits {
	long statement_timeout_ms; /* statement_timeout */
	long lock_timeout_ms;      /* lock_timeout */
	long idle_in_tx_ms;        /* idle_in_transaction_session_timeout */
};

/* Applies `limits` to the session (SET ...). Returns 0, or -1 with errstr. */
int pg_apply_limits(PGconn *conn, const struct pg_session_limits *limits, char *errstr,
                    size_t errstr_size) __attribute__((warn_unused_result));

/* True when `res` failed because a pg_session_limits bound was reached (statement or lock
 * timeout). NULL is false. */
bool pg_result_timed_out(const PGresult *res);

/*
 * PQexecParams (text parameters, NULL = SQL NULL, text results) bounded on the client's side:
 * when the server has not answered within timeout_ms (a hung or stopped server, a network
 * black hole: cases where statement_timeout never fires), the connection is dropped (it is
 * CONNECTION_BAD afterwards; its owner closes it or returns it to its pool, which discards
 * it), *timed_out is set and NULL returned. Whether the statement ran is then unknown: the
 * server may still run it when it wakes. Otherwise returns what PQexecParams would (the last
 * result; NULL or an error result on failure, message via pg_error_line). timeout_ms <= 0 is
 * plain PQexecParams. params NULL with nparams 0 sends the statement as PQexec would (simple
 * protocol, several statements allowed). The caller PQclears the result. The thread owning
 * conn.
 */
PGresult *pg_exec_within(PGconn *conn, const char *sql, int nparams, const char *const *params,
                         long timeout_ms, bool *timed_out) __attribute__((warn_unused_result));

struct pg_pool;

/* A pool of at most `size` connections, opened lazily. Returns NULL only on out of memory. */
struct pg_pool *pg_pool_new(const char *conninfo, const char *app_name, int size);

/* Every connection the pool opens from now on gets these limits (copied); connections fail
 * to open when they cannot be applied. Call before the pool is shared between threads. */
void pg_pool_set_limits(struct pg_pool *pool, const struct pg_session_limits *limits);

/* Every connection the pool opens from now on gets a client-side bound of timeout_ms
 * (pg_set_bound), set before the limits' SET statements, so those are bounded too. 0: none.
 * Call before the pool is shared between threads. */
void pg_pool_set_bound(struct pg_pool *pool, long timeout_ms);

/* Closes every connection and frees the pool. All connections must have been returned. */
void pg_pool_destroy(struct pg_pool *pool);

/*
 * Borrows an open, idle connection, waiting up to timeout_ms for one to be free. Returns it
 * (the caller must give it back with pg_pool_put), or NULL with errstr when none is free in
 * time or the database cannot be reached (or did not answer a new connection's SET statements
 * within the pool's bound). Clears the thread's pg_last_timed_out. Any thread.
 */
PGconn *pg_pool_get(struct pg_pool *pool, int timeout_ms, char *errstr, size_t errstr_size);

/* Gives a connection back. A connection left broken or inside a transaction is closed, and
 * the pool opens a fresh one next time; a broken one also closes the idle ones (after a server
 * restart they are dead too), so one failed request per restart, not one per connection.
 * Any thread. */
void pg_pool_put(struct pg_pool *pool, PGconn *conn);

#endif
