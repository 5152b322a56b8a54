/*
 * heartbeat_job.c - see heartbeat_job.h. SQL lives in agent_store.c and message_store.c; this
 * file schedules the beats and gathers what they report.
 */
#include "producer/jobs/heartbeat_job.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"
#include "producer/store/agent_store.h"
#include "producer/store/message_store.h"
#include "producer/producer_config.h"

struct heartbeat_job {
	char *conninfo;
	char *service_id;
	char *instance_id;
	char *host;
	char *version;
	struct agent_producer_registration reg; /* points into the strings above */
	struct relay *relay;                    /* borrowed; NULL when disabled */
	PGconn *conn;                           /* the thread's (main's after the join) */
	pthread_t thread;
	bool started; /* the thread runs or ran, and has not been joined */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* signalled by stop; waits on CLOCK_MONOTONIC */
	bool stopping;       /* under lock */
	bool registered;     /* thread-only: the row was written by this process run */
	unsigned failures;   /* thread-only: consecutive failed beats, for backoff and logs */
};

struct heartbeat_job *heartbeat_job_new(const struct heartbeat_job_options *opts, char *errstr,
                                        size_t errstr_size)
{
	struct heartbeat_job *a = calloc(1, sizeof(*a));
	char hostname[256] = "localhost";
	const char *host = opts->host;

	if (a == NULL)
		goto oom;
	/* A wildcard bind address says nothing about where others can reach us; the host name
	 * does, on one machine and in a container network alike. */
	if (host == NULL || host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0) {
		if (gethostname(hostname, sizeof(hostname) - 1) != 0)
			snprintf(hostname, sizeof(hostname), "localhost");
		host = hostname;
	}
	a->conninfo = strdup(opts->conninfo);
	a->service_id = strdup(opts->service_id);
	a->instance_id = strdup(opts->instance_id);
	a->host = strdup(host);
	a->version = strdup(opts->version ? opts->version : "");
	if (!a->conninfo || !a->service_id || !a->instance_id || !a->host || !a->version)
		goto oom;
	a->reg = (struct agent_producer_registration){
	    .service_id = a->service_id,
	    .instance_id = a->instance_id,
	    .host = a->host,
	    .port = opts->port,
	    .version = a->version[0] ? a->version : NULL,
	    .relay_enabled = opts->relay != NULL,
	    .heartbeat_interval_s = opts->heartbeat_interval_s,
	};
	a->relay = opts->relay;
	pthread_mutex_init(&a->lock, NULL);
	clock_cond_init_monotonic(&a->cond);
	return a;
oom:
	snprintf(errstr, errstr_size, "out of memory");
	if (a) {
		free(a->conninfo);
		free(a->service_id);
		free(a->instance_id);
		free(a->host);
		free(a->version);
		free(a);
	}
	return NULL;
}

static double heartbeat_job_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Gathers the health details of one beat on a->conn. Returns the details object (caller owns)
 * and sets *healthy, or NULL with errstr when the database failed (no beat can be written then).
 */
static json_t *heartbeat_job_probe(struct heartbeat_job *a, bool *healthy, char *errstr,
                                   size_t errstr_size)
{
	struct outbox_pending_stats stats = {0, 0};
	struct relay_status rs;
	struct timespec t0;
	char kafka_err[512] = "";
	json_t *kafka, *relay, *details;
	double db_ms;
	int brokers;
	bool kafka_ok = true;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (message_store_pending_stats(a->conn, &stats, errstr, errstr_size) != 0)
		return NULL;
	db_ms = heartbeat_job_ms_since(&t0);
	memset(&rs, 0, sizeof(rs));
	if (a->relay) {
		/* Bounded well below any interval worth configuring: a beat must not be late
		 * because Kafka is slow to answer. */
		int timeout_ms = a->reg.heartbeat_interval_s * 1000 / 2;

		if (timeout_ms > 2000)
			timeout_ms = 2000;
		relay_get_status(a->relay, &rs);
		brokers = relay_kafka_probe(a->relay, timeout_ms, kafka_err, sizeof(kafka_err));
		kafka_ok = brokers > 0;
		kafka = json_pack("{s:b, s:i, s:s?}", "ok", kafka_ok, "brokers",
		                  brokers > 0 ? brokers : 0, "error", kafka_ok ? NULL : kafka_err);
	} else {
		kafka = json_pack("{s:b, s:s}", "checked", 0, "reason",
		                  "relay disabled on this instance");
	}
	relay = json_pack("{s:b, s:b, s:I, s:I, s:s?}", "enabled", a->relay != NULL, "running",
	                  rs.running, "published", (json_int_t)rs.published_total, "deliveryErrors",
	                  (json_int_t)rs.delivery_errors_total, "lastError",
	                  rs.last_error[0] ? rs.last_error : NULL);
	details = json_pack("{s:{s:b, s:f}, s:o?, s:o?, s:{s:I, s:f}}", "database", "ok", 1,
	                    "latencyMs", db_ms, "kafka", kafka, "relay", relay, "outbox", "pending",
	                    (json_int_t)stats.pending, "oldestPendingAgeSeconds",
	                    stats.oldest_age_seconds);
	if (details == NULL)
		snprintf(errstr, errstr_size, "out of memory building the health details");
	*healthy = kafka_ok;
	return details;
}

