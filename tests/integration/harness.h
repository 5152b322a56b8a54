/*
 * harness.h - the plumbing of ferry's integration tests, so that each test reads as what it
 * checks: a fresh database, a running ferry-producer, HTTP requests, SQL, and the records that
 * reached Kafka.
 *
 * Everything talks to the real services of scripts/stack, named by two variables:
 *   FERRY_TEST_PG     libpq conninfo of a role with CREATEDB (the server the tests use)
 *   FERRY_TEST_KAFKA  Kafka bootstrap servers
 * `eval "$(scripts/stack env)"` sets both; scripts/test does it for you. When either is missing
 * the first harness call fails the test and says so (no silent skip: a suite that skips
 * everything looks green).
 *
 * Isolation: each test program works in its own database (ferry_it_<name>_<pid>) and on topics
 * from it_topic() (unique per program run), so programs running at once, or one after another
 * against the same broker, never see each other's rows or records.
 *
 * Failure: unless a function says it returns a status, it stops the running test with cmocka's
 * fail_msg() and a line saying what went wrong. fail_msg() jumps back into cmocka, so those
 * functions may only be called from the thread running the cmocka test or fixture; functions
 * marked "any thread" never fail that way. Everything waits at most a bounded time.
 *
 * Every function is prefixed it_ ("integration test"); the file is harness.c for the build's
 * sake (tests/integration/harness*.c form the harness library).
 *
 * A test program's main() ends with
 *	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
 * so that producers a failed test left running are stopped, leftover databases dropped, and the
 * logs of the producers shown when something failed.
 */
#ifndef FERRY_IT_HARNESS_H
#define FERRY_IT_HARNESS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ferry/wire.h"

#define IT_TOPIC_MAX 128 /* room for any name it_topic() makes */

/* The API key every service the harness starts holds (FERRY_BOOTSTRAP_API_KEY, all roles) and
 * consumers send to their producer (ProducerService__ApiKey); it_http sends it. A test key,
 * not a secret. */
#define IT_API_KEY "fk_it_harness_bootstrap_key_not_secret_0123456789"

/* --- run ------------------------------------------------------------------------------------ */

/*
 * Ends the program: stops producers still running (SIGTERM, then SIGKILL after 10 s), drops
 * databases it_db_create() made that were not dropped, and prints the last lines of every
 * producer log when `failed` > 0 (the logs are kept, their directory named); otherwise removes
 * them. Returns `failed` (cmocka's count of failed tests) for main to return.
 */
int it_finish(int failed);

/* Milliseconds on the monotonic clock. Any thread. */
int64_t it_now_ms(void);

/* Sleeps ms milliseconds. Any thread. */
void it_sleep_ms(int ms);

/*
 * Calls cond(arg) every 20 ms until it returns true or timeout_ms have passed. Returns true
 * when the condition held (checked once more at the deadline), false on timeout. Callers
 * assert on the result so the failure names what was awaited. Any thread, if cond is.
 */
bool it_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/*
 * Runs `$FERRY_SOURCE_DIR/scripts/stack <command>` (e.g. "restart-kafka") and waits for it, at
 * most 300 s (then kills it). Its output goes to this program's stdout/stderr. Returns its exit
 * status, or -1 when it could not be started or did not finish in time.
 */
int it_stack(const char *command);

/* --- database ------------------------------------------------------------------------------- */

struct it_db {
	char name[64];       /* ferry_it_<name>_<pid> */
	char conninfo[2048]; /* FERRY_TEST_PG with dbname = name (libpq keyword string) */
};

/*
 * Creates the empty database ferry_it_<name>_<pid> (after dropping a leftover of that name)
 * and fills *db. `name` is [a-z0-9_], at most 30 characters. ferry-producer applies the schema
 * when it starts; a test that needs it without a producer starts one first.
 */
void it_db_create(struct it_db *db, const char *name);

/* Drops the database (terminating sessions still connected). No-op when db->name is empty. */
void it_db_drop(struct it_db *db);

/* Writes a topic name no other test or run uses: "it-<prefix>-<pid>-<start time>-<n>".
 * `prefix` is [a-z0-9-], at most 40 characters; `buf` holds IT_TOPIC_MAX bytes. */
void it_topic(char *buf, size_t size, const char *prefix);

/* --- ferry-producer ------------------------------------------------------------------------- */

struct it_producer {
	pid_t pid;          /* 0 when not running */
	int port;           /* HTTP port on 127.0.0.1 */
	char log_path[512]; /* its stdout and stderr */
	bool https;         /* it said "listening on https://": it_http uses https */
};

