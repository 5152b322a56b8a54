/*
 * relay.c - see relay.h for the design. This file: the relay thread's loop, its batch slots,
 * and the librdkafka callbacks.
 */
#include "producer/relay.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "producer/message_headers.h"
#include "producer/outbox_store.h"
#include "producer/relay_lease.h"

#define RELAY_BACKOFF_BASE_MS 100
#define RELAY_BACKOFF_CAP_MS  5000
/* Rebalancing period of the shard leases; shorter while a shard drains or leases were lost, so a
 * shard changes hands soon after its last batch is marked. */
#define RELAY_LEASE_TICK_MS      1000
#define RELAY_LEASE_TICK_BUSY_MS 100

struct relay_slot;

/* librdkafka's per-message opaque: which slot, which row. Lives in the slot's array. */
struct relay_msg {
	struct relay_slot *slot;
	size_t idx;
	bool blocks_key; /* listed in slot->refused */
};

/* One batch in flight, with the connection whose transaction holds its rows locked. */
struct relay_slot {
	struct relay *relay;                /* back pointer, for the delivery-report callback */
	PGconn *conn;                       /* owned; NULL until connected */
	struct outbox_batch batch;          /* the claimed rows */
	struct outbox_delivery *deliveries; /* batch.n outcomes */
	struct relay_msg *msgs;             /* batch.n opaques */
	size_t outstanding;                 /* produced, report not yet in */
	bool active;                        /* holds a claimed batch */
	uint64_t claim_seq;                 /* claim order, to mark oldest first */
	const struct outbox_row **refused;  /* keyed rows of this batch that block their key */
	size_t nrefused;                    /* entries in refused */
};

struct relay {
	/* Set at creation, read-only afterwards. */
	char *conninfo;
	char *service_id;
	char *instance_id;
	size_t batch_size;
	int nslots;
	long poll_min_ms;
	long poll_idle_ms;
	long shutdown_timeout_ms;
	int max_attempts;
	struct metric_family *metric_published;         /* options.published, or NULL */
	struct metric_family *metric_commit_to_publish; /* options.commit_to_publish, or NULL */
	struct metric_family *metric_batch_size;        /* options.batch_sizes, or NULL */
	rd_kafka_conf_t *conf_template;                 /* duplicated for each producer handle */

	/* The producer handle; replaced after a fatal error under the write lock. */
	pthread_rwlock_t rk_lock;
	rd_kafka_t *rk;

	/* Relay-thread state. */
	struct relay_slot *slots;
	uint64_t claim_seq;
	size_t nrefused;                /* sum of the slots' nrefused: 0 on the fast path */
	struct relay_lease *lease;      /* the shards this relay may publish */
	int shards[RELAY_LEASE_SHARDS]; /* claimable shards, from the last lease tick */
	size_t nshards;                 /* entries in shards; RELAY_LEASE_SHARDS = all */
	long next_lease_at;             /* monotonic ms of the next lease tick */
	unsigned lease_failures;        /* consecutive failed ticks, for the backoff */
	atomic_bool fatal;              /* set by the error callback (on the relay thread) */
	pthread_t thread;
	bool started;

	/* Wake-up and stop, guarded by wake_lock. */
	pthread_mutex_t wake_lock;
	pthread_cond_t wake_cond;
	bool wake_pending;
	bool stopping;

	/* Status, guarded by status_lock. */
	pthread_mutex_t status_lock;
	struct relay_status status;
};

static void relay_set_error(struct relay *relay, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void relay_set_error(struct relay *relay, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&relay->status_lock);
	va_start(ap, fmt);
	vsnprintf(relay->status.last_error, sizeof(relay->status.last_error), fmt, ap);
	va_end(ap);
	log_warn("relay", "%s", relay->status.last_error);
	pthread_mutex_unlock(&relay->status_lock);
}

/* Makes the slot's row idx block its topic and key: the later rows of that key are held back (not
 * produced) until this batch is marked, after which the claim's backoff rule takes over. Called
 * for a row Kafka refused, and for a row being retried after a refusal: a broker's refusal comes
 * back only in the delivery report, and the key's next rows must not be on their way by then. */
