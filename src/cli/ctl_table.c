/*
 * ctl_table.c - see ctl_table.h.
 */
#include "cli/ctl_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ctl_table_init(struct ctl_table *t, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	for (; *headers && t->n_cols < CTL_TABLE_MAX_COLS; headers++, t->n_cols++) {
		const char *h = *headers;

		t->align[t->n_cols] = h[0] == '>' ? CTL_ALIGN_RIGHT : CTL_ALIGN_LEFT;
		t->headers[t->n_cols] = h[0] == '>' ? h + 1 : h;
	}
}

void ctl_table_set_max_width(struct ctl_table *t, size_t col, size_t width)
{
	if (col < t->n_cols)
		t->max_width[col] = width;
}

/* Characters of a cleaned cell (valid UTF-8 by construction). */
static size_t ctl_table_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

/* A copy of the cell as it will be shown: control characters and invalid UTF-8 bytes as '?'
 * (so the width arithmetic stays right), cut at `max` characters (0 = no limit) ending in
 * "...". */
static char *ctl_table_clean(const char *s, size_t max)
{
	size_t len = strlen(s), i = 0, o = 0;
	char *out = malloc(len + 4);

	if (out == NULL)
		return NULL;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80         ? 1
		           : (c >> 5) == 6  ? 2
		           : (c >> 4) == 14 ? 3
		           : (c >> 3) == 30 ? 4
		                            : 0;
		size_t k;

		for (k = 1; n > 1 && k < n; k++)
			if (i + k >= len || ((unsigned char)s[i + k] & 0xC0) != 0x80)
				n = 0;
		if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7F))) {
			out[o++] = '?';
			i++;
		} else {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		}
	}
	out[o] = '\0';
	if (max > 0 && ctl_table_width(out) > max) {
		size_t keep = max > 3 ? max - 3 : max, chars = 0;

		for (o = 0; out[o]; o++) {
			if (((unsigned char)out[o] & 0xC0) != 0x80 && chars++ == keep)
				break;
		}
		strcpy(out + o, max > 3 ? "..." : "");
	}
	return out;
}

void ctl_table_add_row(struct ctl_table *t, const char *const *cells)
{
	size_t c;

	if (t->failed)
		return;
	if (t->n_rows == t->cap_rows) {
		size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
		char **grown = realloc(t->cells, cap * t->n_cols * sizeof(*grown));

		if (grown == NULL) {
			t->failed = true;
			return;
		}
		t->cells = grown;
		t->cap_rows = cap;
	}
	for (c = 0; c < t->n_cols; c++) {
		char *cell = ctl_table_clean(cells[c] ? cells[c] : "-", t->max_width[c]);

		if (cell == NULL) {
			/* Keep the row complete so free() stays simple. */
			t->failed = true;
			cell = calloc(1, 1);
		}
		t->cells[t->n_rows * t->n_cols + c] = cell;
	}
	t->n_rows++;
}

static void ctl_table_pad(struct strbuf *sb, size_t n)
{
	while (n-- > 0)
		strbuf_append(sb, " ", 1);
}

static void ctl_table_line(const struct ctl_table *t, const char *const *cells,
                           const size_t *widths, struct strbuf *sb)
{
	size_t c, last = t->n_cols;

	/* Trailing empty left-aligned cells would leave trailing spaces: stop before them. */
	while (last > 0 && t->align[last - 1] == CTL_ALIGN_LEFT && cells[last - 1][0] == '\0')
		last--;
	for (c = 0; c < last; c++) {
		size_t w = ctl_table_width(cells[c]);

		if (c > 0)
			strbuf_append(sb, "  ", 2);
		if (t->align[c] == CTL_ALIGN_RIGHT)
			ctl_table_pad(sb, widths[c] - w);
		strbuf_puts(sb, cells[c]);
		if (t->align[c] == CTL_ALIGN_LEFT && c + 1 < last)
			ctl_table_pad(sb, widths[c] - w);
	}
	strbuf_append(sb, "\n", 1);
}

void ctl_table_render(const struct ctl_table *t, struct strbuf *sb)
{
	size_t widths[CTL_TABLE_MAX_COLS], r, c;

	if (t->failed) {
		strbuf_puts(sb, "(out of memory building the table)\n");
		return;
	}
	for (c = 0; c < t->n_cols; c++) {
		widths[c] = ctl_table_width(t->headers[c]);
		for (r = 0; r < t->n_rows; r++) {
			size_t w = ctl_table_width(t->cells[r * t->n_cols + c]);

			if (w > widths[c])
				widths[c] = w;
		}
	}
	ctl_table_line(t, t->headers, widths, sb);
	for (r = 0; r < t->n_rows; r++)
		ctl_table_line(t, (const char *const *)&t->cells[r * t->n_cols], widths, sb);
}

void ctl_table_free(struct ctl_table *t)
{
	size_t i;

	for (i = 0; t->cells && i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->n_rows = t->cap_rows = 0;
	t->failed = false;
}

const char *ctl_table_format_age(double seconds, char *buf, size_t size)
{
	long long s = seconds > 0 ? (long long)seconds : 0;

	if (s < 60)
		snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
	return buf;
}
