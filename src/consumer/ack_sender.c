/*
 * ack_sender.c - see ack_sender.h.
 */
#include "consumer/ack_sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/strbuf.h"
#include "consumer/consumer_config.h"
#include "ferry/wire.h"

#define ACK_SENDER_BACKOFF_BASE_MS 100
#define ACK_SENDER_BACKOFF_CAP_MS  5000

struct ack_sender {
	char *conninfo;
	char *url;         /* <producer_url>/api/messages/acknowledge */
	char *auth_header; /* "Authorization: Bearer <ProducerService__ApiKey>", or NULL */
	char *service_id;
	char *instance_id;
	size_t batch_size;
	size_t max_body_bytes; /* largest body of one POST */
	long flush_ms;
	long http_timeout_ms;

	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool woken;       /* under mu: flush now */
	bool stopping;    /* under mu: drain, then exit */
	int64_t deadline; /* under mu: monotonic ms after which a stopping sender exits */
	long left;        /* rows left at exit; -1 unknown */

	PGconn *conn;
	CURL *curl;
	char last_failure[512]; /* the failure last logged at warn; "" after a delivery. The
	                         * same one again (a TLS or 403 refusal on every attempt) is
	                         * logged at debug: one warning per change of state */
};

json_t *ack_sender_body(const struct inbox_ack *acks, size_t n, const char *service_id,
                        const char *instance_id)
{
	json_t *arr = json_array();
	size_t i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		json_t *o = json_pack("{s:I, s:s, s:b, s:s, s:s}", FERRY_ACK_MESSAGE_ID,
		                      (json_int_t)acks[i].message_id, FERRY_ACK_CONSUMER_GROUP,
		                      acks[i].consumer_group, FERRY_ACK_SUCCESS, acks[i].success,
		                      FERRY_ACK_CONSUMER_SERVICE_ID, service_id,
		                      FERRY_ACK_CONSUMER_INSTANCE_ID, instance_id);

		if (o == NULL) {
			json_decref(arr);
			return NULL;
		}
		if (acks[i].error_message) {
			/* The whole text is in failed_message; the producer takes 1,024 bytes, cut
			 * at a character boundary. */
			size_t len = strlen(acks[i].error_message);

			if (len > FERRY_ACK_MAX_STRING_BYTES) {
				len = FERRY_ACK_MAX_STRING_BYTES;
				while (len > 0 &&
				       ((unsigned char)acks[i].error_message[len] & 0xc0) == 0x80)
					len--;
			}
			json_object_set_new(o, FERRY_ACK_ERROR_MESSAGE,
			                    json_stringn(acks[i].error_message, len));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

size_t ack_sender_count_rejected(const json_t *reply)
{
	json_t *results = json_object_get(reply, FERRY_ACK_REPLY_RESULTS), *r;
	size_t i, rejected = 0;

	json_array_foreach (results, i, r) {
		const char *result = json_string_value(json_object_get(r, FERRY_ACK_REPLY_RESULT));

		if (result && (strcmp(result, FERRY_ACK_RESULT_RECORDED) == 0 ||
		               strcmp(result, FERRY_ACK_RESULT_DUPLICATE) == 0))
			continue;
		rejected++;
		log_warn("ack_sender",
		         "producer rejected the acknowledgment of message %" JSON_INTEGER_FORMAT
		         " for group %s: %s (%s); not sending it again",
		         json_integer_value(json_object_get(r, FERRY_ACK_MESSAGE_ID)),
		         json_string_value(json_object_get(r, FERRY_ACK_CONSUMER_GROUP))
		             ? json_string_value(json_object_get(r, FERRY_ACK_CONSUMER_GROUP))
		             : "?",
		         result ? result : "(no result)",
		         json_string_value(json_object_get(r, FERRY_ACK_REPLY_ERROR))
		             ? json_string_value(json_object_get(r, FERRY_ACK_REPLY_ERROR))
		             : "");
	}
	return rejected;
}

/* How many of `acks` (from the first) fit in one body of at most max_bytes; at least 1. */
static size_t ack_sender_fit(const struct ack_sender *s, const struct inbox_ack *acks, size_t n)
{
	size_t used = 2, i; /* [] */

	for (i = 0; i < n; i++) {
		json_t *one = ack_sender_body(&acks[i], 1, s->service_id, s->instance_id);
		char *text = one ? json_dumps(one, JSON_COMPACT) : NULL;
		size_t len = text ? strlen(text) - 2 + 1 : 0; /* without [], with a comma */

		free(text);
		json_decref(one);
		if (i > 0 && used + len > s->max_body_bytes)
			break;
		used += len;
	}
	return i;
}

/* The abort hook of a POST (http_client.h): true once a stopping sender's drain deadline has
 * passed, so a POST begun before the stop cannot outlast the drain by its own timeout. */
static bool ack_sender_past_deadline(void *arg)
{
	struct ack_sender *s = arg;
	bool past;

	pthread_mutex_lock(&s->mu);
	past = s->stopping && clock_monotonic_ms() >= s->deadline;
	pthread_mutex_unlock(&s->mu);
	return past;
}

/* The timeout of the next POST: http_timeout_ms, and no later than the drain's deadline once the
 * sender is stopping. 0: the drain's time is spent, send nothing more. */
static long ack_sender_post_timeout(struct ack_sender *s)
{
	long timeout = s->http_timeout_ms;

	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		int64_t left = s->deadline - clock_monotonic_ms();

		if (left <= 0)
			timeout = 0;
		else if (left < timeout)
			timeout = (long)left;
	}
	pthread_mutex_unlock(&s->mu);
	return timeout;
}

/*
 * POSTs `acks` (n >= 1) as one body and settles them: on 200 they are deleted; on 400 or 413
 * (the producer refuses the body for good) the batch is split in halves, each sent on its own,
 * and an acknowledgment refused alone is set aside (inbox_store_refuse_ack) so that it never
 * blocks the ones behind it. Adds to *settled the rows deleted or set aside. Returns 0, or -1
 * when the producer or the database failed otherwise (the rest stays pending; back off).
 */
static int ack_sender_post(struct ack_sender *s, const struct inbox_ack *acks, size_t n,
                           long *settled)
{
	char errstr[512], note[512];
	json_t *body = NULL, *reply = NULL;
	char *text = NULL;
	struct strbuf rbuf = STRBUF_INIT;
	long status = 0, timeout = ack_sender_post_timeout(s);
	const char *auth_headers[] = {s->auth_header, NULL}; /* empty when no key */
	int rc = -1;

	if (timeout == 0)
		goto shutdown; /* the drain's time is spent */
	body = ack_sender_body(acks, n, s->service_id, s->instance_id);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (text == NULL) {
		log_error("ack_sender", "out of memory building an acknowledgment batch");
		goto done;
	}
	if (http_client_post_json_abortable(s->curl, s->url, text, auth_headers, timeout,
	                                    ack_sender_past_deadline, s,
	                                    "the shutdown's drain time is spent", &status, &rbuf,
	                                    errstr, sizeof(errstr)) != 0) {
		if (ack_sender_past_deadline(s))
			goto shutdown;
		snprintf(note, sizeof(note), "%s", errstr);
	} else if (status == 200) {
		reply = json_loads(strbuf_str(&rbuf), 0, NULL);
		ack_sender_count_rejected(reply);
		if (inbox_store_delete_acks(s->conn, acks, n, errstr, sizeof(errstr)) != 0) {
			/* Delivered but not deleted: they go again and come back "duplicate". */
			log_warn("ack_sender", "cannot delete delivered acknowledgments: %s",
			         errstr);
			goto done;
		}
		log_debug("ack_sender", "delivered %zu acknowledgment(s)", n);
		if (s->last_failure[0] != '\0') {
			log_info("ack_sender", "acknowledgments delivered again");
			s->last_failure[0] = '\0';
		}
		*settled += (long)n;
		rc = 0;
		goto done;
	} else if ((status == 400 || status == 413) && n > 1) {
		/* One of them (at least) is refused: find it by halves, deliver the others. */
		size_t half = n / 2;

		log_info("ack_sender",
		         "producer answered HTTP %ld to %zu acknowledgments; splitting", status, n);
		rc = ack_sender_post(s, acks, half, settled);
		if (rc == 0)
			rc = ack_sender_post(s, acks + half, n - half, settled);
		goto done;
	} else if (status == 400 || status == 413) {
		snprintf(note, sizeof(note), "refused by the producer: HTTP %ld: %.400s", status,
		         strbuf_str(&rbuf));
		log_error(
		    "ack_sender",
		    "producer refused the acknowledgment of message %" PRId64
		    " for group %s (%s); set aside in pending_ack (refused_at), not sent again",
		    acks[0].message_id, acks[0].consumer_group, note);
		if (inbox_store_refuse_ack(s->conn, &acks[0], note, errstr, sizeof(errstr)) != 0) {
			log_warn("ack_sender", "cannot set the refused acknowledgment aside: %s",
			         errstr);
			goto done;
		}
		*settled += 1;
		rc = 0;
		goto done;
	} else {
		snprintf(note, sizeof(note), "POST %s answered HTTP %ld: %.200s", s->url, status,
		         strbuf_str(&rbuf));
	}
	if (strcmp(note, s->last_failure) != 0) {
		log_warn("ack_sender", "%zu acknowledgment(s) not delivered, will retry: %s", n,
		         note);
		snprintf(s->last_failure, sizeof(s->last_failure), "%s", note);
	} else {
		log_debug("ack_sender", "%zu acknowledgment(s) not delivered, will retry: %s", n,
		          note);
	}
	if (inbox_store_note_ack_failure(s->conn, acks, n, note, errstr, sizeof(errstr)) != 0)
		log_warn("ack_sender", "cannot record the failed attempt: %s", errstr);
	goto done;
shutdown:
	/* Not the producer's failure: nothing is noted on the rows, which stay as they were. */
	log_info("ack_sender",
	         "%zu acknowledgment(s) not delivered before the shutdown's drain deadline; they "
	         "stay in pending_ack for the next start",
	         n);
done:
	json_decref(reply);
	strbuf_free(&rbuf);
	free(text);
	json_decref(body);
	return rc;
}

/* One batch of up to batch_size rows, in as many bodies as max_body_bytes asks. Returns rows
 * settled (>0), 0 when nothing is pending, -1 on failure (logged). */
static long ack_sender_flush_once(struct ack_sender *s, long *left)
{
	char errstr[512];
	struct inbox_ack *acks = NULL;
	size_t n = 0, i = 0;
	long settled = 0, rc = -1;

	if (pg_ensure(&s->conn, s->conninfo, "ferry-ack-sender", errstr, sizeof(errstr)) != 0) {
		log_warn("ack_sender", "database unavailable: %s", errstr);
		goto done;
	}
	if (inbox_store_fetch_acks(s->conn, s->batch_size, &acks, &n, errstr, sizeof(errstr)) !=
	    0) {
		log_warn("ack_sender", "cannot read pending acknowledgments: %s", errstr);
		goto done;
	}
	if (n == 0) {
		*left = 0;
		rc = 0;
		goto done;
	}
	while (i < n) {
		size_t k = ack_sender_fit(s, acks + i, n - i);

		if (ack_sender_post(s, acks + i, k, &settled) != 0)
			break;
		i += k;
	}
	/* What was settled counts even when a later body failed: the loop comes back at once. */
	rc = i < n && settled == 0 ? -1 : settled;
done:
	inbox_acks_free(acks, n);
	return rc;
}

static void *ack_sender_main(void *arg)
{
	struct ack_sender *s = arg;
	unsigned failures = 0;
	long wait_ms = 0, left = -1;

	for (;;) {
		long r;
		bool stopping;

		pthread_mutex_lock(&s->mu);
		if (wait_ms > 0 && !s->woken && !s->stopping) {
			struct timespec ts = clock_deadline(CLOCK_MONOTONIC, wait_ms);

			pthread_cond_timedwait(&s->cond, &s->mu, &ts);
		}
		/* A wake-up does not cut a failure backoff short (but a stop does). */
		if (failures == 0)
			s->woken = false;
		stopping = s->stopping;
		if (stopping && clock_monotonic_ms() >= s->deadline) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		pthread_mutex_unlock(&s->mu);

		r = ack_sender_flush_once(s, &left);
		if (r < 0) {
			wait_ms = pg_backoff_ms(failures++, ACK_SENDER_BACKOFF_BASE_MS,
			                        ACK_SENDER_BACKOFF_CAP_MS);
			if (stopping) {
				/* Keep trying until the deadline, but not in a tight loop. */
				int64_t until = clock_monotonic_ms() + wait_ms;

				while (clock_monotonic_ms() < until) {
					pthread_mutex_lock(&s->mu);
					if (clock_monotonic_ms() >= s->deadline) {
						pthread_mutex_unlock(&s->mu);
						goto out;
					}
					pthread_mutex_unlock(&s->mu);
					{
						struct timespec d = {0, 20 * 1000000L};

						nanosleep(&d, NULL);
					}
				}
				wait_ms = 0;
			}
			continue;
		}
		failures = 0;
		if (r > 0) {
			left = -1;
			wait_ms = (size_t)r == s->batch_size ? 0 : s->flush_ms;
			if ((size_t)r == s->batch_size || stopping)
				wait_ms = 0;
			continue;
		}
		if (stopping)
			break; /* drained */
		wait_ms = s->flush_ms;
	}
out:
	pthread_mutex_lock(&s->mu);
	s->left = left;
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct ack_sender *ack_sender_new(const struct ack_sender_options *opts)
{
	struct ack_sender *s = calloc(1, sizeof(*s));
	size_t url_len;

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	clock_cond_init_monotonic(&s->cond);
	url_len = strlen(opts->producer_url);
	while (url_len > 0 && opts->producer_url[url_len - 1] == '/')
		url_len--;
	s->conninfo = strdup(opts->conninfo);
	s->service_id = strdup(opts->service_id);
	s->instance_id = strdup(opts->instance_id);
	s->url = malloc(url_len + sizeof(FERRY_PATH_ACKNOWLEDGE));
	s->curl = curl_easy_init();
	s->auth_header = http_client_bearer_header(opts->api_key);
	if (s->conninfo == NULL || s->service_id == NULL || s->instance_id == NULL ||
	    s->url == NULL || s->curl == NULL ||
	    (opts->api_key != NULL && opts->api_key[0] != '\0' && s->auth_header == NULL)) {
		ack_sender_destroy(s);
		return NULL;
	}
	memcpy(s->url, opts->producer_url, url_len);
	strcpy(s->url + url_len, FERRY_PATH_ACKNOWLEDGE);
	s->batch_size = opts->batch_size;
	s->max_body_bytes = opts->max_body_bytes > 0 ? opts->max_body_bytes : 262144;
	s->flush_ms = opts->flush_ms;
	s->http_timeout_ms = opts->http_timeout_ms > 0 ? opts->http_timeout_ms : 10000;
	s->left = -1;
	return s;
}

int ack_sender_start(struct ack_sender *s, char *errstr, size_t errstr_size)
{
	int err = pthread_create(&s->thread, NULL, ack_sender_main, s);

	if (err != 0) {
		snprintf(errstr, errstr_size, "cannot start the ack sender: %s", strerror(err));
		return -1;
	}
	s->started = true;
	return 0;
}

void ack_sender_wake(struct ack_sender *s)
{
	pthread_mutex_lock(&s->mu);
	if (!s->woken) {
		s->woken = true;
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->mu);
}

long ack_sender_stop(struct ack_sender *s, long timeout_ms)
{
	long left;

	if (!s->started)
		return -1;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	s->deadline = clock_monotonic_ms() + timeout_ms;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->started = false;
	pthread_mutex_lock(&s->mu);
	left = s->left;
	pthread_mutex_unlock(&s->mu);
	return left;
}

void ack_sender_destroy(struct ack_sender *s)
{
	if (s == NULL)
		return;
	if (s->started)
		(void)ack_sender_stop(s, 0);
	if (s->conn)
		PQfinish(s->conn);
	if (s->curl)
		curl_easy_cleanup(s->curl);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cond);
	free(s->conninfo);
	free(s->url);
	free(s->auth_header);
	free(s->service_id);
	free(s->instance_id);
	free(s);
}

void ack_sender_options_from_config(const struct consumer_config *cfg,
                                    struct ack_sender_options *out)
{
	*out = (struct ack_sender_options){
	    .producer_url = cfg->producer_url,
	    .api_key = cfg->producer_api_key,
	    .service_id = cfg->service_id,
	    .batch_size = (size_t)cfg->ack_batch_size,
	    .flush_ms = cfg->ack_flush_ms,
	    .max_body_bytes = (size_t)cfg->ack_max_body_bytes,
	    .http_timeout_ms = 10000,
	};
}
