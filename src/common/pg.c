/*
 * pg.c - see pg.h.
 *
 * The pool is a fixed array guarded by one mutex: requests hold a connection for a few
 * milliseconds, so contention on the lock is negligible next to the round trip itself.
 */
#include "common/clock.h"
#include "common/pg.h"

#include <errno.h>
#include <libpq-events.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static void pg_copy_line(const char *msg, char *errstr, size_t errstr_size)
{
	size_t len;

	if (errstr_size == 0)
		return;
	snprintf(errstr, errstr_size, "%s", msg && *msg ? msg : "unknown PostgreSQL error");
	/* libpq messages may span lines ("DETAIL:", trailing newline); keep the first. */
	len = strcspn(errstr, "\n");
	errstr[len] = '\0';
}

static _Thread_local char pg_sqlstate[6];
static _Thread_local bool pg_timed_out; /* see pg_last_timed_out */

const char *pg_last_sqlstate(void)
{
	return pg_sqlstate;
}

void pg_last_sqlstate_clear(void)
{
	pg_sqlstate[0] = '\0';
	pg_timed_out = false;
}

bool pg_last_timed_out(void)
{
	return pg_timed_out;
}

/* What pg_set_bound attaches to a connection, as libpq instance data of pg_bound_event. */
struct pg_bound {
	long timeout_ms; /* each statement's client-side bound; <= 0: none */
	bool expired;    /* a statement was not answered in time: the connection was dropped */
};

/* libpq calls this on the connection's events; the bound is freed with the connection. */
static int pg_bound_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_CONNDESTROY) {
		PGEventConnDestroy *e = info;

		free(PQinstanceData(e->conn, pg_bound_event));
	}
	return 1; /* never refuses an event: a refused PGEVT_REGISTER would cancel it */
}

int pg_set_bound(PGconn *conn, long timeout_ms)
{
	struct pg_bound *b = PQinstanceData(conn, pg_bound_event);

	if (b == NULL) {
		if (timeout_ms <= 0)
			return 0;
		b = calloc(1, sizeof(*b));
		if (b == NULL)
			return -1;
		if (!PQregisterEventProc(conn, pg_bound_event, "ferry bound", NULL) ||
		    !PQsetInstanceData(conn, pg_bound_event, b)) {
			free(b);
			return -1;
		}
	}
	b->timeout_ms = timeout_ms;
	return 0;
}

long pg_bound_ms(const PGconn *conn)
{
	const struct pg_bound *b = conn ? PQinstanceData(conn, pg_bound_event) : NULL;

	return b && b->timeout_ms > 0 ? b->timeout_ms : 0;
}

bool pg_bound_expired(const PGconn *conn)
{
	const struct pg_bound *b = conn ? PQinstanceData(conn, pg_bound_event) : NULL;

	return b != NULL && b->expired;
}

void pg_error_line(const PGconn *conn, const PGresult *res, char *errstr, size_t errstr_size)
{
	const char *msg = NULL, *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	snprintf(pg_sqlstate, sizeof(pg_sqlstate), "%s", state ? state : "");
	/* Once a bound expired on conn, every later failure on it is that one (the connection
	 * was dropped): the caller answers "did not answer", not "no connection". */
	pg_timed_out = pg_bound_expired(conn);
	if (pg_timed_out) {
		if (errstr_size > 0)
			snprintf(errstr, errstr_size,
			         "database did not answer within %ld ms (connection dropped)",
			         pg_bound_ms(conn));
		return;
	}

	/* The primary message alone ("topic 'x' is not registered"), without libpq's "ERROR:  "
	 * prefix and DETAIL lines, is what a client of the API should read. */
	if (res)
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if ((msg == NULL || *msg == '\0') && res)
		msg = PQresultErrorMessage(res);
	if ((msg == NULL || *msg == '\0') && conn)
		msg = PQerrorMessage(conn);
	pg_copy_line(msg, errstr, errstr_size);
}

bool pg_result_ok(const PGresult *res)
{
	ExecStatusType st;

	if (res == NULL)
		return false;
	st = PQresultStatus(res);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

PGresult *pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	struct pg_bound *b = PQinstanceData(conn, pg_bound_event);
	bool timed_out = false;
	PGresult *res;

	if (b == NULL || b->timeout_ms <= 0)
		return params == NULL && nparams == 0
		           ? PQexec(conn, sql)
		           : PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (b->expired)
		return NULL; /* dropped: libpq would fail too, without saying why */
	res = pg_exec_within(conn, sql, nparams, params, b->timeout_ms, &timed_out);
	if (timed_out)
		b->expired = true;
	return res;
}

