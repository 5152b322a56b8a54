/*
 * retry_store.h - the retry job's queries (jobs/retry_job.c): its claim of due deliveries, their
 * outcomes, the verdicts on spent budgets and the due_at refresh. Operators' re-drives and the
 * dead letters are redrive_store.h. The tables are ferry.message_delivery and ferry.message_event
 * (sql/producer/002_registry.sql, 005_retry.sql); the decisions that must be atomic live in SQL
 * functions (sql/producer/functions/retry_settle_spent.sql).
 *
 * Concurrency: every path locks the messages it touches first (FOR NO KEY UPDATE, the order
 * ferry.acknowledge uses), so acknowledgments, several producers' retry jobs and operators queue
 * up instead of deadlocking, and two retry jobs never take the same delivery (SKIP LOCKED).
 *
 * Each function takes a PGconn the caller owns, used by one thread at a time. On failure it
 * returns -1 with one line in errstr; a broken connection is the caller's to replace.
 */
#ifndef FERRY_RETRY_STORE_H
#define FERRY_RETRY_STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One delivery due for republishing. Strings point into the batch's PGresult. */
struct retry_due {
	int64_t message_id;
	int64_t group_id;
	const char *group;
	int retry_count; /* retries so far; this one is retry_count + 1 */
	const char *topic;
	const char *key; /* NULL = no key */
	size_t key_len;
	const char *payload;
	size_t payload_len;
	const char *headers_json; /* "{}" when none */
	const char *idempotency_key;
	const char *producer_service_id;
	const char *producer_instance_id;
	const char *created_at;
	const char *trigger;         /* "negative_ack", "timeout" or "redrive" */
	int64_t target_agent_id;     /* 0 = the whole group */
	const char *target_instance; /* the target agent's instance id, or NULL */
	int32_t target_partition;    /* a partition the target holds now, or -1 (by key) */
	bool target_unreadable;      /* the target's reported partitions are not partition
	                                numbers (ferry.agent_topic_partition NULL): by key */
	int republish_failures;      /* republishes Kafka refused in a row */
};

struct retry_batch {
	PGresult *res;
	size_t n;
	struct retry_due *rows;
};

/* What the job did with one claimed delivery. */
struct retry_outcome {
	bool published;              /* Kafka confirmed it */
	int64_t delay_ms;            /* published: the backoff before the next retry may start;
	                                not: how long until it is due again */
	int32_t partition;           /* where it went (when published) */
	const char *target_instance; /* the consumer it was aimed at, NULL = by key (borrowed) */
	char error[200];             /* not published: why ("" = unknown) */
	char fallback_reason[320];   /* aimed at a consumer but sent by key: why; "" = not */
};

/* Told of each delivery settled: its message's topic, its group, FAILED (true) or EXPIRED. */
typedef void (*retry_store_settled_fn)(void *arg, const char *topic, const char *group,
                                       bool failed);

/*
 * Settles deliveries whose retry budget is spent (FAILED after a negative acknowledgment,
 * EXPIRED after a timeout), at most `limit`, in its own transaction, recording `actor` in the
 * history. *failed and *expired count them; on_settled (may be NULL) hears of each. Returns 0
 * or -1.
 */
int retry_store_settle_spent(PGconn *conn, int limit, const char *actor,
                             retry_store_settled_fn on_settled, void *arg, int *failed,
                             int *expired, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Opens a transaction and claims up to `limit` deliveries due for a redelivery, their messages
 * locked (SKIP LOCKED) until retry_store_record or retry_store_abandon. With none found the
 * transaction is closed already. Returns 0 or -1 (rolled back). Free with retry_store_batch_free.
 */
int retry_store_claim(PGconn *conn, int limit, struct retry_batch *batch, char *errstr,
                      size_t errstr_size) __attribute__((warn_unused_result));

void retry_store_batch_free(struct retry_batch *batch);

/*
 * Records the claimed batch's outcomes (out[i] for batch->rows[i]) and commits: a published
 * delivery counts one more retry, remembers when, and may not be retried again before now +
 * delay; an operator's request and target are cleared; the history gets a 'retried' event per
 * delivery (with the fallback reason when an aimed one went by key). An unpublished one keeps
 * its retry count and request, counts one more republish failure, is due again only at now +
 * delay (so the deliveries behind it in the due order get their turn), and gets a
 * 'republish_failed' event with the error. Returns 0 or -1 (nothing recorded: the deliveries
 * are due again, and the published ones may be published twice).
 */
int retry_store_record(PGconn *conn, const struct retry_batch *batch,
                       const struct retry_outcome *out, const char *actor, char *errstr,
                       size_t errstr_size) __attribute__((warn_unused_result));

/* Rolls a claim back. Errors are ignored (a broken connection rolls back by itself). */
void retry_store_abandon(PGconn *conn);

/*
 * Recomputes due_at for up to `limit` deliveries whose due_at has passed but that no claim or
 * verdict took (ferry.retry_refresh_due_at: a group's timeout was lengthened, or a writer left
 * the default), in its own transaction, so that later passes stop reading them. *moved: how
 * many got a later due_at. Returns 0 or -1.
 */
int retry_store_refresh_due_at(PGconn *conn, int limit, int *moved, char *errstr,
                               size_t errstr_size) __attribute__((warn_unused_result));

#endif
