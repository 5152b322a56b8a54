/*
 * harness_writers.c - see harness_writers.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness_writers.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IT_WRITERS_MAX_THREADS 256
#define IT_WRITERS_REPORT_MAX  5 /* problems printed per kind */

struct it_writer {
	struct it_writers *w;
	int index;
	PGconn *conn;
	pthread_t thread;
	bool started;
	char error[512]; /* "" when all went well */
};

struct it_writers {
	struct it_writers_options o;
	char *conninfo;
	char *topic;
	struct it_writer *threads;
	atomic_llong committed;
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_opened_cond;
	bool gate_open; /* under gate_lock */
};

static void it_writer_pause(unsigned *seed, int max_ms)
{
	if (max_ms > 0)
		it_sleep_ms((int)(rand_r(seed) % (unsigned)(max_ms + 1)));
}

/* Runs one statement; returns 0, or -1 with the error in wr->error. */
static int it_writer_exec(struct it_writer *wr, const char *sql, int nparams,
                          const char *const *params)
{
	PGresult *res = PQexecParams(wr->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		snprintf(wr->error, sizeof(wr->error), "writer %d: %s: %s", wr->index, sql,
		         PQerrorMessage(wr->conn));
		wr->error[strcspn(wr->error, "\n")] = '\0';
		rc = -1;
	}
	PQclear(res);
	return rc;
}

static void it_writer_wait_at_gate(struct it_writers *w)
{
	pthread_mutex_lock(&w->gate_lock);
	while (!w->gate_open)
		pthread_cond_wait(&w->gate_opened_cond, &w->gate_lock);
	pthread_mutex_unlock(&w->gate_lock);
}

static void *it_writer_main(void *arg)
{
	struct it_writer *wr = arg;
	struct it_writers *w = wr->w;
	unsigned seed = (unsigned)wr->index * 7919u + 1;
	int *seq = calloc((size_t)w->o.keys_per_thread, sizeof(*seq));
	int i;

	if (seq == NULL) {
		snprintf(wr->error, sizeof(wr->error), "writer %d: out of memory", wr->index);
		return NULL;
	}
	for (i = 0; i < w->o.rows_per_thread; i++) {
		int k = i % w->o.keys_per_thread;
		char key[32], payload[64];
		const char *params[3] = {w->topic, key, payload};

		if (w->o.gate_after_rows > 0 && i == w->o.gate_after_rows)
			it_writer_wait_at_gate(w);
		snprintf(key, sizeof(key), "w%d-%d", wr->index, k);
		snprintf(payload, sizeof(payload), "%s|%d", key, ++seq[k]);
		if (it_writer_exec(wr, "BEGIN", 0, NULL) != 0 ||
		    it_writer_exec(wr, "SELECT ferry.enqueue($1, $2, $3)", 3, params) != 0)
			break;
		it_writer_pause(&seed, w->o.max_hold_ms);
		if (it_writer_exec(wr, "COMMIT", 0, NULL) != 0)
			break;
		atomic_fetch_add(&w->committed, 1);
		it_writer_pause(&seed, w->o.max_pause_ms);
	}
	free(seq);
	return NULL;
}

struct it_writers *it_writers_start(const struct it_writers_options *opts)
{
	struct it_writers *w = calloc(1, sizeof(*w));
	int t;

	assert_non_null(w);
	assert_true(opts->threads >= 1 && opts->threads <= IT_WRITERS_MAX_THREADS);
	assert_true(opts->keys_per_thread >= 1 && opts->rows_per_thread >= 0);
	w->o = *opts;
	w->conninfo = strdup(opts->conninfo);
	w->topic = strdup(opts->topic);
	w->threads = calloc((size_t)opts->threads, sizeof(*w->threads));
	assert_true(w->conninfo && w->topic && w->threads);
	atomic_init(&w->committed, 0);
	assert_int_equal(pthread_mutex_init(&w->gate_lock, NULL), 0);
	assert_int_equal(pthread_cond_init(&w->gate_opened_cond, NULL), 0);
	/* Every connection first, so the threads start writing together. */
	for (t = 0; t < opts->threads; t++) {
		w->threads[t].w = w;
		w->threads[t].index = t;
		w->threads[t].conn = it_pg_connect(w->conninfo);
	}
	for (t = 0; t < opts->threads; t++) {
		if (pthread_create(&w->threads[t].thread, NULL, it_writer_main, &w->threads[t]) !=
		    0)
			fail_msg("cannot start writer thread %d", t);
		w->threads[t].started = true;
	}
	return w;
}

void it_writers_open_gate(struct it_writers *w)
{
	pthread_mutex_lock(&w->gate_lock);
	w->gate_open = true;
	pthread_cond_broadcast(&w->gate_opened_cond);
	pthread_mutex_unlock(&w->gate_lock);
}

int64_t it_writers_committed(const struct it_writers *w)
{
	return atomic_load(&((struct it_writers *)w)->committed);
}

