/*
 * http_server.h - a small JSON-over-HTTP server on libmicrohttpd.
 *
 * What every ferry endpoint needs, in one place: routing by method and path pattern
 * ("/api/messages/{id}"), a request-body limit (413, and nothing more stored), connection
 * limits and idle timeouts, JSON responses with the right content type, 404 for unknown routes
 * and 405 (with an Allow header) for known routes with the wrong method, both with a JSON
 * {"error": ...} body. Answers that are not JSON (an HTML page) go through
 * http_exchange_respond_bytes with a content type of their own.
 *
 * Handlers may answer synchronously (call http_exchange_respond before returning) or
 * asynchronously: a handler that returns without responding leaves the connection suspended
 * (MHD_suspend_connection) until some other thread calls http_exchange_respond, which resumes
 * it. The batcher uses this to group-commit many requests without one thread per request.
 *
 * Threads: libmicrohttpd's internal thread pool (options.threads) runs the handlers; a handler
 * must not keep a PGconn between requests (borrow from the pool instead).
 *
 * Bodies: a Content-Length above max_body_bytes is answered 413 without storing any of it.
 * A client that waits for "100 Continue" gets the 413 at once and sends no body (the connection
 * is closed after the answer). A client already sending has its body read and dropped first:
 * libmicrohttpd 0.9.75 would otherwise close the connection under it, and the reset can lose the
 * answer. Likewise a chunked body that grows past the limit is read to its end and dropped, then
 * answered 413 (this libmicrohttpd cannot answer while a body is still arriving); 404 and 405
 * with a body too. Past max_body_bytes + 64 MiB of dropped body the connection is closed
 * without an answer.
 *
 * Work per request is bounded before any handler runs: each route may have a body limit of its
 * own (what it needs, not the largest any route needs), and the body is pre-scanned as it
 * arrives (json_scan.h): a body whose JSON would hold more than the route's value limit is
 * answered 413, one nesting deeper than max_json_depth 400, and the rest of it is read and
 * dropped, never stored. So jansson never builds a document bigger than the limits allow.
 *
 * Slow clients: one client address holds at most max_connections_per_client connections, and
 * a request must arrive whole within request_timeout_s (the idle timeout restarts on every
 * byte, so a client sending one byte a second would otherwise hold its connection forever).
 * A watchdog thread closes connections past that deadline (shutdown(2) on the socket; MHD
 * then closes it as if the client had gone). Requests waiting for their answer are not
 * subject to it.
 *
 * Browser safety (options.browser_guard, http_guard.h): before routing, a request whose Host
 * is not allowed gets 421, one from a foreign Origin 403, a POST/PUT/PATCH/DELETE without
 * Content-Type: application/json 415 (all JSON {"error": ...}), and a configured origin's
 * preflight 204; a configured origin's answers carry Access-Control-Allow-Origin and
 * Vary: Origin. The guard's settings are checked by http_server_start_groups (errstr names the
 * bad one).
 * API keys: when options.authenticate is set, every route asks for roles (struct http_route's
 * roles; by default GET needs reader and other methods operator) unless marked HTTP_ROUTE_OPEN.
 * The key (Authorization: Bearer <key>, or X-Api-Key: <key>) is checked when the headers are
 * in, before any body is read or handler runs: none or an unknown key gets 401
 * {"error":"missing or unknown API key"} with WWW-Authenticate: Bearer, a key holding none of
 * the route's roles 403 {"error":"this API key lacks the <role> role"}; the body is read and
 * dropped. Without options.authenticate every route is open (FERRY_AUTH=off).
 *
 * Requests libmicrohttpd itself rejects (malformed request line or headers, headers over the
 * per-connection memory, bad chunk encoding) get its own small HTML error pages, not JSON.
 */
#ifndef FERRY_HTTP_SERVER_H
#define FERRY_HTTP_SERVER_H

#include <jansson.h>

#include "common/http_tls.h"
#include "common/auth_roles.h"
#include "common/metrics.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_PATH_PARAMS 4
#define HTTP_MAX_ROUTES      256 /* routes one server serves, all groups together */

struct http_server;
struct http_exchange; /* one request/response; owned by the server */

typedef void (*http_handler_fn)(struct http_exchange *ex, void *opaque);

/*
 * Looks up the `len` bytes of a presented API key (not NUL-terminated). Returns true with the
 * key's AUTH_ROLE_* bits in *roles and its name in `name` (name_size bytes) when the key is
 * known and active, false otherwise. Called from the server's threads, any number at once.
 */
typedef bool (*http_auth_fn)(void *opaque, const char *key, size_t len, unsigned *roles, char *name,
                             size_t name_size);

/* struct http_route's roles: no key needed (liveness, the dashboard's static page). */
#define HTTP_ROUTE_OPEN 0x80000000u

