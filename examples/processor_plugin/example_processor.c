/*
 * example_processor.c - a ferry-consumer processor plugin (include/ferry/processor.h).
 *
 * Writes every message into a table of its own, example_processed (CREATE TABLE IF NOT
 * EXISTS on each use, inside the transaction), in the consumer's transaction: the row exists
 * exactly when the inbox row does. A payload containing the text "fail" fails on purpose, so tests
 * and demos can drive failures; "fail-first-N" (N a digit) fails only while the group has recorded
 * fewer than N failures of that message (ferry_consumer.failed_message), so a redelivery
 * eventually succeeds. "serialize-first-N" meets a serialization failure (SQLSTATE 40001, raised
 * by its own SQL) on its first N attempts in this process and answers FERRY_PROCESSOR_RETRY, as a
 * processor should for errors of class 40: the consumer retries the record instead of recording
 * a failure. FERRY_PROCESSOR_CONFIG may name the table (default "example_processed").
 *
 * Build: cc -shared -fPIC example_processor.c -o libferry_example_processor.so $(pkg-config
 * --cflags libpq) -I<ferry>/include (CMake does it). Use:
 *   FERRY_PROCESSOR=plugin FERRY_PROCESSOR_PLUGIN=/path/libferry_example_processor.so
 */
#include <ferry/processor.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct example_state {
	char table[128]; /* quoted identifier */
	char insert_sql[256];
	int table_ready;        /* the table is known to exist (committed); per group thread */
	int64_t serialize_id;   /* the message "serialize-first-N" attempts are counted for */
	int serialize_attempts; /* its attempts so far (process() is called on one thread) */
};

