/*
 * log.h - one-line-per-event logging for every ferry process.
 *
 * Text lines by default ("2026-11-26T20:21:46.123Z INFO  relay: message...") or JSON lines
 * ({"ts":"...","level":"info","module":"relay","msg":"...", "message_id":42, ...}) for log
 * shippers. The level check happens in the macro, so arguments below the threshold are never
 * formatted. Context variants add message id / topic / partition / offset fields. A message's
 * trailing line breaks are dropped and inner ones become spaces, so one event is one line.
 *
 * Thread-safety: every function may be called from any thread; each line is written with one
 * write(2) so lines from different threads never interleave. librdkafka's log callback is routed
 * here by kafka_conf.c.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <jansson.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Process-wide threshold; read without a lock (a plain int written once at start-up). */
extern int log_threshold;

/* Sets level and format. Call once at start-up before threads start. */
void log_init(enum log_level level, enum log_format format);

/* Parses "debug"/"info"/"warn"/"error" (case-insensitive). Returns 0 and sets *out, or -1. */
int log_level_parse(const char *s, enum log_level *out);
/* Parses "text"/"json". Returns 0 and sets *out, or -1. */
int log_format_parse(const char *s, enum log_format *out);

/* Context for a line about one message; fields that are unknown are NULL / -1. */
struct log_ctx {
	int64_t message_id;      /* -1 when not about a message */
	const char *topic;       /* NULL when not known */
	int32_t partition;       /* -1 when not known */
	int64_t offset;          /* -1 when not known */
	const char *group;       /* consumer group; NULL when none applies */
	const char *traceparent; /* the message's W3C traceparent; NULL when it has none */
};

void log_write(enum log_level level, const char *module, const struct log_ctx *ctx, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));

#define LOG_AT(level, module, ctx, ...)                                                            \
	do {                                                                                       \
		if ((int)(level) >= log_threshold)                                                 \
			log_write((level), (module), (ctx), __VA_ARGS__);                          \
	} while (0)

#define log_debug(module, ...) LOG_AT(LOG_LEVEL_DEBUG, module, NULL, __VA_ARGS__)
#define log_info(module, ...)  LOG_AT(LOG_LEVEL_INFO, module, NULL, __VA_ARGS__)
#define log_warn(module, ...)  LOG_AT(LOG_LEVEL_WARN, module, NULL, __VA_ARGS__)
#define log_error(module, ...) LOG_AT(LOG_LEVEL_ERROR, module, NULL, __VA_ARGS__)
/* Context variants: ctx is a const struct log_ctx *. */
#define log_debug_ctx(module, ctx, ...) LOG_AT(LOG_LEVEL_DEBUG, module, ctx, __VA_ARGS__)
#define log_info_ctx(module, ctx, ...)  LOG_AT(LOG_LEVEL_INFO, module, ctx, __VA_ARGS__)
#define log_warn_ctx(module, ctx, ...)  LOG_AT(LOG_LEVEL_WARN, module, ctx, __VA_ARGS__)
#define log_error_ctx(module, ctx, ...) LOG_AT(LOG_LEVEL_ERROR, module, ctx, __VA_ARGS__)

/*
 * A JSON string for text to be shown (a log line's fields, an HTTP error body): jansson refuses
 * invalid UTF-8 (a librdkafka message quoting raw broker bytes, an error quoting request
 * bytes), and the text must still go out, so those bytes become '?'. Returns a new reference,
 * or NULL when out of memory. Any thread.
 */
json_t *log_json_string(const char *s);

/*
 * `value` as one line of JSON text (json_dumps with `flags`) ending in '\n', NUL-terminated:
 * a JSON log line, an HTTP body. Returns a string the caller frees, its length with the '\n'
 * in *len; or NULL when out of memory (or value cannot be encoded). Any thread.
 */
char *log_json_dump_line(const json_t *value, size_t flags, size_t *len);

#endif
