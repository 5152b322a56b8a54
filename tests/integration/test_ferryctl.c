/*
 * test_ferryctl.c - ferryctl (FERRY_CTL_BIN) run as an operator runs it, against a producer and
 * consumers of the harness: what it prints and how it exits.
 *
 * Each test works on topics of its own, and the commands that read everything (groups status,
 * verify, e2e) are scoped to them with --topic, so the tests do not depend on each other's
 * leftovers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS        60000
#define CTL_TIMEOUT_MS 180000

static struct it_fixture fx;
static char url[64];
static struct it_producer c1, c2; /* consumers; teardown stops them if a test failed */

struct ctl_run {
	int status; /* exit code; 128 + signal when killed */
	char out[65536];
	char err[8192];
};

static void read_into(int fd, char *buf, size_t size)
{
	ssize_t n;
	size_t used = 0;

	lseek(fd, 0, SEEK_SET);
	while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
}

/*
 * Runs ferryctl with the NULL-terminated arguments and FERRY_URL=<url> (the producer's unless
 * `with_url` is given), waits at most CTL_TIMEOUT_MS, and fills *r.
 */
static void ctl_env(struct ctl_run *r, const char *with_url, const char *arg, ...)
{
	char *argv[32], tmpl_out[] = "/tmp/ferryctl-out-XXXXXX",
	                tmpl_err[] = "/tmp/ferryctl-err-XXXXXX";
	int fd_out = mkstemp(tmpl_out), fd_err = mkstemp(tmpl_err), argc = 1, st = 0;
	int64_t deadline = it_now_ms() + CTL_TIMEOUT_MS;
	va_list ap;
	pid_t pid, done;

	if (fd_out < 0 || fd_err < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	unlink(tmpl_out);
	unlink(tmpl_err);
	argv[0] = FERRY_CTL_BIN;
	va_start(ap, arg);
	for (; arg && argc < 31; arg = va_arg(ap, const char *))
		argv[argc++] = (char *)arg;
	va_end(ap);
	argv[argc] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		dup2(fd_out, STDOUT_FILENO);
		dup2(fd_err, STDERR_FILENO);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		setenv("FERRY_URL", with_url ? with_url : url, 1);
		setenv("FERRY_TOKEN", IT_API_KEY, 1);
		execv(FERRY_CTL_BIN, argv);
		_exit(127);
	}
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	while ((done = waitpid(pid, &st, WNOHANG)) == 0 && it_now_ms() < deadline)
		it_sleep_ms(20);
	if (done == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	read_into(fd_out, r->out, sizeof(r->out));
	read_into(fd_err, r->err, sizeof(r->err));
	close(fd_out);
	close(fd_err);
	if (done == 0)
		fail_msg("ferryctl %s did not finish within %d s", argv[1], CTL_TIMEOUT_MS / 1000);
}

#define ctl(r, ...) ctl_env((r), NULL, __VA_ARGS__, (const char *)NULL)

/* Fails unless the run exited `want`; shows what it printed. */
#define assert_exit(r, want)                                                                       \
	do {                                                                                       \
		if ((r)->status != (want))                                                         \
			fail_msg("ferryctl exited %d, want %d\nstdout:\n%s\nstderr:\n%s",          \
			         (r)->status, (want), (r)->out, (r)->err);                         \
	} while (0)

/* Fails unless stderr is exactly one line containing `needle`. */
static void assert_one_error_line(const struct ctl_run *r, const char *needle)
{
	size_t len = strlen(r->err);

	if (len == 0 || r->err[len - 1] != '\n' || strchr(r->err, '\n') != r->err + len - 1 ||
	    strstr(r->err, needle) == NULL || strncmp(r->err, "ferryctl: ", 10) != 0)
		fail_msg("want one line 'ferryctl: ...%s...' on stderr, got:\n%s", needle, r->err);
}

static json_t *parse_out(const struct ctl_run *r)
{
	json_error_t jerr;
	json_t *j = json_loads(r->out, 0, &jerr);

	if (j == NULL)
		fail_msg("--json output is not JSON (%s):\n%s", jerr.text, r->out);
	return j;
}

static void assert_contains(const char *haystack, const char *needle)
{
	if (strstr(haystack, needle) == NULL)
		fail_msg("'%s' not found in:\n%s", needle, haystack);
}

static int setup(void **state)
{
	/* A quick retry job, so that dead letters and re-drives settle within the test. */
	static const char *const env[] = {"FERRY_RETRY_INTERVAL_MS=200", NULL};

	(void)state;
	it_fixture_open(&fx, "ferryctl", env);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", fx.producer.port);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_producer_stop(&c1);
	it_producer_stop(&c2);
	it_fixture_close(&fx);
	return 0;
}

/* Starts a consumer of `group` on `topic` (log processor). */
static void start_consumer(struct it_producer *c, const char *group, const char *topic)
{
	char g[256], t[256], u[128];
	const char *env[] = {g,   t, u, "FERRY_HEARTBEAT_INTERVAL_S=1", "FERRY_ACK_FLUSH_MS=10",
	                     NULL};

	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topic);
	snprintf(u, sizeof(u), "ProducerService__BaseUrl=%s", url);
	it_consumer_start(c, &fx.db, env);
}

