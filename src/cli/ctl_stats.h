/*
 * ctl_stats.h - the arithmetic of `ferryctl e2e` and `verify`: latency percentiles, the
 * progress bar's text, and the API's timestamps as numbers.
 *
 * Pure functions (unit-tested in tests/unit/test_ferryctl_stats.c); no I/O.
 */
#ifndef FERRY_CTL_STATS_H
#define FERRY_CTL_STATS_H

#include <stddef.h>

/*
 * The p-th percentile (0 < p <= 100) of `values` (n > 0, sorted ascending) by the nearest-rank
 * method: the smallest value with at least p% of the values at or below it, so p100 is the
 * maximum and every answer is one of the values. Returns 0 when n is 0.
 */
double ctl_stats_percentile(const double *sorted, size_t n, double p);

/* Sorts values ascending in place (qsort). */
void ctl_stats_sort(double *values, size_t n);

/*
 * Writes a one-line progress bar: "[#####.....]  50/100  50%  2.1s" with a bar `width`
 * characters wide (at least 1) and `done` capped at `total`. Always NUL-terminated.
 */
void ctl_stats_progress(size_t done, size_t total, double elapsed_s, int width, char *buf,
                        size_t size);

/*
 * Parses a timestamp as the API writes them (PostgreSQL's JSON for timestamptz:
 * "2026-11-26T23:00:30.123456+00:00"; also "Z", "+0100", "+01", no fraction, or a space for
 * the T) into seconds since the epoch, UTC, with the fraction. Returns 0, or -1 when the text
 * is not such a timestamp (NULL included).
 */
int ctl_stats_parse_timestamp(const char *text, double *out_epoch_s)
    __attribute__((warn_unused_result));

/* The wall clock in seconds since the epoch, with the fraction (ages of API timestamps need
 * better than time()'s whole seconds: a 1 s grace would be off by up to a second). */
double ctl_stats_now(void);

#endif
