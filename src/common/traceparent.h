/*
 * traceparent.h - the W3C Trace Context `traceparent` header ("00-<32 hex trace id>-<16 hex
 * parent id>-<2 hex flags>"), which ferry carries from the sender to Kafka to the consumer's
 * processor, processed row and logs, so one message can be followed end to end. Pure;
 * unit-tested (tests/unit/test_log.c).
 */
#ifndef FERRY_TRACEPARENT_H
#define FERRY_TRACEPARENT_H

#include <stdbool.h>

#define TRACEPARENT_LEN 55 /* version 00; later versions may append "-..." fields */

/* True for a well-formed value: lowercase hex, version not "ff", ids not all zeros; a future
 * version (not 00) may carry more fields after the flags, as the specification allows. */
bool traceparent_valid(const char *value);

#endif
