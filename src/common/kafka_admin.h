/*
 * kafka_admin.h - the few Kafka administration calls ferry needs: create a topic with a given
 * partition count, and read a topic's partition count back.
 *
 * One struct kafka_admin wraps one librdkafka client handle (a producer that never produces:
 * librdkafka's Admin API runs on any client type). Every function may be called from any
 * thread, several at once: librdkafka handles are thread-safe, and each call waits for its own
 * answer on its own temporary queue, so concurrent calls never take each other's results.
 * Errors are librdkafka's text, verbatim.
 */
#ifndef FERRY_KAFKA_ADMIN_H
#define FERRY_KAFKA_ADMIN_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

struct kafka_admin;

/*
 * Creates the client from `conf` (build it with kafka_conf_build; bootstrap.servers must be
 * set). Takes ownership of conf in every case, also on failure: the caller must not touch it
 * afterwards (set its pointer to NULL). Connecting is lazy: a broker that is down makes the
 * calls below fail, not this one. Returns the handle (free with kafka_admin_destroy), or NULL
 * with errstr filled.
 */
struct kafka_admin *kafka_admin_new(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Closes the client and frees it. No call may be in progress. NULL is a no-op. */
void kafka_admin_destroy(struct kafka_admin *admin);

/* kafka_admin_create_topic's return when Kafka did not answer within the timeout. */
#define KAFKA_ADMIN_TIMED_OUT (-2)

/*
 * Creates topic `name` with `partitions` partitions and the broker's default replication
 * factor, returning within timeout_ms (the request and the broker's creation of the topic both
 * get a little less, so that their own timeout is what is normally reported).
 * Returns 0 when created, 1 when a topic of that name already existed (whatever its partition
 * count: ask kafka_admin_topic_partitions), KAFKA_ADMIN_TIMED_OUT when no answer came in time
 * (errstr e.g. "Local: Timed out"; the request may still reach the controller later and create
 * the topic), or -1 with librdkafka's or the broker's error text in errstr. Any thread.
 */
int kafka_admin_create_topic(struct kafka_admin *admin, const char *name, int partitions,
                             int timeout_ms, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * The number of partitions of topic `name` according to the cluster's metadata, waiting up to
 * timeout_ms for it. Returns the count (>= 1), or -1 with errstr: the topic does not exist
 * ("Broker: Unknown topic or partition"), or the metadata request failed. Never creates the
 * topic, whatever the broker's auto.create.topics.enable says. Any thread.
 */
int kafka_admin_topic_partitions(struct kafka_admin *admin, const char *name, int timeout_ms,
                                 char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
