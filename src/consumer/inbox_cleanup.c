/*
 * inbox_cleanup.c - see inbox_cleanup.h.
 */
#include "consumer/inbox_cleanup.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "consumer/consumer_config.h"
#include "consumer/inbox_store.h"

#define INBOX_CLEANUP_BATCH      1000
#define INBOX_CLEANUP_MAX_BATCHS 100 /* per pass; the rest waits for the next one */

struct inbox_cleanup {
	char *conninfo;
	struct inbox_cleanup_options opts;
	PGconn *conn;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	atomic_ullong deleted;
};

/* Waits ms or until stopped; returns true when stopped. */
static bool inbox_cleanup_wait(struct inbox_cleanup *c, long ms)
{
	struct timespec ts = clock_deadline(CLOCK_MONOTONIC, ms);
	bool stop;
	pthread_mutex_lock(&c->mu);
	while (!c->stop && pthread_cond_timedwait(&c->cond, &c->mu, &ts) == 0)
		;
	stop = c->stop;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

static void inbox_cleanup_pass(struct inbox_cleanup *c)
{
	char errstr[512];
	int64_t n, total = 0;
	int b;

	if (pg_ensure(&c->conn, c->conninfo, "ferry-consumer-cleanup", errstr, sizeof(errstr)) !=
	    0) {
		log_warn("cleanup", "database unreachable: %s", errstr);
		return;
	}
	for (b = 0; b < INBOX_CLEANUP_MAX_BATCHS; b++) {
		if (inbox_store_delete_old(c->conn, c->opts.retention_s, INBOX_CLEANUP_BATCH, &n,
		                           errstr, sizeof(errstr)) != 0) {
			log_warn("cleanup", "deleting old inbox rows: %s", errstr);
			break;
		}
		total += n;
		if (n < INBOX_CLEANUP_BATCH)
			break;
		pthread_mutex_lock(&c->mu);
		if (c->stop)
			b = INBOX_CLEANUP_MAX_BATCHS;
		pthread_mutex_unlock(&c->mu);
	}
	if (total > 0) {
		atomic_fetch_add(&c->deleted, (unsigned long long)total);
		log_info("cleanup", "deleted %" PRId64 " inbox row(s) past retention", total);
	}
}

static void *inbox_cleanup_main(void *arg)
{
	struct inbox_cleanup *c = arg;

	if (inbox_cleanup_wait(c, c->opts.first_delay_ms))
		return NULL;
	do
		inbox_cleanup_pass(c);
	while (!inbox_cleanup_wait(c, c->opts.interval_ms));
	return NULL;
}

struct inbox_cleanup *inbox_cleanup_start(const struct inbox_cleanup_options *opts, char *errstr,
                                          size_t errstr_size)
{
	struct inbox_cleanup *c = calloc(1, sizeof(*c));
	int err;

	if (c == NULL || (c->conninfo = strdup(opts->conninfo)) == NULL) {
		free(c);
		snprintf(errstr, errstr_size, "out of memory");
		return NULL;
	}
	c->opts = *opts;
	c->opts.conninfo = c->conninfo;
	pthread_mutex_init(&c->mu, NULL);
	clock_cond_init_monotonic(&c->cond);
	err = pthread_create(&c->thread, NULL, inbox_cleanup_main, c);
	if (err != 0) {
		snprintf(errstr, errstr_size, "cannot start the inbox cleanup thread: %s",
		         strerror(err));
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		free(c->conninfo);
		free(c);
		return NULL;
	}
	return c;
}

uint64_t inbox_cleanup_deleted(struct inbox_cleanup *c)
{
	return c ? atomic_load(&c->deleted) : 0;
}

void inbox_cleanup_stop(struct inbox_cleanup *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	if (c->conn)
		PQfinish(c->conn);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c->conninfo);
	free(c);
}

void inbox_cleanup_options_from_config(const struct consumer_config *cfg,
                                       struct inbox_cleanup_options *out)
{
	*out = (struct inbox_cleanup_options){
	    .retention_s = (int64_t)cfg->inbox_retention_hours * 3600,
	    .interval_ms = cfg->inbox_cleanup_interval_s * 1000,
	    .first_delay_ms =
	        cfg->inbox_cleanup_interval_s < 60 ? cfg->inbox_cleanup_interval_s * 1000 : 60000,
	};
}
