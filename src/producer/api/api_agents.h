/*
 * api_agents.h - the REST endpoints through which consumer services announce themselves to the
 * producer (/api/agents/consumers/...): register when they start, heartbeat while they run,
 * deregister when they stop; and the lists of consumer and producer agents operators read.
 *
 * Request bodies are validated by agent_request.c and SQL lives in agent_store.c; this file
 * maps between HTTP and those two. Errors are {"error": "..."} with 400 (invalid body or id),
 * 404 (unknown agent) or 503 (database unavailable). An agent is the JSON of agent_store.h,
 * with the derived "health" ("healthy", "unhealthy", "inactive", "stopped").
 *
 *   POST /api/agents/consumers/register    register or refresh one (service, instance, group):
 *                                          201 with the agent when new, 200 when refreshed
 *   POST /api/agents/consumers/heartbeat   200 {"agents": [agent, ...]} (those refreshed);
 *                                          404 when the instance (or the one group it names)
 *                                          has no ACTIVE registration: register again
 *   POST /api/agents/consumers/deregister  200 {"agents": [...]} now STOPPED; 404 when none
 *   GET  /api/agents/consumers             every agent, by id
 *   GET  /api/agents/consumers/{id}        one agent
 *   GET  /api/agents/producers             every producer instance (heartbeat_job.h writes
 *                                          them), with health and its latest health check
 *   GET  /api/agents/producers/{id}        one producer agent
 *   GET  /api/agents/{id}                  the agent of either kind with that id ("kind" says
 *                                          which): the two kinds share one id space, so an id
 *                                          is never ambiguous
 *
 * A heartbeat after a deregistration is a 404 too, not a revival: a late heartbeat of a stopping
 * consumer must not make it look alive, and a consumer that runs again registers again.
 */
#ifndef FERRY_API_AGENTS_H
#define FERRY_API_AGENTS_H

#include <stddef.h>

#include "common/http_server.h"
#include "common/pg.h"

struct api_agents_context {
	struct pg_pool *pool;     /* request threads borrow connections from it */
	int pool_timeout_ms;      /* how long a request waits for a pooled connection */
	int heartbeat_interval_s; /* expected of consumers (1..3600); health is judged by it */
};

/*
 * The routes, each with `ctx` as its opaque. Returns a static table of *n entries: one context
 * per process; ctx must outlive the HTTP server. Call before http_server_start, from one thread.
 * The fixed paths come before the {id} ones (whose {id} must be a positive integer: anything
 * else is a 400), and GET /api/agents/{id} comes last.
 */
const struct http_route *api_agents_routes(struct api_agents_context *ctx, size_t *n);

#endif
