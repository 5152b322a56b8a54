/*
 * test_dashboard.c - the dashboard page in a real browser.
 *
 * Authentication is on, as in production: the producer answers the API only to a key, and the
 * page asks for one. Keys are made with ferryctl keys create on the test's database, as an
 * operator would: a reader, a producer-only one, and an operator+reader.
 *
 * A producer and a consumer (the example plugin, which fails payloads containing "fail") run
 * traffic over two topics until the numbers settle: acknowledged, failed (dead letters), and
 * sent to a group nobody consumes. Then Debian's chromium, headless and driven over the DevTools
 * protocol, loads GET /, is given the reader key through the page's key form, and lets the page
 * poll; the DOM must show the numbers the REST API gives for the same endpoints. A 1366x768
 * screenshot is saved as a test artifact: <build>/test-artifacts/dashboard.png, with the DOM
 * (dashboard-dom.html) and the browser's output (chromium.log) next to it. The browser clicks
 * a dead letter's re-drive button: refused with the reader key (re-driving needs operator),
 * done with the operator key, and the producer records the re-drive as that key's. Last, the
 * key form: without a key the page shows the 401 state and no data, a producer-only key 403 and
 * no data, a reader key the data; the key is kept in sessionStorage, sent as Authorization on
 * every request, never put in a URL nor the producer's log; "Forget key" goes back to 401.
 *
 * Without chromium the test is skipped (exit 77, which ctest reports as skipped) unless
 * FERRY_REQUIRE_CHROMIUM is set, as scripts/test does: then a missing browser fails it.
 * FERRY_CHROMIUM names another browser binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FERRY_ARTIFACT_DIR
#define FERRY_ARTIFACT_DIR "test-artifacts"
#endif

#define WAIT_MS      90000
#define SKIP_EXIT    77
#define N_TOPIC_A    12 /* every 4th fails */
#define N_TOPIC_B    6  /* the first fails */
#define SCREENSHOT_W 1366
#define SCREENSHOT_H 768

extern char **environ;

/* Authentication on (the harness's default); keys made after the start are known within
 * FERRY_AUTH_REFRESH_MS. */
static const char *const producer_env[] = {
    "FERRY_AUTH_REFRESH_MS=200",
    "FERRY_RETRY_INTERVAL_MS=200",
    "FERRY_RETRY_BACKOFF_BASE_MS=200",
    "FERRY_AGENT_HEARTBEAT_INTERVAL_S=1",
    NULL,
};

static struct it_fixture fx;
static char chromium[512];
static bool skipped;
static pid_t browser_pgid; /* a DevTools-driven browser still running (a failed test) */
/* Keys made by setup with ferryctl keys create (fk_ + 64 hex digits). */
static char key_reader[80];   /* "dashboard-reader": reader */
static char key_producer[80]; /* "dashboard-producer": producer, may not read */
static char key_operator[80]; /* "dashboard-operator": operator and reader */

/* The browser: $FERRY_CHROMIUM, else chromium or chromium-browser on PATH. */
static bool find_chromium(void)
{
	static const char *const names[] = {"chromium", "chromium-browser"};
	const char *env = getenv("FERRY_CHROMIUM");
	const char *path = getenv("PATH");
	bool found = false;

	if (env != NULL && env[0] != '\0') {
		snprintf(chromium, sizeof(chromium), "%s", env);
		found = access(chromium, X_OK) == 0;
		goto done;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !found; i++) {
		const char *p = path != NULL ? path : "/usr/bin:/bin";

		while (!found && *p != '\0') {
			size_t len = strcspn(p, ":");

			snprintf(chromium, sizeof(chromium), "%.*s/%s", (int)len, p, names[i]);
			found = len > 0 && access(chromium, X_OK) == 0;
			p += len;
			if (*p == ':')
				p++;
		}
	}
done:
	return found;
}

/*
 * Kills what is left of the browser's process group and reaps it all. main() made this process
 * a subreaper, so the browser's helpers, orphaned when it exits, are our children too: without
 * this they would stay zombies (a container's init may not reap them).
 */
static void reap_group(pid_t pgid)
{
	int status;

	kill(-pgid, SIGKILL);
	while (waitpid(-pgid, &status, 0) > 0 || errno == EINTR)
		;
}

/*
 * Runs `ferryctl keys create NAME --roles ROLES --database <the test's db>` (at most 60 s) and
 * copies the key it prints into key. Fails the test unless it exits 0 with a key.
 */
static void create_key(const char *name, const char *roles, char *key, size_t size)
{
	char *const argv[] = {(char *)"ferryctl",   (char *)"keys",    (char *)"create",
	                      (char *)name,         (char *)"--roles", (char *)roles,
	                      (char *)"--database", fx.db.conninfo,    NULL};
	posix_spawn_file_actions_t fa;
	char out[256];
	size_t used = 0;
	int pipefd[2], status = 0, rc;
	int64_t deadline = it_now_ms() + 60000;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) != 0)
		fail_msg("pipe: %s", strerror(errno));
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1), 0);
	rc = posix_spawn(&pid, FERRY_CTL_BIN, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (rc != 0) {
		close(pipefd[0]);
		fail_msg("cannot start %s: %s", FERRY_CTL_BIN, strerror(rc));
	}
	/* The key is one short line: read until ferryctl closes its stdout, or the deadline. */
	for (;;) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		int left = (int)(deadline - it_now_ms());
		ssize_t n;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		n = read(pipefd[0], out + used, sizeof(out) - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == sizeof(out) - 1)
			break;
	}
	close(pipefd[0]);
	out[used] = '\0';
	if (it_now_ms() >= deadline)
		kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("ferryctl keys create %s --roles %s failed (status %d)", name, roles,
		         status);
	out[strcspn(out, "\n")] = '\0';
	if (strncmp(out, "fk_", 3) != 0 || strlen(out) >= size)
		fail_msg("ferryctl keys create %s printed '%s', not a key", name, out);
	snprintf(key, size, "%s", out);
}

/* Whether the producer already knows `arg` (a key made after it started): GET stats is 200. */
static bool key_known(void *arg)
{
	struct it_response r = {0};
	long status =
	    it_http_as(&fx.producer, arg, "GET", "/api/messages/stats", NULL, NULL, 0, NULL, &r);

	it_response_free(&r);
	return status == 200;
}

static int setup(void **state)
{
	(void)state;
	it_fixture_open(&fx, "dashboard", producer_env);
	create_key("dashboard-reader", "reader", key_reader, sizeof(key_reader));
	create_key("dashboard-producer", "producer", key_producer, sizeof(key_producer));
	create_key("dashboard-operator", "operator,reader", key_operator, sizeof(key_operator));
	if (!it_wait_until(key_known, key_reader, 10000) ||
	    !it_wait_until(key_known, key_operator, 10000))
		fail_msg("the producer never admitted the keys made with ferryctl");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (browser_pgid > 0)
		reap_group(browser_pgid);
	it_fixture_close(&fx);
	return 0;
}

