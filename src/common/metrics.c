/*
 * metrics.c - see metrics.h.
 */
#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric_series {
	struct metric_series *next;
	char *values[METRICS_MAX_LABELS];
	double value;                                    /* counter, gauge; histogram: sum */
	unsigned long long count;                        /* histogram: observations */
	unsigned long long buckets[METRICS_MAX_BUCKETS]; /* histogram: per bucket, not cumulative */
};

struct metric_family {
	struct metric_family *next;
	struct metrics *owner;
	enum metric_type type;
	char *name;
	char *help;
	size_t nlabels;
	char *labels[METRICS_MAX_LABELS];
	size_t nbuckets;
	double bounds[METRICS_MAX_BUCKETS];
	struct metric_series *series;
};

struct metrics {
	pthread_mutex_t mu;
	struct metric_family *first, *last;
	bool incomplete; /* a declaration failed (metrics_incomplete) */
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->mu, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	struct metric_family *f, *fn;
	struct metric_series *s, *sn;
	size_t i;

	if (m == NULL)
		return;
	for (f = m->first; f; f = fn) {
		fn = f->next;
		for (s = f->series; s; s = sn) {
			sn = s->next;
			for (i = 0; i < f->nlabels; i++)
				free(s->values[i]);
			free(s);
		}
		for (i = 0; i < f->nlabels; i++)
			free(f->labels[i]);
		free(f->name);
		free(f->help);
		free(f);
	}
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static struct metric_family *metrics_declare(struct metrics *m, enum metric_type type,
                                             const char *name, const char *help, const char *labels)
{
	struct metric_family *f;

	if (m == NULL)
		return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		m->incomplete = true;
		return NULL;
	}
	f->owner = m;
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help);
	if (f->name == NULL || f->help == NULL)
		goto fail;
	if (labels && *labels) {
		const char *p = labels;

		while (*p) {
			size_t len = strcspn(p, ",");

			if (f->nlabels == METRICS_MAX_LABELS ||
			    (f->labels[f->nlabels] = strndup(p, len)) == NULL)
				goto fail;
			f->nlabels++;
			p += len;
			if (*p == ',')
				p++;
		}
	}
	pthread_mutex_lock(&m->mu);
	if (m->last)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
	pthread_mutex_unlock(&m->mu);
	return f;
fail:
	m->incomplete = true;
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f);
	return NULL;
}

struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels)
{
	return metrics_declare(m, METRIC_COUNTER, name, help, labels);
}

struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels)
{
	return metrics_declare(m, METRIC_GAUGE, name, help, labels);
}

struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *buckets, size_t n)
{
	struct metric_family *f;

	if (n > METRICS_MAX_BUCKETS) {
		if (m)
			m->incomplete = true;
		return NULL;
	}
	f = metrics_declare(m, METRIC_HISTOGRAM, name, help, labels);
	if (f) {
		memcpy(f->bounds, buckets, n * sizeof(*buckets));
		f->nbuckets = n;
	}
	return f;
}

bool metrics_incomplete(const struct metrics *m)
{
	return m == NULL || m->incomplete;
}

/* The series for these values, created when new; NULL when out of memory. Lock held. */
static struct metric_series *metrics_series(struct metric_family *f, const char *const *values)
{
	struct metric_series *s;
	size_t i;

	for (s = f->series; s; s = s->next) {
		for (i = 0; i < f->nlabels; i++)
			if (strcmp(s->values[i], values && values[i] ? values[i] : "") != 0)
				break;
		if (i == f->nlabels)
			return s;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	for (i = 0; i < f->nlabels; i++) {
		s->values[i] = strdup(values && values[i] ? values[i] : "");
		if (s->values[i] == NULL) {
			while (i-- > 0)
				free(s->values[i]);
			free(s);
			return NULL;
		}
	}
	/* Appended, so series keep the order they appeared in. */
	if (f->series == NULL) {
		f->series = s;
	} else {
		struct metric_series *t = f->series;

		while (t->next)
			t = t->next;
		t->next = s;
	}
	return s;
}

static void metrics_update(struct metric_family *f, const char *const *values, double v, int op)
{
	struct metric_series *s;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->owner->mu);
	s = metrics_series(f, values);
	if (s) {
		if (op == 0) {
			s->value += v;
		} else if (op == 1) {
			s->value = v;
		} else {
			size_t i;

			s->value += v;
			s->count++;
			for (i = 0; i < f->nbuckets && v > f->bounds[i]; i++)
				;
			if (i < f->nbuckets)
				s->buckets[i]++;
		}
	}
	pthread_mutex_unlock(&f->owner->mu);
}

