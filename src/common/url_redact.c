/*
 * url_redact.c - see url_redact.h. The parse follows RFC 3986's shape (scheme "://" authority,
 * the authority ending at the first '/', '?' or '#', userinfo before its last '@') and libcurl's
 * reading of it, so the host shown is the host libcurl connects to. Anything it cannot read
 * strictly is junk: showing nothing is safe, guessing is not.
 */
#include "common/url_redact.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define URL_REDACT_HOST_MAX    255
#define URL_REDACT_MAX_NEEDLES 32

struct url_span {
	const char *p;
	size_t n;
};

/* The parts of a URL, as spans into its text (n = 0: absent). */
struct url_parts {
	struct url_span scheme, userinfo, password, host, port, rest, path, query, fragment;
};

static bool url_redact_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool url_redact_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool url_redact_hex(char c)
{
	return url_redact_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A registered name or IPv4 address: letters, digits, '-', '.', '_', '~'. */
static bool url_redact_host_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > URL_REDACT_HOST_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!url_redact_alpha(p[i]) && !url_redact_digit(p[i]) && p[i] != '-' &&
		    p[i] != '.' && p[i] != '_' && p[i] != '~')
			return false;
	return true;
}

/* "[...]" holding hex digits, ':' and '.', with an optional zone "%25<name>" (RFC 6874). */
static bool url_redact_ipv6_ok(const char *p, size_t n)
{
	size_t i = 1;
	bool colon = false;

	if (n < 4 || n > URL_REDACT_HOST_MAX || p[0] != '[' || p[n - 1] != ']')
		return false;
	for (; i < n - 1 && p[i] != '%'; i++) {
		if (p[i] == ':')
			colon = true;
		else if (!url_redact_hex(p[i]) && p[i] != '.')
			return false;
	}
	if (i < n - 1) { /* the zone */
		if (n - 1 - i < 4 || strncmp(p + i, "%25", 3) != 0 ||
		    !url_redact_host_ok(p + i + 3, n - 1 - i - 3))
			return false;
	}
	return colon;
}

static bool url_redact_port_ok(const char *p, size_t n)
{
	long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return false;
	for (i = 0; i < n; i++) {
		if (!url_redact_digit(p[i]))
			return false;
		v = v * 10 + (p[i] - '0');
	}
	return v <= 65535;
}

static int url_redact_parse(const char *url, struct url_parts *u)
{
	const char *s = url, *auth, *end, *at = NULL, *hp, *q;
	size_t i;

	memset(u, 0, sizeof(*u));
	if (url == NULL || !url_redact_alpha(s[0]))
		return -1;
	for (i = 1; url_redact_alpha(s[i]) || url_redact_digit(s[i]) || s[i] == '+' ||
	            s[i] == '-' || s[i] == '.';
	     i++)
		;
	if (strncmp(s + i, "://", 3) != 0)
		return -1;
	u->scheme = (struct url_span){s, i};
	auth = s + i + 3;
	end = auth + strcspn(auth, "/?#");
	for (q = auth; q < end; q++)
		if (*q == '@')
			at = q;
	hp = auth;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));

		u->userinfo = (struct url_span){auth, (size_t)(at - auth)};
		if (colon)
			u->password = (struct url_span){colon + 1, (size_t)(at - colon - 1)};
		hp = at + 1;
	}
	if (*hp == '[') {
		const char *close = memchr(hp, ']', (size_t)(end - hp));

		if (close == NULL || !url_redact_ipv6_ok(hp, (size_t)(close - hp + 1)))
			return -1;
		u->host = (struct url_span){hp, (size_t)(close - hp + 1)};
		q = close + 1;
		if (q < end && *q != ':')
			return -1;
	} else {
		q = memchr(hp, ':', (size_t)(end - hp));
		if (q == NULL)
			q = end;
		if (!url_redact_host_ok(hp, (size_t)(q - hp)))
			return -1;
		u->host = (struct url_span){hp, (size_t)(q - hp)};
	}
	if (q < end) { /* ":port"; an empty port ("host:") is allowed and dropped */
		u->port = (struct url_span){q + 1, (size_t)(end - q - 1)};
		if (u->port.n > 0 && !url_redact_port_ok(u->port.p, u->port.n))
			return -1;
	}
	u->rest = (struct url_span){end, strlen(end)};
	u->path = (struct url_span){end, strcspn(end, "?#")};
	q = end + u->path.n;
	if (*q == '?') {
		u->query = (struct url_span){q + 1, strcspn(q + 1, "#")};
		q += 1 + u->query.n;
	}
	if (*q == '#')
		u->fragment = (struct url_span){q + 1, strlen(q + 1)};
	return 0;
}

