/*
 * api_topics.c - see api_topics.h. Bodies are validated by topic_request.c, SQL lives in
 * topic_store.c, Kafka topics are made by topic_registry.c.
 */
#include "producer/api/api_topics.h"

#include "common/http_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "producer/api/api_actor.h"
#include "producer/api/message_request.h"
#include "producer/api/topic_request.h"
#include "producer/store/topic_store.h"
#include "producer/topic_registry.h"

/*
 * Answers with what a store call returned: `ok_status` and `out` (consumed) on OK; 404 with
 * `what` on NOT_FOUND; 409 or 503 with errstr.
 */
static void api_topics_answer(struct http_exchange *ex, int rc, json_t *out, int ok_status,
                              const char *what, const char *errstr)
{
	switch (rc) {
	case TOPIC_STORE_OK:
		http_exchange_respond(ex, ok_status, out);
		return;
	case TOPIC_STORE_NOT_FOUND:
		http_exchange_error(ex, 404, "%s", what);
		break;
	case TOPIC_STORE_CONFLICT:
		http_exchange_error(ex, 409, "%s", errstr);
		break;
	default:
		http_pg_error(ex, "database error", errstr);
		break;
	}
	json_decref(out);
}

/* The {id} path segment as a positive group id, or answers 400 and returns -1. */
static int api_topics_group_id(struct http_exchange *ex, int64_t *id)
{
	return http_exchange_param_id(ex, "id", "consumer group id", id);
}

/* The {name} path segment, or answers 404 (no topic can have an invalid name) and returns NULL. */
static const char *api_topics_name(struct http_exchange *ex)
{
	const char *name = http_exchange_param(ex, "name");

	if (name == NULL || !message_request_topic_valid(name)) {
		http_exchange_error(ex, 404, "no topic named '%.64s' (not a valid topic name)",
		                    name ? name : "");
		return NULL;
	}
	return name;
}