int pg_command(PGconn *conn, const char *sql, char *errstr, size_t errstr_size)
{
	PGresult *res = pg_exec(conn, sql, 0, NULL);
	int rc = 0;

	if (!pg_result_ok(res)) {
		pg_error_line(conn, res, errstr, errstr_size);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

void pg_rollback_open(PGconn *conn)
{
	char errstr[256];

	if (conn && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
		(void)!pg_command(conn, "ROLLBACK", errstr, sizeof(errstr));
}

/* Server notices belong in our log, not raw on stderr: NOTICEs ("schema already exists,
 * skipping") at debug, WARNINGs at warn, since they are meant for the operator (a migration
 * that could not create the database roles, say). */
static void pg_notice_processor(void *arg, const char *message)
{
	(void)arg;
	if (strncmp(message, "WARNING:", 8) == 0)
		log_warn("pg", "%s", message);
	else
		log_debug("pg", "%s", message);
}

PGconn *pg_connect(const char *conninfo, const char *app_name, char *errstr, size_t errstr_size)
{
	const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
	const char *vals[] = {conninfo, app_name ? app_name : "ferry", "5", NULL};
	PGconn *conn;

	/* expand_dbname=1: the first value is a whole conninfo; ours fill in what it lacks...
	 * except that later keywords override it, so only pass a default connect_timeout when
	 * the user did not set one. */
	if (strstr(conninfo, "connect_timeout") != NULL)
		keys[2] = NULL;
	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		pg_copy_line("out of memory", errstr, errstr_size);
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		pg_copy_line(PQerrorMessage(conn), errstr, errstr_size);
		PQfinish(conn);
		return NULL;
	}
	PQsetNoticeProcessor(conn, pg_notice_processor, NULL);
	return conn;
}

/*
 * Whether a failed connection's message says the TLS settings and the server disagree (a CA
 * that did not sign the server's certificate, a host name the certificate does not name, a
 * missing root certificate file, no TLS on the server): waiting does not change that, so the
 * start fails at once with the reason instead of after FERRY_DB_STARTUP_WAIT_S.
 */
static bool pg_error_is_tls_setup(const char *errstr)
{
	static const char *const marks[] = {
	    "certificate verify failed",   "does not match host name",   "root certificate file",
	    "server does not support SSL", "could not load private key", "certificate file",
	};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		if (strstr(errstr, marks[i]) != NULL)
			return true;
	}
	return false;
}

PGconn *pg_connect_wait(const char *conninfo, const char *app_name, long wait_s, char *errstr,
                        size_t errstr_size)
{
	time_t deadline = time(NULL) + wait_s;
	unsigned attempt = 0;
	PGconn *conn;

	for (;;) {
		conn = pg_connect(conninfo, app_name, errstr, errstr_size);
		if (conn || time(NULL) >= deadline || pg_error_is_tls_setup(errstr))
			return conn;
		log_warn("pg", "PostgreSQL not reachable yet (%s); retrying", errstr);
		usleep((useconds_t)pg_backoff_ms(attempt++, 200, 5000) * 1000);
	}
}

int pg_ensure(PGconn **conn, const char *conninfo, const char *app_name, char *errstr,
              size_t errstr_size)
{
	if (*conn && PQstatus(*conn) == CONNECTION_OK && PQtransactionStatus(*conn) == PQTRANS_IDLE)
		return 0;
	if (*conn) {
		PQfinish(*conn);
		*conn = NULL;
	}
	*conn = pg_connect(conninfo, app_name, errstr, errstr_size);
	return *conn ? 0 : -1;
}

int pg_json_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  json_t **out, char *sqlstate, char *errstr, size_t errstr_size)
{
	json_error_t jerr;
	PGresult *res;
	int rc = -1;

	*out = NULL;
	if (sqlstate)
		sqlstate[0] = '\0';
	res = pg_exec(conn, sql, nparams, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		if (sqlstate && state)
			snprintf(sqlstate, 6, "%s", state);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			snprintf(errstr, errstr_size, "expected one row, got %d", PQntuples(res));
		else
			pg_error_line(conn, res, errstr, errstr_size);
		goto done;
	}
	*out = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr);
	if (*out == NULL) {
		snprintf(errstr, errstr_size, "cannot decode the database's JSON: %s", jerr.text);
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	return rc;
}

int pg_int_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                 int64_t *out, char *errstr, size_t errstr_size)
{
	PGresult *res = pg_exec(conn, sql, nparams, params);
	int rc = -1;

	*out = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		pg_error_line(conn, res, errstr, errstr_size);
	else if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0))
		snprintf(errstr, errstr_size, "expected one integer, got %d row(s)",
		         PQntuples(res));
	else {
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		rc = 0;
	}
	PQclear(res);
	return rc;
}

