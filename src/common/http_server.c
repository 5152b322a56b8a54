/*
 * http_server.c - a small JSON-over-HTTP server on libmicrohttpd (see http_server.h).
 *
 * One struct http_exchange per request. It is created by MHD's URI-log callback (the only place
 * the raw, still percent-encoded URI is visible, which we need to split the path into segments
 * before decoding them: "a%2Fb" is one segment) and freed by the request-completed callback.
 *
 * The access callback is called repeatedly per request:
 *   1. once with the headers: route the request, check Content-Length against the limit;
 *   2. once per piece of body: append to a growing buffer, or drop it once the answer is
 *      already decided (404, 405, 413);
 *   3. once with *upload_data_size == 0: run the handler, then queue its response or suspend;
 *   4. after a resume: queue the response stored by http_exchange_respond.
 *
 * Asynchronous answers: the exchange mutex orders "handler returned without answering, so
 * suspend" against "another thread answered, so resume if suspended". Whoever comes second sees
 * the other's mark, so a respond() that wins the race (even before the handler has returned)
 * simply leaves the response for step 3 to queue, and a respond() that loses resumes.
 */
#include "common/http_server.h"

#include "common/http_guard.h"
#include "common/http_path.h"
#include "common/auth_key.h"
#include "common/auth_roles.h"
#include "common/json_scan.h"
#include "common/log.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Per-connection memory for MHD: request line + headers + read buffer. MHD answers 431/414 on
 * its own when headers do not fit. 64 KiB leaves room for long URLs and big headers. */
#define HTTP_SERVER_CONN_MEMORY (64 * 1024)
/* First allocation for a body whose size is not announced (chunked). */
#define HTTP_SERVER_BODY_INITIAL 4096
/* Announced bodies up to this size get their whole buffer up front; bigger ones grow as bytes
 * arrive, so that announcing a large body and sending nothing does not pin the memory. */
#define HTTP_SERVER_BODY_PREALLOC (1024 * 1024)
/* Body bytes read and dropped after an early answer (404, 405, 413) beyond max_body_bytes,
 * before giving up and closing the connection without the answer. This libmicrohttpd cannot
 * send a response while a body is still arriving, and answering before the body makes it close
 * the connection under a client still sending, so draining is the reliable way to be heard; the
 * cap keeps an endless body from holding the connection forever. */
#define HTTP_SERVER_DRAIN_MAX (64 * 1024 * 1024)
/* How long http_server_stop() waits for requests in progress to be answered and sent.
 * libmicrohttpd aborts the process when stopped with a connection still suspended. */
#define HTTP_SERVER_STOP_WAIT_MS 5000
/* Error messages are cut at this length. */
#define HTTP_SERVER_ERROR_MAX 512
/* The request-deadline watchdog looks at the connections this often at most (and four times
 * per deadline for short deadlines), so a deadline is kept to within this much. */
#define HTTP_SERVER_WATCHDOG_MS 250

/* One TCP connection, tracked for the request deadline (MHD's socket context). */
struct http_conn {
	struct http_conn *prev, *next; /* in the server's list, under conn_mutex */
	MHD_socket fd;                 /* MHD's socket; valid until the CLOSED notification */
	int64_t since_ms;              /* when the request being received began */
	bool receiving;                /* receiving a request (else the answer is pending) */
	bool cut;                      /* shut down by the watchdog */
	bool client_verified;          /* its TLS client certificate passed (checked once) */
};

struct http_server {
	struct MHD_Daemon *daemon; /* NULL once stopped */
	struct http_route *routes; /* the groups' routes in order (owned) */
	size_t n_routes;
	size_t max_body_bytes;                /* bodies above this get 413 */
	struct metric_family *requests_total; /* options.requests_total, or NULL */
	int port;                             /* bound port, read once after start */
	MHD_socket quiesced_fd;               /* listen socket returned by MHD_quiesce_daemon */
	atomic_int n_live;                    /* exchanges created and not yet completed */
	atomic_int n_waiting;        /* handlers started whose exchange is not answered yet */
	atomic_bool stopping;        /* http_server_stop() has begun: no new handlers */
	pthread_mutex_t start_mutex; /* guards the two fields below */
	bool capturing;              /* copy MHD's log lines into start_error */
	char start_error[512];       /* last MHD complaint while starting, for errstr */
	size_t max_json_values;      /* options.max_json_values (route's own overrides) */
	const struct http_route_limit *route_limits; /* options.route_limits */
	size_t n_route_limits;
	http_auth_fn authenticate;  /* options.authenticate; NULL = every route open */
	void *auth_opaque;          /* options.auth_opaque */
	unsigned max_json_depth;    /* options.max_json_depth */
	int64_t request_timeout_ms; /* options.request_timeout_s in ms; 0 = no deadline */
	pthread_mutex_t conn_mutex; /* guards conns and the watchdog fields below */
	pthread_cond_t conn_cond;   /* wakes the watchdog to stop */
	struct http_conn *conns;    /* open connections (list head) */
	bool watchdog_running;      /* the watchdog thread was started */
	bool watchdog_stop;         /* the watchdog must end */
	pthread_t watchdog;         /* closes connections past the request deadline */
	const struct http_tls *tls; /* options.tls: NULL for plain HTTP */
	struct http_guard *guard;   /* browser safety checks (owned), or NULL */
};

static pthread_once_t http_server_panic_once = PTHREAD_ONCE_INIT;

struct http_exchange {
	struct http_server *srv;
	struct MHD_Connection *conn;
	pthread_mutex_t mutex;          /* guards suspended/responded/orphaned/response/status */
	char *uri;                      /* raw request target, as sent (query string included) */
	char *method;                   /* copy of the method */
	char *path;                     /* copy of MHD's decoded path, for accessors and messages */
	bool started;                   /* first access-callback call has happened */
	const struct http_route *route; /* matched route, NULL when answering 404/405/413 early */
	struct http_path path_segs;     /* the path split into decoded segments */
	struct http_path_param params[HTTP_MAX_PATH_PARAMS];
	size_t n_params;
	char *body; /* received body so far (not NUL-terminated) */
	size_t body_len;
	size_t body_cap;
	size_t body_expected;  /* Content-Length, or 0 when not announced */
	size_t max_body;       /* this request's body limit (the route's, or the server's) */
	struct json_scan scan; /* pre-scan of the body as it arrives */
	struct http_conn *hc;  /* the connection's tracking entry, or NULL */
	size_t drained;        /* body bytes dropped after an early answer */
	bool handler_ran;      /* the handler has been called (never twice) */
	bool queued;           /* a response has been handed to MHD */
	char *cors_origin;     /* Origin to allow in the answer's CORS headers, or NULL */
	bool has_principal;    /* principal holds the authenticated key's name */
	char principal[AUTH_KEY_NAME_MAX]; /* the key's name, for the audit trail */
	/* Fields below are shared with responding threads: touch them only under the mutex. */
	bool suspended;                /* connection suspended, waiting for respond() */
	bool responded;                /* respond() has been called */
	bool orphaned;                 /* MHD finished the request while a thread held us */
	unsigned status;               /* status of the stored response */
	struct MHD_Response *response; /* built by respond(), queued by the access callback */
};

