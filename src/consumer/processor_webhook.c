/*
 * processor_webhook.c - POSTs each message as JSON to FERRY_WEBHOOK_URL with libcurl (one easy
 * handle per consume thread, so connections are reused). 2xx means processed; any other status,
 * a timeout or a connection error is a failure carrying the reason. The database transaction is
 * open during the POST: keep the webhook fast, or raise FERRY_WEBHOOK_TIMEOUT_MS knowingly.
 *
 * The URL and the configured headers are secrets (docs/security.md, Secrets): every message
 * names the webhook as url_redact shows it (scheme://host[:port]), libcurl's detail passes
 * through url_redact_text, and the headers (FERRY_WEBHOOK_HEADERS_FILE) appear in no message.
 * libcurl never runs verbose and never follows a redirect, which would carry the headers to
 * another host.
 */
#include "consumer/processor.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/url_redact.h"
#include "consumer/webhook_headers.h"

struct processor_webhook {
	CURL *curl;
	char *url;                      /* the configured URL: a secret, never printed */
	char shown[300];                /* url_redact's form of it, for every message */
	long timeout_ms;                /* per POST */
	struct curl_slist *headers;     /* Content-Type + FERRY_WEBHOOK_HEADERS_FILE's: secrets */
	char curl_err[CURL_ERROR_SIZE]; /* libcurl's detail of the last failure */
};

/* A JSON string of the bytes when they are valid UTF-8 without NUL, else null. */
static json_t *processor_webhook_text(const void *p, size_t n)
{
	json_t *s;

	if (p == NULL || memchr(p, '\0', n) != NULL)
		return json_null();
	s = json_stringn(p, n); /* NULL when not valid UTF-8 */
	return s ? s : json_null();
}

json_t *processor_webhook_body(const struct ferry_consumed_message *msg)
{
	json_t *headers = json_object(), *body;
	size_t i;

	for (i = 0; i < msg->header_count; i++) {
		const struct ferry_header *h = &msg->headers[i];

		if (h->name && json_object_get(headers, h->name) == NULL)
			json_object_set_new(headers, h->name,
			                    processor_webhook_text(h->value, h->value_len));
	}
	body = json_pack("{s:I, s:s, s:o, s:o, s:o, s:s, s:i, s:I}", "messageId",
	                 (json_int_t)msg->message_id, "topic", msg->topic, "key",
	                 processor_webhook_text(msg->key, msg->key_len), "payload",
	                 processor_webhook_text(msg->payload, msg->payload_len), "headers", headers,
	                 "consumerGroup", msg->consumer_group, "partition", (int)msg->partition,
	                 "offset", (json_int_t)msg->offset);
	return body;
}

static size_t processor_webhook_discard(char *data, size_t size, size_t nmemb, void *opaque)
{
	(void)data;
	(void)opaque;
	return size * nmemb;
}

static int processor_webhook_process(void *state, const struct ferry_consumed_message *msg,
                                     PGconn *txn, char *errstr, size_t errstr_size)
{
	struct processor_webhook *w = state;
	json_t *body = processor_webhook_body(msg);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	long status = 0;
	CURLcode cc;
	int rc = -1;

	(void)txn;
	if (text == NULL) {
		snprintf(errstr, errstr_size, "webhook: cannot encode the message as JSON");
		goto done;
	}
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
	w->curl_err[0] = '\0';
	cc = curl_easy_perform(w->curl);
	if (cc != CURLE_OK) {
		char detail[CURL_ERROR_SIZE + 64];

		/* libcurl's detail may quote the URL or pieces of it. */
		url_redact_text(w->url, w->curl_err[0] ? w->curl_err : curl_easy_strerror(cc),
		                detail, sizeof(detail));
		snprintf(errstr, errstr_size, "webhook %s: %s", w->shown, detail);
		goto done;
	}
	if (curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (status < 200 || status > 299) {
		snprintf(errstr, errstr_size, "webhook %s answered HTTP %ld", w->shown, status);
		goto done;
	}
	rc = 0;
done:
	free(text);
	json_decref(body);
	return rc;
}

static void processor_webhook_destroy(void *state)
{
	struct processor_webhook *w = state;

	if (w == NULL)
		return;
	if (w->curl)
		curl_easy_cleanup(w->curl);
	curl_slist_free_all(w->headers);
	free(w->url);
	free(w);
}

int processor_webhook_new(const char *url, const char *headers_file, long timeout_ms,
                          struct processor *p, char *errstr, size_t errstr_size)
{
	struct processor_webhook *w = calloc(1, sizeof(*w));
	int rc = -1;

	if (w == NULL || (w->url = strdup(url)) == NULL || (w->curl = curl_easy_init()) == NULL ||
	    (w->headers = curl_slist_append(NULL, "Content-Type: application/json")) == NULL) {
		snprintf(errstr, errstr_size, "webhook: out of memory");
		goto done;
	}
	/* Checked at start-up, so a URL libcurl cannot use fails here, named safely. */
	if (url_redact(url, w->shown, sizeof(w->shown)) != 0) {
		snprintf(errstr, errstr_size,
		         "FERRY_WEBHOOK_URL: not a URL of the form scheme://host[:port][/path] "
		         "(its text is not shown: it may hold credentials)");
		goto done;
	}
	if (headers_file && *headers_file &&
	    webhook_headers_load(headers_file, &w->headers, errstr, errstr_size) < 0)
		goto done;
	w->timeout_ms = timeout_ms;
	if (curl_easy_setopt(w->curl, CURLOPT_URL, w->url) != CURLE_OK ||
	    curl_easy_setopt(w->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
		snprintf(errstr, errstr_size,
		         "FERRY_WEBHOOK_URL %s: libcurl refuses it (http or "
		         "https only)",
		         w->shown);
		goto done;
	}
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(w->curl, CURLOPT_VERBOSE, 0L);
	curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, w->curl_err);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, processor_webhook_discard);
	p->process = processor_webhook_process;
	p->destroy = processor_webhook_destroy;
	p->state = w;
	w = NULL;
	rc = 0;
done:
	processor_webhook_destroy(w);
	return rc;
}
