/*
 * producer_metrics.c - see producer_metrics.h.
 */
#include "producer/producer_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "common/metrics_http.h"
#include "producer/relay/relay.h"

/* Seconds: from a few milliseconds (a warm relay) to minutes (an outage, a slow consumer). */
static const double producer_metrics_latency_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800};
static const double producer_metrics_batch_buckets[] = {1,   5,   10,   25,   50,   100,
                                                        250, 500, 1000, 2500, 5000, 10000};

#define NB(a) (sizeof(a) / sizeof((a)[0]))

int producer_metrics_init(struct producer_metrics *m)
{
	struct metrics *r;

	memset(m, 0, sizeof(*m));
	r = m->registry = metrics_new();
	if (r == NULL)
		return -1;
	m->enqueued =
	    metrics_counter(r, "ferry_messages_enqueued_total",
	                    "Messages this instance's REST API committed to the outbox.", "topic");
	m->published =
	    metrics_counter(r, "ferry_messages_published_total",
	                    "Messages this instance's relay published and marked SENT.", "topic");
	m->acknowledged =
	    metrics_counter(r, "ferry_messages_acknowledged_total",
	                    "Successful acknowledgments recorded, per group.", "topic,group");
	m->nacked = metrics_counter(r, "ferry_messages_negatively_acknowledged_total",
	                            "Negative acknowledgments (processing failures) recorded.",
	                            "topic,group");
	m->retried =
	    metrics_counter(r, "ferry_messages_retried_total",
	                    "Redeliveries this instance's retry job republished.", "topic,group");
	m->failed = metrics_counter(r, "ferry_messages_failed_total",
	                            "Deliveries settled FAILED (retries spent after failures).",
	                            "topic,group");
	m->expired = metrics_counter(
	    r, "ferry_messages_expired_total",
	    "Deliveries settled EXPIRED (retries spent, never acknowledged).", "topic,group");
	m->commit_to_publish = metrics_histogram(
	    r, "ferry_commit_to_publish_seconds",
	    "From the enqueuing transaction's start to Kafka's confirmation.", "topic",
	    producer_metrics_latency_buckets, NB(producer_metrics_latency_buckets));
	m->publish_to_ack = metrics_histogram(
	    r, "ferry_publish_to_ack_seconds",
	    "From a group's (last) delivery to its successful acknowledgment (0 when the "
	    "acknowledgment arrived before the relay recorded the send).",
	    "topic,group", producer_metrics_latency_buckets, NB(producer_metrics_latency_buckets));
	m->batch_size =
	    metrics_histogram(r, "ferry_relay_batch_size", "Rows per batch the relay marked.", NULL,
	                      producer_metrics_batch_buckets, NB(producer_metrics_batch_buckets));
	m->delivery_errors =
	    metrics_counter(r, "ferry_kafka_delivery_errors_total",
	                    "Rows Kafka refused or failed to deliver (relay).", NULL);
	m->relay_batches =
	    metrics_counter(r, "ferry_relay_batches_total", "Batches the relay marked.", NULL);
	m->relay_failed = metrics_counter(
	    r, "ferry_relay_messages_failed_total",
	    "Messages the relay gave up on: Kafka refused them FERRY_RELAY_MAX_ATTEMPTS times.",
	    NULL);
	m->relay_stalled =
	    metrics_gauge(r, "ferry_relay_stalled_partitions",
	                  "Kafka partitions this relay has had rows waiting for longer than "
	                  "FERRY_TRANSACTION_BOUND_MS (no leader, too few in-sync replicas).",
	                  NULL);
	m->relay_detached = metrics_gauge(
	    r, "ferry_relay_detached_rows",
	    "Rows this relay handed to Kafka whose confirmation is late, waiting outside any "
	    "database transaction.",
	    NULL);
	m->backlog = metrics_gauge(r, "ferry_outbox_backlog",
	                           "PENDING messages in the outbox (all instances).", NULL);
	m->oldest_pending =
	    metrics_gauge(r, "ferry_outbox_oldest_pending_age_seconds",
	                  "Age of the oldest PENDING message: the relay's lag.", NULL);
	m->unacked = metrics_gauge(
	    r, "ferry_deliveries_unacknowledged",
	    "Deliveries a group has been sent and not acknowledged yet (SENT), per group; every "
	    "registered group, 0 included (all instances).",
	    "topic,group");
	m->oldest_unacked = metrics_gauge(
	    r, "ferry_delivery_oldest_unacknowledged_age_seconds",
	    "Age of a group's oldest unacknowledged delivery, from its first send: the group's lag.",
	    "topic,group");
	m->retry_due = metrics_gauge(
	    r, "ferry_retry_due_deliveries",
	    "Deliveries whose retry-job action (redelivery or verdict) is due and not yet taken: the "
	    "retry job's backlog (all instances).",
	    NULL);
	m->database_up = metrics_database_up(r);
	m->retry_errors =
	    metrics_counter(r, "ferry_retry_publish_errors_total",
	                    "Redeliveries Kafka refused or did not confirm in time.", NULL);
	m->cleanup_deleted =
	    metrics_counter(r, "ferry_cleanup_deleted_total",
	                    "Rows the cleanup job deleted past retention.", "kind");
	m->http_requests = metrics_http_requests(r);
	if (!m->enqueued || !m->published || !m->acknowledged || !m->nacked || !m->retried ||
	    !m->failed || !m->expired || !m->commit_to_publish || !m->publish_to_ack ||
	    !m->batch_size || !m->delivery_errors || !m->relay_batches || !m->relay_failed ||
	    !m->relay_stalled || !m->relay_detached || !m->backlog || !m->oldest_pending ||
	    !m->unacked || !m->oldest_unacked || !m->retry_due || !m->database_up ||
	    !m->retry_errors || !m->cleanup_deleted || !m->http_requests) {
		producer_metrics_destroy(m);
		return -1;
	}
	return 0;
}