static void http_exchange_free(struct http_exchange *ex)
{
	if (ex == NULL)
		goto done;
	if (ex->response != NULL)
		MHD_destroy_response(ex->response);
	pthread_mutex_destroy(&ex->mutex);
	free(ex->cors_origin);
	free(ex->body);
	http_path_clear(&ex->path_segs);
	free(ex->path);
	free(ex->method);
	free(ex->uri);
	free(ex);
done:
	return;
}

/* MHD's error log, routed into ours. During start-up the text is also kept for errstr. */
static void http_server_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_server *srv = cls;
	char line[512];
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	log_warn("http", "libmicrohttpd: %s", line);
	pthread_mutex_lock(&srv->start_mutex);
	if (srv->capturing)
		snprintf(srv->start_error, sizeof(srv->start_error), "%s", line);
	pthread_mutex_unlock(&srv->start_mutex);
}

/* libmicrohttpd's fatal errors go through our logger before the abort. */
static void http_server_on_mhd_panic(void *cls, const char *file, unsigned int line,
                                     const char *reason)
{
	(void)cls;
	log_error("http", "libmicrohttpd fatal error at %s:%u: %s", file != NULL ? file : "?", line,
	          reason != NULL ? reason : "(no reason given)");
	abort();
}

static void http_server_set_panic_func(void)
{
	MHD_set_panic_func(http_server_on_mhd_panic, NULL);
}

/*
 * Creates the exchange. Called by MHD once per request with the raw request target, before
 * headers are parsed; the return value becomes *req_cls in the access callback. NULL (out of
 * memory) makes the access callback close the connection.
 */
static void *http_server_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_exchange *ex = NULL;
	char *copy = NULL;

	ex = calloc(1, sizeof(*ex));
	copy = strdup(uri != NULL ? uri : "");
	if (ex == NULL || copy == NULL || pthread_mutex_init(&ex->mutex, NULL) != 0) {
		log_error("http", "out of memory creating a request");
		free(copy);
		free(ex);
		ex = NULL;
		goto done;
	}
	ex->srv = cls;
	ex->conn = conn;
	ex->uri = copy;
	atomic_fetch_add(&ex->srv->n_live, 1);
done:
	return ex;
}

/* Whether route r's pattern matches the exchange's path; the captures go to params when not NULL.
 */
static bool http_server_route_matches(const struct http_route *r, const struct http_exchange *ex,
                                      struct http_path_param *params, size_t *n_params)
{
	return http_path_matches(&ex->path_segs, r->pattern, params, HTTP_MAX_PATH_PARAMS,
	                         n_params);
}

/*
 * Builds the MHD response: compact JSON plus a newline, Content-Type application/json, and one
 * more header when extra is not NULL ({name, value}: Allow for a 405, WWW-Authenticate for a
 * 401). Takes ownership of body. Returns NULL when out of memory
 * (the caller then closes the connection).
 */
static struct MHD_Response *http_exchange_build_response(json_t *body, const char *const *extra)
{
	struct MHD_Response *resp = NULL;
	char *buf = NULL;
	enum MHD_Result ok;
	size_t len;

	buf = log_json_dump_line(body, JSON_COMPACT | JSON_ENCODE_ANY, &len);
	if (buf == NULL)
		goto done;
	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		goto done;
	buf = NULL; /* owned by resp now */
	ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (ok == MHD_YES && extra != NULL)
		ok = MHD_add_response_header(resp, extra[0], extra[1]);
	if (ok != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
done:
	free(buf);
	json_decref(body);
	return resp;
}

/*
 * Hands a built response to the exchange: stored for the access callback to queue, resuming the
 * connection when the handler already returned. Takes ownership of resp (NULL: out of memory,
 * the connection is then closed). Shared by the JSON and the raw-bytes answers.
 */
static void http_exchange_deliver(struct http_exchange *ex, unsigned status,
                                  struct MHD_Response *resp)
{
	bool free_ex = false;

