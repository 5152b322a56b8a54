/*
 * kafka_secret.h - keeps Kafka secrets out of logs and error lines.
 *
 * Two jobs. kafka_secret_property() decides, from a librdkafka property's name alone, whether
 * its value is a secret: such values are shown as "***" wherever ferry logs or echoes a
 * setting. kafka_secret_scrub() replaces every configured secret value found in a text by
 * "***": librdkafka's own error text may quote a value it rejected ("Invalid value "..." for
 * configuration property "sasl.password""), and ferry reports that text otherwise verbatim.
 *
 * All functions are thread-safe (they only read the environment, which ferry never changes
 * after start-up).
 */
#ifndef FERRY_KAFKA_SECRET_H
#define FERRY_KAFKA_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* What a secret is shown as. */
#define KAFKA_SECRET_MASK "***"

/*
 * True when the value of librdkafka property `name` (e.g. "sasl.password") is a secret:
 * a name with "password", "secret" or "token" in it; one with a dot-separated part that is or
 * ends in "key" (ssl.key.pem, ssl.key.password, an "apikey"), except a ".location" (a path,
 * useful in errors, not a secret); and the whole-credential properties sasl.jaas.config,
 * sasl.oauthbearer.config and sasl.oauthbearer.extensions. Case-insensitive. Pure.
 */
bool kafka_secret_property(const char *name);

/*
 * Replaces in `text` (NUL-terminated, in a buffer of text_size bytes) every occurrence of each
 * non-empty string of values[0..n) by KAFKA_SECRET_MASK, longest values first so that a secret
 * containing another is masked whole. The result is truncated to fit the buffer. Pure.
 */
void kafka_secret_scrub(char *text, size_t text_size, const char *const *values, size_t n);

/*
 * kafka_secret_scrub() with the values of every KAFKA_* environment variable (the pass-through
 * to librdkafka) whose property kafka_secret_property() calls secret. Also scrubs the text of
 * an embedded PEM key line by line (librdkafka may quote one line of it). On out of memory
 * the text is replaced by a fixed "(error text withheld: it may contain a secret)".
 */
void kafka_secret_scrub_env(char *text, size_t text_size);

#endif
