/*
 * http_guard.c - browser safety checks on a request's headers (see http_guard.h).
 *
 * Names and origins are compared in one normal form, made once for the settings and once per
 * request: lower case, no trailing dot on the host, and an origin always with its port
 * ("http://localhost" is "http://localhost:80"), so that the forms a browser or an operator
 * may write for the same origin compare equal.
 */
#include "common/http_guard.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_GUARD_NAME_MAX   256 /* a DNS name is at most 253 characters */
#define HTTP_GUARD_ORIGIN_MAX 300 /* scheme://name:port */

struct http_guard {
	bool any_host; /* FERRY_ALLOWED_HOSTS=* */
	char **hosts;  /* allowed names, normal form */
	size_t n_hosts;
	char **origins; /* FERRY_CORS_ORIGINS, normal form */
	size_t n_origins;
};

static char guard_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* A host name or IP literal character; anything else (space, '@', '/', controls) is refused. */
static bool guard_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']';
}

/*
 * Splits an authority "name[:port]" ("[::1]:80" for IPv6) of len bytes into its name, in normal
 * form, and its port digits. Returns false when it is not one (empty name, bad characters, a
 * port that is not 1-65535).
 */
static bool guard_split_authority(const char *a, size_t len, char *name, size_t name_size,
                                  char *port, size_t port_size)
{
	size_t name_len, i;
	const char *colon = NULL;
	bool ok = false;

	for (i = 0; i < len; i++) {
		if (!guard_name_char(a[i]))
			goto done;
	}
	if (len > 0 && a[0] == '[') {
		const char *close = memchr(a, ']', len);

		if (close == NULL)
			goto done;
		name_len = (size_t)(close - a) + 1;
		if (name_len < len) {
			if (a[name_len] != ':')
				goto done;
			colon = a + name_len;
		}
	} else {
		colon = memchr(a, ':', len);
		name_len = colon != NULL ? (size_t)(colon - a) : len;
	}
	if (name_len > 1 && a[name_len - 1] == '.')
		name_len--; /* "localhost." is "localhost" */
	if (name_len == 0 || name_len >= name_size)
		goto done;
	for (i = 0; i < name_len; i++)
		name[i] = guard_lower(a[i]);
	name[name_len] = '\0';
	port[0] = '\0';
	if (colon != NULL) {
		size_t plen = len - (size_t)(colon + 1 - a);
		long value = 0;

		if (plen == 0 || plen > 5 || plen >= port_size)
			goto done;
		for (i = 0; i < plen; i++) {
			char c = colon[1 + i];

			if (c < '0' || c > '9')
				goto done;
			value = value * 10 + (c - '0');
		}
		if (value < 1 || value > 65535)
			goto done;
		snprintf(port, port_size, "%ld", value); /* "0080" is 80 */
	}
	ok = true;
done:
	return ok;
}

/*
 * Writes the normal form "scheme://name:port" of origin `o` (len bytes) into out. The port is
 * made explicit for http (80) and https (443). Returns false when `o` is not an origin.
 */
static bool guard_norm_origin(const char *o, size_t len, char *out, size_t size)
{
	char name[HTTP_GUARD_NAME_MAX], port[8], scheme[16];
	const char *sep = NULL;
	size_t slen, i;
	bool ok = false;

	for (i = 0; i + 2 < len; i++) {
		if (o[i] == ':' && o[i + 1] == '/' && o[i + 2] == '/') {
			sep = o + i;
			break;
		}
	}
	if (sep == NULL)
		goto done;
	slen = (size_t)(sep - o);
	if (slen == 0 || slen >= sizeof(scheme))
		goto done;
	for (i = 0; i < slen; i++) {
		char c = guard_lower(o[i]);

		if (!((c >= 'a' && c <= 'z') ||
		      (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))))
			goto done;
		scheme[i] = c;
	}
	scheme[slen] = '\0';
	if (!guard_split_authority(sep + 3, len - slen - 3, name, sizeof(name), port, sizeof(port)))
		goto done;
	if (port[0] == '\0') {
		if (strcmp(scheme, "http") == 0)
			snprintf(port, sizeof(port), "80");
		else if (strcmp(scheme, "https") == 0)
			snprintf(port, sizeof(port), "443");
	}
	ok = (size_t)snprintf(out, size, "%s://%s:%s", scheme, name, port) < size;
done:
	return ok;
}

