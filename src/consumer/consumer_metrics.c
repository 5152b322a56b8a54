/*
 * consumer_metrics.c - see consumer_metrics.h.
 */
#include "consumer/consumer_metrics.h"

#include <string.h>

#include "common/metrics_http.h"
#include "consumer/consume_loop.h"
#include "consumer/inbox_cleanup.h"
#include "consumer/inbox_store.h"

int consumer_metrics_init(struct consumer_metrics *m)
{
	struct metrics *r;

	memset(m, 0, sizeof(*m));
	r = m->registry = metrics_new();
	if (r == NULL)
		return -1;
	m->processed = metrics_counter(r, "ferry_consumer_messages_processed_total",
	                               "Messages processed and committed, per group.", "group");
	m->duplicates = metrics_counter(
	    r, "ferry_consumer_messages_duplicate_total",
	    "Copies of already processed messages, recognised and acknowledged again.", "group");
	m->failed =
	    metrics_counter(r, "ferry_consumer_messages_failed_total",
	                    "Processing attempts that failed (negatively acknowledged).", "group");
	m->skipped =
	    metrics_counter(r, "ferry_consumer_records_skipped_total",
	                    "Records for another group, or not written by ferry.", "group");
	m->partitions = metrics_gauge(r, "ferry_consumer_assigned_partitions",
	                              "Kafka partitions this instance holds, per group.", "group");
	m->ack_backlog =
	    metrics_gauge(r, "ferry_consumer_ack_backlog",
	                  "Acknowledgments waiting to be accepted by the producer.", NULL);
	m->ack_oldest = metrics_gauge(r, "ferry_consumer_ack_oldest_age_seconds",
	                              "Age of the oldest acknowledgment still waiting.", NULL);
	m->ack_refused = metrics_gauge(
	    r, "ferry_consumer_acks_refused",
	    "Acknowledgments the producer refused for good (HTTP 400/413), set aside in pending_ack.",
	    NULL);
	m->database_up = metrics_database_up(r);
	m->inbox_deleted = metrics_counter(r, "ferry_consumer_inbox_deleted_total",
	                                   "Inbox rows deleted past retention.", NULL);
	m->http_requests = metrics_http_requests(r);
	if (metrics_incomplete(r)) {
		consumer_metrics_destroy(m);
		return -1;
	}
	return 0;
}

void consumer_metrics_destroy(struct consumer_metrics *m)
{
	metrics_free(m->registry);
	memset(m, 0, sizeof(*m));
}

static void api_consumer_metrics(struct http_exchange *ex, void *opaque)
{
	struct api_consumer_metrics_context *ctx = opaque;
	struct consumer_metrics *m = ctx->metrics;
	char errstr[256];
	int64_t backlog = 0, refused = 0;
	double oldest = 0;
	bool db_ok = false;
	PGconn *conn;
	size_t i;

	for (i = 0; i < ctx->loop_count; i++) {
		struct consume_loop_status st;
		const char *group = consume_loop_group(ctx->loops[i]);

		consume_loop_status(ctx->loops[i], &st);
		metric_set(m->processed, &group, (double)st.processed);
		metric_set(m->duplicates, &group, (double)st.duplicates);
		metric_set(m->failed, &group, (double)st.failed);
		metric_set(m->skipped, &group, (double)st.skipped);
		metric_set(m->partitions, &group, (double)st.assigned_partitions);
	}
	conn = pg_pool_get(ctx->pool, ctx->pool_timeout_ms, errstr, sizeof(errstr));
	if (conn && inbox_store_ack_backlog(conn, &backlog, &oldest, errstr, sizeof(errstr)) == 0) {
		db_ok = true;
		metric_set(m->ack_backlog, NULL, (double)backlog);
		metric_set(m->ack_oldest, NULL, oldest);
	}
	if (db_ok && inbox_store_refused_acks(conn, &refused, errstr, sizeof(errstr)) == 0)
		metric_set(m->ack_refused, NULL, (double)refused);
	pg_pool_put(ctx->pool, conn);
	metric_set(m->database_up, NULL, db_ok ? 1 : 0);
	metric_set(m->inbox_deleted, NULL, (double)inbox_cleanup_deleted(ctx->cleanup));
	metrics_http_respond(ex, m->registry);
}

const struct http_route *api_consumer_metrics_routes(struct api_consumer_metrics_context *ctx,
                                                     size_t *n)
{
	static struct http_route routes[] = {
	    {"GET", "/metrics", api_consumer_metrics, NULL, AUTH_ROLE_READER},
	};

	routes[0].opaque = ctx;
	*n = 1;
	return routes;
}
