/*
 * shutdown_guard.c - see shutdown_guard.h. One thread waiting on a condition variable (on the
 * monotonic clock) until the deadline or until finish() wakes it.
 */
#include "common/shutdown_guard.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

struct shutdown_guard {
	char service[64];    /* for the log line */
	int64_t started_ms;  /* monotonic, when the signal was taken */
	int64_t deadline_ms; /* monotonic, started_ms + the bound */
	pthread_t thread;    /* the watchdog */
	pthread_mutex_t mu;  /* guards stage and done */
	pthread_cond_t cond; /* signalled by finish */
	char stage[200];     /* the stage now running */
	bool done;           /* finish() was called */
};

static void *shutdown_guard_main(void *arg)
{
	struct shutdown_guard *g = arg;
	struct timespec ts =
	    clock_deadline(CLOCK_MONOTONIC, (long)(g->deadline_ms - clock_monotonic_ms()));
	char stage[sizeof(g->stage)];

	pthread_mutex_lock(&g->mu);
	while (!g->done && clock_monotonic_ms() < g->deadline_ms)
		pthread_cond_timedwait(&g->cond, &g->mu, &ts);
	if (g->done) {
		pthread_mutex_unlock(&g->mu);
		return NULL;
	}
	memcpy(stage, g->stage, sizeof(stage));
	pthread_mutex_unlock(&g->mu);
	/* The last resort: some call ignored its bound. Everything not flushed is durable (rows
	 * PENDING, acknowledgments queued, offsets uncommitted), so ending here loses nothing;
	 * running exit handlers or destructors now could block on the very thing that hangs. */
	log_error("shutdown",
	          "%s: shutdown still in stage \"%s\" after %lld ms (FERRY_SHUTDOWN_DEADLINE_MS):"
	          " exiting now with status %d; what was not flushed is picked up by the next "
	          "start",
	          g->service, stage, (long long)(clock_monotonic_ms() - g->started_ms),
	          SHUTDOWN_GUARD_EXIT_STATUS);
	_exit(SHUTDOWN_GUARD_EXIT_STATUS);
	return NULL;
}

struct shutdown_guard *shutdown_guard_start(const char *service, long deadline_ms)
{
	struct shutdown_guard *g = calloc(1, sizeof(*g));
	int err;

	if (g == NULL) {
		log_error("shutdown", "out of memory: shutdown runs without its watchdog");
		return NULL;
	}
	snprintf(g->service, sizeof(g->service), "%s", service);
	snprintf(g->stage, sizeof(g->stage), "starting");
	g->started_ms = clock_monotonic_ms();
	g->deadline_ms = g->started_ms + deadline_ms;
	pthread_mutex_init(&g->mu, NULL);
	clock_cond_init_monotonic(&g->cond);
	err = pthread_create(&g->thread, NULL, shutdown_guard_main, g);
	if (err != 0) {
		log_error("shutdown",
		          "cannot start the shutdown watchdog (%s): shutdown runs "
		          "without it",
		          strerror(err));
		pthread_mutex_destroy(&g->mu);
		pthread_cond_destroy(&g->cond);
		free(g);
		return NULL;
	}
	return g;
}

void shutdown_guard_stage(struct shutdown_guard *g, const char *stage)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->mu);
	snprintf(g->stage, sizeof(g->stage), "%s", stage);
	pthread_mutex_unlock(&g->mu);
	log_debug("shutdown", "%s", stage);
}

long shutdown_guard_left_ms(const struct shutdown_guard *g, long reserve_ms, long cap_ms)
{
	int64_t left;

	if (g == NULL)
		return cap_ms;
	left = g->deadline_ms - reserve_ms - clock_monotonic_ms();
	if (left < 0)
		return 0;
	return left < cap_ms ? (long)left : cap_ms;
}

int64_t shutdown_guard_finish(struct shutdown_guard *g)
{
	int64_t elapsed;

	if (g == NULL)
		return 0;
	pthread_mutex_lock(&g->mu);
	g->done = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	elapsed = clock_monotonic_ms() - g->started_ms;
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cond);
	free(g);
	return elapsed;
}
