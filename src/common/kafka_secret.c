/*
 * kafka_secret.c - see kafka_secret.h.
 */
#include "common/kafka_secret.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"

/* Secret whoever reads them: whole credentials in one property. */
static const char *const kafka_secret_whole[] = {
    "sasl.jaas.config",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.extensions",
};

/* Does the NUL-terminated `hay` contain `needle`, ignoring case? */
static bool kafka_secret_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

/* Is one dot-separated part (len bytes at p) "key" or a word ending in it ("apikey")? */
static bool kafka_secret_key_part(const char *p, size_t len)
{
	return len >= 3 && strncasecmp(p + len - 3, "key", 3) == 0;
}

bool kafka_secret_property(const char *name)
{
	size_t len, i;
	const char *part;

	if (name == NULL)
		return false;
	for (i = 0; i < sizeof(kafka_secret_whole) / sizeof(kafka_secret_whole[0]); i++)
		if (strcasecmp(name, kafka_secret_whole[i]) == 0)
			return true;
	if (kafka_secret_contains(name, "password") || kafka_secret_contains(name, "secret") ||
	    kafka_secret_contains(name, "token"))
		return true;
	/* A path names where a key is, it is not the key: keep it readable in errors. */
	len = strlen(name);
	if (len >= 9 && strcasecmp(name + len - 9, ".location") == 0)
		return false;
	for (part = name; *part;) {
		size_t plen = strcspn(part, ".");

		if (kafka_secret_key_part(part, plen))
			return true;
		part += plen;
		if (*part == '.')
			part++;
	}
	return false;
}

/* Replaces every occurrence of `value` in text by the mask, truncating to text_size. */
static void kafka_secret_scrub_one(char *text, size_t text_size, const char *value)
{
	size_t vlen = strlen(value), mlen = strlen(KAFKA_SECRET_MASK);
	char *at = text;

	while ((at = strstr(at, value)) != NULL) {
		size_t tail = strlen(at + vlen);
		size_t room = text_size - (size_t)(at - text) - 1; /* bytes for mask + tail */
		size_t m = mlen < room ? mlen : room;
		size_t keep = tail < room - m ? tail : room - m;

		memmove(at + m, at + vlen, keep);
		memcpy(at, KAFKA_SECRET_MASK, m);
		at[m + keep] = '\0';
		at += m;
	}
}

static int kafka_secret_longer_first(const void *a, const void *b)
{
	size_t la = strlen(*(const char *const *)a), lb = strlen(*(const char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

void kafka_secret_scrub(char *text, size_t text_size, const char *const *values, size_t n)
{
	const char **sorted;
	size_t i;

	if (text == NULL || text_size == 0 || n == 0)
		return;
	sorted = malloc(n * sizeof(*sorted));
	if (sorted == NULL) {
		snprintf(text, text_size, "(error text withheld: it may contain a secret)");
		return;
	}
	memcpy(sorted, values, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), kafka_secret_longer_first);
	for (i = 0; i < n; i++)
		if (sorted[i] != NULL && sorted[i][0] != '\0')
			kafka_secret_scrub_one(text, text_size, sorted[i]);
	free(sorted);
}

/* The secret values of the environment, and each line of a multi-line one (a PEM key). */
struct kafka_secret_values {
	char **v;
	size_t n, cap;
	bool oom;
};

static void kafka_secret_add(struct kafka_secret_values *s, const char *value, size_t len)
{
	char *copy;

	if (s->oom || len == 0)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		char **v = realloc(s->v, cap * sizeof(*v));

		if (v == NULL) {
			s->oom = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	copy = strndup(value, len);
	if (copy == NULL) {
		s->oom = true;
		return;
	}
	s->v[s->n++] = copy;
}

static int kafka_secret_collect(const char *name, const char *value, void *opaque, char *errstr,
                                size_t errstr_size)
{
	struct kafka_secret_values *s = opaque;
	const char *line;

	(void)errstr;
	(void)errstr_size;
	if (!kafka_secret_property(name))
		return 0;
	kafka_secret_add(s, value, strlen(value));
	if (strchr(value, '\n') == NULL)
		return 0;
	/* PEM: the base64 lines are the secret; the "-----BEGIN ...-----" lines say what it is. */
	for (line = value; *line;) {
		size_t len = strcspn(line, "\r\n");

		if (len >= 8 && strncmp(line, "-----", 5) != 0)
			kafka_secret_add(s, line, len);
		line += len;
		line += strspn(line, "\r\n");
	}
	return 0;
}

void kafka_secret_scrub_env(char *text, size_t text_size)
{
	struct kafka_secret_values s = {0};
	char unused[8];
	size_t i;

	if (text == NULL || text_size == 0)
		return;
	/* The same walk of KAFKA_* as the pass-through, so both agree on the property names. */
	if (config_kafka_passthrough(NULL, 0, kafka_secret_collect, &s, unused, sizeof(unused)) !=
	        0 ||
	    s.oom)
		snprintf(text, text_size, "(error text withheld: it may contain a secret)");
	else
		kafka_secret_scrub(text, text_size, (const char *const *)s.v, s.n);
	for (i = 0; i < s.n; i++)
		free(s.v[i]);
	free(s.v);
}