long pg_backoff_ms(unsigned attempt, long base_ms, long cap_ms)
{
	long ms = base_ms;
	long jitter;

	while (attempt-- > 0 && ms < cap_ms)
		ms *= 2;
	if (ms > cap_ms)
		ms = cap_ms;
	/* Jitter keeps several instances that lost the database together from retrying in step. */
	jitter = ms / 5;
	if (jitter > 0)
		ms += (long)(random() % (2 * jitter + 1)) - jitter;
	return ms > 0 ? ms : 1;
}

int pg_apply_limits(PGconn *conn, const struct pg_session_limits *limits, char *errstr,
                    size_t errstr_size)
{
	char sql[256];
	int n = 0;

	/* SET, not the connection's "options": a user's own options in the conninfo stay. */
	sql[0] = '\0';
	if (limits->statement_timeout_ms > 0)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n, "SET statement_timeout = %ld;",
		              limits->statement_timeout_ms);
	if (limits->lock_timeout_ms > 0)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n, "SET lock_timeout = %ld;",
		              limits->lock_timeout_ms);
	if (limits->idle_in_tx_ms > 0)
		n += snprintf(sql + n, sizeof(sql) - (size_t)n,
		              "SET idle_in_transaction_session_timeout = %ld;",
		              limits->idle_in_tx_ms);
	if (n == 0)
		return 0;
	return pg_command(conn, sql, errstr, errstr_size);
}

bool pg_result_timed_out(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state != NULL && (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0);
}

/* Waits until the connection's socket is ready for `events` or the deadline passes. Returns 1
 * when ready, 0 at the deadline, -1 on a poll error. */
