/*
 * metrics_store.h - the queries GET /metrics runs when scraped (api/api_metrics.c): the outbox
 * backlog and its oldest pending row, each registered group's unacknowledged deliveries and the
 * retry job's due ones. Partial indexes keep each to the rows in flight.
 *
 * PGconn owned by the caller, one thread at a time; -1 with one line in errstr on failure.
 */
#ifndef FERRY_METRICS_STORE_H
#define FERRY_METRICS_STORE_H

#include <libpq-fe.h>
#include <stddef.h>

/* Sets *pending to the number of PENDING messages and *oldest_age_s to the age of the oldest one
 * (0 when there is none). Returns 0, or -1 with errstr and both left untouched. */
int metrics_store_backlog(PGconn *conn, double *pending, double *oldest_age_s, char *errstr,
                          size_t errstr_size) __attribute__((warn_unused_result));

/* Called once per registered group (topic and group valid during the call only). */
typedef void (*metrics_store_group_fn)(void *arg, const char *topic, const char *group,
                                       double unacked, double oldest_unacked_age_s);

/* Calls fn for every registered group (a group that caught up reads 0, so it does not keep its
 * last value) and sets *retry_due to the deliveries whose retry is due. Returns 0, or -1 with
 * errstr, fn not called and *retry_due untouched. */
int metrics_store_deliveries(PGconn *conn, metrics_store_group_fn fn, void *arg, double *retry_due,
                             char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
