/*
 * producer_service.h - the producer service as one struct: every module it runs, built in the
 * order of start-up and stopped in reverse.
 *
 * Start-up (producer_service_start, in this order): settings -> logger -> listen address and
 * instance id -> signals blocked -> Kafka settings checked -> admin client -> PostgreSQL
 * reachable -> migrations -> metrics and connection pool -> relay -> batcher -> periodic jobs
 * (retry, cleanup) -> API keys -> HTTP server ("listening on" logged) -> agent (registers and
 * beats) -> registered topics ensured on Kafka.
 *
 * Shutdown (producer_service_stop), in reverse: deregister the agent, stop accepting requests,
 * let the batcher commit what it holds (answering those requests), stop the HTTP server, wait
 * for a periodic job in progress, then let the relay flush and mark what is in flight
 * (FERRY_SHUTDOWN_TIMEOUT_MS, and never past FERRY_SHUTDOWN_DEADLINE_MS), then free. A
 * watchdog (shutdown_guard.h) ends the process at the deadline should a stage hang anyway.
 *
 * Threads: all of these on the main thread.
 */
#ifndef FERRY_PRODUCER_SERVICE_H
#define FERRY_PRODUCER_SERVICE_H

#include <stdbool.h>
#include <stdio.h>

#include "common/http_server.h"
#include "common/kafka_admin.h"
#include "common/pg.h"
#include "common/service_auth.h"
#include "common/service_boot.h"
#include "producer/api/api_agents.h"
#include "producer/api/api_limits.h"
#include "producer/api/api_messages.h"
#include "producer/api/api_redrive.h"
#include "producer/api/api_topics.h"
#include "producer/relay/batcher.h"
#include "producer/jobs/cleanup_job.h"
#include "producer/jobs/heartbeat_job.h"
#include "producer/producer_config.h"
#include "producer/api/api_metrics.h"
#include "producer/producer_metrics.h"
#include "producer/relay/relay.h"
#include "producer/jobs/retry_job.h"
#include "producer/jobs/scheduler.h"

struct producer_service {
	struct producer_config cfg;             /* the settings (bound to boot.table) */
	struct service_boot boot;               /* command line, conninfo, instance, signals */
	struct producer_metrics metrics;        /* the /metrics registry */
	struct kafka_admin *admin;              /* topic creation, with or without a relay */
	struct pg_pool *pool;                   /* the request threads' connections */
	struct relay *relay;                    /* NULL when FERRY_RELAY_ENABLED=false */
	struct batcher *batcher;                /* group commit of useBatching sends */
	struct scheduler *scheduler;            /* the periodic jobs' one thread */
	struct retry_job *retry_job;            /* NULL when FERRY_RETRY_ENABLED=false */
	int retry_job_index;                    /* its index in the scheduler, -1 = none */
	struct cleanup_job *cleanup_job;        /* NULL when FERRY_CLEANUP_ENABLED=false */
	struct api_context api;                 /* messages, acknowledgments, health */
	struct api_topics_context topics_api;   /* the topic registry */
	struct api_agents_context agents_api;   /* agents */
	struct api_redrive_context redrive_api; /* failed messages, redrive */
	struct api_metrics_context metrics_api; /* /metrics */
	struct auth_table *auth;                /* API keys; NULL when FERRY_AUTH=off */
	struct http_server *http;               /* the REST API */
	struct heartbeat_job *heartbeat;        /* this instance's registration and beats */
	bool started;                           /* producer_service_start succeeded */
};

/*
 * Clears *svc and parses the command line. Returns -1 when the service should start, or the
 * exit code to return at once (0 after --help, --version or --config-table; 2 after an unknown
 * argument, with one line on stderr). `usage` prints the --help text.
 */
int producer_service_parse_args(struct producer_service *svc, int argc, char **argv,
                                void (*usage)(FILE *out)) __attribute__((warn_unused_result));

/*
 * Starts everything, in the order above. Returns 0 once "listening on" is logged and the agent
 * beats, or -1 after one line on stderr (a bad setting, PostgreSQL not reachable within
 * FERRY_DB_STARTUP_WAIT_S, a failed migration, a port in use, ...). Either way call
 * producer_service_stop next.
 */
int producer_service_start(struct producer_service *svc) __attribute__((warn_unused_result));

/*
 * Stops what was started, in reverse, and frees it all: after a successful start the graceful
 * way (and within the deadline when service_boot_wait_signal has started the guard), after a
 * failed one just freeing. Returns the exit code: 0 after a clean stop ("stopped cleanly"
 * logged), 1 when the start had failed.
 */
int producer_service_stop(struct producer_service *svc);

#endif
