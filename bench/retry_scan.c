/*
 * retry-scan: what one pass of the retry job costs the database, for bench/retry-scan.
 *
 * Runs the job's own statements (retry_store_settle_spent, then retry_store_claim, the functions
 * retry_job.c calls) `passes` times and rolls each claim back, so every pass sees the same rows.
 * Prints "passes=N claimed=C settled=S median_ms=M max_ms=X settle_ms=V claim_ms=L": C and S from
 * the last pass, M and X over all of them (settle + claim, as the job runs them), V and L the
 * medians of the two parts. The bench's groups retry forever,
 * so nothing is settled and the database is left as it was found.
 * Usage: retry-scan CONNINFO [PASSES] [LIMIT]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/pg.h"
#include "producer/store/retry_store.h"

static int64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int compare_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int passes = argc > 2 ? atoi(argv[2]) : 5;
	int limit = argc > 3 ? atoi(argv[3]) : 500; /* FERRY_RETRY_BATCH_SIZE's default */
	int64_t *took_us, *settle_us, *claim_us;
	PGconn *conn;
	char errstr[512];
	int i, failed = 0, expired = 0, rc = 1;
	size_t claimed = 0;

	if (argc < 2 || passes < 1 || passes > 1000 || limit < 1) {
		fprintf(stderr, "usage: retry-scan CONNINFO [PASSES<=1000] [LIMIT]\n");
		return 2;
	}
	took_us = calloc((size_t)passes, sizeof(*took_us));
	settle_us = calloc((size_t)passes, sizeof(*settle_us));
	claim_us = calloc((size_t)passes, sizeof(*claim_us));
	conn = pg_connect(argv[1], "ferry-retry-scan", errstr, sizeof(errstr));
	if (took_us == NULL || settle_us == NULL || claim_us == NULL || conn == NULL) {
		fprintf(stderr, "retry-scan: %s\n", conn ? "out of memory" : errstr);
		goto done;
	}
	for (i = 0; i < passes; i++) {
		struct retry_batch batch;
		int64_t t0 = monotonic_us(), t1;

		if (retry_store_settle_spent(conn, limit, "retry-scan", NULL, NULL, &failed,
		                             &expired, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "retry-scan: %s\n", errstr);
			goto done;
		}
		t1 = monotonic_us();
		if (retry_store_claim(conn, limit, &batch, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "retry-scan: %s\n", errstr);
			goto done;
		}
		claim_us[i] = monotonic_us() - t1;
		settle_us[i] = t1 - t0;
		took_us[i] = claim_us[i] + settle_us[i];
		claimed = batch.n;
		if (batch.n > 0)
			retry_store_abandon(conn);
		retry_store_batch_free(&batch);
	}
	qsort(took_us, (size_t)passes, sizeof(*took_us), compare_int64);
	qsort(settle_us, (size_t)passes, sizeof(*settle_us), compare_int64);
	qsort(claim_us, (size_t)passes, sizeof(*claim_us), compare_int64);
	printf("passes=%d claimed=%zu settled=%d median_ms=%.3f max_ms=%.3f settle_ms=%.3f"
	       " claim_ms=%.3f\n",
	       passes, claimed, failed + expired, (double)took_us[passes / 2] / 1000.0,
	       (double)took_us[passes - 1] / 1000.0, (double)settle_us[passes / 2] / 1000.0,
	       (double)claim_us[passes / 2] / 1000.0);
	rc = 0;
done:
	if (conn)
		PQfinish(conn);
	free(took_us);
	free(settle_us);
	free(claim_us);
	return rc;
}
