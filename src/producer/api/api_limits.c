/*
 * api_limits.c - see api_limits.h.
 */
#include "producer/api/api_limits.h"

const struct http_route_limit *api_limits_table(size_t *n)
{
	/* Bodies: what the largest valid request needs, rounded up generously. Agents carry up
	 * to 1000 topic names of 249 bytes; the acknowledgment route keeps the server's limits
	 * (5000 acknowledgments with their error texts). */
	static const struct http_route_limit limits[] = {
	    {"POST", "/api/agents/consumers/register", 512 * 1024, 20000},
	    {"POST", "/api/agents/consumers/heartbeat", 512 * 1024, 20000},
	    {"POST", "/api/agents/consumers/deregister", 16 * 1024, 100},
	    {"POST", "/api/topics/register", 256 * 1024, 10000},
	    {"PUT", "/api/topics/consumer-groups/{id}", 64 * 1024, 1000},
	    {"POST", "/api/topics/consumer-groups/{id}/deactivate", 16 * 1024, 100},
	    {"POST", "/api/topics/consumer-groups/{id}/activate", 16 * 1024, 100},
	    {"POST", "/api/topics/{name}/consumer-groups", 64 * 1024, 1000},
	    {"POST", "/api/topics/{name}/deactivate", 16 * 1024, 100},
	    {"POST", "/api/topics/{name}/activate", 16 * 1024, 100},
	    {"DELETE", "/api/messages/failed", 16 * 1024, 100},
	    {"POST", "/api/messages/retry", 16 * 1024, 100},
	    {"POST", "/api/messages/{id}/retry", 16 * 1024, 100},
	};

	*n = sizeof(limits) / sizeof(limits[0]);
	return limits;
}
