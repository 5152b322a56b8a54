/*
 * consume_loop.c - see consume_loop.h.
 */
#include "consumer/consume_loop.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "consumer/consume_error.h"
#include "consumer/consume_record.h"
#include "consumer/consumer_config.h"
#include "consumer/inbox_store.h"

#define CONSUME_LOOP_STACK_HEADERS 32 /* more than this are read into a heap array */
#define CONSUME_LOOP_BACKOFF_BASE  100
#define CONSUME_LOOP_BACKOFF_CAP   5000
#define CONSUME_LOOP_REAP_MS       1000 /* wait for a Kafka handle whose close was cut short */

struct consume_loop {
	char *group;
	char **topics;
	size_t topic_count;
	char *conninfo;
	char *service_id;
	char *instance_id;
	long poll_timeout_ms;
	long close_timeout_ms;
	struct ack_sender *ack_sender;

	rd_kafka_t *rk;
	PGconn *conn;
	struct processor proc;
	pthread_t thread;
	bool started;
	bool joined;
	bool closed; /* rd_kafka_consumer_closed() said so: destroy may leave the group */

	atomic_bool stop;
	atomic_bool running;
	atomic_bool db_ok;
	atomic_int assigned;
	atomic_llong last_poll_ms; /* monotonic ms, 0 = never */
	atomic_llong processed, duplicates, failed, skipped;

	pthread_mutex_t assignment_mu; /* guards assignment */
	json_t *assignment;            /* {"topic": [partition, ...]} after the last rebalance */
};

/* Rebuilds the assignment snapshot from librdkafka's current assignment (rebalance callback,
 * consumer thread). */
static void consume_loop_note_assignment(struct consume_loop *loop, rd_kafka_t *rk)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	json_t *snap = json_object();
	int i;

	if (snap && rd_kafka_assignment(rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (i = 0; i < parts->cnt; i++) {
			json_t *arr = json_object_get(snap, parts->elems[i].topic);

			if (arr == NULL) {
				arr = json_array();
				json_object_set_new(snap, parts->elems[i].topic, arr);
			}
			json_array_append_new(arr, json_integer(parts->elems[i].partition));
		}
	}
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	pthread_mutex_lock(&loop->assignment_mu);
	json_decref(loop->assignment);
	loop->assignment = snap;
	pthread_mutex_unlock(&loop->assignment_mu);
}

static void consume_loop_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                   rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct consume_loop *loop = opaque;
	bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (cooperative) {
			error = rd_kafka_incremental_assign(rk, parts);
			atomic_fetch_add(&loop->assigned, parts->cnt);
		} else {
			aerr = rd_kafka_assign(rk, parts);
			atomic_store(&loop->assigned, parts->cnt);
		}
		log_info("consume", "group %s: %d partition(s) assigned", loop->group, parts->cnt);
	} else {
		if (cooperative) {
			error = rd_kafka_incremental_unassign(rk, parts);
			atomic_fetch_sub(&loop->assigned, parts->cnt);
		} else {
			aerr = rd_kafka_assign(rk, NULL);
			atomic_store(&loop->assigned, 0);
		}
		log_info("consume", "group %s: %d partition(s) revoked (%s)", loop->group,
		         parts->cnt, rd_kafka_err2str(err));
	}
	consume_loop_note_assignment(loop, rk);
	if (error) {
		log_error("consume", "group %s: incremental (un)assign failed: %s", loop->group,
		          rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (aerr) {
		log_error("consume", "group %s: assign failed: %s", loop->group,
		          rd_kafka_err2str(aerr));
	}
}

/* Stores offset+1 of the record, for librdkafka's auto commit. */
static void consume_loop_store_offset(struct consume_loop *loop, const rd_kafka_message_t *rkm)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_resp_err_t err;

	rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(rkm->rkt), rkm->partition)
	    ->offset = rkm->offset + 1;
	err = rd_kafka_offsets_store(loop->rk, l);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err)
		err = l->elems[0].err;
	if (err)
		/* The partition was revoked meanwhile: its next owner gets the record again and
		 * finds it in the inbox. */
		log_info("consume",
		         "group %s: offset %" PRId64 " of %s [%" PRId32 "] not stored: %s",
		         loop->group, rkm->offset + 1, rd_kafka_topic_name(rkm->rkt),
		         rkm->partition, rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
}

