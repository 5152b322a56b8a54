/*
 * harness_writers.h - concurrent writers for the order tests: threads, each on its own PGconn,
 * committing ferry.enqueue() rows for keys of their own with small random pauses, and the check
 * that what reached Kafka is complete and in per-key order.
 *
 * Thread t writes keys "w<t>-<k>" (k < keys_per_thread), cycling over them; each row's payload is
 * "<key>|<seq>", seq counting 1, 2, ... per key. A key is written by one thread, one committed
 * transaction after another, so its seq order is its commit order: the order the records of the
 * key must first appear in on Kafka. Each transaction holds its row uncommitted for a random
 * moment (max_hold_ms) so that rows commit out of id order across threads, as with any real
 * application: a relay that keeps an id cursor would skip the late ones.
 *
 * Same failure rules as harness.h: it_writers_start, it_writers_join and it_writers_verify fail
 * the test (cmocka thread only); it_writers_committed may be called from any thread.
 */
#ifndef FERRY_IT_HARNESS_WRITERS_H
#define FERRY_IT_HARNESS_WRITERS_H

#include <stddef.h>
#include <stdint.h>

#include "harness.h"

struct it_writers_options {
	const char *conninfo; /* the database (copied) */
	const char *topic;    /* (copied) */
	int threads;          /* 1..256 */
	int keys_per_thread;  /* >= 1 */
	int rows_per_thread;  /* rows each thread commits, one per transaction */
	int max_pause_ms;     /* random pause between a thread's transactions, 0..max */
	int max_hold_ms;      /* random pause before each COMMIT, 0..max */
	/*
	 * > 0: each thread stops after committing this many rows and waits until
	 * it_writers_open_gate, so that a test can act (kill a relay, say) at a moment it chooses
	 * while writers still have rows to commit, however fast or slow the machine. 0: no gate.
	 */
	int gate_after_rows;
};

struct it_writers;

/* Connects every thread (before any starts writing) and starts them. */
struct it_writers *it_writers_start(const struct it_writers_options *opts);

/* Lets threads waiting at the gate (gate_after_rows) go on. Idempotent. Any thread. */
void it_writers_open_gate(struct it_writers *w);

/* Rows committed so far, all threads. Any thread. */
int64_t it_writers_committed(const struct it_writers *w);

/* Opens the gate, waits for every thread; fails the test when one of them hit an error (naming it).
 */
void it_writers_join(struct it_writers *w);

/* What the records of the topic say about the writers' rows. */
struct it_order_report {
	size_t records;    /* records read */
	size_t distinct;   /* distinct (key, seq) */
	size_t duplicates; /* records - distinct */
	size_t missing;    /* rows committed but never on Kafka */
	size_t reorders;   /* first appearances of a seq not greater than the key's previous one */
};

/*
 * Checks `recs` against everything the writers committed (call after it_writers_join): every row
 * present, and per key the first appearance of each seq in increasing order (duplicates after a
 * crash may repeat an older seq later; only first appearances count). Fills *rep and prints it
 * with the first few problems under `label`; fails the test on a record that is no writer's row.
 */
void it_writers_verify(const struct it_writers *w, const struct it_records *recs, const char *label,
                       struct it_order_report *rep);

/*
 * Reads every record of the writers' topic and checks them with it_writers_verify: fails the test
 * unless every committed row is there, in per-key order. *rep says the rest (duplicates: the
 * caller's bound). Call after it_writers_join, once the relays published everything.
 */
void it_writers_check_topic(const struct it_writers *w, const char *label,
                            struct it_order_report *rep);

/* Frees everything (after it_writers_join). NULL is a no-op. */
void it_writers_free(struct it_writers *w);

#endif
