/*
 * api_dashboard.c - serves the embedded dashboard page (see api_dashboard.h).
 *
 * The page is fixed for the life of the binary, so it is sent as it is with no caching
 * headers: without a Last-Modified or ETag a browser has nothing to cache by heuristics, and
 * after an upgrade the next load gets the new page.
 */
#include "producer/api/api_dashboard.h"

/* Generated from src/producer/api/dashboard/index.html by cmake/embed_file.cmake. */
extern const char dashboard_html[];
extern const size_t dashboard_html_len;

static void api_dashboard_get(struct http_exchange *ex, void *opaque)
{
	(void)opaque;
	http_exchange_respond_bytes(ex, 200, "text/html; charset=utf-8", dashboard_html,
	                            dashboard_html_len);
}

const struct http_route *api_dashboard_routes(size_t *n)
{
	static const struct http_route routes[] = {
	    {"GET", "/", api_dashboard_get, NULL, HTTP_ROUTE_OPEN},
	    {"GET", "/dashboard", api_dashboard_get, NULL, HTTP_ROUTE_OPEN},
	};

	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
