/*
 * consume_record.h - what ferry's record headers say, and whether this group handles a record.
 * Pure functions over an array of headers (no librdkafka objects), so they are unit-tested.
 *
 * Headers written by the producer's relay: ferry-message-id (decimal id), ferry-idempotency-key,
 * ferry-producer-service-id, ferry-producer-instance-id, ferry-created-at, ferry-target-group;
 * and the application's W3C traceparent, which the consumer carries into its row and logs.
 * The names come from ferry/wire.h (FERRY_HEADER_*), which the producer writes them with.
 */
#ifndef FERRY_CONSUME_RECORD_H
#define FERRY_CONSUME_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/outbox.h"
#include "ferry/processor.h"

enum consume_decision {
	CONSUME_PROCESS,     /* ours and for this group */
	CONSUME_NOT_FERRY,   /* no ferry-message-id header: not written by ferry; skip */
	CONSUME_BAD_ID,      /* ferry-message-id present but not a positive decimal; skip */
	CONSUME_OTHER_GROUP, /* ferry-target-group names another group; skip */
	CONSUME_REFUSE,      /* ours and for this group, but its ferry-idempotency-key cannot be
	                        honoured (over FERRY_IDEMPOTENCY_KEY_MAX_BYTES, or not UTF-8 text):
	                        never processed, recorded as failed and negatively acknowledged
	                        (refusal says why), so the partition moves on */
};

/* The ferry headers of one record. Strings are NUL-terminated copies inside the struct, or ""
 * when absent (use the has_ flags). The idempotency key is always whole (a key that does not fit
 * makes the record CONSUME_REFUSE, never a shorter key); the other values, which only describe
 * the record, are cut to fit. */
struct consume_headers {
	int64_t message_id;
	int has_message_id;
	char idempotency_key[FERRY_IDEMPOTENCY_KEY_MAX_BYTES + 1]; /* the whole key */
	int has_idempotency_key;
	char refusal[192]; /* CONSUME_REFUSE: why, one line; else "" */
	char producer_service_id[128];
	char producer_instance_id[128];
	char target_group[256];
	int has_target_group;
	char traceparent[64]; /* W3C traceparent header when well-formed, else "" */
};

/*
 * Reads the ferry headers of `headers` (n entries; the first occurrence of a name wins) into
 * *out and decides what `group` does with the record. Never fails.
 */
enum consume_decision consume_record_classify(const struct ferry_header *headers, size_t n,
                                              const char *group, struct consume_headers *out);

/* "process", "not-ferry", "bad-id", "other-group", "refuse". */
const char *consume_decision_name(enum consume_decision d);

/* True when the n bytes are valid UTF-8 without NUL: storable in a PostgreSQL text column. */
bool consume_record_is_text(const void *s, size_t n);

#endif
