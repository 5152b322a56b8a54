/*
 * relay-floor: the database-only floor for bench/relay-drain.
 *
 * Runs the relay's exact claim-and-mark SQL (message_store_claim + message_store_mark, the same
 * functions the relay calls) in a loop with no Kafka in between, until no PENDING rows are
 * left, with `inflight` connections used round-robin like the relay's slots. Prints
 * "floor_rows=N floor_seconds=S floor_rate=R claim_seconds=C mark_seconds=M" (C and M: the time
 * spent inside the claims and inside the marks). Usage: relay-floor CONNINFO [BATCH] [INFLIGHT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/pg.h"
#include "producer/store/message_store.h"

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(int argc, char **argv)
{
	size_t batch_size = argc > 2 ? (size_t)atol(argv[2]) : 500;
	int inflight = argc > 3 ? atoi(argv[3]) : 2;
	PGconn *conns[16] = {0};
	struct outbox_batch batches[16];
	struct timespec t0, ts;
	char errstr[512];
	long long rows = 0;
	int i, empty = 0, rc = 1;
	double secs, claim_secs = 0, mark_secs = 0;

	if (argc < 2 || inflight < 1 || inflight > 16 || batch_size == 0) {
		fprintf(stderr, "usage: relay-floor CONNINFO [BATCH] [INFLIGHT<=16]\n");
		return 2;
	}
	for (i = 0; i < inflight; i++) {
		conns[i] = pg_connect(argv[1], "ferry-relay-floor", errstr, sizeof(errstr));
		if (conns[i] == NULL) {
			fprintf(stderr, "relay-floor: %s\n", errstr);
			goto done;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Keep `inflight` claims open at once, as the relay does, then mark the oldest. */
	for (i = 0; i < inflight; i++)
		if (message_store_claim(conns[i], batch_size, NULL, 0, NULL, 0, 0, &batches[i],
		                        errstr, sizeof(errstr)))
			goto fail;
	for (i = 0; empty < inflight; i = (i + 1) % inflight) {
		struct outbox_delivery *d;
		size_t k, n = batches[i].n;

		if (n == 0) {
			empty++;
		} else {
			empty = 0;
			d = calloc(n, sizeof(*d));
			if (d == NULL) {
				snprintf(errstr, sizeof(errstr), "out of memory for %zu rows", n);
				goto fail;
			}
			for (k = 0; k < n; k++) {
				d[k].id = batches[i].rows[k].id;
				d[k].partition = 0;
				d[k].offset = (int64_t)k;
			}
			clock_gettime(CLOCK_MONOTONIC, &ts);
			if (message_store_mark(conns[i], d, n, 5, errstr, sizeof(errstr)) != 0) {
				free(d);
				goto fail;
			}
			mark_secs += seconds_since(&ts);
			free(d);
			rows += (long long)n;
		}
		message_store_batch_free(&batches[i]);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (message_store_claim(conns[i], batch_size, NULL, 0, NULL, 0, 0, &batches[i],
		                        errstr, sizeof(errstr)))
			goto fail;
		claim_secs += seconds_since(&ts);
	}
	secs = seconds_since(&t0);
	printf("floor_rows=%lld floor_seconds=%.3f floor_rate=%.0f claim_seconds=%.3f "
	       "mark_seconds=%.3f\n",
	       rows, secs, secs > 0 ? (double)rows / secs : 0.0, claim_secs, mark_secs);
	rc = 0;
	goto done;
fail:
	fprintf(stderr, "relay-floor: %s\n", errstr);
done:
	for (i = 0; i < inflight; i++)
		if (conns[i])
			PQfinish(conns[i]);
	return rc;
}
