/*
 * api_agents.c - see api_agents.h. Bodies are validated by agent_request.c, SQL lives in
 * agent_store.c.
 */
#include "producer/api/api_agents.h"

#include "common/http_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ferry/wire.h"
#include "producer/api/agent_request.h"
#include "producer/store/agent_store.h"

/* Borrows a connection, or answers 503 and returns NULL. */
/*
 * Answers with what a store call returned: `ok_status` and `out` (consumed) on OK, 201 on
 * CREATED, 404 with `what` on NOT_FOUND, 503 with errstr on ERROR.
 */
static void api_agents_answer(struct http_exchange *ex, int rc, json_t *out, int ok_status,
                              const char *what, const char *errstr)
{
	switch (rc) {
	case AGENT_STORE_CREATED:
		http_exchange_respond(ex, 201, out);
		return;
	case AGENT_STORE_OK:
		http_exchange_respond(ex, ok_status, out);
		return;
	case AGENT_STORE_NOT_FOUND:
		http_exchange_error(ex, 404, "%s", what);
		break;
	default:
		http_pg_error(ex, "database error", errstr);
		break;
	}
	json_decref(out);
}

/* Wraps a store's array of agents as {"agents": [...]}; takes ownership of `agents`. */
static json_t *api_agents_wrap(json_t *agents)
{
	return agents ? json_pack("{s:o}", "agents", agents) : NULL;
}