static void consume_loop_rollback(struct consume_loop *loop)
{
	char errstr[256];

	if (loop->conn && PQstatus(loop->conn) == CONNECTION_OK &&
	    PQtransactionStatus(loop->conn) != PQTRANS_IDLE)
		(void)!pg_command(loop->conn, "ROLLBACK", errstr, sizeof(errstr));
}

/*
 * One attempt at a record for this group. With `refusal` (the record cannot be handled as it
 * is: consume_record.h, CONSUME_REFUSE) the processor is not called and the record goes straight
 * to the failure path with that text. Returns 0 when its outcome is committed (processed,
 * duplicate or failure recorded), -1 when the database failed (nothing committed; retry).
 * A database error that is about the record rather than the database (consume_error.h) is
 * recorded like a processor failure, so the partition moves on.
 */
static int consume_loop_attempt(struct consume_loop *loop, const struct ferry_consumed_message *m,
                                const struct inbox_origin *origin, const char *refusal)
{
	const struct log_ctx ctx = {m->message_id, m->topic,          m->partition,
	                            m->offset,     m->consumer_group, origin->traceparent};
	char errstr[512], perr[1024];
	bool duplicate = false;
	enum consume_error_action action;
	int prc;

	pg_last_sqlstate_clear();
	if (pg_ensure(&loop->conn, loop->conninfo, "ferry-consumer", errstr, sizeof(errstr)) != 0)
		goto db_fail;
	if (refusal) {
		snprintf(perr, sizeof(perr), "refused: %s", refusal);
		goto failed;
	}
	if (pg_command(loop->conn, "BEGIN", errstr, sizeof(errstr)) != 0)
		goto db_fail;
	if (inbox_store_record_processed(loop->conn, m, origin, &duplicate, errstr,
	                                 sizeof(errstr)) != 0)
		goto sql_fail;
	if (duplicate) {
		if (pg_command(loop->conn, "ROLLBACK", errstr, sizeof(errstr)) != 0)
			goto db_fail;
		if (inbox_store_add_ack(loop->conn, m->message_id, m->consumer_group, true, NULL,
		                        errstr, sizeof(errstr)) != 0)
			goto sql_fail;
		atomic_fetch_add(&loop->duplicates, 1);
		log_info_ctx("consume", &ctx, "group %s: duplicate, acknowledged again",
		             m->consumer_group);
		goto committed;
	}
	prc = processor_process(&loop->proc, m, loop->conn, perr, sizeof(perr));
	if (prc == 0) {
		if (inbox_store_add_ack(loop->conn, m->message_id, m->consumer_group, true, NULL,
		                        errstr, sizeof(errstr)) != 0 ||
		    pg_command(loop->conn, "COMMIT", errstr, sizeof(errstr)) != 0)
			goto sql_fail;
		atomic_fetch_add(&loop->processed, 1);
		log_debug_ctx("consume", &ctx, "processed");
		goto committed;
	}
	if (PQstatus(loop->conn) != CONNECTION_OK) {
		snprintf(errstr, sizeof(errstr), "connection lost during processing (%.400s)",
		         perr);
		goto db_fail;
	}
	if (prc == FERRY_PROCESSOR_RETRY) {
		/* Transient by the processor's word (a serialization failure, a deadlock): nothing
		 * recorded, the same record again after the backoff. */
		snprintf(errstr, sizeof(errstr), "processor asked for a retry: %.400s", perr);
		goto db_fail;
	}
	goto record_failure;
sql_fail:
	/* Our own statements failed (the inbox row, the ack, the commit): a lost connection or a
	 * serialization failure is retried, an error about this record is recorded. */
	action = consume_error_classify(pg_last_sqlstate(), PQstatus(loop->conn) == CONNECTION_OK);
	if (action == CONSUME_ERROR_RETRY)
		goto db_fail;
	snprintf(perr, sizeof(perr), "the database refused the record (SQLSTATE %s): %s",
	         pg_last_sqlstate(), errstr);
record_failure:
	consume_loop_rollback(loop);
failed:
	log_warn_ctx("consume", &ctx, "group %s: processing failed: %s", m->consumer_group, perr);
	if (pg_command(loop->conn, "BEGIN", errstr, sizeof(errstr)) != 0 ||
	    inbox_store_record_failure(loop->conn, m, origin, perr, errstr, sizeof(errstr)) != 0 ||
	    inbox_store_add_ack(loop->conn, m->message_id, m->consumer_group, false, perr, errstr,
	                        sizeof(errstr)) != 0 ||
	    pg_command(loop->conn, "COMMIT", errstr, sizeof(errstr)) != 0)
		goto db_fail;
	atomic_fetch_add(&loop->failed, 1);
committed:
	atomic_store(&loop->db_ok, true);
	if (loop->ack_sender)
		ack_sender_wake(loop->ack_sender);
	return 0;
db_fail:
	consume_loop_rollback(loop);
	atomic_store(&loop->db_ok, loop->conn != NULL && PQstatus(loop->conn) == CONNECTION_OK);
	log_warn_ctx("consume", &ctx, "group %s: database error, will retry: %s", m->consumer_group,
	             errstr);
	return -1;
}

