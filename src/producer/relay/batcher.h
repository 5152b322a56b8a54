/*
 * batcher.h - group commit for "useBatching": true.
 *
 * The seed kept batched messages in memory and lost them on a crash. Here a batched request is
 * answered only after its row is committed, exactly like an unbatched one; batching only lets
 * many concurrent requests share one transaction (and one fsync). The batcher thread owns its
 * PGconn; it commits when max_messages are queued or max_wait_ms after the first one arrived,
 * whichever comes first, then wakes the relay and calls each request's completion.
 *
 * If the combined statement fails for a reason other than a lost connection (one message the
 * database refuses), the batch is retried one message at a time, so a bad message fails alone.
 */
#ifndef FERRY_BATCHER_H
#define FERRY_BATCHER_H

#include <stddef.h>

#include "common/pg.h"
#include "producer/store/message_store.h"
#include "producer/relay/relay.h"

struct batcher;

struct batcher_options {
	const char *conninfo;               /* copied */
	const char *service_id;             /* copied */
	const char *instance_id;            /* copied */
	size_t max_messages;                /* flush at this many */
	long max_wait_ms;                   /* or this long after the first message */
	size_t max_queue;                   /* submissions beyond this are refused (backpressure) */
	enum outbox_registry_mode registry; /* how topics are checked against the registry */
	struct pg_session_limits limits;    /* bounds on the batcher's statements (pg.h): a
	                                     * batch stuck on a lock ends with an error */
	long db_timeout_ms;                 /* client-side bound on each batch's statement
	                                     * (pg_exec_within): a hung server ends the batch
	                                     * with "outcome unknown"; 0 = none */
};

struct producer_config;

/* Fills *out with what comes from the settings (producer_config.h), leaving conninfo and
 * instance_id for the service to wire. Strings point into cfg, which must outlive *out. Pure; any
 * thread. */
void batcher_options_from_config(const struct producer_config *cfg, struct batcher_options *out);

/*
 * Completion: called exactly once per submission, on the batcher thread, after the commit
 * (err == OUTBOX_OK, *result valid) or after it failed (err says what kind of failure,
 * error says why; nothing was written, or for a lost connection the outcome is unknown, which
 * the error says).
 */
typedef void (*batcher_done_fn)(void *opaque, const struct outbox_enqueue_result *result,
                                enum outbox_error err, const char *error);

/* Creates the batcher; `relay` (may be NULL) is woken after each commit. NULL on OOM. */
struct batcher *batcher_new(const struct batcher_options *opts, struct relay *relay);

int batcher_start(struct batcher *b, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Queues one message (its strings are copied). Returns 0, or -1 with errstr when the batcher
 * is stopping or its queue is full; then `done` will not be called. Any thread.
 */
int batcher_submit(struct batcher *b, const struct outbox_new_message *msg, batcher_done_fn done,
                   void *opaque, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Commits what is queued, then stops the thread. Idempotent. */
void batcher_stop(struct batcher *b);

/* Stops and frees. NULL is a no-op. */
void batcher_destroy(struct batcher *b);

#endif
