/*
 * conninfo.c - ADO.NET-style connection strings ("Host=...;Port=...") to libpq conninfo.
 *
 * Keys are compared case-insensitively with spaces removed, as Npgsql does, so "User ID",
 * "UserId" and "user id" are one key. Every value is emitted quoted ('...' with \' and \\
 * escaped) so passwords with spaces, quotes or backslashes reach libpq intact.
 */
#include "common/conninfo.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Which libpq keyword an ADO.NET key becomes. */
enum conninfo_target {
	CONNINFO_HOST,
	CONNINFO_PORT,
	CONNINFO_DBNAME,
	CONNINFO_USER,
	CONNINFO_PASSWORD,
	CONNINFO_SSLMODE,
	CONNINFO_SSLROOTCERT,
	CONNINFO_SSLCERT,
	CONNINFO_SSLKEY,
	CONNINFO_CONNECT_TIMEOUT,
	CONNINFO_APPLICATION_NAME,
	CONNINFO_SEARCH_PATH, /* no libpq keyword: becomes options='-c search_path=...' */
};

struct conninfo_key {
	const char *name; /* lower case, spaces removed */
	enum conninfo_target target;
};

static const struct conninfo_key conninfo_keys[] = {
    {"host", CONNINFO_HOST},
    {"server", CONNINFO_HOST},
    {"port", CONNINFO_PORT},
    {"database", CONNINFO_DBNAME},
    {"initialcatalog", CONNINFO_DBNAME},
    {"username", CONNINFO_USER},
    {"userid", CONNINFO_USER},
    {"user", CONNINFO_USER},
    {"password", CONNINFO_PASSWORD},
    {"sslmode", CONNINFO_SSLMODE},
    /* Npgsql's names for the TLS files (Root Certificate: the CA that verify-full trusts). */
    {"rootcertificate", CONNINFO_SSLROOTCERT},
    {"sslcertificate", CONNINFO_SSLCERT},
    {"sslkey", CONNINFO_SSLKEY},
    {"timeout", CONNINFO_CONNECT_TIMEOUT},
    {"connecttimeout", CONNINFO_CONNECT_TIMEOUT},
    {"applicationname", CONNINFO_APPLICATION_NAME},
    {"searchpath", CONNINFO_SEARCH_PATH},
};

static const char *const conninfo_target_keyword[] = {
    [CONNINFO_HOST] = "host",
    [CONNINFO_PORT] = "port",
    [CONNINFO_DBNAME] = "dbname",
    [CONNINFO_USER] = "user",
    [CONNINFO_PASSWORD] = "password",
    [CONNINFO_SSLMODE] = "sslmode",
    [CONNINFO_SSLROOTCERT] = "sslrootcert",
    [CONNINFO_SSLCERT] = "sslcert",
    [CONNINFO_SSLKEY] = "sslkey",
    [CONNINFO_CONNECT_TIMEOUT] = "connect_timeout",
    [CONNINFO_APPLICATION_NAME] = "application_name",
    [CONNINFO_SEARCH_PATH] = "options",
};

/*
 * libpq keywords that an ADO.NET key may share spelling with. A string without ';' whose first
 * key is spelled exactly like one of these ("host=db port=5432") is already a libpq keyword
 * string and is left alone.
 */
static const char *const conninfo_libpq_keywords[] = {"host", "port", "user", "password"};

/* Npgsql's SSL Mode names (lower case, no dashes) and libpq's spelling of each. */
static const char *const conninfo_sslmodes[][2] = {
    {"disable", "disable"}, {"allow", "allow"},        {"prefer", "prefer"},
    {"require", "require"}, {"verifyca", "verify-ca"}, {"verifyfull", "verify-full"},
};

/* Output buffer that remembers whether anything failed to fit. */
struct conninfo_out {
	char *buf;
	size_t size;
	size_t len;
	bool overflow;
};

static void conninfo_putc(struct conninfo_out *o, char c)
{
	if (o->len + 1 < o->size) {
		o->buf[o->len++] = c;
		o->buf[o->len] = '\0';
	} else {
		o->overflow = true;
	}
}

static void conninfo_puts(struct conninfo_out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		conninfo_putc(o, s[i]);
}

/* Appends "keyword='value'" (space-separated from what came before), quoted for libpq. */
static void conninfo_put_pair(struct conninfo_out *o, const char *keyword, const char *value,
                              size_t value_len)
{
	if (o->len > 0)
		conninfo_putc(o, ' ');
	conninfo_puts(o, keyword, strlen(keyword));
	conninfo_puts(o, "='", 2);
	for (size_t i = 0; i < value_len; i++) {
		if (value[i] == '\'' || value[i] == '\\')
			conninfo_putc(o, '\\');
		conninfo_putc(o, value[i]);
	}
	conninfo_putc(o, '\'');
}

