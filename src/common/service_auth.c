/*
 * service_auth.c - see service_auth.h.
 */
#include "common/service_auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

bool service_auth_is_loopback(const char *host)
{
	struct in_addr v4;
	struct in6_addr v6;
	bool loopback = false;

	if (host == NULL || host[0] == '\0')
		goto done;
	if (strcasecmp(host, "localhost") == 0)
		loopback = true;
	else if (inet_pton(AF_INET, host, &v4) == 1)
		loopback = (ntohl(v4.s_addr) >> 24) == 127;
	else if (inet_pton(AF_INET6, host, &v6) == 1)
		loopback = IN6_IS_ADDR_LOOPBACK(&v6);
done:
	return loopback;
}

int service_auth_start(const struct service_auth_options *o, struct auth_table **out, char *errstr,
                       size_t errstr_size)
{
	struct auth_table *t = NULL;
	struct auth_table_options to = {
	    .conninfo = o->conninfo,
	    .table = o->table,
	    .app_name = o->app_name,
	    .bootstrap_key = o->bootstrap_key,
	    .refresh_ms = o->refresh_ms,
	};
	int rc = -1;

	*out = NULL;
	if (!o->enabled) {
		log_warn("auth", "FERRY_AUTH=off: every route is open to anyone who can reach "
		                 "this port (development only)");
		rc = 0;
		goto done;
	}
	t = auth_table_new(&to, errstr, errstr_size);
	if (t == NULL)
		goto done;
	if (auth_table_active(t) == 0) {
		if (!service_auth_is_loopback(o->host)) {
			snprintf(
			    errstr, errstr_size,
			    "no API key exists and the service would listen on %s: set "
			    "FERRY_BOOTSTRAP_API_KEY or create a key with ferryctl keys create, "
			    "listen on 127.0.0.1, or set FERRY_AUTH=off for development",
			    o->host[0] != '\0' ? o->host : "all interfaces");
			goto done;
		}
		log_warn("auth", "no API key exists yet: every request but /health answers 401 "
		                 "until one is created (ferryctl keys create, or "
		                 "FERRY_BOOTSTRAP_API_KEY)");
	}
	if (auth_table_start(t, errstr, errstr_size) != 0)
		goto done;
	*out = t;
	t = NULL;
	rc = 0;
done:
	auth_table_destroy(t);
	return rc;
}
