/*
 * config.c - loading, validating and documenting a table of settings.
 *
 * Values are parsed strictly (no leading '+', no spaces, no trailing junk) so that a typo in a
 * deployment fails at start-up with the variable named, instead of running with a surprise.
 */
#include "common/config.h"
#include "common/config_common.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Declared by <unistd.h> under _GNU_SOURCE; repeated for builds without it. */
extern char **environ;

#define CONFIG_KAFKA_PREFIX "KAFKA_"

/* Parses a decimal long: optional '-', then digits only. 0 ok, -1 not a number, -2 overflow. */
static int config_parse_long(const char *s, long *out)
{
	const char *p = s;
	char *end = NULL;
	long v;
	int rc = -1;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		goto done;
	for (const char *q = p; *q != '\0'; q++) {
		if (!isdigit((unsigned char)*q))
			goto done;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE) {
		rc = -2;
		goto done;
	}
	*out = v;
	rc = 0;
done:
	return rc;
}

static int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "1", "yes", "on"};
	static const char *const no[] = {"false", "0", "no", "off"};
	int rc = -1;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			rc = 0;
		} else if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			rc = 0;
		}
	}
	return rc;
}

/* Writes "a, b, c" (the enum's choices) into buf. */
static void config_enum_list(const char *const *values, const char *sep, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; values != NULL && values[i] != NULL; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i > 0 ? sep : "", values[i]);

		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

/* Parses `text` according to `s` and stores it. Returns 0, or -1 with errstr. */
static int config_store(const struct config_setting *s, const char *text, char *errstr,
                        size_t errstr_size)
{
	char choices[512];
	char *copy = NULL;
	long lv = 0;
	bool bv = false;
	int prc;
	int rc = -1;

	switch (s->type) {
	case CONFIG_STRING:
		if (text != NULL) {
			copy = strdup(text);
			if (copy == NULL) {
				snprintf(errstr, errstr_size, "%s: out of memory", s->env);
				goto done;
			}
		}
		*(char **)s->value = copy;
		copy = NULL;
		break;
	case CONFIG_INT:
		if (text == NULL)
			break; /* no default: the caller's initial value stays */
		prc = config_parse_long(text, &lv);
		if (prc == -1) {
			snprintf(errstr, errstr_size,
			         "%s: '%s' is not an integer (expected %ld..%ld)", s->env, text,
			         s->min, s->max);
			goto done;
		}
		if (prc == -2 || lv < s->min || lv > s->max) {
			snprintf(errstr, errstr_size,
			         "%s: '%s' is out of range (expected %ld..%ld)", s->env, text,
			         s->min, s->max);
			goto done;
		}
		*(long *)s->value = lv;
		break;
	case CONFIG_BOOL:
		if (text == NULL)
			break; /* no default: the caller's initial value stays */
		if (config_parse_bool(text, &bv) != 0) {
			snprintf(errstr, errstr_size,
			         "%s: '%s' is not a boolean (expected true or false)", s->env,
			         text);
			goto done;
		}
		*(bool *)s->value = bv;
		break;
	case CONFIG_ENUM:
		if (text != NULL) {
			const char *match = NULL;

			for (size_t i = 0; s->enum_values != NULL && s->enum_values[i] != NULL;
			     i++) {
				if (strcasecmp(text, s->enum_values[i]) == 0)
					match = s->enum_values[i];
			}
			if (match == NULL) {
				config_enum_list(s->enum_values, ", ", choices, sizeof(choices));
				snprintf(errstr, errstr_size, "%s: '%s' is not one of %s", s->env,
				         text, choices);
				goto done;
			}
			/* Stored in the table's spelling, so "INFO" compares equal to "info". */
			copy = strdup(match);
			if (copy == NULL) {
				snprintf(errstr, errstr_size, "%s: out of memory", s->env);
				goto done;
			}
		}
		*(char **)s->value = copy;
		copy = NULL;
		break;
	default:
		snprintf(errstr, errstr_size, "%s: unknown setting type %d", s->env, (int)s->type);
		goto done;
	}
	rc = 0;
done:
	free(copy);
	return rc;
}

int config_load(const struct config_setting *table, size_t n, const char *const *overrides,
                char *errstr, size_t errstr_size)
{
	int rc = -1;

	for (size_t i = 0; i < n; i++) {
		const struct config_setting *s = &table[i];
		const char *text = s->default_text;
		const char *env = getenv(s->env);

		/* An empty variable means "not set": compose files often write VAR= for unset. */
		if (env != NULL && env[0] != '\0')
			text = env;
		if (overrides != NULL && overrides[i] != NULL)
			text = overrides[i];
		if (config_store(s, text, errstr, errstr_size) != 0)
			goto done;
	}
	rc = 0;
done:
	return rc;
}

