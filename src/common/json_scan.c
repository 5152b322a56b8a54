/*
 * json_scan.c - see json_scan.h.
 */
#include "common/json_scan.h"

#include <stdio.h>

void json_scan_init(struct json_scan *s, size_t max_values, unsigned max_depth)
{
	*s = (struct json_scan){.max_values = max_values, .max_depth = max_depth, .values = 1};
}

int json_scan_feed(struct json_scan *s, const char *data, size_t len, char *errstr,
                   size_t errstr_size)
{
	int rc = -1;

	if (s->failed)
		goto fail;
	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (s->in_string) {
			if (s->escape)
				s->escape = false;
			else if (c == '\\')
				s->escape = true;
			else if (c == '"')
				s->in_string = false;
			continue;
		}
		switch (c) {
		case '"':
			s->in_string = true;
			break;
		case '[':
		case '{':
			s->depth++;
			s->values++;
			if (s->max_depth > 0 && s->depth > s->max_depth) {
				s->failed = true;
				goto fail;
			}
			break;
		case ']':
		case '}':
			/* Unbalanced closers are jansson's to report; never wrap below zero. */
			if (s->depth > 0)
				s->depth--;
			break;
		case ',':
			s->values++;
			break;
		default:
			break;
		}
		if (s->max_values > 0 && s->values > s->max_values) {
			s->failed = true;
			goto fail;
		}
	}
	rc = 0;
	goto done;
fail:
	if (s->max_depth > 0 && s->depth > s->max_depth)
		snprintf(errstr, errstr_size, "JSON nests deeper than %u levels", s->max_depth);
	else
		snprintf(errstr, errstr_size, "JSON holds more than %zu values", s->max_values);
done:
	return rc;
}
