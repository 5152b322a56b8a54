/*
 * webhook_headers.h - the headers the webhook processor adds to every POST, read from the file
 * FERRY_WEBHOOK_HEADERS_FILE: one "Name: value" per line, blank lines and lines starting with
 * '#' ignored. A file rather than a variable because these are credentials (Authorization, an
 * API key): a file is how Kubernetes and Compose mount secrets, it is not in
 * /proc/<pid>/environ or `docker inspect`, and a value may hold any character ';' included
 * without escaping.
 *
 * Values are secrets: no error message, log line or debug output of ferry carries one (errors
 * name the line and the header's name only).
 */
#ifndef FERRY_WEBHOOK_HEADERS_H
#define FERRY_WEBHOOK_HEADERS_H

#include <curl/curl.h>
#include <stddef.h>

#define WEBHOOK_HEADERS_MAX_BYTES 65536 /* a larger file is refused */
#define WEBHOOK_HEADERS_MAX       64    /* headers per file */

/*
 * Parses `text` (len bytes, need not be NUL-terminated) into a libcurl header list appended to
 * *list (the caller owns it: curl_slist_free_all). Each header line is "Name: value": the name
 * an RFC 9110 token, the value trimmed of spaces and tabs, not empty, of visible ASCII, spaces,
 * tabs and bytes >= 0x80; a CR, NUL or other control character anywhere refuses the file (no
 * header injection). Names ferry sets itself or that would break the request (Content-Type,
 * Content-Length, Transfer-Encoding, Host, Expect, Connection) are refused, as is a name given
 * twice. Returns the number of headers added (0 for an empty file), or -1 with one line in
 * errstr naming the line number ("line 3: ...") and never the value; *list is then unchanged.
 * Pure apart from allocation; any thread.
 */
int webhook_headers_parse(const char *text, size_t len, struct curl_slist **list, char *errstr,
                          size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Reads `path` and parses it as webhook_headers_parse does. Errors are prefixed
 * "FERRY_WEBHOOK_HEADERS_FILE: " (and name the path, never the content). Start-up thread.
 */
int webhook_headers_load(const char *path, struct curl_slist **list, char *errstr,
                         size_t errstr_size) __attribute__((warn_unused_result));

#endif