void config_free(const struct config_setting *table, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (table[i].type == CONFIG_STRING || table[i].type == CONFIG_ENUM) {
			char **p = table[i].value;

			free(*p);
			*p = NULL;
		}
	}
}

/* Writes s as a Markdown table cell: '|' escaped (GFM needs it even in code spans), line
 * breaks flattened to spaces so one setting stays one row. */
static void config_md_cell(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

void config_print_markdown(const struct config_setting *table, size_t n, FILE *out)
{
	char buf[512];

	fputs("| Variable | Type | Default | Description |\n", out);
	fputs("|---|---|---|---|\n", out);
	for (size_t i = 0; i < n; i++) {
		const struct config_setting *s = &table[i];

		fputs("| `", out);
		config_md_cell(out, s->env);
		fputs("` | ", out);
		switch (s->type) {
		case CONFIG_STRING:
			snprintf(buf, sizeof(buf), "string");
			break;
		case CONFIG_INT:
			snprintf(buf, sizeof(buf), "integer (%ld..%ld)", s->min, s->max);
			break;
		case CONFIG_BOOL:
			snprintf(buf, sizeof(buf), "boolean");
			break;
		case CONFIG_ENUM: {
			int k = snprintf(buf, sizeof(buf), "one of ");

			config_enum_list(s->enum_values, ", ", buf + k, sizeof(buf) - (size_t)k);
			break;
		}
		default:
			snprintf(buf, sizeof(buf), "?");
			break;
		}
		config_md_cell(out, buf);
		fputs(" | ", out);
		if (s->default_text != NULL && s->default_text[0] != '\0') {
			fputc('`', out);
			config_md_cell(out, s->default_text);
			fputc('`', out);
		}
		fputs(" | ", out);
		config_md_cell(out, s->description != NULL ? s->description : "");
		fputs(" |\n", out);
	}
}

/* Whether `name` (length len) is the env of a setting in the table. */
static bool config_is_setting(const struct config_setting *table, size_t n, const char *name,
                              size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(table[i].env) == len && strncmp(table[i].env, name, len) == 0)
			return true;
	}
	return false;
}

/*
 * KAFKA_SASL_MECHANISMS -> sasl.mechanisms: lower case, '_' -> '.', and "__" -> '_' for the
 * rare property with an underscore (the convention of Confluent's images). `name` excludes the
 * KAFKA_ prefix; `out` has room for len + 1 bytes.
 */
static void config_kafka_property(const char *name, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (name[i] == '_' && i + 1 < len && name[i + 1] == '_') {
			out[o++] = '_';
			i++;
		} else if (name[i] == '_') {
			out[o++] = '.';
		} else {
			out[o++] = (char)tolower((unsigned char)name[i]);
		}
	}
	out[o] = '\0';
}

int config_kafka_passthrough(const struct config_setting *table, size_t n,
                             int (*cb)(const char *name, const char *value, void *opaque,
                                       char *errstr, size_t errstr_size),
                             void *opaque, char *errstr, size_t errstr_size)
{
	const size_t prefix_len = strlen(CONFIG_KAFKA_PREFIX);
	char *prop = NULL;
	int rc = -1;

	for (char **e = environ; e != NULL && *e != NULL; e++) {
		const char *entry = *e;
		const char *eq = strchr(entry, '=');
		size_t name_len;

		if (eq == NULL || strncmp(entry, CONFIG_KAFKA_PREFIX, prefix_len) != 0)
			continue;
		name_len = (size_t)(eq - entry);
		if (name_len == prefix_len || config_is_setting(table, n, entry, name_len))
			continue;
		/* Empty means unset, as for the settings of the table. */
		if (eq[1] == '\0')
			continue;
		prop = malloc(name_len - prefix_len + 1);
		if (prop == NULL) {
			snprintf(errstr, errstr_size, "out of memory reading KAFKA_* variables");
			goto done;
		}
		config_kafka_property(entry + prefix_len, name_len - prefix_len, prop);
		if (cb(prop, eq + 1, opaque, errstr, errstr_size) != 0)
			goto done;
		free(prop);
		prop = NULL;
	}
	rc = 0;
done:
	free(prop);
	return rc;
}

