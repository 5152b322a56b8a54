/*
 * test_metrics.c - the Prometheus registry: exposition format, label escaping, series per label
 * set, histogram buckets (cumulative, +Inf, _sum, _count), families without labels shown at 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/metrics.h"

static char *render(struct metrics *m, struct strbuf *sb)
{
	strbuf_reset(sb);
	metrics_render(m, sb);
	return (char *)strbuf_str(sb);
}

static void test_counters_and_gauges(void **state)
{
	struct metrics *m = metrics_new();
	struct metric_family *c = metrics_counter(m, "ferry_x_total", "Things.", "topic,group");
	struct metric_family *g = metrics_gauge(m, "ferry_backlog", "Backlog.", NULL);
	const char *a[2] = {"orders", "billing"}, *b[2] = {"orders", "say \"hi\"\\\n"};
	struct strbuf sb = STRBUF_INIT;
	char *out;

	(void)state;
	out = render(m, &sb);
	assert_non_null(
	    strstr(out, "# HELP ferry_x_total Things.\n# TYPE ferry_x_total counter\n"));
	assert_non_null(strstr(out, "# TYPE ferry_backlog gauge\nferry_backlog 0\n"));
	metric_add(c, a, 1);
	metric_add(c, a, 2);
	metric_add(c, b, 1);
	metric_set(g, NULL, 12.5);
	metric_add(NULL, a, 1); /* a missing family is ignored */
	out = render(m, &sb);
	assert_non_null(strstr(out, "ferry_x_total{topic=\"orders\",group=\"billing\"} 3\n"));
	assert_non_null(
	    strstr(out, "ferry_x_total{topic=\"orders\",group=\"say \\\"hi\\\"\\\\\\n\"} 1\n"));
	assert_non_null(strstr(out, "ferry_backlog 12.5\n"));
	/* Declaration order. */
	assert_true(strstr(out, "ferry_x_total") < strstr(out, "ferry_backlog"));
	strbuf_free(&sb);
	metrics_free(m);
}

static void test_histogram(void **state)
{
	static const double buckets[] = {0.1, 1, 10};
	struct metrics *m = metrics_new();
	struct metric_family *h =
	    metrics_histogram(m, "ferry_lat_seconds", "Latency.", "topic", buckets, 3);
	const char *t[1] = {"t"};
	struct strbuf sb = STRBUF_INIT;
	char *out;

	(void)state;
	metric_observe(h, t, 0.05);
	metric_observe(h, t, 0.1); /* on the bound: counts in that bucket */
	metric_observe(h, t, 5);
	metric_observe(h, t, 50);
	out = render(m, &sb);
	assert_non_null(strstr(out, "# TYPE ferry_lat_seconds histogram\n"));
	assert_non_null(strstr(out, "ferry_lat_seconds_bucket{topic=\"t\",le=\"0.1\"} 2\n"));
	assert_non_null(strstr(out, "ferry_lat_seconds_bucket{topic=\"t\",le=\"1\"} 2\n"));
	assert_non_null(strstr(out, "ferry_lat_seconds_bucket{topic=\"t\",le=\"10\"} 3\n"));
	assert_non_null(strstr(out, "ferry_lat_seconds_bucket{topic=\"t\",le=\"+Inf\"} 4\n"));
	assert_non_null(strstr(out, "ferry_lat_seconds_sum{topic=\"t\"} 55.15\n"));
	assert_non_null(strstr(out, "ferry_lat_seconds_count{topic=\"t\"} 4\n"));
	strbuf_free(&sb);
	metrics_free(m);
}

static void test_limits(void **state)
{
	static const double many[METRICS_MAX_BUCKETS + 1] = {0};
	struct metrics *m = metrics_new();

	(void)state;
	assert_false(metrics_incomplete(m));
	assert_non_null(metrics_gauge(m, "ok", "ok", "a,b,c"));
	assert_false(metrics_incomplete(m));
	assert_null(metrics_counter(m, "x", "x", "a,b,c,d"));
	assert_true(metrics_incomplete(m)); /* one failed declaration is remembered */
	metrics_free(m);
	m = metrics_new();
	assert_null(metrics_histogram(m, "y", "y", NULL, many, METRICS_MAX_BUCKETS + 1));
	assert_true(metrics_incomplete(m));
	assert_null(metrics_counter(NULL, "z", "z", NULL));
	assert_true(metrics_incomplete(NULL));
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counters_and_gauges),
	    cmocka_unit_test(test_histogram),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
