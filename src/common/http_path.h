/*
 * http_path.h - the request target as the HTTP server routes it: the path split into
 * percent-decoded segments, matched against route patterns ("/api/topics/{name}/groups"), and
 * decimal numbers read from path parameters and query arguments.
 *
 * Pure functions (no I/O, no locks): split out of http_server.c so that they are unit-tested and
 * fuzzed (tests/fuzz/fuzz_http_path.c) without a connection. One struct http_path per request.
 */
#ifndef FERRY_HTTP_PATH_H
#define FERRY_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Longest path (in segments) we try to route; longer paths get 404. */
#define HTTP_PATH_MAX_SEGMENTS 32

struct http_path {
	char *buf;                                /* decoded segments, NUL-separated (owned) */
	const char *segs[HTTP_PATH_MAX_SEGMENTS]; /* point into buf */
	size_t seg_lens[HTTP_PATH_MAX_SEGMENTS];  /* decoded lengths */
	size_t n_segs;
	bool ok; /* the target split into segments (else no route can match) */
};

/* One {name} capture of a matched pattern. */
struct http_path_param {
	const char *name; /* points into the route pattern, not NUL-terminated */
	size_t name_len;
	const char *value; /* decoded segment, in the http_path's buffer */
};

/*
 * Splits the raw target `uri` (up to '?' or '#') into segments and percent-decodes each one
 * separately, so an encoded "/" stays inside its segment. One trailing slash is ignored. Leaves
 * p->ok false for targets that are not origin-form ("*", "http://...") or have more than
 * HTTP_PATH_MAX_SEGMENTS segments, and for segments that decode to a NUL byte (they could not be
 * passed on as C strings). Returns 0 (free with http_path_clear), or -1 when out of memory.
 */
int http_path_split(struct http_path *p, const char *uri) __attribute__((warn_unused_result));

/* Frees what http_path_split allocated; *p is then empty. */
void http_path_clear(struct http_path *p);

/*
 * Whether `pattern` (starting with '/') matches the split path. When params is not NULL, up to
 * max_params {name} captures are stored there and their count in *n_params.
 */
bool http_path_matches(const struct http_path *p, const char *pattern,
                       struct http_path_param *params, size_t max_params, size_t *n_params);

/*
 * Reads `text` as a decimal number: digits only (an optional leading '-' when allow_negative),
 * no spaces, no overflow. Returns 0 with *out set, or -1 (NULL, empty, junk, out of range).
 */
int http_path_parse_ll(const char *text, bool allow_negative, long long *out)
    __attribute__((warn_unused_result));

#endif