/*
 * Starts FERRY_PRODUCER_BIN on `db` and waits (at most 30 s) until its log says "listening on
 * http://HOST:PORT" (or https://, see it_http_set_tls) and GET /health answers 200. The environment
 * is this process's, minus every variable ferry-producer reads (ConnectionStrings__*, FERRY_*,
 * KAFKA_*, PORT, SERVICE_ID, INSTANCE_ID, ASPNETCORE_URLS), plus
 * ConnectionStrings__DefaultConnection=<db conninfo>, ConnectionStrings__Kafka=<FERRY_TEST_KAFKA>,
 * PORT=0, FERRY_HTTP_HOST=127.0.0.1, FERRY_AUTO_REGISTER_TOPICS=true (tests send to fresh topics),
 * FERRY_BOOTSTRAP_API_KEY=IT_API_KEY and ProducerService__ApiKey=IT_API_KEY, and then
 * `extra_env`: a NULL-terminated list of "NAME=value" (or NULL) that overrides those. On
 * failure the log's tail is printed and the process killed.
 */
void it_producer_start(struct it_producer *p, const struct it_db *db, const char *const *extra_env);

/*
 * Starts FERRY_CONSUMER_BIN exactly like it_producer_start (same environment rules, log, wait
 * for "listening on" and GET /health): `extra_env` names the groups (KAFKA_CONSUMER_GROUP,
 * KAFKA_TOPICS or FERRY_CONSUMER_CONFIG), ProducerService__BaseUrl and the processor. Stop, kill
 * and HTTP work on it with the it_producer_* / it_http functions (struct it_producer describes
 * any ferry service process).
 */
void it_consumer_start(struct it_producer *c, const struct it_db *db, const char *const *extra_env);

/* it_consumer_start for one group of `topics` (comma-separated), acknowledging to `producer`,
 * with `extra_env` (NULL-terminated, may be NULL) for the processor and the rest. */
void it_consumer_start_group(struct it_producer *c, const struct it_db *db,
                             const struct it_producer *producer, const char *group,
                             const char *topics, const char *const *extra_env);

/* POST /api/messages/send (useBatching false) of a plain-text message; fails the test unless it
 * answers 201. Returns the message id. The strings must need no JSON escaping. */
int64_t it_send_message(const struct it_producer *p, const char *topic, const char *key,
                        const char *payload);

/* GET /metrics of a producer or consumer: its Prometheus text (fails the test unless 200 and
 * text/plain). The caller frees. */
char *it_scrape_metrics(const struct it_producer *svc);

/* The value of the sample named exactly `series` (name and labels as rendered, e.g.
 * "ferry_x_total{topic=\"t\"}") in exposition `text`, or -1 when absent. */
double it_metric_sample(const char *text, const char *series);

/*
 * Sends SIGTERM and waits at most 30 s for the process to exit (then SIGKILL). Returns its exit
 * status, or 128 + the signal that ended it; prints the log's tail when that is not 0.
 * No-op returning 0 when p->pid is 0.
 */
int it_producer_stop(struct it_producer *p);

/* SIGKILL (a crash, for recovery tests); reaps it. No-op when p->pid is 0. */
void it_producer_kill(struct it_producer *p);

/* Prints the last `lines` lines of the producer's log to stderr. */
void it_producer_print_log(const struct it_producer *p, int lines);

/* --- fixture ------------------------------------------------------------------------------ */

/* What most test programs share: one database, a producer serving it, a connection to it. */
struct it_fixture {
	struct it_db db;
	struct it_producer producer;
	PGconn *conn;
};

/* it_db_create(name), it_producer_start(extra_env) on it, it_pg_connect to it. */
void it_fixture_open(struct it_fixture *fx, const char *name, const char *const *extra_env);

/* Closes the connection, stops the producer (failing the test unless it exits 0: under the
 * sanitizers that is also the leak check) and drops the database. */
void it_fixture_close(struct it_fixture *fx);

/* --- HTTP ----------------------------------------------------------------------------------- */

struct it_response {
	long status;            /* HTTP status; 0 when no answer (connection error, timeout) */
	char content_type[128]; /* Content-Type of the answer, "" when none */
	char *text;             /* body as received, NUL-terminated */
	size_t text_len;        /* body length */
	json_t *json;           /* the body parsed as JSON, NULL when it is not JSON */
	char error[256];        /* libcurl's reason when status is 0 */
};

/*
 * Sends `method` `path` (with query string) to the producer, with `body` of `body_len` bytes
 * (NULL: no body) and the header Content-Type: `content_type` (NULL: none), and waits at most
 * 30 s for the answer. *r must start zeroed ({0}); each call frees what it held before. Returns
 * r->status. Does not fail the test: a connection error is status 0. Any thread (one *r per
 * thread); so are it_get, it_post, it_response_free, it_json_get and it_json_string.
 */
long it_http(const struct it_producer *p, const char *method, const char *path,
             const char *content_type, const char *body, size_t body_len, struct it_response *r);
/* it_http with more request headers: `extra_headers` is a NULL-terminated list of
 * "Name: value" lines (NULL: none). */
