/*
 * processor.c - see processor.h: picks the processor kind and guards its contract.
 */
#include "consumer/processor.h"

#include <stdio.h>
#include <string.h>

#include "consumer/consumer_config.h"

int processor_new(const struct processor_options *opts, struct processor *p, char *errstr,
                  size_t errstr_size)
{
	memset(p, 0, sizeof(*p));
	if (strcmp(opts->kind, "log") == 0)
		return processor_log_new(p, errstr, errstr_size);
	if (strcmp(opts->kind, "webhook") == 0) {
		if (opts->webhook_url == NULL || opts->webhook_url[0] == '\0') {
			snprintf(errstr, errstr_size,
			         "FERRY_PROCESSOR=webhook needs FERRY_WEBHOOK_URL");
			return -1;
		}
		return processor_webhook_new(opts->webhook_url, opts->webhook_headers_file,
		                             opts->webhook_timeout_ms, p, errstr, errstr_size);
	}
	if (strcmp(opts->kind, "plugin") == 0) {
		if (opts->plugin_path == NULL || opts->plugin_path[0] == '\0') {
			snprintf(
			    errstr, errstr_size,
			    "FERRY_PROCESSOR=plugin needs FERRY_PROCESSOR_PLUGIN (path of a .so)");
			return -1;
		}
		return processor_plugin_new(opts->plugin_path, opts->config, p, errstr,
		                            errstr_size);
	}
	snprintf(errstr, errstr_size, "FERRY_PROCESSOR: unknown processor '%s'", opts->kind);
	return -1;
}

int processor_process(struct processor *p, const struct ferry_consumed_message *msg, PGconn *txn,
                      char *errstr, size_t errstr_size)
{
	int rc;

	errstr[0] = '\0';
	rc = p->process(p->state, msg, txn, errstr, errstr_size);
	if (rc == 0)
		return 0;
	if (errstr[0] == '\0')
		snprintf(errstr, errstr_size, "processor failed without a message");
	return rc == FERRY_PROCESSOR_RETRY ? FERRY_PROCESSOR_RETRY : -1;
}

void processor_destroy(struct processor *p)
{
	if (p->destroy)
		p->destroy(p->state);
	p->destroy = NULL;
	p->state = NULL;
	if (p->dl_handle)
		processor_plugin_close(p->dl_handle);
	p->dl_handle = NULL;
}

void processor_options_from_config(const struct consumer_config *cfg, struct processor_options *out)
{
	*out = (struct processor_options){
	    .kind = cfg->processor,
	    .webhook_url = cfg->webhook_url,
	    .webhook_headers_file = cfg->webhook_headers_file,
	    .webhook_timeout_ms = cfg->webhook_timeout_ms,
	    .plugin_path = cfg->plugin_path,
	    .config = cfg->processor_config,
	};
}