	pthread_mutex_lock(&ex->mutex);
	if (ex->responded) {
		pthread_mutex_unlock(&ex->mutex);
		log_error("http", "%s %s: answered twice, second answer (%u) dropped", ex->method,
		          ex->path, status);
		goto done;
	}
	if (ex->orphaned) {
		/* MHD already finished with this request (server stopped under us): only we are
		 * left holding it. */
		pthread_mutex_unlock(&ex->mutex);
		free_ex = true;
		goto done;
	}
	ex->responded = true;
	ex->status = status;
	ex->response = resp;
	resp = NULL;
	if (ex->suspended) {
		/* The handler already returned; MHD calls the access callback again after the
		 * resume and that call queues the response. Resuming under the mutex keeps the
		 * exchange alive until we are done with it: that call needs the mutex first. */
		ex->suspended = false;
		MHD_resume_connection(ex->conn);
	}
	/* Counted down only after MHD knows of the resume, so http_server_stop(), which waits
	 * for zero, never stops the daemon with this exchange still suspended. handler_ran was
	 * set before the handler could hand the exchange to this thread. This is the last use
	 * of the server here: it may be freed as soon as the count reaches zero. */
	if (ex->handler_ran)
		atomic_fetch_sub(&ex->srv->n_waiting, 1);
	pthread_mutex_unlock(&ex->mutex);
done:
	if (resp != NULL)
		MHD_destroy_response(resp);
	if (free_ex)
		http_exchange_free(ex);
}

/* A status outside 200-599 is a handler bug: logged, and sent as 500. */
static int http_exchange_check_status(const struct http_exchange *ex, int status)
{
	if (status < 200 || status > 599) {
		log_error("http", "%s %s: handler answered invalid status %d, sending 500",
		          ex->method, ex->path, status);
		status = 500;
	}
	return status;
}

/* http_exchange_respond() with an optional extra header {name, value} (Allow for 405). */
static void http_exchange_answer(struct http_exchange *ex, int status, json_t *body,
                                 const char *const *extra)
{
	struct MHD_Response *resp = NULL;

	if (body == NULL)
		body = json_object();
	status = http_exchange_check_status(ex, status);
	if (status >= 500) {
		char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

		log_warn("http", "%s %s -> %d %.300s", ex->method, ex->path, status,
		         text != NULL ? text : "");
		free(text);
	}
	resp = http_exchange_build_response(body, extra);
	body = NULL;
	if (resp == NULL)
		log_error("http", "%s %s: out of memory building the response", ex->method,
		          ex->path);
	http_exchange_deliver(ex, (unsigned)status, resp);
}

void http_exchange_respond_bytes(struct http_exchange *ex, int status, const char *content_type,
                                 const void *data, size_t len)
{
	struct MHD_Response *resp = NULL;

	status = http_exchange_check_status(ex, status);
	if (status >= 500)
		log_warn("http", "%s %s -> %d (%zu bytes of %s)", ex->method, ex->path, status, len,
		         content_type != NULL ? content_type : "application/octet-stream");
	/* Copied: the caller's buffer may go away as soon as we return, and MHD may send
	 * later, from its own thread. */
	resp = MHD_create_response_from_buffer(len, (void *)(len > 0 ? data : ""),
	                                       MHD_RESPMEM_MUST_COPY);
	if (resp != NULL &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	                            content_type != NULL ? content_type
	                                                 : "application/octet-stream") != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	if (resp == NULL)
		log_error("http", "%s %s: out of memory building a %zu-byte response", ex->method,
		          ex->path, len);
	http_exchange_deliver(ex, (unsigned)status, resp);
}

void http_exchange_respond(struct http_exchange *ex, int status, json_t *body)
{
	http_exchange_answer(ex, status, body, NULL);
}

static void http_exchange_verror(struct http_exchange *ex, int status, const char *const *extra,
                                 const char *fmt, va_list ap)
{
	char msg[HTTP_SERVER_ERROR_MAX];
	json_t *body = json_object();
	json_t *text;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	text = log_json_string(msg); /* error messages may quote request bytes */
	if (body != NULL && text != NULL)
		json_object_set_new(body, "error", text);
	else
		json_decref(text);
	http_exchange_answer(ex, status, body, extra);
}

void http_exchange_error(struct http_exchange *ex, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	http_exchange_verror(ex, status, NULL, fmt, ap);
	va_end(ap);
}

/* http_exchange_error with one more header: name, value. */
static void http_exchange_error_header(struct http_exchange *ex, int status, const char *name,
                                       const char *value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void http_exchange_error_header(struct http_exchange *ex, int status, const char *name,
                                       const char *value, const char *fmt, ...)
{
	const char *extra[2] = {name, value};
	va_list ap;

	va_start(ap, fmt);
	http_exchange_verror(ex, status, extra, fmt, ap);
	va_end(ap);
}

json_t *http_exchange_parse_json(struct http_exchange *ex)
{
	json_error_t err;
	json_t *value = NULL;
	const char *nul;

	if (ex->body_len == 0) {
		http_exchange_error(ex, 400, "request body is empty: expected JSON");
		goto done;
	}
	/* jansson rejects a raw NUL too, but mostly reads it as the end of the input ("'[' or
	 * '{' expected near end of file"), which misleads. Name it instead. */
	nul = memchr(ex->body, '\0', ex->body_len);
	if (nul != NULL) {
		http_exchange_error(ex, 400, "invalid JSON: NUL byte at offset %zu",
		                    (size_t)(nul - ex->body));
		goto done;
	}
	value = json_loadb(ex->body, ex->body_len, 0, &err);
	if (value == NULL)
		http_exchange_error(ex, 400, "invalid JSON: %s at line %d column %d", err.text,
		                    err.line, err.column);
done:
	return value;
}

const char *http_exchange_method(const struct http_exchange *ex)
{
	return ex->method;
}

const char *http_exchange_path(const struct http_exchange *ex)
{
	return ex->path;
}

const char *http_exchange_body(const struct http_exchange *ex, size_t *len)
{
	if (len != NULL)
		*len = ex->body_len;
	return ex->body_len > 0 ? ex->body : NULL;
}

const char *http_exchange_param(const struct http_exchange *ex, const char *name)
{
	size_t len = strlen(name);
	const char *value = NULL;

	for (size_t i = 0; i < ex->n_params; i++) {
		if (ex->params[i].name_len == len && memcmp(ex->params[i].name, name, len) == 0) {
			value = ex->params[i].value;
			break;
		}
	}
	return value;
}

const char *http_exchange_query(const struct http_exchange *ex, const char *name)
{
	return MHD_lookup_connection_value(ex->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_exchange_principal(const struct http_exchange *ex)
{
	return ex->has_principal ? ex->principal : NULL;
}

const char *http_exchange_header(const struct http_exchange *ex, const char *name)
{
	return MHD_lookup_connection_value(ex->conn, MHD_HEADER_KIND, name);
}

/*
 * Methods of all routes whose pattern matches the path, as "GET, POST", into buf. Returns false
 * when no route matches.
 */
static bool http_server_allowed_methods(const struct http_server *srv,
                                        const struct http_exchange *ex, char *buf, size_t size)
{
	size_t used = 0;
	bool any = false;

	buf[0] = '\0';
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct http_route *r = &srv->routes[i];
		bool seen = false;

		if (!http_server_route_matches(r, ex, NULL, NULL))
			continue;
		any = true;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(srv->routes[j].method, r->method) == 0 &&
			    http_server_route_matches(&srv->routes[j], ex, NULL, NULL)) {
				seen = true;
				break;
			}
		}
		if (!seen) {
			int n = snprintf(buf + used, size - used, "%s%s", used > 0 ? ", " : "",
			                 r->method);

			if (n < 0 || (size_t)n >= size - used)
				buf[used] = '\0'; /* does not fit: leave this method out */
			else
				used += (size_t)n;
		}
	}
	return any;
}

/* Parses a Content-Length value; false when absent or not a plain decimal number. */
static bool http_server_parse_length(const char *s, unsigned long long *out)
{
	char *end = NULL;
	bool ok = false;

	if (s == NULL || *s < '0' || *s > '9')
		goto done;
	errno = 0;
	*out = strtoull(s, &end, 10);
	ok = (errno == 0 && *end == '\0');
done:
	return ok;
}

/* Whether the client sent "Expect: 100-continue" and waits for it before sending the body. */
static bool http_server_expects_continue(struct MHD_Connection *conn)
{
	const char *expect =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);

	return expect != NULL && strcasecmp(expect, "100-continue") == 0;
}

/* Hands the stored response to MHD. Called from the access callback only. */
static enum MHD_Result http_exchange_queue(struct http_exchange *ex, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	unsigned status;
	enum MHD_Result ret = MHD_NO;

	pthread_mutex_lock(&ex->mutex);
	resp = ex->response;
	ex->response = NULL;
	status = ex->status;
	pthread_mutex_unlock(&ex->mutex);
	if (resp == NULL)
		goto done; /* could not build one: closing the connection is all that is left */
	if (ex->cors_origin != NULL && (MHD_add_response_header(resp, "Access-Control-Allow-Origin",
	                                                        ex->cors_origin) != MHD_YES ||
	                                MHD_add_response_header(resp, "Vary", "Origin") != MHD_YES))
		log_warn("http", "%s %s: cannot add the CORS headers", ex->method, ex->path);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	if (ex->srv->requests_total) {
		char code[8];
		/* Bounded label values: a client cannot grow the series with made-up methods or
		 * paths. */
		const char *method = ex->route ? ex->route->method : "OTHER";
		const char *labels[3] = {method, ex->route ? ex->route->pattern : "unmatched",
		                         code};

		snprintf(code, sizeof(code), "%u", status);
		metric_add(ex->srv->requests_total, labels, 1);
	}
	if (ret != MHD_YES)
		log_warn("http", "%s %s: libmicrohttpd refused the %u response", ex->method,
		         ex->path, status);
	ex->queued = true;
done:
	return ret;
}

