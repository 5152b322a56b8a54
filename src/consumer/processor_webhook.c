/*
 * processor_webhook.c - POSTs each message as JSON to FERRY_WEBHOOK_URL with libcurl (one easy
 * handle per consume thread, so connections are reused). 2xx means processed; any other status,
 * a timeout or a connection error is a failure carrying the reason. The database transaction is
 * open during the POST: keep the webhook fast, or raise FERRY_WEBHOOK_TIMEOUT_MS knowingly.
 */
#include "consumer/processor.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct processor_webhook {
	CURL *curl;
	char *url;
	long timeout_ms;
	struct curl_slist *headers;
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
	cc = curl_easy_perform(w->curl);
	if (cc != CURLE_OK) {
		snprintf(errstr, errstr_size, "webhook %s: %s", w->url, curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(errstr, errstr_size, "webhook %s answered HTTP %ld", w->url, status);
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

int processor_webhook_new(const char *url, long timeout_ms, struct processor *p, char *errstr,
                          size_t errstr_size)
{
	struct processor_webhook *w = calloc(1, sizeof(*w));

	if (w == NULL || (w->url = strdup(url)) == NULL || (w->curl = curl_easy_init()) == NULL) {
		snprintf(errstr, errstr_size, "webhook: out of memory");
		processor_webhook_destroy(w);
		return -1;
	}
	w->timeout_ms = timeout_ms;
	w->headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(w->curl, CURLOPT_URL, w->url);
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(w->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, processor_webhook_discard);
	p->process = processor_webhook_process;
	p->destroy = processor_webhook_destroy;
	p->state = w;
	return 0;
}