/* --- traffic ------------------------------------------------------------------------------ */

static void post_ok(const char *path, const char *body, long want)
{
	struct it_response r = {0};

	if (it_post(&fx.producer, path, body, &r) != want)
		fail_msg("POST %s answered %ld, not %ld: %s", path, r.status, want, r.text);
	it_response_free(&r);
}

static void send_one(const char *topic, int i, bool fail)
{
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"key\":\"k%d\",\"message\":\"%s %d\",\"useBatching\":false}",
	         topic, i, fail ? "please fail" : "hello", i);
	post_ok("/api/messages/send", body, 201);
}

struct expect_group {
	const char *topic, *group;
	int64_t sent, acked, failed;
};

struct expectation {
	struct expect_group groups[3];
	int agents;
};

static int64_t group_count(json_t *stats, const char *topic, const char *group, const char *status)
{
	size_t i;
	json_t *g;

	json_array_foreach (json_object_get(stats, "groups"), i, g) {
		if (strcmp(it_json_string(g, "topic"), topic) == 0 &&
		    strcmp(it_json_string(g, "consumerGroup"), group) == 0)
			return (int64_t)json_integer_value(json_object_get(g, status));
	}
	return -1;
}

/* Whether the API shows the traffic settled as expected: nothing pending, every group's
 * counts final, the consumer's agents healthy. */
static bool settled(void *arg)
{
	const struct expectation *e = arg;
	struct it_response r = {0};
	bool ok = false;
	size_t i;
	json_t *a;
	int healthy = 0;

	if (it_get(&fx.producer, "/api/messages/stats", &r) != 200)
		goto done;
	for (i = 0; i < 3; i++) {
		const struct expect_group *g = &e->groups[i];

		if (group_count(r.json, g->topic, g->group, "PENDING") != 0 ||
		    group_count(r.json, g->topic, g->group, "SENT") != g->sent ||
		    group_count(r.json, g->topic, g->group, "ACKNOWLEDGED") != g->acked ||
		    group_count(r.json, g->topic, g->group, "FAILED") != g->failed)
			goto done;
	}
	if (it_get(&fx.producer, "/api/agents/consumers", &r) != 200)
		goto done;
	json_array_foreach (r.json, i, a) {
		if (strcmp(it_json_string(a, "health"), "healthy") == 0)
			healthy++;
	}
	ok = healthy == e->agents;
done:
	it_response_free(&r);
	return ok;
}

/* --- the browser --------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

/* Reads a whole file; the caller frees. Fails the test when it cannot. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size = 0;

	if (f == NULL)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	/* Each fail_msg is followed by a return the compiler can see (it does not know that
	 * fail_msg jumps back into cmocka). */
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		fail_msg("cannot size %s", path);
		return NULL;
	}
	buf = malloc((size_t)size + 1);
	assert_non_null(buf);
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		free(buf);
		fail_msg("cannot read %s", path);
		return NULL;
	}
	fclose(f);
	buf[size] = '\0';
	if (len != NULL)
		*len = (size_t)size;
	return buf;
}

/* The start tag of the element with data-testid="id" in the dumped DOM: [*start, *end). */
static bool dom_tag(const char *dom, const char *id, const char **start, const char **end)
{
	char needle[320]; /* ids are short; the room quiets -Wformat-truncation in Release */
	const char *hit;

	snprintf(needle, sizeof(needle), "data-testid=\"%.300s\"", id);
	hit = strstr(dom, needle);
	if (hit == NULL)
		return false;
	*start = hit;
	while (*start > dom && **start != '<')
		(*start)--;
	*end = strchr(hit, '>');
	return *end != NULL;
}

/* Copies and un-escapes what HTML serialization escapes in text and attribute values. */
static void dom_unescape(char *dst, size_t size, const char *src, size_t len)
{
	static const struct {
		const char *entity;
		char c;
	} entities[] = {
	    {"&amp;", '&'}, {"&quot;", '"'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&#39;", '\''}};
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size;) {
		size_t k;

		for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
			size_t el = strlen(entities[k].entity);

			if (i + el <= len && strncmp(src + i, entities[k].entity, el) == 0) {
				dst[o++] = entities[k].c;
				i += el;
				break;
			}
		}
		if (k == sizeof(entities) / sizeof(entities[0]))
			dst[o++] = src[i++];
	}
	dst[o] = '\0';
}

/* The data-value of the element with data-testid="id"; fails the test when there is none. */
static const char *dom_value(const char *dom, const char *id)
{
	static char value[1024];
	const char *start, *end, *v, *q;

	if (!dom_tag(dom, id, &start, &end))
		fail_msg("the page shows no data-testid=\"%s\"", id);
	v = strstr(start, "data-value=\"");
	if (v == NULL || v > end)
		fail_msg("data-testid=\"%s\" has no data-value: %.*s", id, (int)(end - start + 1),
		         start);
	v += strlen("data-value=\"");
	q = strchr(v, '"');
	assert_non_null(q);
	dom_unescape(value, sizeof(value), v, (size_t)(q - v));
	return value;
}

/* The text right after the start tag of data-testid="id", up to the next tag. */
static const char *dom_text(const char *dom, const char *id)
{
	static char text[1024];
	const char *start, *end, *lt;

	if (!dom_tag(dom, id, &start, &end))
		fail_msg("the page shows no data-testid=\"%s\"", id);
	lt = strchr(end + 1, '<');
	assert_non_null(lt);
	dom_unescape(text, sizeof(text), end + 1, (size_t)(lt - end - 1));
	return text;
}

static void expect_int(const char *dom, const char *id, json_int_t want)
{
	char w[32];
	const char *got = dom_value(dom, id);

	snprintf(w, sizeof(w), "%" JSON_INTEGER_FORMAT, want);
	if (strcmp(got, w) != 0)
		fail_msg("the page shows %s = '%s', the API says %s", id, got, w);
}

static void expect_str(const char *dom, const char *id, const char *want)
{
	const char *got = dom_value(dom, id);

	if (strcmp(got, want) != 0)
		fail_msg("the page shows %s = '%s', the API says '%s'", id, got, want);
}

/* --- chromium driven over the DevTools protocol (for clicks) ------------------------------- */

/*
 * A browser started with --remote-debugging-pipe: commands go to its fd 3 and answers come from
 * its fd 4, one JSON message each, ended by a NUL byte. Enough of the protocol to open a page,
 * evaluate JavaScript in it and close the browser.
 */
struct cdp {
	pid_t pid;
	int to;   /* our end of the browser's fd 3 */
	int from; /* our end of the browser's fd 4 */
	char *buf;
	size_t len, cap;
	int next_id;
	char profile[64];
	json_t *requests; /* params of Network.requestWillBeSent events read, or NULL: not kept */
};