/* The connection's tracking entry (NULL when MHD has none for it). */
static struct http_conn *http_server_conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return info != NULL ? info->socket_context : NULL;
}

static int64_t http_server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Mutual TLS: libmicrohttpd only asks for a client certificate, so it is checked here, once
 * per connection. Returns true after storing a 403 answer for a client without a certificate
 * from the client CA.
 */
static bool http_server_refuses_client(struct http_server *srv, struct http_exchange *ex,
                                       struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;
	char why[512];

	if (!http_tls_requires_client_cert(srv->tls) || (ex->hc != NULL && ex->hc->client_verified))
		return false;
	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (http_tls_verify_client(info != NULL ? info->tls_session : NULL, why, sizeof(why)) ==
	    0) {
		if (ex->hc != NULL)
			ex->hc->client_verified = true;
		return false;
	}
	log_warn("http", "refused %s %s: %s", ex->method, ex->path, why);
	http_exchange_error(ex, 403, "%s", why);
	return true;
}

/* A configured origin's preflight: 204, no body, what it may send. */
static void http_exchange_preflight(struct http_exchange *ex)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);

	if (resp != NULL && (MHD_add_response_header(resp, "Access-Control-Allow-Methods",
	                                             HTTP_GUARD_PREFLIGHT_METHODS) != MHD_YES ||
	                     MHD_add_response_header(resp, "Access-Control-Allow-Headers",
	                                             HTTP_GUARD_PREFLIGHT_HEADERS) != MHD_YES ||
	                     MHD_add_response_header(resp, "Access-Control-Max-Age",
	                                             HTTP_GUARD_PREFLIGHT_MAX_AGE) != MHD_YES)) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	if (resp == NULL)
		log_error("http", "%s %s: out of memory building the preflight answer", ex->method,
		          ex->path);
	http_exchange_deliver(ex, 204, resp);
}

/*
 * Browser safety (http_guard.h), on the headers alone, before the request is routed or its
 * body read. Returns true when the request is answered here (refused, or a preflight): no
 * handler runs, and its body, if any, is read and dropped like a 404's. Remembers a configured
 * origin for the CORS headers of whatever answers the request.
 */
static bool http_exchange_guard(struct http_exchange *ex, struct MHD_Connection *conn)
{
	struct http_guard_request req = {
	    .method = ex->method,
	    .content_type =
	        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
	    .host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
	    .origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"),
	    .preflight =
	        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method"),
	};
	struct http_guard_verdict v;
	bool answered = false;

	if (ex->srv->guard == NULL)
		goto done;
	http_guard_check(ex->srv->guard, &req, &v);
	if (v.cors) {
		ex->cors_origin = strdup(req.origin);
		if (ex->cors_origin == NULL)
			log_warn("http", "%s %s: out of memory: answered without CORS headers",
			         ex->method, ex->path);
	}
	if (v.action == HTTP_GUARD_REFUSE) {
		http_exchange_error(ex, v.status, "%s", v.error);
		answered = true;
	} else if (v.action == HTTP_GUARD_PREFLIGHT) {
		http_exchange_preflight(ex);
		answered = true;
	}
done:
	return answered;
}

/* The roles a route asks for: its own, or the default (GET: reader; else operator). */
static unsigned http_route_needs(const struct http_route *r)
{
	if (r->roles != 0)
		return r->roles;
	return strcmp(r->method, "GET") == 0 ? AUTH_ROLE_READER : AUTH_ROLE_OPERATOR;
}

/*
 * Checks the request's API key against the matched route, from the headers alone (before any
 * body is read). Returns 0 when the request may go on (principal set when a key was checked),
 * or -1 after answering 401 (no key, or one the server does not know) or 403 (a known key
 * without any of the route's roles).
 */
static int http_exchange_authorize(struct http_exchange *ex)
{
	struct http_server *srv = ex->srv;
	unsigned need = http_route_needs(ex->route), held = 0;
	const char *key;
	size_t len = 0;
	int rc = -1;

	if (srv->authenticate == NULL || (need & HTTP_ROUTE_OPEN) != 0) {
		rc = 0;
		goto done;
	}
	key = auth_key_from_headers(http_exchange_header(ex, MHD_HTTP_HEADER_AUTHORIZATION),
	                            http_exchange_header(ex, "X-Api-Key"), &len);
	if (key == NULL || !srv->authenticate(srv->auth_opaque, key, len, &held, ex->principal,
	                                      sizeof(ex->principal))) {
		ex->principal[0] = '\0';
		http_exchange_error_header(ex, 401, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer",
		                           "missing or unknown API key");
		goto done;
	}
	if ((held & need) == 0) {
		unsigned first = need & (~need + 1u); /* the lowest role bit asked for */
		const char *role = auth_role_name(first);

		http_exchange_error(ex, 403, "this API key lacks the %s role",
		                    role != NULL ? role : "required");
		goto done;
	}
	ex->has_principal = true;
	rc = 0;
done:
	return rc;
}

/* First call for a request: headers are in. Route it, check its API key and the announced body
 * size. */
