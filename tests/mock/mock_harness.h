/*
 * mock_harness.h - what the mock-cluster test programs (tests/mock/test_*.c) share: a database of
 * their own on the stack's PostgreSQL with one component's schema, and a librdkafka mock cluster
 * (rdkafka_mock.h) that stands in for Kafka. The rest of the integration harness (harness.h)
 * works as usual: FERRY_TEST_KAFKA is pointed at the mock cluster, so it_kafka_read and
 * it_kafka_count read from it.
 */
#ifndef FERRY_MOCK_HARNESS_H
#define FERRY_MOCK_HARNESS_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "harness.h"

struct mock_harness {
	struct it_db db;                  /* ferry_it_<name>_<pid> */
	PGconn *conn;                     /* to db (owned) */
	rd_kafka_t *rk;                   /* the handle that holds the cluster (owned) */
	rd_kafka_mock_cluster_t *cluster; /* the mock cluster (owned) */
	char bootstraps[256];             /* its bootstrap.servers */
};

/*
 * Creates the database (it_db_create(name)), applies the migrations of `component` ("producer"
 * or "consumer") on it, starts a mock cluster of `brokers` brokers and sets FERRY_TEST_KAFKA to
 * its bootstrap servers. For a cmocka group setup: returns 0, or -1 with a line on stderr.
 */
int mock_harness_open(struct mock_harness *h, const char *name, const char *component, int brokers);

/* Closes the connection, drops the database and destroys the mock cluster. Safe on a harness
 * that mock_harness_open filled only in part (zeroed first). */
void mock_harness_close(struct mock_harness *h);

#endif