/* Sleeps ms, waking early when asked to stop. */
static void consume_loop_sleep(struct consume_loop *loop, long ms)
{
	int64_t until = clock_monotonic_ms() + ms;

	while (!atomic_load(&loop->stop) && clock_monotonic_ms() < until) {
		struct timespec d = {0, 20 * 1000000L};

		nanosleep(&d, NULL);
	}
}

/* Handles one record. Returns 0 when its offset may be stored, -1 when stopping first. */
static int consume_loop_handle(struct consume_loop *loop, const rd_kafka_message_t *rkm)
{
	struct ferry_header stack_headers[CONSUME_LOOP_STACK_HEADERS], *headers = stack_headers;
	struct consume_headers ch;
	struct ferry_consumed_message m;
	struct inbox_origin origin;
	rd_kafka_headers_t *hdrs = NULL;
	enum consume_decision d;
	size_t n = 0, count = 0;
	unsigned attempt = 0;
	int rc = 0;
	struct log_ctx ctx = {
	    -1, rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset, loop->group, NULL};

	if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
		count = rd_kafka_header_cnt(hdrs);
	/* Every header reaches the processor, however many the record has (a fixed array here
	 * once dropped the last user headers of a record without a word). */
	if (count > CONSUME_LOOP_STACK_HEADERS) {
		while ((headers = calloc(count, sizeof(*headers))) == NULL) {
			log_error_ctx("consume", &ctx, "group %s: out of memory for %zu headers",
			              loop->group, count);
			if (atomic_load(&loop->stop))
				return -1;
			consume_loop_sleep(loop, CONSUME_LOOP_BACKOFF_CAP);
		}
	}
	while (n < count) {
		const char *name;
		const void *value;
		size_t size;

		if (rd_kafka_header_get_all(hdrs, n, &name, &value, &size) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		headers[n].name = name;
		headers[n].value = value;
		headers[n].value_len = size;
		n++;
	}
	d = consume_record_classify(headers, n, loop->group, &ch);
	if (d != CONSUME_PROCESS && d != CONSUME_REFUSE) {
		atomic_fetch_add(&loop->skipped, 1);
		if (d == CONSUME_OTHER_GROUP)
			log_debug_ctx("consume", &ctx, "group %s: record for group %s, skipped",
			              loop->group, ch.target_group);
		else
			log_warn_ctx("consume", &ctx,
			             "group %s: record is not ferry's (%s), skipped", loop->group,
			             consume_decision_name(d));
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.message_id = ch.message_id;
	m.topic = ctx.topic;
	m.consumer_group = loop->group;
	m.partition = rkm->partition;
	m.offset = rkm->offset;
	m.key = rkm->key;
	m.key_len = rkm->key_len;
	m.payload = rkm->payload;
	m.payload_len = rkm->len;
	m.idempotency_key =
	    ch.has_idempotency_key && d == CONSUME_PROCESS ? ch.idempotency_key : NULL;
	m.headers = headers;
	m.header_count = n;
	origin.producer_service_id = ch.producer_service_id[0] ? ch.producer_service_id : NULL;
	origin.producer_instance_id = ch.producer_instance_id[0] ? ch.producer_instance_id : NULL;
	origin.consumer_service_id = loop->service_id;
	origin.consumer_instance_id = loop->instance_id;
	origin.traceparent = ch.traceparent[0] ? ch.traceparent : NULL;

	while (consume_loop_attempt(loop, &m, &origin, d == CONSUME_REFUSE ? ch.refusal : NULL) !=
	       0) {
		if (atomic_load(&loop->stop)) {
			rc = -1; /* not committed: the next owner of the partition gets it */
			goto done;
		}
		consume_loop_sleep(loop, pg_backoff_ms(attempt++, CONSUME_LOOP_BACKOFF_BASE,
		                                       CONSUME_LOOP_BACKOFF_CAP));
	}
done:
	if (headers != stack_headers)
		free(headers);
	return rc;
}

/*
 * Leaves the group (revoking the assignment through the rebalance callback; with
 * enable.auto.commit the stored offsets are committed), but waits at most close_timeout_ms:
 * rd_kafka_consumer_close() waits for a broker that may never answer. The asynchronous close
 * runs in librdkafka's threads and hands us its rebalance events on a queue of our own.
 * Consumer thread.
 */
static void consume_loop_close(struct consume_loop *loop)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(loop->rk);
	rd_kafka_error_t *error;
	int64_t started = clock_monotonic_ms();
	int64_t deadline = started + loop->close_timeout_ms;

	if (q == NULL) {
		log_warn("consume", "group %s: out of memory closing the consumer", loop->group);
		return;
	}
	error = rd_kafka_consumer_close_queue(loop->rk, q);
	if (error) {
		log_warn("consume", "group %s: closing the consumer: %s", loop->group,
		         rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		rd_kafka_queue_destroy(q);
		return;
	}
	while (!rd_kafka_consumer_closed(loop->rk) && clock_monotonic_ms() < deadline) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 100);

		if (ev == NULL)
			continue;
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
			consume_loop_rebalance(loop->rk, rd_kafka_event_error(ev),
			                       rd_kafka_event_topic_partition_list(ev), loop);
		else if (rd_kafka_event_error(ev))
			log_warn("consume", "group %s: closing the consumer: %s", loop->group,
			         rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
	}
	loop->closed = rd_kafka_consumer_closed(loop->rk);
	if (!loop->closed)
		log_warn(
		    "consume",
		    "group %s: Kafka did not confirm leaving the group within %ld ms; offsets "
		    "not yet committed are redelivered to the next owner (the inbox makes them "
		    "duplicates)",
		    loop->group, loop->close_timeout_ms);
	else
		log_debug("consume", "group %s: consumer closed in %lld ms", loop->group,
		          (long long)(clock_monotonic_ms() - started));
	rd_kafka_queue_destroy(q);
}

static void *consume_loop_main(void *arg)
{
	struct consume_loop *loop = arg;

	atomic_store(&loop->running, true);
	while (!atomic_load(&loop->stop)) {
		rd_kafka_message_t *rkm =
		    rd_kafka_consumer_poll(loop->rk, (int)loop->poll_timeout_ms);

		atomic_store(&loop->last_poll_ms, clock_monotonic_ms());
		if (rkm == NULL)
			continue;
		if (rkm->err) {
			if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_warn("consume", "group %s: %s", loop->group,
				         rd_kafka_message_errstr(rkm));
		} else if (consume_loop_handle(loop, rkm) == 0) {
			consume_loop_store_offset(loop, rkm);
		}
		rd_kafka_message_destroy(rkm);
	}
	atomic_store(&loop->running, false);
	consume_loop_close(loop);
	atomic_store(&loop->assigned, 0);
	/* The processor is destroyed by consume_loop_join, on the thread that built it. */
	log_info("consume", "group %s: stopped", loop->group);
	return NULL;
}

/* A Kafka handle being destroyed on a thread of its own: freed by whichever of the two sides
 * (that thread, or the loop that stopped waiting for it) is last. */
struct consume_loop_reaper {
	rd_kafka_t *rk;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;   /* under mu: rd_kafka_destroy returned */
	int holders; /* under mu: 2, then 1, then freed */
};

static void consume_loop_reaper_release(struct consume_loop_reaper *r)
{
	bool last;

	pthread_mutex_lock(&r->mu);
	last = --r->holders == 0;
	pthread_mutex_unlock(&r->mu);
	if (last) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cond);
		free(r);
	}
}

