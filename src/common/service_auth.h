/*
 * service_auth.h - what both services decide about API keys at start-up (FERRY_AUTH,
 * FERRY_BOOTSTRAP_API_KEY, FERRY_AUTH_REFRESH_MS): whether to check keys at all, the key table
 * to check them against, and whether it is safe to listen where the service was told to.
 *
 * Secure by default: with FERRY_AUTH=on and no active key (no bootstrap key, an empty table)
 * a service listens only on loopback, and warns that every request but /health answers 401
 * until a key exists; on any other address it refuses to start. FERRY_AUTH=off runs every
 * route open, with a warning line.
 *
 * Threads: the service's main thread, at start-up.
 */
#ifndef FERRY_SERVICE_AUTH_H
#define FERRY_SERVICE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/auth_table.h"

struct service_auth_options {
	bool enabled;              /* FERRY_AUTH */
	const char *bootstrap_key; /* FERRY_BOOTSTRAP_API_KEY, or NULL */
	long refresh_ms;           /* FERRY_AUTH_REFRESH_MS */
	const char *conninfo;      /* the service's database */
	const char *table;         /* "ferry.api_key" / "ferry_consumer.api_key" */
	const char *app_name;      /* application_name of the refresh connection */
	const char *host;          /* bind address; "" = all interfaces */
};

/*
 * Starts checking API keys as the options say. Returns 0 with *out the running key table
 * (the caller destroys it after the HTTP server), or NULL when FERRY_AUTH=off; or -1 with one
 * line in errstr (keys unreadable, a non-loopback address without any key).
 */
int service_auth_start(const struct service_auth_options *o, struct auth_table **out, char *errstr,
                       size_t errstr_size) __attribute__((warn_unused_result));

/* Whether host is a loopback address (127.0.0.0/8, ::1, "localhost"); "" (all interfaces)
 * is not. Pure. */
bool service_auth_is_loopback(const char *host);

#endif
