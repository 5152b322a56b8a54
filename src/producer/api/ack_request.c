/*
 * ack_request.c - see ack_request.h.
 */
#include "producer/api/ack_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_fields.h"
#include "ferry/wire.h"

static const char *const ack_request_fields[] = {
    FERRY_ACK_MESSAGE_ID,
    FERRY_ACK_CONSUMER_GROUP,
    FERRY_ACK_SUCCESS,
    FERRY_ACK_CONSUMER_SERVICE_ID,
    FERRY_ACK_CONSUMER_INSTANCE_ID,
    FERRY_ACK_ERROR_MESSAGE,
    NULL,
};

static int ack_request_one(json_t *obj, const char *where, struct delivery_ack *ack, char *errstr,
                           size_t errstr_size)
{
	json_t *v;

	if (json_fields_check_object(obj, where, "an acknowledgment object", errstr, errstr_size) !=
	        0 ||
	    json_fields_check_known(obj, where, ack_request_fields, NULL, 0, errstr, errstr_size) !=
	        0)
		return -1;
	v = json_object_get(obj, FERRY_ACK_MESSAGE_ID);
	if (v == NULL || !json_is_integer(v) || json_integer_value(v) <= 0) {
		snprintf(errstr, errstr_size,
		         "%s" FERRY_ACK_MESSAGE_ID ": must be a positive integer", where);
		return -1;
	}
	ack->message_id = json_integer_value(v);
	/* Absent is "must be true or false" too: there is no default. */
	v = json_object_get(obj, FERRY_ACK_SUCCESS);
	if (v == NULL || !json_is_boolean(v)) {
		snprintf(errstr, errstr_size, "%s" FERRY_ACK_SUCCESS ": must be true or false",
		         where);
		return -1;
	}
	ack->success = json_is_true(v);
	if (json_fields_sized_string(obj, where, FERRY_ACK_CONSUMER_GROUP, true,
	                             FERRY_ACK_MAX_STRING_BYTES, false, &ack->consumer_group,
	                             errstr, errstr_size) < 0 ||
	    json_fields_sized_string(obj, where, FERRY_ACK_CONSUMER_SERVICE_ID, false,
	                             FERRY_ACK_MAX_STRING_BYTES, false, &ack->consumer_service_id,
	                             errstr, errstr_size) < 0 ||
	    json_fields_sized_string(obj, where, FERRY_ACK_CONSUMER_INSTANCE_ID, false,
	                             FERRY_ACK_MAX_STRING_BYTES, false, &ack->consumer_instance_id,
	                             errstr, errstr_size) < 0 ||
	    json_fields_sized_string(obj, where, FERRY_ACK_ERROR_MESSAGE, false,
	                             FERRY_ACK_MAX_STRING_BYTES, false, &ack->error_message, errstr,
	                             errstr_size) < 0)
		return -1;
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