static void *consume_loop_reaper_main(void *arg)
{
	struct consume_loop_reaper *r = arg;

	rd_kafka_destroy_flags(r->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	pthread_mutex_lock(&r->mu);
	r->done = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mu);
	consume_loop_reaper_release(r);
	return NULL;
}

/*
 * Destroys the Kafka handle. After a close that Kafka confirmed, at once. After one cut short,
 * librdkafka 2.0's rd_kafka_destroy() still waits for the group coordinator (for minutes, with
 * the broker gone): it runs on a detached thread, awaited at most CONSUME_LOOP_REAP_MS, and is
 * then left to the process exit. Nothing rides on it: offsets not committed are redelivered.
 */
static void consume_loop_destroy_kafka(struct consume_loop *loop)
{
	struct consume_loop_reaper *r = NULL;
	pthread_t thread;
	struct timespec ts;
	bool done;

	if (loop->closed || (r = calloc(1, sizeof(*r))) == NULL) {
		rd_kafka_destroy_flags(loop->rk,
		                       loop->closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		loop->rk = NULL;
		return;
	}
	r->rk = loop->rk;
	r->holders = 2;
	pthread_mutex_init(&r->mu, NULL);
	clock_cond_init_monotonic(&r->cond);
	loop->rk = NULL; /* the reaper's now */
	if (pthread_create(&thread, NULL, consume_loop_reaper_main, r) != 0) {
		rd_kafka_destroy_flags(r->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		r->holders = 1;
		consume_loop_reaper_release(r);
		return;
	}
	pthread_detach(thread);
	ts = clock_deadline(CLOCK_MONOTONIC, CONSUME_LOOP_REAP_MS);
	pthread_mutex_lock(&r->mu);
	while (!r->done)
		if (pthread_cond_timedwait(&r->cond, &r->mu, &ts) == ETIMEDOUT)
			break;
	done = r->done;
	pthread_mutex_unlock(&r->mu);
	if (!done)
		log_warn("consume",
		         "group %s: the Kafka consumer is still shutting down after %d ms; left to "
		         "the process exit",
		         loop->group, CONSUME_LOOP_REAP_MS);
	consume_loop_reaper_release(r);
}

struct consume_loop *consume_loop_new(const struct consume_loop_options *opts,
                                      rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
	struct consume_loop *loop = calloc(1, sizeof(*loop));
	rd_kafka_topic_partition_list_t *subs = NULL;
	char rkerr[512];
	rd_kafka_resp_err_t err;
	size_t i;

	if (loop == NULL)
		goto oom;
	pthread_mutex_init(&loop->assignment_mu, NULL);
	loop->group = strdup(opts->group);
	loop->conninfo = strdup(opts->conninfo);
	loop->service_id = strdup(opts->service_id);
	loop->instance_id = strdup(opts->instance_id);
	loop->topics = calloc(opts->topic_count, sizeof(char *));
	if (!loop->group || !loop->conninfo || !loop->service_id || !loop->instance_id ||
	    !loop->topics)
		goto oom;
	for (i = 0; i < opts->topic_count; i++) {
		if ((loop->topics[i] = strdup(opts->topics[i])) == NULL)
			goto oom;
		loop->topic_count++;
	}
	loop->poll_timeout_ms = opts->poll_timeout_ms;
	loop->close_timeout_ms = opts->close_timeout_ms > 0 ? opts->close_timeout_ms : 10000;
	loop->ack_sender = opts->ack_sender;

	if (processor_new(opts->processor, &loop->proc, errstr, errstr_size) != 0)
		goto fail;
	rd_kafka_conf_set_rebalance_cb(conf, consume_loop_rebalance);
	rd_kafka_conf_set_opaque(conf, loop);
	loop->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof(rkerr));
	if (loop->rk == NULL) {
		snprintf(errstr, errstr_size, "group %s: Kafka consumer: %s", opts->group, rkerr);
		goto fail;
	}
	conf = NULL; /* owned by rk */
	rd_kafka_poll_set_consumer(loop->rk);
	subs = rd_kafka_topic_partition_list_new((int)loop->topic_count);
	for (i = 0; i < loop->topic_count; i++)
		rd_kafka_topic_partition_list_add(subs, loop->topics[i], RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(loop->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (err) {
		snprintf(errstr, errstr_size, "group %s: subscribe failed: %s", opts->group,
		         rd_kafka_err2str(err));
		goto fail;
	}
	return loop;
oom:
	snprintf(errstr, errstr_size, "out of memory");
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	consume_loop_destroy(loop);
	return NULL;
}

int consume_loop_start(struct consume_loop *loop, char *errstr, size_t errstr_size)
{
	int err = pthread_create(&loop->thread, NULL, consume_loop_main, loop);

	if (err != 0) {
		snprintf(errstr, errstr_size, "group %s: cannot start thread: %s", loop->group,
		         strerror(err));
		return -1;
	}
	loop->started = true;
	return 0;
}

void consume_loop_request_stop(struct consume_loop *loop)
{
	atomic_store(&loop->stop, true);
}

void consume_loop_join(struct consume_loop *loop)
{
	if (loop->started && !loop->joined) {
		pthread_join(loop->thread, NULL);
		loop->joined = true;
		/* After the join: process() has returned for good. include/ferry/processor.h
		 * promises destroy on the thread that called init, which is this one. */
		processor_destroy(&loop->proc);
	}
}

void consume_loop_status(struct consume_loop *loop, struct consume_loop_status *out)
{
	int64_t last = atomic_load(&loop->last_poll_ms);

	out->running = atomic_load(&loop->running);
	out->assigned_partitions = atomic_load(&loop->assigned);
	out->last_poll_ms_ago = last ? clock_monotonic_ms() - last : -1;
	out->processed = atomic_load(&loop->processed);
	out->duplicates = atomic_load(&loop->duplicates);
	out->failed = atomic_load(&loop->failed);
	out->skipped = atomic_load(&loop->skipped);
	out->db_ok = atomic_load(&loop->db_ok);
}

json_t *consume_loop_assignment(struct consume_loop *loop)
{
	json_t *copy;

	pthread_mutex_lock(&loop->assignment_mu);
	copy = loop->assignment ? json_deep_copy(loop->assignment) : json_object();
	pthread_mutex_unlock(&loop->assignment_mu);
	return copy ? copy : json_object();
}

const char *consume_loop_group(const struct consume_loop *loop)
{
	return loop->group;
}

void consume_loop_destroy(struct consume_loop *loop)
{
	size_t i;

	if (loop == NULL)
		return;
	if (loop->started) {
		consume_loop_request_stop(loop);
		consume_loop_join(loop);
	} else {
		processor_destroy(&loop->proc);
		if (loop->rk)
			consume_loop_close(loop);
	}
	if (loop->rk)
		consume_loop_destroy_kafka(loop);
	if (loop->conn)
		PQfinish(loop->conn);
	for (i = 0; i < loop->topic_count; i++)
		free(loop->topics[i]);
	free(loop->topics);
	free(loop->group);
	free(loop->conninfo);
	free(loop->service_id);
	free(loop->instance_id);
	json_decref(loop->assignment);
	pthread_mutex_destroy(&loop->assignment_mu);
	free(loop);
}

void consume_loop_options_from_config(const struct consumer_config *cfg,
                                      struct consume_loop_options *out)
{
	*out = (struct consume_loop_options){
	    .service_id = cfg->service_id,
	    .poll_timeout_ms = cfg->poll_timeout_ms,
	    /* The first stage of a shutdown; the rest needs time too. */
	    .close_timeout_ms = cfg->shutdown_deadline_ms * 2 / 5,
	};
}