static enum MHD_Result http_exchange_begin(struct http_exchange *ex, struct MHD_Connection *conn,
                                           const char *url, const char *method)
{
	struct http_server *srv = ex->srv;
	unsigned long long announced = 0;
	bool has_length;
	char allow[256];
	size_t max_values;
	enum MHD_Result ret = MHD_NO;

	ex->started = true;
	ex->conn = conn;
	ex->hc = http_server_conn_of(conn);
	ex->method = strdup(method);
	ex->path = strdup(url);
	if (ex->method == NULL || ex->path == NULL ||
	    http_path_split(&ex->path_segs, ex->uri) != 0) {
		log_error("http", "out of memory routing a request");
		goto done;
	}
	if (http_exchange_guard(ex, conn)) {
		/* Like a 404: sent after the body is drained, or now to a client waiting for
		 * "100 Continue" (which then sends no body). */
		ret = http_server_expects_continue(conn) ? http_exchange_queue(ex, conn) : MHD_YES;
		goto done;
	}
	if (ex->path_segs.ok) {
		for (size_t i = 0; i < srv->n_routes; i++) {
			const struct http_route *r = &srv->routes[i];

			if (strcmp(r->method, method) == 0 &&
			    http_server_route_matches(r, ex, ex->params, &ex->n_params)) {
				ex->route = r;
				break;
			}
		}
	}
	/* Each route's own limits: a route that needs 4 KiB does not take 1 MiB bodies. */
	ex->max_body = srv->max_body_bytes;
	max_values = srv->max_json_values;
	for (size_t i = 0; ex->route != NULL && i < srv->n_route_limits; i++) {
		const struct http_route_limit *l = &srv->route_limits[i];

		if (strcmp(l->method, ex->route->method) != 0 ||
		    strcmp(l->pattern, ex->route->pattern) != 0)
			continue;
		if (l->max_body_bytes > 0 && l->max_body_bytes < ex->max_body)
			ex->max_body = l->max_body_bytes;
		if (l->max_json_values > 0)
			max_values = l->max_json_values;
		break;
	}
	json_scan_init(&ex->scan, max_values, srv->max_json_depth);
	if (http_server_refuses_client(srv, ex, conn)) {
		/* Like a 404: no handler runs, the body (if any) is read and dropped. */
		ex->route = NULL;
		ret = http_server_expects_continue(conn) ? http_exchange_queue(ex, conn) : MHD_YES;
		goto done;
	}
	has_length = http_server_parse_length(
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
	    &announced);
	/* Before the body: a request without the right key stores nothing and runs nothing.
	 * Its body is read and dropped like a 404's; a client waiting for "100 Continue" (or
	 * announcing more than we would drain) gets the answer at once and sends none. */
	if (ex->route != NULL && http_exchange_authorize(ex) != 0) {
		if (http_server_expects_continue(conn) ||
		    (has_length && announced > HTTP_SERVER_DRAIN_MAX))
			ret = http_exchange_queue(ex, conn);
		else
			ret = MHD_YES;
		goto done;
	}
	if (has_length && announced > ex->max_body) {
		ex->route = NULL; /* no handler will run */
		http_exchange_error(ex, 413, "request body exceeds %zu bytes", ex->max_body);
		/* Queued now, MHD skips "100 Continue", reads no body and closes the connection
		 * after the answer. Right for a client waiting for "100 Continue". One already
		 * sending would find the connection reset under it and could lose the answer
		 * (curl reports a send error), so its body is drained first, up to the cap. */
		if (http_server_expects_continue(conn) ||
		    announced - ex->max_body > HTTP_SERVER_DRAIN_MAX)
			ret = http_exchange_queue(ex, conn);
		else
			ret = MHD_YES;
		goto done;
	}
	/* 404 and 405 are stored now but queued after the body (if any) is drained: answering
	 * mid-request makes MHD close the connection, and a client still sending could miss the
	 * answer in the reset. */
	if (ex->route == NULL) {
		if (ex->path_segs.ok && http_server_allowed_methods(srv, ex, allow, sizeof(allow)))
			http_exchange_error_header(ex, 405, MHD_HTTP_HEADER_ALLOW, allow,
			                           "method %s not allowed for %s", method, url);
		else
			http_exchange_error(ex, 404, "no route for %s %s", method, url);
	}
	if (has_length && announced > 0 && ex->route != NULL) {
		ex->body_expected = (size_t)announced;
		ex->body_cap = ex->body_expected < HTTP_SERVER_BODY_PREALLOC
		                   ? ex->body_expected
		                   : HTTP_SERVER_BODY_PREALLOC;
		ex->body = malloc(ex->body_cap);
		if (ex->body == NULL) {
			log_error("http", "out of memory for a %zu-byte body", ex->body_cap);
			goto done;
		}
	}
	ret = MHD_YES;
done:
	return ret;
}

/* A piece of body. Appends it, or discards it once an answer is already stored. */
static enum MHD_Result http_exchange_receive(struct http_exchange *ex, const char *data,
                                             size_t size)
{
	struct http_server *srv = ex->srv;
	enum MHD_Result ret = MHD_YES;
	char scan_err[128];
	bool answered;

	pthread_mutex_lock(&ex->mutex);
	answered = ex->responded;
	pthread_mutex_unlock(&ex->mutex);
	if (answered) {
		/* 404/405/413 waiting for the end of the body: drop it. */
		size_t limit = srv->max_body_bytes > SIZE_MAX - HTTP_SERVER_DRAIN_MAX
		                   ? SIZE_MAX
		                   : srv->max_body_bytes + HTTP_SERVER_DRAIN_MAX;

		ex->drained = size > SIZE_MAX - ex->drained ? SIZE_MAX : ex->drained + size;
		if (ex->drained > limit) {
			log_warn("http",
			         "%s %s: body still arriving after %zu bytes dropped, "
			         "closing the connection",
			         ex->method, ex->path, ex->drained);
			ret = MHD_NO;
		}
		goto done;
	}
	if (size > ex->max_body - ex->body_len) {
		/* Only chunked bodies get here (a too-large Content-Length was answered up front).
		 * The rest of the body is read and dropped, then the 413 goes out: this
		 * libmicrohttpd refuses MHD_queue_response while the body is still arriving. */
		free(ex->body);
		ex->body = NULL;
		ex->body_len = 0;
		ex->body_cap = 0;
		http_exchange_error(ex, 413, "request body exceeds %zu bytes", ex->max_body);
		goto done;
	}
	if (json_scan_feed(&ex->scan, data, size, scan_err, sizeof(scan_err)) != 0) {
		/* Refused before jansson builds anything: the body so far is freed, the rest is
		 * read and dropped like a too-large one's. */
		bool too_deep = ex->scan.max_depth > 0 && ex->scan.depth > ex->scan.max_depth;

		free(ex->body);
		ex->body = NULL;
		ex->body_len = 0;
		ex->body_cap = 0;
		http_exchange_error(ex, too_deep ? 400 : 413, "request body refused: %s", scan_err);
		goto done;
	}
	if (ex->body_len + size > ex->body_cap) {
		size_t cap = ex->body_cap > 0 ? ex->body_cap : HTTP_SERVER_BODY_INITIAL;
		size_t most = ex->body_expected > 0 ? ex->body_expected : ex->max_body;
		char *grown;

		while (cap < ex->body_len + size)
			cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
		/* MHD never passes more than the Content-Length, and we check the limit above. */
		if (cap > most)
			cap = most;
		if (cap < ex->body_len + size)
			cap = ex->body_len + size; /* within the limit, checked above */
		grown = realloc(ex->body, cap);
		if (grown == NULL) {
			log_error("http", "%s %s: out of memory for a %zu-byte body", ex->method,
			          ex->path, cap);
			ret = MHD_NO;
			goto done;
		}
		ex->body = grown;
		ex->body_cap = cap;
	}
	memcpy(ex->body + ex->body_len, data, size);
	ex->body_len += size;
done:
	return ret;
}

/*
 * Body complete (or connection resumed). Runs the handler once, then queues the answer if there
 * is one, else suspends until http_exchange_respond() resumes us.
 */
static enum MHD_Result http_exchange_finish(struct http_exchange *ex, struct MHD_Connection *conn)
{
	enum MHD_Result ret = MHD_YES;
	bool answered;