/* Patterns: segments compare after percent-decoding; one trailing '/' is ignored on both sides. */
struct http_route {
	const char *method;  /* "GET", "POST", "PUT", "DELETE" */
	const char *pattern; /* "/api/messages/{id}": {name} matches one non-empty segment */
	http_handler_fn handler;
	void *opaque;   /* passed to handler unchanged */
	unsigned roles; /* AUTH_ROLE_* bits, any one of which admits a key; 0 = the default
	                 * (GET: reader, other methods: operator); HTTP_ROUTE_OPEN = no key */
};

/* A module's routes (what its *_routes() returns): n entries of routes, which stay the module's.
 * A service hands the server one group per module, in the order they are tried. */
struct http_route_group {
	const struct http_route *routes; /* the module's array; may be NULL when n is 0 */
	size_t n;                        /* entries of routes */
};

/* Tighter limits for one route, named by its method and pattern (as in struct http_route). */
struct http_route_limit {
	const char *method;     /* "POST" */
	const char *pattern;    /* "/api/agents/consumers/heartbeat" */
	size_t max_body_bytes;  /* 413 above it; 0 = the server's; never above the server's */
	size_t max_json_values; /* see json_scan.h; 0 = the server's */
};

struct http_server_options {
	const char *host;         /* bind address; NULL or "" = all interfaces */
	int port;                 /* TCP port; 0 = let the kernel choose (see http_server_port) */
	int threads;              /* libmicrohttpd thread-pool size, >= 1 */
	size_t max_body_bytes;    /* larger bodies get 413 */
	unsigned max_connections; /* concurrent connections (>= threads); more are not accepted and
	                           * wait in the kernel's listen backlog until one closes */
	unsigned idle_timeout_s;  /* idle connections are closed after this many seconds; 0 = never.
	                           * A request waiting for an asynchronous answer is not idle. */
	struct metric_family *requests_total; /* counter labelled method,route,status (route
	                                       * is the matched pattern, "unmatched" for a
	                                       * 404); NULL = not counted */
	size_t max_json_values;               /* bodies whose JSON would hold more values get
	                                       * 413 as they arrive (json_scan.h); 0 = none */
	unsigned max_json_depth;              /* ... or nest deeper: 400; 0 = no limit */
	unsigned max_connections_per_client;  /* connections one client address may hold;
	                                       * more are closed at once; 0 = no limit */
	unsigned request_timeout_s;           /* a request must arrive whole (headers and body)
	                                       * within this many seconds of the connection
	                                       * opening or the previous answer; else the
	                                       * connection is closed; 0 = no deadline */
	const struct http_route_limit *route_limits; /* per-route limits (must outlive the
	                                              * server), or NULL */
	size_t n_route_limits;
	const struct http_tls *tls; /* NULL: plain HTTP; else HTTPS with this material (must
	                             * outlive the server); with a client CA in it, a request
	                             * without a client certificate that chains to that CA is
	                             * answered 403 {"error": ...} and no handler runs */
	bool browser_guard;         /* refuse what http_guard.h refuses (Host, Origin,
	                             * Content-Type) before routing; false = no such checks */
	const char *allowed_hosts;  /* with browser_guard: FERRY_ALLOWED_HOSTS (copied) */
	const char *cors_origins;   /* with browser_guard: FERRY_CORS_ORIGINS (copied) */
	http_auth_fn authenticate;  /* checks API keys; NULL = every route open */
	void *auth_opaque;          /* passed to authenticate; must outlive the server */
};

/*
 * Starts listening and serving the routes of `groups` (ngroups entries), tried in order: the
 * first group's routes first, and within a group in its order, so put fixed paths before a
 * pattern that would also match them ("/api/messages/failed" before "/api/messages/{id}").
 * The routes are copied into the server (the groups array may go after the call); each route's
 * opaque must outlive the server. Returns the server, or NULL with errstr filled (e.g. "cannot
 * listen on :5301: Address in use"). Also fails for invalid options or routes (more than
 * HTTP_MAX_ROUTES routes in all, a group with routes NULL and n > 0, a pattern not starting
 * with '/', more than HTTP_MAX_PATH_PARAMS parameters, a NULL method or handler). A host that
 * resolves to several addresses is bound to the first that works; all interfaces means IPv6
 * and IPv4 where the host has IPv6, IPv4 only otherwise. Call from one thread at a time.
 */
struct http_server *http_server_start_groups(const struct http_server_options *opts,
                                             const struct http_route_group *groups, size_t ngroups,
                                             char *errstr, size_t errstr_size);

/* http_server_start_groups with one group: `routes`, n entries. */
struct http_server *http_server_start(const struct http_server_options *opts,
                                      const struct http_route *routes, size_t n, char *errstr,
                                      size_t errstr_size);

