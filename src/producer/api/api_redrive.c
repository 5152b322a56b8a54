/*
 * api_redrive.c - see api_redrive.h. Validation in redrive_request.c, SQL in redrive_store.c.
 */
#include "producer/api/api_redrive.h"

#include "common/http_pg.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/duration.h"
#include "producer/api/api_actor.h"
#include "producer/api/redrive_request.h"
#include "producer/store/redrive_store.h"

#define API_REDRIVE_DEFAULT_PAGE 100
#define API_REDRIVE_MAX_PAGE     1000

static void api_redrive_wake(struct api_redrive_context *ctx)
{
	if (ctx->scheduler)
		scheduler_wake(ctx->scheduler, ctx->retry_job);
}

static void api_redrive_error(struct http_exchange *ex, enum redrive_store_error e,
                              const char *errstr)
{
	switch (e) {
	case REDRIVE_STORE_ERR_NOT_FOUND:
		http_exchange_error(ex, 404, "%s", errstr);
		break;
	case REDRIVE_STORE_ERR_CONFLICT:
		http_exchange_error(ex, 409, "%s", errstr);
		break;
	case REDRIVE_STORE_ERR_INVALID:
		http_exchange_error(ex, 400, "%s", errstr);
		break;
	default:
		http_pg_error(ex, "database error", errstr);
		break;
	}
}

static void api_list_failed(struct http_exchange *ex, void *opaque)
{
	struct api_redrive_context *ctx = opaque;
	const char *group = http_exchange_query(ex, "consumerGroup");
	const char *status = http_exchange_query(ex, "status");
	const char *newest;
	long long limit, after;
	char errstr[512];
	json_t *page = NULL;
	PGconn *conn;

	if (!redrive_request_status_valid(status)) {
		http_exchange_error(ex, 400, "status must be FAILED or EXPIRED");
		return;
	}
	if (group && *group == '\0')
		group = NULL;
	if (status && *status == '\0')
		status = NULL;
	if (http_exchange_query_int(ex, "limit", API_REDRIVE_DEFAULT_PAGE, 1, API_REDRIVE_MAX_PAGE,
	                            &limit) != 0 ||
	    http_exchange_query_int(ex, "afterId", 0, 0, INT64_MAX, &after) != 0)
		return;
	newest = http_exchange_query(ex, "newest");
	if (newest && strcmp(newest, "true") != 0 && strcmp(newest, "false") != 0) {
		http_exchange_error(ex, 400, "query parameter newest must be true or false");
		return;
	}
	if ((conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms)) == NULL)
		return;
	if (redrive_store_list_dead(conn, group, status, after, (int)limit,
	                            newest && strcmp(newest, "true") == 0, &page, errstr,
	                            sizeof(errstr)) != 0)
		http_pg_error(ex, "database error", errstr);
	else
		http_exchange_respond(ex, 200, page);
	pg_pool_put(ctx->pool, conn);
}

static void api_delete_failed(struct http_exchange *ex, void *opaque)
{
	struct api_redrive_context *ctx = opaque;
	const char *older = http_exchange_query(ex, "olderThan");
	const char *group = http_exchange_query(ex, "consumerGroup");
	char errstr[512], actor[160];
	const char *timestamp;
	int64_t seconds, deliveries = 0, messages = 0;
	bool complete = false;
	enum redrive_store_error e;
	PGconn *conn;

	if (older == NULL || *older == '\0') {
		http_exchange_error(
		    ex, 400,
		    "olderThan is required: a duration (30m, 12h, 7d) or a timestamp "
		    "(2026-11-01T00:00:00Z)");
		return;
	}
	/* A duration is measured on the database's clock (the rows' timestamps are its own); a
	 * timestamp is read by PostgreSQL. */
	if (duration_parse_s(older, &seconds) == 0) {
		timestamp = NULL;
	} else if (older[0] >= '0' && older[0] <= '9' && strchr(older, '-') != NULL) {
		timestamp = older;
		seconds = 0;
	} else {
		http_exchange_error(ex, 400,
		                    "olderThan must be a duration (30m, 12h, 7d) or a timestamp "
		                    "(2026-11-01T00:00:00Z), not '%.80s'",
		                    older);
		return;
	}
	if (group && *group == '\0')
		group = NULL;
	api_actor(ex, actor, sizeof(actor));
	if ((conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms)) == NULL)
		return;
	e = redrive_store_delete_dead(conn, timestamp, seconds, group, ctx->delete_batch_size,
	                              ctx->delete_budget_ms, actor, &deliveries, &messages,
	                              &complete, errstr, sizeof(errstr));
	if (e == REDRIVE_STORE_ERR_INVALID)
		http_exchange_error(ex, 400, "olderThan: %s", errstr);
	else if (e != REDRIVE_STORE_OK)
		api_redrive_error(ex, e, errstr);
	else
		http_exchange_respond(ex, 200,
		                      json_pack("{s:I, s:I, s:s, s:b}", "deletedDeliveries",
		                                (json_int_t)deliveries, "deletedMessages",
		                                (json_int_t)messages, "olderThan", older,
		                                "complete", complete));
	pg_pool_put(ctx->pool, conn);
}