	if (ex->queued)
		goto done; /* MHD calls once more in some states; nothing left to do */
	if (ex->hc != NULL) {
		/* The request is in: from here on its handler's bounds apply, not the deadline. */
		pthread_mutex_lock(&ex->srv->conn_mutex);
		ex->hc->receiving = false;
		pthread_mutex_unlock(&ex->srv->conn_mutex);
	}
	pthread_mutex_lock(&ex->mutex);
	answered = ex->responded;
	pthread_mutex_unlock(&ex->mutex);
	if (!answered && !ex->handler_ran) {
		struct http_server *srv = ex->srv;

		/* Counted before the stopping check, which http_server_stop() makes in the
		 * opposite order: either it waits for this exchange or we see it stopping. */
		ex->handler_ran = true;
		atomic_fetch_add(&srv->n_waiting, 1);
		if (atomic_load(&srv->stopping))
			http_exchange_error(ex, 503, "server is shutting down");
		else
			ex->route->handler(ex, ex->route->opaque);
	}
	pthread_mutex_lock(&ex->mutex);
	answered = ex->responded;
	if (!answered) {
		ex->suspended = true;
		MHD_suspend_connection(conn);
	}
	pthread_mutex_unlock(&ex->mutex);
	if (answered)
		ret = http_exchange_queue(ex, conn);
done:
	return ret;
}

static enum MHD_Result http_server_on_access(void *cls, struct MHD_Connection *conn,
                                             const char *url, const char *method,
                                             const char *version, const char *upload_data,
                                             size_t *upload_data_size, void **req_cls)
{
	struct http_exchange *ex = *req_cls;
	enum MHD_Result ret = MHD_NO;

	(void)cls;
	(void)version;
	if (ex == NULL)
		goto done; /* the URI callback ran out of memory */
	if (!ex->started) {
		ret = http_exchange_begin(ex, conn, url, method);
		goto done;
	}
	if (*upload_data_size > 0) {
		ret = http_exchange_receive(ex, upload_data, *upload_data_size);
		*upload_data_size = 0;
		goto done;
	}
	ret = http_exchange_finish(ex, conn);
done:
	return ret;
}

static void http_server_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                                     enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_exchange *ex = *req_cls;
	struct http_conn *hc = http_server_conn_of(conn);
	bool held_elsewhere;

	(void)toe;
	if (hc != NULL) {
		/* Keep-alive: the next request's deadline runs from this answer. */
		pthread_mutex_lock(&srv->conn_mutex);
		hc->since_ms = http_server_now_ms();
		hc->receiving = true;
		pthread_mutex_unlock(&srv->conn_mutex);
	}
	if (ex == NULL)
		goto done;
	*req_cls = NULL;
	pthread_mutex_lock(&ex->mutex);
	/* A handler gave the exchange to another thread that has not answered yet. Only a stop
	 * with requests still suspended could do that, and libmicrohttpd 0.9.75 aborts instead;
	 * should a later one close them, leave the exchange to respond(), which frees it,
	 * rather than free it under the thread holding it. */
	held_elsewhere = ex->handler_ran && !ex->responded;
	if (held_elsewhere) {
		ex->orphaned = true;
		ex->conn = NULL;
	}
	pthread_mutex_unlock(&ex->mutex);
	if (!held_elsewhere)
		http_exchange_free(ex);
	/* The answer has been sent (or the connection is gone): http_server_stop() may go on. */
	atomic_fetch_sub(&srv->n_live, 1);
done:
	return;
}

/* Tracks connections for the request deadline: added when MHD accepts, removed when it closes.
 * MHD sends CLOSED before it closes the socket, so under conn_mutex a listed fd is still ours. */
static void http_server_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                      enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *hc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		hc = calloc(1, sizeof(*hc));
		if (hc == NULL || info == NULL) {
			/* Untracked: only the idle timeout applies to this one. */
			log_warn("http", "cannot track a connection for the request deadline");
			free(hc);
			goto done;
		}
		hc->fd = info->connect_fd;
		hc->since_ms = http_server_now_ms();
		hc->receiving = true;
		pthread_mutex_lock(&srv->conn_mutex);
		hc->next = srv->conns;
		if (srv->conns != NULL)
			srv->conns->prev = hc;
		srv->conns = hc;
		pthread_mutex_unlock(&srv->conn_mutex);
		*socket_context = hc;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && hc != NULL) {
		pthread_mutex_lock(&srv->conn_mutex);
		if (hc->prev != NULL)
			hc->prev->next = hc->next;
		else
			srv->conns = hc->next;
		if (hc->next != NULL)
			hc->next->prev = hc->prev;
		pthread_mutex_unlock(&srv->conn_mutex);
		free(hc);
		*socket_context = NULL;
	}
done:
	return;
}

/*
 * The request deadline. MHD's idle timeout restarts on every byte, so a client trickling a
 * byte a second holds a connection forever; this thread shuts down the sockets of connections
 * whose request has not arrived whole within request_timeout_ms. shutdown(2), not close(2):
 * the descriptor stays MHD's, which sees end-of-file and closes the connection itself.
 */
static void *http_server_watchdog_main(void *arg)
{
	struct http_server *srv = arg;
	long period = srv->request_timeout_ms / 4;

	if (period > HTTP_SERVER_WATCHDOG_MS)
		period = HTTP_SERVER_WATCHDOG_MS;
	if (period < 10)
		period = 10;
	pthread_mutex_lock(&srv->conn_mutex);
	while (!srv->watchdog_stop) {
		struct timespec deadline;
		int64_t now = http_server_now_ms();
		int cut = 0;

		for (struct http_conn *hc = srv->conns; hc != NULL; hc = hc->next) {
			if (hc->receiving && !hc->cut &&
			    now - hc->since_ms > srv->request_timeout_ms) {
				(void)shutdown(hc->fd, SHUT_RDWR);
				hc->cut = true;
				cut++;
			}
		}
		if (cut > 0)
			log_warn("http",
			         "closed %d connections that sent no whole request within %lld ms",
			         cut, (long long)srv->request_timeout_ms);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += period * 1000000L;
		deadline.tv_sec += deadline.tv_nsec / 1000000000L;
		deadline.tv_nsec %= 1000000000L;
		(void)pthread_cond_timedwait(&srv->conn_cond, &srv->conn_mutex, &deadline);
	}
	pthread_mutex_unlock(&srv->conn_mutex);
	return NULL;
}

/*
 * Copies the groups' routes, in order, into one array of ours (*out, malloc'd; NULL when there
 * are none). Bounds-checked: at most HTTP_MAX_ROUTES routes in all. Returns 0, or -1 with errstr.
 */
static int http_server_join_groups(const struct http_route_group *groups, size_t ngroups,
                                   struct http_route **out, size_t *nout, char *errstr,
                                   size_t errstr_size)
{
	struct http_route *all = NULL;
	size_t total = 0, at = 0;
	int rc = -1;

	*out = NULL;
	*nout = 0;
	for (size_t g = 0; g < ngroups; g++) {
		if (groups[g].n > 0 && groups[g].routes == NULL) {
			snprintf(errstr, errstr_size, "route group %zu: %zu routes but no array", g,
			         groups[g].n);
			goto done;
		}
		/* Compared before adding, so that no sum can wrap. */
		if (groups[g].n > HTTP_MAX_ROUTES - total) {
			snprintf(errstr, errstr_size, "more than %d routes (route group %zu)",
			         HTTP_MAX_ROUTES, g);
			goto done;
		}
		total += groups[g].n;
	}
	if (total > 0) {
		all = calloc(total, sizeof(*all));
		if (all == NULL) {
			snprintf(errstr, errstr_size, "http server: out of memory");
			goto done;
		}
	}
	for (size_t g = 0; g < ngroups; g++) {
		if (groups[g].n > 0)
			memcpy(&all[at], groups[g].routes, groups[g].n * sizeof(*all));
		at += groups[g].n;
	}
	*out = all;
	*nout = total;
	all = NULL;
	rc = 0;
done:
	free(all);
	return rc;
}

