/*
 * http_path.c - splitting, matching and number parsing of request targets (see http_path.h).
 */
#include "common/http_path.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

int http_path_split(struct http_path *p, const char *uri)
{
	size_t raw_len = strcspn(uri, "?#");
	char *s;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	if (raw_len == 0 || uri[0] != '/') {
		rc = 0;
		goto done;
	}
	p->buf = malloc(raw_len);
	if (p->buf == NULL)
		goto done;
	/* Drop the leading '/', then one trailing '/'. */
	memcpy(p->buf, uri + 1, raw_len - 1);
	if (raw_len > 1 && p->buf[raw_len - 2] == '/')
		raw_len--;
	p->buf[raw_len - 1] = '\0';
	rc = 0;
	if (p->buf[0] == '\0') {
		p->ok = true; /* "/": no segments */
		goto done;
	}
	s = p->buf;
	for (;;) {
		char *slash = strchr(s, '/');
		size_t decoded;

		if (p->n_segs == HTTP_PATH_MAX_SEGMENTS)
			goto done;
		if (slash != NULL)
			*slash = '\0';
		decoded = MHD_http_unescape(s);
		/* "%00" decodes to a NUL: the decoded length then disagrees with strlen(). */
		if (decoded != strlen(s))
			goto done;
		p->segs[p->n_segs] = s;
		p->seg_lens[p->n_segs] = decoded;
		p->n_segs++;
		if (slash == NULL)
			break;
		s = slash + 1;
	}
	p->ok = true;
done:
	return rc;
}

void http_path_clear(struct http_path *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

bool http_path_matches(const struct http_path *p, const char *pattern,
                       struct http_path_param *params, size_t max_params, size_t *n_params)
{
	const char *pat = pattern + 1;
	size_t n = 0;
	bool match = false;

	if (!p->ok)
		goto done;
	for (size_t i = 0; i < p->n_segs; i++) {
		size_t plen = strcspn(pat, "/");

		if (plen == 0)
			goto done; /* pattern exhausted (or empty segment) but path goes on */
		if (plen >= 2 && pat[0] == '{' && pat[plen - 1] == '}') {
			if (p->seg_lens[i] == 0)
				goto done;
			if (params != NULL && n < max_params) {
				params[n].name = pat + 1;
				params[n].name_len = plen - 2;
				params[n].value = p->segs[i];
				n++;
			}
		} else if (plen != p->seg_lens[i] || memcmp(pat, p->segs[i], plen) != 0) {
			goto done;
		}
		pat += plen;
		if (*pat == '/')
			pat++;
	}
	match = (*pat == '\0');
done:
	if (match && n_params != NULL)
		*n_params = n;
	return match;
}

int http_path_parse_ll(const char *text, bool allow_negative, long long *out)
{
	const char *digits = text;
	char *end = NULL;
	long long v;
	int rc = -1;

	if (text == NULL || *text == '\0')
		goto done;
	if (allow_negative && *digits == '-')
		digits++;
	if (*digits < '0' || *digits > '9')
		goto done;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno == ERANGE || *end != '\0')
		goto done;
	*out = v;
	rc = 0;
done:
	return rc;
}
