/*
 * agent_client.h - tells the producer service which consumers exist: registration at start,
 * heartbeats every interval, deregistration at shutdown (POST /api/agents/consumers/register,
 * /heartbeat, /deregister under ProducerService__BaseUrl).
 *
 * Its own thread and libcurl handle. Nothing here is fatal: the producer may be down or not
 * have these endpoints yet; failures are logged (once per change of state, then at debug) and
 * retried at the next interval. A heartbeat answered 404 means the producer forgot us (or never
 * registered us): we register again.
 */
#ifndef FERRY_AGENT_CLIENT_H
#define FERRY_AGENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "consumer/consume_loop.h"
#include "consumer/consumer_config.h"

struct agent_client_options {
	const char *producer_url;             /* ProducerService__BaseUrl (copied) */
	const char *api_key;                  /* ProducerService__ApiKey, or NULL (copied) */
	const char *service_id;               /* (copied) */
	const char *instance_id;              /* (copied) */
	const char *host;                     /* our advertised host (copied) */
	int port;                             /* our HTTP port */
	const char *version;                  /* ferry version (copied) */
	long interval_s;                      /* heartbeat period */
	const struct consumer_groups *groups; /* borrowed; must outlive the client */
	struct consume_loop *const *loops;    /* borrowed, one per group, for "healthy" */
};

struct consumer_config;

/* Fills *out with what comes from the settings (consumer_config.h), leaving instance_id, host,
 * port, version, groups and loops for the service to wire. Strings point into cfg, which must
 * outlive *out. Pure; any thread. */
void agent_client_options_from_config(const struct consumer_config *cfg,
                                      struct agent_client_options *out);

struct agent_client;

/* Returns a client (not yet running) or NULL when out of memory. */
struct agent_client *agent_client_new(const struct agent_client_options *opts);

/* Starts the thread (which registers at once). Returns 0 or -1 with errstr. */
int agent_client_start(struct agent_client *a, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Stops the thread (a registration or heartbeat in progress is aborted, within about a second,
 * not left to its 5 s timeout), then deregisters (one attempt, bounded by timeout_ms). Frees the
 * client. NULL is fine. */
void agent_client_stop_and_destroy(struct agent_client *a, long timeout_ms);

#endif