/* Checks the route table once, so that a bad pattern fails at start-up, not per request. */
static int http_server_check_routes(const struct http_route *routes, size_t n, char *errstr,
                                    size_t errstr_size)
{
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		const struct http_route *r = &routes[i];
		size_t params = 0;

		if (r->method == NULL || r->method[0] == '\0' || r->pattern == NULL ||
		    r->pattern[0] != '/' || r->handler == NULL) {
			snprintf(errstr, errstr_size,
			         "route %zu: method, pattern starting with '/' and handler are "
			         "required",
			         i);
			goto done;
		}
		for (const char *p = r->pattern; *p != '\0'; p++) {
			if (*p == '{')
				params++;
		}
		if (params > HTTP_MAX_PATH_PARAMS) {
			snprintf(errstr, errstr_size, "route %s %s: more than %d path parameters",
			         r->method, r->pattern, HTTP_MAX_PATH_PARAMS);
			goto done;
		}
	}
	rc = 0;
done:
	return rc;
}

/* Starts MHD bound to addr (NULL: all interfaces, dual-stack when ipv6). Returns the daemon. */
static struct MHD_Daemon *http_server_start_daemon(struct http_server *srv,
                                                   const struct http_server_options *opts,
                                                   const struct sockaddr *addr, bool ipv6)
{
	struct MHD_OptionItem items[20];
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	size_t n = 0;

	if (ipv6)
		flags |= (addr == NULL ? MHD_USE_DUAL_STACK : MHD_USE_IPv6);
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
	                                     (intptr_t)http_server_on_mhd_log, srv};
	items[n++] =
	    (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)http_server_on_uri, srv};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
	                                     (intptr_t)http_server_on_completed, srv};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
	                                     (intptr_t)opts->max_connections, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
	                                     (intptr_t)opts->idle_timeout_s, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                                     (intptr_t)HTTP_SERVER_CONN_MEMORY, NULL};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
	                                     (intptr_t)http_server_on_connection, srv};
	if (opts->max_connections_per_client > 0)
		items[n++] =
		    (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		                            (intptr_t)opts->max_connections_per_client, NULL};
	/* A pool of one is the plain internal thread; MHD wants the option only for real pools. */
	if (opts->threads > 1)
		items[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
		                                     (intptr_t)opts->threads, NULL};
	if (addr != NULL)
		items[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)addr};
	if (opts->tls != NULL) {
		flags |= MHD_USE_TLS;
		items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
		                                     (void *)http_tls_cert_pem(opts->tls)};
		items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
		                                     (void *)http_tls_key_pem(opts->tls)};
		items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
		                                     (void *)HTTP_TLS_PRIORITIES};
		/* Makes the handshake ask for a client certificate (not require or check it:
		 * http_server_refuses_client does). */
		if (http_tls_requires_client_cert(opts->tls))
			items[n++] =
			    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
			                            (void *)http_tls_client_ca_pem(opts->tls)};
	}
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

	return MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, http_server_on_access, srv,
	                        MHD_OPTION_ARRAY, items, MHD_OPTION_END);
}

struct http_server *http_server_start(const struct http_server_options *opts,
                                      const struct http_route *routes, size_t n, char *errstr,
                                      size_t errstr_size)
{
	const struct http_route_group group = {routes, n};

	return http_server_start_groups(opts, &group, 1, errstr, errstr_size);
}

/* The browser guard from the options; the bind address and this machine's name are the
 * names allowed by default. Returns -1 with errstr filled (a bad setting). */
static int http_server_new_guard(struct http_server *srv, const struct http_server_options *opts,
                                 char *errstr, size_t errstr_size)
{
	char hostname[256] = "";
	struct http_guard_options go = {
	    .allowed_hosts = opts->allowed_hosts,
	    .cors_origins = opts->cors_origins,
	    .bind_host = opts->host,
	    .hostname = hostname,
	};

	if (gethostname(hostname, sizeof(hostname)) != 0)
		hostname[0] = '\0'; /* then it is simply not a default name */
	hostname[sizeof(hostname) - 1] = '\0';
	srv->guard = http_guard_new(&go, errstr, errstr_size);
	return srv->guard != NULL ? 0 : -1;
}