static void cdp_start(struct cdp *b)
{
	char profile_arg[128], log_path[512];
	const char *argv[16];
	int to[2], from[2], n = 0, rc;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	memset(b, 0, sizeof(*b));
	snprintf(b->profile, sizeof(b->profile), "/tmp/ferry-dashboard-chromium-XXXXXX");
	if (mkdtemp(b->profile) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(profile_arg, sizeof(profile_arg), "--user-data-dir=%s", b->profile);
	snprintf(log_path, sizeof(log_path), "%s/chromium.log", FERRY_ARTIFACT_DIR);
	/* Close-on-exec everywhere: only the dup2 copies at 3 and 4 reach the browser. */
	assert_int_equal(pipe2(to, O_CLOEXEC), 0);
	assert_int_equal(pipe2(from, O_CLOEXEC), 0);
	/* dup2 onto 3 and 4 must not clobber our own ends: move any that landed there. */
	{
		int *ends[4] = {&to[0], &to[1], &from[0], &from[1]};

		for (n = 0; n < 4; n++) {
			if (*ends[n] <= 4) {
				int moved = fcntl(*ends[n], F_DUPFD_CLOEXEC, 10);

				assert_true(moved > 4);
				close(*ends[n]);
				*ends[n] = moved;
			}
		}
		n = 0;
	}
	argv[n++] = chromium;
	argv[n++] = "--headless=new";
	argv[n++] = "--no-sandbox";
	argv[n++] = "--disable-gpu";
	argv[n++] = "--disable-dev-shm-usage";
	argv[n++] = "--no-first-run";
	argv[n++] = "--no-default-browser-check";
	argv[n++] = "--disable-extensions";
	argv[n++] = "--remote-debugging-pipe";
	argv[n++] = profile_arg;
	argv[n++] = "about:blank";
	argv[n] = NULL;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, to[0], 3), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, from[1], 4), 0);
	assert_int_equal(
	    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644),
	    0);
	assert_int_equal(
	    posix_spawn_file_actions_addopen(&fa, 2, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644),
	    0);
	assert_int_equal(posix_spawnattr_init(&attr), 0);
	assert_int_equal(posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP), 0);
	assert_int_equal(posix_spawnattr_setpgroup(&attr, 0), 0);
	rc = posix_spawn(&b->pid, chromium, &fa, &attr, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(to[0]);
	close(from[1]);
	b->to = to[1];
	b->from = from[0];
	if (rc != 0) {
		b->pid = 0;
		fail_msg("cannot start %s: %s", chromium, strerror(rc));
	}
	browser_pgid = b->pid;
}

