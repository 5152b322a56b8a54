/*
 * ferry/processor.h - the contract between ferry-consumer and the code that handles messages.
 *
 * ferry-consumer reads a record from Kafka, opens a PostgreSQL transaction, records the message
 * in its inbox (ferry_consumer.processed_message) and then calls the processor with that open
 * transaction. Whatever the processor writes through `txn` commits or rolls back together with
 * the inbox row and the acknowledgment: a message is processed exactly once per consumer group
 * (as far as the database is concerned), even across crashes and redeliveries.
 *
 * A plugin is a shared library (FERRY_PROCESSOR=plugin, FERRY_PROCESSOR_PLUGIN=/path/lib.so)
 * exporting the three functions declared below with C linkage. See
 * examples/processor_plugin/example_processor.c.
 *
 * Threads: ferry-consumer runs one consume thread per consumer group, and one state per group
 * (init is called once for each). For one state:
 *   - ferry_processor_init runs at start-up on ferry-consumer's main thread;
 *   - ferry_processor_process runs only on that group's consume thread, one call at a time;
 *   - ferry_processor_destroy runs once, on the main thread again (the thread that called init),
 *     after the group's consume thread has ended: no process() call is running or will follow.
 *     It also runs there when start-up fails after init, before any process() call. It does
 *     not run when the process dies (kill -9, or the shutdown watchdog past its deadline).
 * The states of different groups are used concurrently, on their own threads: a plugin's
 * globals shared between states need their own locking.
 */
#ifndef FERRY_PROCESSOR_H
#define FERRY_PROCESSOR_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_PROCESSOR_API_VERSION 1

/* One Kafka record header. */
struct ferry_header {
	const char *name;  /* NUL-terminated */
	const void *value; /* NULL for a null header value; not NUL-terminated */
	size_t value_len;
};

/* The message handed to a processor. Every pointer is borrowed: valid only during the call. */
struct ferry_consumed_message {
	int64_t message_id;                 /* the producer's id (header ferry-message-id) */
	const char *topic;                  /* Kafka topic */
	const char *consumer_group;         /* the group this consume thread serves */
	int32_t partition;                  /* Kafka partition */
	int64_t offset;                     /* Kafka offset */
	const void *key;                    /* record key, NULL when the record has none */
	size_t key_len;                     /* bytes of key */
	const void *payload;                /* record value, NULL when null */
	size_t payload_len;                 /* bytes of payload */
	const char *idempotency_key;        /* header ferry-idempotency-key (whole), or NULL */
	const struct ferry_header *headers; /* every header of the record, in record order */
	size_t header_count;                /* entries of headers */
};

/* What ferry_processor_process returns for a failure that is not the message's fault and
 * should pass by itself: a serialization failure or deadlock (SQLSTATE class 40) from its own
 * SQL, a lock timeout, a dependency briefly away. */
#define FERRY_PROCESSOR_RETRY (-2)

/*
 * Handles one message inside the open transaction `txn` (do not COMMIT or ROLLBACK it; do not
 * keep it after returning). Returns 0 on success. On failure returns -1 and writes one line
 * into errstr (errstr_size bytes): the transaction is rolled back, the failure recorded in
 * ferry_consumer.failed_message, and a negative acknowledgment with that text is sent to the
 * producer (which may redeliver the message later). Returns FERRY_PROCESSOR_RETRY (with a line
 * in errstr) when the failure is transient: the transaction is rolled back, nothing is recorded
 * or acknowledged, and the same message is processed again after a backoff, before any later
 * record of its partition (so a message that always asks for a retry holds its partition: use
 * -1 for what will not pass by itself). A lost connection is retried the same way whatever is
 * returned.
 */
typedef int (*ferry_processor_process_fn)(void *state, const struct ferry_consumed_message *msg,
                                          PGconn *txn, char *errstr, size_t errstr_size);

/*
 * Plugin entry points. init receives FERRY_PROCESSOR_CONFIG (NULL when unset) and stores its
 * state in *state (may be NULL); returns 0, or -1 with errstr, which stops ferry-consumer at
 * start-up (destroy is not called then). destroy frees the state: once per successful init, at
 * shutdown, on the thread that called init (see "Threads" above).
 */
int ferry_processor_init(const char *config, void **state, char *errstr, size_t errstr_size);
int ferry_processor_process(void *state, const struct ferry_consumed_message *msg, PGconn *txn,
                            char *errstr, size_t errstr_size);
void ferry_processor_destroy(void *state);

#ifdef __cplusplus
}
#endif

#endif