void metric_add(struct metric_family *f, const char *const *values, double v)
{
	metrics_update(f, values, v, 0);
}

void metric_set(struct metric_family *f, const char *const *values, double v)
{
	metrics_update(f, values, v, 1);
}

void metric_observe(struct metric_family *f, const char *const *values, double v)
{
	metrics_update(f, values, v, 2);
}

/* A label value, escaped as the format wants: backslash, double quote and newline. */
static void metrics_escape(struct strbuf *out, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			strbuf_puts(out, "\\\\");
		else if (*v == '"')
			strbuf_puts(out, "\\\"");
		else if (*v == '\n')
			strbuf_puts(out, "\\n");
		else
			strbuf_append(out, v, 1);
	}
}

static void metrics_number(struct strbuf *out, double v)
{
	if (isinf(v))
		strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		strbuf_puts(out, "NaN");
	else if (v == floor(v) && fabs(v) < 1e15)
		strbuf_printf(out, "%.0f", v);
	else
		strbuf_printf(out, "%.9g", v);
}

/* {a="x",b="y"[,le="0.5"]}, or nothing when there are no labels at all. */
static void metrics_labels(struct strbuf *out, const struct metric_family *f,
                           const struct metric_series *s, const char *le)
{
	size_t i;

	if (f->nlabels == 0 && le == NULL)
		return;
	strbuf_puts(out, "{");
	for (i = 0; i < f->nlabels; i++) {
		strbuf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		metrics_escape(out, s->values[i]);
		strbuf_puts(out, "\"");
	}
	if (le)
		strbuf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
	strbuf_puts(out, "}");
}

void metrics_render(struct metrics *m, struct strbuf *out)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};
	struct metric_family *f;

	pthread_mutex_lock(&m->mu);
	for (f = m->first; f; f = f->next) {
		struct metric_series *s;

		strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		              type_names[f->type]);
		/* A family without labels shows 0 before its first update, so it is never absent.
		 */
		if (f->series == NULL && f->nlabels == 0 && f->type != METRIC_HISTOGRAM)
			strbuf_printf(out, "%s 0\n", f->name);
		for (s = f->series; s; s = s->next) {
			if (f->type != METRIC_HISTOGRAM) {
				strbuf_puts(out, f->name);
				metrics_labels(out, f, s, NULL);
				strbuf_puts(out, " ");
				metrics_number(out, s->value);
				strbuf_puts(out, "\n");
				continue;
			}
			{
				unsigned long long cum = 0;
				char le[64];
				size_t i;

				for (i = 0; i < f->nbuckets; i++) {
					struct strbuf b = STRBUF_INIT;

					cum += s->buckets[i];
					metrics_number(&b, f->bounds[i]);
					snprintf(le, sizeof(le), "%s", strbuf_str(&b));
					strbuf_free(&b);
					strbuf_printf(out, "%s_bucket", f->name);
					metrics_labels(out, f, s, le);
					strbuf_printf(out, " %llu\n", cum);
				}
				strbuf_printf(out, "%s_bucket", f->name);
				metrics_labels(out, f, s, "+Inf");
				strbuf_printf(out, " %llu\n%s_sum", s->count, f->name);
				metrics_labels(out, f, s, NULL);
				strbuf_puts(out, " ");
				metrics_number(out, s->value);
				strbuf_printf(out, "\n%s_count", f->name);
				metrics_labels(out, f, s, NULL);
				strbuf_printf(out, " %llu\n", s->count);
			}
		}
	}
	pthread_mutex_unlock(&m->mu);
}