/* Whether name (normal form) is an IPv4 or bracketed IPv6 address literal. */
static bool guard_is_ip_literal(const char *name)
{
	unsigned char addr[16];
	char inner[HTTP_GUARD_NAME_MAX];
	size_t len = strlen(name);

	if (inet_pton(AF_INET, name, addr) == 1)
		return true;
	if (len < 3 || name[0] != '[' || name[len - 1] != ']')
		return false;
	snprintf(inner, sizeof(inner), "%.*s", (int)(len - 2), name + 1);
	return inet_pton(AF_INET6, inner, addr) == 1;
}

/* Appends a copy of s to *list. Returns -1 when out of memory. */
static int guard_push(char ***list, size_t *n, const char *s)
{
	char **grown = realloc(*list, (*n + 1) * sizeof(**list));
	int rc = -1;

	if (grown == NULL)
		goto done;
	*list = grown;
	grown[*n] = strdup(s);
	if (grown[*n] == NULL)
		goto done;
	(*n)++;
	rc = 0;
done:
	return rc;
}

/* Adds every entry of the comma-separated `text` (spaces around entries ignored) to the
 * guard's hosts (origins false) or origins. Returns -1 with errstr filled. */
static int guard_parse_list(struct http_guard *g, const char *text, bool origins, char *errstr,
                            size_t errstr_size)
{
	const char *setting = origins ? "FERRY_CORS_ORIGINS" : "FERRY_ALLOWED_HOSTS";
	const char *p = text;
	int rc = -1;

	while (*p != '\0') {
		char norm[HTTP_GUARD_ORIGIN_MAX], port[8];
		size_t len;
		bool ok;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, ",");
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0)
			continue;
		if (!origins && len == 1 && p[0] == '*') {
			g->any_host = true;
			ok = true;
		} else if (origins) {
			ok = guard_norm_origin(p, len, norm, sizeof(norm)) &&
			     guard_push(&g->origins, &g->n_origins, norm) == 0;
		} else {
			/* A name only: the port of the Host header is not compared. */
			ok = memchr(p, ':', len) == NULL || p[0] == '[';
			ok =
			    ok &&
			    guard_split_authority(p, len, norm, sizeof(norm), port, sizeof(port)) &&
			    port[0] == '\0' && guard_push(&g->hosts, &g->n_hosts, norm) == 0;
		}
		if (!ok) {
			snprintf(errstr, errstr_size, "%s: '%.*s' is not %s", setting, (int)len, p,
			         origins ? "an origin (scheme://host[:port], no path)"
			                 : "a host name (no port, no scheme)");
			goto done;
		}
		p += len;
	}
	rc = 0;
done:
	return rc;
}

struct http_guard *http_guard_new(const struct http_guard_options *opts, char *errstr,
                                  size_t errstr_size)
{
	struct http_guard *g = calloc(1, sizeof(*g));
	const char *hosts = opts->allowed_hosts;
	bool ok = false;

	if (g == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		goto done;
	}
	if (hosts != NULL && hosts[0] != '\0') {
		if (guard_parse_list(g, hosts, false, errstr, errstr_size) != 0)
			goto done;
	} else {
		/* The names this service is reached by without configuration. A bind address of
		 * all interfaces ("", "0.0.0.0", "::") is no name anyone sends. */
		const char *defaults[] = {opts->bind_host, opts->hostname};

		for (size_t i = 0; i < 2; i++) {
			char name[HTTP_GUARD_NAME_MAX], port[8];
			const char *d = defaults[i];

			if (d == NULL || d[0] == '\0' || strcmp(d, "0.0.0.0") == 0 ||
			    strcmp(d, "::") == 0)
				continue;
			if (!guard_split_authority(d, strlen(d), name, sizeof(name), port,
			                           sizeof(port)))
				continue; /* an IPv6 bind address unbracketed: an IP literal anyway
				           */
			if (guard_push(&g->hosts, &g->n_hosts, name) != 0) {
				snprintf(errstr, errstr_size, "out of memory");
				goto done;
			}
		}
	}
	if (opts->cors_origins != NULL &&
	    guard_parse_list(g, opts->cors_origins, true, errstr, errstr_size) != 0)
		goto done;
	ok = true;
done:
	if (!ok) {
		http_guard_destroy(g);
		g = NULL;
	}
	return g;
}

int http_guard_validate(const char *allowed_hosts, const char *cors_origins, char *errstr,
                        size_t errstr_size)
{
	struct http_guard_options o = {.allowed_hosts = allowed_hosts,
	                               .cors_origins = cors_origins};
	struct http_guard *g = http_guard_new(&o, errstr, errstr_size);

	http_guard_destroy(g);
	return g != NULL ? 0 : -1;
}

