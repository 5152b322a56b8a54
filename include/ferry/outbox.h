/*
 * ferry/outbox.h - enqueue a ferry message from C, inside your own transaction.
 *
 * This is the point of a transactional outbox: the message commits or rolls back together with
 * your business data, because it is one more row written by the same transaction. Link with
 * -lferry (and libpq). The outbox schema must exist (ferry-producer applies it at start-up;
 * the SQL is also installed under share/ferry/sql/producer/).
 *
 *   PQexec(conn, "BEGIN");
 *   PQexec(conn, "INSERT INTO orders ...");
 *   if (ferry_outbox_enqueue(conn, &(struct ferry_message){
 *           .topic = "order-events", .key = "order-42", .payload = "{\"event\":\"created\"}"},
 *           &id, err, sizeof(err)) != 0) { PQexec(conn, "ROLLBACK"); ... }
 *   PQexec(conn, "COMMIT");
 *
 * A running ferry-producer publishes the row to Kafka after the commit (within its poll
 * interval: FERRY_RELAY_POLL_MIN_MS while rows flow, FERRY_RELAY_POLL_IDLE_MS at most).
 */
#ifndef FERRY_OUTBOX_H
#define FERRY_OUTBOX_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The longest idempotency key ferry accepts, in bytes (of UTF-8). One limit for every door: the
 * REST API answers 400 above it, ferry.enqueue() raises SQLSTATE 22001, ferry_outbox_enqueue()
 * returns -1; a key is never cut. Consumers compare the whole key, per (group, topic).
 */
#define FERRY_IDEMPOTENCY_KEY_MAX_BYTES 512

struct ferry_message {
	const char *topic;           /* Kafka topic, required: 1-249 of [A-Za-z0-9._-] */
	const char *key;             /* Kafka record key, or NULL; same key = same order */
	const char *payload;         /* UTF-8 text, required */
	const char *headers_json;    /* JSON object of string values, or NULL */
	const char *idempotency_key; /* or NULL, at most FERRY_IDEMPOTENCY_KEY_MAX_BYTES; a repeat
	                                on the same topic returns the first id */
};

/*
 * Enqueues `msg` on `conn` with one round trip. Call it inside your transaction (after BEGIN);
 * outside one it commits on its own. On success returns 0 and stores the message id in *id
 * (the original id when the idempotency key was seen before). On failure returns -1 and writes
 * PostgreSQL's message (one line) into errstr; the caller's transaction is then aborted and
 * must be rolled back, as with any failed statement. Arguments it can check itself (missing
 * topic or payload, an idempotency key over FERRY_IDEMPOTENCY_KEY_MAX_BYTES) fail before
 * anything is sent, leaving the transaction as it was. The caller keeps ownership of everything;
 * conn must not be used by another thread during the call.
 */
int ferry_outbox_enqueue(PGconn *conn, const struct ferry_message *msg, int64_t *id, char *errstr,
                         size_t errstr_size);

#ifdef __cplusplus
}
#endif

#endif
