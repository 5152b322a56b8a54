/*
 * inbox_cleanup.h - deletes the consumer's processed and failed rows once they are older than
 * FERRY_INBOX_RETENTION_HOURS, on a thread of its own with its own PGconn, in batches of a
 * thousand rows (each a short transaction), so processing never waits long behind it.
 *
 * Why a retention at all, and why a long one: the processed table is what makes a redelivery
 * harmless. A row may go only when no copy of its message can arrive any more; the producer
 * redelivers until the group acknowledges, so the default (14 days) is twice the producer's
 * message retention.
 */
#ifndef FERRY_INBOX_CLEANUP_H
#define FERRY_INBOX_CLEANUP_H

#include <stddef.h>
#include <stdint.h>

struct inbox_cleanup;

struct inbox_cleanup_options {
	const char *conninfo; /* copied */
	int64_t retention_s;
	long interval_ms;
	long first_delay_ms;
};

struct consumer_config;

/* Fills *out with what comes from the settings (consumer_config.h), leaving conninfo for the
 * service to wire. Strings point into cfg, which must outlive *out. Pure; any thread. */
void inbox_cleanup_options_from_config(const struct consumer_config *cfg,
                                       struct inbox_cleanup_options *out);

/* Creates and starts the thread. NULL with errstr. */
struct inbox_cleanup *inbox_cleanup_start(const struct inbox_cleanup_options *opts, char *errstr,
                                          size_t errstr_size);

/* Rows deleted so far. Any thread. */
uint64_t inbox_cleanup_deleted(struct inbox_cleanup *c);

/* Stops the thread (after the batch in progress) and frees. NULL is a no-op. */
void inbox_cleanup_stop(struct inbox_cleanup *c);

#endif
