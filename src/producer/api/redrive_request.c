/*
 * redrive_request.c - see redrive_request.h.
 */
#include "producer/api/redrive_request.h"

#include <stdio.h>
#include <string.h>

#include "common/json_fields.h"
#include "producer/api/message_request.h"

#define REDRIVE_BULK_DEFAULT_LIMIT 1000
#define REDRIVE_BULK_MAX_LIMIT     10000

/* Reads an optional string field that must be a valid Kafka-style name (groups) or any 1..255
 * byte string (consumer ids). Returns 0 (absent: *out NULL) or -1 with errstr. */
static int redrive_request_string(json_t *obj, const char *field, int name_rules, const char **out,
                                  char *errstr, size_t errstr_size)
{
	json_t *v = json_fields_get(obj, field);
	const char *s;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v)) {
		snprintf(errstr, errstr_size, "%s must be a string", field);
		return -1;
	}
	s = json_string_value(v);
	if (name_rules ? !message_request_topic_valid(s)
	               : (s[0] == '\0' || json_string_length(v) > 255 ||
	                  strlen(s) != json_string_length(v))) {
		snprintf(errstr, errstr_size, "%s is not valid: %s", field,
		         name_rules ? "1-249 characters of A-Z a-z 0-9 . _ -"
		                    : "expected 1-255 bytes, no NUL");
		return -1;
	}
	*out = s;
	return 0;
}

/* Redrive's own wording, older than json_fields_check_known's: "unknown field 'x'". */
static int redrive_request_known_fields(json_t *obj, const char *const *fields, char *errstr,
                                        size_t errstr_size)
{
	const char *key = json_fields_unknown(obj, fields);

	if (key == NULL)
		return 0;
	snprintf(errstr, errstr_size, "unknown field '%.100s'", key);
	return -1;
}

int redrive_request_parse_one(json_t *body, struct redrive_one_request *out, char *errstr,
                              size_t errstr_size)
{
	static const char *const fields[] = {"consumerGroup", "targetConsumerServiceId", NULL};

	memset(out, 0, sizeof(*out));
	if (body == NULL)
		return 0;
	if (!json_is_object(body)) {
		snprintf(errstr, errstr_size,
		         "body must be a JSON object: {consumerGroup?, targetConsumerServiceId?}");
		return -1;
	}
	if (redrive_request_known_fields(body, fields, errstr, errstr_size) != 0 ||
	    redrive_request_string(body, "consumerGroup", 1, &out->consumer_group, errstr,
	                           errstr_size) != 0 ||
	    redrive_request_string(body, "targetConsumerServiceId", 0, &out->target, errstr,
	                           errstr_size) != 0)
		return -1;
	if (out->target && out->consumer_group == NULL) {
		snprintf(
		    errstr, errstr_size,
		    "targetConsumerServiceId needs consumerGroup: an instance serves one group");
		return -1;
	}
	return 0;
}

int redrive_request_status_valid(const char *status)
{
	return status == NULL || status[0] == '\0' || strcmp(status, "FAILED") == 0 ||
	       strcmp(status, "EXPIRED") == 0;
}

int redrive_request_parse_bulk(json_t *body, struct redrive_bulk_request *out, char *errstr,
                               size_t errstr_size)
{
	static const char *const fields[] = {"consumerGroup", "status", "limit", NULL};
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->limit = REDRIVE_BULK_DEFAULT_LIMIT;
	if (!json_is_object(body)) {
		snprintf(errstr, errstr_size,
		         "body must be a JSON object: {consumerGroup, status?, "
		         "limit?}");
		return -1;
	}
	if (redrive_request_known_fields(body, fields, errstr, errstr_size) != 0 ||
	    redrive_request_string(body, "consumerGroup", 1, &out->consumer_group, errstr,
	                           errstr_size) != 0)
		return -1;
	if (out->consumer_group == NULL) {
		snprintf(errstr, errstr_size, "consumerGroup is required");
		return -1;
	}
	v = json_fields_get(body, "status");
	if (v) {
		if (!json_is_string(v) || !redrive_request_status_valid(json_string_value(v)) ||
		    json_string_value(v)[0] == '\0') {
			snprintf(errstr, errstr_size, "status must be FAILED or EXPIRED");
			return -1;
		}
		out->status = json_string_value(v);
	}
	v = json_fields_get(body, "limit");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > REDRIVE_BULK_MAX_LIMIT) {
			snprintf(errstr, errstr_size, "limit must be an integer from 1 to %d",
			         REDRIVE_BULK_MAX_LIMIT);
			return -1;
		}
		out->limit = (int)json_integer_value(v);
	}
	return 0;
}

void redrive_request_actor(const char *header, char *buf, size_t size)
{
	size_t i, n = header ? strlen(header) : 0;
	int ok = n >= 1 && n <= 128;

	for (i = 0; ok && i < n; i++)
		ok = header[i] >= 0x20 && header[i] < 0x7f;
	snprintf(buf, size, "api:%s", ok ? header : "anonymous");
}
