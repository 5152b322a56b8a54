/*
 * config.h - one declarative table of settings per service.
 *
 * Each service (producer_config.c, later consumer_config.c) declares a const array of
 * struct config_setting: name, type, default, range, environment variable, description, and
 * where the parsed value goes. config_load() fills the values from the environment (and from
 * a few command-line flags the service maps onto settings), validates types and ranges, and
 * fails with one readable line naming the variable. config_print_markdown() prints the
 * table that docs/configuration.md carries; a test checks that the two agree.
 *
 * Environment variables named KAFKA_* that are not settings of the table are passed through to
 * librdkafka: KAFKA_SECURITY_PROTOCOL=ssl becomes security.protocol=ssl (lower-cased, '_'
 * becomes '.'). See config_kafka_passthrough().
 *
 * Thread-safety: load at start-up on the main thread; afterwards values are read-only.
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum config_type {
	CONFIG_STRING, /* value: char ** (malloc'd copy; freed by config_free) */
	CONFIG_INT,    /* value: long *; range [min, max] enforced */
	CONFIG_BOOL,   /* value: bool *; accepts true/false/1/0/yes/no/on/off */
	CONFIG_ENUM,   /* value: char ** ; must be one of enum_values (NULL-terminated) */
};

struct config_setting {
	const char *env;          /* environment variable, e.g. "FERRY_RELAY_BATCH_SIZE" */
	enum config_type type;    /* how the text is parsed */
	const char *default_text; /* default as text (parsed like user input); NULL = unset/NULL */
	long min, max;            /* CONFIG_INT range, inclusive */
	const char *const *enum_values; /* CONFIG_ENUM choices */
	const char *description;        /* one sentence for --help and the docs */
	void *value; /* where the parsed value is stored (see enum config_type) */
};

/*
 * Loads every setting of `table` (n entries): for each, the environment variable if set and
 * non-empty, else the default. `overrides` (may be NULL) is an array of n strings or NULLs
 * that take precedence over the environment (used for command-line flags such as --urls).
 * Returns 0 on success. On the first invalid value returns -1 and writes a line such as
 * "FERRY_RELAY_BATCH_SIZE: 'abc' is not an integer (expected 1..100000)" into errstr; values
 * already stored stay stored (call config_free).
 * An ENUM is matched case-insensitively and stored in the table's spelling. An INT or BOOL with
 * neither a value nor a default keeps what the caller stored. STRING/ENUM pointers are
 * overwritten, not freed: call config_free before loading the same table again.
 */
int config_load(const struct config_setting *table, size_t n, const char *const *overrides,
                char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Frees the CONFIG_STRING/CONFIG_ENUM copies made by config_load and sets them to NULL. */
void config_free(const struct config_setting *table, size_t n);

/* Prints the table as a Markdown table: | Variable | Type | Default | Description |. */
void config_print_markdown(const struct config_setting *table, size_t n, FILE *out);

/*
 * Calls `cb(name, value, opaque)` for every KAFKA_* environment variable that is not the env of
 * a setting in `table`, with the name translated to librdkafka's property form
 * (KAFKA_SASL_MECHANISMS -> sasl.mechanisms). Stops and returns -1 if cb returns non-zero
 * (cb fills errstr), else 0.
 * A double underscore stands for a literal '_' (KAFKA_FOO__BAR -> foo_bar); variables set to
 * the empty string are skipped, as for the settings of the table.
 */
int config_kafka_passthrough(const struct config_setting *table, size_t n,
                             int (*cb)(const char *name, const char *value, void *opaque,
                                       char *errstr, size_t errstr_size),
                             void *opaque, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Parses a listen address given as the seed's --urls value ("http://host:port", first of a
 * ';'-separated list; "*", "+" and "0.0.0.0" mean all interfaces) or as a bare port.
 * Writes the host (empty string = all interfaces), port, and *https (true for "https://...",
 * false for http:// and a bare port). Returns 0, or -1 with errstr.
 * "http://[::1]:5301" gives host "::1"; a trailing '/' is allowed.
 */
int config_parse_listen_url(const char *url, char *host, size_t host_size, int *port, bool *https,
                            char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
