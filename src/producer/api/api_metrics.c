/*
 * api_metrics.c - see api_metrics.h. SQL lives in store/metrics_store.c.
 */
#include "producer/api/api_metrics.h"

#include "common/metrics_http.h"
#include "producer/relay/relay.h"
#include "producer/store/metrics_store.h"

static void api_metrics_group(void *arg, const char *topic, const char *group, double unacked,
                              double oldest_unacked_age_s)
{
	struct producer_metrics *m = arg;
	const char *labels[2] = {topic, group};

	metric_set(m->unacked, labels, unacked);
	metric_set(m->oldest_unacked, labels, oldest_unacked_age_s);
}

/* Reads the backlog and delivery gauges; 0 when PostgreSQL answered. */
static int api_metrics_database(struct api_metrics_context *ctx)
{
	char errstr[256];
	PGconn *conn = pg_pool_get(ctx->pool, ctx->pool_timeout_ms, errstr, sizeof(errstr));
	struct producer_metrics *m = ctx->metrics;
	double pending = 0, oldest = 0, due = 0;
	int rc = -1;

	if (conn == NULL)
		return -1;
	if (metrics_store_backlog(conn, &pending, &oldest, errstr, sizeof(errstr)) == 0) {
		metric_set(m->backlog, NULL, pending);
		metric_set(m->oldest_pending, NULL, oldest);
		rc = metrics_store_deliveries(conn, api_metrics_group, m, &due, errstr,
		                              sizeof(errstr));
		if (rc == 0)
			metric_set(m->retry_due, NULL, due);
	}
	pg_pool_put(ctx->pool, conn);
	return rc;
}

static void api_metrics(struct http_exchange *ex, void *opaque)
{
	struct api_metrics_context *ctx = opaque;
	struct producer_metrics *m = ctx->metrics;

	metric_set(m->database_up, NULL, api_metrics_database(ctx) == 0 ? 1 : 0);
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
	    {"GET", "/metrics", api_metrics, NULL, AUTH_ROLE_READER},
	};

	routes[0].opaque = ctx;
	*n = 1;
	return routes;
}