static int pg_wait_socket(PGconn *conn, short events, int64_t deadline)
{
	struct pollfd p = {.fd = PQsocket(conn), .events = events};

	if (p.fd < 0)
		return -1;
	for (;;) {
		int64_t left = deadline - clock_monotonic_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

PGresult *pg_exec_within(PGconn *conn, const char *sql, int nparams, const char *const *params,
                         long timeout_ms, bool *timed_out)
{
	PGresult *res, *last = NULL;
	int64_t deadline;
	int was_nonblocking, w;

	*timed_out = false;
	if (timeout_ms <= 0)
		return params == NULL && nparams == 0
		           ? PQexec(conn, sql)
		           : PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	deadline = clock_monotonic_ms() + timeout_ms;
	/* Non-blocking, so that sending a large statement to a server that reads nothing cannot
	 * block in send(2) either. */
	was_nonblocking = PQisnonblocking(conn);
	if (PQsetnonblocking(conn, 1) != 0)
		return NULL;
	if (params == NULL && nparams == 0
	        ? !PQsendQuery(conn, sql)
	        : !PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		goto done;
	for (;;) {
		int f = PQflush(conn);

		if (f == 0)
			break;
		if (f < 0)
			goto collect; /* the connection broke: PQgetResult reports it */
		w = pg_wait_socket(conn, POLLIN | POLLOUT, deadline);
		if (w <= 0)
			goto drop;
		/* libpq's rule while flushing: read what the server sent, or it may deadlock. */
		if (!PQconsumeInput(conn))
			goto collect;
	}
	for (;;) {
		while (!PQisBusy(conn)) {
			res = PQgetResult(conn);
			if (res == NULL)
				goto done;
			/* Like PQexecParams: the last result is the one returned. */
			PQclear(last);
			last = res;
		}
		w = pg_wait_socket(conn, POLLIN, deadline);
		if (w <= 0)
			goto drop;
		if (!PQconsumeInput(conn))
			goto collect;
	}
drop:
	/*
	 * The server did not answer in time. A cancel request would need the postmaster (which
	 * may be as stuck as the backend), so the connection is dropped instead: shutdown(2)
	 * makes libpq read end-of-file and mark it CONNECTION_BAD, and its owner discards it as
	 * any broken connection. Whether the statement ran is unknown: it may still run when
	 * the server wakes (the caller says so).
	 */
	*timed_out = w == 0; /* else poll(2) failed: dropped all the same, never left waiting */
	if (*timed_out)
		pg_timed_out = true; /* the caller's errstr will be ferry's "did not answer" */
	(void)shutdown(PQsocket(conn), SHUT_RDWR);
	(void)PQconsumeInput(conn);
collect:
	/* A broken connection's PQgetResult never waits: it reports the error, then NULL. One
	 * that is somehow still busy is dropped rather than waited for. */
	if (PQstatus(conn) == CONNECTION_OK && PQisBusy(conn)) {
		(void)shutdown(PQsocket(conn), SHUT_RDWR);
		(void)PQconsumeInput(conn);
	}
	while ((res = PQgetResult(conn)) != NULL) {
		PQclear(last);
		last = res;
	}
	if (*timed_out) {
		PQclear(last);
		last = NULL;
	}
done:
	if (PQstatus(conn) == CONNECTION_OK)
		(void)PQsetnonblocking(conn, was_nonblocking);
	return last;
}

struct pg_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	char *conninfo;
	char *app_name;
	int size;
	PGconn **idle; /* open idle connections, idle_count of them */
	int idle_count;
	int open_count;                  /* connections handed out + idle */
	struct pg_session_limits limits; /* applied to each connection opened */
	long bound_ms;                   /* pg_set_bound of each connection opened; 0: none */
};

void pg_pool_set_limits(struct pg_pool *pool, const struct pg_session_limits *limits)
{
	pool->limits = *limits;
}

void pg_pool_set_bound(struct pg_pool *pool, long timeout_ms)
{
	pool->bound_ms = timeout_ms;
}

struct pg_pool *pg_pool_new(const char *conninfo, const char *app_name, int size)
{
	struct pg_pool *pool = calloc(1, sizeof(*pool));

	if (pool == NULL)
		return NULL;
	pool->conninfo = strdup(conninfo);
	pool->app_name = strdup(app_name ? app_name : "ferry");
	pool->idle = calloc((size_t)size, sizeof(PGconn *));
	if (pool->conninfo == NULL || pool->app_name == NULL || pool->idle == NULL) {
		free(pool->conninfo);
		free(pool->app_name);
		free(pool->idle);
		free(pool);
		return NULL;
	}
	pool->size = size;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	return pool;
}

void pg_pool_destroy(struct pg_pool *pool)
{
	int i;

	if (pool == NULL)
		return;
	for (i = 0; i < pool->idle_count; i++)
		PQfinish(pool->idle[i]);
	pthread_cond_destroy(&pool->freed);
	pthread_mutex_destroy(&pool->lock);
	free(pool->idle);
	free(pool->conninfo);
	free(pool->app_name);
	free(pool);
}

PGconn *pg_pool_get(struct pg_pool *pool, int timeout_ms, char *errstr, size_t errstr_size)
{
	struct timespec deadline = clock_deadline(CLOCK_REALTIME, timeout_ms);
	PGconn *conn = NULL;
	int must_open = 0;

	/* A new request: an earlier one's timeout must not colour this one's errors. */
	pg_timed_out = false;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		if (pool->idle_count > 0) {
			conn = pool->idle[--pool->idle_count];
			break;
		}
		if (pool->open_count < pool->size) {
			pool->open_count++; /* reserve the slot; connect outside the lock */
			must_open = 1;
			break;
		}
		if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT) {
			pthread_mutex_unlock(&pool->lock);
			snprintf(errstr, errstr_size,
			         "no database connection free within %d ms (pool size %d)",
			         timeout_ms, pool->size);
			return NULL;
		}
	}
	pthread_mutex_unlock(&pool->lock);

	/* An idle connection may have died while it sat in the pool (database restart). */
	if (!must_open && PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		conn = NULL;
	}
	if (conn == NULL) {
		conn = pg_connect(pool->conninfo, pool->app_name, errstr, errstr_size);
		/* The bound first: the SET statements are the connection's first round trips. */
		if (conn != NULL && pg_set_bound(conn, pool->bound_ms) != 0) {
			snprintf(errstr, errstr_size, "out of memory");
			PQfinish(conn);
			conn = NULL;
		}
		if (conn != NULL &&
		    pg_apply_limits(conn, &pool->limits, errstr, errstr_size) != 0) {
			PQfinish(conn);
			conn = NULL;
		}
		if (conn == NULL) {
			pthread_mutex_lock(&pool->lock);
			pool->open_count--;
			pthread_cond_signal(&pool->freed);
			pthread_mutex_unlock(&pool->lock);
		}
	}
	return conn;
}

void pg_pool_put(struct pg_pool *pool, PGconn *conn)
{
	if (conn == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE) {
		pool->idle[pool->idle_count++] = conn;
	} else {
		/* A connection that broke most likely broke with its server (a restart): the idle
		 * ones are as dead, and would each fail one more request. Open fresh ones lazily.
		 */
		if (PQstatus(conn) != CONNECTION_OK) {
			while (pool->idle_count > 0) {
				PQfinish(pool->idle[--pool->idle_count]);
				pool->open_count--;
			}
		}
		PQfinish(conn);
		pool->open_count--;
	}
	pthread_cond_signal(&pool->freed);
	pthread_mutex_unlock(&pool->lock);
}
