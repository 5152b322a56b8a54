/*
 * ack_request.c - see ack_request.h.
 */
#include "producer/ack_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ack_request_fields[] = {
    "messageId",          "consumerGroup", "success", "consumerServiceId",
    "consumerInstanceId", "errorMessage",  NULL,
};

static int ack_request_string(json_t *obj, const char *field, const char *where, int required,
                              const char **out, char *errstr, size_t errstr_size)
{
	json_t *v = json_object_get(obj, field);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			snprintf(errstr, errstr_size, "%s%s: is required", where, field);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024) {
		snprintf(errstr, errstr_size, "%s%s: must be a string of 1 to 1024 bytes", where,
		         field);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int ack_request_one(json_t *obj, const char *where, struct delivery_ack *ack, char *errstr,
                           size_t errstr_size)
{
	const char *name, *err_text = NULL;
	json_t *value, *v;
	size_t i;

	if (!json_is_object(obj)) {
		/* `where` is "[i]." for array elements: drop the dot in this message. */
		snprintf(errstr, errstr_size, "%.*s: must be an acknowledgment object",
		         *where ? (int)strlen(where) - 1 : 4, *where ? where : "body");
		return -1;
	}
	json_object_foreach (obj, name, value) {
		for (i = 0; ack_request_fields[i]; i++)
			if (strcmp(name, ack_request_fields[i]) == 0)
				break;
		if (ack_request_fields[i] == NULL) {
			snprintf(errstr, errstr_size,
			         "%s%s: unknown field (expected messageId, consumerGroup, success, "
			         "consumerServiceId, consumerInstanceId, errorMessage)",
			         where, name);
			return -1;
		}
	}
	v = json_object_get(obj, "messageId");
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) <= 0) {
		snprintf(errstr, errstr_size, "%smessageId: must be a positive integer", where);
		return -1;
	}
	ack->message_id = json_integer_value(v);
	v = json_object_get(obj, "success");
	if (v == NULL || !json_is_boolean(v)) {
		snprintf(errstr, errstr_size, "%ssuccess: must be true or false", where);
		return -1;
	}
	ack->success = json_is_true(v);
	if (ack_request_string(obj, "consumerGroup", where, 1, &ack->consumer_group, errstr,
	                       errstr_size) != 0 ||
	    ack_request_string(obj, "consumerServiceId", where, 0, &ack->consumer_service_id,
	                       errstr, errstr_size) != 0 ||
	    ack_request_string(obj, "consumerInstanceId", where, 0, &ack->consumer_instance_id,
	                       errstr, errstr_size) != 0 ||
	    ack_request_string(obj, "errorMessage", where, 0, &err_text, errstr, errstr_size) != 0)
		return -1;
	ack->error_message = err_text;
	return 0;
}

int ack_request_parse(json_t *body, struct delivery_ack **out, size_t *n, char *errstr,
                      size_t errstr_size)
{
	struct delivery_ack *acks = NULL;
	size_t i, count;
	char where[32];

	*out = NULL;
	*n = 0;
	count = json_is_array(body) ? json_array_size(body) : 1;
	if (json_is_array(body) && (count == 0 || count > ACK_REQUEST_MAX_BATCH)) {
		snprintf(errstr, errstr_size, "expected 1 to %d acknowledgments, not %zu",
		         ACK_REQUEST_MAX_BATCH, count);
		return -1;
	}
	acks = calloc(count, sizeof(*acks));
	if (acks == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		json_t *item = json_is_array(body) ? json_array_get(body, i) : body;

		where[0] = '\0';
		if (json_is_array(body))
			snprintf(where, sizeof(where), "[%zu].", i);
		if (ack_request_one(item, where, &acks[i], errstr, errstr_size) != 0) {
			free(acks);
			return -1;
		}
	}
	*out = acks;
	*n = count;
	return 0;
}
