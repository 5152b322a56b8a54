/*
 * webhook_headers.c - see webhook_headers.h.
 */
#include "consumer/webhook_headers.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Set by ferry or by libcurl for the request to make sense: not the user's to change. */
static const char *const webhook_headers_reserved[] = {
    "Content-Type", "Content-Length", "Transfer-Encoding", "Host", "Expect", "Connection", NULL};

/* RFC 9110 tchar. */
static bool webhook_headers_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Visible ASCII, space, tab and obs-text: what a field value may hold. */
static bool webhook_headers_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool webhook_headers_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Whether `list` has a header called name (name_len bytes), in any case. */
static bool webhook_headers_has(const struct curl_slist *list, const char *name, size_t name_len)
{
	for (; list; list = list->next)
		if (strncasecmp(list->data, name, name_len) == 0 && list->data[name_len] == ':')
			return true;
	return false;
}

/* Parses one line (no '\n'); appends "Name: value" to *list. 1 added, 0 skipped, -1 error. */
static int webhook_headers_line(const char *p, size_t n, int lineno,
                                const struct curl_slist *existing, struct curl_slist **list,
                                char *errstr, size_t errstr_size)
{
	const char *colon, *v, *end = p + n;
	struct curl_slist *added;
	size_t name_len, i;
	char *header;

	for (i = 0; i < n; i++)
		if (!webhook_headers_vchar((unsigned char)p[i])) {
			/* CR included: "\r\n" in a value would start a header of its own. */
			snprintf(errstr, errstr_size,
			         "line %d: control character (CR, NUL or other) in the line; "
			         "write one header per line with LF line ends",
			         lineno);
			return -1;
		}
	while (p < end && webhook_headers_blank(*p))
		p++;
	if (p == end || *p == '#')
		return 0;
	colon = memchr(p, ':', (size_t)(end - p));
	if (colon == NULL) {
		snprintf(errstr, errstr_size, "line %d: expected 'Name: value'", lineno);
		return -1;
	}
	name_len = (size_t)(colon - p);
	for (i = 0; i < name_len; i++)
		if (!webhook_headers_tchar((unsigned char)p[i]))
			break;
	if (name_len == 0 || i < name_len) {
		snprintf(errstr, errstr_size,
		         "line %d: the header name must be letters, digits and !#$%%&'*+-.^_`|~",
		         lineno);
		return -1;
	}
	for (i = 0; webhook_headers_reserved[i]; i++)
		if (strlen(webhook_headers_reserved[i]) == name_len &&
		    strncasecmp(webhook_headers_reserved[i], p, name_len) == 0) {
			snprintf(errstr, errstr_size, "line %d: header '%.*s' is set by ferry",
			         lineno, (int)name_len, p);
			return -1;
		}
	if (webhook_headers_has(existing, p, name_len) || webhook_headers_has(*list, p, name_len)) {
		snprintf(errstr, errstr_size, "line %d: header '%.*s' given twice", lineno,
		         (int)name_len, p);
		return -1;
	}
	v = colon + 1;
	while (v < end && webhook_headers_blank(*v))
		v++;
	while (end > v && webhook_headers_blank(end[-1]))
		end--;
	if (v == end) {
		snprintf(errstr, errstr_size, "line %d: header '%.*s' has no value", lineno,
		         (int)name_len, p);
		return -1;
	}
	header = malloc(name_len + 2 + (size_t)(end - v) + 1);
	if (header == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	sprintf(header, "%.*s: %.*s", (int)name_len, p, (int)(end - v), v);
	added = curl_slist_append(*list, header);
	/* The value is a secret: do not leave a copy in freed memory. */
	memset(header, 0, strlen(header));
	free(header);
	if (added == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	*list = added;
	return 1;
}

int webhook_headers_parse(const char *text, size_t len, struct curl_slist **list, char *errstr,
                          size_t errstr_size)
{
	struct curl_slist *mine = NULL, *tail;
	const char *p = text, *end = text + len;
	int lineno = 0, count = 0, rc;

	if (len > WEBHOOK_HEADERS_MAX_BYTES) {
		snprintf(errstr, errstr_size, "more than %d bytes", WEBHOOK_HEADERS_MAX_BYTES);
		return -1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		lineno++;
		rc = webhook_headers_line(p, n, lineno, *list, &mine, errstr, errstr_size);
		if (rc > 0 && ++count > WEBHOOK_HEADERS_MAX) {
			snprintf(errstr, errstr_size, "line %d: more than %d headers", lineno,
			         WEBHOOK_HEADERS_MAX);
			rc = -1;
		}
		if (rc < 0) {
			curl_slist_free_all(mine);
			return -1;
		}
		p += n + (nl ? 1 : 0);
	}
	if (*list == NULL) {
		*list = mine;
	} else {
		for (tail = *list; tail->next; tail = tail->next)
			;
		tail->next = mine;
	}
	return count;
}

int webhook_headers_load(const char *path, struct curl_slist **list, char *errstr,
                         size_t errstr_size)
{
	char *buf = NULL, why[400];
	size_t len = 0;
	FILE *f = fopen(path, "rb");
	int rc = -1;

	if (f == NULL) {
		snprintf(errstr, errstr_size, "FERRY_WEBHOOK_HEADERS_FILE: cannot open %s: %s",
		         path, strerror(errno));
		return -1;
	}
	buf = malloc(WEBHOOK_HEADERS_MAX_BYTES + 1);
	if (buf == NULL) {
		snprintf(errstr, errstr_size, "FERRY_WEBHOOK_HEADERS_FILE: out of memory");
		goto done;
	}
	len = fread(buf, 1, WEBHOOK_HEADERS_MAX_BYTES + 1, f);
	if (ferror(f)) {
		snprintf(errstr, errstr_size, "FERRY_WEBHOOK_HEADERS_FILE: cannot read %s", path);
		goto done;
	}
	rc = webhook_headers_parse(buf, len, list, why, sizeof(why));
	if (rc < 0)
		snprintf(errstr, errstr_size, "FERRY_WEBHOOK_HEADERS_FILE %s: %s", path, why);
done:
	if (buf) {
		memset(buf, 0, len);
		free(buf);
	}
	fclose(f);
	return rc;
}
