/*
 * batcher.c - see batcher.h.
 */
#include "producer/relay/batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "producer/producer_config.h"

struct batcher_item {
	struct batcher_item *next;
	struct outbox_new_message msg; /* strings point into `text` */
	char *text;                    /* one allocation for all the strings */
	batcher_done_fn done;
	void *opaque;
};

struct batcher {
	char *conninfo;
	char *service_id;
	char *instance_id;
	size_t max_messages;
	long max_wait_ms;
	size_t max_queue;
	enum outbox_registry_mode registry;
	struct pg_session_limits limits;
	long db_timeout_ms;
	struct relay *relay;
	PGconn *conn; /* batcher thread only */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct batcher_item *head, *tail; /* FIFO, guarded by lock */
	size_t queued;
	struct timespec first_at; /* when the oldest queued item arrived */
	bool stopping;
	bool started;
	pthread_t thread;
};

struct batcher *batcher_new(const struct batcher_options *opts, struct relay *relay)
{
	struct batcher *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->conninfo = strdup(opts->conninfo);
	b->service_id = strdup(opts->service_id);
	b->instance_id = strdup(opts->instance_id);
	if (!b->conninfo || !b->service_id || !b->instance_id) {
		free(b->conninfo);
		free(b->service_id);
		free(b->instance_id);
		free(b);
		return NULL;
	}
	b->max_messages = opts->max_messages;
	b->max_wait_ms = opts->max_wait_ms;
	b->max_queue = opts->max_queue;
	b->registry = opts->registry;
	b->limits = opts->limits;
	b->db_timeout_ms = opts->db_timeout_ms;
	b->relay = relay;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	return b;
}

static char *batcher_copy(char **cursor, const char *s)
{
	char *start = *cursor;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(start, s, n);
	*cursor += n;
	return start;
}