/* Ends the browser (it was asked to close, or is killed) and removes its profile. */
static void cdp_stop(struct cdp *b)
{
	int64_t deadline = it_now_ms() + 10000;
	int status;

	if (b->pid > 0) {
		close(b->to); /* a browser reading commands from a closed pipe exits */
		b->to = -1;
		while (waitpid(b->pid, &status, WNOHANG) == 0 && it_now_ms() < deadline)
			it_sleep_ms(50);
		kill(-b->pid, SIGKILL);
		(void)waitpid(b->pid, &status, 0);
		reap_group(b->pid);
		b->pid = 0;
		browser_pgid = 0;
	}
	if (b->to >= 0)
		close(b->to);
	if (b->from >= 0)
		close(b->from);
	free(b->buf);
	b->buf = NULL;
	json_decref(b->requests);
	b->requests = NULL;
	(void)nftw(b->profile, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Sends `method` with `params` (taken; NULL: none) to the session (NULL: the browser) and
 * returns the answer's "result" (new reference), skipping events; fails the test on an error
 * answer or after timeout_ms.
 */
static json_t *cdp_call(struct cdp *b, const char *session, const char *method, json_t *params,
                        int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	int id = ++b->next_id;
	json_t *msg = json_pack("{s:i, s:s, s:o}", "id", id, "method", method, "params",
	                        params ? params : json_object());
	json_t *result = NULL;
	char *text;
	size_t len;

	assert_non_null(msg);
	if (session != NULL)
		json_object_set_new(msg, "sessionId", json_string(session));
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	assert_non_null(text);
	len = strlen(text) + 1; /* the NUL ends the message */
	for (size_t off = 0; off < len;) {
		ssize_t w = write(b->to, text + off, len - off);

		if (w <= 0) {
			free(text);
			fail_msg("DevTools pipe: write failed: %s", strerror(errno));
		}
		off += (size_t)w;
	}
	free(text);
	while (result == NULL) {
		char *nul = b->len > 0 ? memchr(b->buf, '\0', b->len) : NULL;

		if (nul != NULL) {
			size_t mlen = (size_t)(nul - b->buf);
			json_t *m = json_loadb(b->buf, mlen, 0, NULL);
			const char *event = json_string_value(json_object_get(m, "method"));

			memmove(b->buf, nul + 1, b->len - mlen - 1);
			b->len -= mlen + 1;
			if (b->requests != NULL && event != NULL &&
			    strcmp(event, "Network.requestWillBeSent") == 0)
				json_array_append(b->requests, json_object_get(m, "params"));
			if (m != NULL && json_integer_value(json_object_get(m, "id")) == id) {
				if (json_object_get(m, "error") != NULL) {
					char *e = json_dumps(json_object_get(m, "error"), 0);

					json_decref(m);
					fail_msg("DevTools %s failed: %s", method, e ? e : "?");
				}
				result = json_incref(json_object_get(m, "result"));
				if (result == NULL)
					result = json_object();
			}
			json_decref(m);
			continue;
		}
		{
			struct pollfd p = {.fd = b->from, .events = POLLIN};
			int left = (int)(deadline - it_now_ms());
			ssize_t r;

			if (left <= 0 || poll(&p, 1, left) <= 0)
				fail_msg("DevTools %s: no answer within %d ms", method, timeout_ms);
			if (b->len + 65536 > b->cap) {
				b->cap = b->len + 65536 * 2;
				b->buf = realloc(b->buf, b->cap);
				assert_non_null(b->buf);
			}
			r = read(b->from, b->buf + b->len, b->cap - b->len);
			if (r <= 0)
				fail_msg("DevTools %s: the browser closed the pipe", method);
			b->len += (size_t)r;
		}
	}
	return result;
}

/* Evaluates `js` in the session (awaiting a promise) and returns its string value (the caller
 * frees), failing the test on an exception or a non-string. */
static char *cdp_eval(struct cdp *b, const char *session, const char *js, int timeout_ms)
{
	json_t *r = cdp_call(b, session, "Runtime.evaluate",
	                     json_pack("{s:s, s:b, s:b, s:i}", "expression", js, "awaitPromise", 1,
	                               "returnByValue", 1, "timeout", timeout_ms),
	                     timeout_ms + 5000);
	const char *v = json_string_value(it_json_get(r, "result.value"));
	char *copy;

	if (json_object_get(r, "exceptionDetails") != NULL || v == NULL) {
		char *t = json_dumps(r, 0);

		json_decref(r);
		fail_msg("evaluating in the page failed: %.500s", t ? t : "?");
	}
	copy = strdup(v);
	json_decref(r);
	assert_non_null(copy);
	return copy;
}

/* Opens `url` in a new tab and returns the DevTools session attached to it (caller frees). */
static char *cdp_open_page(struct cdp *b, const char *url)
{
	json_t *target, *attached;
	char *session;

	/* A blank tab first, then the page: Page.navigate answers once the page's document is
	 * committed, so what is evaluated next runs in it, not in a context about to be
	 * replaced. */
	target = cdp_call(b, NULL, "Target.createTarget", json_pack("{s:s}", "url", "about:blank"),
	                  30000);
	attached = cdp_call(
	    b, NULL, "Target.attachToTarget",
	    json_pack("{s:O, s:b}", "targetId", json_object_get(target, "targetId"), "flatten", 1),
	    30000);
	json_decref(target);
	assert_non_null(json_string_value(json_object_get(attached, "sessionId")));
	session = strdup(json_string_value(json_object_get(attached, "sessionId")));
	json_decref(attached);
	assert_non_null(session);
	json_decref(cdp_call(b, session, "Page.navigate", json_pack("{s:s}", "url", url), 30000));
	return session;
}

/* Decodes base64 `src` into a new buffer (the caller frees) of *len bytes; fails the test on a
 * character outside the alphabet. */
static unsigned char *base64_decode(const char *src, size_t *len)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(src), o = 0;
	unsigned char *out = malloc(n / 4 * 3 + 3);
	uint32_t acc = 0;
	int bits = 0;

	assert_non_null(out);
	for (size_t i = 0; i < n && src[i] != '='; i++) {
		const char *c = strchr(alphabet, src[i]);

		if (c == NULL) {
			free(out);
			fail_msg("not base64 at offset %zu", i);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*len = o;
	return out;
}

/* Writes len bytes to path; fails the test when it cannot. */
static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		fail_msg("cannot write %s", path);
		return;
	}
	if (fclose(f) != 0)
		fail_msg("cannot write %s: %s", path, strerror(errno));
}

/*
 * JavaScript the tests evaluate in the page, doing what a person would: q(testid) finds an
 * element; settle(n) waits (at most 15 s) until the page has rendered poll n + 1 (settle(0):
 * the page is there and has rendered its first answer, which evaluating right after the
 * navigation does not promise); useKey(k) opens the key form when it is closed ("Set key"),
 * types k, clicks "Use key" and waits for the poll made with it; view() is what the header and
 * the status strip show.
 */
#define JS_HELPERS                                                                                 \
	" const sleep = (ms) => new Promise((r) => setTimeout(r, ms));"                            \
	" const q = (id) => document.querySelector('[data-testid=\"' + id + '\"]');"               \
	" const polls = () => (q('live') ? Number(q('live').dataset.polls || 0) : 0);"             \
	" const settle = async (n) => {"                                                           \
	"  for (let i = 0; i < 150 && polls() < n + 1; i++) await sleep(100); };"                  \
	" const useKey = async (key) => {"                                                         \
	"  await settle(0);"                                                                       \
	"  if (q('key-form').hidden) q('key-set').click();"                                        \
	"  q('key-input').value = key;"                                                            \
	"  const n = polls();"                                                                     \
	"  q('key-use').click();"                                                                  \
	"  await settle(n); };"                                                                    \
	" const view = () => ({message: q('key-message').dataset.value,"                           \
	"  form: !q('key-form').hidden, forget: !q('key-forget').hidden,"                          \
	"  input: q('key-input').value, href: location.href,"                                      \
	"  stored: sessionStorage.getItem('ferry-dashboard-api-key'),"                             \
	"  db: q('db-status').dataset.value ?? null, backlog: q('backlog').dataset.value ?? null," \
	"  failed: q('failed-shown').dataset.value ?? null});"

/* Evaluates `fmt` (one %s: a key) in the page; returns the string it gives (caller frees). */
static char *eval_with_key(struct cdp *b, const char *session, const char *fmt, const char *key)
{
	char js[4096];

	if ((size_t)snprintf(js, sizeof(js), fmt, key) >= sizeof(js))
		fail_msg("JavaScript too long for its buffer");
	return cdp_eval(b, session, js, 40000);
}

/* Whether the text holds one of the keys setup made. */
static bool holds_a_key(const char *text)
{
	return strstr(text, key_reader) != NULL || strstr(text, key_producer) != NULL ||
	       strstr(text, key_operator) != NULL;
}

/*
 * Fails the test unless view() (JSON `answer`) shows key-message `message`, the form open or
 * not, "Forget key" or not, `stored` (NULL: none) in sessionStorage, an empty key field, no key
 * in the page's URL, and, when `data`, the database "ok" with a backlog and dead letters shown,
 * else none of them (the strip's values empty: nothing of the API's).
 */
static void expect_view(const char *answer, const char *message, bool form, bool forget,
                        const char *stored, bool data)
{
	json_t *v = json_loads(answer, 0, NULL);
	const char *got_stored = json_string_value(json_object_get(v, "stored"));
	bool ok = v != NULL;

	ok = ok && strcmp(it_json_string(v, "message"), message) == 0;
	ok = ok && json_is_true(json_object_get(v, "form")) == form;
	ok = ok && json_is_true(json_object_get(v, "forget")) == forget;
	ok = ok && (stored == NULL ? got_stored == NULL
	                           : got_stored != NULL && strcmp(got_stored, stored) == 0);
	ok = ok && strcmp(it_json_string(v, "input"), "") == 0;
	ok = ok && !holds_a_key(it_json_string(v, "href"));
	if (data)
		ok = ok && strcmp(it_json_string(v, "db"), "ok") == 0 &&
		     strcmp(it_json_string(v, "backlog"), "") != 0 &&
		     strcmp(it_json_string(v, "failed"), "") != 0;
	else
		ok = ok && strcmp(it_json_string(v, "db"), "") == 0 &&
		     strcmp(it_json_string(v, "backlog"), "") == 0 &&
		     strcmp(it_json_string(v, "failed"), "") == 0;
	json_decref(v);
	if (!ok)
		fail_msg(
		    "the page shows %s; wanted key-message %s, form %s, forget %s, %s stored, %s",
		    answer, message, form ? "open" : "closed", forget ? "shown" : "hidden",
		    stored == key_reader     ? "the reader key"
		    : stored == key_producer ? "the producer key"
		    : stored != NULL         ? "a key"
		                             : "nothing",
		    data ? "the API's data" : "no data");
}

/* Opens `url` in a new tab of a new browser sized SCREENSHOT_W x SCREENSHOT_H. */
static char *open_dashboard(struct cdp *b, const char *url)
{
	char *session;

	cdp_start(b);
	session = cdp_open_page(b, url);
	json_decref(cdp_call(b, session, "Emulation.setDeviceMetricsOverride",
	                     json_pack("{s:i, s:i, s:i, s:b}", "width", SCREENSHOT_W, "height",
	                               SCREENSHOT_H, "deviceScaleFactor", 1, "mobile", 0),
	                     30000));
	return session;
}

/* Closes the browser of open_dashboard and frees the session. */
static void close_dashboard(struct cdp *b, char *session)
{
	free(session);
	json_decref(cdp_call(b, NULL, "Browser.close", NULL, 10000));
	cdp_stop(b);
}

/* --- tests ---------------------------------------------------------------------------------- */

/* GET / and /dashboard serve the page from the repository, as HTML, needing no other host and
 * no key (the page holds no data); the API it calls answers 401 without one. */
static void test_page_served(void **state)
{
	static const char *const paths[] = {"/", "/dashboard", "/dashboard/"};
	char path[1024];
	size_t len;
	char *file;

	(void)state;
	snprintf(path, sizeof(path), "%s/src/producer/api/dashboard/index.html", FERRY_SOURCE_DIR);
	file = read_file(path, &len);
	/* Self-contained: no absolute URL to fetch a script, style or font from. */
	assert_null(strstr(file, "http://"));
	assert_null(strstr(file, "https://"));
	assert_null(strstr(file, "src=\"//"));
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct it_response r = {0};

		assert_int_equal(
		    it_http_as(&fx.producer, NULL, "GET", paths[i], NULL, NULL, 0, NULL, &r), 200);
		assert_string_equal(r.content_type, "text/html; charset=utf-8");
		assert_int_equal(r.text_len, len);
		assert_memory_equal(r.text, file, len);
		it_response_free(&r);
	}
	free(file);
	/* Other paths are still the API's JSON 404. */
	{
		struct it_response r = {0};

		assert_int_equal(it_get(&fx.producer, "/dashboard/nope", &r), 404);
		assert_non_null(it_json_get(r.json, "error"));
		assert_int_equal(it_http_as(&fx.producer, NULL, "GET", "/api/messages/stats", NULL,
		                            NULL, 0, NULL, &r),
		                 401);
		assert_non_null(it_json_get(r.json, "error"));
		it_response_free(&r);
	}
}

