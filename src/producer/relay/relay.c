/*
 * relay.c - see relay.h for the design. This file: the relay thread's loop, its batch slots,
 * and the librdkafka callbacks.
 */
#include "producer/relay/relay.h"

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
#include "common/kafka_auth.h"
#include "common/log.h"
#include "common/pg.h"
#include "producer/relay/message_headers.h"
#include "producer/store/message_store.h"
#include "producer/producer_config.h"
#include "producer/relay/relay_book.h"
#include "producer/relay/relay_lease.h"

#define RELAY_BACKOFF_BASE_MS 100
#define RELAY_BACKOFF_CAP_MS  5000
/* Rebalancing period of the shard leases; shorter while a shard drains or leases were lost, so a
 * shard changes hands soon after its last batch is marked. */
#define RELAY_LEASE_TICK_MS      1000
#define RELAY_LEASE_TICK_BUSY_MS 100
/* How often the stalled partitions are recounted for health and metrics. */
#define RELAY_STALL_CHECK_MS 500
/* Longest idle sleep while detached rows wait for their reports (they are marked on waking). */
#define RELAY_DETACHED_POLL_MS 100

typedef int32_t (*relay_partition_fn)(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
                                      int32_t partition_cnt, void *rkt_opaque, void *msg_opaque);

struct relay {
	/* Set at creation, read-only afterwards. */
	char *conninfo;
	char *service_id;
	char *instance_id;
	size_t batch_size;
	long poll_min_ms;
	long poll_idle_ms;
	long shutdown_timeout_ms;
	int max_attempts;
	long txn_bound_ms;                              /* options.txn_bound_ms */
	relay_partition_fn partition_fn;                /* the configured partitioner */
	struct metric_family *metric_published;         /* options.published, or NULL */
	struct metric_family *metric_commit_to_publish; /* options.commit_to_publish, or NULL */
	struct metric_family *metric_batch_size;        /* options.batch_sizes, or NULL */
	rd_kafka_conf_t *conf_template;                 /* duplicated for each producer handle */

	/* The producer handle; replaced after a fatal error under the write lock. */
	pthread_rwlock_t rk_lock;
	rd_kafka_t *rk;

	/* Relay-thread state. */
	struct relay_book book;         /* batches, rows and key blocks in flight */
	struct relay_lease *lease;      /* the shards this relay may publish */
	int shards[RELAY_LEASE_SHARDS]; /* claimable shards, from the last lease tick */
	size_t nshards;                 /* entries in shards; RELAY_LEASE_SHARDS = all */
	long next_lease_at;             /* monotonic ms of the next lease tick */
	unsigned lease_failures;        /* consecutive failed ticks, for the backoff */
	atomic_bool fatal;              /* set by the error callback (on the relay thread) */
	PGconn *mark_conn;        /* owned: marks detached rows in transactions of their own */
	long next_stall_check_at; /* monotonic ms */
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

/* A database failure: `what: errstr` to the log, but only `what` into the status that
 * /api/messages/health and the agent rows show, since libpq's errstr names the server's
 * address and the user (docs/security.md, Secrets). */
static void relay_set_db_error(struct relay *relay, const char *what, const char *errstr)
{
	pthread_mutex_lock(&relay->status_lock);
	snprintf(relay->status.last_error, sizeof(relay->status.last_error),
	         "%s: database error (detail in the log)", what);
	log_warn("relay", "%s: %s", what, errstr);
	pthread_mutex_unlock(&relay->status_lock);
}

/* Delivery report: runs inside rd_kafka_poll on the relay thread. */
static void relay_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	/* Our own purge (a producer rebuild) is not the message's fault: no attempt is counted,
	 * the row stays as it was and is published again. */
	relay_book_report(m->_private,
	                  m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
	                      m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
	                  m->err ? rd_kafka_err2str(m->err) : NULL, m->partition, m->offset);
}

