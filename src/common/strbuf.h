/*
 * strbuf.h - a growable, always NUL-terminated byte buffer, and the PostgreSQL array-literal
 * encoding built on it (how ferry passes a whole batch as one query parameter).
 *
 * Out-of-memory is sticky: once an append fails, sb->failed is set, later appends do nothing,
 * and the caller checks once at the end. Not thread-safe; owned by whoever declared it.
 */
#ifndef FERRY_STRBUF_H
#define FERRY_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *data;  /* NUL-terminated; NULL until the first append */
	size_t len;  /* bytes used, excluding the NUL */
	size_t cap;  /* bytes allocated */
	bool failed; /* an allocation failed; contents are incomplete */
};

#define STRBUF_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0, false                                                                  \
	}

void strbuf_append(struct strbuf *sb, const char *s, size_t n);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties the buffer but keeps its memory. */
void strbuf_reset(struct strbuf *sb);
/* Frees the memory; the buffer is STRBUF_INIT again. */
void strbuf_free(struct strbuf *sb);
/* The contents ("" when empty); valid until the next append or free. */
const char *strbuf_str(const struct strbuf *sb);

/*
 * PostgreSQL array literal, element by element: pg_array_begin, then one pg_array_add per
 * element (NULL -> SQL NULL; strings are double-quoted with \ and " escaped, so any text is
 * safe), then pg_array_end. Produces e.g. {"a","b\"c",NULL}.
 */
void pg_array_begin(struct strbuf *sb);
void pg_array_add(struct strbuf *sb, const char *elem);
void pg_array_add_len(struct strbuf *sb, const char *elem, size_t n);
void pg_array_end(struct strbuf *sb);

#endif