/* The numbers the browser shows are the API's. */
static void test_browser_shows_api_numbers(void **state)
{
	char topic_a[IT_TOPIC_MAX], topic_b[IT_TOPIC_MAX], group[64], idle[64], body[1024];
	char url[128], dom_path[512], png_path[512], cfg_topics[300];
	char cfg_group[100], cfg_url[100];
	const char *consumer_env[] = {cfg_group,
	                              cfg_topics,
	                              cfg_url,
	                              "SERVICE_ID=dashboard-consumers",
	                              "FERRY_PROCESSOR=plugin",
	                              "FERRY_PROCESSOR_PLUGIN=" FERRY_EXAMPLE_PLUGIN,
	                              "FERRY_HEARTBEAT_INTERVAL_S=1",
	                              NULL};
	struct it_producer consumer = {0};
	struct it_response health = {0}, stats = {0}, agents = {0}, failed = {0}, producers = {0},
	                   metrics = {0};
	struct expectation e;
	struct cdp b = {.to = -1, .from = -1};
	char *dom, *png, *session, *answer;
	unsigned char *shot;
	json_t *capture;
	size_t png_len, shot_len = 0, i;
	json_t *v;
	int64_t dead = 0;

	(void)state;
	if (chromium[0] == '\0') {
		skipped = true;
		skip();
	}
	if (mkdir(FERRY_ARTIFACT_DIR, 0755) != 0 && errno != EEXIST)
		fail_msg("cannot create %s: %s", FERRY_ARTIFACT_DIR, strerror(errno));
	{
		/* chromium.log: the browsers' output, this test run only. */
		FILE *log = fopen(FERRY_ARTIFACT_DIR "/chromium.log", "w");

		if (log != NULL)
			fclose(log);
	}

	/* Topic A: group G. Topic B: G and an idle group nobody consumes (its messages stay
	 * SENT). No retries: a failure is a dead letter at once. */
	it_topic(topic_a, sizeof(topic_a), "dash-a");
	it_topic(topic_b, sizeof(topic_b), "dash-b");
	snprintf(group, sizeof(group), "dash-%d", (int)getpid());
	snprintf(idle, sizeof(idle), "dash-idle-%d", (int)getpid());
	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s\",\"maxRetries\":0}]}",
	    topic_a, group);
	post_ok("/api/topics/register", body, 201);
	snprintf(
	    body, sizeof(body),
	    "{\"topicName\":\"%s\",\"partitions\":2,\"consumerGroups\":[{\"consumerGroupName\":"
	    "\"%s\",\"maxRetries\":0},{\"consumerGroupName\":\"%s\",\"maxRetries\":0,"
	    "\"acknowledgmentTimeoutMinutes\":600}]}",
	    topic_b, group, idle);
	post_ok("/api/topics/register", body, 201);

	snprintf(cfg_group, sizeof(cfg_group), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(cfg_topics, sizeof(cfg_topics), "KAFKA_TOPICS=%s,%s", topic_a, topic_b);
	snprintf(cfg_url, sizeof(cfg_url), "ProducerService__BaseUrl=http://127.0.0.1:%d",
	         fx.producer.port);
	it_consumer_start(&consumer, &fx.db, consumer_env);

	for (int k = 0; k < N_TOPIC_A; k++)
		send_one(topic_a, k, k % 4 == 3);
	for (int k = 0; k < N_TOPIC_B; k++)
		send_one(topic_b, k, k == 0);
	e = (struct expectation){
	    .groups = {{topic_a, group, 0, N_TOPIC_A - N_TOPIC_A / 4, N_TOPIC_A / 4},
	               {topic_b, group, 0, N_TOPIC_B - 1, 1},
	               {topic_b, idle, N_TOPIC_B, 0, 0}},
	    .agents = 1,
	};
	if (!it_wait_until(settled, &e, WAIT_MS))
		fail_msg("the traffic did not settle as expected within %d s", WAIT_MS / 1000);

	/* What the API says, then what the browser shows. */
	assert_int_equal(it_get(&fx.producer, "/api/messages/health", &health), 200);
	assert_int_equal(it_get(&fx.producer, "/api/messages/stats", &stats), 200);
	assert_int_equal(it_get(&fx.producer, "/api/agents/consumers", &agents), 200);
	assert_int_equal(it_get(&fx.producer, "/api/messages/failed?newest=true&limit=10", &failed),
	                 200);
	(void)it_get(&fx.producer, "/api/agents/producers", &producers);
	(void)it_get(&fx.producer, "/metrics", &metrics);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fx.producer.port);
	snprintf(dom_path, sizeof(dom_path), "%s/dashboard-dom.html", FERRY_ARTIFACT_DIR);
	snprintf(png_path, sizeof(png_path), "%s/dashboard.png", FERRY_ARTIFACT_DIR);
	(void)remove(dom_path);
	(void)remove(png_path);
	/* The reader key through the form, as a person would; then the page polls with it. */
	session = open_dashboard(&b, url);
	answer = eval_with_key(&b, session,
	                       "(async () => {" JS_HELPERS " await useKey('%s');"
	                       " const n = polls(); await settle(n);"
	                       " return JSON.stringify(view()); })()",
	                       key_reader);
	expect_view(answer, "key", false, true, key_reader, true);
	free(answer);
	dom = cdp_eval(&b, session, "document.documentElement.outerHTML", 30000);
	write_file(dom_path, dom, strlen(dom));
	/* The screenshot, at laptop size. */
	capture = cdp_call(&b, session, "Page.captureScreenshot",
	                   json_pack("{s:s}", "format", "png"), 30000);
	if (json_string_value(json_object_get(capture, "data")) == NULL)
		fail_msg("Page.captureScreenshot gave no data");
	shot = base64_decode(json_string_value(json_object_get(capture, "data")), &shot_len);
	json_decref(capture);
	write_file(png_path, shot, shot_len);
	free(shot);
	close_dashboard(&b, session);

	/* The page polled and rendered. */
	{
		const char *start = NULL, *end = NULL, *polls;

		assert_true(dom_tag(dom, "live", &start, &end));
		polls = strstr(start, "data-polls=\"");
		if (polls == NULL || polls > end || polls[12] < '1' || polls[12] > '9')
			fail_msg("the page never got an answer: %.*s", (int)(end - start + 1),
			         start);
	}
	/* Status strip. */
	expect_str(dom, "db-status",
	           json_is_true(it_json_get(health.json, "database.ok")) ? "ok" : "down");
	expect_str(dom, "kafka-status",
	           json_is_true(it_json_get(health.json, "kafka.ok")) ? "ok" : "down");
	expect_int(dom, "backlog", json_integer_value(it_json_get(health.json, "outbox.pending")));
	expect_int(dom, "published-total",
	           json_integer_value(it_json_get(health.json, "relay.published")));
	assert_int_equal(json_integer_value(it_json_get(health.json, "relay.published")),
	                 N_TOPIC_A + N_TOPIC_B);
	/* Topic x group table: every group the API lists, every count. */
	assert_int_equal(json_array_size(json_object_get(stats.json, "groups")), 3);
	json_array_foreach (json_object_get(stats.json, "groups"), i, v) {
		static const char *const fields[][2] = {{"PENDING", "pending"},
		                                        {"SENT", "sent"},
		                                        {"ACKNOWLEDGED", "acknowledged"},
		                                        {"FAILED", "failed"},
		                                        {"EXPIRED", "expired"}};
		char id[300];

		for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
			snprintf(id, sizeof(id), "group-%s-%s-%s", it_json_string(v, "topic"),
			         it_json_string(v, "consumerGroup"), fields[k][1]);
			expect_int(dom, id, json_integer_value(json_object_get(v, fields[k][0])));
		}
		dead += json_integer_value(json_object_get(v, "FAILED")) +
		        json_integer_value(json_object_get(v, "EXPIRED"));
	}
	expect_int(dom, "groups-count", 3);
	expect_int(dom, "failures-total", dead);
	assert_int_equal(dead, N_TOPIC_A / 4 + 1);
	/* Agents. */
	{
		json_int_t healthy = 0;

		json_array_foreach (agents.json, i, v) {
			char id[64];

			snprintf(id, sizeof(id), "agent-%" JSON_INTEGER_FORMAT "-health",
			         json_integer_value(json_object_get(v, "id")));
			expect_str(dom, id, it_json_string(v, "health"));
			healthy += strcmp(it_json_string(v, "health"), "healthy") == 0;
		}
		expect_int(dom, "agents-healthy", healthy);
		expect_int(dom, "agents-total", (json_int_t)json_array_size(agents.json));
	}
	/* Dead letters: each row with its error, and its re-drive button. */
	expect_int(dom, "failed-shown",
	           (json_int_t)json_array_size(json_object_get(failed.json, "failed")));
	json_array_foreach (json_object_get(failed.json, "failed"), i, v) {
		char id[300];
		const char *s, *t;

		snprintf(id, sizeof(id), "failed-%" JSON_INTEGER_FORMAT "-%s-status",
		         json_integer_value(json_object_get(v, "messageId")),
		         it_json_string(v, "consumerGroup"));
		expect_str(dom, id, it_json_string(v, "status"));
		snprintf(id, sizeof(id), "failed-%" JSON_INTEGER_FORMAT "-%s-retries",
		         json_integer_value(json_object_get(v, "messageId")),
		         it_json_string(v, "consumerGroup"));
		expect_int(dom, id, json_integer_value(json_object_get(v, "retryCount")));
		snprintf(id, sizeof(id), "failed-%" JSON_INTEGER_FORMAT "-%s-error",
		         json_integer_value(json_object_get(v, "messageId")),
		         it_json_string(v, "consumerGroup"));
		expect_str(dom, id, it_json_string(v, "errorMessage"));
		snprintf(id, sizeof(id), "redrive-%" JSON_INTEGER_FORMAT "-%s",
		         json_integer_value(json_object_get(v, "messageId")),
		         it_json_string(v, "consumerGroup"));
		assert_true(dom_tag(dom, id, &s, &t));
	}
	/* Optional endpoints: shown when they answer, "n/a" or hidden when they do not. */
	{
		const char *s = NULL, *t = NULL;
		bool hidden;

		assert_true(dom_tag(dom, "producers-section", &s, &t));
		hidden = strstr(s, " hidden") != NULL && strstr(s, " hidden") < t;
		if (producers.status == 200 && hidden)
			fail_msg("GET /api/agents/producers answers 200 but the page hides them");
		if (producers.status != 200 && !hidden)
			fail_msg("GET /api/agents/producers answers %ld but the page shows them",
			         producers.status);
		if (metrics.status != 200)
			assert_string_equal(dom_text(dom, "p2a-now"), "n/a");
	}

	/* The screenshot: a page, not an empty frame, at laptop size. */
	png = read_file(png_path, &png_len);
	if (png_len < 20000)
		fail_msg("%s is only %zu bytes: an empty page?", png_path, png_len);
	assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
	assert_int_equal(((unsigned char)png[16] << 24) | ((unsigned char)png[17] << 16) |
	                     ((unsigned char)png[18] << 8) | (unsigned char)png[19],
	                 SCREENSHOT_W);
	assert_int_equal(((unsigned char)png[20] << 24) | ((unsigned char)png[21] << 16) |
	                     ((unsigned char)png[22] << 8) | (unsigned char)png[23],
	                 SCREENSHOT_H);
	printf("dashboard screenshot: %s (%zu bytes)\n", png_path, png_len);
	free(png);
	free(dom);

	it_response_free(&health);
	it_response_free(&stats);
	it_response_free(&agents);
	it_response_free(&failed);
	it_response_free(&producers);
	it_response_free(&metrics);
	assert_int_equal(it_producer_stop(&consumer), 0);
}

