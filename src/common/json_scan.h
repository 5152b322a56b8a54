/*
 * json_scan.h - a pre-scan of JSON text that bounds what parsing it will cost.
 *
 * jansson builds the whole document before any handler can look at it: a 1 MiB body of
 * "[{},{},...]" is some 350,000 objects and about 70 MiB of heap. The scan reads the text as it
 * arrives, piece by piece, without building anything, and stops as soon as the document would
 * hold more values than allowed or nest deeper than allowed. It does not check the syntax
 * (jansson does, afterwards): it only tracks strings, so that brackets and commas inside them do
 * not count.
 *
 * The count is an upper bound on the number of values jansson will build: every value but the
 * first follows an opening bracket or a comma, so values <= 1 + brackets opened + commas.
 * Object keys are not counted apart: each member is one comma or opening brace, its key and
 * value one entry.
 *
 * Pure logic: no allocation, no locks; one scan per body, any thread.
 */
#ifndef FERRY_JSON_SCAN_H
#define FERRY_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

struct json_scan {
	size_t max_values;  /* more values than this fail the scan; 0 = no limit */
	unsigned max_depth; /* deeper nesting fails the scan; 0 = no limit */
	size_t values;      /* upper bound on the values seen so far (see above) */
	unsigned depth;     /* current nesting of [ and { */
	bool in_string;     /* inside "..." */
	bool escape;        /* the previous byte was a backslash inside a string */
	bool failed;        /* a limit was exceeded; further feeds fail at once */
};

/* Starts a scan with the given limits (0 = unlimited). */
void json_scan_init(struct json_scan *s, size_t max_values, unsigned max_depth);

/*
 * Feeds the next `len` bytes of the text. Returns 0 while the document stays within the limits,
 * or -1 with errstr filled ("JSON nests deeper than 32 levels", "JSON holds more than 1000
 * values") as soon as it does not; every later feed then fails too.
 */
int json_scan_feed(struct json_scan *s, const char *data, size_t len, char *errstr,
                   size_t errstr_size) __attribute__((warn_unused_result));

#endif
