/*
 * api_messages.c - see api_messages.h. Request bodies are validated by message_request.c;
 * SQL lives in message_store.c; this file maps between HTTP and those two.
 */
#include "producer/api/api_messages.h"

#include "common/http_pg.h"
#include "common/kafka_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/traceparent.h"
#include "producer/api/message_request.h"
#include "producer/store/message_store.h"

#define API_DEFAULT_PAGE 100
#define API_MAX_PAGE     1000

static json_t *api_send_reply(const struct outbox_new_message *msg,
                              const struct outbox_enqueue_result *res)
{
	return json_pack("{s:I, s:I, s:s, s:s, s:b}", "messageId", (json_int_t)res->id, "id",
	                 (json_int_t)res->id, "topic", msg->topic, "status",
	                 res->duplicate ? "DUPLICATE" : "PENDING", "duplicate", res->duplicate);
}

/* Answers a failed enqueue with the status its kind of failure deserves. */
static void api_enqueue_failed(struct http_exchange *ex, int rc, const char *errstr)
{
	switch (rc) {
	case OUTBOX_ERR_NOT_REGISTERED:
		http_exchange_error(ex, 404, "%s", errstr);
		break;
	case OUTBOX_ERR_BAD_GROUP:
	case OUTBOX_ERR_INVALID:
		http_exchange_error(ex, 400, "%s", errstr);
		break;
	default:
		http_exchange_error(ex, 503, "%s", errstr);
		break;
	}
}

/* Unbatched: one statement on a pooled connection, committed before we answer. */
static void api_send_now(struct api_context *ctx, struct http_exchange *ex,
                         const struct outbox_new_message *msg)
{
	struct outbox_enqueue_result res;
	char errstr[512];
	PGconn *conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	int rc;

	if (conn == NULL)
		return;
	rc = message_store_enqueue(conn, msg, 1, ctx->service_id, ctx->instance_id, ctx->registry,
	                           ctx->db_timeout_ms, &res, errstr, sizeof(errstr));
	if (rc != OUTBOX_OK) {
		bool lost = PQstatus(conn) != CONNECTION_OK;

		pg_pool_put(ctx->pool, conn);
		if (lost && pg_last_timed_out())
			http_exchange_error(ex, 503,
			                    "database connection lost; outcome unknown (retry with "
			                    "the same idempotencyKey): %s",
			                    errstr);
		else if (lost)
			/* libpq's reason is for the log only (http_pg.h). */
			http_exchange_error(ex, 503, "%s",
			                    http_pg_client_text(ex,
			                                        "database connection lost; outcome "
			                                        "unknown (retry with the same "
			                                        "idempotencyKey)",
			                                        errstr));
		else
			api_enqueue_failed(ex, rc, errstr);
		return;
	}
	pg_pool_put(ctx->pool, conn);
	if (ctx->relay)
		relay_wake(ctx->relay);
	if (!res.duplicate && ctx->metrics)
		metric_add(ctx->metrics->enqueued, &msg->topic, 1);
	http_exchange_respond(ex, res.duplicate ? 200 : 201, api_send_reply(msg, &res));
}

/* What a batched request needs when the batcher answers it. */
struct api_pending_send {
	struct http_exchange *ex;
	struct metric_family *enqueued; /* NULL: not counted */
	char topic[256];
};

static void api_send_batched_done(void *opaque, const struct outbox_enqueue_result *res,
                                  enum outbox_error err, const char *error)
{
	struct api_pending_send *p = opaque;
	struct outbox_new_message msg = {.topic = p->topic};

	if (err != OUTBOX_OK) {
		api_enqueue_failed(p->ex, err, error);
	} else {
		if (!res->duplicate)
			metric_add(p->enqueued, &msg.topic, 1);
		http_exchange_respond(p->ex, res->duplicate ? 200 : 201, api_send_reply(&msg, res));
	}
	free(p);
}

/*
 * A traceparent sent as the HTTP request's header goes into each message that has none of its
 * own (W3C Trace Context: the caller's span is the messages' parent). Returns 0, or answers
 * 400/503 and returns -1.
 */