/*
 * The re-drive button, clicked in the browser. Re-driving needs the operator role: with the
 * reader key the producer refuses it (403), the page says so under the dead letters and keeps
 * its data and its key (the key reads), and nothing is re-driven; with the operator+reader key
 * the page POSTs the retry and shows the answer, and the producer records the re-drive as that
 * key's. Runs after test_browser_shows_api_numbers, whose dead letters it re-drives.
 */
static void test_redrive_button(void **state)
{
	/* Gives key %s, clicks the button of message %ld / group %s, and returns the new line
	 * under the table with what the header then shows. */
	static const char js_fmt[] =
	    "(async () => {" JS_HELPERS " await settle(0);"
	    " if (q('key-message').dataset.value === 'key') {"
	    "  const n = polls(); q('key-forget').click(); await settle(n); }"
	    " await useKey('%s');"
	    " const sel = '[data-testid=\"redrive-%" JSON_INTEGER_FORMAT "-%s\"]';"
	    " for (let i = 0; i < 150 && !document.querySelector(sel); i++) await sleep(100);"
	    " const b = document.querySelector(sel);"
	    " if (!b) return JSON.stringify({line: 'no button ' + sel});"
	    " const log = q('redrive-log'), before = log.children.length;"
	    " b.click();"
	    " for (let i = 0; i < 150 && log.children.length === before; i++) await sleep(100);"
	    " const li = log.firstElementChild;"
	    " return JSON.stringify({line: li ? li.textContent : '', bad: !!li && li.className === 'bad',"
	    "  view: view()});"
	    "})()";
	struct it_response failed = {0};
	struct cdp b = {.to = -1, .from = -1};
	char url[128], js[4096], *answer, *session, *view;
	const char *group, *line;
	json_t *got;
	json_int_t id;

	(void)state;
	if (chromium[0] == '\0') {
		skipped = true;
		skip();
	}
	assert_int_equal(it_get(&fx.producer, "/api/messages/failed?newest=true&limit=1", &failed),
	                 200);
	assert_int_equal(json_array_size(json_object_get(failed.json, "failed")), 1);
	id = json_integer_value(it_json_get(failed.json, "failed.0.messageId"));
	group = it_json_string(failed.json, "failed.0.consumerGroup");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fx.producer.port);
	session = open_dashboard(&b, url);

	/* The reader key: refused, and said so. */
	snprintf(js, sizeof(js), js_fmt, key_reader, id, group);
	answer = cdp_eval(&b, session, js, 40000);
	got = json_loads(answer, 0, NULL);
	line = it_json_string(got, "line");
	if (strstr(line, "403") == NULL || strstr(line, "lacks the operator role") == NULL ||
	    !json_is_true(json_object_get(got, "bad")))
		fail_msg("the page's answer to a re-drive with a reader key: %s", answer);
	view = json_dumps(json_object_get(got, "view"), JSON_COMPACT);
	assert_non_null(view);
	expect_view(view, "key", false, true, key_reader, true);
	free(view);
	json_decref(got);
	free(answer);
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_event WHERE message_id = "
	                            "%" JSON_INTEGER_FORMAT " AND event = 'redrive_requested'",
	                            id),
	                 0);

	/* "Forget key", then the operator+reader key: re-driven. */
	snprintf(js, sizeof(js), js_fmt, key_operator, id, group);
	answer = cdp_eval(&b, session, js, 40000);
	got = json_loads(answer, 0, NULL);
	line = it_json_string(got, "line");
	if (strstr(line, "re-driven") == NULL || strstr(line, "(was FAILED)") == NULL ||
	    json_is_true(json_object_get(got, "bad")))
		fail_msg("the page's answer to a re-drive with an operator key: %s", answer);
	json_decref(got);
	free(answer);
	close_dashboard(&b, session);
	/* The producer recorded it, with the key's name as the actor. */
	assert_int_equal(it_sql_int(fx.conn,
	                            "SELECT count(*) FROM ferry.message_event WHERE message_id = "
	                            "%" JSON_INTEGER_FORMAT " AND event = 'redrive_requested' "
	                            "AND actor = 'key:dashboard-operator'",
	                            id),
	                 1);
	it_response_free(&failed);
}

