/*
 * ctl_table.h - ferryctl's human-readable output: aligned text tables, and the small
 * formatters their cells use (ages, optional values).
 *
 * A table is built row by row, then rendered into a strbuf (so tests compare strings) and
 * printed by the caller. Widths count UTF-8 characters, not bytes; control characters in a
 * cell (a message key with a newline) are shown as '?' so that one row stays one line; a cell
 * longer than its column's limit is cut and ends in "...".
 */
#ifndef FERRY_CTL_TABLE_H
#define FERRY_CTL_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/strbuf.h"

#define CTL_TABLE_MAX_COLS 16

enum ctl_align { CTL_ALIGN_LEFT, CTL_ALIGN_RIGHT };

struct ctl_table {
	size_t n_cols;
	const char *headers[CTL_TABLE_MAX_COLS]; /* borrowed: string literals */
	enum ctl_align align[CTL_TABLE_MAX_COLS];
	size_t max_width[CTL_TABLE_MAX_COLS]; /* 0 = unlimited */
	char **cells;                         /* n_rows * n_cols owned copies, row-major */
	size_t n_rows;
	size_t cap_rows;
	bool failed; /* an allocation failed: render says so */
};

/*
 * Starts a table with the column headers (a NULL-terminated list of at most CTL_TABLE_MAX_COLS
 * string literals, which must outlive the table). A header starting with '>' is right-aligned
 * (numbers); the '>' is not shown.
 */
void ctl_table_init(struct ctl_table *t, const char *const *headers);

/* Limits column `col` to `width` characters (longer cells are cut, ending in "..."). */
void ctl_table_set_max_width(struct ctl_table *t, size_t col, size_t width);

/* Adds a row of exactly n_cols cells (NULL shows as "-"); the cells are copied. */
void ctl_table_add_row(struct ctl_table *t, const char *const *cells);

/*
 * Appends the table to sb: the header line, then one line per row; columns separated by two
 * spaces, no trailing spaces. An empty table renders its header only.
 */
void ctl_table_render(const struct ctl_table *t, struct strbuf *sb);

/* Frees the copies; the table is empty afterwards. */
void ctl_table_free(struct ctl_table *t);

/*
 * Writes a duration in seconds as a short age: "0s", "45s", "3m12s", "2h05m", "3d04h"
 * (negative as "0s"). Returns buf.
 */
const char *ctl_table_format_age(double seconds, char *buf, size_t size);

#endif
