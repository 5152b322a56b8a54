/*
 * log.c - one-line-per-event logging to stderr, as text or JSON lines.
 *
 * Each line is built in memory and written with a single write(2) so that lines from different
 * threads never interleave (writes to a pipe of up to PIPE_BUF bytes are atomic; longer lines to
 * a file opened with O_APPEND are too on Linux).
 */
#include "common/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_LEVEL_INFO;
static enum log_format log_current_format = LOG_FORMAT_TEXT; /* set once by log_init */

/* Messages up to this size are formatted on the stack; longer ones fall back to the heap. */
#define LOG_STACK_MSG 2048
/* Room for the timestamp with every field at its widest, so gcc can prove it is not truncated. */
#define LOG_TS_SIZE 48

static const char *const log_level_upper[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const log_level_lower[] = {"debug", "info", "warn", "error"};

void log_init(enum log_level level, enum log_format format)
{
	log_threshold = (int)level;
	log_current_format = format;
}

int log_level_parse(const char *s, enum log_level *out)
{
	int rc = -1;

	if (s == NULL)
		goto done;
	for (size_t i = 0; i < sizeof(log_level_lower) / sizeof(log_level_lower[0]); i++) {
		if (strcasecmp(s, log_level_lower[i]) == 0) {
			*out = (enum log_level)i;
			rc = 0;
			break;
		}
	}
done:
	return rc;
}

int log_format_parse(const char *s, enum log_format *out)
{
	int rc = -1;

	if (s == NULL)
		goto done;
	if (strcasecmp(s, "text") == 0) {
		*out = LOG_FORMAT_TEXT;
		rc = 0;
	} else if (strcasecmp(s, "json") == 0) {
		*out = LOG_FORMAT_JSON;
		rc = 0;
	}
done:
	return rc;
}

/* Writes all of buf to stderr: one write(2) unless the kernel accepts only part of it. */
static void log_emit(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* nowhere left to report a failure to log */
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* "2026-11-26T20:21:46.123Z" into buf (LOG_TS_SIZE bytes). */
static void log_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03dZ", date, (int)(ts.tv_nsec / 1000000L));
}

/*
 * Keeps a message on one line: drops trailing line breaks (libpq's error messages end with one)
 * and turns inner ones into spaces, so a multi-line PostgreSQL error stays one event.
 */
static void log_flatten(char *msg)
{
	size_t len = strlen(msg);

	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';
	}
}

char *log_json_dump_line(const json_t *value, size_t flags, size_t *len)
{
	char *dump = json_dumps(value, flags), *line = NULL;
	size_t n;

	if (dump == NULL)
		return NULL;
	n = strlen(dump);
	line = malloc(n + 2);
	if (line != NULL) {
		memcpy(line, dump, n);
		line[n] = '\n';
		line[n + 1] = '\0';
		*len = n + 1;
	}
	free(dump);
	return line;
}

json_t *log_json_string(const char *s)
{
	json_t *js = json_string(s);
	char *copy = NULL;

	if (js != NULL)
		goto done;
	copy = strdup(s);
	if (copy == NULL)
		goto done;
	for (char *p = copy; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	}
	js = json_string(copy);
done:
	free(copy);
	return js;
}

/* Builds the JSON line (with trailing '\n') into a malloc'd string, or NULL on failure. */
static char *log_json_line(const char *ts, enum log_level level, const char *module,
                           const struct log_ctx *ctx, const char *msg)
{
	json_t *obj = json_object();
	char *line = NULL;
	size_t len;

	if (obj == NULL)
		goto done;
	json_object_set_new(obj, "ts", json_string(ts));
	json_object_set_new(obj, "level", json_string(log_level_lower[level]));
	json_object_set_new(obj, "module", log_json_string(module));
	json_object_set_new(obj, "msg", log_json_string(msg));
	if (ctx != NULL) {
		if (ctx->message_id >= 0)
			json_object_set_new(obj, "message_id", json_integer(ctx->message_id));
		if (ctx->topic != NULL)
			json_object_set_new(obj, "topic", log_json_string(ctx->topic));
		if (ctx->partition >= 0)
			json_object_set_new(obj, "partition", json_integer(ctx->partition));
		if (ctx->offset >= 0)
			json_object_set_new(obj, "offset", json_integer(ctx->offset));
		if (ctx->group != NULL)
			json_object_set_new(obj, "group", log_json_string(ctx->group));
		if (ctx->traceparent != NULL)
			json_object_set_new(obj, "traceparent", log_json_string(ctx->traceparent));
	}
	line = log_json_dump_line(obj, JSON_COMPACT | JSON_PRESERVE_ORDER, &len);
done:
	json_decref(obj);
	return line;
}

