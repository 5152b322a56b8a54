/*
 * url_redact.h - a URL as it may be shown: "scheme://host[:port]", nothing else. Webhook URLs
 * often are credentials (userinfo, a token in the query, a secret path as Slack's); errors,
 * logs, failed_message rows, negative acknowledgments and the dashboard name a URL only through
 * these functions.
 *
 * Pure functions on the caller's buffers: any thread, no allocation.
 */
#ifndef FERRY_URL_REDACT_H
#define FERRY_URL_REDACT_H

#include <stddef.h>

/* What url_redact writes for text it cannot read as a URL (nothing of the text is echoed: it
 * may be a secret that was meant to be one). */
#define URL_REDACT_INVALID "(invalid URL)"

/* What url_redact_text puts in place of a secret part of the URL. */
#define URL_REDACT_MARK "[redacted]"

/*
 * Writes "scheme://host" or "scheme://host:port" of `url` into out (NUL-terminated): no
 * userinfo, path, query or fragment. The host is written as given (an IPv6 literal with its
 * brackets). Returns 0; or -1 when url is NULL, not "scheme://authority..." with a valid scheme,
 * a host of registered-name or IPv4 characters or a bracketed IPv6 literal, and a port of 1..5
 * digits up to 65535 (a password holding '/' makes such junk), or when out is too small: then
 * out holds URL_REDACT_INVALID (truncated to out_size; nothing when out_size is 0).
 */
int url_redact(const char *url, char *out, size_t out_size);

/*
 * Copies `text` (a message that may echo `url`, such as a libcurl error) into out, with every
 * occurrence of the whole URL replaced by url_redact's form and every occurrence of its secret
 * parts (userinfo, password, path, query, fragment, and what follows the authority) replaced by
 * URL_REDACT_MARK; a path of one character ("/") is left alone. Truncated to fit out (always
 * NUL-terminated when out_size > 0); a truncated copy never ends inside a secret part, since
 * parts are replaced whole or not copied. url may be junk: then only its whole text is
 * replaced.
 */
void url_redact_text(const char *url, const char *text, char *out, size_t out_size);

#endif
