/*
 * inbox_store.h - every SQL statement on the ferry_consumer tables (sql/consumer/): the inbox
 * (processed_message), failures (failed_message) and the durable acknowledgment outbox
 * (pending_ack), plus the JSON pages the consumer's HTTP API serves.
 *
 * Each function runs on the connection it is given, inside whatever transaction the caller has
 * open (or none, then the statement is its own transaction), and never commits or rolls back.
 * Any thread, one connection per thread. On failure a function returns -1 and writes
 * PostgreSQL's message as one line into errstr; the caller decides whether the connection is
 * gone (PQstatus) and backs off.
 */
#ifndef FERRY_INBOX_STORE_H
#define FERRY_INBOX_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/processor.h"

/* Who consumed a message, and who produced it (the record's headers; NULL when absent). */
struct inbox_origin {
	const char *producer_service_id;
	const char *producer_instance_id;
	const char *consumer_service_id;
	const char *consumer_instance_id;
	const char *traceparent; /* the record's traceparent header, or NULL */
};

/* One acknowledgment waiting to be sent. Strings are malloc'd; free with inbox_acks_free. */
struct inbox_ack {
	int64_t id;           /* pending_ack.id */
	int64_t message_id;   /* the producer's message id */
	char *consumer_group; /* group that handled it */
	bool success;         /* processed (true) or failed (false) */
	char *error_message;  /* NULL on success */
};

/*
 * Inserts the inbox row for `msg` (ON CONFLICT DO NOTHING, on the primary key and on the
 * whole idempotency key within the group and the topic, the producer's scope). Sets *duplicate when
 * a row was already there (then nothing was written). Returns 0, or -1 with errstr.
 */
int inbox_store_record_processed(PGconn *conn, const struct ferry_consumed_message *msg,
                                 const struct inbox_origin *origin, bool *duplicate, char *errstr,
                                 size_t errstr_size) __attribute__((warn_unused_result));

/* Records a failed processing attempt of `msg` (attempt = earlier failures + 1). Returns 0 or
 * -1 with errstr. */
int inbox_store_record_failure(PGconn *conn, const struct ferry_consumed_message *msg,
                               const struct inbox_origin *origin, const char *error_message,
                               char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Queues an acknowledgment (error_message NULL for a success). Returns 0 or -1 with errstr. */
int inbox_store_add_ack(PGconn *conn, int64_t message_id, const char *consumer_group, bool success,
                        const char *error_message, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Reads up to `limit` pending acknowledgments that were not refused, oldest first, into a new array
 * *acks (*n entries; the caller frees with inbox_acks_free). Returns 0 or -1 with errstr (*acks
 * NULL).
 */
int inbox_store_fetch_acks(PGconn *conn, size_t limit, struct inbox_ack **acks, size_t *n,
                           char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Deletes the pending acknowledgments of `acks` (by id). Returns 0 or -1 with errstr. */
int inbox_store_delete_acks(PGconn *conn, const struct inbox_ack *acks, size_t n, char *errstr,
                            size_t errstr_size) __attribute__((warn_unused_result));

/* Counts one more failed sending attempt on each of `acks` and stores `error`. Returns 0/-1. */
int inbox_store_note_ack_failure(PGconn *conn, const struct inbox_ack *acks, size_t n,
                                 const char *error, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Sets `ack` aside: the producer refused it for good (HTTP 400/413 for it alone). It stays in
 * pending_ack with refused_at = now() and `reason` in last_error, and is no longer fetched.
 * Returns 0 or -1 with errstr.
 */
int inbox_store_refuse_ack(PGconn *conn, const struct inbox_ack *ack, const char *reason,
                           char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* How many acknowledgments are set aside (refused). Returns 0 or -1 with errstr. */
int inbox_store_refused_acks(PGconn *conn, int64_t *count, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

void inbox_acks_free(struct inbox_ack *acks, size_t n);

/* Pending acknowledgments (refused ones excluded): how many, and the age in seconds of the
 * oldest (0 when none). */
int inbox_store_ack_backlog(PGconn *conn, int64_t *count, double *oldest_age_s, char *errstr,
                            size_t errstr_size) __attribute__((warn_unused_result));

/*
 * A page of a group's processed messages (by message id, after `after_id`) or failures (by
 * failure id) as the text of a JSON array built by PostgreSQL; *json is malloc'd, caller frees.
 * Returns 0 or -1 with errstr.
 */
int inbox_store_list_processed(PGconn *conn, const char *group, int64_t after_id, int limit,
                               char **json, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));
int inbox_store_list_failed(PGconn *conn, const char *group, int64_t after_id, int limit,
                            char **json, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Deletes up to `batch` processed rows and up to `batch` failure rows older than retention_s
 * seconds, oldest first, in one short statement each (autocommit). *deleted counts both.
 * Returns 0 or -1 with errstr.
 */
int inbox_store_delete_old(PGconn *conn, int64_t retention_s, int batch, int64_t *deleted,
                           char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