static void relay_note_blocker(struct relay_slot *slot, size_t idx)
{
	const struct outbox_row *row = &slot->batch.rows[idx];

	if (row->key == NULL || slot->msgs[idx].blocks_key)
		return; /* no key, no order to keep; or listed already */
	/* At most one entry per row of the batch: sized on first use. */
	if (slot->refused == NULL) {
		slot->refused = calloc(slot->batch.n, sizeof(*slot->refused));
		if (slot->refused == NULL) {
			log_error("relay",
			          "out of memory noting a refused row; its key is not held");
			return;
		}
	}
	slot->refused[slot->nrefused++] = row;
	slot->relay->nrefused++;
	slot->msgs[idx].blocks_key = true;
}

/* True when a row refused earlier in the pipeline (a batch not yet marked) has row's topic and
 * key: then row must not overtake it. */
static bool relay_key_blocked(const struct relay *relay, const struct outbox_row *row)
{
	int i;
	size_t k;

	if (relay->nrefused == 0 || row->key == NULL)
		return false;
	for (i = 0; i < relay->nslots; i++) {
		const struct relay_slot *s = &relay->slots[i];

		for (k = 0; k < s->nrefused; k++) {
			const struct outbox_row *r = s->refused[k];

			if (r->key_len == row->key_len &&
			    memcmp(r->key, row->key, r->key_len) == 0 &&
			    strcmp(r->topic, row->topic) == 0)
				return true;
		}
	}
	return false;
}

/* Delivery report: runs inside rd_kafka_poll on the relay thread. */
static void relay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct relay_msg *rm = m->_private;
	struct outbox_delivery *d = &rm->slot->deliveries[rm->idx];

	(void)rk;
	(void)opaque;
	if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
	    m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
		/* Our own purge (a producer rebuild): not the message's fault, so no attempt is
		 * counted; the row stays as it was and is published again. */
		d->held = true;
	} else if (m->err) {
		d->error = strdup(rd_kafka_err2str(m->err));
		if (d->error == NULL)
			d->error = strdup("delivery failed");
		relay_note_blocker(rm->slot, rm->idx);
	} else {
		d->partition = m->partition;
		d->offset = m->offset;
	}
	rm->slot->outstanding--;
}

static void relay_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct relay *relay = opaque;

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char fatal[512];
		rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));

		log_error("relay", "fatal Kafka producer error %s: %s; rebuilding the producer",
		          rd_kafka_err2name(orig), fatal);
		atomic_store(&relay->fatal, true);
		return;
	}
	/* Broker down and similar: librdkafka reconnects by itself; messages wait in order. */
	log_warn("relay", "Kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static rd_kafka_t *relay_new_producer(struct relay *relay, char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_dup(relay->conf_template);
	rd_kafka_t *rk;

	rd_kafka_conf_set_opaque(conf, relay);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
	if (rk == NULL)
		rd_kafka_conf_destroy(conf); /* rd_kafka_new owns conf only on success */
	return rk;
}

/* Settings the relay's guarantees rest on; the user's KAFKA_* can override the tunables only. */
static int relay_conf_require(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
	static const char *const required[][2] = {
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	};
	size_t i;

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (rd_kafka_conf_set(conf, required[i][0], required[i][1], errstr, errstr_size) !=
		    RD_KAFKA_CONF_OK)
			return -1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, relay_dr_cb);
	rd_kafka_conf_set_error_cb(conf, relay_error_cb);
	return 0;
}

