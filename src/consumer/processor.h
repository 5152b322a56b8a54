/*
 * processor.h - the message handler a consume thread calls (include/ferry/processor.h is the
 * public contract): log, webhook or a plugin loaded with dlopen. One struct processor per consume
 * loop: processor_new and processor_destroy run on the thread that owns the loop (ferry-consumer's
 * main thread), processor_process only on the loop's consume thread, in between; never two at
 * once.
 */
#ifndef FERRY_CONSUMER_PROCESSOR_H
#define FERRY_CONSUMER_PROCESSOR_H

#include <jansson.h>
#include <stddef.h>

#include "ferry/processor.h"

struct processor_options {
	const char *kind;        /* "log", "webhook" or "plugin" */
	const char *webhook_url; /* webhook: required (a secret: shown through url_redact) */
	const char *webhook_headers_file; /* webhook: FERRY_WEBHOOK_HEADERS_FILE, may be NULL */
	long webhook_timeout_ms;          /* webhook: per POST */
	const char *plugin_path;          /* plugin: required */
	const char *config;               /* plugin: FERRY_PROCESSOR_CONFIG, may be NULL */
};

struct consumer_config;

/* Fills *out from the settings (consumer_config.h). Strings point into
 * cfg, which must outlive *out. Pure; any thread. */
void processor_options_from_config(const struct consumer_config *cfg,
                                   struct processor_options *out);

struct processor {
	ferry_processor_process_fn process; /* never NULL */
	void (*destroy)(void *state);       /* may be NULL */
	void *state;                        /* passed to process/destroy */
	void *dl_handle;                    /* plugin: dlopen handle, closed by processor_destroy */
};

/*
 * Builds the processor `opts->kind` into *p. Returns 0, or -1 with one line in errstr (missing
 * FERRY_WEBHOOK_URL / FERRY_PROCESSOR_PLUGIN, dlopen/dlsym errors, the plugin's init error).
 */
int processor_new(const struct processor_options *opts, struct processor *p, char *errstr,
                  size_t errstr_size) __attribute__((warn_unused_result));

/* Calls the processor: 0, -1, or FERRY_PROCESSOR_RETRY (a transient failure: retry the record),
 * with errstr (never left empty) on failure. */
int processor_process(struct processor *p, const struct ferry_consumed_message *msg, PGconn *txn,
                      char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Destroys the state and closes the plugin. Safe on a zeroed struct. */
void processor_destroy(struct processor *p);

/* The shipped processors (processor_log.c, processor_webhook.c, processor_plugin.c). */
int processor_log_new(struct processor *p, char *errstr, size_t errstr_size);
/* The webhook: POSTs to url with the headers of headers_file (NULL or "": none; see
 * webhook_headers.h). Fails with one line naming neither the URL's secret parts nor a header
 * value. */
int processor_webhook_new(const char *url, const char *headers_file, long timeout_ms,
                          struct processor *p, char *errstr, size_t errstr_size);
int processor_plugin_new(const char *path, const char *config, struct processor *p, char *errstr,
                         size_t errstr_size);

/* dlclose for processor_destroy (processor_plugin.c). */
void processor_plugin_close(void *handle);

/* The webhook's JSON body for `msg` (new reference): {messageId, topic, key, payload, headers,
 * consumerGroup}; key/payload/header values that are not UTF-8 text are null. Pure. */
json_t *processor_webhook_body(const struct ferry_consumed_message *msg);

#endif