/* One beat (or the registration, the first time). Returns 0, or -1 with errstr. */
static int heartbeat_job_beat(struct heartbeat_job *a, char *errstr, size_t errstr_size)
{
	json_t *details = NULL;
	char *text = NULL;
	bool healthy = false;
	int64_t id = 0;
	int rc = -1, st;

	if (pg_ensure(&a->conn, a->conninfo, "ferry-producer-agent", errstr, errstr_size) != 0)
		goto done;
	if (!a->registered) {
		st = agent_store_register_producer(a->conn, &a->reg, &id, errstr, errstr_size);
		if (st != AGENT_STORE_OK && st != AGENT_STORE_CREATED)
			goto done;
		a->registered = true;
		log_info("agent",
		         "registered producer agent %" PRId64 " (%s/%s at %s:%d, beat every %d s)",
		         id, a->reg.service_id, a->reg.instance_id, a->reg.host, a->reg.port,
		         a->reg.heartbeat_interval_s);
	}
	details = heartbeat_job_probe(a, &healthy, errstr, errstr_size);
	if (details == NULL)
		goto done;
	text = json_dumps(details, JSON_COMPACT);
	if (text == NULL) {
		snprintf(errstr, errstr_size, "out of memory encoding the health details");
		goto done;
	}
	if (agent_store_producer_heartbeat(a->conn, &a->reg, healthy, text, &id, errstr,
	                                   errstr_size) != AGENT_STORE_OK)
		goto done;
	log_debug("agent", "heartbeat of producer agent %" PRId64 " (%s)", id,
	          healthy ? "healthy" : "unhealthy");
	rc = 0;
done:
	free(text);
	json_decref(details);
	return rc;
}

static void heartbeat_job_add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static void *heartbeat_job_main(void *arg)
{
	struct heartbeat_job *a = arg;
	struct timespec next, now;
	char errstr[1024];
	long wait_ms;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&a->lock);
	while (!a->stopping) {
		pthread_mutex_unlock(&a->lock);
		wait_ms = (long)a->reg.heartbeat_interval_s * 1000;
		if (heartbeat_job_beat(a, errstr, sizeof(errstr)) == 0) {
			if (a->failures > 0)
				log_info("agent", "heartbeats resumed after %u failed attempt(s)",
				         a->failures);
			a->failures = 0;
		} else {
			/* Log the first failure of a streak and then every tenth, not every
			 * retry of a long database outage. */
			if (a->failures % 10 == 0)
				log_warn("agent", "heartbeat failed (will retry): %s", errstr);
			a->failures++;
			/* Retry sooner than a full interval, so one failed attempt does not cost
			 * a whole beat; the connection is made anew by the next attempt. */
			clock_gettime(CLOCK_MONOTONIC, &next);
			wait_ms = pg_backoff_ms(a->failures, 200, wait_ms);
		}
		heartbeat_job_add_ms(&next, wait_ms);
		/* After a long stall (SIGSTOP, a hung database) the deadline is in the past:
		 * restart the schedule from now instead of beating once per missed interval. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (next.tv_sec < now.tv_sec ||
		    (next.tv_sec == now.tv_sec && next.tv_nsec < now.tv_nsec))
			next = now;
		pthread_mutex_lock(&a->lock);
		while (!a->stopping) {
			int w = pthread_cond_timedwait(&a->cond, &a->lock, &next);

			if (w == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

int heartbeat_job_start(struct heartbeat_job *a, char *errstr, size_t errstr_size)
{
	int err = pthread_create(&a->thread, NULL, heartbeat_job_main, a);

	if (err != 0) {
		snprintf(errstr, errstr_size, "cannot start the agent thread: %s", strerror(err));
		return -1;
	}
	a->started = true;
	return 0;
}

void heartbeat_job_stop(struct heartbeat_job *a)
{
	char errstr[1024];
	int st;

	if (a == NULL || !a->started)
		return;
	pthread_mutex_lock(&a->lock);
	a->stopping = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	a->started = false;
	/* The thread has ended: its connection is ours now. */
	if (pg_ensure(&a->conn, a->conninfo, "ferry-producer-agent", errstr, sizeof(errstr)) != 0) {
		log_warn("agent", "could not deregister the producer agent: %s", errstr);
		return;
	}
	st = agent_store_deregister_producer(a->conn, a->reg.service_id, a->reg.instance_id, errstr,
	                                     sizeof(errstr));
	if (st == AGENT_STORE_OK)
		log_info("agent", "deregistered producer agent %s/%s", a->reg.service_id,
		         a->reg.instance_id);
	else if (st == AGENT_STORE_NOT_FOUND)
		log_info("agent", "producer agent %s/%s was never registered", a->reg.service_id,
		         a->reg.instance_id);
	else
		log_warn("agent", "could not deregister the producer agent: %s", errstr);
}

void heartbeat_job_destroy(struct heartbeat_job *a)
{
	if (a == NULL)
		return;
	heartbeat_job_stop(a);
	if (a->conn)
		PQfinish(a->conn);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a->conninfo);
	free(a->service_id);
	free(a->instance_id);
	free(a->host);
	free(a->version);
	free(a);
}

void heartbeat_job_options_from_config(const struct producer_config *cfg,
                                       struct heartbeat_job_options *out)
{
	*out = (struct heartbeat_job_options){
	    .service_id = cfg->service_id,
	    .heartbeat_interval_s = (int)cfg->agent_heartbeat_interval_s,
	};
}
