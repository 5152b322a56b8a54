/*
 * processor_log.c - the default processor: one log line per message (with its group, partition,
 * offset and traceparent), always succeeds. Useful to see the pipeline work and as the cheapest
 * baseline for benchmarks.
 */
#include "consumer/processor.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

static int processor_log_process(void *state, const struct ferry_consumed_message *msg, PGconn *txn,
                                 char *errstr, size_t errstr_size)
{
	struct log_ctx ctx = {msg->message_id, msg->topic,          msg->partition,
	                      msg->offset,     msg->consumer_group, NULL};
	char trace[64];
	size_t i;

	/* The line carries the message's trace, so a log search finds it by trace id. */
	for (i = 0; i < msg->header_count; i++) {
		const struct ferry_header *h = &msg->headers[i];

		if (h->name && strcmp(h->name, "traceparent") == 0 && h->value &&
		    h->value_len < sizeof(trace)) {
			snprintf(trace, sizeof(trace), "%.*s", (int)h->value_len,
			         (const char *)h->value);
			ctx.traceparent = trace;
			break;
		}
	}
	(void)state;
	(void)txn;
	(void)errstr;
	(void)errstr_size;
	log_info_ctx("processor", &ctx, "processed message %lld for group %s (%zu bytes)",
	             (long long)msg->message_id, msg->consumer_group, msg->payload_len);
	return 0;
}

int processor_log_new(struct processor *p, char *errstr, size_t errstr_size)
{
	(void)errstr;
	(void)errstr_size;
	p->process = processor_log_process;
	return 0;
}
