/*
 * redrive_request.h - validation of operators' re-drive requests (POST /api/messages/{id}/retry
 * and POST /api/messages/retry) and of the actor header. Pure functions over jansson values,
 * unit-tested (tests/unit/test_redrive_request.c). Strings point into the JSON they came from.
 */
#ifndef FERRY_REDRIVE_REQUEST_H
#define FERRY_REDRIVE_REQUEST_H

#include <jansson.h>
#include <stddef.h>

struct redrive_one_request {
	const char *consumer_group; /* NULL = every group that has not acknowledged */
	const char *target;         /* targetConsumerServiceId: a service or instance id, or NULL */
};

struct redrive_bulk_request {
	const char *consumer_group; /* required */
	const char *status;         /* "FAILED", "EXPIRED", or NULL for both */
	int limit;                  /* 1..10000, default 1000 */
};

/* body may be NULL (no body: every unacknowledged group). Returns 0, or -1 with errstr naming
 * the field. Unknown fields are refused, so a typo is not a silent re-drive of everything. */
int redrive_request_parse_one(json_t *body, struct redrive_one_request *out, char *errstr,
                              size_t errstr_size);

int redrive_request_parse_bulk(json_t *body, struct redrive_bulk_request *out, char *errstr,
                               size_t errstr_size);

/* "FAILED" or "EXPIRED" (the dead-letter statuses); NULL or "" is valid too (both). */
int redrive_request_status_valid(const char *status);

/*
 * Who is acting, for the message history: "api:<X-Ferry-Actor>" when that header is 1-128
 * printable ASCII characters, else "api:anonymous". Writes into buf.
 */
void redrive_request_actor(const char *header, char *buf, size_t size);

#endif
