/*
 * topic_request.c - see topic_request.h.
 */
#include "producer/api/topic_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_fields.h"
#include "producer/api/message_request.h"

static const char *const topic_request_topic_fields[] = {"topicName", "description", "partitions",
                                                         "consumerGroups", NULL};
static const char *const topic_request_group_fields[] = {"consumerGroupName",
                                                         "requiresAcknowledgment",
                                                         "acknowledgmentTimeoutMinutes",
                                                         "acknowledgmentTimeoutSeconds",
                                                         "maxRetries",
                                                         NULL};
static const char *const topic_request_update_fields[] = {"consumerGroupName",
                                                          "requiresAcknowledgment",
                                                          "acknowledgmentTimeoutMinutes",
                                                          "acknowledgmentTimeoutSeconds",
                                                          "maxRetries",
                                                          "isActive",
                                                          NULL};

/* The body or element is an object with no member outside `fields`. */
static int topic_request_shape(json_t *obj, const char *where, const char *const *fields,
                               char *errstr, size_t errstr_size)
{
	if (json_fields_check_object(obj, where, NULL, errstr, errstr_size) != 0 ||
	    json_fields_check_known(obj, where, fields, NULL, 64, errstr, errstr_size) != 0)
		return -1;
	return 0;
}

/* A name field (topic or group): a valid Kafka topic name. Absent or null -> *out NULL, an
 * error only when `required`. */
static int topic_request_name(json_t *obj, const char *field, const char *where, bool required,
                              const char **out, char *errstr, size_t errstr_size)
{
	json_t *v;
	const char *s;
	int rc = json_fields_member(obj, where, field, required, &v, errstr, errstr_size);

	*out = NULL;
	if (rc <= 0)
		return rc;
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
static int topic_request_int(json_t *obj, const char *field, const char *where, int min, int max,
                             bool *present, int *out, char *errstr, size_t errstr_size)
{
	int rc = json_fields_int(obj, where, field, false, min, max, out, errstr, errstr_size);

	*present = rc > 0;
	return rc < 0 ? -1 : 0;
}

/* A boolean field. Absent or null -> *present false. */
static int topic_request_bool(json_t *obj, const char *field, const char *where, bool *present,
                              bool *out, char *errstr, size_t errstr_size)
{
	int rc = json_fields_bool(obj, where, field, out, errstr, errstr_size);

	*present = rc > 0;
	return rc < 0 ? -1 : 0;
}

/* The acknowledgment timeout: seconds take precedence over minutes; both are checked. */
static int topic_request_timeout(json_t *obj, const char *where, bool *present, int *seconds,
                                 char *errstr, size_t errstr_size)
{
	bool has_min, has_sec;
	int minutes = 0, secs = 0;

	if (topic_request_int(obj, "acknowledgmentTimeoutMinutes", where, 1,
	                      TOPIC_REQUEST_MAX_ACK_TIMEOUT_MINUTES, &has_min, &minutes, errstr,
	                      errstr_size) != 0 ||
	    topic_request_int(obj, "acknowledgmentTimeoutSeconds", where, 1,
	                      TOPIC_REQUEST_MAX_ACK_TIMEOUT_SECONDS, &has_sec, &secs, errstr,
	                      errstr_size) != 0)
		return -1;
	*present = has_min || has_sec;
	if (has_sec)
		*seconds = secs;
	else if (has_min)
		*seconds = minutes * 60;
	return 0;
}

int topic_request_parse_group(json_t *obj, const char *where, struct topic_group_request *out,
                              char *errstr, size_t errstr_size)
{
	bool present;

	memset(out, 0, sizeof(*out));
	out->requires_ack = true;
	out->ack_timeout_seconds = TOPIC_REQUEST_DEFAULT_ACK_TIMEOUT_S;
	out->max_retries = TOPIC_REQUEST_DEFAULT_MAX_RETRIES;
	if (topic_request_shape(obj, where, topic_request_group_fields, errstr, errstr_size) != 0 ||
	    topic_request_name(obj, "consumerGroupName", where, true, &out->name, errstr,
	                       errstr_size) != 0 ||
	    topic_request_bool(obj, "requiresAcknowledgment", where, &present, &out->requires_ack,
	                       errstr, errstr_size) != 0 ||
	    topic_request_timeout(obj, where, &present, &out->ack_timeout_seconds, errstr,
	                          errstr_size) != 0 ||
	    topic_request_int(obj, "maxRetries", where, -1, TOPIC_REQUEST_MAX_RETRIES, &present,
	                      &out->max_retries, errstr, errstr_size) != 0)
		return -1;
	return 0;
}

static int topic_request_groups(json_t *body, struct topic_request *out, char *errstr,
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
	if (n > TOPIC_REQUEST_MAX_GROUPS) {
		snprintf(errstr, errstr_size, "consumerGroups: at most %d groups, not %zu",
		         TOPIC_REQUEST_MAX_GROUPS, n);
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
		if (topic_request_parse_group(json_array_get(arr, i), where, &out->groups[i],
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

int topic_request_parse_topic(json_t *body, int default_partitions, struct topic_request *out,
                              char *errstr, size_t errstr_size)
{
	bool present;

	memset(out, 0, sizeof(*out));
	out->partitions = default_partitions;
	if (topic_request_shape(body, "", topic_request_topic_fields, errstr, errstr_size) != 0 ||
	    topic_request_name(body, "topicName", "", true, &out->topic_name, errstr,
	                       errstr_size) != 0)
		goto fail;
	if (json_fields_text(body, "", "description", false, TOPIC_REQUEST_MAX_DESCRIPTION_BYTES,
	                     &out->description, errstr, errstr_size) < 0 ||
	    topic_request_int(body, "partitions", "", TOPIC_REQUEST_MIN_PARTITIONS,
	                      TOPIC_REQUEST_MAX_PARTITIONS, &present, &out->partitions, errstr,
	                      errstr_size) != 0 ||
	    topic_request_groups(body, out, errstr, errstr_size) != 0)
		goto fail;
	return 0;
fail:
	topic_request_clear(out);
	return -1;
}

void topic_request_clear(struct topic_request *req)
{
	free(req->groups);
	memset(req, 0, sizeof(*req));
}

int topic_request_parse_update(json_t *body, struct topic_group_update *out, char *errstr,
                               size_t errstr_size)
{
	memset(out, 0, sizeof(*out));
	if (topic_request_shape(body, "", topic_request_update_fields, errstr, errstr_size) != 0 ||
	    topic_request_name(body, "consumerGroupName", "", false, &out->name, errstr,
	                       errstr_size) != 0 ||
	    topic_request_bool(body, "requiresAcknowledgment", "", &out->has_requires_ack,
	                       &out->requires_ack, errstr, errstr_size) != 0 ||
	    topic_request_timeout(body, "", &out->has_ack_timeout, &out->ack_timeout_seconds,
	                          errstr, errstr_size) != 0 ||
	    topic_request_int(body, "maxRetries", "", -1, TOPIC_REQUEST_MAX_RETRIES,
	                      &out->has_max_retries, &out->max_retries, errstr, errstr_size) != 0 ||
	    topic_request_bool(body, "isActive", "", &out->has_is_active, &out->is_active, errstr,
	                       errstr_size) != 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}