static void api_agents_register(struct http_exchange *ex, void *opaque)
{
	struct api_agents_context *ctx = opaque;
	struct agent_registration reg;
	json_t *body = http_exchange_parse_json(ex), *out = NULL;
	PGconn *conn;
	char errstr[512];
	int rc;

	memset(&reg, 0, sizeof(reg));
	if (body == NULL)
		return;
	if (agent_request_parse_registration(body, &reg, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		goto done;
	rc = agent_store_register_consumer(conn, &reg, ctx->heartbeat_interval_s, &out, errstr,
	                                   sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	if (rc == AGENT_STORE_CREATED || rc == AGENT_STORE_OK)
		log_info("api", "consumer agent %s/%s (group %s, %s:%d) %s", reg.service_id,
		         reg.instance_id, reg.consumer_group, reg.host, reg.port,
		         rc == AGENT_STORE_CREATED ? "registered" : "registered again");
	api_agents_answer(ex, rc, out, 200, "", errstr);
done:
	agent_registration_clear(&reg);
	json_decref(body);
}

static void api_agents_heartbeat(struct http_exchange *ex, void *opaque)
{
	struct api_agents_context *ctx = opaque;
	struct agent_heartbeat hb;
	json_t *body = http_exchange_parse_json(ex), *out = NULL;
	char errstr[512], what[1024];
	PGconn *conn;
	int rc;

	if (body == NULL)
		return;
	if (agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		goto done;
	rc = agent_store_heartbeat(conn, &hb, ctx->heartbeat_interval_s, &out, errstr,
	                           sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	if (rc == AGENT_STORE_OK && hb.healthy)
		log_debug("api", "heartbeat of consumer agent %s/%s", hb.service_id,
		          hb.instance_id);
	else if (rc == AGENT_STORE_OK)
		log_warn("api", "consumer agent %s/%s reports itself unhealthy", hb.service_id,
		         hb.instance_id);
	else if (rc == AGENT_STORE_NOT_FOUND)
		log_info("api", "heartbeat of unregistered consumer agent %s/%s%s%s", hb.service_id,
		         hb.instance_id, hb.consumer_group ? " group " : "",
		         hb.consumer_group ? hb.consumer_group : "");
	snprintf(what, sizeof(what),
	         "consumer agent %s/%s%s%s is not registered (or was deregistered): register it "
	         "with POST /api/agents/consumers/register",
	         hb.service_id, hb.instance_id, hb.consumer_group ? " group " : "",
	         hb.consumer_group ? hb.consumer_group : "");
	api_agents_answer(ex, rc, api_agents_wrap(out), 200, what, errstr);
done:
	json_decref(body);
}

static void api_agents_deregister(struct http_exchange *ex, void *opaque)
{
	struct api_agents_context *ctx = opaque;
	struct agent_deregistration dereg;
	json_t *body = http_exchange_parse_json(ex), *out = NULL;
	char errstr[512], what[1024];
	PGconn *conn;
	int rc;

	if (body == NULL)
		return;
	if (agent_request_parse_deregistration(body, &dereg, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		goto done;
	rc = agent_store_deregister(conn, &dereg, ctx->heartbeat_interval_s, &out, errstr,
	                            sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	if (rc == AGENT_STORE_OK)
		log_info("api", "consumer agent %s/%s%s%s deregistered", dereg.service_id,
		         dereg.instance_id, dereg.consumer_group ? " group " : "",
		         dereg.consumer_group ? dereg.consumer_group : "");
	snprintf(what, sizeof(what), "consumer agent %s/%s%s%s was never registered",
	         dereg.service_id, dereg.instance_id, dereg.consumer_group ? " group " : "",
	         dereg.consumer_group ? dereg.consumer_group : "");
	api_agents_answer(ex, rc, api_agents_wrap(out), 200, what, errstr);
done:
	json_decref(body);
}

static void api_agents_list(struct http_exchange *ex, void *opaque)
{
	struct api_agents_context *ctx = opaque;
	PGconn *conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	json_t *out = NULL;
	char errstr[512];
	int rc;

	if (conn == NULL)
		return;
	rc = agent_store_list_consumers(conn, ctx->heartbeat_interval_s, &out, errstr,
	                                sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	api_agents_answer(ex, rc, out, 200, "", errstr);
}

static void api_agents_get(struct http_exchange *ex, void *opaque)
{
	struct api_agents_context *ctx = opaque;
	json_t *out = NULL;
	char errstr[512], what[96];
	int64_t id = 0;
	PGconn *conn;
	int rc;

	if (http_exchange_param_id(ex, "id", "agent id", &id) != 0)
		return;
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		return;
	rc = agent_store_get_consumer(conn, id, ctx->heartbeat_interval_s, &out, errstr,
	                              sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	snprintf(what, sizeof(what), "no consumer agent with id %lld", (long long)id);
	api_agents_answer(ex, rc, out, 200, what, errstr);
}

static void api_agents_list_producers(struct http_exchange *ex, void *opaque)
{
	struct api_agents_context *ctx = opaque;
	PGconn *conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	json_t *out = NULL;
	char errstr[512];
	int rc;

	if (conn == NULL)
		return;
	rc = agent_store_list_producers(conn, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	api_agents_answer(ex, rc, out, 200, "", errstr);
}

/* GET /api/agents/producers/{id} (only == true) and GET /api/agents/{id} (either kind). */
static void api_agents_get_one(struct http_exchange *ex, struct api_agents_context *ctx,
                               bool producers_only)
{
	json_t *out = NULL;
	char errstr[512], what[96];
	int64_t id = 0;
	PGconn *conn;
	int rc;

	if (http_exchange_param_id(ex, "id", "agent id", &id) != 0)
		return;
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		return;
	if (producers_only)
		rc = agent_store_get_producer(conn, id, &out, errstr, sizeof(errstr));
	else
		rc = agent_store_get_any(conn, id, ctx->heartbeat_interval_s, &out, errstr,
		                         sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	snprintf(what, sizeof(what), "no %sagent with id %lld", producers_only ? "producer " : "",
	         (long long)id);
	api_agents_answer(ex, rc, out, 200, what, errstr);
}

static void api_agents_get_producer(struct http_exchange *ex, void *opaque)
{
	api_agents_get_one(ex, opaque, true);
}

static void api_agents_get_any(struct http_exchange *ex, void *opaque)
{
	api_agents_get_one(ex, opaque, false);
}

const struct http_route *api_agents_routes(struct api_agents_context *ctx, size_t *n)
{
	static struct http_route routes[] = {
	    {"POST", FERRY_PATH_AGENT_REGISTER, api_agents_register, NULL, AUTH_ROLE_CONSUMER},
	    {"POST", FERRY_PATH_AGENT_HEARTBEAT, api_agents_heartbeat, NULL, AUTH_ROLE_CONSUMER},
	    {"POST", FERRY_PATH_AGENT_DEREGISTER, api_agents_deregister, NULL, AUTH_ROLE_CONSUMER},
	    {"GET", "/api/agents/consumers", api_agents_list, NULL, AUTH_ROLE_READER},
	    {"GET", "/api/agents/consumers/{id}", api_agents_get, NULL, AUTH_ROLE_READER},
	    {"GET", "/api/agents/producers", api_agents_list_producers, NULL, AUTH_ROLE_READER},
	    {"GET", "/api/agents/producers/{id}", api_agents_get_producer, NULL, AUTH_ROLE_READER},
	    /* Last: "producers" and "consumers" above are not ids. */
	    {"GET", "/api/agents/{id}", api_agents_get_any, NULL, AUTH_ROLE_READER},
	};
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		routes[i].opaque = ctx;
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
