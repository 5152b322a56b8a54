/*
 * http_client.h - JSON requests with libcurl, for the clients of other ferry services (the
 * consumer's ack sender and agent registration, ferryctl). The caller owns the CURL handle, so one
 * thread reuses its connections; a handle is never shared between threads.
 * curl_global_init must have been called (main does it before starting threads).
 */
#ifndef FERRY_HTTP_CLIENT_H
#define FERRY_HTTP_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/strbuf.h"

/* TLS for https:// URLs. Verification of the server's certificate and name is always on. */
struct http_client_tls {
	const char *ca_file;   /* PEM CA certificate(s) to trust; NULL or "" = libcurl's default
	                        * store (the system's CAs) */
	const char *cert_file; /* PEM client certificate for mutual TLS; NULL or "" = none */
	const char *key_file;  /* PEM private key of cert_file; needed exactly when it is set */
};

/*
 * Sets the TLS files every later https request of this process uses (a process talks https to
 * one ferry service: the consumer to its producer, ferryctl to the one it is pointed at; the
 * webhook processor has its own client and is not affected). Checks that each file given is
 * readable and that a certificate comes with its key; the paths are copied. Returns 0, or -1
 * with one line in errstr naming the file ("CA file /x.pem: cannot read: No such file or
 * directory") and the previous setting kept. Call from the main thread before any thread
 * makes requests: the setting is read without a lock afterwards.
 */
int http_client_set_tls(const struct http_client_tls *tls, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * POSTs `json` (NUL-terminated) to `url` with Content-Type: application/json and waits at most
 * timeout_ms. On an answer returns 0 with *status (any HTTP status) and the body appended to
 * *reply (may be NULL: body dropped). On a transport error (refused, timeout, DNS) returns -1
 * with libcurl's reason in errstr and *status 0; for a TLS failure, its detailed reason
 * ("SSL certificate problem: unable to get local issuer certificate").
 */
int http_client_post_json(CURL *curl, const char *url, const char *json, long timeout_ms,
                          long *status, struct strbuf *reply, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Sends `method` ("GET", "POST", "PUT", "DELETE", ...) to `url` with the NUL-terminated JSON
 * `json` as body, or no body when json is NULL (Content-Type: application/json either way,
 * for any method but GET and HEAD: ferry's services refuse writes without it), plus the
 * NULL-terminated list of "Name: value" `headers` (NULL: none), and waits at most timeout_ms.
 * Results and failures as http_client_post_json, whose errstr names the method and the URL
 * ("GET http://127.0.0.1:5301/api/topics: Couldn't connect to server").
 */
int http_client_request(CURL *curl, const char *method, const char *url, const char *json,
                        const char *const *headers, long timeout_ms, long *status,
                        struct strbuf *reply, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * Asked while a request runs (on every bit of traffic, and at least about once a second while
 * the peer is silent), on the requesting thread: returns true to abort the request now. For a
 * shutdown that must not wait out a timeout set before it began.
 */
typedef bool (*http_client_abort_fn)(void *arg);

/*
 * http_client_post_json with the NULL-terminated "Name: value" `headers` (NULL: none) that
 * also ends early when should_abort(abort_arg) returns true: then
 * returns -1 with "... aborted: <abort_reason>" in errstr (abort_reason copied into it; NULL
 * reads "stopping") and *status 0. should_abort may be NULL (never aborts).
 */
int http_client_post_json_abortable(CURL *curl, const char *url, const char *json,
                                    const char *const *headers, long timeout_ms,
                                    http_client_abort_fn should_abort, void *abort_arg,
                                    const char *abort_reason, long *status, struct strbuf *reply,
                                    char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * The header line "Authorization: Bearer <key>" as a new string (the caller frees), or NULL
 * when key is NULL or "" (no key to send). Also NULL when out of memory: callers with a key
 * treat NULL as a failure. The key is a secret: never log the line.
 */
char *http_client_bearer_header(const char *key);

#endif