/*
 * The latency charts' arithmetic, run in the page itself (its own functions) on a made-up
 * Prometheus text: /metrics comes with another issue, so no producer serves it yet. Histograms
 * are summed over their label sets, and the 95th percentile of the observations between two
 * answers is interpolated within its bucket: 100 new observations, 90 up to 0.5 s and the rest
 * up to 1 s, give 0.75 s; no new observation gives null (a gap in the chart).
 */
static void test_latency_from_metrics(void **state)
{
	static const char js[] =
	    "(async () => {"
	    " for (let i = 0; i < 150 && typeof windowP95 !== 'function'; i++)"
	    "  await new Promise((r) => setTimeout(r, 100));"
	    " const n = 'ferry_publish_to_ack_seconds';"
	    " const text = (a, b, c, sum) => ["
	    "  '# HELP ' + n + ' Publish to acknowledgment.', '# TYPE ' + n + ' histogram',"
	    "  n + '_bucket{group=\"g1\",le=\"0.1\"} ' + a, n + '_bucket{group=\"g1\",le=\"0.5\"} ' + b,"
	    "  n + '_bucket{group=\"g1\",le=\"1\"} ' + c, n + '_bucket{group=\"g1\",le=\"+Inf\"} ' + c,"
	    "  n + '_sum{group=\"g1\"} ' + sum, n + '_count{group=\"g1\"} ' + c,"
	    "  n + '_bucket{group=\"g2\",le=\"0.1\"} 1', n + '_bucket{group=\"g2\",le=\"0.5\"} 1',"
	    "  n + '_bucket{group=\"g2\",le=\"1\"} 1', n + '_bucket{group=\"g2\",le=\"+Inf\"} 1',"
	    "  n + '_sum{group=\"g2\"} 0.05', n + '_count{group=\"g2\"} 1',"
	    "  'ferry_commit_to_publish_seconds_count 7', ''].join('\\n');"
	    " const h1 = parseHistogram(text(0, 0, 0, 0), n);"
	    " const h2 = parseHistogram(text(10, 90, 100, 30), n);"
	    " return JSON.stringify([h2.count, h2.sum, windowP95(h2, h1), windowP95(h2, h2),"
	    "  parseHistogram('', n)]);"
	    "})()";
	struct cdp b = {.to = -1, .from = -1};
	char url[128], *answer, *session;

	(void)state;
	if (chromium[0] == '\0') {
		skipped = true;
		skip();
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fx.producer.port);
	cdp_start(&b);
	session = cdp_open_page(&b, url);
	answer = cdp_eval(&b, session, js, 30000);
	free(session);
	json_decref(cdp_call(&b, NULL, "Browser.close", NULL, 10000));
	cdp_stop(&b);
	if (strcmp(answer, "[101,30.05,0.75,null,null]") != 0)
		fail_msg("latency arithmetic in the page: %s, wanted [101,30.05,0.75,null,null]",
		         answer);
	free(answer);
}