static void api_topics_register(struct http_exchange *ex, void *opaque)
{
	struct api_topics_context *ctx = opaque;
	struct topic_request req;
	json_t *body = http_exchange_parse_json(ex), *out = NULL, *kafka_topic = NULL;
	PGconn *conn = NULL;
	char errstr[512];
	int rc;

	memset(&req, 0, sizeof(req));
	if (body == NULL)
		return;
	if (topic_request_parse_topic(body, ctx->default_partitions, &req, errstr,
	                              sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	/* Registered already: 409 before touching Kafka. The connection is not held while
	 * Kafka works. */
	conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms);
	if (conn == NULL)
		goto done;
	rc = topic_store_get_topic(conn, req.topic_name, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	conn = NULL;
	if (rc == TOPIC_STORE_OK) {
		http_exchange_error(ex, 409, "topic '%s' is already registered", req.topic_name);
		goto done;
	}
	if (rc != TOPIC_STORE_NOT_FOUND) {
		http_pg_error(ex, "database error", errstr);
		goto done;
	}
	rc = topic_registry_create_kafka_topic(&ctx->registry, &req, &kafka_topic, errstr,
	                                       sizeof(errstr));
	if (rc == KAFKA_ADMIN_TIMED_OUT) {
		/* Nothing is registered. The request may still create the Kafka topic later; a
		 * retried registration takes an existing Kafka topic as it is. */
		http_exchange_error(
		    ex, 503,
		    "Kafka did not answer within %d ms (FERRY_HTTP_KAFKA_TIMEOUT_MS) "
		    "creating topic '%s'; nothing was registered: %s",
		    topic_registry_kafka_timeout_ms(&ctx->registry), req.topic_name, errstr);
		goto done;
	}
	if (rc != 0) {
		http_exchange_error(ex, 503, "cannot create Kafka topic '%s': %s", req.topic_name,
		                    errstr);
		goto done;
	}
	conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms);
	if (conn == NULL)
		goto done;
	rc = topic_store_register_topic(conn, &req, &out, errstr, sizeof(errstr));
	if (rc == TOPIC_STORE_OK) {
		json_object_set(out, "kafkaTopic", kafka_topic);
		log_info("api", "registered topic %s with %zu consumer group(s)", req.topic_name,
		         req.n_groups);
	}
	api_topics_answer(ex, rc, out, 201, "", errstr);
	out = NULL;
done:
	pg_pool_put(ctx->registry.pool, conn);
	json_decref(out);
	json_decref(kafka_topic);
	topic_request_clear(&req);
	json_decref(body);
}

static void api_topics_list(struct http_exchange *ex, void *opaque)
{
	struct api_topics_context *ctx = opaque;
	PGconn *conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms);
	json_t *out = NULL;
	char errstr[512];
	int rc;

	if (conn == NULL)
		return;
	rc = topic_store_list_topics(conn, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	api_topics_answer(ex, rc, out, 200, "", errstr);
}

static void api_topics_get(struct http_exchange *ex, void *opaque)
{
	struct api_topics_context *ctx = opaque;
	const char *name = api_topics_name(ex);
	json_t *out = NULL;
	char errstr[512], what[320];
	PGconn *conn;
	int rc;

	if (name == NULL ||
	    (conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms)) == NULL)
		return;
	rc = topic_store_get_topic(conn, name, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	snprintf(what, sizeof(what), "no topic named '%s' is registered", name);
	api_topics_answer(ex, rc, out, 200, what, errstr);
}

static void api_topics_set_topic_active(struct http_exchange *ex, struct api_topics_context *ctx,
                                        bool active)
{
	const char *name = api_topics_name(ex);
	json_t *out = NULL;
	char errstr[512], what[320];
	PGconn *conn;
	int rc;

	if (name == NULL ||
	    (conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms)) == NULL)
		return;
	rc = topic_store_set_topic_active(conn, name, active, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	if (rc == TOPIC_STORE_OK)
		log_info("api", "topic %s %s", name, active ? "activated" : "deactivated");
	snprintf(what, sizeof(what), "no topic named '%s' is registered", name);
	api_topics_answer(ex, rc, out, 200, what, errstr);
}

static void api_topics_activate(struct http_exchange *ex, void *opaque)
{
	api_topics_set_topic_active(ex, opaque, true);
}

static void api_topics_deactivate(struct http_exchange *ex, void *opaque)
{
	api_topics_set_topic_active(ex, opaque, false);
}

static void api_topics_add_group(struct http_exchange *ex, void *opaque)
{
	struct api_topics_context *ctx = opaque;
	struct topic_group_request group;
	const char *name = api_topics_name(ex);
	json_t *body, *out = NULL;
	char errstr[512], what[320], actor[160];
	PGconn *conn;
	int rc;

	if (name == NULL || (body = http_exchange_parse_json(ex)) == NULL)
		return;
	if (topic_request_parse_group(body, "", &group, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms);
	if (conn == NULL)
		goto done;
	api_actor(ex, actor, sizeof(actor));
	rc = topic_store_add_group(conn, name, &group, actor, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	if (rc == TOPIC_STORE_OK)
		log_info("api", "added consumer group %s to topic %s (by %s)", group.name, name,
		         actor);
	snprintf(what, sizeof(what), "no topic named '%s' is registered", name);
	api_topics_answer(ex, rc, out, 201, what, errstr);
done:
	json_decref(body);
}

static void api_topics_list_groups(struct http_exchange *ex, void *opaque)
{
	struct api_topics_context *ctx = opaque;
	PGconn *conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms);
	json_t *out = NULL;
	char errstr[512];
	int rc;

	if (conn == NULL)
		return;
	rc = topic_store_list_groups(conn, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	api_topics_answer(ex, rc, out, 200, "", errstr);
}

static void api_topics_get_group(struct http_exchange *ex, void *opaque)
{
	struct api_topics_context *ctx = opaque;
	json_t *out = NULL;
	char errstr[512], what[96];
	PGconn *conn;
	int64_t id;
	int rc;

	if (api_topics_group_id(ex, &id) != 0 ||
	    (conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms)) == NULL)
		return;
	rc = topic_store_get_group(conn, id, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	snprintf(what, sizeof(what), "no consumer group with id %" PRId64, id);
	api_topics_answer(ex, rc, out, 200, what, errstr);
}

static void api_topics_update_group(struct http_exchange *ex, void *opaque)
{
	struct api_topics_context *ctx = opaque;
	struct topic_group_update upd;
	json_t *body, *out = NULL;
	char errstr[512], what[96], actor[160];
	PGconn *conn;
	int64_t id;
	int rc;

	if (api_topics_group_id(ex, &id) != 0 || (body = http_exchange_parse_json(ex)) == NULL)
		return;
	if (topic_request_parse_update(body, &upd, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms);
	if (conn == NULL)
		goto done;
	api_actor(ex, actor, sizeof(actor));
	rc = topic_store_update_group(conn, id, &upd, actor, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	if (rc == TOPIC_STORE_OK)
		log_info("api", "updated consumer group %" PRId64 " (by %s)", id, actor);
	snprintf(what, sizeof(what), "no consumer group with id %" PRId64, id);
	api_topics_answer(ex, rc, out, 200, what, errstr);
done:
	json_decref(body);
}

static void api_topics_set_group_active(struct http_exchange *ex, struct api_topics_context *ctx,
                                        bool active)
{
	json_t *out = NULL;
	char errstr[512], what[96], actor[160];
	PGconn *conn;
	int64_t id;
	int rc;

	if (api_topics_group_id(ex, &id) != 0 ||
	    (conn = http_pg_conn(ex, ctx->registry.pool, ctx->registry.pool_timeout_ms)) == NULL)
		return;
	api_actor(ex, actor, sizeof(actor));
	rc = topic_store_set_group_active(conn, id, active, actor, &out, errstr, sizeof(errstr));
	pg_pool_put(ctx->registry.pool, conn);
	if (rc == TOPIC_STORE_OK)
		log_info("api", "consumer group %" PRId64 " %s (by %s)", id,
		         active ? "activated" : "deactivated", actor);
	snprintf(what, sizeof(what), "no consumer group with id %" PRId64, id);
	api_topics_answer(ex, rc, out, 200, what, errstr);
}

static void api_topics_activate_group(struct http_exchange *ex, void *opaque)
{
	api_topics_set_group_active(ex, opaque, true);
}

static void api_topics_deactivate_group(struct http_exchange *ex, void *opaque)
{
	api_topics_set_group_active(ex, opaque, false);
}

const struct http_route *api_topics_routes(struct api_topics_context *ctx, size_t *n)
{
	/*
	 * The server takes the first route that matches method and path, so the literal
	 * consumer-groups routes must precede the {name} ones: GET /api/topics/consumer-groups
	 * lists the groups, and a topic literally named "consumer-groups" can only be read
	 * through GET /api/topics (its other {name} routes still work: no literal route takes
	 * POST .../consumer-groups/activate or .../consumer-groups/consumer-groups).
	 */
	static struct http_route routes[] = {
	    {"POST", "/api/topics/register", api_topics_register, NULL, AUTH_ROLE_OPERATOR},
	    {"GET", "/api/topics", api_topics_list, NULL, AUTH_ROLE_READER},
	    {"GET", "/api/topics/consumer-groups", api_topics_list_groups, NULL, AUTH_ROLE_READER},
	    {"GET", "/api/topics/consumer-groups/{id}", api_topics_get_group, NULL,
	     AUTH_ROLE_READER},
	    {"PUT", "/api/topics/consumer-groups/{id}", api_topics_update_group, NULL,
	     AUTH_ROLE_OPERATOR},
	    {"POST", "/api/topics/consumer-groups/{id}/deactivate", api_topics_deactivate_group,
	     NULL, AUTH_ROLE_OPERATOR},
	    {"POST", "/api/topics/consumer-groups/{id}/activate", api_topics_activate_group, NULL,
	     AUTH_ROLE_OPERATOR},
	    {"GET", "/api/topics/{name}", api_topics_get, NULL, AUTH_ROLE_READER},
	    {"POST", "/api/topics/{name}/consumer-groups", api_topics_add_group, NULL,
	     AUTH_ROLE_OPERATOR},
	    {"POST", "/api/topics/{name}/deactivate", api_topics_deactivate, NULL,
	     AUTH_ROLE_OPERATOR},
	    {"POST", "/api/topics/{name}/activate", api_topics_activate, NULL, AUTH_ROLE_OPERATOR},
	};
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		routes[i].opaque = ctx;
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
