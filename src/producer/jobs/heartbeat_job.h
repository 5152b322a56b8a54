/*
 * heartbeat_job.h - the producer instance announcing itself (the seed's ProducerServiceAgent and
 * AgentHeartbeatJob): one thread that registers the instance in ferry.producer_service_agent
 * when it starts, beats every heartbeat interval, and marks it STOPPED on a graceful shutdown.
 *
 * Each beat measures what an operator asks first about an instance and writes it as a
 * ferry.service_health_check row (agent_kind 'producer') in the same statement as the beat:
 *   {"database": {"ok", "latencyMs"}, "kafka": {"ok", "brokers", "error"?} (asked through the
 *    relay's producer handle; {"checked": false} when this instance runs no relay),
 *    "relay": {"enabled", "running", "published", "deliveryErrors", "lastError"?},
 *    "outbox": {"pending", "oldestPendingAgeSeconds"}}
 * and the row's `healthy` is database ok and (no relay, or Kafka answered).
 *
 * Liveness is what the beat itself proves: a process that is stopped (SIGSTOP), hung or killed
 * stops beating and readers see it turn unhealthy after 3 intervals and inactive after 6
 * (agent_store.h). When the database is unreachable no beat can be written; the thread logs,
 * reconnects and beats as soon as it can, so an instance comes back by itself.
 *
 * Beats are at a fixed rate (each deadline is the previous one plus the interval, on the
 * monotonic clock), so the probes' own duration does not stretch the interval; a thread that was
 * stopped for several intervals beats once when it resumes, not once per missed interval.
 *
 * The thread owns one PGconn of its own (never the pool's: a slow probe must not hold a request
 * connection). heartbeat_job_new/start/stop/destroy are called from one thread (main).
 */
#ifndef FERRY_HEARTBEAT_JOB_H
#define FERRY_HEARTBEAT_JOB_H

#include <stdbool.h>
#include <stddef.h>

#include "producer/relay/relay.h"

struct heartbeat_job;

struct heartbeat_job_options {
	const char *conninfo;     /* libpq conninfo (copied) */
	const char *service_id;   /* SERVICE_ID (copied) */
	const char *instance_id;  /* (copied) */
	const char *host;         /* bind address; "", 0.0.0.0 or :: registers the host name */
	int port;                 /* the HTTP server's actual port */
	const char *version;      /* ferry's version (copied) */
	int heartbeat_interval_s; /* 1..3600 */
	struct relay *relay;      /* borrowed, NULL when the relay is disabled; must outlive the
	                           * job (destroy the job first) */
};

struct producer_config;

/* Fills *out with what comes from the settings (producer_config.h), leaving conninfo, instance_id,
 * host, port, version and relay for the service to wire. Strings point into cfg, which must outlive
 * *out. Pure; any thread. */
void heartbeat_job_options_from_config(const struct producer_config *cfg,
                                       struct heartbeat_job_options *out);

/* Creates the job (no I/O yet). Returns NULL with errstr when out of memory. */
struct heartbeat_job *heartbeat_job_new(const struct heartbeat_job_options *opts, char *errstr,
                                        size_t errstr_size);

/* Starts the thread, which registers at once and then beats. Returns 0, or -1 with errstr. */
int heartbeat_job_start(struct heartbeat_job *agent, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Stops beating, joins the thread, and deregisters (status STOPPED): one attempt, logged when it
 * fails (the row then goes unhealthy, then inactive, like a crash). Idempotent; a no-op when the
 * thread was never started.
 */
void heartbeat_job_stop(struct heartbeat_job *agent);

/* Stops (as heartbeat_job_stop) and frees. NULL is a no-op. */
void heartbeat_job_destroy(struct heartbeat_job *agent);

#endif
