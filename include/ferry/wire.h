/*
 * ferry/wire.h - the wire contract between ferry-producer and its consumers, spelled once.
 *
 * Everything here travels between two processes: the Kafka record headers the relay writes and
 * every consumer reads, the JSON a consumer POSTs back to the producer (acknowledgments, agent
 * registration and heartbeats) and the producer's answers to it, and the limits both sides must
 * agree on. ferry-producer, ferry-consumer and the tests include this file; it is public
 * (installed with the other ferry/ headers) because a consumer written outside ferry, in C or
 * read as documentation for another language, must speak the same contract: it is plain
 * #defines, with nothing to link. docs/api.md describes the same fields for people.
 *
 * Changing a value here changes the protocol: old producers and consumers stop understanding
 * new ones. Add names; do not rename.
 */
#ifndef FERRY_WIRE_H
#define FERRY_WIRE_H

/* ---- Kafka record headers (written by the relay and the retry job, read by consumers) ---- */

/* The outbox id, a positive decimal int64: a record without it is not ferry's. */
#define FERRY_HEADER_MESSAGE_ID "ferry-message-id"
/* The producer's idempotency key, when the message has one: consumers deduplicate on it
 * (whole, at most FERRY_IDEMPOTENCY_KEY_MAX_BYTES of UTF-8, see ferry/outbox.h). */
#define FERRY_HEADER_IDEMPOTENCY_KEY      "ferry-idempotency-key"
#define FERRY_HEADER_PRODUCER_SERVICE_ID  "ferry-producer-service-id"
#define FERRY_HEADER_PRODUCER_INSTANCE_ID "ferry-producer-instance-id"
/* When the message was enqueued, ISO-8601. */
#define FERRY_HEADER_CREATED_AT "ferry-created-at"
/* The one consumer group the record is for; consumers of other groups skip it. */
#define FERRY_HEADER_TARGET_GROUP "ferry-target-group"
/* On a redelivery only: how many times the message was sent again (decimal, > 0). */
#define FERRY_HEADER_RETRY_COUNT "ferry-retry-count"
/* On a re-drive aimed at one consumer instance: that instance's service id. */
#define FERRY_HEADER_TARGET_CONSUMER "ferry-target-consumer"
/* Every header whose name starts so is ferry's own: clients may not send such headers. */
#define FERRY_HEADER_PREFIX     "ferry-"
#define FERRY_HEADER_PREFIX_LEN 6
/* W3C trace context, passed through as an ordinary application header. */
#define FERRY_HEADER_TRACEPARENT "traceparent"

/* ---- Acknowledgments: POST FERRY_PATH_ACKNOWLEDGE, one object or an array of them ---- */

#define FERRY_PATH_ACKNOWLEDGE "/api/messages/acknowledge"

#define FERRY_ACK_MESSAGE_ID           "messageId"          /* integer > 0, required */
#define FERRY_ACK_CONSUMER_GROUP       "consumerGroup"      /* string, required */
#define FERRY_ACK_SUCCESS              "success"            /* true or false, required */
#define FERRY_ACK_CONSUMER_SERVICE_ID  "consumerServiceId"  /* string, optional */
#define FERRY_ACK_CONSUMER_INSTANCE_ID "consumerInstanceId" /* string, optional */
#define FERRY_ACK_ERROR_MESSAGE        "errorMessage"       /* string, optional */
/* The longest string field of an acknowledgment the producer takes, in bytes: the consumer
 * cuts errorMessage to it (at a character boundary) and keeps the whole text itself. */
#define FERRY_ACK_MAX_STRING_BYTES 1024

/* The producer's 200 answer: {"results": [{messageId, consumerGroup, success, result,
 * error?}, ...], "recorded": n, "duplicates": n, "errors": n}. */
#define FERRY_ACK_REPLY_RESULTS "results"
#define FERRY_ACK_REPLY_RESULT  "result"
#define FERRY_ACK_REPLY_ERROR   "error"
/* Values of "result": the first two are success, the others will never succeed if sent again. */
#define FERRY_ACK_RESULT_RECORDED        "recorded"
#define FERRY_ACK_RESULT_DUPLICATE       "duplicate"
#define FERRY_ACK_RESULT_UNKNOWN_MESSAGE "unknown_message"
#define FERRY_ACK_RESULT_NOT_FOR_GROUP   "not_for_group"

/* ---- Consumer agents: registration, heartbeats, deregistration ---- */

#define FERRY_PATH_AGENT_REGISTER   "/api/agents/consumers/register"
#define FERRY_PATH_AGENT_HEARTBEAT  "/api/agents/consumers/heartbeat"
#define FERRY_PATH_AGENT_DEREGISTER "/api/agents/consumers/deregister"

#define FERRY_AGENT_SERVICE_ID     "serviceId"     /* string, every body */
#define FERRY_AGENT_INSTANCE_ID    "instanceId"    /* string, every body */
#define FERRY_AGENT_CONSUMER_GROUP "consumerGroup" /* string; required to register */
#define FERRY_AGENT_TOPICS         "topics"        /* register: array of topic names */
#define FERRY_AGENT_HOST           "host"          /* register: the consumer's HTTP host */
#define FERRY_AGENT_PORT           "port"          /* register: its HTTP port */
#define FERRY_AGENT_VERSION        "version"       /* register: ferry version, optional */
#define FERRY_AGENT_HEALTHY        "healthy"       /* heartbeat: true or false */
#define FERRY_AGENT_DETAILS        "details"       /* heartbeat: a JSON object */
/* Members of a heartbeat's details. The producer reads partitions (its retry job picks a live
 * partition from them); the others it stores and shows as sent. */
#define FERRY_AGENT_DETAILS_PARTITIONS          "partitions" /* {"topic": [partition, ...]} */
#define FERRY_AGENT_DETAILS_ASSIGNED_PARTITIONS "assignedPartitions" /* count */
#define FERRY_AGENT_DETAILS_PROCESSED           "processed"
#define FERRY_AGENT_DETAILS_FAILED              "failed"
#define FERRY_AGENT_DETAILS_DUPLICATES          "duplicates"
#define FERRY_AGENT_DETAILS_SUMMARY             "summary"

/* Limits of an agent request the producer enforces (400 above them). */
#define FERRY_AGENT_MAX_STRING_BYTES 255    /* any string field */
#define FERRY_AGENT_MAX_TOPICS       1000   /* topics, and topics in details.partitions */
#define FERRY_AGENT_MAX_PARTITIONS   10000  /* partition numbers per topic in details */
#define FERRY_AGENT_MAX_ASSIGNED     100000 /* partition numbers in details in all */

#endif
