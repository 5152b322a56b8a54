/*
 * message_request.c - see message_request.h.
 */
#include "producer/api/message_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_fields.h"
#include "common/traceparent.h"
#include "ferry/wire.h"

static const char *const message_request_fields[] = {
    "topic",       "message",       "key",         "headers", "idempotencyKey",
    "useBatching", "consumerGroup", "traceparent", NULL,
};

bool message_request_topic_valid(const char *topic)
{
	size_t len = topic ? strlen(topic) : 0;

	if (len == 0 || len > 249 || strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0)
		return false;
	return strspn(topic, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       len;
}

static int message_request_headers(json_t *obj, const char *where, struct message_request *out,
                                   char *errstr, size_t errstr_size)
{
	json_t *h = json_object_get(obj, "headers");
	const char *name;
	json_t *value;

	if (h == NULL || json_is_null(h))
		return 0;
	if (!json_is_object(h)) {
		snprintf(errstr, errstr_size, "%sheaders: must be an object of string values",
		         where);
		return -1;
	}
	if (json_object_size(h) > MESSAGE_REQUEST_MAX_HEADERS) {
		snprintf(errstr, errstr_size, "%sheaders: more than %d headers", where,
		         MESSAGE_REQUEST_MAX_HEADERS);
		return -1;
	}
	json_object_foreach (h, name, value) {
		if (name[0] == '\0') {
			snprintf(errstr, errstr_size, "%sheaders: a header name is empty", where);
			return -1;
		}
		/* ferry-* headers carry the message id and friends; a client must not forge them.
		 */
		if (strncmp(name, FERRY_HEADER_PREFIX, FERRY_HEADER_PREFIX_LEN) == 0) {
			snprintf(
			    errstr, errstr_size,
			    "%sheaders.%s: the ferry- prefix is reserved for ferry's own headers",
			    where, name);
			return -1;
		}
		if (!json_is_string(value)) {
			snprintf(errstr, errstr_size, "%sheaders.%s: must be a string", where,
			         name);
			return -1;
		}
		if (strcmp(name, FERRY_HEADER_TRACEPARENT) == 0 &&
		    !traceparent_valid(json_string_value(value))) {
			snprintf(errstr, errstr_size,
			         "%sheaders.traceparent: not a W3C traceparent "
			         "(00-<32 hex>-<16 hex>-<2 hex>)",
			         where);
			return -1;
		}
	}
	out->owned_headers = json_dumps(h, JSON_COMPACT);
	if (out->owned_headers == NULL) {
		snprintf(errstr, errstr_size, "%sheaders: cannot be encoded", where);
		return -1;
	}
	out->msg.headers_json = out->owned_headers;
	return 0;
}

int message_request_parse(json_t *obj, const char *where, struct message_request *out, char *errstr,
                          size_t errstr_size)
{
	json_t *v;

	memset(out, 0, sizeof(*out));
	out->use_batching = true;
	if (!json_is_object(obj)) {
		snprintf(errstr, errstr_size, "%s: must be a JSON object", *where ? where : "body");
		return -1;
	}
	/* traceparent is accepted but not advertised: the headers object is its usual place. */
	if (json_fields_check_known(obj, where, message_request_fields,
	                            "topic, message, key, headers, idempotencyKey, useBatching, "
	                            "consumerGroup",
	                            0, errstr, errstr_size) != 0)
		return -1;

	if (json_fields_member(obj, where, "topic", true, &v, errstr, errstr_size) < 0)
		goto fail;
	if (!json_is_string(v)) {
		snprintf(errstr, errstr_size, "%stopic: must be a string", where);
		goto fail;
	}
	if (!message_request_topic_valid(json_string_value(v))) {
		snprintf(errstr, errstr_size,
		         "%stopic: '%.64s' is not a valid Kafka topic name (1-249 characters of "
		         "A-Z a-z 0-9 . _ -)",
		         where, json_string_value(v));
		goto fail;
	}
	out->msg.topic = json_string_value(v);

	if (json_fields_member(obj, where, "message", true, &v, errstr, errstr_size) < 0)
		goto fail;
	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(errstr, errstr_size, "%smessage: must not contain NUL characters",
			         where);
			goto fail;
		}
		out->msg.payload = json_string_value(v);
	} else if (json_is_object(v) || json_is_array(v)) {
		/* A JSON document as the message is stored as its compact text. */
		out->owned_payload = json_dumps(v, JSON_COMPACT);
		if (out->owned_payload == NULL) {
			snprintf(errstr, errstr_size, "%smessage: cannot be encoded", where);
			goto fail;
		}
		out->msg.payload = out->owned_payload;
	} else {
		snprintf(errstr, errstr_size, "%smessage: must be a string or a JSON object/array",
		         where);
		goto fail;
	}

	if (json_fields_text(obj, where, "key", false, MESSAGE_REQUEST_MAX_KEY_BYTES, &out->msg.key,
	                     errstr, errstr_size) < 0 ||
	    json_fields_text(obj, where, "idempotencyKey", false,
	                     MESSAGE_REQUEST_MAX_IDEMPOTENCY_KEY_BYTES, &out->msg.idempotency_key,
	                     errstr, errstr_size) < 0)
		goto fail;
	if (out->msg.idempotency_key && out->msg.idempotency_key[0] == '\0') {
		snprintf(errstr, errstr_size, "%sidempotencyKey: must not be empty", where);
		goto fail;
	}
	if (json_fields_text(obj, where, "consumerGroup", false, 249, &out->msg.target_group,
	                     errstr, errstr_size) < 0)
		goto fail;
	if (out->msg.target_group && !message_request_topic_valid(out->msg.target_group)) {
		/* Group names follow the topic-name rules (the registry enforces the same). */
		snprintf(errstr, errstr_size, "%sconsumerGroup: '%.64s' is not a valid group name",
		         where, out->msg.target_group);
		goto fail;
	}
	if (json_fields_bool(obj, where, "useBatching", &out->use_batching, errstr, errstr_size) <
	    0)
		goto fail;
	if (message_request_headers(obj, where, out, errstr, errstr_size) != 0)
		goto fail;
	v = json_object_get(obj, "traceparent");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || !traceparent_valid(json_string_value(v))) {
			snprintf(
			    errstr, errstr_size,
			    "%straceparent: not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)",
			    where);
			goto fail;
		}
		if (message_request_set_traceparent(out, json_string_value(v), true) != 0) {
			snprintf(errstr, errstr_size, "%straceparent: cannot be encoded", where);
			goto fail;
		}
	}
	return 0;
