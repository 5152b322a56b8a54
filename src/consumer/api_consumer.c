/*
 * api_consumer.c - see api_consumer.h.
 */
#include "consumer/api_consumer.h"

#include "common/http_pg.h"
#include "common/kafka_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer/inbox_store.h"

#define API_CONSUMER_DEFAULT_PAGE 100
#define API_CONSUMER_MAX_PAGE     1000

static void api_consumer_liveness(struct http_exchange *ex, void *opaque)
{
	(void)opaque;
	http_exchange_respond(ex, 200, json_pack("{s:s}", "status", "ok"));
}

static void api_consumer_health(struct http_exchange *ex, void *opaque)
{
	struct api_consumer_context *ctx = opaque;
	json_t *groups = json_array(), *db;
	char errstr[512];
	PGconn *conn;
	int64_t backlog = 0;
	double oldest = 0;
	bool healthy = true, db_ok = false, kafka_refused;
	size_t i;

	for (i = 0; i < ctx->loop_count; i++) {
		struct consume_loop_status st;

		consume_loop_status(ctx->loops[i], &st);
		if (!st.running)
			healthy = false;
		json_array_append_new(
		    groups, json_pack("{s:s, s:b, s:i, s:o, s:I, s:I, s:I, s:I}", "consumerGroup",
		                      consume_loop_group(ctx->loops[i]), "running", st.running,
		                      "assignedPartitions", st.assigned_partitions, "lastPollMsAgo",
		                      st.last_poll_ms_ago >= 0 ? json_integer(st.last_poll_ms_ago)
		                                               : json_null(),
		                      "processed", (json_int_t)st.processed, "duplicates",
		                      (json_int_t)st.duplicates, "failed", (json_int_t)st.failed,
		                      "skipped", (json_int_t)st.skipped));
	}
	conn = pg_pool_get(ctx->pool, ctx->pool_timeout_ms, errstr, sizeof(errstr));
	if (conn && inbox_store_ack_backlog(conn, &backlog, &oldest, errstr, sizeof(errstr)) == 0)
		db_ok = true;
	pg_pool_put(ctx->pool, conn);
	if (db_ok)
		db = json_pack("{s:b}", "ok", 1);
	else
		db = json_pack("{s:b, s:s}", "ok", 0, "error",
		               http_pg_client_text(ex, "database unavailable", errstr));
	if (!db_ok)
		healthy = false;
	/* Refused credentials (a password rotated on the broker): no group can consume. */
	kafka_refused = kafka_auth_failing();
	if (kafka_refused)
		healthy = false;
	http_exchange_respond(
	    ex, healthy ? 200 : 503,
	    json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:b, s:s?}, s:{s:o, s:o}}", "status",
	              healthy ? "healthy" : "unhealthy", "serviceId", ctx->service_id, "instanceId",
	              ctx->instance_id, "groups", groups, "database", db, "kafka", "ok",
	              !kafka_refused, "error",
	              kafka_refused ? "Kafka refused this instance's credentials: check "
	                              "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
	                            : NULL,
	              "acks", "backlog", db_ok ? json_integer(backlog) : json_null(),
	              "oldestAgeSeconds", db_ok ? json_real(oldest) : json_null()));
}

/* Reads ?limit= and ?afterId= (the shared parser answers 400 on anything else). */
static int api_consumer_page_args(struct http_exchange *ex, int *limit, long long *after)
{
	long long l;

	if (http_exchange_query_int(ex, "limit", API_CONSUMER_DEFAULT_PAGE, 1,
	                            API_CONSUMER_MAX_PAGE, &l) != 0 ||
	    http_exchange_query_int(ex, "afterId", 0, 0, INT64_MAX, after) != 0)
		return -1;
	*limit = (int)l;
	return 0;
}

static void api_consumer_list(struct http_exchange *ex, struct api_consumer_context *ctx,
                              bool failed)
{
	const char *group = http_exchange_param(ex, "group");
	char errstr[512], *text = NULL;
	json_t *body;
	PGconn *conn;
	long long after;
	int limit, rc;

	if (api_consumer_page_args(ex, &limit, &after) != 0)
		return;
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		return;
	rc = failed
	         ? inbox_store_list_failed(conn, group, after, limit, &text, errstr, sizeof(errstr))
	         : inbox_store_list_processed(conn, group, after, limit, &text, errstr,
	                                      sizeof(errstr));
	pg_pool_put(ctx->pool, conn);
	if (rc != 0) {
		http_pg_error(ex, "query failed", errstr);
		return;
	}
	body = json_loads(text, JSON_DECODE_ANY, NULL);
	free(text);
	if (body == NULL) {
		http_exchange_error(ex, 500, "the database returned invalid JSON");
		return;
	}
	http_exchange_respond(ex, 200, body);
}

static void api_consumer_processed(struct http_exchange *ex, void *opaque)
{
	api_consumer_list(ex, opaque, false);
}

static void api_consumer_failed(struct http_exchange *ex, void *opaque)
{
	api_consumer_list(ex, opaque, true);
}

const struct http_route *api_consumer_routes(struct api_consumer_context *ctx, size_t *n)
{
	static struct http_route routes[4];

	routes[0] =
	    (struct http_route){"GET", "/health", api_consumer_liveness, ctx, HTTP_ROUTE_OPEN};
	routes[1] = (struct http_route){"GET", "/api/consumer/health", api_consumer_health, ctx,
	                                AUTH_ROLE_READER};
	routes[2] = (struct http_route){"GET", "/api/consumer/processed/{group}",
	                                api_consumer_processed, ctx, AUTH_ROLE_READER};
	routes[3] = (struct http_route){"GET", "/api/consumer/failed/{group}", api_consumer_failed,
	                                ctx, AUTH_ROLE_READER};
	*n = 4;
	return routes;
}
