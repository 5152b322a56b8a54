/*
 * redrive_store.h - every query of the dead letters and of operators' re-drives (the routes of
 * api/api_redrive.c): FAILED and EXPIRED deliveries, and messages the relay could never publish;
 * listing, deleting and re-driving them. The tables are ferry.message_delivery and
 * ferry.message_event (sql/producer/002_registry.sql, 005_retry.sql); a re-drive of one message is
 * one SQL function (sql/producer/functions/request_redelivery.sql). The retry job's own queries
 * are retry_store.h.
 *
 * Concurrency: every path locks the messages it touches first (FOR NO KEY UPDATE, the order
 * ferry.acknowledge uses), so acknowledgments, the retry jobs and operators queue up instead of
 * deadlocking.
 *
 * Each function takes a PGconn the caller owns, used by one thread at a time. On failure it
 * returns -1 (or REDRIVE_STORE_ERR_*) with one line in errstr; a broken connection is the
 * caller's to replace.
 */
#ifndef FERRY_REDRIVE_STORE_H
#define FERRY_REDRIVE_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why an operator's request was refused. */
enum redrive_store_error {
	REDRIVE_STORE_OK = 0,
	REDRIVE_STORE_ERR_DB = -1,        /* 503 */
	REDRIVE_STORE_ERR_NOT_FOUND = -2, /* 404: no such message, or not for that group */
	REDRIVE_STORE_ERR_CONFLICT = -3,  /* 409: not on Kafka yet, or nothing to re-drive */
	REDRIVE_STORE_ERR_INVALID = -4,   /* 400: the database refused a value */
};

/*
 * An operator's re-drive of one message (ferry.request_redelivery): all its unacknowledged
 * groups, or `group`; aimed at consumer `target` (service or instance id) when not NULL.
 * *out: a new JSON array, one object per group {consumerGroup, previousStatus, target
 * ("instance"|"group"), targetConsumerServiceId, targetInstanceId, fallbackReason}; for a
 * message the relay gave up on (never on Kafka), one object with target "relay": it is PENDING
 * again.
 */
enum redrive_store_error redrive_store_request_redelivery(PGconn *conn, int64_t message_id,
                                                          const char *group, const char *target,
                                                          const char *actor, int heartbeat_s,
                                                          json_t **out, char *errstr,
                                                          size_t errstr_size);

/*
 * Bulk re-drive: up to `limit` of `group`'s dead deliveries (status "FAILED", "EXPIRED", or
 * NULL for both), oldest message first, each with a fresh retry budget. *requeued counts them.
 */
int redrive_store_bulk_redrive(PGconn *conn, const char *group, const char *status, int limit,
                               const char *actor, int64_t *requeued, char *errstr,
                               size_t errstr_size) __attribute__((warn_unused_result));

/*
 * A page of dead letters, by message id after `after_id`, at most `limit` messages: every
 * FAILED/EXPIRED delivery of them (filtered by group/status when not NULL), and messages that
 * never reached Kafka and were given up (status FAILED, consumerGroup null). *out is
 * {"failed": [...], "count": n, "nextAfterId": id|null}. With `newest`, the `limit` most recent
 * messages instead, newest first (after_id ignored, no next page).
 */
int redrive_store_list_dead(PGconn *conn, const char *group, const char *status, int64_t after_id,
                            int limit, bool newest, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Deletes dead letters last changed before `before` (a timestamptz literal), or when it is NULL
 * more than older_than_s seconds before the database's now(), in batches of `batch` rows, each
 * its own short transaction: the FAILED/EXPIRED deliveries (of `group` only, when not NULL), and
 * then every message left with nothing but acknowledged deliveries (when no group is named, also
 * messages the relay gave up on). Messages that lose a dead delivery but stay get a
 * 'dead_letter_deleted' event. Counts go to *deliveries and *messages. No batch starts after
 * budget_ms (the first always runs, so each call makes progress): *complete is then false and
 * a later call goes on where this one stopped; true when nothing was left. Returns
 * REDRIVE_STORE_OK, REDRIVE_STORE_ERR_INVALID (`before` unreadable) or REDRIVE_STORE_ERR_DB (the
 * batches committed before the failure stay deleted, and are counted).
 */
enum redrive_store_error
redrive_store_delete_dead(PGconn *conn, const char *before, int64_t older_than_s, const char *group,
                          int batch, long budget_ms, const char *actor, int64_t *deliveries,
                          int64_t *messages, bool *complete, char *errstr, size_t errstr_size);

#endif
