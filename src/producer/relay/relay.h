/*
 * relay.h - publishes committed outbox rows to Kafka.
 *
 * One relay thread per producer process. It owns `inflight_batches` PostgreSQL connections
 * (one per batch in flight: a claim holds its rows locked in an open transaction until the
 * batch's delivery reports are in, or at most a third of txn_bound_ms), one more for marking
 * detached rows (below), and the librdkafka producer handle, and it alone calls rd_kafka_poll,
 * so delivery-report callbacks run on the relay thread and need no locks.
 *
 * The loop: claim a batch (message_store_claim: FOR UPDATE SKIP LOCKED, lowest id first),
 * produce every row (idempotent producer, acks=all), claim the next batch while that one is in
 * flight, and when a batch's reports are all in, mark it (SENT with partition/offset, or the
 * error, in one UPDATE) and commit. A crash at any point leaves the rows PENDING: they are
 * published again, so duplicates are bounded by the rows in flight and nothing is lost.
 *
 * One unavailable partition (no leader, too few in-sync replicas) never reports: with
 * message.timeout.ms=0 its rows wait inside librdkafka, in order, for as long as it is down.
 * The relay does not let that hold anything else. A batch whose reports are not all in after a
 * third of txn_bound_ms, or whose missing reports are all for partitions that already hold
 * detached rows, is *detached*: what did report is marked and the claim's transaction commits
 * (no relay transaction outlives the bound, so none pins the database's vacuum horizon), and
 * the rows still awaiting their report stay PENDING, unlocked, in memory, and excluded by id
 * from the next claims until their report comes and a short transaction of its own marks them
 * (excluded until that mark, not only until the report: a reported row not yet marked is still
 * PENDING, and a claim taking it would publish it twice and hold the lock the mark waits for).
 * The relay learns each row's partition from a partitioner wrapped around the configured one
 * (librdkafka's `partitioner` setting still decides), so health can name the partitions whose
 * rows have waited longer than txn_bound_ms (relay_status.stalled). Order per key still holds:
 * a key's later rows go to the same partition queue inside librdkafka, behind the stalled
 * ones. A crash leaves detached rows PENDING like any others; the next owner of their shard
 * publishes them again in id order. While rows are detached, their shards are not handed over
 * (they count as batches in flight). Limit: at most RELAY_DETACHED_ROWS_MAX rows wait detached;
 * beyond that the relay stops claiming until some are reported (the claim's id exclusion and
 * librdkafka's queue would otherwise grow without bound during a long outage).
 * As a backstop, each claim sets idle_in_transaction_session_timeout to txn_bound_ms, so
 * PostgreSQL itself ends a relay transaction left idle that long (its rows are then published
 * again).
 *
 * Order per key: rows are produced in claim order, a key always maps to the same partition,
 * and the idempotent producer keeps a partition's order through retries. By default a message
 * never times out inside librdkafka (message.timeout.ms=0): during a broker outage rows wait,
 * in order, instead of failing and being overtaken by the next batch.
 *
 * Wake-ups: relay_wake() (called after this process's own commits) wakes the loop at once;
 * rows enqueued by other processes are found by polling the partial pending index at an
 * interval that tightens to poll_min_ms while rows flow and relaxes to poll_idle_ms (the
 * fallback poll) when idle. No NOTIFY in writers' commits: it serialises them.
 *
 * Several relays, one order. Any number of producer instances may relay one database. Rows are
 * split into 64 shards by key (sql/producer/006_relay_shards.sql); a relay claims only rows of the
 * shards it leases (relay_lease.h: session advisory locks on a connection of their own, so they
 * vanish the moment a relay dies, kill -9 included), and the leases are rebalanced to a fair
 * share as relays come and go. One relay at a time publishes a shard, lowest id first, so per-key
 * order holds across relays. A shard is given up only once every batch that may hold its rows is
 * marked and committed; a shard freed by a crash has no batch of the dead relay left (its
 * transactions rolled back with its connections), so the next owner starts from the shard's
 * lowest PENDING row: what the dead relay had published but not marked goes out again, as after
 * any crash (duplicates bounded by its batches in flight). Naive SKIP LOCKED across relays would
 * not do: a relay whose claim skips a key's row that another relay holds in flight may publish
 * the key's next row first. There is still no id cursor anywhere: every claim starts from the
 * lowest PENDING id, so a row that commits late is found by the next claim of its shard's owner.
 * Throughput grows with relays while PostgreSQL keeps up: each claim walks the pending index in id
 * order and passes over other relays' rows (about relays x batch_size rows read per claim); with
 * one relay owning every shard the filter is left out of the claim altogether.
 *
 * Messages Kafka refuses for good (too large, invalid topic, not authorised): the row keeps the
 * error and waits with a backoff of its own (1 s doubling to 5 minutes); after max_attempts
 * refusals it becomes FAILED. While it waits, the later PENDING rows with its topic and key are
 * not claimed (the claim's NOT EXISTS on the partial backoff index), and within the pipeline the
 * rows of its key that were claimed before the refusal was marked are held (not produced, left
 * untouched); so are, while a refused row is being retried, the rows of its key behind it,
 * until the retry's outcome is marked. Every other row flows on. One limit: a broker's refusal
 * (not librdkafka's own checks) of a row's *first* attempt is known only at its delivery report,
 * by which time later rows of its key in the other batches already in flight (at most
 * batch_size x (inflight_batches - 1)) may be on their way and precede the row's eventual
 * delivery, should a retry succeed. Refusals librdkafka makes at produce time (a message larger
 * than message.max.bytes, an invalid topic name) block the key strictly from the first.
 */