/* Appends to buf at *used; on truncation *used stops at the end so later calls stay safe. */
static void log_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void log_append(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = (*used + (size_t)n < size) ? *used + (size_t)n : size - 1;
}

/* Before a context field: the first one opens the bracket (nothing written yet), the others are
 * spaced. */
static const char *log_sep(size_t used)
{
	return used == 0 ? " [" : " ";
}

/* Formats " [message_id=42 topic=t partition=1 offset=7 group=g traceparent=00-...]" (only the
 * fields that are set). */
static void log_text_ctx(char *buf, size_t size, const struct log_ctx *ctx)
{
	size_t used = 0;

	buf[0] = '\0';
	if (ctx == NULL)
		return;
	if (ctx->message_id >= 0)
		log_append(buf, size, &used, "%smessage_id=%lld", log_sep(used),
		           (long long)ctx->message_id);
	if (ctx->topic != NULL)
		log_append(buf, size, &used, "%stopic=%s", log_sep(used), ctx->topic);
	if (ctx->partition >= 0)
		log_append(buf, size, &used, "%spartition=%d", log_sep(used), (int)ctx->partition);
	if (ctx->offset >= 0)
		log_append(buf, size, &used, "%soffset=%lld", log_sep(used),
		           (long long)ctx->offset);
	if (ctx->group != NULL)
		log_append(buf, size, &used, "%sgroup=%s", log_sep(used), ctx->group);
	if (ctx->traceparent != NULL)
		log_append(buf, size, &used, "%straceparent=%s", log_sep(used), ctx->traceparent);
	if (used > 0)
		log_append(buf, size, &used, "]");
}

/* Builds the text line (with trailing '\n') into a malloc'd string, or NULL on failure. */
static char *log_text_line(const char *ts, enum log_level level, const char *module,
                           const struct log_ctx *ctx, const char *msg)
{
	char ctxbuf[1024];
	char *line = NULL;
	int len;

	log_text_ctx(ctxbuf, sizeof(ctxbuf), ctx);
	len =
	    asprintf(&line, "%s %-5s %s: %s%s\n", ts, log_level_upper[level], module, msg, ctxbuf);
	if (len < 0)
		line = NULL;
	return line;
}

void log_write(enum log_level level, const char *module, const struct log_ctx *ctx, const char *fmt,
               ...)
{
	int saved_errno = errno; /* callers often log and then inspect errno */
	char stackmsg[LOG_STACK_MSG];
	char *msg = stackmsg;
	char *heapmsg = NULL;
	char *line = NULL;
	char ts[LOG_TS_SIZE];
	va_list ap;
	int n;

	if ((int)level < LOG_LEVEL_DEBUG || (int)level > LOG_LEVEL_ERROR)
		level = LOG_LEVEL_ERROR;
	if (module == NULL)
		module = "-";

	va_start(ap, fmt);
	n = vsnprintf(stackmsg, sizeof(stackmsg), fmt, ap);
	va_end(ap);
	if (n < 0) {
		snprintf(stackmsg, sizeof(stackmsg), "(unformattable log message: %s)", fmt);
	} else if ((size_t)n >= sizeof(stackmsg)) {
		heapmsg = malloc((size_t)n + 1);
		if (heapmsg != NULL) {
			va_start(ap, fmt);
			vsnprintf(heapmsg, (size_t)n + 1, fmt, ap);
			va_end(ap);
			msg = heapmsg;
		}
		/* Without memory the truncated stack copy still says most of it. */
	}
	log_flatten(msg);
	log_timestamp(ts, sizeof(ts));

	if (log_current_format == LOG_FORMAT_JSON)
		line = log_json_line(ts, level, module, ctx, msg);
	else
		line = log_text_line(ts, level, module, ctx, msg);

	if (line != NULL) {
		log_emit(line, strlen(line));
	} else {
		/* Out of memory: say so rather than lose the event silently. */
		static const char oom[] = "log: out of memory formatting a log line\n";

		log_emit(oom, sizeof(oom) - 1);
	}

	free(line);
	free(heapmsg);
	errno = saved_errno;
}
