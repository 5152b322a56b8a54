/*
 * mock_harness.c - see mock_harness.h.
 */
#include "mock_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/migrate.h"

int mock_harness_open(struct mock_harness *h, const char *name, const char *component, int brokers)
{
	char errstr[512];
	rd_kafka_conf_t *conf;
	bool producer = strcmp(component, "producer") == 0;

	it_db_create(&h->db, name);
	h->conn = it_pg_connect(h->db.conninfo);
	if (migrate_apply(h->conn, component, producer ? migrations_producer : migrations_consumer,
	                  producer ? migrations_producer_count : migrations_consumer_count,
	                  producer ? functions_producer : functions_consumer,
	                  producer ? functions_producer_count : functions_consumer_count, 5000,
	                  60000, errstr, sizeof(errstr)) < 0) {
		fprintf(stderr, "mock_harness: %s migrations: %s\n", component, errstr);
		return -1;
	}
	/* A handle of its own holds the mock cluster; the code under test connects as a client. */
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "mock_harness: %s\n", errstr);
		return -1;
	}
	h->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (h->rk == NULL) {
		rd_kafka_conf_destroy(conf); /* rd_kafka_new owns conf only on success */
		fprintf(stderr, "mock_harness: rd_kafka_new: %s\n", errstr);
		return -1;
	}
	h->cluster = rd_kafka_mock_cluster_new(h->rk, brokers);
	if (h->cluster == NULL) {
		fprintf(stderr, "mock_harness: rd_kafka_mock_cluster_new failed\n");
		return -1;
	}
	snprintf(h->bootstraps, sizeof(h->bootstraps), "%s",
	         rd_kafka_mock_cluster_bootstraps(h->cluster));
	setenv("FERRY_TEST_KAFKA", h->bootstraps, 1);
	return 0;
}

void mock_harness_close(struct mock_harness *h)
{
	if (h->conn)
		PQfinish(h->conn);
	h->conn = NULL;
	it_db_drop(&h->db);
	if (h->cluster)
		rd_kafka_mock_cluster_destroy(h->cluster);
	h->cluster = NULL;
	if (h->rk)
		rd_kafka_destroy(h->rk);
	h->rk = NULL;
}