long it_http_with_headers(const struct it_producer *p, const char *method, const char *path,
                          const char *content_type, const char *body, size_t body_len,
                          const char *const *extra_headers, struct it_response *r);

/*
 * The TLS files it_http uses for services listening on https (and it_consumer_start_group does
 * not pass on: the consumer's own ProducerService__* settings do): PEM `ca_file` to trust
 * (NULL: the system's CAs), and `cert_file` + `key_file` for mutual TLS (NULL: none). Copied.
 * Call from the test thread while no it_http runs; it_http_set_tls(NULL, NULL, NULL) resets.
 */
void it_http_set_tls(const char *ca_file, const char *cert_file, const char *key_file);

/* it_http_with_headers with the API key `key` ("Authorization: Bearer <key>"), or none when
 * key is NULL; it_http and it_http_with_headers send IT_API_KEY unless extra_headers carry an
 * Authorization or X-Api-Key header of their own. */
long it_http_as(const struct it_producer *p, const char *key, const char *method, const char *path,
                const char *content_type, const char *body, size_t body_len,
                const char *const *extra_headers, struct it_response *r);

/* GET path. */
long it_get(const struct it_producer *p, const char *path, struct it_response *r);

/* POST path with the JSON text `json` as an application/json body. */
long it_post(const struct it_producer *p, const char *path, const char *json,
             struct it_response *r);

/* Frees what *r holds and zeroes it. */
void it_response_free(struct it_response *r);

/* The value at a dotted path ("database.ok"; a number indexes an array: "results.0.id"), or
 * NULL. Borrowed reference. */
json_t *it_json_get(json_t *root, const char *dotted);

/* The string at a dotted path, or "(no string at <path>)" so that a comparison fails readably
 * instead of crashing on NULL. Valid while root is. */
const char *it_json_string(json_t *root, const char *dotted);

/* --- SQL ------------------------------------------------------------------------------------ */

/* Connects to conninfo (e.g. db->conninfo). The caller PQfinish()es it. */
PGconn *it_pg_connect(const char *conninfo);

/* Runs the formatted statement(s); fails the test unless it succeeds. */
void it_sql_exec(PGconn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs a query returning one row of one non-NULL integer column, and returns it. */
int64_t it_sql_int(PGconn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs a query returning one row of one column; returns a copy the caller frees, or NULL for
 * SQL NULL. */
char *it_sql_text(PGconn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs the statement and fails the test unless it fails with SQLSTATE `sqlstate` ("22023").
 * Returns PostgreSQL's primary message (caller frees). */
char *it_sql_fails(PGconn *conn, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runs the query every 50 ms until it returns `want` or timeout_ms have passed. Returns true
 * when it did. A connection lost meanwhile (PostgreSQL restarted) is reset and the wait goes
 * on; the test fails if it is still lost at the deadline, or on any other SQL error. */
bool it_wait_sql_int(PGconn *conn, int64_t want, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- Kafka ---------------------------------------------------------------------------------- */

struct it_header {
	char *name;
	char *value; /* NUL-terminated copy; NULL for a null header value */
};

struct it_record {
	char *key; /* NUL-terminated copy, NULL when the record has no key */
	size_t key_len;
	char *value; /* NUL-terminated copy, NULL for a null value */
	size_t value_len;
	int32_t partition;
	int64_t offset;
	struct it_header *headers; /* in record order */
	size_t header_count;
};

struct it_records {
	struct it_record *v; /* in the order they were read: per partition, by offset */
	size_t n;
};

/*
 * Reads `topic` from the beginning of every partition until `want` records were read or
 * timeout_ms passed, whichever comes first, and stores them in *out (free with
 * it_records_free). A topic that does not exist yet is waited for within the same timeout
 * (the broker creates it on the first produce); if it never appears, *out is empty.
 * No consumer group is joined and no offset committed (librdkafka needs a group.id for
 * rd_kafka_assign; a unique one is made up and never used).
 */
void it_kafka_read(const char *topic, size_t want, int timeout_ms, struct it_records *out);

/*
 * Counts the records on `topic` from the partitions' watermarks (high - low, summed): exact
 * for ferry's topics (no transactions, no compaction), and instant. 0 when the topic does not
 * exist (it is not created).
 */
int64_t it_kafka_count(const char *topic);

/* The value of the first header called `name`, or NULL. */
const char *it_record_header(const struct it_record *rec, const char *name);

/* Fails the test, reporting the caller's line, unless the record has a header `name` whose
 * value is `want`. */
#define it_assert_header(rec, name, want)                                                          \
	it_assert_header_at((rec), (name), (want), __FILE__, __LINE__)
void it_assert_header_at(const struct it_record *rec, const char *name, const char *want,
                         const char *file, int line);

void it_records_free(struct it_records *recs);

#endif
