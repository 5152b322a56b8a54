/*
 * topic_store.h - every query on ferry.topic_registration and ferry.consumer_group_registration
 * (the tables of sql/producer/002_registry.sql): the topic and consumer-group registry.
 *
 * Reads and writes return the REST API's JSON, built in SQL so the column list lives here once:
 *   topic = {id, topicName, description, partitions, isActive, createdAt, updatedAt,
 *            consumerGroups: [group, ...] (by id)}
 *   group = {id, topicRegistrationId, topicName, consumerGroupName, requiresAcknowledgment,
 *            acknowledgmentTimeoutMinutes (seconds / 60, a number), acknowledgmentTimeoutSeconds,
 *            maxRetries, isActive, activeSince, deactivatedAt, createdAt, updatedAt}
 *
 * A group receives the messages of its topic enqueued from active_since until deactivated_at
 * (ferry.message_groups). Deactivating sets is_active = false and deactivated_at = now();
 * activating sets is_active = true, active_since = now() and deactivated_at = NULL. Both are
 * idempotent: asking for the state a row is already in changes nothing (not even updated_at).
 * Every other write sets updated_at = now().
 *
 * Every function takes a PGconn the caller owns and uses from one thread at a time, runs one
 * statement (its own transaction: a failure leaves nothing behind and no transaction open),
 * and returns an enum topic_store_status. JSON results are new references the caller owns.
 */
#ifndef FERRY_TOPIC_STORE_H
#define FERRY_TOPIC_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/api/topic_request.h"

enum topic_store_status {
	TOPIC_STORE_CONFLICT = -2, /* a name is already taken (HTTP 409); errstr set */
	TOPIC_STORE_ERROR = -1,    /* the database failed (HTTP 503); errstr set */
	TOPIC_STORE_NOT_FOUND = 0, /* no such topic or group (HTTP 404) */
	TOPIC_STORE_OK = 1,        /* done; *out set where the function has one */
};

/*
 * Registers a topic and its groups in one statement: all of it, or nothing. The groups count
 * from now (active_since = now()). Returns OK with *out the new topic, CONFLICT when a topic of
 * that name is registered already, or ERROR.
 */
int topic_store_register_topic(PGconn *conn, const struct topic_request *req, json_t **out,
                               char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Every topic, with its groups, by id. Returns OK with *out a JSON array, or ERROR. */
int topic_store_list_topics(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The topic called `name`. Returns OK with *out, NOT_FOUND, or ERROR. */
int topic_store_get_topic(PGconn *conn, const char *name, json_t **out, char *errstr,
                          size_t errstr_size) __attribute__((warn_unused_result));

/* Every group of every topic, by topic id then group id. Returns OK with *out a JSON array, or
 * ERROR. */
int topic_store_list_groups(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The group with this id. Returns OK with *out, NOT_FOUND, or ERROR. */
int topic_store_get_group(PGconn *conn, int64_t id, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Changes the fields `upd` carries (a has_is_active change activates or deactivates as
 * described above) and sets updated_at, and updated_by to `actor` (the audit trail: api_actor.h).
 * Returns OK with *out the group as it now is, NOT_FOUND for an unknown id, CONFLICT when the
 * new name is taken by another group of the same topic, or ERROR.
 */
int topic_store_update_group(PGconn *conn, int64_t id, const struct topic_group_update *upd,
                             const char *actor, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Adds a group to the topic called `topic` (active from now, whether or not the topic is
 * active), updated_by `actor`. Returns OK with *out the new group, NOT_FOUND for an unknown
 * topic, CONFLICT when the topic already has a group of that name, or ERROR.
 */
int topic_store_add_group(PGconn *conn, const char *topic, const struct topic_group_request *group,
                          const char *actor, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Activates (active = true) or deactivates the topic called `name`; its groups keep their own
 * state. Returns OK with *out the topic as it now is, NOT_FOUND, or ERROR. */
int topic_store_set_topic_active(PGconn *conn, const char *name, bool active, json_t **out,
                                 char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Activates or deactivates the group with this id (see above), updated_by `actor` when its
 * state changes. Returns OK with *out the group as it now is, NOT_FOUND, or ERROR. */
int topic_store_set_group_active(PGconn *conn, int64_t id, bool active, const char *actor,
                                 json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

struct topic_store_active {
	char name[250]; /* a valid Kafka topic name (at most 249 bytes) */
	int partitions; /* as registered */
};

/*
 * The active topics, by id, with their registered partition counts (to make sure their Kafka
 * topics exist at start-up). Returns OK with *topics (caller frees with free(); NULL when *n
 * is 0) and *n set, or ERROR.
 */
int topic_store_active_topics(PGconn *conn, struct topic_store_active **topics, size_t *n,
                              char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