/* send, then messages show: what was sent is what the producer holds. */
static void test_send_then_show(void **state)
{
	struct ctl_run r;
	char topic[IT_TOPIC_MAX], idtext[32], file[] = "/tmp/ferryctl-msg-XXXXXX";
	json_t *j;
	int64_t id;
	int fd;

	(void)state;
	it_topic(topic, sizeof(topic), "ctl-send");
	ctl(&r, "send", topic, "hello from ferryctl", "-k", "user-7", "-H", "source=cli",
	    "--header", "trace=abc", "--no-batching");
	assert_exit(&r, 0);
	if (sscanf(r.out, "message %" SCNd64 " sent to", &id) != 1)
		fail_msg("unexpected send output: %s", r.out);
	assert_contains(r.out, topic);
	snprintf(idtext, sizeof(idtext), "%" PRId64, id);

	ctl(&r, "messages", "show", idtext, "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_string_equal(it_json_string(j, "topic"), topic);
	assert_string_equal(it_json_string(j, "key"), "user-7");
	assert_string_equal(it_json_string(j, "message"), "hello from ferryctl");
	assert_string_equal(it_json_string(j, "headers.source"), "cli");
	assert_string_equal(it_json_string(j, "headers.trace"), "abc");
	json_decref(j);

	/* The human form names the fields. */
	ctl(&r, "messages", "show", idtext);
	assert_exit(&r, 0);
	assert_contains(r.out, "hello from ferryctl");
	assert_contains(r.out, "user-7");

	/* @file sends the file's bytes; --json gives the API's answer. */
	fd = mkstemp(file);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"from\":\"file\"}\nline two", 24), 24);
	close(fd);
	{
		char at[64];

		snprintf(at, sizeof(at), "@%s", file);
		ctl(&r, "send", topic, at, "--json");
		assert_exit(&r, 0);
		j = parse_out(&r);
		id = json_integer_value(it_json_get(j, "messageId"));
		json_decref(j);
		snprintf(idtext, sizeof(idtext), "%" PRId64, id);
		ctl(&r, "messages", "show", idtext, "--json");
		j = parse_out(&r);
		assert_string_equal(it_json_string(j, "message"), "{\"from\":\"file\"}\nline two");
		json_decref(j);

		/* --lines: one message per line, one atomic batch. */
		ctl(&r, "send", topic, at, "--lines", "--json");
		assert_exit(&r, 0);
		j = parse_out(&r);
		assert_int_equal(json_integer_value(it_json_get(j, "count")), 2);
		json_decref(j);
	}
	unlink(file);

	/* A missing file: one line naming it. */
	ctl(&r, "send", topic, "@/nonexistent/ferryctl-file");
	assert_exit(&r, 1);
	assert_one_error_line(&r, "/nonexistent/ferryctl-file");

	/* The backlog is readable (and eventually empty). */
	ctl(&r, "messages", "pending", "--json", "--limit", "10");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_true(json_is_array(it_json_get(j, "items")));
	json_decref(j);

	/* An unknown id is the API's 404, in one line. */
	ctl(&r, "messages", "show", "999999999");
	assert_exit(&r, 1);
	assert_one_error_line(&r, "HTTP 404");
}

