/*
 * agent_store.h - every query on ferry.consumer_service_agent, ferry.producer_service_agent and
 * ferry.service_health_check (sql/producer/003_agents.sql, 007_producer_agents.sql): the consumer
 * agents registered with the producer, and the producer instances themselves.
 *
 * Reads and writes return the REST API's JSON, built in SQL so the column list lives here once:
 *   agent = {id, kind: "consumer", serviceId, instanceId, consumerGroup, topics: [..], host, port,
 *            version, startedAt, registeredAt, lastHeartbeatAt, status ("ACTIVE" | "STOPPED"),
 *            health}
 *   producer agent = {id, kind: "producer", serviceId, instanceId, host, port, version,
 *            relayEnabled, heartbeatIntervalSeconds, startedAt, registeredAt, lastHeartbeatAt,
 *            status, health, lastHealthCheck: {checkedAt, healthy, details} | null}
 * Producer and consumer agents share one id space (007_producer_agents.sql), so an id names one
 * agent of either kind.
 * health is derived when the row is read, from the age of last_heartbeat_at against the
 * heartbeat interval: for consumers the one the caller passes (FERRY_AGENT_HEARTBEAT_INTERVAL_S of
 * the producer answering), for producers the one each instance registered with:
 *   "stopped"    status STOPPED (whatever the age)
 *   "healthy"    last heartbeat at most 3 intervals ago
 *   "unhealthy"  at most 6 intervals ago
 *   "inactive"   longer ago
 *
 * Heartbeats and deregistrations address one (service, instance) and either one consumer group
 * or, with a NULL group, every group that instance registered.
 *
 * Every function takes a PGconn the caller owns and uses from one thread at a time, runs one
 * statement (its own transaction: a failure leaves nothing behind and no transaction open),
 * and returns an enum agent_store_status. JSON results are new references the caller owns.
 * heartbeat_interval_s is 1..3600.
 */
#ifndef FERRY_AGENT_STORE_H
#define FERRY_AGENT_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "producer/api/agent_request.h"

enum agent_store_status {
	AGENT_STORE_ERROR = -1,    /* the database failed (HTTP 503); errstr set */
	AGENT_STORE_NOT_FOUND = 0, /* no such agent (HTTP 404) */
	AGENT_STORE_OK = 1,        /* done; *out set */
	AGENT_STORE_CREATED = 2,   /* done, and the agent is new (HTTP 201); *out set */
};

/*
 * Registers a consumer agent, or refreshes the registration of the same (service, instance,
 * group): topics, host, port and version are replaced (an absent version becomes NULL), status
 * becomes ACTIVE, started_at and last_heartbeat_at now(); the id and registered_at are kept.
 * Returns CREATED or OK (a refresh) with *out the agent, or ERROR.
 */
int agent_store_register_consumer(PGconn *conn, const struct agent_registration *reg,
                                  int heartbeat_interval_s, json_t **out, char *errstr,
                                  size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Records a heartbeat: sets last_heartbeat_at = now() (and assigned_partitions to
 * hb->partitions when reported) on the ACTIVE agents it addresses and,
 * when there was at least one, inserts one ferry.service_health_check row (agent_kind
 * 'consumer', healthy and details as sent). Returns OK with *out a JSON array of the agents it
 * refreshed (by id), NOT_FOUND when there was none (never registered, or deregistered: either
 * way the consumer should register again) and then writes nothing, or ERROR.
 */
int agent_store_heartbeat(PGconn *conn, const struct agent_heartbeat *hb, int heartbeat_interval_s,
                          json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Sets status STOPPED on the agents it addresses (idempotent: stopped ones stay as they are).
 * Returns OK with *out a JSON array of those agents as they now are (by id), NOT_FOUND when
 * none was ever registered, or ERROR.
 */
int agent_store_deregister(PGconn *conn, const struct agent_deregistration *dereg,
                           int heartbeat_interval_s, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Every consumer agent, by id. Returns OK with *out a JSON array, or ERROR. */
int agent_store_list_consumers(PGconn *conn, int heartbeat_interval_s, json_t **out, char *errstr,
                               size_t errstr_size) __attribute__((warn_unused_result));

/* The consumer agent with this id. Returns OK with *out, NOT_FOUND, or ERROR. */
int agent_store_get_consumer(PGconn *conn, int64_t id, int heartbeat_interval_s, json_t **out,
                             char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* A producer instance, as it registers and beats (src/producer/jobs/heartbeat_job.c). */
struct agent_producer_registration {
	const char *service_id;   /* SERVICE_ID */
	const char *instance_id;  /* INSTANCE_ID or <hostname>-<port> */
	const char *host;         /* where its HTTP server can be reached */
	int port;                 /* its HTTP port */
	const char *version;      /* ferry's version; NULL = not reported */
	bool relay_enabled;       /* FERRY_RELAY_ENABLED */
	int heartbeat_interval_s; /* 1..3600; its health is judged by it */
};

/*
 * Registers a producer instance, or refreshes the registration of the same (service, instance):
 * every field is replaced, status becomes ACTIVE, started_at and last_heartbeat_at now(); the id
 * and registered_at are kept. Returns CREATED or OK (a refresh) with *id, or ERROR.
 */
int agent_store_register_producer(PGconn *conn, const struct agent_producer_registration *reg,
                                  int64_t *id, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Records a producer's heartbeat: last_heartbeat_at = now() and status ACTIVE (a row missing
 * because someone deleted it is registered again from `reg`, so a beat always leaves the
 * instance visible), plus one ferry.service_health_check row (agent_kind 'producer', `healthy`,
 * `details_json`: a JSON object's text). Returns OK with *id, or ERROR (nothing written).
 */
int agent_store_producer_heartbeat(PGconn *conn, const struct agent_producer_registration *reg,
                                   bool healthy, const char *details_json, int64_t *id,
                                   char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Sets status STOPPED on the producer instance (idempotent). Returns OK, NOT_FOUND when it never
 * registered, or ERROR. */
int agent_store_deregister_producer(PGconn *conn, const char *service_id, const char *instance_id,
                                    char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Every producer agent, by id. Returns OK with *out a JSON array, or ERROR. */
int agent_store_list_producers(PGconn *conn, json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* The producer agent with this id. Returns OK with *out, NOT_FOUND, or ERROR. */
int agent_store_get_producer(PGconn *conn, int64_t id, json_t **out, char *errstr,
                             size_t errstr_size) __attribute__((warn_unused_result));

/* The agent of either kind with this id (consumer health judged by heartbeat_interval_s).
 * Returns OK with *out, NOT_FOUND, or ERROR. */
int agent_store_get_any(PGconn *conn, int64_t id, int heartbeat_interval_s, json_t **out,
                        char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