void it_writers_join(struct it_writers *w)
{
	int t;
	const char *error = NULL;

	it_writers_open_gate(w);
	for (t = 0; t < w->o.threads; t++) {
		if (w->threads[t].started)
			pthread_join(w->threads[t].thread, NULL);
		w->threads[t].started = false;
		if (w->threads[t].error[0] && error == NULL)
			error = w->threads[t].error;
	}
	if (error)
		fail_msg("%s", error);
}

void it_writers_verify(const struct it_writers *w, const struct it_records *recs, const char *label,
                       struct it_order_report *rep)
{
	int nkeys = w->o.threads * w->o.keys_per_thread;
	/* Rows per key: thread t's row i goes to key i % keys_per_thread. */
	int per_key_max = (w->o.rows_per_thread + w->o.keys_per_thread - 1) / w->o.keys_per_thread;
	uint8_t *seen = calloc((size_t)nkeys * (size_t)(per_key_max + 1), 1);
	int *last = calloc((size_t)nkeys, sizeof(*last));
	size_t i, printed_reorders = 0, printed_missing = 0;
	int t, k;

	assert_true(seen && last);
	memset(rep, 0, sizeof(*rep));
	rep->records = recs->n;
	for (i = 0; i < recs->n; i++) {
		const struct it_record *r = &recs->v[i];
		char want_key[32];
		int seq = 0, n = 0, key;

		if (r->key == NULL || r->value == NULL ||
		    sscanf(r->key, "w%d-%d%n", &t, &k, &n) != 2 || (size_t)n != r->key_len ||
		    t < 0 || t >= w->o.threads || k < 0 || k >= w->o.keys_per_thread)
			fail_msg("%s: record %zu (partition %d offset %lld) is no writer's row",
			         label, i, r->partition, (long long)r->offset);
		snprintf(want_key, sizeof(want_key), "%s|", r->key);
		if (strncmp(r->value, want_key, strlen(want_key)) != 0 ||
		    sscanf(r->value + strlen(want_key), "%d", &seq) != 1 || seq < 1 ||
		    seq > per_key_max)
			fail_msg("%s: record of key %s has the value '%s'", label, r->key,
			         r->value);
		key = t * w->o.keys_per_thread + k;
		if (seen[(size_t)key * (size_t)(per_key_max + 1) + (size_t)seq]++)
			continue; /* a duplicate: only first appearances are ordered */
		rep->distinct++;
		if (seq <= last[key]) {
			rep->reorders++;
			if (printed_reorders++ < IT_WRITERS_REPORT_MAX)
				printf(
				    "%s: REORDER key %s: seq %d first appears after seq %d (partition %d"
				    " offset %lld)\n",
				    label, r->key, seq, last[key], r->partition,
				    (long long)r->offset);
		} else {
			last[key] = seq;
		}
	}
	rep->duplicates = rep->records - rep->distinct;
	for (t = 0; t < w->o.threads; t++) {
		for (k = 0; k < w->o.keys_per_thread; k++) {
			int key = t * w->o.keys_per_thread + k, seq;
			int rows = w->o.rows_per_thread / w->o.keys_per_thread +
			           (k < w->o.rows_per_thread % w->o.keys_per_thread);

			for (seq = 1; seq <= rows; seq++) {
				if (seen[(size_t)key * (size_t)(per_key_max + 1) + (size_t)seq])
					continue;
				rep->missing++;
				if (printed_missing++ < IT_WRITERS_REPORT_MAX)
					printf("%s: MISSING key w%d-%d seq %d\n", label, t, k, seq);
			}
		}
	}
	printf("%s: %zu records, %zu distinct rows, %zu duplicates, %zu missing, %zu reorders\n",
	       label, rep->records, rep->distinct, rep->duplicates, rep->missing, rep->reorders);
	free(seen);
	free(last);
}

void it_writers_check_topic(const struct it_writers *w, const char *label,
                            struct it_order_report *rep)
{
	int64_t on_kafka = it_kafka_count(w->topic);
	struct it_records recs;

	it_kafka_read(w->topic, (size_t)on_kafka, 60000, &recs);
	assert_int_equal(recs.n, (size_t)on_kafka);
	it_writers_verify(w, &recs, label, rep);
	assert_int_equal(rep->missing, 0);
	assert_int_equal(rep->reorders, 0);
	assert_int_equal(rep->distinct, it_writers_committed(w));
	it_records_free(&recs);
}

void it_writers_free(struct it_writers *w)
{
	int t;

	if (w == NULL)
		return;
	for (t = 0; t < w->o.threads; t++)
		if (w->threads[t].conn)
			PQfinish(w->threads[t].conn);
	free(w->threads);
	pthread_cond_destroy(&w->gate_opened_cond);
	pthread_mutex_destroy(&w->gate_lock);
	free(w->conninfo);
	free(w->topic);
	free(w);
}
