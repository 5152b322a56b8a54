/*
 * ack_sender.h - delivers the acknowledgments of ferry_consumer.pending_ack to the producer.
 *
 * Its own thread, PGconn and libcurl handle. Every flush_ms (or at once when woken after a
 * commit) it reads up to batch_size rows oldest first (not the refused ones), POSTs them as JSON
 * arrays to <producer_url>/api/messages/acknowledge, each body at most max_body_bytes (an
 * errorMessage is cut to the producer's FERRY_ACK_MAX_STRING_BYTES, 1,024; the whole text stays
 * in failed_message; field names and limits from ferry/wire.h), and
 * on HTTP 200 deletes exactly those rows (items the producer answered with an error such as
 * unknown_message are logged and deleted too: sending them again would never succeed).
 * On HTTP 400 or 413 the producer refuses the body for good: the batch is split in halves and
 * each sent again, down to single acknowledgments; one refused alone is set aside (refused_at,
 * logged, counted by ferry_consumer_acks_refused), never retried in front of later ones, and
 * never deleted. On anything else (connection refused, timeout, 5xx) the rows stay, their
 * attempts and last_error are updated, and the sender backs off exponentially (cap 5 s).
 * A crash or a producer outage therefore delays acknowledgments but loses none; a row deleted
 * just before a crash is never sent twice, one not yet deleted may be (the producer answers
 * "duplicate", which is harmless).
 *
 * Several consumer processes on one database each send the whole table, so an ack may be sent
 * by two of them at once: duplicates again, harmless. (Rows are not locked during the POST so
 * that a slow producer never holds a transaction open.)
 */
#ifndef FERRY_ACK_SENDER_H
#define FERRY_ACK_SENDER_H

#include <jansson.h>
#include <stddef.h>

#include "consumer/inbox_store.h"

struct ack_sender_options {
	const char *conninfo;     /* libpq conninfo (copied) */
	const char *producer_url; /* ProducerService__BaseUrl, no trailing path (copied) */
	const char *api_key;      /* ProducerService__ApiKey sent as Bearer, or NULL (copied) */
	const char *service_id;   /* consumerServiceId (copied) */
	const char *instance_id;  /* consumerInstanceId (copied) */
	size_t batch_size;        /* acks read per round (one or more POSTs) */
	size_t max_body_bytes;    /* largest body of one POST; 0 = 256 KiB */
	long flush_ms;            /* period between looks at the table */
	long http_timeout_ms;     /* per POST (cut to what is left of the drain when stopping) */
};

struct consumer_config;

/* Fills *out with what comes from the settings (consumer_config.h), leaving conninfo and
 * instance_id for the service to wire. Strings point into cfg, which must outlive *out. Pure; any
 * thread. */
void ack_sender_options_from_config(const struct consumer_config *cfg,
                                    struct ack_sender_options *out);

struct ack_sender;

/* Returns a sender (not yet running), or NULL when out of memory. */
struct ack_sender *ack_sender_new(const struct ack_sender_options *opts);

/* Starts the thread. Returns 0, or -1 with errstr. */
int ack_sender_start(struct ack_sender *s, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Asks for a flush now (after a commit that queued an ack). Any thread; cheap. */
void ack_sender_wake(struct ack_sender *s);

/*
 * Stops the thread after sending what is pending, waiting at most timeout_ms for the backlog to
 * drain (what is left stays in the table for the next start). The drain's deadline bounds the
 * POSTs too: one begun after the stop gets at most the time left as its timeout, and one begun
 * before it (with the full http_timeout_ms) is aborted once the deadline passes (libcurl asks
 * about once a second while the producer is silent), so a producer that does not answer delays
 * the stop by timeout_ms and about a second, not by http_timeout_ms. Returns the number of rows
 * known to be left (0 when drained; -1 when unknown). Call once, from the thread that started it.
 */
long ack_sender_stop(struct ack_sender *s, long timeout_ms);

/* Frees the sender (stopping it first if needed, without waiting for a drain). NULL is fine. */
void ack_sender_destroy(struct ack_sender *s);

/*
 * The request body for `acks` (n entries): a JSON array of {messageId, consumerGroup, success,
 * consumerServiceId, consumerInstanceId, errorMessage (only when set)}. New reference, NULL when
 * out of memory. Pure; any thread.
 */
json_t *ack_sender_body(const struct inbox_ack *acks, size_t n, const char *service_id,
                        const char *instance_id);

/*
 * Reads the producer's 200 reply {"results":[{"result":...}, ...]} and returns how many items
 * were rejected for good (unknown_message, not_for_group, or any result other than recorded /
 * duplicate), logging each once. Pure apart from logging.
 */
size_t ack_sender_count_rejected(const json_t *reply);

#endif
