/*
 * consume_record.c - see consume_record.h.
 */
#include "consumer/consume_record.h"

#include "common/traceparent.h"
#include "ferry/wire.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Copies a header value into dst (dst_size bytes, NUL-terminated, cut to fit). */
static void consume_record_copy(char *dst, size_t dst_size, const struct ferry_header *h)
{
	size_t n = h->value ? h->value_len : 0;

	if (n >= dst_size)
		n = dst_size - 1;
	if (n)
		memcpy(dst, h->value, n);
	dst[n] = '\0';
}

bool consume_record_is_text(const void *v, size_t n)
{
	const unsigned char *s = v;
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t extra, k;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			extra = 1;
		else if (c >= 0xe0 && c <= 0xef)
			extra = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			extra = 3;
		else
			return false;
		if (i + extra >= n)
			return false;
		for (k = 1; k <= extra; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		/* overlongs and surrogates */
		if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f) ||
		    (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f))
			return false;
		i += extra + 1;
	}
	return true;
}

/* Parses a positive decimal int64 of exactly len bytes. */
static bool consume_record_parse_id(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (s == NULL || len == 0 || len > 19)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (INT64_MAX - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0)
		return false;
	*out = v;
	return true;
}

enum consume_decision consume_record_classify(const struct ferry_header *headers, size_t n,
                                              const char *group, struct consume_headers *out)
{
	bool seen_id = false, seen_svc = false, seen_inst = false, id_ok = false;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		const struct ferry_header *h = &headers[i];

		if (h->name == NULL)
			continue;
		if (!seen_id && strcmp(h->name, FERRY_HEADER_MESSAGE_ID) == 0) {
			seen_id = true;
			id_ok = consume_record_parse_id(h->value, h->value_len, &out->message_id);
		} else if (!out->has_idempotency_key &&
		           strcmp(h->name, FERRY_HEADER_IDEMPOTENCY_KEY) == 0 && h->value) {
			out->has_idempotency_key = 1;
			/* Whole or not at all: a cut key would merge distinct messages (the second
			 * lost), and a cut inside a UTF-8 character is refused by PostgreSQL on
			 * every retry. */
			if (h->value_len > FERRY_IDEMPOTENCY_KEY_MAX_BYTES)
				snprintf(out->refusal, sizeof(out->refusal),
				         FERRY_HEADER_IDEMPOTENCY_KEY
				         " is %zu bytes, over the limit of %d",
				         h->value_len, FERRY_IDEMPOTENCY_KEY_MAX_BYTES);
			else if (!consume_record_is_text(h->value, h->value_len))
				snprintf(out->refusal, sizeof(out->refusal),
				         FERRY_HEADER_IDEMPOTENCY_KEY
				         " is not UTF-8 text (or contains NUL)");
			else
				consume_record_copy(out->idempotency_key,
				                    sizeof(out->idempotency_key), h);
		} else if (!seen_svc && strcmp(h->name, FERRY_HEADER_PRODUCER_SERVICE_ID) == 0) {
			seen_svc = true;
			consume_record_copy(out->producer_service_id,
			                    sizeof(out->producer_service_id), h);
		} else if (!seen_inst && strcmp(h->name, FERRY_HEADER_PRODUCER_INSTANCE_ID) == 0) {
			seen_inst = true;
			consume_record_copy(out->producer_instance_id,
			                    sizeof(out->producer_instance_id), h);
		} else if (!out->has_target_group &&
		           strcmp(h->name, FERRY_HEADER_TARGET_GROUP) == 0 && h->value &&
		           h->value_len > 0) {
			out->has_target_group = 1;
			consume_record_copy(out->target_group, sizeof(out->target_group), h);
		} else if (!out->traceparent[0] && strcmp(h->name, FERRY_HEADER_TRACEPARENT) == 0 &&
		           h->value) {
			/* Only a well-formed one reaches logs and rows. */
			consume_record_copy(out->traceparent, sizeof(out->traceparent), h);
			if (!traceparent_valid(out->traceparent))
				out->traceparent[0] = '\0';
		}
	}
	if (!seen_id)
		return CONSUME_NOT_FERRY;
	if (!id_ok)
		return CONSUME_BAD_ID;
	out->has_message_id = 1;
	if (out->has_target_group && strcmp(out->target_group, group) != 0)
		return CONSUME_OTHER_GROUP;
	if (out->refusal[0])
		return CONSUME_REFUSE;
	return CONSUME_PROCESS;
}

const char *consume_decision_name(enum consume_decision d)
{
	switch (d) {
	case CONSUME_PROCESS:
		return "process";
	case CONSUME_NOT_FERRY:
		return "not-ferry";
	case CONSUME_BAD_ID:
		return "bad-id";
	case CONSUME_OTHER_GROUP:
		return "other-group";
	case CONSUME_REFUSE:
		return "refuse";
	}
	return "unknown";
}
