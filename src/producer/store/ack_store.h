/*
 * ack_store.h - per-group delivery tracking: every query on ferry.message_delivery and
 * ferry.consumer_acknowledgment (sql/producer/002_registry.sql). The relay creates the
 * delivery rows (message_store_mark); this file records acknowledgments and answers the
 * per-group questions of the read endpoints.
 *
 * Every function takes a PGconn the caller owns, used from one thread at a time, and returns
 * 0 (or a count) on success, -1 with one line in errstr on a database error.
 */
#ifndef FERRY_ACK_STORE_H
#define FERRY_ACK_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct delivery_ack {
	int64_t message_id;
	const char *consumer_group; /* group name */
	bool success;
	const char *error_message;        /* NULL = none */
	const char *consumer_service_id;  /* NULL = unknown */
	const char *consumer_instance_id; /* NULL = unknown */
};

enum delivery_ack_result {
	DELIVERY_ACK_RECORDED,        /* the group's state changed */
	DELIVERY_ACK_DUPLICATE,       /* already acknowledged: nothing changed */
	DELIVERY_ACK_UNKNOWN_MESSAGE, /* no such message */
	DELIVERY_ACK_NOT_FOR_GROUP,   /* the message was never for that group */
};

struct delivery_ack_outcome {
	enum delivery_ack_result result;
	char group_status[16]; /* the group's status afterwards ("" when not applicable) */
	char topic[256];       /* the message's topic ("" when unknown) */
	double since_sent_s;   /* seconds since the group was last sent it (0 when the relay had
	                        * not recorded the send yet), -1 for an unknown message */
};

/*
 * Records n acknowledgments in one round trip and one transaction (ferry.acknowledge), writing
 * n outcomes in input order. Idempotent: a repeated success changes nothing. Returns 0, or -1
 * with errstr (then nothing was recorded).
 */
int ack_store_acknowledge(PGconn *conn, const struct delivery_ack *acks, size_t n,
                          struct delivery_ack_outcome *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * One page of the messages for consumer group `group` (by name, across topics), id > after_id,
 * at most limit, optionally only those whose status for that group is `status` (NULL = any).
 * *out = {"consumerGroup", "items": [message + "groupStatus", ...], "nextAfterId"}.
 */
int ack_store_list_group(PGconn *conn, const char *group, const char *status, int64_t after_id,
                         int limit, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Counts for GET /api/messages/stats: {"outbox": {STATUS: n, ...}, "groups": [{consumerGroup,
 * topic, PENDING, SENT, ACKNOWLEDGED, FAILED, EXPIRED, oldestUnacknowledgedAgeSeconds}]}.
 */
int ack_store_stats(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
