/*
 * message_store.h - every query on ferry.outbox_message (the table of sql/producer/001_outbox.sql).
 *
 * The three doors (REST, SQL, C) all enqueue through ferry.enqueue_message(); the relay claims
 * and marks through message_store_claim()/message_store_mark(), a constant number of round trips
 * per batch. Read endpoints get JSON built here so the column list lives in one file.
 *
 * Every function takes a PGconn the caller owns and uses from one thread at a time. On failure
 * they return -1 with one line in errstr; a connection that broke is left for the caller to
 * replace (PQstatus tells).
 */
#ifndef FERRY_MESSAGE_STORE_H
#define FERRY_MESSAGE_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The message as the REST API shows it, as a SQL expression over ferry.outbox_message aliased
 * `m` (a json value). One definition for every read endpoint, including ack_store's.
 */
#define MESSAGE_STORE_MESSAGE_JSON                                                                  \
	"json_build_object("                                                                        \
	"'id', m.id, 'topic', m.topic, 'key', m.message_key, 'message', m.payload,"                 \
	"'headers', m.headers, 'idempotencyKey', m.idempotency_key, 'status', m.status,"            \
	"'createdAt', m.created_at, 'sentAt', m.sent_at, 'processedAt', m.processed_at,"            \
	"'partition', m.kafka_partition, 'offset', m.kafka_offset,"                                 \
	"'publishAttempts', m.publish_attempts, 'retryCount', m.retry_count,"                       \
	"'lastRetryAt', m.last_retry_at, 'scheduledRetryAt', m.scheduled_retry_at,"                 \
	"'producerServiceId', m.producer_service_id, 'producerInstanceId', m.producer_instance_id," \
	"'errorMessage', m.error_message, 'consumerGroup', m.target_group)"

struct outbox_new_message {
	const char *topic;           /* validated Kafka topic name */
	const char *key;             /* NULL = no key */
	const char *payload;         /* UTF-8 text, not NULL */
	const char *headers_json;    /* JSON object text, or NULL for {} */
	const char *idempotency_key; /* NULL = none */
	const char *target_group;    /* NULL = every group of the topic; else just this one */
};

/* How enqueue treats the topic registry (see ferry.enqueue_message in sql/producer/). */
enum outbox_registry_mode {
	OUTBOX_REGISTRY_OFF,     /* any topic (the SQL and C doors) */
	OUTBOX_REGISTRY_REQUIRE, /* the topic must be registered and active (the REST API) */
	OUTBOX_REGISTRY_AUTO,    /* register an unknown topic (development switch) */
};

/* Why an enqueue failed; what the API turns into a status code. */
enum outbox_error {
	OUTBOX_OK = 0,
	OUTBOX_ERR_DB = -1,             /* database unreachable or failed: 503 */
	OUTBOX_ERR_NOT_REGISTERED = -2, /* topic not registered or inactive: 404 */
	OUTBOX_ERR_BAD_GROUP = -3,      /* target group not an active group of the topic: 400 */
	OUTBOX_ERR_INVALID = -4,        /* the database refused the data itself: 400 */
	OUTBOX_ERR_TIMEOUT = -5,        /* a lock or statement timeout (pg_session_limits) ended
	                                 * it; nothing was written: 503 */
};

struct outbox_enqueue_result {
	int64_t id;     /* message id (the original one for a repeated idempotency key) */
	bool duplicate; /* true when nothing new was written */
};

/*
 * Enqueues n messages with one round trip (ferry.enqueue_batch) on `conn`, in the caller's
 * transaction if one is open, else in its own. Writes n results, in input order, to `out`.
 * Returns OUTBOX_OK, or an enum outbox_error with errstr (nothing of this call is kept if it
 * ran in its own transaction). When the server has not answered within timeout_ms (0: no
 * bound; see pg_exec_within) the connection is dropped (CONNECTION_BAD afterwards) and
 * OUTBOX_ERR_DB returned: the outcome is unknown, the statement may still commit when the
 * server wakes, so the caller says so (retry with the same idempotency key).
 */