/* Characters allowed in a host name or IPv4 address; IPv6 literals add ':' and '%' (zone). */
static bool config_host_char(char c, bool bracketed)
{
	if (isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_')
		return true;
	return bracketed && (c == ':' || c == '%');
}

/*
 * Parses the port at p: digits, then at most a trailing '/' ("http://localhost:5301/").
 * `entry` is the whole address, for the error line. Returns 0, or -1 with errstr.
 */
static int config_listen_port(const char *entry, const char *p, int *port, char *errstr,
                              size_t errstr_size)
{
	size_t len = strspn(p, "0123456789");
	long v = 0;
	int rc = -1;

	if (len == 0 || !(p[len] == '\0' || (p[len] == '/' && p[len + 1] == '\0'))) {
		snprintf(errstr, errstr_size, "listen url '%s': port is not a number", entry);
		goto done;
	}
	for (size_t i = 0; i < len && v <= 65535; i++)
		v = v * 10 + (p[i] - '0');
	if (v < 1 || v > 65535) {
		snprintf(errstr, errstr_size,
		         "listen url '%s': port %.*s is out of range (expected 1..65535)", entry,
		         (int)len, p);
		goto done;
	}
	*port = (int)v;
	rc = 0;
done:
	return rc;
}

/*
 * Parses "host:port..." after "http://" into host (empty for all interfaces) and port.
 * Returns 0, or -1 with errstr naming `entry`.
 */
static int config_listen_host_port(const char *entry, const char *h, char *host, size_t host_size,
                                   int *port, char *errstr, size_t errstr_size)
{
	const char *h_end;
	const char *p;
	size_t h_len;
	bool bracketed = false;
	int rc = -1;

	if (*h == '[') { /* IPv6 literal: "[::1]:5301" */
		bracketed = true;
		h++;
		h_end = strchr(h, ']');
		if (h_end == NULL) {
			snprintf(errstr, errstr_size, "listen url '%s': missing ']'", entry);
			goto done;
		}
		p = h_end + 1;
	} else {
		h_end = h + strcspn(h, ":/");
		p = h_end;
	}
	h_len = (size_t)(h_end - h);
	if (h_len == 0) {
		snprintf(errstr, errstr_size, "listen url '%s': missing host", entry);
		goto done;
	}
	if (*p != ':' || p[1] == '\0' || p[1] == '/') {
		snprintf(errstr, errstr_size, "listen url '%s': missing port", entry);
		goto done;
	}
	/* "*" and "+" are the seed's (Kestrel's) spellings of "all interfaces", like 0.0.0.0. */
	if (!bracketed && ((h_len == 1 && (*h == '*' || *h == '+')) ||
	                   (h_len == 7 && strncmp(h, "0.0.0.0", 7) == 0))) {
		h_len = 0;
	}
	for (size_t i = 0; i < h_len; i++) {
		if (!config_host_char(h[i], bracketed)) {
			snprintf(errstr, errstr_size, "listen url '%s': invalid host", entry);
			goto done;
		}
	}
	if (h_len + 1 > host_size) {
		snprintf(errstr, errstr_size, "listen url '%s': host is too long", entry);
		goto done;
	}
	if (config_listen_port(entry, p + 1, port, errstr, errstr_size) != 0)
		goto done;
	memcpy(host, h, h_len);
	host[h_len] = '\0';
	rc = 0;
done:
	return rc;
}

int config_parse_listen_url(const char *url, char *host, size_t host_size, int *port, bool *https,
                            char *errstr, size_t errstr_size)
{
	char entry[512];
	const char *p = url != NULL ? url : "";
	size_t len;
	int rc = -1;

	*https = false;
	/* The seed's --urls may list several addresses; ferry listens on the first. */
	while (isspace((unsigned char)*p))
		p++;
	len = strcspn(p, ";");
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	if (len == 0) {
		snprintf(errstr, errstr_size, "listen url is empty");
		goto done;
	}
	if (len >= sizeof(entry) || host_size == 0) {
		snprintf(errstr, errstr_size, "listen url is too long");
		goto done;
	}
	memcpy(entry, p, len);
	entry[len] = '\0';

	if (entry[strspn(entry, "0123456789")] == '\0') { /* a bare port: "5301" */
		if (config_listen_port(entry, entry, port, errstr, errstr_size) != 0)
			goto done;
		host[0] = '\0';
	} else if (strncasecmp(entry, "https://", 8) == 0) {
		if (config_listen_host_port(entry, entry + 8, host, host_size, port, errstr,
		                            errstr_size) != 0)
			goto done;
		*https = true;
	} else if (strncasecmp(entry, "http://", 7) == 0) {
		if (config_listen_host_port(entry, entry + 7, host, host_size, port, errstr,
		                            errstr_size) != 0)
			goto done;
	} else {
		snprintf(errstr, errstr_size,
		         "listen url '%s': expected http://host:port, https://host:port or a port "
		         "number",
		         entry);
		goto done;
	}
	rc = 0;
done:
	return rc;
}

const char *const config_log_levels[] = {"debug", "info", "warn", "error", NULL};
const char *const config_log_formats[] = {"text", "json", NULL};
