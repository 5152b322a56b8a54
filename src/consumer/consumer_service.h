/*
 * consumer_service.h - the consumer service as one struct: every module it runs, built in the
 * order of start-up and stopped in reverse.
 *
 * Start-up (consumer_service_start, in this order): settings -> logger -> consumer groups ->
 * database connection string and listen address -> Kafka settings checked -> signals blocked
 * -> libcurl -> PostgreSQL reachable -> migrations -> connection pool and metrics -> API keys ->
 * HTTP server (first, so that the instance id can name the bound port) -> instance id -> ack sender
 * -> inbox cleanup -> one consume loop per group -> registration/heartbeats ("listening on"
 * logged).
 *
 * Shutdown (consumer_service_stop), in reverse: stop polling (each loop finishes and commits
 * its record, then closes its Kafka consumer, leaving the group and committing offsets, within
 * 2/5 of FERRY_SHUTDOWN_DEADLINE_MS), send the pending acknowledgments (bounded by
 * FERRY_SHUTDOWN_TIMEOUT_MS and by what is left of the deadline), deregister, stop the HTTP
 * server, free. A watchdog (shutdown_guard.h) ends the process at the deadline should a stage
 * hang anyway.
 *
 * Threads: all of these on the main thread.
 */
#ifndef FERRY_CONSUMER_SERVICE_H
#define FERRY_CONSUMER_SERVICE_H

#include <stdbool.h>
#include <stdio.h>

#include "common/service_auth.h"
#include "common/http_server.h"
#include "common/pg.h"
#include "common/service_boot.h"
#include "consumer/ack_sender.h"
#include "consumer/agent_client.h"
#include "consumer/api_consumer.h"
#include "consumer/consume_loop.h"
#include "consumer/consumer_config.h"
#include "consumer/consumer_metrics.h"
#include "consumer/inbox_cleanup.h"

struct consumer_service {
	struct consumer_config cfg;                      /* settings (bound to boot.table) */
	struct service_boot boot;                        /* command line, conninfo, signals */
	struct consumer_groups groups;                   /* the groups served and their topics */
	bool curl_ready;                                 /* curl_global_init succeeded */
	struct pg_pool *pool;                            /* the request threads' connections */
	struct consumer_metrics metrics;                 /* the /metrics registry */
	struct api_consumer_context api;                 /* status, inbox, failed messages */
	struct api_consumer_metrics_context metrics_api; /* /metrics */
	struct auth_table *auth;                         /* API keys; NULL when FERRY_AUTH=off */
	struct http_server *http;                        /* the REST API */
	struct ack_sender *acks;                         /* acknowledgments to the producer */
	struct inbox_cleanup *cleanup;                   /* deletes old inbox rows */
	struct consume_loop *loops[CONSUMER_MAX_GROUPS]; /* one per group */
	size_t nloops;                                   /* loops built */
	struct agent_client *agent;                      /* registration and heartbeats */
	bool started;                                    /* consumer_service_start succeeded */
};

/*
 * Clears *svc and parses the command line. Returns -1 when the service should start, or the
 * exit code to return at once (0 after --help, --version or --config-table; 2 after an unknown
 * argument, with one line on stderr). `usage` prints the --help text.
 */
int consumer_service_parse_args(struct consumer_service *svc, int argc, char **argv,
                                void (*usage)(FILE *out)) __attribute__((warn_unused_result));

/*
 * Starts everything, in the order above. Returns 0 once "listening on" is logged, or -1 after
 * one line on stderr (a bad setting or group file, PostgreSQL not reachable within
 * FERRY_DB_STARTUP_WAIT_S, a failed migration, a processor that cannot be built, ...). Either
 * way call consumer_service_stop next.
 */
int consumer_service_start(struct consumer_service *svc) __attribute__((warn_unused_result));

/*
 * Stops what was started, in reverse, and frees it all: after a successful start the graceful
 * way (within the deadline when service_boot_wait_signal has started the guard), after a
 * failed one without waiting for the producer. Returns the exit code: 0 after a clean stop
 * ("stopped cleanly" logged), 1 when the start had failed.
 */
int consumer_service_stop(struct consumer_service *svc);

#endif
