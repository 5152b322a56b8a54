/*
 * registry_request.c - see registry_request.h.
 */
#include "producer/registry_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer/message_request.h"

static const char *const registry_topic_fields[] = {"topicName", "description", "partitions",
                                                    "consumerGroups", NULL};
static const char *const registry_group_fields[] = {"consumerGroupName",
                                                    "requiresAcknowledgment",
                                                    "acknowledgmentTimeoutMinutes",
                                                    "acknowledgmentTimeoutSeconds",
                                                    "maxRetries",
                                                    NULL};
static const char *const registry_update_fields[] = {"consumerGroupName",
                                                     "requiresAcknowledgment",
                                                     "acknowledgmentTimeoutMinutes",
                                                     "acknowledgmentTimeoutSeconds",
                                                     "maxRetries",
                                                     "isActive",
                                                     NULL};

/* Fails on the first member of obj not in `fields`, naming what is expected. */
static int registry_request_known_fields(json_t *obj, const char *where, const char *const *fields,
                                         char *errstr, size_t errstr_size)
{
	const char *name;
	json_t *value;
	size_t i, off;
	char expected[256];

	json_object_foreach (obj, name, value) {
		for (i = 0; fields[i]; i++)
			if (strcmp(name, fields[i]) == 0)
				break;
		if (fields[i])
			continue;
		expected[0] = '\0';
		for (i = 0, off = 0; fields[i] && off < sizeof(expected); i++)
			off += (size_t)snprintf(expected + off, sizeof(expected) - off, "%s%s",
			                        i ? ", " : "", fields[i]);
		snprintf(errstr, errstr_size, "%s%.64s: unknown field (expected %s)", where, name,
		         expected);
		return -1;
	}
	return 0;
}

static int registry_request_object(json_t *obj, const char *where, char *errstr, size_t errstr_size)
{
	size_t len = strlen(where);

	if (json_is_object(obj))
		return 0;
	/* where is "" (the body) or ends in '.', dropped here: "consumerGroups[1]: must be". */
	if (len == 0)
		snprintf(errstr, errstr_size, "body: must be a JSON object");
	else
		snprintf(errstr, errstr_size, "%.*s: must be a JSON object", (int)len - 1, where);
	return -1;
}

/* A name field (topic or group): a valid Kafka topic name. Absent or null -> *out NULL, an
 * error only when `required`. */
static int registry_request_name(json_t *obj, const char *field, const char *where, bool required,
                                 const char **out, char *errstr, size_t errstr_size)
{
	json_t *v = json_object_get(obj, field);
	const char *s;

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (!required)
			return 0;
		snprintf(errstr, errstr_size, "%s%s: is required", where, field);
		return -1;
	}
	if (!json_is_string(v)) {
		snprintf(errstr, errstr_size, "%s%s: must be a string", where, field);
		return -1;
	}
	s = json_string_value(v);
	/* An embedded NUL would hide the rest of the name from the check. */
	if (strlen(s) != json_string_length(v) || !message_request_topic_valid(s)) {
		snprintf(
		    errstr, errstr_size,
		    "%s%s: '%.64s' is not a valid name (1-249 characters of A-Z a-z 0-9 . _ -, "
		    "not . or ..)",
		    where, field, s);
		return -1;
	}
	*out = s;
	return 0;
}

/* An integer field within [min, max]. Absent or null -> *present false. */
static int registry_request_int(json_t *obj, const char *field, const char *where, long long min,
                                long long max, bool *present, int *out, char *errstr,
                                size_t errstr_size)
{
	json_t *v = json_object_get(obj, field);

	*present = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(errstr, errstr_size, "%s%s: must be an integer from %lld to %lld", where,
		         field, min, max);
		return -1;
	}
	*present = true;
	*out = (int)json_integer_value(v);
	return 0;
}

/* A boolean field. Absent or null -> *present false. */
static int registry_request_bool(json_t *obj, const char *field, const char *where, bool *present,
                                 bool *out, char *errstr, size_t errstr_size)
{
	json_t *v = json_object_get(obj, field);

	*present = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		snprintf(errstr, errstr_size, "%s%s: must be true or false", where, field);
		return -1;
	}
	*present = true;
	*out = json_is_true(v);
	return 0;
}

/* The acknowledgment timeout: seconds take precedence over minutes; both are checked. */
static int registry_request_timeout(json_t *obj, const char *where, bool *present, int *seconds,
                                    char *errstr, size_t errstr_size)
{
	bool has_min, has_sec;
	int minutes = 0, secs = 0;

	if (registry_request_int(obj, "acknowledgmentTimeoutMinutes", where, 1,
	                         REGISTRY_MAX_ACK_TIMEOUT_MINUTES, &has_min, &minutes, errstr,
	                         errstr_size) != 0 ||
	    registry_request_int(obj, "acknowledgmentTimeoutSeconds", where, 1,
	                         REGISTRY_MAX_ACK_TIMEOUT_SECONDS, &has_sec, &secs, errstr,
	                         errstr_size) != 0)
		return -1;
	*present = has_min || has_sec;
	if (has_sec)
		*seconds = secs;
	else if (has_min)
		*seconds = minutes * 60;
	return 0;
}

