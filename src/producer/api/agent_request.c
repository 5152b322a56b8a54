/*
 * agent_request.c - see agent_request.h.
 */
#include "producer/api/agent_request.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_fields.h"
#include "ferry/wire.h"
#include "producer/api/message_request.h"

static const char *const agent_registration_fields[] = {
    FERRY_AGENT_SERVICE_ID, FERRY_AGENT_INSTANCE_ID, FERRY_AGENT_CONSUMER_GROUP, FERRY_AGENT_TOPICS,
    FERRY_AGENT_HOST,       FERRY_AGENT_PORT,        FERRY_AGENT_VERSION,        NULL};
static const char *const agent_heartbeat_fields[] = {
    FERRY_AGENT_SERVICE_ID, FERRY_AGENT_INSTANCE_ID, FERRY_AGENT_CONSUMER_GROUP,
    FERRY_AGENT_HEALTHY,    FERRY_AGENT_DETAILS,     NULL};
static const char *const agent_deregistration_fields[] = {
    FERRY_AGENT_SERVICE_ID, FERRY_AGENT_INSTANCE_ID, FERRY_AGENT_CONSUMER_GROUP, NULL};

/* The body is an object and has no member outside `fields`; else -1 naming what is expected. */
static int agent_request_shape(json_t *body, const char *const *fields, char *errstr,
                               size_t errstr_size)
{
	if (json_fields_check_object(body, "", NULL, errstr, errstr_size) != 0 ||
	    json_fields_check_known(body, "", fields, NULL, 64, errstr, errstr_size) != 0)
		return -1;
	return 0;
}

/* A string field of 1 to 255 bytes without NUL. Absent or null -> *out NULL, an error only when
 * `required`. */
static int agent_request_string(json_t *body, const char *field, bool required, const char **out,
                                char *errstr, size_t errstr_size)
{
	return json_fields_sized_string(body, "", field, required, AGENT_REQUEST_MAX_STRING_BYTES,
	                                true, out, errstr, errstr_size) < 0
	           ? -1
	           : 0;
}

/* serviceId and instanceId (required) and consumerGroup (required or not). */
static int agent_request_identity(json_t *body, bool group_required, const char **service_id,
                                  const char **instance_id, const char **consumer_group,
                                  char *errstr, size_t errstr_size)
{
	if (agent_request_string(body, FERRY_AGENT_SERVICE_ID, true, service_id, errstr,
	                         errstr_size) != 0 ||
	    agent_request_string(body, FERRY_AGENT_INSTANCE_ID, true, instance_id, errstr,
	                         errstr_size) != 0 ||
	    agent_request_string(body, FERRY_AGENT_CONSUMER_GROUP, group_required, consumer_group,
	                         errstr, errstr_size) != 0)
		return -1;
	return 0;
}

/* "topics": 1..AGENT_REQUEST_MAX_TOPICS distinct valid names into a new array. */
static int agent_request_topics(json_t *body, struct agent_registration *out, char *errstr,
                                size_t errstr_size)
{
	json_t *arr, *v;
	size_t i, j, n;

	if (json_fields_member(body, "", FERRY_AGENT_TOPICS, true, &arr, errstr, errstr_size) < 0)
		return -1;
	n = json_is_array(arr) ? json_array_size(arr) : 0;
	if (n == 0 || n > AGENT_REQUEST_MAX_TOPICS) {
		snprintf(errstr, errstr_size, "topics: must be an array of 1 to %d topic names",
		         AGENT_REQUEST_MAX_TOPICS);
		return -1;
	}
	out->topics = calloc(n, sizeof(*out->topics));
	if (out->topics == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	json_array_foreach (arr, i, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : NULL;

		/* An embedded NUL would hide the rest of the name from the check. */
		if (s == NULL || strlen(s) != json_string_length(v) ||
		    !message_request_topic_valid(s)) {
			snprintf(
			    errstr, errstr_size,
			    "topics[%zu]: '%.64s' is not a valid topic name (1-249 characters of "
			    "A-Z a-z 0-9 . _ -, not . or ..)",
			    i, s ? s : "(not a string)");
			goto fail;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(out->topics[j], s) == 0) {
				snprintf(errstr, errstr_size, "topics[%zu]: '%s' is listed twice",
				         i, s);
				goto fail;
			}
		}
		out->topics[i] = s;
	}
	out->n_topics = n;
	return 0;
fail:
	free(out->topics);
	out->topics = NULL;
	return -1;
}

