/*
 * http_client.c - see http_client.h.
 */
#include "common/http_client.h"

#include <stdio.h>
#include <string.h>

static size_t http_client_collect(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct strbuf *sb = opaque;

	if (sb)
		strbuf_append(sb, data, size * nmemb);
	return size * nmemb;
}

/* What the progress callback needs to ask whether to abort. */
struct http_client_abort {
	http_client_abort_fn fn;
	void *arg;
};

static int http_client_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow,
                                curl_off_t ultotal, curl_off_t ulnow)
{
	const struct http_client_abort *a = opaque;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return a->fn(a->arg) ? 1 : 0; /* non-zero: CURLE_ABORTED_BY_CALLBACK */
}

static int http_client_perform(CURL *curl, const char *method, const char *url, const char *json,
                               const char *const *extra_headers, long timeout_ms,
                               const struct http_client_abort *abort, const char *abort_reason,
                               long *status, struct strbuf *reply, char *errstr, size_t errstr_size)
{
	struct curl_slist *headers = NULL;
	CURLcode cc;
	int rc = -1;

	*status = 0;
	for (; extra_headers && *extra_headers; extra_headers++)
		headers = curl_slist_append(headers, *extra_headers);
	if (json) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		/* No "Expect: 100-continue" round trip for larger batches. */
		headers = curl_slist_append(headers, "Expect:");
	}
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (json) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	}
	/* After POSTFIELDS, which would turn a GET into a POST; "GET" without a body is curl's
	 * default and needs no custom request line. */
	if (strcmp(method, "GET") != 0 && !(json && strcmp(method, "POST") == 0))
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_client_collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
	if (abort && abort->fn) {
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_client_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, abort);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	}
	cc = curl_easy_perform(curl);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(errstr, errstr_size, "%s %s: aborted: %s", method, url,
		         abort_reason ? abort_reason : "stopping");
		goto done;
	}
	if (cc != CURLE_OK) {
		snprintf(errstr, errstr_size, "%s %s: %s", method, url, curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	rc = 0;
done:
	curl_slist_free_all(headers);
	return rc;
}

int http_client_post_json(CURL *curl, const char *url, const char *json, long timeout_ms,
                          long *status, struct strbuf *reply, char *errstr, size_t errstr_size)
{
	return http_client_perform(curl, "POST", url, json, NULL, timeout_ms, NULL, NULL, status,
	                           reply, errstr, errstr_size);
}

int http_client_post_json_abortable(CURL *curl, const char *url, const char *json, long timeout_ms,
                                    http_client_abort_fn should_abort, void *abort_arg,
                                    const char *abort_reason, long *status, struct strbuf *reply,
                                    char *errstr, size_t errstr_size)
{
	const struct http_client_abort abort = {should_abort, abort_arg};

	return http_client_perform(curl, "POST", url, json, NULL, timeout_ms, &abort, abort_reason,
	                           status, reply, errstr, errstr_size);
}

int http_client_request(CURL *curl, const char *method, const char *url, const char *json,
                        const char *const *extra_headers, long timeout_ms, long *status,
                        struct strbuf *reply, char *errstr, size_t errstr_size)
{
	return http_client_perform(curl, method, url, json, extra_headers, timeout_ms, NULL, NULL,
	                           status, reply, errstr, errstr_size);
}
