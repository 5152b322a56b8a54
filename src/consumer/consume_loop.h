/*
 * consume_loop.h - one consumer group: a librdkafka consumer, its own thread and PGconn.
 *
 * Per record: a record without ferry-message-id (not ours) or targeted at another group
 * (ferry-target-group) is skipped and its offset stored. Otherwise, in one transaction: insert
 * the inbox row (ON CONFLICT DO NOTHING; a conflict on the id, or on the whole idempotency key
 * within the group and topic, means duplicate), run the processor, queue the acknowledgment,
 * commit. A duplicate is acknowledged again and never processed again. A processor failure rolls
 * back and records a failed_message row and a negative ack in a transaction of their own; so
 * does a record whose idempotency key cannot be honoured (over the limit, not UTF-8), without
 * calling the processor. Every header of a record reaches the processor, however many. Only after
 * the commit is the offset stored (enable.auto.offset.store=false; librdkafka's auto commit then
 * commits it). When the database is unreachable, or a statement fails with a serialization
 * failure, a deadlock or another error of the database rather than of the record, the same record
 * is retried with backoff and never skipped. When one of ferry's own statements fails because of
 * the record (a data error, a constraint or trigger, a processor that left the transaction
 * aborted: see consume_error.h), the record is handled like a processor failure (failed_message
 * and a negative ack, with PostgreSQL's message and SQLSTATE) and the partition moves on.
 *
 * A crash between commit and offset commit redelivers records the inbox already holds: they come
 * back as duplicates (acknowledged again, not processed again).
 *
 * If the database stays down longer than max.poll.interval.ms, librdkafka leaves the group and
 * the partitions move to another member; the record is then processed there (or here after a
 * rejoin) and the inbox keeps it exactly-once.
 */
#ifndef FERRY_CONSUME_LOOP_H
#define FERRY_CONSUME_LOOP_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer/ack_sender.h"
#include "consumer/processor.h"

struct consume_loop_options {
	const char *group;             /* consumer group (copied) */
	const char *const *topics;     /* topic names (copied) */
	size_t topic_count;            /* entries of topics, >= 1 */
	const char *conninfo;          /* libpq conninfo (copied) */
	const char *service_id;        /* consumer_service_id of inbox rows (copied) */
	const char *instance_id;       /* consumer_instance_id (copied) */
	long poll_timeout_ms;          /* rd_kafka_consumer_poll timeout */
	struct ack_sender *ack_sender; /* woken after each commit; borrowed, may be NULL */
	const struct processor_options *processor; /* built once for this loop */
	long close_timeout_ms; /* on stop, the most closing the Kafka consumer may take */
};

struct consumer_config;

/* Fills *out with what comes from the settings (consumer_config.h), leaving group, topics,
 * conninfo, instance_id, ack_sender and processor for the service to wire. Strings point into cfg,
 * which must outlive *out. Pure; any thread. */
void consume_loop_options_from_config(const struct consumer_config *cfg,
                                      struct consume_loop_options *out);

/* What GET /api/consumer/health shows for a group. */
struct consume_loop_status {
	bool running;             /* the thread is polling */
	int assigned_partitions;  /* partitions currently assigned to this member */
	int64_t last_poll_ms_ago; /* -1 before the first poll */
	int64_t processed;        /* messages processed since start */
	int64_t duplicates;       /* duplicates acknowledged again */
	int64_t failed;           /* processor failures */
	int64_t skipped;          /* records not ours or for another group */
	bool db_ok;               /* the last database operation succeeded */
};

struct consume_loop;

/*
 * Creates the consumer from `conf` (takes ownership, also on failure; group.id and the offset
 * settings must already be set), subscribes to the topics and builds the processor (a plugin's
 * init runs here, on the calling thread). Returns the loop (not yet polling) or NULL with errstr.
 * The same thread later calls consume_loop_join/consume_loop_destroy.
 */
struct consume_loop *consume_loop_new(const struct consume_loop_options *opts,
                                      rd_kafka_conf_t *conf, char *errstr, size_t errstr_size);

/* Starts the thread. Returns 0 or -1 with errstr. */
int consume_loop_start(struct consume_loop *loop, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Asks the thread to stop after the current record (non-blocking). Any thread. */
void consume_loop_request_stop(struct consume_loop *loop);

/* Waits for the thread: it finishes its record and closes the consumer (leaving the group and
 * committing stored offsets); then destroys the processor on the calling thread, which must be
 * the one that called consume_loop_new (include/ferry/processor.h: init and destroy on one
 * thread). Call after request_stop. The close
 * takes at most close_timeout_ms: with the broker gone librdkafka would wait for it up to
 * session.timeout.ms and longer. A close cut short commits nothing more: the records after the
 * last committed offset come again to the partition's next owner, and the inbox makes them
 * duplicates (acknowledged again, not processed again). */
void consume_loop_join(struct consume_loop *loop);

/* Snapshot of the loop's state. Any thread. */
void consume_loop_status(struct consume_loop *loop, struct consume_loop_status *out);

/* The group's name (owned by the loop). */
const char *consume_loop_group(const struct consume_loop *loop);

/* Joins if needed (destroying the processor, also when the thread never started), then frees
 * everything. NULL is fine. On the thread that called consume_loop_new. */
void consume_loop_destroy(struct consume_loop *loop);

/* The partitions this group's consumer holds, as a new JSON object {"topic": [partition, ...]}
 * (empty before the first assignment). Reported with heartbeats, so the producer can aim a
 * redelivery at this instance. Any thread. */
json_t *consume_loop_assignment(struct consume_loop *loop);

#endif
