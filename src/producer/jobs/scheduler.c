/*
 * scheduler.c - see scheduler.h.
 */
#include "producer/jobs/scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"

struct scheduler_job {
	const char *name;
	long interval_ms;
	scheduler_job_fn fn;
	void *arg;
	int64_t due_ms; /* monotonic */
};

struct scheduler {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* signalled on wake and stop */
	pthread_t thread;
	bool started;
	bool stop;
	size_t n;
	struct scheduler_job jobs[SCHEDULER_MAX_JOBS];
};

struct scheduler *scheduler_new(void)
{
	struct scheduler *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	clock_cond_init_monotonic(&s->cond);
	return s;
}

int scheduler_add(struct scheduler *s, const char *name, long interval_ms, long first_delay_ms,
                  scheduler_job_fn fn, void *arg)
{
	if (s->started || s->n == SCHEDULER_MAX_JOBS)
		return -1;
	s->jobs[s->n] = (struct scheduler_job){name, interval_ms < 1 ? 1 : interval_ms, fn, arg,
	                                       clock_monotonic_ms() + first_delay_ms};
	return (int)s->n++;
}

static void *scheduler_main(void *arg)
{
	struct scheduler *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		int64_t now = clock_monotonic_ms(), next = INT64_MAX;
		size_t i, due = s->n;

		/* The job overdue the longest runs first; none starves the others. */
		for (i = 0; i < s->n; i++) {
			if (s->jobs[i].due_ms <= now &&
			    (due == s->n || s->jobs[i].due_ms < s->jobs[due].due_ms))
				due = i;
			if (s->jobs[i].due_ms < next)
				next = s->jobs[i].due_ms;
		}
		if (due < s->n) {
			struct scheduler_job *job = &s->jobs[due];
			long again;

			/* Due again after its interval unless it asks for sooner or is woken. */
			job->due_ms = now + job->interval_ms;
			pthread_mutex_unlock(&s->mu);
			again = job->fn(job->arg);
			pthread_mutex_lock(&s->mu);
			if (again >= 0 && clock_monotonic_ms() + again < job->due_ms)
				job->due_ms = clock_monotonic_ms() + again;
			continue;
		}
		if (next == INT64_MAX) {
			pthread_cond_wait(&s->cond, &s->mu);
		} else {
			struct timespec ts = {(time_t)(next / 1000),
			                      (long)(next % 1000) * 1000000L};

			(void)pthread_cond_timedwait(&s->cond, &s->mu, &ts);
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int scheduler_start(struct scheduler *s, char *errstr, size_t errstr_size)
{
	int err = pthread_create(&s->thread, NULL, scheduler_main, s);

	if (err != 0) {
		snprintf(errstr, errstr_size, "cannot start the scheduler thread: %s",
		         strerror(err));
		return -1;
	}
	s->started = true;
	return 0;
}

void scheduler_wake(struct scheduler *s, int index)
{
	if (s == NULL || index < 0)
		return;
	pthread_mutex_lock(&s->mu);
	if ((size_t)index < s->n) {
		s->jobs[index].due_ms = clock_monotonic_ms();
		pthread_cond_signal(&s->cond);
	}
	pthread_mutex_unlock(&s->mu);
}

void scheduler_destroy(struct scheduler *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->mu);
	if (s->started)
		pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
