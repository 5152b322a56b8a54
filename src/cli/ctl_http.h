/*
 * ctl_http.h - ferryctl's client of the producer's REST API, over common/http_client.c: the
 * base URL, JSON in and out, and errors turned into the one line ferryctl prints.
 *
 * One struct ctl_http per process (ferryctl is single-threaded); it owns its CURL handle, so
 * consecutive requests reuse the connection. curl_global_init must have been called.
 */
#ifndef FERRY_CTL_HTTP_H
#define FERRY_CTL_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>

#include "common/strbuf.h"

struct ctl_http {
	CURL *curl;          /* owned */
	char base_url[1024]; /* "http://host:port" with any trailing '/' removed */
	long timeout_ms;     /* per request */
	char actor[160];     /* "X-Ferry-Actor: ferryctl/<user>": who asked, when the producer runs
	                      * without API keys (with keys, the key's name is recorded) */
	char *auth_header;   /* "Authorization: Bearer <token>" (owned), or NULL: no token */
};

/*
 * Checks that `base_url` is an http:// or https:// URL and prepares the client. Returns 0, or -1
 * with errstr naming the URL (and h left safe to ctl_http_close).
 */
int ctl_http_open(struct ctl_http *h, const char *base_url, long timeout_ms, char *errstr,
                  size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Sends `token` (--token / FERRY_TOKEN; NULL or "" for none) as "Authorization: Bearer" on every
 * later request. Returns 0, or -1 when out of memory. The token is never printed.
 */
int ctl_http_set_token(struct ctl_http *h, const char *token) __attribute__((warn_unused_result));

/* Releases the handle. Safe on a zeroed or failed struct. */
void ctl_http_close(struct ctl_http *h);

/*
 * Sends `method` base_url + `path` (which starts with '/' and carries any query string, already
 * escaped) with the JSON `body` (NULL: none; POST and PUT without one send "{}"). Does not take
 * ownership of body.
 * On an answer returns the HTTP status and sets *reply to the parsed JSON body (a new reference
 * the caller decrefs; NULL when the body is empty or not JSON). On a transport failure returns
 * -1 with errstr "cannot reach <base url>: <reason>" and *reply NULL.
 */
long ctl_http_request(struct ctl_http *h, const char *method, const char *path, json_t *body,
                      json_t **reply, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * As ctl_http_request, but anything other than a 2xx is a failure too: returns the 2xx status
 * with *reply set, or -1 with errstr "<METHOD> <path>: HTTP <status>: <the API's error text>"
 * (or the transport failure) and *reply NULL.
 */
long ctl_http_call(struct ctl_http *h, const char *method, const char *path, json_t *body,
                   json_t **reply, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Escapes `text` for use as one path segment or query value (RFC 3986 unreserved characters
 * pass unchanged). Returns a string the caller frees with free(), or NULL when out of memory.
 */
char *ctl_http_escape(const char *text);

/*
 * Appends "?name=value" (or "&name=value" when sb already holds a '?') to the path in sb, the
 * value escaped. A NULL value appends nothing.
 */
void ctl_http_query_add(struct strbuf *sb, const char *name, const char *value);

#endif