struct relay *relay_new(const struct relay_options *opts, rd_kafka_conf_t *kafka_conf, char *errstr,
                        size_t errstr_size)
{
	struct relay *relay = calloc(1, sizeof(*relay));
	int i;

	if (relay == NULL) {
		rd_kafka_conf_destroy(kafka_conf);
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	relay->conf_template = kafka_conf;
	relay->conninfo = strdup(opts->conninfo);
	relay->service_id = strdup(opts->service_id);
	relay->instance_id = strdup(opts->instance_id);
	relay->batch_size = opts->batch_size;
	relay->nslots = opts->inflight_batches;
	relay->poll_min_ms = opts->poll_min_ms;
	relay->poll_idle_ms = opts->poll_idle_ms;
	relay->shutdown_timeout_ms = opts->shutdown_timeout_ms;
	relay->metric_published = opts->published;
	relay->metric_commit_to_publish = opts->commit_to_publish;
	relay->metric_batch_size = opts->batch_sizes;
	relay->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 1;
	relay->lease = relay_lease_new(opts->conninfo);
	relay->slots = calloc((size_t)relay->nslots, sizeof(*relay->slots));
	pthread_rwlock_init(&relay->rk_lock, NULL);
	pthread_mutex_init(&relay->wake_lock, NULL);
	pthread_cond_init(&relay->wake_cond, NULL);
	pthread_mutex_init(&relay->status_lock, NULL);
	if (!relay->conninfo || !relay->service_id || !relay->instance_id || !relay->slots ||
	    !relay->lease) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	for (i = 0; i < relay->nslots; i++)
		relay->slots[i].relay = relay;
	if (relay_conf_require(relay->conf_template, errstr, errstr_size) != 0)
		goto fail;
	relay->rk = relay_new_producer(relay, errstr, errstr_size);
	if (relay->rk == NULL)
		goto fail;
	return relay;
fail:
	relay_destroy(relay);
	return NULL;
}

/* The record's headers (message_headers.h); the relay's own ids stand in for rows that came
 * through the SQL or C door, which record no producer. */
static rd_kafka_headers_t *relay_headers(struct relay *relay, const struct outbox_row *row)
{
	struct message_header_fields f = {
	    .message_id = row->id,
	    .idempotency_key = row->idempotency_key,
	    .producer_service_id =
	        row->producer_service_id ? row->producer_service_id : relay->service_id,
	    .producer_instance_id =
	        row->producer_instance_id ? row->producer_instance_id : relay->instance_id,
	    .created_at = row->created_at,
	    .target_group = row->target_group,
	    .headers_json = row->headers_json,
	};

	return message_headers_build(&f);
}

static void relay_slot_reset(struct relay_slot *slot)
{
	size_t i;

	for (i = 0; i < slot->batch.n; i++)
		free((char *)slot->deliveries[i].error);
	free(slot->deliveries);
	free(slot->msgs);
	free(slot->refused);
	if (slot->relay) /* NULL only when relay_new failed half-way */
		slot->relay->nrefused -= slot->nrefused;
	outbox_batch_free(&slot->batch);
	slot->deliveries = NULL;
	slot->msgs = NULL;
	slot->refused = NULL;
	slot->nrefused = 0;
	slot->outstanding = 0;
	slot->active = false;
}

/* Hands every row of a freshly claimed batch to librdkafka. Runs on the relay thread. */
static void relay_slot_produce(struct relay *relay, struct relay_slot *slot)
{
	size_t i;

	for (i = 0; i < slot->batch.n; i++) {
		const struct outbox_row *row = &slot->batch.rows[i];
		struct outbox_delivery *d = &slot->deliveries[i];
		rd_kafka_headers_t *hdrs;
		rd_kafka_resp_err_t err;

		d->id = row->id;
		slot->msgs[i].slot = slot;
		slot->msgs[i].idx = i;
		if (relay_key_blocked(relay, row)) {
			/* An earlier row of this key was refused and is not marked yet. */
			d->held = true;
			continue;
		}
		hdrs = relay_headers(relay, row);
		for (;;) {
			err = rd_kafka_producev(
			    relay->rk, RD_KAFKA_V_TOPIC(row->topic),
			    RD_KAFKA_V_KEY(row->key, row->key_len),
			    RD_KAFKA_V_VALUE((void *)row->payload, row->payload_len),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
			    RD_KAFKA_V_OPAQUE(&slot->msgs[i]), RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			/* Backpressure, not an error: serve delivery reports until there is room.
			 */
			rd_kafka_poll(relay->rk, 100);
		}
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			slot->outstanding++; /* librdkafka owns hdrs now */
			if (row->publish_attempts > 0)
				relay_note_blocker(slot, i);
			continue;
		}
		rd_kafka_headers_destroy(hdrs);
		d->error = strdup(rd_kafka_err2str(err));
		if (d->error == NULL)
			d->error = strdup("produce failed");
		relay_note_blocker(slot, i);
		{
			struct log_ctx ctx = {row->id, row->topic, -1, -1, NULL, NULL};

			log_warn_ctx("relay", &ctx, "Kafka refused the message: %s",
			             rd_kafka_err2str(err));
		}
	}
}

/* Claims one batch into a free slot. Returns rows claimed, or -1 on a database error. */
static long relay_slot_claim(struct relay *relay, struct relay_slot *slot)
{
	char errstr[512];

	if (pg_ensure(&slot->conn, relay->conninfo, "ferry-relay", errstr, sizeof(errstr)) != 0) {
		relay_set_error(relay, "relay cannot reach PostgreSQL: %s", errstr);
		return -1;
	}
	if (relay->nshards == 0)
		return 0; /* no shard leased (yet): nothing to claim */
	/* Owning every shard (one relay) leaves the filter out of the claim altogether. */
	if (outbox_store_claim(slot->conn, relay->batch_size,
	                       relay->nshards == RELAY_LEASE_SHARDS ? NULL : relay->shards,
	                       relay->nshards, &slot->batch, errstr, sizeof(errstr)) != 0) {
		relay_set_error(relay, "claiming pending rows failed: %s", errstr);
		return -1;
	}
	if (slot->batch.n == 0)
		return 0;
	slot->deliveries = calloc(slot->batch.n, sizeof(*slot->deliveries));
	slot->msgs = calloc(slot->batch.n, sizeof(*slot->msgs));
	if (slot->deliveries == NULL || slot->msgs == NULL) {
		relay_set_error(relay, "out of memory for a batch of %zu", slot->batch.n);
		outbox_store_abandon(slot->conn);
		relay_slot_reset(slot);
		return -1;
	}
	slot->active = true;
	slot->claim_seq = ++relay->claim_seq;
	relay_slot_produce(relay, slot);
	return (long)slot->batch.n;
}

/* Seconds since an ISO-8601 UTC timestamp as outbox_store renders created_at
 * ("2026-11-26T20:21:46.123456Z"); -1 when it cannot be read. */
static double relay_age_s(const char *iso, const struct timespec *now)
{
	struct tm tm;
	double frac = 0;
	const char *dot;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (iso == NULL || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
	                          &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	dot = strchr(iso, '.');
	if (dot)
		frac = strtod(dot, NULL);
	return (double)(now->tv_sec - t) + (double)now->tv_nsec / 1e9 - frac;
}

/* Counts a marked batch's deliveries into the metrics (when the relay has them). */
static void relay_count_published(struct relay *relay, const struct relay_slot *slot)
{
	struct timespec now;
	size_t i, delivered = 0;

	if (relay->metric_published == NULL && relay->metric_commit_to_publish == NULL &&
	    relay->metric_batch_size == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	for (i = 0; i < slot->batch.n; i++) {
		const struct outbox_row *row = &slot->batch.rows[i];
		double age;

		if (slot->deliveries[i].error || slot->deliveries[i].held)
			continue;
		delivered++;
		metric_add(relay->metric_published, &row->topic, 1);
		age = relay_age_s(row->created_at, &now);
		if (age >= 0)
			metric_observe(relay->metric_commit_to_publish, &row->topic, age);
	}
	if (delivered > 0)
		metric_observe(relay->metric_batch_size, NULL, (double)delivered);
}

/* Records a finished batch. Returns the number of rows Kafka refused, or -1 when the mark
 * itself failed (the rows stay PENDING and will be published again). */
static long relay_slot_finish(struct relay *relay, struct relay_slot *slot)
{
	char errstr[512];
	size_t i, refused = 0, held = 0, failed = 0, first_refused = 0;
	long rc;

	for (i = 0; i < slot->batch.n; i++) {
		if (slot->deliveries[i].held)
			held++;
		else if (slot->deliveries[i].error && refused++ == 0)
			first_refused = i;
	}
	if (outbox_store_mark(slot->conn, slot->deliveries, slot->batch.n, relay->max_attempts,
	                      errstr, sizeof(errstr)) != 0) {
		relay_set_error(relay, "marking %zu rows failed (they will be sent again): %s",
		                slot->batch.n, errstr);
		rc = -1;
	} else {
		for (i = 0; i < slot->batch.n; i++) {
			const struct outbox_row *row = &slot->batch.rows[i];
			struct log_ctx ctx = {row->id, row->topic, -1, -1, NULL, NULL};

			if (slot->deliveries[i].error == NULL || slot->deliveries[i].held ||
			    row->publish_attempts + 1 < relay->max_attempts)
				continue;
			failed++;
			log_error_ctx("relay", &ctx, "FAILED after %d attempts: %s",
			              row->publish_attempts + 1, slot->deliveries[i].error);
		}
		pthread_mutex_lock(&relay->status_lock);
		relay->status.published_total += slot->batch.n - refused - held;
		relay->status.delivery_errors_total += refused;
		relay->status.failed_total += failed;
		relay->status.batches_total++;
		pthread_mutex_unlock(&relay->status_lock);
		relay_count_published(relay, slot);
		if (refused) {
			/* Name a row that actually failed, not merely the batch's first. */
			relay_set_error(relay,
			                "%zu of %zu messages were refused by Kafka (first: message "
			                "%" PRId64
			                ": %s); %zu are now FAILED, the rest wait and are "
			                "retried",
			                refused, slot->batch.n, slot->deliveries[first_refused].id,
			                slot->deliveries[first_refused].error, failed);
		}
		rc = (long)refused;
	}
	relay_slot_reset(slot);
	return rc;
}

/* Marks finished batches, oldest claim first. Returns the smallest per-slot result (-1 on a
 * mark failure, else the number of delivery failures summed), or 0 when nothing finished. */
static long relay_finish_done(struct relay *relay, int *finished)
{
	long worst = 0;

	*finished = 0;
	for (;;) {
		struct relay_slot *oldest = NULL;
		int i;
		long r;

		for (i = 0; i < relay->nslots; i++) {
			struct relay_slot *s = &relay->slots[i];

			if (s->active && s->outstanding == 0 &&
			    (oldest == NULL || s->claim_seq < oldest->claim_seq))
				oldest = s;
		}
		if (oldest == NULL)
			return worst;
		r = relay_slot_finish(relay, oldest);
		(*finished)++;
		if (r < 0)
			worst = -1;
		else if (worst >= 0)
			worst += r;
	}
}

static int relay_active_count(const struct relay *relay)
{
	int i, n = 0;

	for (i = 0; i < relay->nslots; i++)
		n += relay->slots[i].active;
	return n;
}

static struct relay_slot *relay_free_slot(struct relay *relay)
{
	int i;

	for (i = 0; i < relay->nslots; i++)
		if (!relay->slots[i].active)
			return &relay->slots[i];
	return NULL;
}

/* Purges everything librdkafka holds and waits for the purge reports, so no opaque outlives
 * its slot. Relay thread only. */
static size_t relay_outstanding(const struct relay *relay)
{
	size_t n = 0;
	int i;

	for (i = 0; i < relay->nslots; i++)
		n += relay->slots[i].outstanding;
	return n;
}

static void relay_drain_kafka(struct relay *relay)
{
	int guard = 0;

	rd_kafka_purge(relay->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	/* Purged messages report promptly; the guard only protects against a librdkafka bug. */
	while (relay_outstanding(relay) > 0 && guard++ < 600)
		rd_kafka_poll(relay->rk, 100);
	if (relay_outstanding(relay) > 0)
		log_error("relay", "%zu delivery reports never arrived after a purge",
		          relay_outstanding(relay));
}

/* After a fatal idempotent-producer error: fail what is in flight (it stays PENDING and is
 * published again in id order), then replace the handle. */
static void relay_rebuild_producer(struct relay *relay)
{
	char errstr[512];
	rd_kafka_t *fresh;
	int finished;

	relay_drain_kafka(relay);
	(void)relay_finish_done(relay, &finished);
	for (;;) {
		fresh = relay_new_producer(relay, errstr, sizeof(errstr));
		if (fresh)
			break;
		relay_set_error(relay, "cannot create a Kafka producer: %s", errstr);
		sleep(1);
	}
	pthread_rwlock_wrlock(&relay->rk_lock);
	rd_kafka_destroy(relay->rk);
	relay->rk = fresh;
	pthread_rwlock_unlock(&relay->rk_lock);
	atomic_store(&relay->fatal, false);
	log_info("relay", "Kafka producer rebuilt");
}

static bool relay_wait(struct relay *relay, long ms)
{
	struct timespec deadline = clock_deadline(CLOCK_REALTIME, ms);
	bool stopping;

	pthread_mutex_lock(&relay->wake_lock);
	while (!relay->wake_pending && !relay->stopping)
		if (pthread_cond_timedwait(&relay->wake_cond, &relay->wake_lock, &deadline) ==
		    ETIMEDOUT)
			break;
	relay->wake_pending = false;
	stopping = relay->stopping;
	pthread_mutex_unlock(&relay->wake_lock);
	return stopping;
}

static bool relay_take_wake(struct relay *relay, bool *stopping)
{
	bool woken;

	pthread_mutex_lock(&relay->wake_lock);
	woken = relay->wake_pending;
	relay->wake_pending = false;
	*stopping = relay->stopping;
	pthread_mutex_unlock(&relay->wake_lock);
	return woken;
}

/* On stop: give the batches in flight a bounded time, mark what arrived, roll back the rest. */
static void relay_shutdown_flush(struct relay *relay)
{
	long deadline = clock_monotonic_ms() + relay->shutdown_timeout_ms;
	int finished, i;

	while (relay_active_count(relay) > 0 && clock_monotonic_ms() < deadline) {
		rd_kafka_poll(relay->rk, 50);
		(void)relay_finish_done(relay, &finished);
	}
	if (relay_active_count(relay) > 0) {
		log_warn("relay",
		         "shutdown: %d batch(es) still in flight after %ld ms; they stay "
		         "PENDING and will be sent again",
		         relay_active_count(relay), relay->shutdown_timeout_ms);
		for (i = 0; i < relay->nslots; i++)
			if (relay->slots[i].active)
				outbox_store_abandon(relay->slots[i].conn);
		relay_drain_kafka(relay);
		for (i = 0; i < relay->nslots; i++)
			if (relay->slots[i].active)
				relay_slot_reset(&relay->slots[i]);
	}
}

static uint64_t relay_oldest_active_seq(const struct relay *relay)
{
	uint64_t oldest = UINT64_MAX;
	int i;

	for (i = 0; i < relay->nslots; i++)
		if (relay->slots[i].active && relay->slots[i].claim_seq < oldest)
			oldest = relay->slots[i].claim_seq;
	return oldest;
}

/* Rebalances the shard leases when due. Returns true when the claimable shards changed. */
static bool relay_lease_step(struct relay *relay)
{
	char errstr[512];
	int before[RELAY_LEASE_SHARDS];
	size_t nbefore = relay->nshards;
	int owned = 0, draining = 0, live = 0;
	long now = clock_monotonic_ms();

	if (now < relay->next_lease_at)
		return false;
	memcpy(before, relay->shards, sizeof(before));
	if (relay_lease_tick(relay->lease, relay->claim_seq, relay_oldest_active_seq(relay), errstr,
	                     sizeof(errstr)) != 0) {
		relay_set_error(
		    relay, "shard leases lost, claiming nothing until they are back: %s", errstr);
		relay->next_lease_at =
		    now + pg_backoff_ms(relay->lease_failures++, RELAY_BACKOFF_BASE_MS,
		                        RELAY_BACKOFF_CAP_MS);
	} else {
		relay->lease_failures = 0;
		relay_lease_counts(relay->lease, &owned, &draining, &live);
		relay->next_lease_at = now + (draining > 0 || live == 0 ? RELAY_LEASE_TICK_BUSY_MS
		                                                        : RELAY_LEASE_TICK_MS);
	}
	relay->nshards = relay_lease_claimable(relay->lease, relay->shards);
	pthread_mutex_lock(&relay->status_lock);
	relay->status.shards_owned = owned;
	relay->status.relays_live = live;
	pthread_mutex_unlock(&relay->status_lock);
	return relay->nshards != nbefore ||
	       memcmp(before, relay->shards, relay->nshards * sizeof(int)) != 0;
}

/* How long the loop may sleep for `want_ms` without missing the next lease tick. */
static long relay_sleep_ms(const struct relay *relay, long want_ms)
{
	long until_lease = relay->next_lease_at - clock_monotonic_ms();

	if (until_lease < 1)
		until_lease = 1;
	return want_ms < until_lease ? want_ms : until_lease;
}

static void *relay_main(void *arg)
{
	struct relay *relay = arg;
	long idle_ms = relay->poll_min_ms;
	long next_claim_at = 0; /* monotonic ms before which no claim is tried (backoff) */
	unsigned failures = 0;
	bool more_rows = true; /* the last claim filled a whole batch, or we were woken */
	bool stopping = false;

	log_info("relay", "started: batch %zu, %d in flight, poll %ld..%ld ms", relay->batch_size,
	         relay->nslots, relay->poll_min_ms, relay->poll_idle_ms);
	while (!stopping) {
		struct relay_slot *slot;
		int finished = 0;
		long r;

		if (atomic_load(&relay->fatal))
			relay_rebuild_producer(relay);

		if (relay_take_wake(relay, &stopping))
			more_rows = true;
		if (stopping)
			break;
		if (relay_lease_step(relay))
			more_rows = true; /* new shards may hold rows */

		/* Claim while there is room in the pipeline and reason to expect rows. */
		slot = relay_free_slot(relay);
		if (slot && more_rows && clock_monotonic_ms() >= next_claim_at) {
			r = relay_slot_claim(relay, slot);
			if (r < 0) {
				next_claim_at = clock_monotonic_ms() +
				                pg_backoff_ms(failures++, RELAY_BACKOFF_BASE_MS,
				                              RELAY_BACKOFF_CAP_MS);
			} else {
				more_rows = (size_t)r == relay->batch_size;
				idle_ms = r > 0 ? relay->poll_min_ms : idle_ms;
				if (r > 0)
					continue; /* fill the pipeline before waiting */
			}
		}

		if (relay_active_count(relay) > 0) {
			/* Serve delivery reports; short timeout so wake-ups are noticed. */
			rd_kafka_poll(relay->rk, relay_free_slot(relay) ? 5 : 100);
			r = relay_finish_done(relay, &finished);
			if (finished) {
				/* Rows Kafka refused carry their own backoff (next_attempt_at), so
				 * they never slow the rest down; only a failed mark (the database)
				 * does. */
				if (r >= 0) {
					failures = 0;
					/* After a partial batch, rows trickle in: wait poll_min_ms
					 * (or a wake-up) before the next claim, so batches grow
					 * instead of paying a claim, a produce request and a commit
					 * for a few rows each. After a full batch, claim again at
					 * once. */
				} else {
					next_claim_at =
					    clock_monotonic_ms() +
					    pg_backoff_ms(failures++, RELAY_BACKOFF_BASE_MS,
					                  RELAY_BACKOFF_CAP_MS);
				}
			}
			continue;
		}

		rd_kafka_poll(relay->rk, 0); /* error and log events while idle */
		if (clock_monotonic_ms() < next_claim_at) {
			stopping = relay_wait(
			    relay, relay_sleep_ms(relay, next_claim_at - clock_monotonic_ms()));
			more_rows = true;
			continue;
		}
		if (!more_rows) {
			/* Nothing found: sleep until woken or the poll interval, which doubles up
			 * to the fallback while nothing comes. */
			stopping = relay_wait(relay, relay_sleep_ms(relay, idle_ms));
			idle_ms =
			    idle_ms * 2 > relay->poll_idle_ms ? relay->poll_idle_ms : idle_ms * 2;
			more_rows = true;
		}
	}
	relay_shutdown_flush(relay);
	/* Every batch is marked or rolled back: the shards can go to the other relays now. */
	relay_lease_release_all(relay->lease);
	rd_kafka_flush(relay->rk, 1000);
	pthread_mutex_lock(&relay->status_lock);
	relay->status.running = false;
	pthread_mutex_unlock(&relay->status_lock);
	log_info("relay", "stopped");
	return NULL;
}

int relay_start(struct relay *relay, char *errstr, size_t errstr_size)
{
	int err;

	relay->status.running = true;
	err = pthread_create(&relay->thread, NULL, relay_main, relay);
	if (err != 0) {
		relay->status.running = false;
		snprintf(errstr, errstr_size, "cannot start the relay thread: %s", strerror(err));
		return -1;
	}
	relay->started = true;
	return 0;
}

void relay_wake(struct relay *relay)
{
	pthread_mutex_lock(&relay->wake_lock);
	relay->wake_pending = true;
	pthread_cond_signal(&relay->wake_cond);
	pthread_mutex_unlock(&relay->wake_lock);
}

void relay_stop(struct relay *relay)
{
	if (!relay->started)
		return;
	pthread_mutex_lock(&relay->wake_lock);
	relay->stopping = true;
	pthread_cond_signal(&relay->wake_cond);
	pthread_mutex_unlock(&relay->wake_lock);
	pthread_join(relay->thread, NULL);
	relay->started = false;
}

void relay_stop_within(struct relay *relay, long timeout_ms)
{
	if (relay == NULL || !relay->started)
		return;
	/* Read by the relay thread once it sees `stopping`, under the same lock. */
	pthread_mutex_lock(&relay->wake_lock);
	relay->shutdown_timeout_ms = timeout_ms;
	pthread_mutex_unlock(&relay->wake_lock);
	relay_stop(relay);
}

void relay_destroy(struct relay *relay)
{
	int i;

	if (relay == NULL)
		return;
	relay_stop(relay);
	if (relay->rk)
		rd_kafka_destroy(relay->rk);
	if (relay->conf_template)
		rd_kafka_conf_destroy(relay->conf_template);
	for (i = 0; relay->slots && i < relay->nslots; i++) {
		relay_slot_reset(&relay->slots[i]);
		if (relay->slots[i].conn)
			PQfinish(relay->slots[i].conn);
	}
	free(relay->slots);
	relay_lease_destroy(relay->lease); /* closing its connection releases the shards */
	pthread_rwlock_destroy(&relay->rk_lock);
	pthread_mutex_destroy(&relay->wake_lock);
	pthread_cond_destroy(&relay->wake_cond);
	pthread_mutex_destroy(&relay->status_lock);
	free(relay->conninfo);
	free(relay->service_id);
	free(relay->instance_id);
	free(relay);
}

void relay_get_status(struct relay *relay, struct relay_status *st)
{
	pthread_mutex_lock(&relay->status_lock);
	*st = relay->status;
	pthread_mutex_unlock(&relay->status_lock);
}

int relay_kafka_probe(struct relay *relay, int timeout_ms, char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	int brokers = -1;

	pthread_rwlock_rdlock(&relay->rk_lock);
	err = rd_kafka_metadata(relay->rk, 0, NULL, &md, timeout_ms);
	pthread_rwlock_unlock(&relay->rk_lock);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errstr_size, "Kafka metadata request failed: %s",
		         rd_kafka_err2str(err));
		return -1;
	}
	brokers = md->broker_cnt;
	rd_kafka_metadata_destroy(md);
	if (brokers < 1) {
		snprintf(errstr, errstr_size, "Kafka answered with no brokers");
		return -1;
	}
	return brokers;
}
