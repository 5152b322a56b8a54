/*
 * api_actor.c - the audit actor of a request: the authenticated key's name, never a
 * client-chosen header while authentication is on.
 */
#include "producer/api/api_actor.h"

#include <stdio.h>

#include "producer/api/redrive_request.h"

void api_actor(struct http_exchange *ex, char *buf, size_t size)
{
	const char *principal = http_exchange_principal(ex);

	if (principal != NULL)
		snprintf(buf, size, "key:%s", principal);
	else
		redrive_request_actor(http_exchange_header(ex, "X-Ferry-Actor"), buf, size);
}
