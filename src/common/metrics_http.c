/*
 * metrics_http.c - see metrics_http.h.
 */
#include "common/metrics_http.h"

#include "common/strbuf.h"

struct metric_family *metrics_http_requests(struct metrics *m)
{
	return metrics_counter(m, "ferry_http_requests_total",
	                       "HTTP requests answered, by route and status.",
	                       "method,route,status");
}

struct metric_family *metrics_database_up(struct metrics *m)
{
	return metrics_gauge(m, "ferry_database_up", "1 when PostgreSQL answered this scrape.",
	                     NULL);
}

void metrics_http_respond(struct http_exchange *ex, struct metrics *m)
{
	struct strbuf out = STRBUF_INIT;

	metrics_render(m, &out);
	if (out.failed)
		http_exchange_error(ex, 503, "out of memory");
	else
		http_exchange_respond_bytes(ex, 200, "text/plain; version=0.0.4; charset=utf-8",
		                            strbuf_str(&out), out.len);
	strbuf_free(&out);
}
