/*
 * api_dashboard.h - the live dashboard page of the producer service:
 *   GET /            the page (text/html)
 *   GET /dashboard   the same page
 * The page is src/producer/api/dashboard/index.html, compiled into the binary at build time
 * (cmake/embed_file.cmake): one self-contained file (HTML, CSS, JavaScript) that needs nothing
 * from the network but this service's own REST API, which it polls from the browser. The server
 * side is therefore only this: no state, no database, no context.
 */
#ifndef FERRY_API_DASHBOARD_H
#define FERRY_API_DASHBOARD_H

#include <stddef.h>

#include "common/http_server.h"

/* The routes (a static table, valid for the life of the process); sets *n to their count.
 * Any thread. */
const struct http_route *api_dashboard_routes(size_t *n);

#endif