static void api_retry_one(struct http_exchange *ex, void *opaque)
{
	struct api_redrive_context *ctx = opaque;
	struct redrive_one_request req;
	json_t *body = NULL, *result = NULL;
	char errstr[512], actor[160];
	enum redrive_store_error e;
	int64_t id;
	size_t len = 0;
	PGconn *conn;

	if (http_exchange_param_id(ex, "id", "message id", &id) != 0)
		return;
	(void)http_exchange_body(ex, &len);
	if (len > 0 && (body = http_exchange_parse_json(ex)) == NULL)
		return;
	if (redrive_request_parse_one(body, &req, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	api_actor(ex, actor, sizeof(actor));
	if ((conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms)) == NULL)
		goto done;
	e = redrive_store_request_redelivery(conn, id, req.consumer_group, req.target, actor,
	                                     ctx->heartbeat_interval_s, &result, errstr,
	                                     sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	if (e != REDRIVE_STORE_OK) {
		api_redrive_error(ex, e, errstr);
		goto done;
	}
	api_redrive_wake(ctx);
	http_exchange_respond(
	    ex, 202, json_pack("{s:I, s:o}", "messageId", (json_int_t)id, "redeliveries", result));
done:
	json_decref(body);
}

static void api_retry_bulk(struct http_exchange *ex, void *opaque)
{
	struct api_redrive_context *ctx = opaque;
	struct redrive_bulk_request req;
	json_t *body = http_exchange_parse_json(ex);
	char errstr[512], actor[160];
	int64_t requeued = 0;
	PGconn *conn;

	if (body == NULL)
		return;
	if (redrive_request_parse_bulk(body, &req, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	api_actor(ex, actor, sizeof(actor));
	if ((conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms)) == NULL)
		goto done;
	if (redrive_store_bulk_redrive(conn, req.consumer_group, req.status, req.limit, actor,
	                               &requeued, errstr, sizeof(errstr)) != 0) {
		pg_pool_put(ctx->pool, conn);
		http_pg_error(ex, "database error", errstr);
		goto done;
	}
	pg_pool_put(ctx->pool, conn);
	if (requeued > 0)
		api_redrive_wake(ctx);
	http_exchange_respond(ex, 202,
	                      json_pack("{s:I, s:s, s:s?}", "requeued", (json_int_t)requeued,
	                                "consumerGroup", req.consumer_group, "status", req.status));
done:
	json_decref(body);
}

const struct http_route *api_redrive_routes(struct api_redrive_context *ctx, size_t *n)
{
	static struct http_route routes[] = {
	    {"GET", "/api/messages/failed", api_list_failed, NULL, AUTH_ROLE_READER},
	    {"DELETE", "/api/messages/failed", api_delete_failed, NULL, AUTH_ROLE_OPERATOR},
	    {"POST", "/api/messages/retry", api_retry_bulk, NULL, AUTH_ROLE_OPERATOR},
	    {"POST", "/api/messages/{id}/retry", api_retry_one, NULL, AUTH_ROLE_OPERATOR},
	};
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		routes[i].opaque = ctx;
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