/* Port actually bound (useful with port 0). */
int http_server_port(const struct http_server *srv);

/* Stops accepting new connections (listening socket closed); requests in progress finish.
 * Connections already open stay open (keep-alive) until they idle out or the server stops.
 * Calling it again, or before http_server_stop, is harmless. */
void http_server_quiesce(struct http_server *srv);

/* Stops the server and frees it. Waits for handler threads to finish. NULL is a no-op.
 * Suspended exchanges must have been answered before this is called. In detail: it quiesces,
 * answers requests whose handler has not started yet with 503, and waits up to 5 s for the
 * requests in progress to be answered and their answers sent; then it closes every connection.
 * If an exchange is still unanswered then, libmicrohttpd aborts the process (logged as an error
 * first), so stop the HTTP server before whatever answers its requests. */
void http_server_stop(struct http_server *srv);

/* --- request accessors: valid inside the handler and until http_exchange_respond; any thread
 * holding the exchange may call them. Returned strings belong to the exchange. --- */
const char *http_exchange_method(const struct http_exchange *ex);
const char *http_exchange_path(const struct http_exchange *ex);
/* Body bytes (not NUL-terminated; may be NULL when length is 0). */
const char *http_exchange_body(const struct http_exchange *ex, size_t *len);
/* Value of the {name} segment matched by the route, or NULL. Percent-decoded ("a%2Fb" gives
 * "a/b"); never contains a NUL byte (a segment decoding to one matches no route); not checked
 * for valid UTF-8. */
const char *http_exchange_param(const struct http_exchange *ex, const char *name);
/* Query-string argument (decoded) or NULL. "?flag" with no '=' gives NULL too. */
const char *http_exchange_query(const struct http_exchange *ex, const char *name);
/* The name of the API key the request was authenticated with, or NULL when none was checked
 * (authentication off, or an open route). For the audit trail. */
const char *http_exchange_principal(const struct http_exchange *ex);
/* Request header (case-insensitive) or NULL. */
const char *http_exchange_header(const struct http_exchange *ex, const char *name);

/*
 * Answers the request with `status` and the JSON `body` (takes ownership of body; NULL means
 * an empty JSON object). May be called from any thread, exactly once per exchange. After it
 * returns, `ex` must not be touched by the caller.
 * The response is the compact JSON plus "\n" with Content-Type: application/json. A status
 * outside 200-599 is logged and sent as 500; a status >= 500 is logged as a warning. A second
 * call from inside the handler is logged and ignored.
 */
void http_exchange_respond(struct http_exchange *ex, int status, json_t *body);

/*
 * Answers with `status` and `len` bytes of `data` as they are, with Content-Type: `content_type`
 * (NULL means application/octet-stream). For the few answers that are not JSON (the dashboard's
 * HTML page). The bytes are copied before it returns: `data` stays the caller's. Otherwise the
 * same rules as http_exchange_respond: any thread, exactly once per exchange, `ex` must not be
 * touched afterwards.
 */
void http_exchange_respond_bytes(struct http_exchange *ex, int status, const char *content_type,
                                 const void *data, size_t len);

/* Answers with {"error": "<formatted message>"} and the given status. Same rules as above. */
void http_exchange_error(struct http_exchange *ex, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Parses the request body as a JSON value. Returns a new reference, or NULL after answering the
 * exchange itself with 400 {"error": "invalid JSON: <reason> at line L column C"} (this covers
 * an empty body and invalid UTF-8). After NULL, the handler must just return.
 * jansson's strict defaults apply: the top level must be an object or array; invalid UTF-8,
 * lone surrogates, "\u0000" and raw NUL bytes are rejected. An empty body gets
 * {"error": "request body is empty: expected JSON"}.
 */
json_t *http_exchange_parse_json(struct http_exchange *ex);

/*
 * Reads the {name} path segment as an id from 1 to INT64_MAX (decimal digits only; overflow is
 * an error, not a clamp). Returns 0 with *out set, or answers the exchange with
 * 400 {"error": "<what> must be a positive integer, not '...'"} and returns -1.
 */
int http_exchange_param_id(struct http_exchange *ex, const char *name, const char *what,
                           int64_t *out) __attribute__((warn_unused_result));

/*
 * Reads query argument `name` as a decimal integer in [min, max]; absent or empty gives `def`.
 * Returns 0 with *out set, or answers 400 {"error": "query parameter <name> must be an integer
 * from <min> to <max>"} and returns -1 (junk, overflow and out-of-range values alike).
 */
int http_exchange_query_int(struct http_exchange *ex, const char *name, long long def,
                            long long min, long long max, long long *out)
    __attribute__((warn_unused_result));

#endif
