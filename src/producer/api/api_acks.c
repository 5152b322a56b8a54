/*
 * api_acks.c - see api_acks.h. Validation in ack_request.c, SQL in ack_store.c.
 */
#include "producer/api/api_acks.h"

#include "common/http_pg.h"

#include <stdlib.h>
#include <string.h>

#include "ferry/wire.h"
#include "producer/api/ack_request.h"
#include "producer/store/ack_store.h"

#define API_ACKS_DEFAULT_PAGE 100
#define API_ACKS_MAX_PAGE     1000

static const char *api_acks_result_name(enum delivery_ack_result r)
{
	switch (r) {
	case DELIVERY_ACK_RECORDED:
		return FERRY_ACK_RESULT_RECORDED;
	case DELIVERY_ACK_DUPLICATE:
		return FERRY_ACK_RESULT_DUPLICATE;
	case DELIVERY_ACK_UNKNOWN_MESSAGE:
		return FERRY_ACK_RESULT_UNKNOWN_MESSAGE;
	case DELIVERY_ACK_NOT_FOR_GROUP:
		return FERRY_ACK_RESULT_NOT_FOR_GROUP;
	}
	return "unknown";
}

static void api_acknowledge(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;
	struct delivery_ack *acks = NULL;
	struct delivery_ack_outcome *outcomes = NULL;
	json_t *body = http_exchange_parse_json(ex), *results;
	size_t n = 0, i, recorded = 0, duplicates = 0, errors = 0;
	char errstr[512];
	PGconn *conn = NULL;

	if (body == NULL)
		return;
	if (ack_request_parse(body, &acks, &n, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	outcomes = calloc(n, sizeof(*outcomes));
	if (outcomes == NULL) {
		http_exchange_error(ex, 503, "out of memory");
		goto done;
	}
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		goto done;
	if (ack_store_acknowledge(conn, acks, n, outcomes, errstr, sizeof(errstr)) != 0) {
		/* Nothing was recorded; the consumer keeps the acks and sends them again. */
		http_pg_error(ex, "acknowledgments not recorded", errstr);
		goto done;
	}
	results = json_array();
	for (i = 0; i < n; i++) {
		json_t *r =
		    json_pack("{s:I, s:s, s:b, s:s}", FERRY_ACK_MESSAGE_ID,
		              (json_int_t)acks[i].message_id, FERRY_ACK_CONSUMER_GROUP,
		              acks[i].consumer_group, FERRY_ACK_SUCCESS, acks[i].success,
		              FERRY_ACK_REPLY_RESULT, api_acks_result_name(outcomes[i].result));

		switch (outcomes[i].result) {
		case DELIVERY_ACK_RECORDED:
			recorded++;
			if (ctx->metrics && outcomes[i].topic[0]) {
				const char *labels[2] = {outcomes[i].topic, acks[i].consumer_group};

				metric_add(acks[i].success ? ctx->metrics->acknowledged
				                           : ctx->metrics->nacked,
				           labels, 1);
				if (acks[i].success && outcomes[i].since_sent_s >= 0)
					metric_observe(ctx->metrics->publish_to_ack, labels,
					               outcomes[i].since_sent_s);
			}
			json_object_set_new(r, "groupStatus",
			                    json_string(outcomes[i].group_status));
			break;
		case DELIVERY_ACK_DUPLICATE:
			duplicates++;
			json_object_set_new(r, "groupStatus",
			                    json_string(outcomes[i].group_status));
			break;
		case DELIVERY_ACK_UNKNOWN_MESSAGE:
			errors++;
			json_object_set_new(r, FERRY_ACK_REPLY_ERROR,
			                    json_string("no such message"));
			break;
		case DELIVERY_ACK_NOT_FOR_GROUP:
			errors++;
			json_object_set_new(
			    r, FERRY_ACK_REPLY_ERROR,
			    json_string("the message is not for this consumer group"));
			break;
		}
		json_array_append_new(results, r);
	}
	/* Per-item errors are in the reply; the request itself succeeded. */
	http_exchange_respond(ex, 200,
	                      json_pack("{s:o, s:I, s:I, s:I}", FERRY_ACK_REPLY_RESULTS, results,
	                                "recorded", (json_int_t)recorded, "duplicates",
	                                (json_int_t)duplicates, "errors", (json_int_t)errors));
done:
	pg_pool_put(ctx->pool, conn);
	free(outcomes);
	free(acks);
	json_decref(body);
}

static void api_list_consumer_group(struct http_exchange *ex, void *opaque)
{
	static const char *const statuses[] = {"PENDING", "SENT",    "ACKNOWLEDGED",
	                                       "FAILED",  "EXPIRED", NULL};
	struct api_context *ctx = opaque;
	const char *group = http_exchange_param(ex, "group");
	const char *status = http_exchange_query(ex, "status");
	long long limit, after;
	char errstr[512];
	json_t *page = NULL;
	PGconn *conn;
	size_t i;

	if (status && *status) {
		for (i = 0; statuses[i]; i++)
			if (strcmp(status, statuses[i]) == 0)
				break;
		if (statuses[i] == NULL) {
			http_exchange_error(ex, 400,
			                    "status must be PENDING, SENT, ACKNOWLEDGED, FAILED or "
			                    "EXPIRED");
			return;
		}
	} else {
		status = NULL;
	}
	if (http_exchange_query_int(ex, "limit", API_ACKS_DEFAULT_PAGE, 1, API_ACKS_MAX_PAGE,
	                            &limit) != 0 ||
	    http_exchange_query_int(ex, "afterId", 0, 0, INT64_MAX, &after) != 0)
		return;
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		return;
	if (ack_store_list_group(conn, group, status, after, (int)limit, &page, errstr,
	                         sizeof(errstr)) != 0)
		http_pg_error(ex, "database error", errstr);
	else
		http_exchange_respond(ex, 200, page);
	pg_pool_put(ctx->pool, conn);
}

static void api_stats(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;
	char errstr[512];
	json_t *stats = NULL;
	PGconn *conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);

	if (conn == NULL)
		return;
	if (ack_store_stats(conn, &stats, errstr, sizeof(errstr)) != 0)
		http_pg_error(ex, "database error", errstr);
	else
		http_exchange_respond(ex, 200, stats);
	pg_pool_put(ctx->pool, conn);
}

const struct http_route *api_acks_routes(struct api_context *ctx, size_t *n)
{
	static struct http_route routes[] = {
	    {"POST", FERRY_PATH_ACKNOWLEDGE, api_acknowledge, NULL, AUTH_ROLE_CONSUMER},
	    {"GET", "/api/messages/consumer-group/{group}", api_list_consumer_group, NULL,
	     AUTH_ROLE_READER},
	    {"GET", "/api/messages/stats", api_stats, NULL, AUTH_ROLE_READER},
	};
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		routes[i].opaque = ctx;
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