void http_guard_destroy(struct http_guard *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n_hosts; i++)
		free(g->hosts[i]);
	for (size_t i = 0; i < g->n_origins; i++)
		free(g->origins[i]);
	free(g->hosts);
	free(g->origins);
	free(g);
}

bool http_guard_is_json(const char *ct)
{
	static const char json[] = "application/json";
	size_t i;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (i = 0; json[i] != '\0'; i++) {
		if (guard_lower(ct[i]) != json[i])
			return false;
	}
	ct += i;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static bool guard_host_allowed(const struct http_guard *g, const char *name)
{
	if (g->any_host || strcmp(name, "localhost") == 0 || guard_is_ip_literal(name))
		return true;
	for (size_t i = 0; i < g->n_hosts; i++) {
		if (strcmp(g->hosts[i], name) == 0)
			return true;
	}
	return false;
}

static bool guard_origin_listed(const struct http_guard *g, const char *norm)
{
	for (size_t i = 0; i < g->n_origins; i++) {
		if (strcmp(g->origins[i], norm) == 0)
			return true;
	}
	return false;
}

/* Whether origin (normal form) is the service's own: its scheme with the Host header's name
 * and port. A port serves one scheme, so the origin's scheme is taken as given. */
static bool guard_same_origin(const char *norm, const char *host)
{
	char own[HTTP_GUARD_ORIGIN_MAX + 16], own_norm[HTTP_GUARD_ORIGIN_MAX];
	const char *sep = strstr(norm, "://");
	int n;

	if (host == NULL || sep == NULL)
		return false;
	n = snprintf(own, sizeof(own), "%.*s://%s", (int)(sep - norm), norm, host);
	if (n < 0 || (size_t)n >= sizeof(own))
		return false;
	return guard_norm_origin(own, (size_t)n, own_norm, sizeof(own_norm)) &&
	       strcmp(own_norm, norm) == 0;
}

static void guard_refuse(struct http_guard_verdict *v, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void guard_refuse(struct http_guard_verdict *v, int status, const char *fmt, ...)
{
	va_list ap;

	v->action = HTTP_GUARD_REFUSE;
	v->status = status;
	va_start(ap, fmt);
	vsnprintf(v->error, sizeof(v->error), fmt, ap);
	va_end(ap);
}

void http_guard_check(const struct http_guard *g, const struct http_guard_request *req,
                      struct http_guard_verdict *v)
{
	const char *m = req->method != NULL ? req->method : "";
	char name[HTTP_GUARD_NAME_MAX], port[8], norm[HTTP_GUARD_ORIGIN_MAX];

	memset(v, 0, sizeof(*v));
	v->action = HTTP_GUARD_PASS;
	/* No Host at all: only HTTP/1.0 clients omit it (libmicrohttpd refuses HTTP/1.1 without
	 * it), and a browser, the only client rebinding fools, always sends it. */
	if (req->host != NULL) {
		if (!guard_split_authority(req->host, strlen(req->host), name, sizeof(name), port,
		                           sizeof(port))) {
			guard_refuse(v, 400, "invalid Host header '%.64s'", req->host);
			goto done;
		}
		if (!guard_host_allowed(g, name)) {
			guard_refuse(v, 421,
			             "host '%.64s' is not served here (allowed names: "
			             "FERRY_ALLOWED_HOSTS)",
			             name);
			goto done;
		}
	}
	if (req->origin != NULL) {
		bool valid =
		    guard_norm_origin(req->origin, strlen(req->origin), norm, sizeof(norm));
		bool listed = valid && guard_origin_listed(g, norm);

		if (!listed && !(valid && guard_same_origin(norm, req->host))) {
			guard_refuse(v, 403,
			             "cross-origin request from '%.80s' refused (allowed origins: "
			             "FERRY_CORS_ORIGINS)",
			             req->origin);
			goto done;
		}
		v->cors = listed;
		if (strcmp(m, "OPTIONS") == 0 && req->preflight != NULL) {
			v->action = HTTP_GUARD_PREFLIGHT;
			v->status = 204;
			goto done;
		}
	}
	if ((strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0 ||
	     strcmp(m, "DELETE") == 0) &&
	    !http_guard_is_json(req->content_type)) {
		bool cors = v->cors; /* an allowed page may read why */

		guard_refuse(v, 415, "%s", "Content-Type must be application/json");
		v->cors = cors;
	}
done:
	return;
}
