/*
 * ctl_args.h - ferryctl's command-line parsing: a table of options per subcommand, parsed into
 * values and positional arguments, plus the value parsers the subcommands share (integers,
 * booleans, durations like "30s" or "7d").
 *
 * Pure functions with no I/O, so they are unit-tested (tests/unit/test_ferryctl_args.c).
 * Nothing here is thread-safe or needs to be: ferryctl is single-threaded.
 */
#ifndef FERRY_CTL_ARGS_H
#define FERRY_CTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One option of a subcommand: "--name VALUE" / "--name=VALUE", or "--name" for a flag. */
struct ctl_opt {
	const char *name;    /* long name without the dashes, e.g. "topic" */
	char short_name;     /* 'k' for -k, or 0 */
	const char *metavar; /* NULL for a flag; else the value's name in the help ("TOPIC") */
	bool repeatable;     /* may be given several times (each value kept, in order) */
	const char *help;    /* one line */
};

/* What a parse found. Values point into argv (not copied); arrays are owned by the struct. */
struct ctl_args {
	const struct ctl_opt *opts; /* the table parsed against */
	size_t n_opts;
	const char ***values; /* values[i]: the values given for opts[i] (flags: "" per use) */
	size_t *counts;       /* counts[i]: how many times opts[i] was given */
	const char **pos;     /* positional arguments, in order */
	size_t n_pos;
};

/*
 * Parses argv[0..argc) (no program name: the first element is an option or a positional) against
 * the table `opts` of n entries. "--" ends the options; "-" alone is a positional; "--name=value"
 * and "--name value" both work, so does "-k value". A flag given a value ("--json=x"), an unknown
 * option, a missing value, or a second use of a non-repeatable option fails.
 * Returns 0 and fills *out (release with ctl_args_free), or -1 with one line in errstr and *out
 * empty (safe to ctl_args_free).
 */
int ctl_args_parse(const struct ctl_opt *opts, size_t n, int argc, char *const *argv,
                   struct ctl_args *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Frees the arrays of *a (not the strings, which belong to argv) and zeroes it. */
void ctl_args_free(struct ctl_args *a);

/* The last value given for option `name`, or NULL when absent (or unknown). Flags give "". */
const char *ctl_args_get(const struct ctl_args *a, const char *name);

/* Whether option `name` was given at least once. */
bool ctl_args_has(const struct ctl_args *a, const char *name);

/* How many times option `name` was given, and its i-th value. */
size_t ctl_args_count(const struct ctl_args *a, const char *name);
const char *ctl_args_value(const struct ctl_args *a, const char *name, size_t i);

/*
 * Writes the options' help (one line each, "  -k, --name VALUE   help") to buf; always
 * NUL-terminated, truncated to size.
 */
void ctl_args_format_help(const struct ctl_opt *opts, size_t n, char *buf, size_t size);

/*
 * Parses a whole decimal integer in [min, max]. Returns 0, or -1 with errstr naming `what`
 * ("--count: expected an integer from 1 to 1000000, got 'x'").
 */
int ctl_args_parse_int(const char *text, const char *what, int64_t min, int64_t max, int64_t *out,
                       char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Parses true/false (also yes/no, on/off, 1/0, case-insensitive). 0, or -1 with errstr. */
int ctl_args_parse_bool(const char *text, const char *what, bool *out, char *errstr,
                        size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Parses a duration into milliseconds: a number with a unit, "ms", "s", "m", "h" or "d", or
 * several ("1h30m", "1.5s"); a bare number means seconds. Negative, empty, unknown units and
 * overflow past 100 years fail. 0, or -1 with errstr naming `what`.
 */
int ctl_args_parse_duration(const char *text, const char *what, int64_t *out_ms, char *errstr,
                            size_t errstr_size) __attribute__((warn_unused_result));

#endif
