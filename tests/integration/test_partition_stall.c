/*
 * test_partition_stall.c - one Kafka partition without a leader holds back only its own rows.
 *
 * On the 3-broker cluster of `scripts/stack kafka3` (ctest's kafka3 fixture starts and stops
 * it): a topic of 6 partitions with one replica each, spread over the brokers. The broker that
 * leads the partitions of some keys is stopped; while it is down, the rows of every other key
 * are SENT, no relay transaction is older than the bound (pg_stat_activity), and health and
 * metrics name the stalled partitions. Once the broker is back, the held rows go out, and every
 * key's records are in Kafka complete and in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define STALL_KEYS     24
#define STALL_ROUNDS   3    /* rows per key sent while the broker is down */
#define STALL_BOUND_MS 6000 /* FERRY_TRANSACTION_BOUND_MS for the producer */
#define STALL_STR_(x)  #x
#define STALL_STR(x)   STALL_STR_(x)

static char stall_bootstrap[512];

/* The leader (broker id) of each partition of `topic`, from the cluster's metadata; returns
 * the partition count. */
static int stall_leaders(const char *topic, int32_t *leaders, int max)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	int i, n = 0;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", stall_bootstrap, errstr, sizeof(errstr)) !=
	    RD_KAFKA_CONF_OK)
		fail_msg("bootstrap.servers: %s", errstr);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		fail_msg("rd_kafka_new: %s", errstr);
	rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1)
		fail_msg("no metadata for %s", topic);
	for (i = 0; i < md->topics[0].partition_cnt && i < max; i++) {
		leaders[md->topics[0].partitions[i].id] = md->topics[0].partitions[i].leader;
		n++;
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return n;
}