void producer_metrics_destroy(struct producer_metrics *m)
{
	metrics_free(m->registry);
	memset(m, 0, sizeof(*m));
}

/*
 * Reads the delivery gauges; 0 when PostgreSQL answered. Every registered group is listed, so a
 * group that caught up reads 0 instead of keeping its last value. The due count reads only the
 * retry job's own index (message_delivery_due): joining the messages to leave out the rare
 * delivery whose message is not marked SENT yet (an acknowledgment that beat the relay) made
 * PostgreSQL scan the whole outbox once many deliveries were due.
 */
static int api_metrics_deliveries(struct api_metrics_context *ctx, PGconn *conn)
{
	PGresult *res = pg_exec(
	    conn,
	    "SELECT t.topic_name, g.consumer_group_name, count(d.message_id),"
	    " coalesce(extract(epoch FROM now() - min(d.sent_at)), 0), NULL"
	    " FROM ferry.consumer_group_registration g"
	    " JOIN ferry.topic_registration t ON t.id = g.topic_registration_id"
	    " LEFT JOIN ferry.message_delivery d ON d.consumer_group_id = g.id AND d.status = 'SENT'"
	    " GROUP BY 1, 2"
	    " UNION ALL SELECT NULL, NULL, NULL, NULL, count(*) FROM ferry.message_delivery d"
	    " WHERE d.status = 'SENT' AND d.due_at <= now()",
	    0, NULL);
	int i, n, rc = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			const char *labels[2] = {PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)};

			if (!PQgetisnull(res, i, 4)) {
				metric_set(ctx->metrics->retry_due, NULL,
				           strtod(PQgetvalue(res, i, 4), NULL));
				continue;
			}
			metric_set(ctx->metrics->unacked, labels,
			           strtod(PQgetvalue(res, i, 2), NULL));
			metric_set(ctx->metrics->oldest_unacked, labels,
			           strtod(PQgetvalue(res, i, 3), NULL));
		}
		rc = 0;
	}
	PQclear(res);
	return rc;
}

/* Reads the backlog gauges; 0 when PostgreSQL answered. */
static int api_metrics_backlog(struct api_metrics_context *ctx)
{
	char errstr[256];
	PGconn *conn = pg_pool_get(ctx->pool, ctx->pool_timeout_ms, errstr, sizeof(errstr));
	PGresult *res;
	int rc = -1;

	if (conn == NULL)
		return -1;
	res = pg_exec(conn,
	              "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)),"
	              " 0) FROM ferry.outbox_message WHERE status = 'PENDING'",
	              0, NULL);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		metric_set(ctx->metrics->backlog, NULL, strtod(PQgetvalue(res, 0, 0), NULL));
		metric_set(ctx->metrics->oldest_pending, NULL, strtod(PQgetvalue(res, 0, 1), NULL));
		rc = 0;
	}
	PQclear(res);
	if (rc == 0)
		rc = api_metrics_deliveries(ctx, conn);
	pg_pool_put(ctx->pool, conn);
	return rc;
}

static void api_metrics(struct http_exchange *ex, void *opaque)
{
	struct api_metrics_context *ctx = opaque;
	struct producer_metrics *m = ctx->metrics;

	metric_set(m->database_up, NULL, api_metrics_backlog(ctx) == 0 ? 1 : 0);
	if (ctx->relay) {
		struct relay_status st;

		relay_get_status(ctx->relay, &st);
		metric_set(m->delivery_errors, NULL, (double)st.delivery_errors_total);
		metric_set(m->relay_batches, NULL, (double)st.batches_total);
		metric_set(m->relay_failed, NULL, (double)st.failed_total);
		metric_set(m->relay_stalled, NULL, (double)st.stalled_count);
		metric_set(m->relay_detached, NULL, (double)st.detached_rows);
	}
	metrics_http_respond(ex, m->registry);
}

const struct http_route *api_metrics_routes(struct api_metrics_context *ctx, size_t *n)
{
	static struct http_route routes[] = {
	    {"GET", "/metrics", api_metrics, NULL},
	};

	routes[0].opaque = ctx;
	*n = 1;
	return routes;
}