static json_t *group_of(json_t *topic, const char *name)
{
	json_t *g;
	size_t i;

	json_array_foreach (it_json_get(topic, "consumerGroups"), i, g) {
		if (strcmp(it_json_string(g, "consumerGroupName"), name) == 0)
			return g;
	}
	fail_msg("no group %s in the topic", name);
	return NULL;
}

/* topics register / list / show / update / deactivate. */
static void test_topics(void **state)
{
	struct ctl_run r;
	struct it_response resp = {0};
	char topic[IT_TOPIC_MAX], path[256], body[512];
	json_t *j, *g;

	(void)state;
	it_topic(topic, sizeof(topic), "ctl-topics");
	ctl(&r, "topics", "register", topic, "-d", "ferryctl test", "-p", "3", "--group", "ga",
	    "--group", "gb", "--ack-timeout", "2m", "--max-retries", "5");
	assert_exit(&r, 0);
	assert_contains(r.out, "with 2 consumer group(s)");

	ctl(&r, "topics", "list");
	assert_exit(&r, 0);
	assert_contains(r.out, topic);
	assert_contains(r.out, "ga, gb");
	assert_contains(r.out, "ferryctl test");

	ctl(&r, "topics", "show", topic, "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_int_equal(json_integer_value(it_json_get(j, "partitions")), 3);
	g = group_of(j, "gb");
	assert_int_equal(json_integer_value(it_json_get(g, "maxRetries")), 5);
	assert_int_equal(json_integer_value(it_json_get(g, "acknowledgmentTimeoutSeconds")), 120);
	json_decref(j);

	ctl(&r, "topics", "show", topic);
	assert_exit(&r, 0);
	assert_contains(r.out, "partitions:  3");
	assert_contains(r.out, "2m00s");

	/* update: by topic and group name. */
	ctl(&r, "topics", "update", topic, "--group", "gb", "--max-retries", "-1", "--active",
	    "false", "--requires-ack", "false");
	assert_exit(&r, 0);
	assert_contains(r.out, "updated consumer group gb");
	ctl(&r, "topics", "update", topic, "--add-group", "gc", "--ack-timeout", "30s");
	assert_exit(&r, 0);
	snprintf(path, sizeof(path), "/api/topics/%s", topic);
	assert_int_equal(it_get(&fx.producer, path, &resp), 200);
	g = group_of(resp.json, "gb");
	assert_int_equal(json_integer_value(it_json_get(g, "maxRetries")), -1);
	assert_true(json_is_false(it_json_get(g, "isActive")));
	assert_true(json_is_false(it_json_get(g, "requiresAcknowledgment")));
	g = group_of(resp.json, "gc");
	assert_int_equal(json_integer_value(it_json_get(g, "acknowledgmentTimeoutSeconds")), 30);

	/* Group deactivate / activate by name. */
	ctl(&r, "topics", "activate", topic, "--group", "gb");
	assert_exit(&r, 0);
	assert_int_equal(it_get(&fx.producer, path, &resp), 200);
	assert_true(json_is_true(it_json_get(group_of(resp.json, "gb"), "isActive")));
	ctl(&r, "topics", "update", topic, "--group", "nope", "--max-retries", "1");
	assert_exit(&r, 1);
	assert_one_error_line(&r, "has no consumer group 'nope'");
	ctl(&r, "topics", "update", topic, "--group", "ga");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "nothing to change");

	/* Deactivate the topic: REST sends are refused. */
	ctl(&r, "topics", "deactivate", topic);
	assert_exit(&r, 0);
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"x\"}", topic);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &resp), 404);
	ctl(&r, "send", topic, "refused");
	assert_exit(&r, 1);
	assert_one_error_line(&r, "HTTP 404");
	ctl(&r, "topics", "activate", topic);
	assert_exit(&r, 0);
	assert_int_equal(it_post(&fx.producer, "/api/messages/send", body, &resp), 201);

	/* The API's refusals, each in one line. */
	ctl(&r, "topics", "register", topic);
	assert_exit(&r, 1);
	assert_one_error_line(&r, "HTTP 409");
	ctl(&r, "topics", "show", "no-such-topic-ferryctl");
	assert_exit(&r, 1);
	assert_one_error_line(&r, "HTTP 404");
	ctl(&r, "topics", "register", "bad topic name!");
	assert_exit(&r, 1);
	assert_one_error_line(&r, "HTTP 400");
	ctl(&r, "topics", "register", topic, "--ack-timeout", "1.5s", "--group", "x");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "--ack-timeout");
	it_response_free(&resp);
}

