/*
 * agent_request.h - validation of the consumer-agent request bodies (/api/agents/consumers/...):
 * register, heartbeat, deregister.
 *
 *   register   {"serviceId", "instanceId", "consumerGroup", "topics": ["a", ...], "host", "port",
 *               "version"?}
 *   heartbeat  {"serviceId", "instanceId", "consumerGroup"?, "healthy"?, "details"?}
 *              details is free-form except "partitions", the instance's assignment, which the
 *              retry job reads to aim redeliveries: {"<topic>": [partition, ...], ...}, at most
 *              AGENT_REQUEST_MAX_TOPICS valid topic names, each with at most
 *              AGENT_REQUEST_MAX_PARTITIONS partition numbers (integers 0..2147483647, the
 *              int32 range Kafka uses), AGENT_REQUEST_MAX_ASSIGNED numbers in all; null or
 *              absent = not reported (the stored assignment stays).
 *   deregister {"serviceId", "instanceId", "consumerGroup"?}
 *
 * Pure functions (no I/O): the JSON the client sent becomes plain structs, or one line naming
 * the offending field ("topics[1]: 'a b' is not a valid topic name ..."). The identifying
 * strings (serviceId, instanceId, consumerGroup, host, version) are 1 to 255 bytes with no NUL;
 * topics are 1 to AGENT_REQUEST_MAX_TOPICS distinct valid Kafka topic names
 * (message_request_topic_valid); port is 1..65535. Unknown fields are errors, and a field that
 * is null counts as absent (as everywhere in ferry's API). Strings in the results point into the
 * request's json_t: keep it alive while using them.
 */
#ifndef FERRY_AGENT_REQUEST_H
#define FERRY_AGENT_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ferry/wire.h"

/* The limits of the wire contract (ferry/wire.h), which a consumer must stay within. */
#define AGENT_REQUEST_MAX_STRING_BYTES FERRY_AGENT_MAX_STRING_BYTES
#define AGENT_REQUEST_MAX_TOPICS       FERRY_AGENT_MAX_TOPICS
#define AGENT_REQUEST_MAX_PARTITIONS   FERRY_AGENT_MAX_PARTITIONS /* per topic in details */
#define AGENT_REQUEST_MAX_ASSIGNED     FERRY_AGENT_MAX_ASSIGNED   /* numbers in details in all */

/* POST /api/agents/consumers/register. */
struct agent_registration {
	const char *service_id;     /* "serviceId" */
	const char *instance_id;    /* "instanceId" */
	const char *consumer_group; /* "consumerGroup" */
	const char **topics;        /* "topics": n_topics distinct names; the array is owned */
	size_t n_topics;            /* 1..AGENT_REQUEST_MAX_TOPICS */
	const char *host;           /* "host": where the consumer's own HTTP server listens */
	int port;                   /* "port": 1..65535 */
	const char *version;        /* "version"; NULL = not reported */
};

/* POST /api/agents/consumers/heartbeat. */
struct agent_heartbeat {
	const char *service_id;     /* "serviceId" */
	const char *instance_id;    /* "instanceId" */
	const char *consumer_group; /* "consumerGroup"; NULL = every group of the instance */
	bool healthy;               /* "healthy", default true */
	json_t *details;            /* "details": a JSON object borrowed from the body; NULL = {} */
	json_t *partitions; /* "details"."partitions" checked as above (borrowed); NULL = absent */
};

/* POST /api/agents/consumers/deregister. */
struct agent_deregistration {
	const char *service_id;     /* "serviceId" */
	const char *instance_id;    /* "instanceId" */
	const char *consumer_group; /* "consumerGroup"; NULL = every group of the instance */
};

/*
 * Parses a register body. Returns 0 with *out filled (free with agent_registration_clear), or -1
 * with errstr; on -1 *out holds nothing to free.
 */
int agent_request_parse_registration(json_t *body, struct agent_registration *out, char *errstr,
                                     size_t errstr_size) __attribute__((warn_unused_result));

/* Frees what agent_request_parse_registration allocated; *reg is then empty. */
void agent_registration_clear(struct agent_registration *reg);

/* Parses a heartbeat body. Returns 0 with *out filled (nothing to free), or -1 with errstr
 * (a malformed details.partitions included: "details.partitions.<topic>[3]: ..."). */
int agent_request_parse_heartbeat(json_t *body, struct agent_heartbeat *out, char *errstr,
                                  size_t errstr_size) __attribute__((warn_unused_result));

/* Parses a deregister body. Returns 0 with *out filled (nothing to free), or -1 with errstr. */
int agent_request_parse_deregistration(json_t *body, struct agent_deregistration *out, char *errstr,
                                       size_t errstr_size) __attribute__((warn_unused_result));

#endif