/* Runs `scripts/stack kafka3 <verb> <broker>`; returns its exit status (-1 if it did not run). */
static int stall_broker(const char *verb, int broker)
{
	char cmd[1024];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s/scripts/stack kafka3 %s %d", FERRY_SOURCE_DIR, verb, broker);
	rc = system(cmd);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

struct stall_health {
	const struct it_producer *p;
	int want; /* stalled partitions */
};

static bool stall_health_names(void *arg)
{
	struct stall_health *h = arg;
	struct it_response r = {0};
	json_t *count;
	bool ok;

	it_get(h->p, "/api/messages/health", &r);
	count = it_json_get(r.json, "kafka.stalledCount");
	ok = r.status == (h->want > 0 ? 503 : 200) && json_is_integer(count) &&
	     json_integer_value(count) == h->want;
	it_response_free(&r);
	return ok;
}

/* The oldest open transaction of the relay's sessions, in milliseconds (0 when none). */
static int64_t stall_oldest_relay_txn_ms(PGconn *conn)
{
	return it_sql_int(conn, "SELECT coalesce(max(extract(epoch FROM clock_timestamp() -"
	                        " xact_start) * 1000), 0)::bigint FROM pg_stat_activity"
	                        " WHERE datname = current_database()"
	                        " AND application_name IN ('ferry-relay', 'ferry-retry')"
	                        " AND xact_start IS NOT NULL");
}

static void test_one_partition_down(void **state)
{
	static const char *const env[] = {"FERRY_TRANSACTION_BOUND_MS=" STALL_STR(STALL_BOUND_MS),
	                                  NULL};
	struct it_fixture fx;
	struct stall_health h;
	struct it_records recs = {0};
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], key[16], payload[32], stalled_in[64] = "";
	int32_t leaders[64], key_partition[STALL_KEYS];
	bool key_stalled[STALL_KEYS];
	int nparts, i, k, round, victim, nstalled = 0, keys_free = 0;
	int last_seq[STALL_KEYS];
	int64_t oldest = 0, t0;
	char *metrics;

	(void)state;
	it_fixture_open(&fx, "partition_stall", env);
	it_topic(topic, sizeof(topic), "stall");

	/* Every key once with all brokers up: the topic exists, and each key's partition is known.
	 */
	for (k = 0; k < STALL_KEYS; k++) {
		snprintf(key, sizeof(key), "k%02d", k);
		snprintf(payload, sizeof(payload), "k%02d-0", k);
		it_send_message(&fx.producer, topic, key, payload);
	}
	assert_true(it_wait_sql_int(fx.conn, STALL_KEYS, 60000,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'"
	                            " AND status = 'SENT'",
	                            topic));
	nparts = stall_leaders(topic, leaders, 64);
	assert_int_equal(nparts, 6);
	for (k = 0; k < STALL_KEYS; k++)
		key_partition[k] =
		    (int32_t)it_sql_int(fx.conn,
		                        "SELECT kafka_partition FROM ferry.outbox_message"
		                        " WHERE topic = '%s' AND message_key = 'k%02d'",
		                        topic, k);
	victim = leaders[key_partition[0]];
	for (i = 0; i < nparts; i++)
		if (leaders[i] == victim) {
			nstalled++;
			snprintf(stalled_in + strlen(stalled_in),
			         sizeof(stalled_in) - strlen(stalled_in), "%s%d",
			         nstalled > 1 ? "," : "", i);
		}
	for (k = 0; k < STALL_KEYS; k++) {
		key_stalled[k] = leaders[key_partition[k]] == victim;
		keys_free += !key_stalled[k];
	}
	assert_true(keys_free > 0 && nstalled > 0 && nstalled < nparts);
	fprintf(stderr, "stopping broker %d (leads partitions %s); %d of %d keys are elsewhere\n",
	        victim, stalled_in, keys_free, STALL_KEYS);

	assert_int_equal(stall_broker("stop-broker", victim), 0);
	t0 = it_now_ms();
	for (round = 1; round <= STALL_ROUNDS; round++)
		for (k = 0; k < STALL_KEYS; k++) {
			snprintf(key, sizeof(key), "k%02d", k);
			snprintf(payload, sizeof(payload), "k%02d-%d", k, round);
			it_send_message(&fx.producer, topic, key, payload);
		}

	/* Every other partition's rows flow. */
	assert_true(it_wait_sql_int(
	    fx.conn, STALL_KEYS + (int64_t)keys_free * STALL_ROUNDS, 30000,
	    "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s' AND status = 'SENT'",
	    topic));
	fprintf(stderr, "other partitions' rows SENT %" PRId64 " ms after the stop\n",
	        it_now_ms() - t0);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'"
	                            " AND status = 'PENDING'",
	                            topic),
	                 (STALL_KEYS - keys_free) * STALL_ROUNDS);

	/* Health names the stalled partitions once they have waited longer than the bound. */
	h.p = &fx.producer;
	h.want = nstalled;
	assert_true(it_wait_until(stall_health_names, &h, STALL_BOUND_MS + 10000));
	it_get(&fx.producer, "/api/messages/health", &r);
	for (i = 0; i < nstalled; i++) {
		char path[64];

		snprintf(path, sizeof(path), "kafka.stalledPartitions.%d.topic", i);
		assert_string_equal(it_json_string(r.json, path), topic);
		snprintf(path, sizeof(path), "kafka.stalledPartitions.%d.partition", i);
		assert_int_equal(leaders[json_integer_value(it_json_get(r.json, path))], victim);
	}
	it_response_free(&r);
	metrics = it_scrape_metrics(&fx.producer);
	assert_true(it_metric_sample(metrics, "ferry_relay_stalled_partitions") == nstalled);
	free(metrics);

	/* The outage has now lasted longer than the bound: no relay or retry transaction is older
	 * than it. Sampled for a while, since a claim is short-lived by design. */
	assert_true(it_now_ms() - t0 > STALL_BOUND_MS);
	for (i = 0; i < 20; i++) {
		int64_t ms = stall_oldest_relay_txn_ms(fx.conn);

		oldest = ms > oldest ? ms : oldest;
		it_sleep_ms(100);
	}
	fprintf(stderr, "oldest relay/retry transaction seen during the outage: %" PRId64 " ms\n",
	        oldest);
	assert_true(oldest < STALL_BOUND_MS);

	/* The broker is back: the held rows go out, and each key is complete and in order. */
	assert_int_equal(stall_broker("start-broker", victim), 0);
	assert_true(it_wait_sql_int(
	    fx.conn, STALL_KEYS * (STALL_ROUNDS + 1), 60000,
	    "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s' AND status = 'SENT'",
	    topic));
	h.want = 0;
	assert_true(it_wait_until(stall_health_names, &h, 10000));
	it_kafka_read(topic, STALL_KEYS * (STALL_ROUNDS + 1), 30000, &recs);
	assert_int_equal(recs.n, STALL_KEYS * (STALL_ROUNDS + 1));
	for (k = 0; k < STALL_KEYS; k++)
		last_seq[k] = -1;
	for (i = 0; i < (int)recs.n; i++) {
		const struct it_record *rec = &recs.v[i];
		const char *dash = rec->value ? strrchr(rec->value, '-') : NULL;

		assert_non_null(rec->key);
		assert_non_null(dash);
		k = atoi(rec->key + 1);
		assert_true(k >= 0 && k < STALL_KEYS);
		/* Records of one key are in one partition, read in offset order. */
		if (atoi(dash + 1) != last_seq[k] + 1)
			fail_msg("key %s: record %d after %d", rec->key, atoi(dash + 1),
			         last_seq[k]);
		last_seq[k]++;
	}
	for (k = 0; k < STALL_KEYS; k++)
		assert_int_equal(last_seq[k], STALL_ROUNDS);
	it_records_free(&recs);
	it_fixture_close(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_partition_down),
	};
	char cmd[1024];
	FILE *f;

	/* The 3-broker cluster stands in for the stack's single broker, for the producer and for
	 * the reads of the harness. */
	snprintf(cmd, sizeof(cmd), "%s/scripts/stack kafka3 bootstrap", FERRY_SOURCE_DIR);
	f = popen(cmd, "r");
	if (f == NULL || fgets(stall_bootstrap, sizeof(stall_bootstrap), f) == NULL) {
		fprintf(stderr, "cannot read the 3-broker cluster's bootstrap list from: %s\n",
		        cmd);
		if (f)
			pclose(f);
		return 1;
	}
	pclose(f);
	stall_bootstrap[strcspn(stall_bootstrap, "\n")] = '\0';
	setenv("FERRY_TEST_KAFKA", stall_bootstrap, 1);
	return it_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