/* groups status shows what /api/messages/stats says, per group and topic. */
static void test_groups_status_matches_stats(void **state)
{
	struct ctl_run r;
	struct it_response resp = {0};
	char topic[IT_TOPIC_MAX];
	json_t *j, *row, *mine;
	size_t i, j_i, compared = 0;
	static const char *const keys[] = {"PENDING", "SENT", "ACKNOWLEDGED", "FAILED", "EXPIRED"};

	(void)state;
	it_topic(topic, sizeof(topic), "ctl-status");
	ctl(&r, "topics", "register", topic, "--group", "status-a", "--group", "status-b",
	    "--group", "status-idle");
	assert_exit(&r, 0);
	ctl(&r, "topics", "deactivate", topic, "--group", "status-idle");
	assert_exit(&r, 0);
	for (i = 0; i < 3; i++) {
		ctl(&r, "send", topic, "counted");
		assert_exit(&r, 0);
	}
	/* No consumer: the deliveries settle at SENT, and the numbers hold still. */
	assert_true(it_wait_sql_int(fx.conn, 6, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery d JOIN "
	                            "ferry.outbox_message m ON m.id = d.message_id WHERE m.topic = "
	                            "'%s' AND d.status = 'SENT'",
	                            topic));
	ctl(&r, "groups", "status", "--topic", topic, "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_int_equal(it_get(&fx.producer, "/api/messages/stats", &resp), 200);
	json_array_foreach (it_json_get(resp.json, "groups"), i, row) {
		if (strcmp(it_json_string(row, "topic"), topic) != 0)
			continue;
		mine = NULL;
		json_array_foreach (it_json_get(j, "groups"), j_i, mine) {
			if (strcmp(it_json_string(mine, "consumerGroup"),
			           it_json_string(row, "consumerGroup")) == 0)
				break;
			mine = NULL;
		}
		if (mine == NULL)
			fail_msg("group %s missing from groups status",
			         it_json_string(row, "consumerGroup"));
		for (size_t k = 0; k < 5; k++)
			assert_int_equal(json_integer_value(json_object_get(mine, keys[k])),
			                 json_integer_value(json_object_get(row, keys[k])));
		compared++;
	}
	assert_int_equal(compared, 2);
	/* A registered group with no messages is listed too, with zeros. */
	assert_int_equal(json_array_size(it_json_get(j, "groups")), 3);
	json_decref(j);

	ctl(&r, "groups", "status", "--topic", topic);
	assert_exit(&r, 0);
	assert_contains(r.out, "status-a");
	assert_contains(r.out, "OLDEST UNACKED");
	it_response_free(&resp);
}

/* verify passes when every group acknowledged, and fails when one group's consumer stopped;
 * e2e passes against running consumers and fails when a group is not consuming. */
static void test_verify_and_e2e(void **state)
{
	struct ctl_run r;
	char topic[IT_TOPIC_MAX];
	json_t *j;
	int i;

	(void)state;
	it_topic(topic, sizeof(topic), "ctl-verify");
	ctl(&r, "topics", "register", topic, "-p", "2", "--group", "verify-a", "--group",
	    "verify-b");
	assert_exit(&r, 0);
	start_consumer(&c1, "verify-a", topic);
	start_consumer(&c2, "verify-b", topic);
	for (i = 0; i < 5; i++) {
		ctl(&r, "send", topic, "to be verified");
		assert_exit(&r, 0);
	}
	assert_true(it_wait_sql_int(fx.conn, 10, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery d JOIN "
	                            "ferry.outbox_message m ON m.id = d.message_id WHERE m.topic = "
	                            "'%s' AND d.status = 'ACKNOWLEDGED'",
	                            topic));
	ctl(&r, "verify", "--topic", topic, "--grace", "1s");
	assert_exit(&r, 0);
	assert_contains(r.out, "OK: 2 group(s)");

	/* e2e against both running groups. */
	ctl(&r, "e2e", "--count", "200", "--topic", topic, "--timeout", "90s");
	assert_exit(&r, 0);
	assert_contains(r.out, "PASS: 200/200");
	assert_contains(r.out, "p99");
	ctl(&r, "e2e", "--count", "20", "--batching", "--topic", topic, "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_true(json_is_true(it_json_get(j, "pass")));
	assert_int_equal(json_integer_value(it_json_get(j, "acknowledged")), 20);
	assert_true(json_number_value(it_json_get(j, "latencyMs.max")) >=
	            json_number_value(it_json_get(j, "latencyMs.p50")));
	json_decref(j);

	/* Group b's consumer stops: a new message stays unacknowledged for it. */
	assert_int_equal(it_producer_stop(&c2), 0);
	ctl(&r, "send", topic, "only a gets this");
	assert_exit(&r, 0);
	assert_true(it_wait_sql_int(fx.conn, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry.message_delivery d JOIN "
	                            "ferry.outbox_message m ON m.id = d.message_id WHERE m.topic = "
	                            "'%s' AND d.consumer_group = 'verify-b' AND d.status = 'SENT'",
	                            topic));
	it_sleep_ms(1500); /* older than the grace below */
	ctl(&r, "verify", "--topic", topic, "--grace", "1s");
	assert_exit(&r, 1);
	assert_contains(r.out, "MISSING");
	assert_contains(r.out, "FAIL: 1 of 2 group(s)");
	ctl(&r, "verify", "--topic", topic, "--grace", "1s", "--json");
	assert_exit(&r, 1);
	j = parse_out(&r);
	assert_int_equal(json_integer_value(it_json_get(j, "groupsMissing")), 1);
	assert_true(json_is_false(it_json_get(j, "ok")));
	json_decref(j);
	/* Within a long grace the same message is still in flight, not missing. */
	ctl(&r, "verify", "--topic", topic, "--grace", "1h");
	assert_exit(&r, 0);

	/* e2e cannot pass while group b is not consuming. */
	ctl(&r, "e2e", "--count", "3", "--topic", topic, "--timeout", "2s");
	assert_exit(&r, 1);
	assert_contains(r.out, "FAIL: 0/3 acknowledged");

	/* agents: both consumers, b stopped. */
	ctl(&r, "agents", "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_true(json_array_size(it_json_get(j, "consumers")) >= 2);
	json_decref(j);
	ctl(&r, "agents");
	assert_exit(&r, 0);
	assert_contains(r.out, "verify-a");
	assert_contains(r.out, "healthy");
	assert_contains(r.out, "STOPPED");

	assert_int_equal(it_producer_stop(&c1), 0);
}

/* Makes message `id`'s delivery to `group` FAILED: a negative ack, with no retries left. */
static void fail_delivery(int64_t id, const char *group)
{
	struct it_response resp = {0};
	char body[256];

	if (!it_wait_sql_int(
	        fx.conn, 1, WAIT_MS,
	        "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	        " AND status = 'SENT'",
	        id))
		fail_msg("message %" PRId64 " never reached SENT", id);
	snprintf(body, sizeof(body),
	         "{\"messageId\":%" PRId64 ",\"consumerGroup\":\"%s\",\"success\":false,"
	         "\"errorMessage\":\"boom %" PRId64 "\"}",
	         id, group, id);
	assert_int_equal(it_post(&fx.producer, FERRY_PATH_ACKNOWLEDGE, body, &resp), 200);
	it_response_free(&resp);
	if (!it_wait_sql_int(
	        fx.conn, 1, WAIT_MS,
	        "SELECT count(*) FROM ferry.message_delivery WHERE message_id = %" PRId64
	        " AND status = 'FAILED'",
	        id))
		fail_msg("message %" PRId64 " never reached FAILED", id);
}

static int64_t send_json(const char *topic)
{
	struct ctl_run r;
	json_t *j;
	int64_t id;

	ctl(&r, "send", topic, "dead letter to be", "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	id = json_integer_value(it_json_get(j, "messageId"));
	json_decref(j);
	return id;
}

/* messages failed / retry / purge against the producer's dead-letter endpoints. */
static void test_dead_letters(void **state)
{
	struct ctl_run r;
	char topic[IT_TOPIC_MAX], idtext[32];
	int64_t a, b, c;
	json_t *j;

	(void)state;
	it_topic(topic, sizeof(topic), "ctl-dead");
	ctl(&r, "topics", "register", topic, "--group", "dl", "--max-retries", "0");
	assert_exit(&r, 0);
	a = send_json(topic);
	b = send_json(topic);
	fail_delivery(a, "dl");
	fail_delivery(b, "dl");

	ctl(&r, "messages", "failed", "--group", "dl", "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_int_equal(json_array_size(it_json_get(j, "failed")), 2);
	assert_int_equal(json_integer_value(it_json_get(j, "failed.0.messageId")), a);
	assert_string_equal(it_json_string(j, "failed.0.status"), "FAILED");
	json_decref(j);
	ctl(&r, "messages", "failed", "--group", "dl", "--status", "failed");
	assert_exit(&r, 0);
	assert_contains(r.out, "boom");
	assert_contains(r.out, topic);
	ctl(&r, "messages", "failed", "--group", "dl", "--status", "EXPIRED");
	assert_exit(&r, 0);
	assert_contains(r.out, "no dead letters");

	/* One message, to its group: recorded as asked by ferryctl's key (the harness's,
	 * 'bootstrap'). */
	snprintf(idtext, sizeof(idtext), "%" PRId64, a);
	ctl(&r, "messages", "retry", idtext, "--group", "dl");
	assert_exit(&r, 0);
	assert_contains(r.out, "queued for redelivery");
	assert_contains(r.out, "FAILED");
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_event WHERE message_id = "
	                            "%" PRId64 " AND event = 'redrive_requested'"
	                            " AND actor = 'key:bootstrap'",
	                            a),
	                 1);
	/* The whole group: b (and a, if the retry job has not taken it yet). */
	ctl(&r, "messages", "retry", "--group", "dl", "--status", "FAILED", "--json");
	assert_exit(&r, 0);
	j = parse_out(&r);
	assert_true(json_integer_value(it_json_get(j, "requeued")) >= 1);
	json_decref(j);
	/* Without --status (FAILED and EXPIRED): success is exit 0, whatever was requeued. */
	ctl(&r, "messages", "retry", "--group", "dl");
	assert_exit(&r, 0);
	/* Both are republished (SENT again, waiting for a consumer). */
	assert_true(
	    it_wait_sql_int(fx.conn, 2, WAIT_MS,
	                    "SELECT count(*) FROM ferry.message_delivery WHERE message_id IN "
	                    "(%" PRId64 ", %" PRId64 ") AND status = 'SENT'",
	                    a, b));

	/* purge: a fresh dead letter, older than 1 s, is deleted; the re-driven ones are not
	 * dead letters any more. */
	c = send_json(topic);
	fail_delivery(c, "dl");
	it_sleep_ms(2100); /* the producer's cutoff is in whole seconds: 1 s may mean 2 */
	ctl(&r, "messages", "purge", "--older-than", "1s", "--group", "dl");
	assert_exit(&r, 0);
	assert_contains(r.out, "deleted 1 dead delivery(ies)");
	ctl(&r, "messages", "failed", "--group", "dl", "--json");
	j = parse_out(&r);
	assert_int_equal(json_array_size(it_json_get(j, "failed")), 0);
	json_decref(j);
	snprintf(idtext, sizeof(idtext), "%" PRId64, (int64_t)999999999);
	ctl(&r, "messages", "retry", idtext);
	assert_exit(&r, 1);
	assert_one_error_line(&r, "HTTP 404");
}

/* Unreachable or malformed URLs, unknown subcommands and options. */
static void test_errors(void **state)
{
	struct ctl_run r;

	(void)state;
	ctl_env(&r, "http://127.0.0.1:1", "topics", "list", (const char *)NULL);
	assert_exit(&r, 1);
	assert_one_error_line(&r, "http://127.0.0.1:1");
	ctl(&r, "--url", "http://127.0.0.1:1/", "groups", "status");
	assert_exit(&r, 1);
	assert_one_error_line(&r, "cannot reach http://127.0.0.1:1");
	ctl(&r, "agents", "--url", "not-a-url");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "not-a-url");

	ctl(&r, "frobnicate");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "unknown command 'frobnicate'");
	assert_string_equal(r.out, "");
	ctl(&r, "topics", "frob");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "unknown subcommand 'topics frob'");
	ctl(&r, "topics", "list", "--frob");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "unknown option '--frob'");
	ctl(&r, "send", "t", "m", "--header", "no-equals-sign");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "NAME=VALUE");
	ctl(&r, "e2e", "--count", "many");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "--count");

	/* messages failed / retry / purge: argument handling before any request. */
	ctl(&r, "messages", "retry");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "give a message ID");
	ctl(&r, "messages", "retry", "12", "--target", "svc");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "--target needs --group");
	ctl(&r, "messages", "retry", "12", "--status", "FAILED");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "not with a message id");
	ctl(&r, "messages", "retry", "--group", "g", "--limit", "0");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "--limit");
	ctl(&r, "messages", "retry", "--group", "g", "--status", "LOST");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "FAILED or EXPIRED");
	ctl(&r, "messages", "failed", "--status", "pending");
	assert_exit(&r, 2);
	ctl(&r, "messages", "purge");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "--older-than");
	ctl(&r, "messages", "purge", "--older-than", "last week");
	assert_exit(&r, 2);
	assert_one_error_line(&r, "--older-than");

	/* Help is on stdout with exit 0. */
	ctl(&r, "verify", "--help");
	assert_exit(&r, 0);
	assert_contains(r.out, "--grace DURATION");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_send_then_show),
	    cmocka_unit_test(test_topics),
	    cmocka_unit_test(test_groups_status_matches_stats),
	    cmocka_unit_test(test_verify_and_e2e),
	    cmocka_unit_test(test_dead_letters),
	    cmocka_unit_test(test_errors),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
