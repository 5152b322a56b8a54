/*
 * http_guard.h - browser safety: which requests a ferry service refuses before routing them,
 * from the method and the Content-Type, Host and Origin headers alone.
 *
 * The threat is a web page in the operator's browser, on another site, talking to a service on
 * 127.0.0.1 or an internal address:
 *   - cross-site request forgery: a page may POST a text/plain or form body to any address
 *     without asking (a "simple" request), and such a body used to be parsed as JSON. Only a
 *     request the browser lets the page send after a CORS preflight may carry
 *     Content-Type: application/json, so POST, PUT, PATCH and DELETE must carry it: 415
 *     otherwise, with or without a body (a body-less POST still triggers a re-drive).
 *   - DNS rebinding: the page's own name made to resolve to 127.0.0.1 turns it into a
 *     same-origin page of the service; its requests then carry Host: <the page's name>. Hosts
 *     that are not allowed get 421 Misdirected Request ("this server does not answer for that
 *     name", RFC 9110 15.5.20), not 400: the request is well formed, only sent to the wrong
 *     name. An IP address literal or "localhost" is always allowed: a rebinding page's Host is
 *     its own DNS name, never those.
 *   - cross-origin reads: a request whose Origin is neither the service's own origin (same
 *     host and port as its Host header) nor a configured CORS origin is refused with 403,
 *     whatever its method. A configured origin's requests are answered with
 *     Access-Control-Allow-Origin and Vary: Origin, and its preflights (OPTIONS with
 *     Access-Control-Request-Method) with 204.
 * The checks run in that order: Host, then Origin (and preflight), then Content-Type.
 *
 * Pure: no I/O, no globals, no locale. The service passes in its host name and bind address.
 */
#ifndef FERRY_HTTP_GUARD_H
#define FERRY_HTTP_GUARD_H

#include <stdbool.h>
#include <stddef.h>

struct http_guard; /* parsed settings; immutable once built */

struct http_guard_options {
	const char *allowed_hosts; /* FERRY_ALLOWED_HOSTS: comma-separated host names (no port),
	                            * "*" for any; NULL or "" = bind_host and hostname */
	const char *cors_origins;  /* FERRY_CORS_ORIGINS: comma-separated scheme://host[:port];
	                            * NULL or "" = none */
	const char *bind_host;     /* the bind address (a default allowed name); may be NULL */
	const char *hostname;      /* the machine's host name (a default allowed name); may be
	                            * NULL */
};

/* What a request shows the guard. Each string is the header's value, NULL when absent. */
struct http_guard_request {
	const char *method;       /* "POST" */
	const char *content_type; /* Content-Type */
	const char *host;         /* Host */
	const char *origin;       /* Origin */
	const char *preflight;    /* Access-Control-Request-Method (an OPTIONS preflight) */
};

enum http_guard_action {
	HTTP_GUARD_PASS,      /* route it as usual */
	HTTP_GUARD_REFUSE,    /* answer status with {"error": error} */
	HTTP_GUARD_PREFLIGHT, /* answer 204 with the HTTP_GUARD_PREFLIGHT_* headers */
};

#define HTTP_GUARD_PREFLIGHT_METHODS "GET, POST, PUT, DELETE"
#define HTTP_GUARD_PREFLIGHT_HEADERS "Authorization, Content-Type"
#define HTTP_GUARD_PREFLIGHT_MAX_AGE "600"

struct http_guard_verdict {
	enum http_guard_action action;
	int status;      /* REFUSE: 415, 421 or 403; PREFLIGHT: 204; PASS: 0 */
	char error[192]; /* REFUSE: the message for {"error": ...}; else "" */
	bool cors;       /* answer with Access-Control-Allow-Origin: <the request's Origin> and
	                  * Vary: Origin (a configured cross-origin request) */
};

/*
 * Parses the options into a guard. Returns it (the caller frees it with http_guard_destroy),
 * or NULL with errstr filled with one readable line: "FERRY_CORS_ORIGINS: 'x' is not an origin
 * (scheme://host[:port])", or out of memory. The strings are copied. Any thread.
 */
struct http_guard *http_guard_new(const struct http_guard_options *opts, char *errstr,
                                  size_t errstr_size);

/* Checks the two settings as http_guard_new would, at start-up, before anything else starts.
 * Returns 0, or -1 with errstr filled as http_guard_new does. */
int http_guard_validate(const char *allowed_hosts, const char *cors_origins, char *errstr,
                        size_t errstr_size) __attribute__((warn_unused_result));

/* Frees the guard. NULL is a no-op. */
void http_guard_destroy(struct http_guard *g);

/* Decides what to do with the request. Any thread, concurrently (the guard is read only). */
void http_guard_check(const struct http_guard *g, const struct http_guard_request *req,
                      struct http_guard_verdict *v);

/* Whether value is Content-Type application/json, parameters allowed ("; charset=utf-8"),
 * the media type compared case-insensitively. */
bool http_guard_is_json(const char *content_type);

#endif