int agent_request_parse_registration(json_t *body, struct agent_registration *out, char *errstr,
                                     size_t errstr_size)
{
	memset(out, 0, sizeof(*out));
	if (agent_request_shape(body, agent_registration_fields, errstr, errstr_size) != 0 ||
	    agent_request_identity(body, true, &out->service_id, &out->instance_id,
	                           &out->consumer_group, errstr, errstr_size) != 0 ||
	    agent_request_string(body, FERRY_AGENT_HOST, true, &out->host, errstr, errstr_size) !=
	        0 ||
	    agent_request_string(body, FERRY_AGENT_VERSION, false, &out->version, errstr,
	                         errstr_size) != 0 ||
	    json_fields_int(body, "", FERRY_AGENT_PORT, true, 1, 65535, &out->port, errstr,
	                    errstr_size) < 0 ||
	    agent_request_topics(body, out, errstr, errstr_size) != 0)
		goto fail;
	return 0;
fail:
	agent_registration_clear(out);
	return -1;
}

void agent_registration_clear(struct agent_registration *reg)
{
	free(reg->topics);
	memset(reg, 0, sizeof(*reg));
}

/*
 * details.partitions: what the retry job will read back to pick a partition, so the whole
 * shape is checked here (an unchecked value once made every retry pass fail). NULL or JSON null
 * -> *out NULL.
 */
static int agent_request_partitions(json_t *v, json_t **out, char *errstr, size_t errstr_size)
{
	const char *topic;
	json_t *list, *p;
	size_t i, total = 0;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v) || json_object_size(v) > AGENT_REQUEST_MAX_TOPICS) {
		snprintf(errstr, errstr_size,
		         "details.partitions: must be an object of at most %d topics, each with an "
		         "array of partition numbers ({\"topic\": [0, 1]})",
		         AGENT_REQUEST_MAX_TOPICS);
		return -1;
	}
	json_object_foreach (v, topic, list) {
		if (!message_request_topic_valid(topic)) {
			snprintf(errstr, errstr_size,
			         "details.partitions: '%.64s' is not a valid topic name (1-249 "
			         "characters of A-Z a-z 0-9 . _ -, not . or ..)",
			         topic);
			return -1;
		}
		if (!json_is_array(list) || json_array_size(list) > AGENT_REQUEST_MAX_PARTITIONS) {
			snprintf(errstr, errstr_size,
			         "details.partitions.%s: must be an array of at most %d partition "
			         "numbers",
			         topic, AGENT_REQUEST_MAX_PARTITIONS);
			return -1;
		}
		total += json_array_size(list);
		if (total > AGENT_REQUEST_MAX_ASSIGNED) {
			snprintf(errstr, errstr_size,
			         "details.partitions: more than %d partition numbers in all",
			         AGENT_REQUEST_MAX_ASSIGNED);
			return -1;
		}
		json_array_foreach (list, i, p) {
			if (!json_is_integer(p) || json_integer_value(p) < 0 ||
			    json_integer_value(p) > INT32_MAX) {
				snprintf(
				    errstr, errstr_size,
				    "details.partitions.%s[%zu]: must be a partition number (an "
				    "integer from 0 to %" PRId32 ")",
				    topic, i, INT32_MAX);
				return -1;
			}
		}
	}
	*out = v;
	return 0;
}

int agent_request_parse_heartbeat(json_t *body, struct agent_heartbeat *out, char *errstr,
                                  size_t errstr_size)
{
	memset(out, 0, sizeof(*out));
	out->healthy = true;
	if (agent_request_shape(body, agent_heartbeat_fields, errstr, errstr_size) != 0 ||
	    agent_request_identity(body, false, &out->service_id, &out->instance_id,
	                           &out->consumer_group, errstr, errstr_size) != 0)
		return -1;
	if (json_fields_bool(body, "", FERRY_AGENT_HEALTHY, &out->healthy, errstr, errstr_size) <
	        0 ||
	    json_fields_object(body, "", FERRY_AGENT_DETAILS, &out->details, errstr, errstr_size) <
	        0)
		return -1;
	if (out->details &&
	    agent_request_partitions(json_object_get(out->details, FERRY_AGENT_DETAILS_PARTITIONS),
	                             &out->partitions, errstr, errstr_size) != 0)
		return -1;
	return 0;
}

int agent_request_parse_deregistration(json_t *body, struct agent_deregistration *out, char *errstr,
                                       size_t errstr_size)
{
	memset(out, 0, sizeof(*out));
	if (agent_request_shape(body, agent_deregistration_fields, errstr, errstr_size) != 0 ||
	    agent_request_identity(body, false, &out->service_id, &out->instance_id,
	                           &out->consumer_group, errstr, errstr_size) != 0)
		return -1;
	return 0;
}