#ifndef FERRY_RELAY_H
#define FERRY_RELAY_H

#include <librdkafka/rdkafka.h>

#include "common/metrics.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct relay;

struct relay_options {
	const char *conninfo;     /* libpq conninfo (copied) */
	const char *service_id;   /* stamped into headers when a row has none (copied) */
	const char *instance_id;  /* (copied) */
	size_t batch_size;        /* rows per claim */
	int inflight_batches;     /* batches in flight at once, >= 1 */
	long poll_min_ms;         /* poll interval while rows flow */
	long poll_idle_ms;        /* fallback poll interval when idle */
	long shutdown_timeout_ms; /* relay_stop waits this long for deliveries in flight */
	int max_attempts;         /* a row Kafka refused this many times becomes FAILED, >= 1 */
	long txn_bound_ms;        /* longest a claim's transaction stays open (detach after a
	                             third of it); rows unreported this long are "stalled" */
	/* Metrics (NULL: not counted): a counter and a histogram labelled topic, counted when a
	 * batch is marked (delivered rows, and the seconds from their enqueuing transaction's start
	 * to Kafka's confirmation), and a histogram of delivered rows per batch. */
	struct metric_family *published;
	struct metric_family *commit_to_publish;
	struct metric_family *batch_sizes;
};

struct producer_config;

/* Fills *out with what comes from the settings (producer_config.h), leaving conninfo, instance_id
 * and the metrics for the service to wire. Strings point into cfg, which must outlive *out. Pure;
 * any thread. */
void relay_options_from_config(const struct producer_config *cfg, struct relay_options *out);

/* Rows detached at most (see above); then claiming pauses until some are reported. */
#define RELAY_DETACHED_ROWS_MAX 20000
/* Stalled partitions listed by name in relay_status (all are counted). */
#define RELAY_STALLED_LIST_MAX 16

/* A partition with a delivery outstanding for longer than txn_bound_ms. */
struct relay_stalled_partition {
	char topic[256];    /* Kafka topic */
	int32_t partition;  /* its partition */
	double age_seconds; /* how long its oldest outstanding row has waited */
	size_t rows;        /* rows of this relay waiting for it */
};

/* Counters and state for health and metrics; a consistent snapshot. */
struct relay_status {
	bool running;                   /* the thread is running */
	uint64_t published_total;       /* rows confirmed by Kafka and marked SENT */
	uint64_t delivery_errors_total; /* rows Kafka refused (each attempt counts) */
	uint64_t failed_total;          /* rows marked FAILED after max_attempts refusals */
	uint64_t batches_total;         /* batches marked */
	int shards_owned;               /* shards leased by this relay (relay_lease.h) */
	int relays_live;                /* relays on this database, at the last lease tick */
	char last_error[256];           /* most recent error, "" if none */
	int stalled_count;              /* partitions stalled longer than txn_bound_ms */
	int stalled_listed;             /* entries in stalled (<= RELAY_STALLED_LIST_MAX) */
	struct relay_stalled_partition stalled[RELAY_STALLED_LIST_MAX]; /* oldest first */
	uint64_t detached_rows; /* rows awaiting a report outside any transaction */
};

/*
 * Creates a relay. Takes ownership of `kafka_conf` (also on failure); the relay adds its
 * delivery-report and error callbacks and producer defaults it depends on. Returns NULL with
 * errstr when librdkafka rejects the configuration.
 */
struct relay *relay_new(const struct relay_options *opts, rd_kafka_conf_t *kafka_conf, char *errstr,
                        size_t errstr_size);

/* Starts the relay thread. Returns 0, or -1 with errstr. */
int relay_start(struct relay *relay, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Wakes the relay now: rows were just committed. Any thread; cheap (a mutex and a signal). */
void relay_wake(struct relay *relay);

/*
 * Stops claiming, waits up to shutdown_timeout_ms for the deliveries in flight, marks what was
 * delivered, leaves the rest PENDING, and joins the thread. Idempotent.
 */
void relay_stop(struct relay *relay);

/* relay_stop, waiting at most timeout_ms (instead of shutdown_timeout_ms) for the deliveries
 * in flight: producer_service_stop gives the relay what is left of the shutdown deadline. */
void relay_stop_within(struct relay *relay, long timeout_ms);

/* Frees the relay (stopping it first if needed). NULL is a no-op. */
void relay_destroy(struct relay *relay);

/* Fills *st. Any thread. */
void relay_get_status(struct relay *relay, struct relay_status *st);

/*
 * Asks the Kafka cluster for its broker list through the relay's producer handle, waiting at
 * most timeout_ms. Returns the number of brokers (>= 1) when Kafka answers, or -1 with errstr.
 * Any thread (librdkafka handles are thread-safe; a rebuild of the handle waits for it).
 */
int relay_kafka_probe(struct relay *relay, int timeout_ms, char *errstr, size_t errstr_size);

#endif