int url_redact(const char *url, char *out, size_t out_size)
{
	struct url_parts u;
	int n;

	if (url_redact_parse(url, &u) != 0)
		goto invalid;
	if (u.port.n > 0)
		n = snprintf(out, out_size, "%.*s://%.*s:%.*s", (int)u.scheme.n, u.scheme.p,
		             (int)u.host.n, u.host.p, (int)u.port.n, u.port.p);
	else
		n = snprintf(out, out_size, "%.*s://%.*s", (int)u.scheme.n, u.scheme.p,
		             (int)u.host.n, u.host.p);
	if (n >= 0 && (size_t)n < out_size)
		return 0;
invalid:
	if (out_size > 0)
		snprintf(out, out_size, "%s", URL_REDACT_INVALID);
	return -1;
}

/* A text to find and what to put in its place. */
struct url_needle {
	struct url_span find;
	const char *with;
};

static void url_redact_add(struct url_needle *v, size_t *n, struct url_span find, const char *with,
                           size_t min_len)
{
	if (find.n >= min_len && find.n > 0 && *n < URL_REDACT_MAX_NEEDLES)
		v[(*n)++] = (struct url_needle){find, with};
}

/* Each value of the query ("a=SECRET&b=..." gives SECRET), which may be echoed alone. */
static void url_redact_add_query_values(struct url_needle *v, size_t *n, struct url_span query)
{
	const char *p = query.p, *end = query.p + query.n;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;

		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq)
			url_redact_add(v, n, (struct url_span){eq + 1, (size_t)(amp - eq - 1)},
			               URL_REDACT_MARK, 1);
		p = amp + 1;
	}
}

void url_redact_text(const char *url, const char *text, char *out, size_t out_size)
{
	struct url_needle needles[URL_REDACT_MAX_NEEDLES];
	char shown[URL_REDACT_HOST_MAX + 64];
	struct url_parts u;
	size_t n = 0, used = 0, i;
	const char *t = text ? text : "";

	if (out_size == 0)
		return;
	(void)url_redact(url, shown, sizeof(shown));
	if (url && *url)
		url_redact_add(needles, &n, (struct url_span){url, strlen(url)}, shown, 1);
	if (url_redact_parse(url, &u) == 0) {
		url_redact_add(needles, &n, u.rest, URL_REDACT_MARK, 2);
		url_redact_add(needles, &n, u.userinfo, URL_REDACT_MARK, 1);
		url_redact_add(needles, &n, u.password, URL_REDACT_MARK, 1);
		url_redact_add(needles, &n, u.path, URL_REDACT_MARK, 2);
		url_redact_add(needles, &n, u.query, URL_REDACT_MARK, 1);
		url_redact_add(needles, &n, u.fragment, URL_REDACT_MARK, 1);
		url_redact_add_query_values(needles, &n, u.query);
	} else if (url && strstr(url, "://")) {
		/* Junk, but maybe read otherwise by libcurl: all of it past the scheme. */
		const char *after = strstr(url, "://") + 3;

		url_redact_add(needles, &n, (struct url_span){after, strlen(after)},
		               URL_REDACT_MARK, 2);
	}
	while (*t) {
		const struct url_needle *best = NULL;
		size_t len;

		/* The longest part that starts here, so the whole URL wins over its pieces. */
		for (i = 0; i < n; i++)
			if ((best == NULL || needles[i].find.n > best->find.n) &&
			    strncmp(t, needles[i].find.p, needles[i].find.n) == 0)
				best = &needles[i];
		if (best) {
			len = strlen(best->with);
			if (used + len >= out_size)
				break;
			memcpy(out + used, best->with, len);
			used += len;
			t += best->find.n;
			continue;
		}
		if (used + 1 >= out_size)
			break;
		out[used++] = *t++;
	}
	out[used] = '\0';
}
