/*
 * cleanup_store.h - the queries of the cleanup job (the seed's CleanupOldMessagesJob): old
 * finished messages and old health checks go, a bounded batch per call, each batch its own
 * short transaction, so the outbox is never locked for long and several producer instances can
 * clean at once (SKIP LOCKED: they take different rows).
 *
 * A message is finished when it reached Kafka and no group still needs it: every delivery
 * acknowledged (or it had no group). FAILED and EXPIRED messages and deliveries are kept until an
 * operator deletes them (DELETE /api/messages/failed); PENDING and SENT-and-waiting ones are
 * never touched. Their acknowledgments and history go with them (ON DELETE CASCADE).
 *
 * PGconn owned by the caller, one thread at a time; -1 with one line in errstr on failure.
 */
#ifndef FERRY_CLEANUP_STORE_H
#define FERRY_CLEANUP_STORE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

/* Deletes up to `batch` finished messages created more than retention_s seconds ago.
 * *deleted counts them (fewer than batch: nothing older is left). Returns 0 or -1. */
int cleanup_store_messages(PGconn *conn, int64_t retention_s, int batch, int64_t *deleted,
                           char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Deletes up to `batch` health-check rows older than retention_s seconds. Returns 0 or -1. */
int cleanup_store_health_checks(PGconn *conn, int64_t retention_s, int batch, int64_t *deleted,
                                char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
