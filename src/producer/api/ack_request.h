/*
 * ack_request.h - validation of POST /api/messages/acknowledge bodies: one acknowledgment
 * object, or an array of them (how consumers batch). Pure functions, no I/O.
 *
 *   {"messageId": 42, "consumerGroup": "group-a", "success": true,
 *    "consumerServiceId": "consumer-service-1", "consumerInstanceId": "consumer-1",
 *    "errorMessage": "only with success false"}
 */
#ifndef FERRY_ACK_REQUEST_H
#define FERRY_ACK_REQUEST_H

#include <jansson.h>
#include <stddef.h>

#include "producer/store/ack_store.h"

#define ACK_REQUEST_MAX_BATCH 5000

/*
 * Parses `body` into *out (n entries; free with free()); the strings point into `body`, which
 * must outlive them. Returns 0, or -1 with one line naming the offending field in errstr
 * ("[3].success: is required"); then *out is NULL.
 */
int ack_request_parse(json_t *body, struct delivery_ack **out, size_t *n, char *errstr,
                      size_t errstr_size) __attribute__((warn_unused_result));

#endif