/*
 * Normalizes a key for lookup: lower case, spaces removed ("User ID" -> "userid"). Returns false
 * if the key does not fit in `out` (no known key is that long).
 */
static bool conninfo_normalize_key(const char *key, size_t len, char *out, size_t out_size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (isspace((unsigned char)key[i]))
			continue;
		if (n + 1 >= out_size)
			return false;
		out[n++] = (char)tolower((unsigned char)key[i]);
	}
	out[n] = '\0';
	return true;
}

static const struct conninfo_key *conninfo_lookup(const char *key, size_t len)
{
	const struct conninfo_key *found = NULL;
	char norm[32];

	if (!conninfo_normalize_key(key, len, norm, sizeof(norm)))
		goto done;
	for (size_t i = 0; i < sizeof(conninfo_keys) / sizeof(conninfo_keys[0]); i++) {
		if (strcmp(norm, conninfo_keys[i].name) == 0) {
			found = &conninfo_keys[i];
			break;
		}
	}
done:
	return found;
}

static void conninfo_trim(const char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static bool conninfo_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Whether `in` (no leading whitespace, not a URI) is in the ADO.NET form: it has a ';', or its
 * first key is a known ADO.NET key not spelled as libpq spells its keyword ("Host=",
 * "Database=", "User ID="). "host=db port=5432" and "dbname=x" are libpq keyword strings.
 */
static bool conninfo_is_ado(const char *in)
{
	const char *eq = strchr(in, '=');
	const char *key = in;
	size_t key_len;

	if (strchr(in, ';') != NULL)
		return true;
	if (eq == NULL)
		return true; /* neither form; the ADO.NET parser names the problem */
	key_len = (size_t)(eq - in);
	conninfo_trim(&key, &key_len);
	if (conninfo_lookup(key, key_len) == NULL)
		return false;
	for (size_t i = 0; i < sizeof(conninfo_libpq_keywords) / sizeof(conninfo_libpq_keywords[0]);
	     i++) {
		const char *kw = conninfo_libpq_keywords[i];

		if (strlen(kw) == key_len && strncmp(key, kw, key_len) == 0)
			return false;
	}
	return true;
}

/*
 * Reads one value starting at *p (leading spaces already skipped) up to ';' or the end. A value
 * opening with ' or " runs to the matching close quote, a doubled quote standing for one (the
 * ADO.NET rule), which is how a password containing ';' is written. The unquoted value is copied
 * into val. Returns 0, or -1 with errstr (an unterminated quote). Advances *p past the ';'.
 */
static int conninfo_read_value(const char **p, char *val, size_t val_size, size_t *val_len,
                               int segment, char *errstr, size_t errstr_size)
{
	const char *s = *p;
	size_t n = 0;
	int rc = -1;

	if (*s == '\'' || *s == '"') {
		char q = *s++;

		for (;;) {
			if (*s == '\0') {
				snprintf(errstr, errstr_size,
				         "connection string: segment %d has an unterminated "
				         "%c quote",
				         segment, q);
				goto done;
			}
			if (*s == q) {
				if (s[1] != q)
					break;
				s++; /* doubled quote: one literal quote */
			}
			if (n + 1 < val_size)
				val[n] = *s;
			n++;
			s++;
		}
		s++; /* closing quote */
		while (isspace((unsigned char)*s))
			s++;
		if (*s != ';' && *s != '\0') {
			snprintf(errstr, errstr_size,
			         "connection string: segment %d has text after its closing quote",
			         segment);
			goto done;
		}
	} else {
		const char *start = s;
		const char *end = strchr(s, ';');
		size_t len = end != NULL ? (size_t)(end - s) : strlen(s);

		conninfo_trim(&start, &len);
		for (size_t i = 0; i < len; i++) {
			if (n + 1 < val_size)
				val[n] = start[i];
			n++;
		}
		s = end != NULL ? end : s + strlen(s);
	}
	if (n + 1 > val_size) {
		snprintf(errstr, errstr_size, "connection string: value in segment %d is too long",
		         segment);
		goto done;
	}
	val[n] = '\0';
	*val_len = n;
	if (*s == ';')
		s++;
	*p = s;
	rc = 0;
done:
	return rc;
}

/* Emits one known key's value in libpq form. */
static int conninfo_put_setting(struct conninfo_out *o, const struct conninfo_key *key,
                                const char *val, size_t val_len, char *errstr, size_t errstr_size)
{
	const char *keyword = conninfo_target_keyword[key->target];
	char buf[1024];
	size_t n = 0;
	int rc = -1;

	switch (key->target) {
	case CONNINFO_SSLMODE: {
		char norm[16];
		const char *mode = NULL;

		/* Npgsql writes VerifyFull, libpq verify-full: compare without case or dashes. */
		for (size_t i = 0; i < val_len && n + 1 < sizeof(norm); i++) {
			if (val[i] != '-')
				norm[n++] = (char)tolower((unsigned char)val[i]);
		}
		norm[n] = '\0';
		for (size_t i = 0; i < sizeof(conninfo_sslmodes) / sizeof(conninfo_sslmodes[0]);
		     i++) {
			if (strcmp(norm, conninfo_sslmodes[i][0]) == 0)
				mode = conninfo_sslmodes[i][1];
		}
		if (mode == NULL) {
			snprintf(errstr, errstr_size,
			         "connection string: SSL Mode '%s' is not one of disable, allow, "
			         "prefer, require, verify-ca, verify-full",
			         val);
			goto done;
		}
		conninfo_put_pair(o, keyword, mode, strlen(mode));
		break;
	}
	case CONNINFO_SEARCH_PATH:
		/* The server splits options on spaces, so spaces and backslashes in the path are
		 * backslash-escaped before the whole value is quoted for libpq. */
		n = (size_t)snprintf(buf, sizeof(buf), "-c search_path=");
		for (size_t i = 0; i < val_len; i++) {
			if (n + 3 >= sizeof(buf)) {
				snprintf(errstr, errstr_size,
				         "connection string: Search Path is too long");
				goto done;
			}
			if (val[i] == ' ' || val[i] == '\\')
				buf[n++] = '\\';
			buf[n++] = val[i];
		}
		buf[n] = '\0';
		conninfo_put_pair(o, keyword, buf, n);
		break;
	default:
		conninfo_put_pair(o, keyword, val, val_len);
		break;
	}
	rc = 0;
done:
	return rc;
}

/* Translates the ADO.NET form, segment by segment. */
static int conninfo_translate_ado(const char *in, struct conninfo_out *o, char *errstr,
                                  size_t errstr_size)
{
	const char *p = in;
	int segment = 0;
	int pairs = 0;
	int rc = -1;

	while (*p != '\0') {
		const char *seg_end = strchr(p, ';');
		const char *eq;
		const char *key = p;
		size_t key_len;
		const struct conninfo_key *known;
		char val[1024];
		size_t val_len = 0;

		segment++;
		while (isspace((unsigned char)*key))
			key++;
		if (*key == ';' || *key == '\0') { /* empty segment: ";;" or a trailing ';' */
			p = *key == ';' ? key + 1 : key;
			continue;
		}
		eq = strchr(key, '=');
		if (eq == NULL || (seg_end != NULL && eq > seg_end)) {
			/* The segment's text is not echoed: it may be the tail of a password that
			 * contained an unquoted ';'. */
			snprintf(errstr, errstr_size,
			         "connection string: segment %d has no '=' "
			         "(quote values that contain ';')",
			         segment);
			goto done;
		}
		key_len = (size_t)(eq - key);
		conninfo_trim(&key, &key_len);
		known = conninfo_lookup(key, key_len);
		if (known == NULL) {
			snprintf(errstr, errstr_size,
			         "connection string: unknown key '%.*s' (known: Host, "
			         "Port, Database, Username, Password, SSL Mode, Root "
			         "Certificate, SSL Certificate, SSL Key, Timeout, "
			         "Application Name, Search Path)",
			         (int)key_len, key);
			goto done;
		}
		p = eq + 1;
		while (isspace((unsigned char)*p))
			p++;
		if (conninfo_read_value(&p, val, sizeof(val), &val_len, segment, errstr,
		                        errstr_size) != 0)
			goto done;
		if (conninfo_put_setting(o, known, val, val_len, errstr, errstr_size) != 0)
			goto done;
		pairs++;
	}
	if (pairs == 0) {
		snprintf(errstr, errstr_size, "connection string has no Key=Value segments");
		goto done;
	}
	rc = 0;
done:
	return rc;
}

int conninfo_translate(const char *in, char *out, size_t out_size, char *errstr, size_t errstr_size)
{
	struct conninfo_out o = {.buf = out, .size = out_size, .len = 0, .overflow = false};
	const char *start = in;
	int rc = -1;

	if (out == NULL || out_size == 0) {
		snprintf(errstr, errstr_size, "connection string: no room for the result");
		goto done;
	}
	out[0] = '\0';
	if (in == NULL) {
		snprintf(errstr, errstr_size, "connection string is empty");
		goto done;
	}
	while (isspace((unsigned char)*start))
		start++;
	if (*start == '\0') {
		snprintf(errstr, errstr_size, "connection string is empty");
		goto done;
	}
	if (conninfo_starts_with(start, "postgresql://") ||
	    conninfo_starts_with(start, "postgres://") || !conninfo_is_ado(start)) {
		conninfo_puts(&o, start, strlen(start));
	} else if (conninfo_translate_ado(start, &o, errstr, errstr_size) != 0) {
		goto done;
	}
	if (o.overflow) {
		snprintf(errstr, errstr_size,
		         "connection string: the libpq form does not fit in %zu bytes", out_size);
		out[0] = '\0';
		goto done;
	}
	rc = 0;
done:
	return rc;
}
