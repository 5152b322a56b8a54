/* fuzz_http_path.c - request targets as the HTTP server routes them: http_path_split, matched
 * against the producer's and the consumer's route patterns, and every captured path parameter
 * and the query string's values read as numbers (http_exchange_param_id, query_int). */
#include "common/http_path.h"
#include "common/http_server.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A sample of the route shapes served (plain segments, one and two parameters, a root). */
static const char *const fuzz_patterns[] = {
    "/",
    "/health",
    "/api/messages/send",
    "/api/messages/{id}",
    "/api/messages/{id}/redrive",
    "/api/topics/{name}/groups/{group}",
    "/api/consumer/groups/{group}/failed",
    "/api/agents/consumers/{serviceId}/{instanceId}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_path_param params[HTTP_MAX_PATH_PARAMS];
	struct http_path path;
	char *uri = malloc(size + 1);
	const char *query;
	long long v;

	if (uri == NULL)
		return 0;
	memcpy(uri, data, size);
	uri[size] = '\0';
	if (http_path_split(&path, uri) == 0) {
		for (size_t i = 0; i < sizeof(fuzz_patterns) / sizeof(fuzz_patterns[0]); i++) {
			size_t n = 0;

			if (!http_path_matches(&path, fuzz_patterns[i], params,
			                       HTTP_MAX_PATH_PARAMS, &n))
				continue;
			for (size_t j = 0; j < n; j++)
				(void)http_path_parse_ll(params[j].value, j % 2 == 1, &v);
		}
		http_path_clear(&path);
	}
	/* The query string's values as libmicrohttpd hands them to query_int: after '=' up to '&'.
	 */
	query = strchr(uri, '?');
	while (query != NULL) {
		char *eq = strchr(query, '='), *amp;

		if (eq == NULL)
			break;
		amp = strchr(eq, '&');
		if (amp != NULL)
			*amp = '\0';
		(void)http_path_parse_ll(eq + 1, true, &v);
		query = amp != NULL ? amp + 1 : NULL;
	}
	free(uri);
	return 0;
}