/* How many requests the page sent to `path` (query string ignored) with Authorization:
 * `want` (NULL: without one); fails the test if any URL holds a key. */
static int requests_with(json_t *requests, const char *path, const char *want)
{
	size_t i;
	json_t *e;
	int n = 0;

	json_array_foreach (requests, i, e) {
		const char *url = it_json_string(e, "request.url");
		json_t *auth = it_json_get(e, "request.headers.Authorization");
		const char *p = strstr(url, "://");

		if (holds_a_key(url))
			fail_msg("a key is in a URL: %s", url);
		p = p != NULL ? strchr(p + 3, '/') : NULL;
		if (p == NULL || strncmp(p, path, strlen(path)) != 0 ||
		    (p[strlen(path)] != '\0' && p[strlen(path)] != '?'))
			continue;
		if (want == NULL
		        ? auth == NULL
		        : (json_is_string(auth) && strcmp(json_string_value(auth), want) == 0))
			n++;
	}
	return n;
}

/* The Authorization header of the last request to `path`, "" when it had none. */
static const char *last_auth(json_t *requests, const char *path)
{
	const char *last = NULL;
	size_t i;
	json_t *e;

	json_array_foreach (requests, i, e) {
		const char *url = it_json_string(e, "request.url");
		const char *p = strstr(url, "://");

		p = p != NULL ? strchr(p + 3, '/') : NULL;
		if (p != NULL && strncmp(p, path, strlen(path)) == 0 &&
		    (p[strlen(path)] == '\0' || p[strlen(path)] == '?')) {
			json_t *auth = it_json_get(e, "request.headers.Authorization");

			last = json_is_string(auth) ? json_string_value(auth) : "";
		}
	}
	if (last == NULL)
		fail_msg("the page sent no request to %s", path);
	return last;
}

/*
 * The key form with authentication on. Without a key every API request answers 401: the page
 * opens its form and says so, and shows nothing of the API. A producer-only key: 403, the form
 * stays open, still no data. A reader key: the data, the form closed, "Forget key" offered.
 * The key is kept in sessionStorage (not in the page's URL, and the field is emptied) and sent
 * as "Authorization: Bearer <key>" on every request the page makes; "Forget key" removes it,
 * the requests go without and the page is back to 401. The headers and URLs are those the
 * browser reports (DevTools' Network.requestWillBeSent). The producer's log holds no key.
 */
static void test_key_form(void **state)
{
	static const char js_none[] = "(async () => {" JS_HELPERS " await settle(0);"
	                              " return JSON.stringify(view()); })()";
	static const char js_use[] = "(async () => {" JS_HELPERS " await useKey('%s');"
	                             " return JSON.stringify(view()); })()";
	static const char js_forget[] =
	    "(async () => {" JS_HELPERS
	    " let n = polls(); q('key-forget').click(); await settle(n);"
	    " n = polls(); await settle(n);"
	    " return JSON.stringify(view()); })()";
	static const char *const polled[] = {"/api/messages/health",  "/api/messages/stats",
	                                     "/api/agents/consumers", "/api/agents/producers",
	                                     "/api/messages/failed",  "/metrics"};
	struct cdp b = {.to = -1, .from = -1};
	char url[128], bearer[128], *answer, *session, *log;
	size_t log_len;

	(void)state;
	if (chromium[0] == '\0') {
		skipped = true;
		skip();
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", fx.producer.port);
	session = open_dashboard(&b, url);
	b.requests = json_array();
	assert_non_null(b.requests);
	json_decref(cdp_call(&b, session, "Network.enable", NULL, 30000));

	/* No key: 401, the form open, no data. */
	answer = cdp_eval(&b, session, js_none, 40000);
	expect_view(answer, "401", true, false, NULL, false);
	free(answer);
	/* A key that may not read. */
	answer = eval_with_key(&b, session, js_use, key_producer);
	expect_view(answer, "403", true, true, key_producer, false);
	free(answer);
	snprintf(bearer, sizeof(bearer), "Bearer %s", key_producer);
	if (requests_with(b.requests, "/api/messages/stats", bearer) < 1)
		fail_msg("no request carried the producer key");
	/* A reader key, in the form still open. */
	answer = eval_with_key(&b, session, js_use, key_reader);
	expect_view(answer, "key", false, true, key_reader, true);
	free(answer);
	/* Every endpoint the page polls got it. */
	snprintf(bearer, sizeof(bearer), "Bearer %s", key_reader);
	for (size_t i = 0; i < sizeof(polled) / sizeof(polled[0]); i++) {
		if (requests_with(b.requests, polled[i], bearer) < 1)
			fail_msg("no request to %s carried the key", polled[i]);
	}
	/* "Forget key": back to 401, the requests without a key. */
	answer = cdp_eval(&b, session, js_forget, 40000);
	expect_view(answer, "401", true, false, NULL, false);
	free(answer);
	/* Events still in the pipe are read by the next call. */
	json_decref(cdp_call(&b, session, "Runtime.evaluate", json_pack("{s:s}", "expression", "1"),
	                     10000));
	for (size_t i = 0; i < sizeof(polled) / sizeof(polled[0]); i++) {
		if (strcmp(last_auth(b.requests, polled[i]), "") != 0)
			fail_msg("after Forget key the page still sent %s a key", polled[i]);
	}
	(void)requests_with(b.requests, "/", NULL); /* no key in any URL */
	close_dashboard(&b, session);

	log = read_file(fx.producer.log_path, &log_len);
	if (holds_a_key(log))
		fail_msg("the producer's log holds a key");
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_page_served),    cmocka_unit_test(test_browser_shows_api_numbers),
	    cmocka_unit_test(test_redrive_button), cmocka_unit_test(test_latency_from_metrics),
	    cmocka_unit_test(test_key_form),
	};
	const char *require = getenv("FERRY_REQUIRE_CHROMIUM");
	int failed;

	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (!find_chromium()) {
		chromium[0] = '\0';
		if (require != NULL && require[0] != '\0' && strcmp(require, "0") != 0) {
			fprintf(stderr,
			        "test_dashboard: FERRY_REQUIRE_CHROMIUM is set but no chromium "
			        "was found (install it: scripts/setup; or set FERRY_CHROMIUM)\n");
			return 1;
		}
		fprintf(stderr, "test_dashboard: chromium not found: the browser test is skipped "
		                "(scripts/setup installs it; FERRY_REQUIRE_CHROMIUM=1 makes this "
		                "a failure)\n");
	}
	failed = it_finish(cmocka_run_group_tests(tests, setup, teardown));
	return failed == 0 && skipped ? SKIP_EXIT : failed;
}