/* Wraps the configured partitioner to learn each row's partition before its report, which a
 * partition that is down never sends. Runs in rd_kafka_producev, or on a librdkafka thread
 * for a topic whose metadata was not known yet: hence the atomic. */
static int32_t relay_partitioner(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
                                 int32_t partition_cnt, void *rkt_opaque, void *msg_opaque)
{
	struct relay *relay = rkt_opaque;
	struct relay_msg *rm = msg_opaque;
	int32_t p = relay->partition_fn(rkt, key, keylen, partition_cnt, NULL, msg_opaque);

	if (rm)
		atomic_store(&rm->partition, p);
	return p;
}

/* librdkafka's partitioners by their `partitioner` setting's name. */
static relay_partition_fn relay_partitioner_named(const char *name)
{
	static const struct {
		const char *name;
		relay_partition_fn fn;
	} known[] = {
	    {"random", rd_kafka_msg_partitioner_random},
	    {"consistent", rd_kafka_msg_partitioner_consistent},
	    {"consistent_random", rd_kafka_msg_partitioner_consistent_random},
	    {"murmur2", rd_kafka_msg_partitioner_murmur2},
	    {"murmur2_random", rd_kafka_msg_partitioner_murmur2_random},
	    {"fnv1a", rd_kafka_msg_partitioner_fnv1a},
	    {"fnv1a_random", rd_kafka_msg_partitioner_fnv1a_random},
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i].name, name) == 0)
			return known[i].fn;
	return NULL;
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
	/* A refused password is logged there and makes health answer 503 (kafka_auth.h). */
	if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
		kafka_auth_note((rd_kafka_resp_err_t)err, reason);
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
static int relay_conf_require(struct relay *relay, rd_kafka_conf_t *conf, char *errstr,
                              size_t errstr_size)
{
	static const char *const required[][2] = {
	    {"enable.idempotence", "true"},
	    {"acks", "all"},
	};
	rd_kafka_topic_conf_t *tconf = rd_kafka_conf_get_default_topic_conf(conf);
	char name[64] = "consistent_random";
	size_t i, size = sizeof(name);

	if (tconf == NULL) {
		tconf = rd_kafka_topic_conf_new();
		rd_kafka_conf_set_default_topic_conf(conf, tconf); /* conf owns it now */
	}
	if (rd_kafka_topic_conf_get(tconf, "partitioner", name, &size) != RD_KAFKA_CONF_OK)
		snprintf(name, sizeof(name), "consistent_random");
	relay->partition_fn = relay_partitioner_named(name);
	if (relay->partition_fn == NULL) {
		snprintf(errstr, errstr_size, "partitioner \"%s\" is not supported by the relay",
		         name);
		return -1;
	}
	/* The wrapper still partitions exactly as configured (the name picks the function). */
	rd_kafka_topic_conf_set_opaque(tconf, relay);
	rd_kafka_topic_conf_set_partitioner_cb(tconf, relay_partitioner);

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
	relay->poll_min_ms = opts->poll_min_ms;
	relay->poll_idle_ms = opts->poll_idle_ms;
	relay->shutdown_timeout_ms = opts->shutdown_timeout_ms;
	relay->metric_published = opts->published;
	relay->metric_commit_to_publish = opts->commit_to_publish;
	relay->metric_batch_size = opts->batch_sizes;
	relay->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : 1;
	relay->txn_bound_ms = opts->txn_bound_ms > 0 ? opts->txn_bound_ms : 30000;
	relay->lease = relay_lease_new(opts->conninfo);
	pthread_rwlock_init(&relay->rk_lock, NULL);
	pthread_mutex_init(&relay->wake_lock, NULL);
	pthread_cond_init(&relay->wake_cond, NULL);
	pthread_mutex_init(&relay->status_lock, NULL);
	if (!relay->conninfo || !relay->service_id || !relay->instance_id || !relay->lease ||
	    relay_book_init(&relay->book, opts->inflight_batches) != 0) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	if (relay_conf_require(relay, relay->conf_template, errstr, errstr_size) != 0)
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

/* Hands every row of a freshly claimed batch to librdkafka. Runs on the relay thread. */
static void relay_slot_produce(struct relay *relay, struct relay_slot *slot)
{
	size_t i;

	for (i = 0; i < slot->batch.n; i++) {
		const struct outbox_row *row = &slot->batch.rows[i];
		struct outbox_delivery *d = &slot->deliveries[i];
		rd_kafka_headers_t *hdrs;
		rd_kafka_resp_err_t err;

		if (relay_book_key_blocked(&relay->book, row)) {
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
			relay_book_produced(slot, i); /* librdkafka owns hdrs now */
			if (row->publish_attempts > 0)
				relay_book_note_blocker(slot, i);
			continue;
		}
		rd_kafka_headers_destroy(hdrs);
		d->error = strdup(rd_kafka_err2str(err));
		if (d->error == NULL)
			d->error = strdup("produce failed");
		relay_book_note_blocker(slot, i);
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
	int64_t *exclude = NULL;
	size_t nexclude = 0, n;
	int rc;

	if (pg_ensure(&slot->conn, relay->conninfo, "ferry-relay", errstr, sizeof(errstr)) != 0) {
		relay_set_db_error(relay, "relay cannot reach PostgreSQL", errstr);
		return -1;
	}
	if (relay->nshards == 0)
		return 0; /* no shard leased (yet): nothing to claim */
	if (relay->book.detached_rows >= RELAY_DETACHED_ROWS_MAX)
		return 0; /* the limit of relay.h: wait until some of them are reported */
	if (relay_book_detached_ids(&relay->book, &exclude, &nexclude) != 0) {
		relay_set_error(relay, "out of memory listing %zu detached rows",
		                relay->book.detached_rows);
		return -1;
	}
	/* Owning every shard (one relay) leaves the filter out of the claim altogether. */
	rc = message_store_claim(slot->conn, relay->batch_size,
	                         relay->nshards == RELAY_LEASE_SHARDS ? NULL : relay->shards,
	                         relay->nshards, exclude, nexclude, relay->txn_bound_ms,
	                         &slot->batch, errstr, sizeof(errstr));
	free(exclude);
	if (rc != 0) {
		relay_set_db_error(relay, "claiming pending rows failed", errstr);
		return -1;
	}
	if (slot->batch.n == 0)
		return 0;
	n = slot->batch.n;
	if (relay_book_open(&relay->book, slot, clock_monotonic_ms()) != 0) {
		relay_set_error(relay, "out of memory for a batch of %zu", n);
		message_store_abandon(slot->conn);
		return -1;
	}
	relay_slot_produce(relay, slot);
	return (long)slot->batch.n;
}

/* Seconds since an ISO-8601 UTC timestamp as message_store renders created_at
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

/* Counts the marked rows idx[0..n) of a batch into the metrics (when the relay has them). */
static void relay_count_published(struct relay *relay, const struct relay_slot *slot,
                                  const size_t *idx, size_t n)
{
	struct timespec now;
	size_t k, delivered = 0;

	if (relay->metric_published == NULL && relay->metric_commit_to_publish == NULL &&
	    relay->metric_batch_size == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	for (k = 0; k < n; k++) {
		const struct outbox_row *row = &slot->batch.rows[idx[k]];
		const struct outbox_delivery *d = &slot->deliveries[idx[k]];
		double age;

		if (d->error || d->held)
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

/*
 * Records the outcome of the slot's rows that have one and are not recorded yet: all of them
 * for a finished batch, those that reported for a batch being detached. With in_txn, `conn`
 * holds the claim's transaction, which this commits (even with nothing to record); otherwise
 * a transaction of its own is opened on `conn` (none when there is nothing to record).
 * Returns the number of rows Kafka refused, or -1 when the mark failed (those rows stay
 * PENDING and will be published again). Either way they count as recorded afterwards.
 */
static long relay_slot_mark(struct relay *relay, struct relay_slot *slot, PGconn *conn, bool in_txn)
{
	char errstr[512];
	struct outbox_delivery *d = NULL;
	struct relay_book_tally t;
	size_t *idx = NULL;
	size_t k, n = 0, failed = 0;
	long rc = 0;

	d = calloc(slot->batch.n, sizeof(*d));
	idx = calloc(slot->batch.n, sizeof(*idx));
	if (d == NULL || idx == NULL) {
		relay_set_error(relay, "out of memory marking %zu rows (they will be sent again)",
		                slot->batch.n);
		if (in_txn)
			message_store_abandon(conn);
		rc = -1;
		goto done;
	}
	n = relay_book_unrecorded(slot, d, idx, &t);
	if (!in_txn && n == 0)
		goto done;
	if ((!in_txn && pg_command(conn, "BEGIN", errstr, sizeof(errstr)) != 0) ||
	    message_store_mark(conn, d, n, relay->max_attempts, errstr, sizeof(errstr)) != 0) {
		char what[96];

		snprintf(what, sizeof(what), "marking %zu rows failed (they will be sent again)",
		         n);
		relay_set_db_error(relay, what, errstr);
		rc = -1;
		goto recorded;
	}
	for (k = 0; k < n; k++) {
		const struct outbox_row *row = &slot->batch.rows[idx[k]];
		const struct outbox_delivery *o = &slot->deliveries[idx[k]];
		struct log_ctx ctx = {row->id, row->topic, -1, -1, NULL, NULL};

		if (o->error == NULL || o->held || row->publish_attempts + 1 < relay->max_attempts)
			continue;
		failed++;
		log_error_ctx("relay", &ctx, "FAILED after %d attempts: %s",
		              row->publish_attempts + 1, o->error);
	}
	pthread_mutex_lock(&relay->status_lock);
	relay->status.published_total += n - t.refused - t.held;
	relay->status.delivery_errors_total += t.refused;
	relay->status.failed_total += failed;
	relay->status.batches_total++;
	pthread_mutex_unlock(&relay->status_lock);
	relay_count_published(relay, slot, idx, n);
	if (t.refused) {
		/* Name a row that actually failed, not merely the batch's first. */
		relay_set_error(relay,
		                "%zu of %zu messages were refused by Kafka (first: message "
		                "%" PRId64 ": %s); %zu are now FAILED, the rest wait and are "
		                "retried",
		                t.refused, n, slot->deliveries[t.first_refused].id,
		                slot->deliveries[t.first_refused].error, failed);
	}
	rc = (long)t.refused;
recorded:
	relay_book_recorded(slot, idx, n);
done:
	free(d);
	free(idx);
	return rc;
}

/* Records a finished batch. Returns the number of rows Kafka refused, or -1 when the mark
 * itself failed (the rows stay PENDING and will be published again). */
static long relay_slot_finish(struct relay *relay, struct relay_slot *slot)
{
	char errstr[512];
	long rc;

	if (!slot->detached) {
		rc = relay_slot_mark(relay, slot, slot->conn, true);
		relay_book_slot_reset(slot);
		return rc;
	}
	/* The marking connection may have sat idle through a PostgreSQL restart: it still says
	 * CONNECTION_OK until used, and a mark failing on it would publish its rows twice. Detached
	 * marks are rare (a partition outage), so a probe first costs nothing that matters; a
	 * failed probe leaves it CONNECTION_BAD and the second pg_ensure reconnects. */
	if (pg_ensure(&relay->mark_conn, relay->conninfo, "ferry-relay", errstr, sizeof(errstr)) !=
	        0 ||
	    (pg_command(relay->mark_conn, "SELECT 1", errstr, sizeof(errstr)) != 0 &&
	     pg_ensure(&relay->mark_conn, relay->conninfo, "ferry-relay", errstr, sizeof(errstr)) !=
	         0)) {
		relay_set_db_error(relay, "marking detached rows failed (they will be sent again)",
		                   errstr);
		return -1;
	}
	return relay_slot_mark(relay, slot, relay->mark_conn, false);
}

/* Marks finished batches (detached ones included), oldest claim first. Returns the smallest
 * per-slot result (-1 on a mark failure, else the number of delivery failures summed), or 0
 * when nothing finished. */
static long relay_finish_done(struct relay *relay, int *finished)
{
	long worst = 0;

	*finished = 0;
	for (;;) {
		size_t oldest_j;
		struct relay_slot *oldest = relay_book_next_done(&relay->book, &oldest_j);
		long r;

		if (oldest == NULL)
			return worst;
		r = relay_slot_finish(relay, oldest);
		if (oldest->detached)
			relay_book_detached_remove(&relay->book, oldest_j);
		(*finished)++;
		if (r < 0)
			worst = -1;
		else if (worst >= 0)
			worst += r;
	}
}

/*
 * Detaches an active batch that still awaits reports (relay.h): records what reported,
 * commits the claim's transaction, and moves the batch to the book's detached list, where the rows
 * still on their way wait outside any transaction. On out of memory the batch stays as it was
 * (tried again at the next check).
 */
static void relay_slot_detach(struct relay *relay, struct relay_slot *slot)
{
	struct relay_slot *d;
	long age = clock_monotonic_ms() - slot->claimed_at;

	d = relay_book_detach_reserve(&relay->book);
	if (d == NULL)
		return;
	(void)relay_slot_mark(relay, slot, slot->conn, true); /* failures: set_error'd, resent */
	relay_book_detach(&relay->book, slot, d);
	log_warn("relay",
	         "%zu of %zu rows still wait for Kafka %ld ms after their claim: the claim is "
	         "committed, they wait outside any transaction",
	         d->outstanding, d->batch.n, age);
}

/* Detaches the batches that wait too long: a third of txn_bound_ms after their claim, or at
 * once when all they wait for are partitions that already hold detached rows. */
static void relay_detach_due(struct relay *relay)
{
	struct relay_slot *due[relay->book.nslots];
	size_t n =
	    relay_book_detach_due(&relay->book, clock_monotonic_ms(), relay->txn_bound_ms, due);
	size_t i;

	for (i = 0; i < n; i++)
		relay_slot_detach(relay, due[i]);
}

/* Recounts, at most every RELAY_STALL_CHECK_MS, the partitions whose rows have waited longer
 * than txn_bound_ms, into the status. */
static void relay_update_stalls(struct relay *relay)
{
	long now = clock_monotonic_ms();
	size_t n, k;

	if (now < relay->next_stall_check_at)
		return;
	relay->next_stall_check_at = now + RELAY_STALL_CHECK_MS;
	n = relay_book_stalled(&relay->book, now, relay->txn_bound_ms);
	pthread_mutex_lock(&relay->status_lock);
	relay->status.stalled_count = (int)n;
	relay->status.stalled_listed = 0;
	for (k = 0; k < n && k < RELAY_STALLED_LIST_MAX; k++) {
		struct relay_stalled_partition *sp = &relay->status.stalled[k];

		snprintf(sp->topic, sizeof(sp->topic), "%s", relay->book.tps[k].topic);
		sp->partition = relay->book.tps[k].partition;
		sp->age_seconds = (double)(now - relay->book.tps[k].oldest) / 1000.0;
		sp->rows = relay->book.tps[k].rows;
		relay->status.stalled_listed++;
	}
	relay->status.detached_rows = relay->book.detached_rows;
	pthread_mutex_unlock(&relay->status_lock);
}

/* Purges everything librdkafka holds and waits for the purge reports, so no opaque outlives
 * its slot. Relay thread only. */
static void relay_drain_kafka(struct relay *relay)
{
	int guard = 0;

	rd_kafka_purge(relay->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	/* Purged messages report promptly; the guard only protects against a librdkafka bug. */
	while (relay_book_outstanding(&relay->book) > 0 && guard++ < 600)
		rd_kafka_poll(relay->rk, 100);
	if (relay_book_outstanding(&relay->book) > 0)
		log_error("relay", "%zu delivery reports never arrived after a purge",
		          relay_book_outstanding(&relay->book));
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

	while ((relay_book_active_count(&relay->book) > 0 || relay->book.ndetached > 0) &&
	       clock_monotonic_ms() < deadline) {
		rd_kafka_poll(relay->rk, 50);
		(void)relay_finish_done(relay, &finished);
	}
	if (relay_book_active_count(&relay->book) > 0 || relay->book.ndetached > 0) {
		log_warn("relay",
		         "shutdown: %d batch(es) and %zu detached row(s) still in flight after %ld "
		         "ms; they stay PENDING and will be sent again",
		         relay_book_active_count(&relay->book), relay->book.detached_rows,
		         relay->shutdown_timeout_ms);
		for (i = 0; i < relay->book.nslots; i++)
			if (relay->book.slots[i].active)
				message_store_abandon(relay->book.slots[i].conn);
		relay_drain_kafka(relay);
		for (i = 0; i < relay->book.nslots; i++)
			if (relay->book.slots[i].active)
				relay_book_slot_reset(&relay->book.slots[i]);
		/* What detached rows delivered before the purge is recorded; the rest is held. */
		(void)relay_finish_done(relay, &finished);
		while (relay->book.ndetached > 0)
			relay_book_detached_remove(&relay->book, relay->book.ndetached - 1);
	}
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
	if (relay_lease_tick(relay->lease, relay->book.claim_seq,
	                     relay_book_oldest_active_seq(&relay->book), errstr,
	                     sizeof(errstr)) != 0) {
		relay_set_db_error(relay, "shard leases lost, claiming nothing until they are back",
		                   errstr);
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
	if (relay->book.ndetached > 0 && until_lease > RELAY_DETACHED_POLL_MS)
		until_lease = RELAY_DETACHED_POLL_MS; /* their reports are served on waking */
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
	         relay->book.nslots, relay->poll_min_ms, relay->poll_idle_ms);
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
		relay_update_stalls(relay);

		/* Claim while there is room in the pipeline and reason to expect rows. */
		slot = relay_book_free_slot(&relay->book);
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

		if (relay_book_active_count(&relay->book) > 0) {
			/* Serve delivery reports; short timeout so wake-ups are noticed. */
			rd_kafka_poll(relay->rk, relay_book_free_slot(&relay->book) ? 5 : 100);
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
			/* No transaction waits on a partition that does not answer. */
			relay_detach_due(relay);
			continue;
		}

		rd_kafka_poll(relay->rk, 0); /* error and log events while idle */
		if (relay->book.ndetached > 0)
			(void)relay_finish_done(relay, &finished);
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
	for (i = 0; relay->book.slots && i < relay->book.nslots; i++)
		if (relay->book.slots[i].conn)
			PQfinish(relay->book.slots[i].conn);
	relay_book_release(&relay->book);
	if (relay->mark_conn)
		PQfinish(relay->mark_conn);
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

void relay_options_from_config(const struct producer_config *cfg, struct relay_options *out)
{
	*out = (struct relay_options){
	    .service_id = cfg->service_id,
	    .batch_size = (size_t)cfg->relay_batch_size,
	    .inflight_batches = (int)cfg->relay_inflight_batches,
	    .poll_min_ms = cfg->relay_poll_min_ms,
	    .poll_idle_ms = cfg->relay_poll_idle_ms,
	    .shutdown_timeout_ms = cfg->shutdown_timeout_ms,
	    .max_attempts = (int)cfg->relay_max_attempts,
	    .txn_bound_ms = cfg->transaction_bound_ms,
	};
}