static int api_apply_http_traceparent(struct http_exchange *ex, struct message_request *reqs,
                                      size_t n)
{
	const char *tp = http_exchange_header(ex, "traceparent");
	size_t i;

	if (tp == NULL)
		return 0;
	if (!traceparent_valid(tp)) {
		http_exchange_error(ex, 400,
		                    "traceparent header: not a W3C traceparent "
		                    "(00-<32 hex>-<16 hex>-<2 hex>)");
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (message_request_set_traceparent(&reqs[i], tp, false) != 0) {
			http_exchange_error(ex, 503, "out of memory");
			return -1;
		}
	}
	return 0;
}

static void api_send(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;
	struct message_request req;
	struct api_pending_send *p;
	char errstr[512];
	json_t *body = http_exchange_parse_json(ex);

	if (body == NULL)
		return;
	if (message_request_parse(body, "", &req, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	if (api_apply_http_traceparent(ex, &req, 1) != 0)
		goto done;
	if (!req.use_batching) {
		api_send_now(ctx, ex, &req.msg);
		goto done;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		http_exchange_error(ex, 503, "out of memory");
		goto done;
	}
	p->ex = ex;
	p->enqueued = ctx->metrics ? ctx->metrics->enqueued : NULL;
	snprintf(p->topic, sizeof(p->topic), "%s", req.msg.topic);
	if (batcher_submit(ctx->batcher, &req.msg, api_send_batched_done, p, errstr,
	                   sizeof(errstr)) != 0) {
		free(p);
		http_exchange_error(ex, 503, "%s", errstr);
	}
	/* Otherwise the batcher answers after the commit; the exchange stays suspended. */
done:
	message_request_clear(&req);
	json_decref(body);
}

static void api_send_batch(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;
	struct message_request *reqs = NULL;
	struct outbox_new_message *msgs = NULL;
	struct outbox_enqueue_result *res = NULL;
	PGconn *conn = NULL;
	json_t *body = http_exchange_parse_json(ex), *results;
	char errstr[512];
	size_t n = 0, i, created = 0;
	int rc;

	if (body == NULL)
		return;
	if (message_request_parse_batch(body, &reqs, &n, errstr, sizeof(errstr)) != 0) {
		http_exchange_error(ex, 400, "%s", errstr);
		goto done;
	}
	if (api_apply_http_traceparent(ex, reqs, n) != 0)
		goto done;
	msgs = calloc(n, sizeof(*msgs));
	res = calloc(n, sizeof(*res));
	if (msgs == NULL || res == NULL) {
		http_exchange_error(ex, 503, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++)
		msgs[i] = reqs[i].msg;
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		goto done;
	/* One statement: all of the batch commits, or none of it. */
	rc = message_store_enqueue(conn, msgs, n, ctx->service_id, ctx->instance_id, ctx->registry,
	                           ctx->db_timeout_ms, res, errstr, sizeof(errstr));
	if (rc != OUTBOX_OK) {
		if (PQstatus(conn) != CONNECTION_OK)
			http_exchange_error(ex, 503,
			                    "database connection lost; outcome unknown (retry with "
			                    "the same idempotencyKeys): %s",
			                    errstr);
		else
			api_enqueue_failed(ex, rc, errstr);
		goto done;
	}
	if (ctx->relay)
		relay_wake(ctx->relay);
	results = json_array();
	for (i = 0; i < n; i++) {
		json_array_append_new(results, api_send_reply(&msgs[i], &res[i]));
		created += !res[i].duplicate;
		if (!res[i].duplicate && ctx->metrics)
			metric_add(ctx->metrics->enqueued, &msgs[i].topic, 1);
	}
	http_exchange_respond(ex, created > 0 ? 201 : 200,
	                      json_pack("{s:o, s:I, s:I}", "results", results, "count",
	                                (json_int_t)n, "created", (json_int_t)created));
done:
	pg_pool_put(ctx->pool, conn);
	free(msgs);
	free(res);
	message_request_free_array(reqs, n);
	json_decref(body);
}

static void api_get_message(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;
	char errstr[512];
	json_t *msg = NULL;
	PGconn *conn;
	int64_t id;
	int found;

	if (http_exchange_param_id(ex, "id", "message id", &id) != 0)
		return;
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		return;
	found = message_store_get(conn, id, &msg, errstr, sizeof(errstr));
	if (found == 1) {
		json_t *groups = NULL, *history = NULL;

		/* Each group's own status, ack time and error; then what happened since (retries,
		 * verdicts, operators' re-drives). */
		if (message_store_groups(conn, id, &groups, errstr, sizeof(errstr)) != 0 ||
		    message_store_history(conn, id, &history, errstr, sizeof(errstr)) != 0) {
			found = -1;
			json_decref(msg);
			json_decref(groups);
			msg = NULL;
		} else {
			json_object_set_new(msg, "groups", groups);
			json_object_set_new(msg, "history", history);
		}
	}
	pg_pool_put(ctx->pool, conn);
	if (found < 0)
		http_pg_error(ex, "database error", errstr);
	else if (found == 0)
		http_exchange_error(ex, 404, "no message with id %" PRId64, id);
	else
		http_exchange_respond(ex, 200, msg);
}

static void api_list_pending(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;
	long long limit, after;
	char errstr[512];
	json_t *page = NULL;
	PGconn *conn;

	if (http_exchange_query_int(ex, "limit", API_DEFAULT_PAGE, 1, API_MAX_PAGE, &limit) != 0 ||
	    http_exchange_query_int(ex, "afterId", 0, 0, INT64_MAX, &after) != 0)
		return;
	conn = http_pg_conn(ex, ctx->pool, ctx->pool_timeout_ms);
	if (conn == NULL)
		return;
	if (message_store_list_pending(conn, after, (int)limit, &page, errstr, sizeof(errstr)) != 0)
		http_pg_error(ex, "database error", errstr);
	else
		http_exchange_respond(ex, 200, page);
	pg_pool_put(ctx->pool, conn);
}

static double api_elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The relay's stalled partitions as [{"topic", "partition", "waitingSeconds", "rows"}], oldest
 * first (at most RELAY_STALLED_LIST_MAX; rs->stalled_count counts them all). */
static json_t *api_health_stalled(const struct relay_status *rs)
{
	json_t *list = json_array();
	int i;

	for (i = 0; list && i < rs->stalled_listed; i++)
		json_array_append_new(list, json_pack("{s:s, s:i, s:f, s:I}", "topic",
		                                      rs->stalled[i].topic, "partition",
		                                      (int)rs->stalled[i].partition,
		                                      "waitingSeconds", rs->stalled[i].age_seconds,
		                                      "rows", (json_int_t)rs->stalled[i].rows));
	return list;
}

/* Database and Kafka reachability, relay lag and counters; 503 when a dependency is down, or
 * when Kafka has left partitions without an answer for longer than FERRY_TRANSACTION_BOUND_MS
 * (reachable brokers do not make committed rows flow). */
static void api_health(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;
	struct outbox_pending_stats stats = {0, 0};
	struct relay_status rs;
	struct timespec t0;
	char db_err[512] = "", kafka_err[512] = "";
	bool db_ok = false, kafka_ok = false;
	int brokers = 0;
	double db_ms = 0;
	PGconn *conn;
	json_t *body;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	conn = pg_pool_get(ctx->pool, ctx->pool_timeout_ms, db_err, sizeof(db_err));
	if (conn) {
		db_ok = message_store_pending_stats(conn, &stats, db_err, sizeof(db_err)) == 0;
		pg_pool_put(ctx->pool, conn);
	}
	db_ms = api_elapsed_ms(&t0);
	memset(&rs, 0, sizeof(rs));
	if (ctx->relay) {
		relay_get_status(ctx->relay, &rs);
		/* A health check must answer quickly: the request's Kafka bound, at most 1 s. */
		brokers =
		    relay_kafka_probe(ctx->relay,
		                      ctx->kafka_timeout_ms > 0 && ctx->kafka_timeout_ms < 1000
		                          ? ctx->kafka_timeout_ms
		                          : 1000,
		                      kafka_err, sizeof(kafka_err));
		kafka_ok = brokers > 0;
		if (kafka_ok && rs.stalled_count > 0) {
			kafka_ok = false;
			snprintf(kafka_err, sizeof(kafka_err),
			         "%d partition(s) stalled: rows wait for Kafka longer than the "
			         "transaction bound (first: %s [%d], %.0f s)",
			         rs.stalled_count, rs.stalled[0].topic,
			         (int)rs.stalled[0].partition, rs.stalled[0].age_seconds);
		}
	} else {
		snprintf(kafka_err, sizeof(kafka_err), "relay disabled on this instance");
		kafka_ok = true; /* nothing here depends on Kafka */
	}
	/* Refused credentials (a password rotated on the broker) stop every Kafka client of this
	 * instance, relay or not (kafka_auth.h). A broker answering the relay's probe has accepted
	 * them again: that ends the 503 at once, without waiting out the window. */
	if (brokers <= 0 && kafka_auth_failing()) {
		kafka_ok = false;
		snprintf(kafka_err, sizeof(kafka_err),
		         "Kafka refused this instance's credentials in the last %d s: check "
		         "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
		         KAFKA_AUTH_FAILING_MS / 1000);
	}
	body = json_pack(
	    "{s:s, s:s, s:s, s:{s:b, s:f, s:s?}, s:{s:b, s:i, s:s?, s:i, s:o}, s:{s:b, s:b, s:I, "
	    "s:I, s:I, s:I, s:i, s:i, s:s?, s:I}, s:{s:I, s:f}}",
	    "status", db_ok && kafka_ok ? "Healthy" : "Unhealthy", "serviceId", ctx->service_id,
	    "instanceId", ctx->instance_id, "database", "ok", db_ok, "latencyMs", db_ms, "error",
	    db_ok ? NULL : http_pg_client_text(ex, "database unavailable", db_err), "kafka", "ok",
	    kafka_ok, "brokers", brokers > 0 ? brokers : 0, "error", kafka_ok ? NULL : kafka_err,
	    "stalledCount", rs.stalled_count, "stalledPartitions", api_health_stalled(&rs), "relay",
	    "enabled", ctx->relay != NULL, "running", rs.running, "published",
	    (json_int_t)rs.published_total, "deliveryErrors", (json_int_t)rs.delivery_errors_total,
	    "failed", (json_int_t)rs.failed_total, "batches", (json_int_t)rs.batches_total,
	    "shards", rs.shards_owned, "relaysLive", rs.relays_live, "lastError",
	    rs.last_error[0] ? rs.last_error : NULL, "detachedRows", (json_int_t)rs.detached_rows,
	    "outbox", "pending", (json_int_t)stats.pending, "oldestPendingAgeSeconds",
	    stats.oldest_age_seconds);
	http_exchange_respond(ex, db_ok && kafka_ok ? 200 : 503, body);
}

/* Liveness: the process answers. Dependencies are /api/messages/health's business. */
static void api_liveness(struct http_exchange *ex, void *opaque)
{
	struct api_context *ctx = opaque;

	http_exchange_respond(ex, 200,
	                      json_pack("{s:s, s:s, s:s}", "status", "ok", "serviceId",
	                                ctx->service_id, "instanceId", ctx->instance_id));
}

const struct http_route *api_messages_routes(struct api_context *ctx, size_t *n)
{
	/* One table per process; main builds one context. */
	static struct http_route routes[] = {
	    {"POST", "/api/messages/send", api_send, NULL, AUTH_ROLE_PRODUCER},
	    {"POST", "/api/messages/send-batch", api_send_batch, NULL, AUTH_ROLE_PRODUCER},
	    {"GET", "/api/messages/health", api_health, NULL, AUTH_ROLE_READER},
	    {"GET", "/api/messages/pending", api_list_pending, NULL, AUTH_ROLE_READER},
	    {"GET", "/api/messages/{id}", api_get_message, NULL, AUTH_ROLE_READER},
	    {"GET", "/health", api_liveness, NULL, HTTP_ROUTE_OPEN},
	};
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		routes[i].opaque = ctx;
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