struct http_server *http_server_start_groups(const struct http_server_options *opts,
                                             const struct http_route_group *groups, size_t ngroups,
                                             char *errstr, size_t errstr_size)
{
	struct http_server *srv = NULL;
	struct http_route *routes = NULL;
	size_t n = 0;
	struct addrinfo *addrs = NULL;
	const union MHD_DaemonInfo *info;
	const char *host = (opts->host != NULL) ? opts->host : "";
	bool mutex_ok = false, conn_mutex_ok = false;

	if (opts->threads < 1 || opts->port < 0 || opts->port > 65535 ||
	    opts->max_connections < (unsigned)opts->threads) {
		/* MHD splits the connection limit across the pool's threads: each needs one. */
		snprintf(errstr, errstr_size,
		         "http server: need threads >= 1, port 0-65535 and max_connections >= "
		         "threads (got threads=%d port=%d max_connections=%u)",
		         opts->threads, opts->port, opts->max_connections);
		goto fail;
	}
	if (http_server_join_groups(groups, ngroups, &routes, &n, errstr, errstr_size) != 0)
		goto fail;
	if (http_server_check_routes(routes, n, errstr, errstr_size) != 0)
		goto fail;
	(void)pthread_once(&http_server_panic_once, http_server_set_panic_func);
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		snprintf(errstr, errstr_size, "http server: out of memory");
		goto fail;
	}
	srv->routes = routes;
	routes = NULL; /* the server's now */
	srv->n_routes = n;
	srv->max_body_bytes = opts->max_body_bytes;
	srv->requests_total = opts->requests_total;
	srv->max_json_values = opts->max_json_values;
	srv->route_limits = opts->route_limits;
	srv->n_route_limits = opts->n_route_limits;
	srv->max_json_depth = opts->max_json_depth;
	srv->authenticate = opts->authenticate;
	srv->auth_opaque = opts->auth_opaque;
	srv->request_timeout_ms = (int64_t)opts->request_timeout_s * 1000;
	srv->tls = opts->tls;
	srv->quiesced_fd = MHD_INVALID_SOCKET;
	if (opts->browser_guard && http_server_new_guard(srv, opts, errstr, errstr_size) != 0)
		goto fail;
	atomic_init(&srv->n_live, 0);
	atomic_init(&srv->n_waiting, 0);
	atomic_init(&srv->stopping, false);
	if (pthread_mutex_init(&srv->start_mutex, NULL) != 0) {
		snprintf(errstr, errstr_size, "http server: cannot create a mutex");
		goto fail;
	}
	mutex_ok = true;
	if (pthread_mutex_init(&srv->conn_mutex, NULL) != 0) {
		snprintf(errstr, errstr_size, "http server: cannot create a mutex");
		goto fail;
	}
	if (pthread_cond_init(&srv->conn_cond, NULL) != 0) {
		pthread_mutex_destroy(&srv->conn_mutex);
		snprintf(errstr, errstr_size, "http server: cannot create a condition variable");
		goto fail;
	}
	conn_mutex_ok = true;
	srv->capturing = true;
	snprintf(srv->start_error, sizeof(srv->start_error), "libmicrohttpd failed to start");

	if (host[0] != '\0') {
		struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
		                         .ai_family = AF_UNSPEC,
		                         .ai_socktype = SOCK_STREAM};
		char service[16];
		int gai;

		snprintf(service, sizeof(service), "%d", opts->port);
		gai = getaddrinfo(host, service, &hints, &addrs);
		if (gai != 0) {
			snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", host,
			         opts->port, gai_strerror(gai));
			goto fail;
		}
		/* "localhost" may give ::1 then 127.0.0.1: take the first that binds. */
		for (struct addrinfo *ai = addrs; ai != NULL && srv->daemon == NULL;
		     ai = ai->ai_next) {
			if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
				srv->daemon = http_server_start_daemon(srv, opts, ai->ai_addr,
				                                       ai->ai_family == AF_INET6);
		}
	} else {
		/* Dual-stack first; hosts without IPv6 get IPv4 only. */
		srv->daemon = http_server_start_daemon(srv, opts, NULL, true);
		if (srv->daemon == NULL)
			srv->daemon = http_server_start_daemon(srv, opts, NULL, false);
	}
	pthread_mutex_lock(&srv->start_mutex);
	srv->capturing = false;
	pthread_mutex_unlock(&srv->start_mutex);
	if (srv->daemon == NULL) {
		snprintf(errstr, errstr_size, "cannot listen on %s:%d: %s", host, opts->port,
		         srv->start_error);
		goto fail;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = (info != NULL && info->port != 0) ? (int)info->port : opts->port;
	if (srv->request_timeout_ms > 0) {
		int err = pthread_create(&srv->watchdog, NULL, http_server_watchdog_main, srv);

		if (err != 0) {
			snprintf(errstr, errstr_size, "http server: cannot start a thread: %s",
			         strerror(err));
			MHD_stop_daemon(srv->daemon);
			goto fail;
		}
		srv->watchdog_running = true;
	}
	goto done;
fail:
	if (srv != NULL) {
		if (conn_mutex_ok) {
			pthread_cond_destroy(&srv->conn_cond);
			pthread_mutex_destroy(&srv->conn_mutex);
		}
		if (mutex_ok)
			pthread_mutex_destroy(&srv->start_mutex);
		http_guard_destroy(srv->guard);
		free(srv->routes);
		free(srv);
		srv = NULL;
	}
done:
	free(routes); /* NULL unless the server never took them */
	if (addrs != NULL)
		freeaddrinfo(addrs);
	return srv;
}

int http_server_port(const struct http_server *srv)
{
	return srv->port;
}

void http_server_quiesce(struct http_server *srv)
{
	if (srv == NULL || srv->daemon == NULL || srv->quiesced_fd != MHD_INVALID_SOCKET)
		goto done;
	srv->quiesced_fd = MHD_quiesce_daemon(srv->daemon);
	/* MHD's threads may still hold the descriptor, so it is closed only after
	 * MHD_stop_daemon. shutdown() on a listening socket makes Linux stop listening now:
	 * pending and new connection attempts are refused instead of waiting in the backlog. */
	if (srv->quiesced_fd != MHD_INVALID_SOCKET)
		(void)shutdown(srv->quiesced_fd, SHUT_RDWR);
done:
	return;
}

void http_server_stop(struct http_server *srv)
{
	int waited_ms = 0;
	int live, waiting;

	if (srv == NULL)
		goto done;
	/* No new connections, no new handlers (requests arriving now get 503), and a moment for
	 * the requests in progress to be answered and their answers sent (a batch in flight
	 * during shutdown): MHD_stop_daemon closes every connection at once, answered or not,
	 * and aborts the process if one is still suspended. */
	http_server_quiesce(srv);
	atomic_store(&srv->stopping, true);
	live = atomic_load(&srv->n_live);
	if (live > 0)
		log_info("http", "stopping: waiting for %d requests in progress", live);
	while (live > 0 && waited_ms < HTTP_SERVER_STOP_WAIT_MS) {
		usleep(10 * 1000);
		waited_ms += 10;
		live = atomic_load(&srv->n_live);
	}
	waiting = atomic_load(&srv->n_waiting);
	if (waiting > 0)
		log_error("http",
		          "stopping with %d requests never answered: libmicrohttpd will abort",
		          waiting);
	else if (live > 0)
		log_warn("http", "stopping: closing %d connections in the middle of a request",
		         live);
	if (srv->watchdog_running) {
		pthread_mutex_lock(&srv->conn_mutex);
		srv->watchdog_stop = true;
		pthread_cond_signal(&srv->conn_cond);
		pthread_mutex_unlock(&srv->conn_mutex);
		pthread_join(srv->watchdog, NULL);
	}
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon); /* closes every connection: the list empties */
	if (srv->quiesced_fd != MHD_INVALID_SOCKET)
		close(srv->quiesced_fd);
	pthread_cond_destroy(&srv->conn_cond);
	pthread_mutex_destroy(&srv->conn_mutex);
	pthread_mutex_destroy(&srv->start_mutex);
	http_guard_destroy(srv->guard);
	free(srv->routes);
	free(srv);
done:
	return;
}

int http_exchange_param_id(struct http_exchange *ex, const char *name, const char *what,
                           int64_t *out)
{
	const char *text = http_exchange_param(ex, name);
	long long v = 0;

	if (http_path_parse_ll(text, false, &v) != 0 || v <= 0) {
		http_exchange_error(ex, 400, "%s must be a positive integer, not '%.40s'", what,
		                    text ? text : "");
		return -1;
	}
	*out = v;
	return 0;
}

int http_exchange_query_int(struct http_exchange *ex, const char *name, long long def,
                            long long min, long long max, long long *out)
{
	const char *text = http_exchange_query(ex, name);
	long long v;

	if (text == NULL || *text == '\0') {
		*out = def;
		return 0;
	}
	if (http_path_parse_ll(text, min < 0, &v) != 0 || v < min || v > max) {
		http_exchange_error(ex, 400,
		                    "query parameter %s must be an integer from %lld to %lld", name,
		                    min, max);
		return -1;
	}
	*out = v;
	return 0;
}