int ferry_processor_init(const char *config, void **state, char *errstr, size_t errstr_size)
{
	struct example_state *st;
	const char *table = config && config[0] ? config : "example_processed";

	if (strspn(table, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(table) ||
	    strlen(table) > 60) {
		snprintf(errstr, errstr_size, "table name '%s' must be [a-z0-9_], at most 60",
		         table);
		return -1;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	snprintf(st->table, sizeof(st->table), "%s", table);
	snprintf(st->insert_sql, sizeof(st->insert_sql),
	         "INSERT INTO %s (message_id, consumer_group, topic, payload) VALUES ($1, $2, $3, "
	         "$4)",
	         st->table);
	/* The table is created on first use (process), when a connection is at hand. */
	*state = st;
	return 0;
}

/* CREATE TABLE IF NOT EXISTS, inside the caller's transaction (harmless when it exists). */
static int example_ensure_table(struct example_state *st, PGconn *txn, char *errstr,
                                size_t errstr_size)
{
	char sql[512];
	PGresult *res;
	int rc = 0;

	/* Concurrent first uses by several group threads (or processes) would race on the catalog:
	 * a transaction-level advisory lock makes the second wait for the first to commit, after
	 * which IF NOT EXISTS sees the table. The savepoint keeps the caller's transaction usable
	 * should the statement still fail. */
	/* Seen by a fresh statement before we create it: it exists, committed by someone. */
	snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NOT NULL", st->table);
	res = PQexec(txn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't') {
		PQclear(res);
		st->table_ready = 1;
		return 0;
	}
	PQclear(res);
	snprintf(sql, sizeof(sql),
	         "CREATE TABLE IF NOT EXISTS %s (message_id bigint NOT NULL, consumer_group text "
	         "NOT NULL, topic text NOT NULL, payload text, processed_at timestamptz NOT NULL "
	         "DEFAULT now(), PRIMARY KEY (message_id, consumer_group))",
	         st->table);
	res = PQexec(txn, "SAVEPOINT example_create");
	PQclear(res);
	res = PQexec(txn, "SELECT pg_advisory_xact_lock(hashtext('ferry example_processed'))");
	PQclear(res);
	res = PQexec(txn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		PQclear(res);
		res = PQexec(txn, "ROLLBACK TO SAVEPOINT example_create");
		PQclear(res);
		snprintf(errstr, errstr_size, "creating %s failed", st->table);
		rc = -1;
	} else {
		PQclear(res);
		res = PQexec(txn, "RELEASE SAVEPOINT example_create");
		PQclear(res);
	}
	return rc;
}

/* Failures the consumer recorded of this message for this group; -1 (and errstr) on error. */
static long example_failures(const struct ferry_consumed_message *msg, PGconn *txn, char *errstr,
                             size_t errstr_size)
{
	char id[24];
	const char *params[2] = {id, msg->consumer_group};
	PGresult *res;
	long n;

	errstr[0] = '\0';
	snprintf(id, sizeof(id), "%" PRId64, msg->message_id);
	res = PQexecParams(txn,
	                   "SELECT count(*) FROM ferry_consumer.failed_message"
	                   " WHERE message_id = $1::bigint AND consumer_group = $2",
	                   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(errstr, errstr_size, "example processor: %s", PQresultErrorMessage(res));
		errstr[strcspn(errstr, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

/*
 * "serialize-first-N": the first N attempts at the message run SQL that fails with SQLSTATE
 * 40001, and answer what any processor should for class 40 (FERRY_PROCESSOR_RETRY). Returns 1
 * when the attempt goes on, FERRY_PROCESSOR_RETRY or -1 (with errstr) otherwise.
 */
static int example_serialize(struct example_state *st, const struct ferry_consumed_message *msg,
                             const char *first, PGconn *txn, char *errstr, size_t errstr_size)
{
	PGresult *res;
	const char *state;
	int rc = 1;

	if (first[16] < '0' || first[16] > '9')
		return 1;
	if (st->serialize_id != msg->message_id) {
		st->serialize_id = msg->message_id;
		st->serialize_attempts = 0;
	}
	if (st->serialize_attempts++ >= first[16] - '0')
		return 1;
	res = PQexec(txn, "DO $$ BEGIN RAISE EXCEPTION 'example processor: simulated conflict'"
	                  " USING ERRCODE = '40001'; END $$");
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(errstr, errstr_size, "example processor: %s", PQresultErrorMessage(res));
	errstr[strcspn(errstr, "\n")] = '\0';
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = state && strncmp(state, "40", 2) == 0 ? FERRY_PROCESSOR_RETRY : -1;
	PQclear(res);
	return rc;
}

int ferry_processor_process(void *state, const struct ferry_consumed_message *msg, PGconn *txn,
                            char *errstr, size_t errstr_size)
{
	struct example_state *st = state;
	char id[24], *payload = NULL;
	const char *params[4];
	PGresult *res;
	int rc = -1;

	if (msg->payload) {
		payload = strndup(msg->payload, msg->payload_len);
		if (payload == NULL) {
			snprintf(errstr, errstr_size, "out of memory");
			return -1;
		}
	}
	if (payload && strstr(payload, "serialize-first-")) {
		rc = example_serialize(st, msg, strstr(payload, "serialize-first-"), txn, errstr,
		                       errstr_size);
		if (rc != 1)
			goto done;
		rc = -1;
	}
	if (payload && strstr(payload, "fail")) {
		const char *first = strstr(payload, "fail-first-");

		if (first == NULL || first[11] < '0' || first[11] > '9') {
			snprintf(errstr, errstr_size, "example processor: payload asks to fail");
			goto done;
		}
		if (example_failures(msg, txn, errstr, errstr_size) < first[11] - '0') {
			if (errstr[0] == '\0')
				snprintf(errstr, errstr_size,
				         "example processor: payload asks to fail the first %c "
				         "attempts",
				         first[11]);
			goto done;
		}
	}
	/* Once the table is there, skip the catalog work (and its lock) for every message. */
	if (!st->table_ready && example_ensure_table(st, txn, errstr, errstr_size) != 0)
		goto done;
	snprintf(id, sizeof(id), "%" PRId64, msg->message_id);
	params[0] = id;
	params[1] = msg->consumer_group;
	params[2] = msg->topic;
	params[3] = payload;
	res = PQexecParams(txn, st->insert_sql, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(errstr, errstr_size, "example processor: %s", PQresultErrorMessage(res));
		errstr[strcspn(errstr, "\n")] = '\0';
		PQclear(res);
		goto done;
	}
	PQclear(res);
	rc = 0;
done:
	free(payload);
	return rc;
}

void ferry_processor_destroy(void *state)
{
	free(state);
}
