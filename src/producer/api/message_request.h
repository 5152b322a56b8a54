/*
 * message_request.h - validation of the send and send-batch request bodies.
 *
 * Pure functions (no I/O): the JSON the client sent becomes struct outbox_new_message values
 * or one clear error naming the field ("messages[3].topic: must be a string"). Nothing reaches
 * the database unless the whole request is valid.
 */
#ifndef FERRY_MESSAGE_REQUEST_H
#define FERRY_MESSAGE_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ferry/outbox.h"
#include "producer/store/message_store.h"

#define MESSAGE_REQUEST_MAX_KEY_BYTES             4096
#define MESSAGE_REQUEST_MAX_IDEMPOTENCY_KEY_BYTES FERRY_IDEMPOTENCY_KEY_MAX_BYTES
#define MESSAGE_REQUEST_MAX_HEADERS               64
#define MESSAGE_REQUEST_MAX_BATCH                 5000

/* One parsed message. Strings point into the request's json_t (keep it alive) except
 * `owned`, which holds text the parser had to make (a JSON payload serialised); free with
 * message_request_clear. */
struct message_request {
	struct outbox_new_message msg;
	bool use_batching; /* "useBatching", default true as in the seed */
	char *owned_payload;
	char *owned_headers;
};

/* True when `topic` is a legal Kafka topic name: 1..249 of [A-Za-z0-9._-], not "." or "..". */
bool message_request_topic_valid(const char *topic);

/*
 * Parses one message object (the send body, or one element of send-batch). `where` prefixes
 * error messages ("" for send, "messages[3]." for a batch element). Returns 0, or -1 with
 * errstr; on -1 *out holds nothing to free.
 */
int message_request_parse(json_t *obj, const char *where, struct message_request *out, char *errstr,
                          size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Puts `traceparent` (already validated) into the message's headers as "traceparent", where it
 * travels to Kafka and the consumer like any header. With replace false, a traceparent the
 * message already has is kept (the body's beats the HTTP request's header). Returns 0, or -1
 * when out of memory.
 */
int message_request_set_traceparent(struct message_request *req, const char *traceparent,
                                    bool replace) __attribute__((warn_unused_result));

void message_request_clear(struct message_request *req);

/*
 * Parses a send-batch body: either {"messages": [...]} or a bare array, 1..MAX_BATCH
 * elements. Allocates *out (caller frees with message_request_free_array) and sets *n.
 */
int message_request_parse_batch(json_t *body, struct message_request **out, size_t *n, char *errstr,
                                size_t errstr_size) __attribute__((warn_unused_result));

void message_request_free_array(struct message_request *reqs, size_t n);

#endif
