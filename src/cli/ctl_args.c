/*
 * ctl_args.c - see ctl_args.h. A hand-written parser rather than getopt_long: getopt keeps
 * global state and permutes argv, and each subcommand needs its own table and its own help.
 */
#include "cli/ctl_args.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ctl_args_find_long(const struct ctl_opt *opts, size_t n, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int ctl_args_find_short(const struct ctl_opt *opts, size_t n, char c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (opts[i].short_name != 0 && opts[i].short_name == c)
			return (int)i;
	return -1;
}

static int ctl_args_add(struct ctl_args *a, size_t idx, const char *value, char *errstr,
                        size_t errstr_size)
{
	const char **grown;

	if (a->counts[idx] > 0 && !a->opts[idx].repeatable) {
		snprintf(errstr, errstr_size, "option --%s given more than once",
		         a->opts[idx].name);
		return -1;
	}
	grown = realloc(a->values[idx], (a->counts[idx] + 1) * sizeof(*grown));
	if (grown == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	grown[a->counts[idx]++] = value;
	a->values[idx] = grown;
	return 0;
}

int ctl_args_parse(const struct ctl_opt *opts, size_t n, int argc, char *const *argv,
                   struct ctl_args *out, char *errstr, size_t errstr_size)
{
	bool options_done = false;
	int i, idx;

	memset(out, 0, sizeof(*out));
	out->opts = opts;
	out->n_opts = n;
	out->values = calloc(n ? n : 1, sizeof(*out->values));
	out->counts = calloc(n ? n : 1, sizeof(*out->counts));
	out->pos = calloc((size_t)argc + 1, sizeof(*out->pos));
	if (out->values == NULL || out->counts == NULL || out->pos == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *value = NULL;

		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			out->pos[out->n_pos++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		if (arg[1] == '-') {
			const char *eq = strchr(arg + 2, '=');
			size_t len = eq ? (size_t)(eq - (arg + 2)) : strlen(arg + 2);

			idx = ctl_args_find_long(opts, n, arg + 2, len);
			if (idx < 0) {
				snprintf(errstr, errstr_size, "unknown option '%.*s'", (int)len + 2,
				         arg);
				goto fail;
			}
			if (eq != NULL) {
				if (opts[idx].metavar == NULL) {
					snprintf(errstr, errstr_size, "option --%s takes no value",
					         opts[idx].name);
					goto fail;
				}
				value = eq + 1;
			}
		} else {
			idx = ctl_args_find_short(opts, n, arg[1]);
			if (idx < 0 || arg[2] != '\0') {
				snprintf(errstr, errstr_size, "unknown option '%s'", arg);
				goto fail;
			}
		}
		if (opts[idx].metavar == NULL) {
			value = "";
		} else if (value == NULL) {
			if (i + 1 >= argc) {
				snprintf(errstr, errstr_size, "option --%s needs a value (%s)",
				         opts[idx].name, opts[idx].metavar);
				goto fail;
			}
			value = argv[++i];
		}
		if (ctl_args_add(out, (size_t)idx, value, errstr, errstr_size) != 0)
			goto fail;
	}
	return 0;
fail:
	ctl_args_free(out);
	return -1;
}

void ctl_args_free(struct ctl_args *a)
{
	size_t i;

	if (a->values)
		for (i = 0; i < a->n_opts; i++)
			free(a->values[i]);
	free(a->values);
	free(a->counts);
	free(a->pos);
	memset(a, 0, sizeof(*a));
}

static int ctl_args_index(const struct ctl_args *a, const char *name)
{
	if (a->counts == NULL)
		return -1;
	return ctl_args_find_long(a->opts, a->n_opts, name, strlen(name));
}

size_t ctl_args_count(const struct ctl_args *a, const char *name)
{
	int idx = ctl_args_index(a, name);

	return idx < 0 ? 0 : a->counts[idx];
}

const char *ctl_args_value(const struct ctl_args *a, const char *name, size_t i)
{
	int idx = ctl_args_index(a, name);

	return idx < 0 || i >= a->counts[idx] ? NULL : a->values[idx][i];
}

const char *ctl_args_get(const struct ctl_args *a, const char *name)
{
	size_t count = ctl_args_count(a, name);

	return count == 0 ? NULL : ctl_args_value(a, name, count - 1);
}

bool ctl_args_has(const struct ctl_args *a, const char *name)
{
	return ctl_args_count(a, name) > 0;
}

void ctl_args_format_help(const struct ctl_opt *opts, size_t n, char *buf, size_t size)
{
	size_t i, used = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < n && used < size; i++) {
		char left[96];
		int w;

		if (opts[i].short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", opts[i].short_name,
			         opts[i].name, opts[i].metavar ? " " : "",
			         opts[i].metavar ? opts[i].metavar : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", opts[i].name,
			         opts[i].metavar ? " " : "",
			         opts[i].metavar ? opts[i].metavar : "");
		w = snprintf(buf + used, size - used, "  %-28s %s%s\n", left, opts[i].help,
		             opts[i].repeatable ? " (repeatable)" : "");
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

int ctl_args_parse_int(const char *text, const char *what, int64_t min, int64_t max, int64_t *out,
                       char *errstr, size_t errstr_size)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = text && *text && !isspace((unsigned char)*text) ? strtoll(text, &end, 10) : 0;
	if (text == NULL || *text == '\0' || end == NULL || *end != '\0' || errno != 0 || v < min ||
	    v > max) {
		snprintf(errstr, errstr_size,
		         "%s: expected an integer from %" PRId64 " to %" PRId64 ", got '%s'", what,
		         min, max, text ? text : "");
		return -1;
	}
	*out = v;
	return 0;
}

int ctl_args_parse_bool(const char *text, const char *what, bool *out, char *errstr,
                        size_t errstr_size)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	size_t i;

	for (i = 0; text && i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	snprintf(errstr, errstr_size, "%s: expected true or false, got '%s'", what,
	         text ? text : "");
	return -1;
}

int ctl_args_parse_duration(const char *text, const char *what, int64_t *out_ms, char *errstr,
                            size_t errstr_size)
{
	/* Longest unit names first, so "ms" is not read as "m" followed by garbage. */
	static const struct {
		const char *unit;
		double ms;
	} units[] = {{"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}, {"d", 86400e3}};
	const double limit_ms = 100.0 * 365 * 86400e3;
	const char *p = text;
	double total = 0;

	if (text == NULL || *text == '\0')
		goto bad;
	while (*p) {
		char *end = NULL;
		double v;
		size_t i;

		if (!isdigit((unsigned char)*p) && *p != '.')
			goto bad;
		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno != 0 || !isfinite(v))
			goto bad;
		p = end;
		if (*p == '\0') {
			/* A bare number is seconds, but only alone: "1h30" is ambiguous. */
			if (total != 0)
				goto bad;
			total = v * 1e3;
			break;
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t len = strlen(units[i].unit);

			if (strncmp(p, units[i].unit, len) == 0 &&
			    !isalpha((unsigned char)p[len])) {
				total += v * units[i].ms;
				p += len;
				break;
			}
		}
		if (i == sizeof(units) / sizeof(units[0]) || total > limit_ms)
			goto bad;
	}
	*out_ms = (int64_t)llround(total);
	return 0;
bad:
	snprintf(errstr, errstr_size,
	         "%s: expected a duration like 30s, 5m, 2h, 7d or 1h30m, got '%s'", what,
	         text ? text : "");
	return -1;
}
