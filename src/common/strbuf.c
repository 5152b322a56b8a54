/*
 * strbuf.c - see strbuf.h.
 */
#include "common/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need, cap;
	char *p;

	if (sb->failed)
		return false;
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(sb->data, cap);
	if (p == NULL) {
		sb->failed = true;
		return false;
	}
	sb->data = p;
	sb->cap = cap;
	return true;
}

void strbuf_append(struct strbuf *sb, const char *s, size_t n)
{
	if (!strbuf_reserve(sb, n))
		return;
	memcpy(sb->data + sb->len, s, n);
	sb->len += n;
	sb->data[sb->len] = '\0';
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
	strbuf_append(sb, s, strlen(s));
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !strbuf_reserve(sb, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	sb->failed = false;
	if (sb->data)
		sb->data[0] = '\0';
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
	sb->failed = false;
}

const char *strbuf_str(const struct strbuf *sb)
{
	return sb->data ? sb->data : "";
}

void pg_array_begin(struct strbuf *sb)
{
	strbuf_append(sb, "{", 1);
}

void pg_array_add_len(struct strbuf *sb, const char *elem, size_t n)
{
	size_t i, run;

	if (sb->len > 0 && sb->data[sb->len - 1] != '{')
		strbuf_append(sb, ",", 1);
	if (elem == NULL) {
		strbuf_append(sb, "NULL", 4);
		return;
	}
	strbuf_append(sb, "\"", 1);
	/* Copy runs of ordinary bytes at once; only \ and " need a backslash. */
	for (i = 0; i < n; i += run) {
		run = strcspn(elem + i, "\\\"");
		if (i + run > n)
			run = n - i;
		strbuf_append(sb, elem + i, run);
		if (i + run < n) {
			strbuf_append(sb, "\\", 1);
			strbuf_append(sb, elem + i + run, 1);
			run++;
		}
	}
	strbuf_append(sb, "\"", 1);
}

void pg_array_add(struct strbuf *sb, const char *elem)
{
	pg_array_add_len(sb, elem, elem ? strlen(elem) : 0);
}

void pg_array_end(struct strbuf *sb)
{
	strbuf_append(sb, "}", 1);
}