int message_store_enqueue(PGconn *conn, const struct outbox_new_message *msgs, size_t n,
                          const char *service_id, const char *instance_id,
                          enum outbox_registry_mode registry, long timeout_ms,
                          struct outbox_enqueue_result *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* A claimed row; the strings point into the batch's PGresult. */
struct outbox_row {
	int64_t id;
	const char *topic;
	const char *key; /* NULL = no key */
	size_t key_len;
	const char *payload;
	size_t payload_len;
	const char *headers_json;        /* "{}" when none */
	const char *idempotency_key;     /* NULL = none */
	const char *producer_service_id; /* NULL when enqueued by the SQL/C door */
	const char *producer_instance_id;
	const char *created_at;   /* ISO-8601 text */
	const char *target_group; /* NULL = all groups of the topic */
	int publish_attempts;     /* deliveries tried before this one */
};

struct outbox_batch {
	PGresult *res;           /* owns the row strings */
	size_t n;                /* rows claimed */
	struct outbox_row *rows; /* n rows in id order */
};

/*
 * Opens a transaction on `conn` and locks up to `limit` PENDING rows, lowest id first, skipping
 * rows another claim holds (FOR UPDATE SKIP LOCKED): the relay's next batch never overlaps the
 * one in flight, and a row that commits late (lower id, later commit) is simply found by a
 * later claim, never skipped. Only rows of the `nshards` shards listed in `shards` are taken
 * (shards NULL: every shard; the relay owns those, see relay_lease.h). Rows waiting in their
 * backoff (next_attempt_at in the future) are not taken, nor, to keep per-key order, any later
 * row with the same topic and key. Nor the `nexclude` ids in `exclude` (NULL: none): rows the
 * relay still has on their way to Kafka outside any transaction (relay.h, "detached"). When
 * rows were found (batch->n > 0) the transaction stays open and the rows stay locked until
 * message_store_mark() or message_store_abandon(); with none, the transaction is already closed.
 * `idle_timeout_ms` > 0 becomes the transaction's idle_in_transaction_session_timeout: should
 * the caller leave it idle that long, PostgreSQL ends the session (a backstop that keeps the
 * vacuum horizon moving). Returns 0, or -1 with errstr (transaction rolled back). Free the
 * batch with message_store_batch_free().
 */
int message_store_claim(PGconn *conn, size_t limit, const int *shards, size_t nshards,
                        const int64_t *exclude, size_t nexclude, long idle_timeout_ms,
                        struct outbox_batch *batch, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

void message_store_batch_free(struct outbox_batch *batch);

struct outbox_delivery {
	int64_t id;
	int32_t partition; /* Kafka partition, when delivered */
	int64_t offset;    /* Kafka offset, when delivered */
	const char *error; /* NULL = delivered; else the reason Kafka refused it */
	bool held;         /* not published (an earlier row of its key failed in this pipeline, or
	                      librdkafka purged it): the row is left exactly as it was */
};

/*
 * Records the outcome of a claimed batch and commits (the claim's transaction; a caller marking
 * rows outside one opens it with BEGIN first): delivered rows become SENT with their
 * partition and offset and fan out into one ferry.message_delivery row per group the message
 * is for (SENT, or ACKNOWLEDGED at once for a group that needs no acknowledgment; a row an
 * early acknowledgment already made is kept); a message all of whose groups are then done
 * becomes ACKNOWLEDGED. Refused rows get publish_attempts incremented and error_message set,
 * and stay PENDING with a backoff of their own (next_attempt_at: 1 s doubling to 5 minutes),
 * or become FAILED (processed_at set, the error kept) once they have been tried
 * `max_attempts` times. Held rows are not touched. Two statements and a COMMIT in one round
 * trip, whatever n is. Returns 0, or -1 with errstr (then nothing was recorded: the rows stay
 * PENDING and will be published again).
 */
int message_store_mark(PGconn *conn, const struct outbox_delivery *d, size_t n, int max_attempts,
                       char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Rolls back a claim: the rows are unlocked, still PENDING. Errors are ignored (a broken
 * connection rolls back by itself). */
void message_store_abandon(PGconn *conn);

/* Looks a message up. Returns 1 with *out a new JSON object, 0 when there is no such id,
 * -1 with errstr. */
int message_store_get(PGconn *conn, int64_t id, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Lists PENDING messages with id > after_id, lowest first, at most limit. *out becomes
 * {"items":[...], "nextAfterId": <last id or null>}. Returns 0 or -1 with errstr.
 */
int message_store_list_pending(PGconn *conn, int64_t after_id, int limit, json_t **out,
                               char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

struct outbox_pending_stats {
	int64_t pending;           /* rows PENDING */
	double oldest_age_seconds; /* age of the oldest PENDING row; 0 when none */
};

/* Counts the backlog through the partial pending index. Returns 0 or -1 with errstr. */
int message_store_pending_stats(PGconn *conn, struct outbox_pending_stats *out, char *errstr,
                                size_t errstr_size) __attribute__((warn_unused_result));

/* The message's history, oldest first: a new JSON array of {event, consumerGroup, actor, at,
 * detail}. */
int message_store_history(PGconn *conn, int64_t message_id, json_t **out, char *errstr,
                          size_t errstr_size) __attribute__((warn_unused_result));

/*
 * The groups message `id` is for, with each group's state: a JSON array of {consumerGroupId,
 * consumerGroup, requiresAcknowledgment, status, sentAt, acknowledgedAt, negativeAckAt,
 * retryCount, errorMessage, consumerServiceId, consumerInstanceId} (status PENDING for groups
 * the relay has not reached yet). *out is a new reference (empty array for an unknown id).
 */
int message_store_groups(PGconn *conn, int64_t id, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
