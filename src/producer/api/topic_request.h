/*
 * topic_request.h - validation of the topic-registry request bodies: register a topic (with
 * its consumer groups), add one group to a topic, update one group.
 *
 * Pure functions (no I/O): the JSON the client sent becomes plain structs, or one line naming
 * the offending field ("consumerGroups[1].maxRetries: must be an integer from -1 to 1000").
 * Unknown fields are errors (a typo must not be silently ignored); a field that is null counts
 * as absent. Names follow Kafka's topic-name rule (message_request_topic_valid), for groups too.
 * Strings in the results point into the request's json_t: keep it alive while using them.
 */
#ifndef FERRY_TOPIC_REQUEST_H
#define FERRY_TOPIC_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TOPIC_REQUEST_MIN_PARTITIONS          1
#define TOPIC_REQUEST_MAX_PARTITIONS          1000
#define TOPIC_REQUEST_MAX_GROUPS              100 /* consumerGroups per register request */
#define TOPIC_REQUEST_MAX_DESCRIPTION_BYTES   4096
#define TOPIC_REQUEST_DEFAULT_ACK_TIMEOUT_S   300    /* 5 minutes, as in the seed */
#define TOPIC_REQUEST_MAX_ACK_TIMEOUT_MINUTES 10080  /* one week */
#define TOPIC_REQUEST_MAX_ACK_TIMEOUT_SECONDS 604800 /* one week */
#define TOPIC_REQUEST_DEFAULT_MAX_RETRIES     3
#define TOPIC_REQUEST_MAX_RETRIES             1000 /* -1 = retry forever */

/* One consumer group as registered (every field has its value, defaults applied). */
struct topic_group_request {
	const char *name;        /* "consumerGroupName"; valid name */
	bool requires_ack;       /* "requiresAcknowledgment", default true */
	int ack_timeout_seconds; /* 1..604800; from ...Seconds, else ...Minutes * 60, else 300 */
	int max_retries;         /* -1..1000, default 3; -1 = forever */
};

struct topic_request {
	const char *topic_name;             /* "topicName"; valid Kafka topic name */
	const char *description;            /* NULL = none */
	int partitions;                     /* 1..1000; the caller's default when absent */
	struct topic_group_request *groups; /* n_groups entries, names distinct; owned */
	size_t n_groups;
};

/* A PUT on one group: only the fields the client sent change. */
struct topic_group_update {
	const char *name; /* new "consumerGroupName", or NULL = unchanged */
	bool has_requires_ack;
	bool requires_ack;
	bool has_ack_timeout;
	int ack_timeout_seconds; /* when has_ack_timeout */
	bool has_max_retries;
	int max_retries; /* when has_max_retries */
	bool has_is_active;
	bool is_active; /* when has_is_active: true activates, false deactivates */
};

/*
 * Parses a register-topic body. `default_partitions` (1..1000) is used when "partitions" is
 * absent. Returns 0 with *out filled (free with topic_request_clear), or -1 with
 * errstr; on -1 *out holds nothing to free.
 */
int topic_request_parse_topic(json_t *body, int default_partitions, struct topic_request *out,
                              char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Frees what topic_request_parse_topic allocated; *req is then empty. */
void topic_request_clear(struct topic_request *req);

/*
 * Parses one group object: the add-group body, or (with `where` = "consumerGroups[2].") one
 * element of a register body. `where` prefixes error messages ("" for a body of its own).
 * Returns 0 with *out filled (nothing to free), or -1 with errstr.
 */
int topic_request_parse_group(json_t *obj, const char *where, struct topic_group_request *out,
                              char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Parses an update-group body. An empty object is valid (nothing changes but updatedAt).
 * Returns 0 with *out filled (nothing to free), or -1 with errstr.
 */
int topic_request_parse_update(json_t *body, struct topic_group_update *out, char *errstr,
                               size_t errstr_size) __attribute__((warn_unused_result));

#endif
