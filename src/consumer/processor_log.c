/*
 * processor_log.c - the default processor: one log line per message, always succeeds. Useful to
 * see the pipeline work and as the cheapest baseline for benchmarks.
 */
#include "consumer/processor.h"

#include "common/log.h"

static int processor_log_process(void *state, const struct ferry_consumed_message *msg, PGconn *txn,
                                 char *errstr, size_t errstr_size)
{
	struct log_ctx ctx = {msg->message_id, msg->topic, msg->partition, msg->offset};

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