int registry_request_parse_group(json_t *obj, const char *where, struct registry_group_request *out,
                                 char *errstr, size_t errstr_size)
{
	bool present;

	memset(out, 0, sizeof(*out));
	out->requires_ack = true;
	out->ack_timeout_seconds = REGISTRY_DEFAULT_ACK_TIMEOUT_S;
	out->max_retries = REGISTRY_DEFAULT_MAX_RETRIES;
	if (registry_request_object(obj, where, errstr, errstr_size) != 0 ||
	    registry_request_known_fields(obj, where, registry_group_fields, errstr, errstr_size) !=
	        0 ||
	    registry_request_name(obj, "consumerGroupName", where, true, &out->name, errstr,
	                          errstr_size) != 0 ||
	    registry_request_bool(obj, "requiresAcknowledgment", where, &present,
	                          &out->requires_ack, errstr, errstr_size) != 0 ||
	    registry_request_timeout(obj, where, &present, &out->ack_timeout_seconds, errstr,
	                             errstr_size) != 0 ||
	    registry_request_int(obj, "maxRetries", where, -1, REGISTRY_MAX_RETRIES, &present,
	                         &out->max_retries, errstr, errstr_size) != 0)
		return -1;
	return 0;
}

static int registry_request_groups(json_t *body, struct registry_topic_request *out, char *errstr,
                                   size_t errstr_size)
{
	json_t *arr = json_object_get(body, "consumerGroups");
	size_t i, j, n;
	char where[48];

	if (arr == NULL || json_is_null(arr))
		return 0;
	if (!json_is_array(arr)) {
		snprintf(errstr, errstr_size, "consumerGroups: must be an array of groups");
		return -1;
	}
	n = json_array_size(arr);
	if (n > REGISTRY_MAX_GROUPS) {
		snprintf(errstr, errstr_size, "consumerGroups: at most %d groups, not %zu",
		         REGISTRY_MAX_GROUPS, n);
		return -1;
	}
	if (n == 0)
		return 0;
	out->groups = calloc(n, sizeof(*out->groups));
	if (out->groups == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "consumerGroups[%zu].", i);
		if (registry_request_parse_group(json_array_get(arr, i), where, &out->groups[i],
		                                 errstr, errstr_size) != 0)
			return -1;
		for (j = 0; j < i; j++) {
			if (strcmp(out->groups[j].name, out->groups[i].name) == 0) {
				snprintf(
				    errstr, errstr_size,
				    "%sconsumerGroupName: '%.64s' is already consumerGroups[%zu]",
				    where, out->groups[i].name, j);
				return -1;
			}
		}
		out->n_groups = i + 1;
	}
	return 0;
}

int registry_request_parse_topic(json_t *body, int default_partitions,
                                 struct registry_topic_request *out, char *errstr,
                                 size_t errstr_size)
{
	json_t *v;
	bool present;

	memset(out, 0, sizeof(*out));
	out->partitions = default_partitions;
	if (registry_request_object(body, "", errstr, errstr_size) != 0 ||
	    registry_request_known_fields(body, "", registry_topic_fields, errstr, errstr_size) !=
	        0 ||
	    registry_request_name(body, "topicName", "", true, &out->topic_name, errstr,
	                          errstr_size) != 0)
		goto fail;
	v = json_object_get(body, "description");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v)) {
			snprintf(errstr, errstr_size, "description: must be a string");
			goto fail;
		}
		if (json_string_length(v) > REGISTRY_MAX_DESCRIPTION_BYTES) {
			snprintf(errstr, errstr_size, "description: longer than %d bytes",
			         REGISTRY_MAX_DESCRIPTION_BYTES);
			goto fail;
		}
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(errstr, errstr_size,
			         "description: must not contain NUL characters");
			goto fail;
		}
		out->description = json_string_value(v);
	}
	if (registry_request_int(body, "partitions", "", REGISTRY_MIN_PARTITIONS,
	                         REGISTRY_MAX_PARTITIONS, &present, &out->partitions, errstr,
	                         errstr_size) != 0 ||
	    registry_request_groups(body, out, errstr, errstr_size) != 0)
		goto fail;
	return 0;
fail:
	registry_topic_request_clear(out);
	return -1;
}

void registry_topic_request_clear(struct registry_topic_request *req)
{
	free(req->groups);
	memset(req, 0, sizeof(*req));
}

int registry_request_parse_update(json_t *body, struct registry_group_update *out, char *errstr,
                                  size_t errstr_size)
{
	memset(out, 0, sizeof(*out));
	if (registry_request_object(body, "", errstr, errstr_size) != 0 ||
	    registry_request_known_fields(body, "", registry_update_fields, errstr, errstr_size) !=
	        0 ||
	    registry_request_name(body, "consumerGroupName", "", false, &out->name, errstr,
	                          errstr_size) != 0 ||
	    registry_request_bool(body, "requiresAcknowledgment", "", &out->has_requires_ack,
	                          &out->requires_ack, errstr, errstr_size) != 0 ||
	    registry_request_timeout(body, "", &out->has_ack_timeout, &out->ack_timeout_seconds,
	                             errstr, errstr_size) != 0 ||
	    registry_request_int(body, "maxRetries", "", -1, REGISTRY_MAX_RETRIES,
	                         &out->has_max_retries, &out->max_retries, errstr,
	                         errstr_size) != 0 ||
	    registry_request_bool(body, "isActive", "", &out->has_is_active, &out->is_active,
	                          errstr, errstr_size) != 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}
