/*
 * relay_book.h - the relay's bookkeeping of what it has in flight (relay.h has the design):
 * its batch slots, the rows that still await a delivery report, the per-key gate (rows of a
 * key held behind a refused row of that key), the detached batches, the partitions their rows
 * wait for, and which finished batch is marked next.
 *
 * Pure: no database and no Kafka calls. relay.c claims, produces, marks and commits, and tells
 * the book what happened; the book only keeps the account, so every rule here is unit-tested
 * without PostgreSQL or Kafka (tests/unit/test_relay_book.c).
 *
 * Threads: the relay thread only (delivery reports run inside its rd_kafka_poll), except
 * relay_msg.partition, which librdkafka's partitioner may set on one of its own threads.
 * Memory: the book owns its slots, their arrays and the detached batches; a slot's batch
 * (struct outbox_batch) is the claim's result, handed to the slot by relay.c and freed by
 * relay_book_slot_reset. A slot's `conn` is relay.c's: the book never opens nor closes it.
 */
#ifndef FERRY_RELAY_BOOK_H
#define FERRY_RELAY_BOOK_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/store/message_store.h"

/* How often a batch is checked for waiting only on partitions that already hold detached
 * rows (relay_book_detach_due). */
#define RELAY_BOOK_DETACH_CHECK_MS 50

struct relay_slot;

/* librdkafka's per-message opaque: which slot, which row. Lives in the slot's array, which moves
 * with the batch when it is detached (relay_book_detach updates `slot`). */
struct relay_msg {
	struct relay_slot *slot; /* the batch this row belongs to */
	size_t idx;              /* its index in the batch */
	bool blocks_key;         /* listed in slot->refused */
	bool awaiting;           /* handed to librdkafka, delivery report not in yet */
	bool marked;             /* outcome recorded already (a detached batch's early rows) */
	atomic_int partition;    /* set by the relay's partitioner, maybe on a librdkafka thread;
	                            -1 unknown */
};

/* One batch in flight, with the connection whose transaction holds its rows locked. */
struct relay_slot {
	struct relay_book *book;            /* back pointer, for the delivery report */
	PGconn *conn;                       /* relay.c's; NULL until connected, or detached */
	struct outbox_batch batch;          /* the claimed rows (owned) */
	struct outbox_delivery *deliveries; /* batch.n outcomes (owned, with their error text) */
	struct relay_msg *msgs;             /* batch.n opaques (owned) */
	size_t outstanding;                 /* produced, report not yet in */
	bool active;                        /* holds a claimed batch */
	uint64_t claim_seq;                 /* claim order, to mark oldest first */
	long claimed_at;                    /* monotonic ms of the claim */
	bool detached;                      /* heap copy in book->detached: claim committed */
	const struct outbox_row **refused;  /* keyed rows of this batch that block their key */
	size_t nrefused;                    /* entries in refused */
};

/* A partition rows wait for, when counting stalls: topic points into a batch's result. */
struct relay_tp {
	const char *topic; /* Kafka topic (borrowed from a batch) */
	int32_t partition; /* its partition */
	long oldest;       /* monotonic ms of the claim of its oldest waiting row */
	size_t rows;       /* rows waiting for it */
};

/* The account. Fields are read by relay.c; only relay_book_* functions change them. */
struct relay_book {
	struct relay_slot *slots;     /* nslots batch slots (owned) */
	int nslots;                   /* batches in flight at once */
	uint64_t claim_seq;           /* the last claim's sequence number */
	size_t nrefused;              /* sum of the slots' nrefused: 0 on the fast path */
	struct relay_slot **detached; /* batches whose claim committed with rows still awaiting */
	size_t ndetached;             /* entries in detached */
	size_t detached_cap;          /* room in detached */
	size_t detached_rows;         /* rows of detached batches awaiting their report */
	struct relay_tp *tps;         /* partitions found by the last tps scan (scratch) */
	size_t tps_cap;               /* room in tps */
	long next_detach_check_at;    /* monotonic ms */
};

/* What relay_book_unrecorded found among the rows it selected. */
struct relay_book_tally {
	size_t refused;       /* rows Kafka refused */
	size_t held;          /* rows held (not produced, or purged) */
	size_t first_refused; /* batch index of the first refused row (when refused > 0) */
};

/* Sets up an empty book with `nslots` (>= 1) free slots. Returns 0, or -1 when out of memory
 * (then relay_book_release is still safe to call). */
int relay_book_init(struct relay_book *book, int nslots) __attribute__((warn_unused_result));

/* Frees everything the book owns (slots' batches, detached batches, scratch). The slots' conns
 * must have been closed by the caller; they are not touched. */
void relay_book_release(struct relay_book *book);

/* A free slot, or NULL when every slot holds a batch. */
struct relay_slot *relay_book_free_slot(struct relay_book *book);

/* Slots holding a batch. */
int relay_book_active_count(const struct relay_book *book);

/* Rows produced whose delivery report is not in yet, detached ones included. */
size_t relay_book_outstanding(const struct relay_book *book);

/* The claim sequence of the oldest batch not yet marked (detached ones included), or
 * UINT64_MAX when there is none. */