int batcher_submit(struct batcher *b, const struct outbox_new_message *msg, batcher_done_fn done,
                   void *opaque, char *errstr, size_t errstr_size)
{
	const char *parts[6] = {msg->topic,           msg->key,
	                        msg->payload,         msg->headers_json,
	                        msg->idempotency_key, msg->target_group};
	struct batcher_item *item;
	size_t total = 0;
	char *cursor;
	int i;

	for (i = 0; i < 6; i++)
		total += parts[i] ? strlen(parts[i]) + 1 : 0;
	item = calloc(1, sizeof(*item));
	if (item)
		item->text = malloc(total ? total : 1);
	if (item == NULL || item->text == NULL) {
		free(item);
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	cursor = item->text;
	item->msg.topic = batcher_copy(&cursor, msg->topic);
	item->msg.key = batcher_copy(&cursor, msg->key);
	item->msg.payload = batcher_copy(&cursor, msg->payload);
	item->msg.headers_json = batcher_copy(&cursor, msg->headers_json);
	item->msg.idempotency_key = batcher_copy(&cursor, msg->idempotency_key);
	item->msg.target_group = batcher_copy(&cursor, msg->target_group);
	item->done = done;
	item->opaque = opaque;

	pthread_mutex_lock(&b->lock);
	if (b->stopping || b->queued >= b->max_queue) {
		bool stopping = b->stopping;

		pthread_mutex_unlock(&b->lock);
		free(item->text);
		free(item);
		snprintf(errstr, errstr_size,
		         stopping ? "the service is shutting down"
		                  : "too many batched messages waiting; retry shortly");
		return -1;
	}
	if (b->tail)
		b->tail->next = item;
	else {
		b->head = item;
		clock_gettime(CLOCK_MONOTONIC, &b->first_at);
	}
	b->tail = item;
	b->queued++;
	if (b->queued == 1 || b->queued >= b->max_messages)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void batcher_complete(struct batcher_item *items, const struct outbox_enqueue_result *res,
                             enum outbox_error err, const char *error)
{
	struct batcher_item *it, *next;
	size_t i = 0;

	for (it = items; it; it = next, i++) {
		next = it->next;
		it->done(it->opaque, err ? NULL : &res[i], err, error);
		free(it->text);
		free(it);
	}
}

/* The answer to a send whose connection was lost mid-statement: ferry's text of the bound's
 * expiry (the client acts on it), while libpq's own reason is logged only. */
static void batcher_lost_reply(const char *errstr, char *reply, size_t reply_size)
{
	const char *what = "database connection lost; outcome unknown (retry with the same "
	                   "idempotencyKey)";

	if (pg_last_timed_out()) {
		snprintf(reply, reply_size, "%s: %s", what, errstr);
	} else {
		log_warn("batcher", "database connection lost: %s", errstr);
		snprintf(reply, reply_size, "%s", what);
	}
}

/* Commits one batch (a list of n items). Runs on the batcher thread. */
static void batcher_flush(struct batcher *b, struct batcher_item *items, size_t n)
{
	struct outbox_new_message *msgs = calloc(n, sizeof(*msgs));
	struct outbox_enqueue_result *res = calloc(n, sizeof(*res));
	struct batcher_item *it;
	char errstr[512], reply[600];
	size_t i;
	int rc;

	if (msgs == NULL || res == NULL) {
		batcher_complete(items, NULL, OUTBOX_ERR_DB, "out of memory");
		goto done;
	}
	for (it = items, i = 0; it; it = it->next, i++)
		msgs[i] = it->msg;
	if (b->conn == NULL || PQstatus(b->conn) != CONNECTION_OK ||
	    PQtransactionStatus(b->conn) != PQTRANS_IDLE) {
		/* A fresh connection gets the session limits before its first batch, their SET
		 * statements bounded like the batches (pg_set_bound fails only out of memory). */
		snprintf(errstr, sizeof(errstr), "out of memory");
		if (pg_ensure(&b->conn, b->conninfo, "ferry-batcher", errstr, sizeof(errstr)) !=
		        0 ||
		    pg_set_bound(b->conn, b->db_timeout_ms) != 0 ||
		    pg_apply_limits(b->conn, &b->limits, errstr, sizeof(errstr)) != 0) {
			if (b->conn != NULL) {
				PQfinish(b->conn);
				b->conn = NULL;
			}
			/* libpq's reason names the host and user: the log's, not the client's. */
			log_warn("batcher", "database unavailable: %s", errstr);
			batcher_complete(items, NULL, OUTBOX_ERR_DB, "database unavailable");
			goto done;
		}
	}
	rc = message_store_enqueue(b->conn, msgs, n, b->service_id, b->instance_id, b->registry,
	                           b->db_timeout_ms, res, errstr, sizeof(errstr));
	if (rc == OUTBOX_OK) {
		if (b->relay)
			relay_wake(b->relay);
		batcher_complete(items, res, OUTBOX_OK, NULL);
		goto done;
	}
	if (PQstatus(b->conn) != CONNECTION_OK) {
		/* The commit may or may not have happened; only an idempotency key makes a retry
		 * safe, and the error says so. */
		batcher_lost_reply(errstr, reply, sizeof(reply));
		batcher_complete(items, NULL, OUTBOX_ERR_DB, reply);
		goto done;
	}
	if (rc == OUTBOX_ERR_TIMEOUT) {
		/* A lock or statement timeout is no one message's fault: one by one, each would
		 * wait as long again. The whole batch fails now (503), nothing written. */
		batcher_complete(items, NULL, OUTBOX_ERR_TIMEOUT, errstr);
		goto done;
	}
	/* The database refused the batch as a whole: find the culprit by committing one by one. */
	log_debug("batcher", "batch of %zu refused (%s); committing one by one", n, errstr);
	for (it = items; it;) {
		struct batcher_item *next = it->next;
		struct outbox_enqueue_result one;

		it->next = NULL;
		rc = message_store_enqueue(b->conn, &it->msg, 1, b->service_id, b->instance_id,
		                           b->registry, b->db_timeout_ms, &one, errstr,
		                           sizeof(errstr));
		if (rc != OUTBOX_OK && PQstatus(b->conn) != CONNECTION_OK)
			batcher_lost_reply(errstr, reply, sizeof(reply));
		else
			snprintf(reply, sizeof(reply), "%s", errstr);
		batcher_complete(it, rc == OUTBOX_OK ? &one : NULL, (enum outbox_error)rc,
		                 rc == OUTBOX_OK ? NULL : reply);
		it = next;
	}
	if (b->relay)
		relay_wake(b->relay);
done:
	free(msgs);
	free(res);
}

static long batcher_elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

static void *batcher_main(void *arg)
{
	struct batcher *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		struct batcher_item *items, *last;
		size_t n;

		while (b->queued == 0 && !b->stopping)
			pthread_cond_wait(&b->cond, &b->lock);
		if (b->queued == 0 && b->stopping)
			break;
		/* Wait for the batch to fill, at most max_wait_ms after its first message. */
		while (b->queued < b->max_messages && !b->stopping) {
			long left = b->max_wait_ms - batcher_elapsed_ms(&b->first_at);
			struct timespec deadline;

			if (left <= 0)
				break;
			deadline = clock_deadline(CLOCK_REALTIME, left);
			if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) == ETIMEDOUT)
				break;
		}
		/* Take up to max_messages from the head. */
		items = last = b->head;
		for (n = 1; n < b->max_messages && last->next; n++)
			last = last->next;
		b->head = last->next;
		if (b->head == NULL)
			b->tail = NULL;
		else
			clock_gettime(CLOCK_MONOTONIC, &b->first_at);
		last->next = NULL;
		b->queued -= n;
		pthread_mutex_unlock(&b->lock);
		batcher_flush(b, items, n);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int batcher_start(struct batcher *b, char *errstr, size_t errstr_size)
{
	int err = pthread_create(&b->thread, NULL, batcher_main, b);

	if (err != 0) {
		snprintf(errstr, errstr_size, "cannot start the batcher thread: %s", strerror(err));
		return -1;
	}
	b->started = true;
	return 0;
}

void batcher_stop(struct batcher *b)
{
	if (!b->started)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	b->started = false;
}

void batcher_destroy(struct batcher *b)
{
	if (b == NULL)
		return;
	batcher_stop(b);
	if (b->conn)
		PQfinish(b->conn);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b->conninfo);
	free(b->service_id);
	free(b->instance_id);
	free(b);
}

void batcher_options_from_config(const struct producer_config *cfg, struct batcher_options *out)
{
	*out = (struct batcher_options){
	    .service_id = cfg->service_id,
	    .max_messages = (size_t)cfg->batch_max_messages,
	    .max_wait_ms = cfg->batch_max_wait_ms,
	    .max_queue = (size_t)cfg->batch_max_messages * 20,
	    .registry = producer_config_registry(cfg),
	    .limits = producer_config_db_limits(cfg),
	    .db_timeout_ms = cfg->db_request_timeout_ms,
	};
}
