/*
 * fuzz_body.h - a request body read as the producer's HTTP server reads it, for the libFuzzer
 * harnesses of the body parsers: the pre-scan with the default limits (FERRY_HTTP_MAX_JSON_VALUES,
 * FERRY_HTTP_MAX_JSON_DEPTH), the NUL check, then json_loadb with the server's flags (0), as
 * http_exchange_parse_json does. Header-only: each harness is one translation unit.
 */
#ifndef FERRY_FUZZ_BODY_H
#define FERRY_FUZZ_BODY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_scan.h"

#define FUZZ_BODY_MAX_VALUES 50000 /* FERRY_HTTP_MAX_JSON_VALUES's default */
#define FUZZ_BODY_MAX_DEPTH  64    /* FERRY_HTTP_MAX_JSON_DEPTH's default */

/* The body as a handler would get it (caller owns it: json_decref), or NULL when the server
 * would have answered 400/413 before any handler ran. */
static inline json_t *fuzz_body_load(const uint8_t *data, size_t size)
{
	struct json_scan scan;
	char errstr[128];

	if (size == 0 || memchr(data, '\0', size) != NULL)
		return NULL;
	json_scan_init(&scan, FUZZ_BODY_MAX_VALUES, FUZZ_BODY_MAX_DEPTH);
	if (json_scan_feed(&scan, (const char *)data, size, errstr, sizeof(errstr)) != 0)
		return NULL;
	return json_loadb((const char *)data, size, 0, NULL);
}

/* A NUL-terminated copy of the input (caller frees), for parsers of C strings; NULL when out of
 * memory. Exactly size + 1 bytes, so that AddressSanitizer sees any read past the end. */
static inline char *fuzz_body_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