uint64_t relay_book_oldest_active_seq(const struct relay_book *book);

/*
 * Opens a batch in a free slot whose `batch` relay.c just filled (n > 0): allocates its
 * outcomes and opaques (each row's outcome id set, partition unknown) and gives it the next
 * claim sequence, claimed at `now_ms`. Returns 0, or -1 when out of memory (the slot is then
 * reset, its batch freed).
 */
int relay_book_open(struct relay_book *book, struct relay_slot *slot, long now_ms)
    __attribute__((warn_unused_result));

/* Frees the slot's batch and arrays and takes its key blocks out of the book: the slot is free.
 * Leaves slot->conn alone. */
void relay_book_slot_reset(struct relay_slot *slot);

/* The per-key gate. True when a row refused earlier in the pipeline (a batch not yet marked,
 * detached ones included) has row's topic and key: then row must not overtake it (it is held, not
 * produced). Rows without a key are never blocked. */
bool relay_book_key_blocked(const struct relay_book *book, const struct outbox_row *row);

/* Makes the slot's row idx block its topic and key until its batch is marked (after which the
 * claim's backoff rule takes over). For a row Kafka refused, and for a row being retried after
 * a refusal: a broker's refusal comes back only in the delivery report, and the key's next
 * rows must not be on their way by then. No-op for a row without a key or already listed. */
void relay_book_note_blocker(struct relay_slot *slot, size_t idx);

/* Row idx was handed to librdkafka: it awaits its delivery report. */
void relay_book_produced(struct relay_slot *slot, size_t idx);

/*
 * Records a row's delivery report. `purged`: the relay's own purge (a producer rebuild or
 * shutdown), not the message's fault: the row is held (left exactly as it was, no attempt
 * counted). Otherwise `error` (copied; NULL = delivered at `partition`/`offset`) is the reason
 * Kafka refused it, and the row then blocks its key. The row no longer awaits.
 */
void relay_book_report(struct relay_msg *rm, bool purged, const char *error, int32_t partition,
                       int64_t offset);

/* The ids of the detached batches' rows whose outcome is not recorded yet, for the claim to pass
 * over: those still awaiting their report, and those whose report is in but whose batch is not
 * marked yet (they are still PENDING in the table: claimed again they would be published twice,
 * and the claim's row locks would hold up the mark that records them). A new array in *ids (NULL
 * when there are none) that the caller frees. Returns 0, or -1 when out of memory. */
int relay_book_detached_ids(const struct relay_book *book, int64_t **ids, size_t *n)
    __attribute__((warn_unused_result));

/*
 * Selects the slot's rows that have an outcome not yet recorded (reported, held or refused at
 * produce time; not awaiting, not marked): copies their outcomes into d[] and their batch
 * indexes into idx[] (both room for batch.n), counts them into *t, and returns how many.
 */
size_t relay_book_unrecorded(const struct relay_slot *slot, struct outbox_delivery *d, size_t *idx,
                             struct relay_book_tally *t);

/* The rows idx[0..n) count as recorded (marked, or their mark failed and they stay PENDING). */
void relay_book_recorded(struct relay_slot *slot, const size_t *idx, size_t n);

/* The finished batch (nothing outstanding) to mark next, oldest claim first among the active
 * slots and the detached batches; NULL when none. When it is detached, *detached_j is its
 * index in book->detached (for relay_book_detached_remove after marking). */
struct relay_slot *relay_book_next_done(const struct relay_book *book, size_t *detached_j);

/* Takes detached batch j out of the book and frees it. */
void relay_book_detached_remove(struct relay_book *book, size_t j);

/*
 * Detaching an active batch that still awaits reports is two steps around relay.c's mark of
 * what did report (which commits the claim): relay_book_detach_reserve makes room for it
 * first, so that out of memory leaves the batch as it was (NULL: try again later); then
 * relay_book_detach(book, slot, d) moves the batch into d, in book->detached, keeping the key
 * blocks of the rows still on their way only (the rows recorded now are in their backoff, where
 * the claim's own rule holds their keys), and frees the slot. d is the book's from then on.
 */
struct relay_slot *relay_book_detach_reserve(struct relay_book *book);
void relay_book_detach(struct relay_book *book, struct relay_slot *slot, struct relay_slot *d);

/*
 * The active batches due to be detached at `now_ms`: those still awaiting reports a third of
 * txn_bound_ms after their claim, or (checked at most every RELAY_BOOK_DETACH_CHECK_MS while
 * batches are detached) those all of whose awaited rows go to partitions that detached rows
 * already wait for. Fills due[] (room for nslots) and returns how many. Uses book->tps.
 */
size_t relay_book_detach_due(struct relay_book *book, long now_ms, long txn_bound_ms,
                             struct relay_slot **due);

/*
 * The partitions whose rows have waited longer than txn_bound_ms at `now_ms` (claimed before
 * now_ms - txn_bound_ms, report not in), in book->tps[0..n), oldest first, each with its row
 * count. Returns n. A partition is known once the partitioner ran for a row of it.
 */
size_t relay_book_stalled(struct relay_book *book, long now_ms, long txn_bound_ms);

#endif
