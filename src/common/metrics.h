/*
 * metrics.h - a small Prometheus registry: counters, gauges and histograms with labels, and the
 * text exposition format (version 0.0.4) for GET /metrics.
 *
 * Families are created at start-up (metrics_counter/gauge/histogram, one thread) and live as long
 * as the registry; series (one per set of label values) appear when first touched. Updates and
 * rendering may come from any thread: one mutex per registry, held for a hash-free linear search
 * of a family's series, which is cheap at ferry's cardinality (topics x groups) and is never on a
 * per-row path (the relay adds a whole batch at once).
 *
 * Names follow Prometheus conventions: ferry_<what>_total for counters, _seconds for durations.
 */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/strbuf.h"

#define METRICS_MAX_LABELS  3
#define METRICS_MAX_BUCKETS 16

struct metrics;
struct metric_family;

/* NULL when out of memory. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * Declares a family. `labels` is a comma-separated list of label names ("topic,group"; NULL or
 * "" for none, at most METRICS_MAX_LABELS). Histograms take `n` ascending upper bounds (+Inf is
 * implied). Returns the family, or NULL (out of memory, too many labels or buckets).
 */
struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels);
struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels);
struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *buckets, size_t n);

/*
 * True when a declaration on `m` returned NULL (or m is NULL): lets a service's init declare
 * every family and check once, instead of naming each one again in a test for NULL.
 * Start-up thread, after the declarations.
 */
bool metrics_incomplete(const struct metrics *m);

/*
 * Updates the series with these label values (as many as the family has names; NULL values
 * count as ""). add: counters and gauges; set: gauges, and counters mirrored from a monotonic
 * source; observe: histograms. A NULL family is ignored, so optional metrics cost nothing.
 */
void metric_add(struct metric_family *f, const char *const *values, double v);
void metric_set(struct metric_family *f, const char *const *values, double v);
void metric_observe(struct metric_family *f, const char *const *values, double v);

/* Appends the exposition text of every family, in declaration order. */
void metrics_render(struct metrics *m, struct strbuf *out);

#endif