fail:
	message_request_clear(out);
	return -1;
}

int message_request_set_traceparent(struct message_request *req, const char *traceparent,
                                    bool replace)
{
	json_t *h =
	    req->msg.headers_json ? json_loads(req->msg.headers_json, 0, NULL) : json_object();
	char *dump;

	if (h == NULL)
		return -1;
	if (!replace && json_object_get(h, "traceparent") != NULL) {
		json_decref(h);
		return 0;
	}
	json_object_set_new(h, "traceparent", json_string(traceparent));
	dump = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (dump == NULL)
		return -1;
	free(req->owned_headers);
	req->owned_headers = dump;
	req->msg.headers_json = dump;
	return 0;
}

void message_request_clear(struct message_request *req)
{
	free(req->owned_payload);
	free(req->owned_headers);
	memset(req, 0, sizeof(*req));
}

int message_request_parse_batch(json_t *body, struct message_request **out, size_t *n, char *errstr,
                                size_t errstr_size)
{
	json_t *arr = body;
	struct message_request *reqs = NULL;
	size_t i, count;
	char where[48];

	*out = NULL;
	*n = 0;
	if (json_is_object(body)) {
		static const char *const batch_fields[] = {"messages", NULL};

		if (json_fields_check_known(body, "", batch_fields, NULL, 0, errstr, errstr_size) !=
		    0)
			return -1;
		arr = json_object_get(body, "messages");
	}
	if (!json_is_array(arr)) {
		snprintf(errstr, errstr_size,
		         "messages: must be an array of messages (or the body a bare array)");
		return -1;
	}
	count = json_array_size(arr);
	if (count == 0 || count > MESSAGE_REQUEST_MAX_BATCH) {
		snprintf(errstr, errstr_size, "messages: must hold 1 to %d messages, not %zu",
		         MESSAGE_REQUEST_MAX_BATCH, count);
		return -1;
	}
	reqs = calloc(count, sizeof(*reqs));
	if (reqs == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		snprintf(where, sizeof(where), "messages[%zu].", i);
		if (message_request_parse(json_array_get(arr, i), where, &reqs[i], errstr,
		                          errstr_size) != 0) {
			message_request_free_array(reqs, i);
			return -1;
		}
	}
	*out = reqs;
	*n = count;
	return 0;
}

void message_request_free_array(struct message_request *reqs, size_t n)
{
	size_t i;

	for (i = 0; reqs && i < n; i++)
		message_request_clear(&reqs[i]);
	free(reqs);
}
