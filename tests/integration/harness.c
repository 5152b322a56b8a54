/*
 * harness.c - see harness.h.
 *
 * Internally the fallible steps return 0/-1 with an errstr, as elsewhere in ferry; the public
 * it_ functions turn a -1 into fail_msg(). it_finish() uses the internal forms because it runs
 * after cmocka has finished, where failing a test is no longer possible.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FERRY_PRODUCER_BIN
#error "FERRY_PRODUCER_BIN must be defined by the build (CMakeLists.txt)"
#endif
#ifndef FERRY_SOURCE_DIR
#error "FERRY_SOURCE_DIR must be defined by the build (CMakeLists.txt)"
#endif

#define IT_MAX_PRODUCERS    32
#define IT_MAX_DBS          16
#define IT_START_TIMEOUT_MS 30000
#define IT_STOP_TIMEOUT_MS  30000
#define IT_STACK_TIMEOUT_MS 300000
#define IT_HTTP_TIMEOUT_MS  30000
#define IT_LOG_TAIL_LINES   40
#define IT_LISTENING_MARK   "listening on http"

/* fail_msg() wants a literal format; this formats first. */
#define IT_FAIL(...)                                                                               \
	do {                                                                                       \
		char it_msg_[2048];                                                                \
		snprintf(it_msg_, sizeof(it_msg_), __VA_ARGS__);                                   \
		fail_msg("%s", it_msg_);                                                           \
	} while (0)

extern char **environ;

/* Everything a run started, so it_finish() can clean up after a test that failed half-way. */
static struct {
	pid_t pid; /* 0 once stopped */
	char log_path[512];
} it_started[IT_MAX_PRODUCERS];
static size_t it_started_count;
static char it_created_dbs[IT_MAX_DBS][64]; /* "" once dropped */
static char it_tmp_dir[256];                /* producer logs; created on first use */
static pthread_once_t it_curl_once = PTHREAD_ONCE_INIT;
static bool it_curl_ready;

/* --- small things ----------------------------------------------------------------------------- */

int64_t it_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

bool it_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (it_now_ms() >= deadline)
			return cond(arg);
		it_sleep_ms(20);
	}
}

/* The value of a required environment variable; fails the test when it is missing. */
static const char *it_required_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		IT_FAIL("%s is not set. The integration tests need the dev stack: run scripts/test "
		        "(or scripts/stack up && eval \"$(scripts/stack env)\" before ctest)",
		        name);
	return v;
}

/* Reads a whole file into a new NUL-terminated buffer (NULL when it cannot be read). */
static char *it_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, *p;
	size_t n = 0, cap = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			p = realloc(buf, cap + 1);
			if (p == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static void it_print_tail(const char *path, int lines)
{
	size_t len;
	char *text = it_read_file(path, &len);
	const char *start;
	int seen = 0;

	if (text == NULL) {
		fprintf(stderr, "--- %s: cannot be read ---\n", path);
		return;
	}
	start = text + len;
	if (start > text && start[-1] == '\n')
		start--;
	while (start > text && seen < lines) {
		start--;
		if (*start == '\n' && ++seen == lines) {
			start++;
			break;
		}
	}
	fprintf(stderr, "--- last %d lines of %s ---\n%s%s--- end of %s ---\n", lines, path, start,
	        len > 0 && text[len - 1] != '\n' ? "\n" : "", path);
	free(text);
}

static const char *it_dir(void)
{
	const char *base = getenv("TMPDIR");

	if (it_tmp_dir[0] == '\0') {
		snprintf(it_tmp_dir, sizeof(it_tmp_dir), "%s/ferry-it-XXXXXX",
		         base && *base ? base : "/tmp");
		if (mkdtemp(it_tmp_dir) == NULL) {
			it_tmp_dir[0] = '\0';
			IT_FAIL("cannot create a temporary directory: %s", strerror(errno));
		}
	}
	return it_tmp_dir;
}

/* Waits at most timeout_ms for pid; returns its exit status (128 + signal when killed by one),
 * or -1 when it is still running. */
static int it_wait_pid(pid_t pid, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return 128; /* not our child any more: treat as gone */
		if (it_now_ms() >= deadline)
			return -1;
		it_sleep_ms(20);
	}
}

/* SIGTERM, then SIGKILL after timeout_ms. Returns the exit status as it_wait_pid. */
static int it_terminate(pid_t pid, int timeout_ms, const char *what)
{
	int status;

	kill(pid, SIGTERM);
	status = it_wait_pid(pid, timeout_ms);
	if (status < 0) {
		fprintf(stderr, "it: %s (pid %d) ignored SIGTERM for %d ms: SIGKILL\n", what,
		        (int)pid, timeout_ms);
		kill(pid, SIGKILL);
		status = it_wait_pid(pid, 10000);
	}
	return status;
}

int it_stack(const char *command)
{
	char path[1024];
	pid_t pid;
	int status;

	snprintf(path, sizeof(path), "%s/scripts/stack", FERRY_SOURCE_DIR);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(path, path, command, (char *)NULL);
		_exit(127);
	}
	status = it_wait_pid(pid, IT_STACK_TIMEOUT_MS);
	if (status < 0) {
		fprintf(stderr, "it: scripts/stack %s did not finish in %d s: killed\n", command,
		        IT_STACK_TIMEOUT_MS / 1000);
		kill(pid, SIGKILL);
		it_wait_pid(pid, 10000);
	}
	return status;
}

/* --- database --------------------------------------------------------------------------------- */

/* Appends " keyword='value'" (libpq quoting) to buf. */
static int it_conninfo_add(char *buf, size_t size, const char *keyword, const char *value)
{
	size_t n = strlen(buf);
	const char *s;

	n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s='", n ? " " : "", keyword);
	for (s = value; *s && n + 3 < size; s++) {
		if (*s == '\\' || *s == '\'')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	if (*s || n + 2 > size)
		return -1;
	buf[n++] = '\'';
	buf[n] = '\0';
	return 0;
}

/* FERRY_TEST_PG with dbname replaced by `dbname`. */
static int it_conninfo_for(const char *dbname, char *out, size_t size, char *errstr,
                           size_t errstr_size)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(it_required_env("FERRY_TEST_PG"), &err), *o;
	int rc = -1;

	out[0] = '\0';
	if (opts == NULL) {
		snprintf(errstr, errstr_size, "FERRY_TEST_PG is not a valid conninfo: %s",
		         err ? err : "out of memory");
		goto done;
	}
	if (it_conninfo_add(out, size, "dbname", dbname) != 0)
		goto too_long;
	for (o = opts; o->keyword; o++) {
		if (o->val == NULL || strcmp(o->keyword, "dbname") == 0)
			continue;
		if (it_conninfo_add(out, size, o->keyword, o->val) != 0)
			goto too_long;
	}
	rc = 0;
	goto done;
too_long:
	snprintf(errstr, errstr_size, "conninfo longer than %zu bytes", size);
done:
	PQconninfoFree(opts);
	PQfreemem(err);
	return rc;
}

static void it_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Runs one statement on the server named by FERRY_TEST_PG (its own database). */
static int it_admin_exec(const char *sql, char *errstr, size_t errstr_size)
{
	PGconn *conn = PQconnectdb(it_required_env("FERRY_TEST_PG"));
	PGresult *res = NULL;
	int rc = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(errstr, errstr_size, "cannot connect with FERRY_TEST_PG: %s",
		         PQerrorMessage(conn));
		goto done;
	}
	PQsetNoticeProcessor(conn, it_quiet, NULL); /* "does not exist, skipping" */
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(errstr, errstr_size, "%s: %s", sql, PQresultErrorMessage(res));
		goto done;
	}
	rc = 0;
done:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static int it_drop_database(const char *name, char *errstr, size_t errstr_size)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %.63s WITH (FORCE)", name);
	return it_admin_exec(sql, errstr, errstr_size);
}

void it_db_create(struct it_db *db, const char *name)
{
	char errstr[1024], sql[160], dbname[64];
	size_t i;

	memset(db, 0, sizeof(*db)); /* db->name stays "" until the database exists */
	if (strlen(name) == 0 || strlen(name) > 30 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
		IT_FAIL("it_db_create: name '%s' must be 1-30 of [a-z0-9_]", name);
	snprintf(dbname, sizeof(dbname), "ferry_it_%s_%d", name, (int)getpid());
	if (it_conninfo_for(dbname, db->conninfo, sizeof(db->conninfo), errstr, sizeof(errstr)) !=
	    0)
		IT_FAIL("it_db_create: %s", errstr);
	if (it_drop_database(dbname, errstr, sizeof(errstr)) != 0)
		IT_FAIL("it_db_create: %s", errstr);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	if (it_admin_exec(sql, errstr, sizeof(errstr)) != 0)
		IT_FAIL("it_db_create: %s", errstr);
	snprintf(db->name, sizeof(db->name), "%s", dbname);
	for (i = 0; i < IT_MAX_DBS; i++) {
		if (it_created_dbs[i][0] == '\0') {
			snprintf(it_created_dbs[i], sizeof(it_created_dbs[i]), "%s", dbname);
			break;
		}
	}
}

void it_db_drop(struct it_db *db)
{
	char errstr[1024];
	size_t i;

	if (db->name[0] == '\0')
		return;
	for (i = 0; i < IT_MAX_DBS; i++)
		if (strcmp(it_created_dbs[i], db->name) == 0)
			it_created_dbs[i][0] = '\0';
	if (it_drop_database(db->name, errstr, sizeof(errstr)) != 0)
		IT_FAIL("it_db_drop: %s", errstr);
	db->name[0] = '\0';
}

void it_topic(char *buf, size_t size, const char *prefix)
{
	static unsigned counter;
	static time_t started;

	if (started == 0)
		started = time(NULL);
	if (strlen(prefix) > 40 ||
	    strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(prefix))
		IT_FAIL("it_topic: prefix '%s' must be at most 40 of [a-z0-9-]", prefix);
	if ((size_t)snprintf(buf, size, "it-%s-%d-%lld-%u", prefix, (int)getpid(),
	                     (long long)started, ++counter) >= size)
		IT_FAIL("it_topic: buffer of %zu bytes too small", size);
}

/* --- ferry-producer --------------------------------------------------------------------------- */

/* Variables ferry-producer reads: not inherited, so the developer's shell cannot change a test. */
static bool it_producer_reads(const char *entry)
{
	static const char *const prefixes[] = {"ConnectionStrings__", "FERRY_", "KAFKA_",
	                                       "ProducerService__", NULL};
	static const char *const names[] = {"PORT", "SERVICE_ID", "INSTANCE_ID", "ASPNETCORE_URLS",
	                                    NULL};
	size_t len = strcspn(entry, "=");
	int i;

	for (i = 0; prefixes[i]; i++)
		if (strncmp(entry, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	for (i = 0; names[i]; i++)
		if (strlen(names[i]) == len && strncmp(entry, names[i], len) == 0)
			return true;
	return false;
}

struct it_envlist {
	char **v; /* malloc'd "NAME=value" strings, NULL-terminated */
	size_t n;
};

/* Adds or replaces NAME=value. */
static void it_env_put(struct it_envlist *env, const char *entry)
{
	size_t len = strcspn(entry, "="), i;
	char *copy = strdup(entry), **v;

	for (i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], entry, len + 1) == 0) {
			free(env->v[i]);
			env->v[i] = copy;
			return;
		}
	}
	v = realloc(env->v, (env->n + 2) * sizeof(*v));
	if (v == NULL || copy == NULL)
		abort(); /* a test program out of memory cannot report anything useful */
	env->v = v;
	env->v[env->n++] = copy;
	env->v[env->n] = NULL;
}

static void it_env_free(struct it_envlist *env)
{
	size_t i;

	for (i = 0; i < env->n; i++)
		free(env->v[i]);
	free(env->v);
}

/* Finds the port in the producer's "listening on http://HOST:PORT" (or https://) line, and
 * sets *https; 0 until it is there. */
static int it_producer_port(const char *log_path, bool *https)
{
	char *text = it_read_file(log_path, NULL);
	const char *mark, *colon;
	int port = 0;

	if (text && (mark = strstr(text, IT_LISTENING_MARK)) != NULL) {
		mark += strlen(IT_LISTENING_MARK);
		*https = (*mark == 's');
		mark += *https ? 4 : 3; /* "s://" or "://" */
		colon = strchr(mark, ':');
		if (colon && colon < mark + strcspn(mark, " \n"))
			port = atoi(colon + 1);
	}
	free(text);
	return port;
}

static void it_forget(pid_t pid)
{
	size_t i;

	for (i = 0; i < it_started_count; i++)
		if (it_started[i].pid == pid)
			it_started[i].pid = 0;
}

/* Starts `bin` (ferry-producer or ferry-consumer, named `what`) as it_producer_start says. */
static void it_service_start(struct it_producer *p, const struct it_db *db,
                             const char *const *extra_env, const char *bin, const char *what)
{
	struct it_envlist env = {NULL, 0};
	char entry[2300];
	char *const argv[] = {(char *)bin, NULL};
	struct it_response health = {0};
	int64_t deadline = it_now_ms() + IT_START_TIMEOUT_MS;
	pid_t parent = getpid();
	int fd, devnull, status;
	char **e;

	memset(p, 0, sizeof(*p));
	if (it_started_count == IT_MAX_PRODUCERS)
		IT_FAIL("it_%s_start: more than %d services in one program", what,
		        IT_MAX_PRODUCERS);
	snprintf(p->log_path, sizeof(p->log_path), "%s/%s-%zu.log", it_dir(), what,
	         it_started_count + 1);

	for (e = environ; *e; e++)
		if (!it_producer_reads(*e))
			it_env_put(&env, *e);
	snprintf(entry, sizeof(entry), "ConnectionStrings__DefaultConnection=%s", db->conninfo);
	it_env_put(&env, entry);
	snprintf(entry, sizeof(entry), "ConnectionStrings__Kafka=%s",
	         it_required_env("FERRY_TEST_KAFKA"));
	it_env_put(&env, entry);
	it_env_put(&env, "PORT=0");
	it_env_put(&env, "FERRY_HTTP_HOST=127.0.0.1");
	/* The pipeline tests send to fresh topics of their own; registry tests that need the
	 * production behaviour (404 for unregistered topics) pass FERRY_AUTO_REGISTER_TOPICS=false.
	 */
	it_env_put(&env, "FERRY_AUTO_REGISTER_TOPICS=true");
	/* Every service holds the harness's key (all roles), and consumers send it to the
	 * producer: tests talk to services as it_http does, with that key, unless they say
	 * otherwise (it_http_as, or these variables in extra_env). */
	it_env_put(&env, "FERRY_BOOTSTRAP_API_KEY=" IT_API_KEY);
	it_env_put(&env, "ProducerService__ApiKey=" IT_API_KEY);
	for (; extra_env && *extra_env; extra_env++)
		it_env_put(&env, *extra_env);

	fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		it_env_free(&env);
		IT_FAIL("it_%s_start: cannot create %s: %s", what, p->log_path, strerror(errno));
	}
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fflush(NULL);
	p->pid = fork();
	if (p->pid == 0) {
		/* Child: only async-signal-safe calls. Dies with the test program. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		execve(bin, argv, env.v);
		(void)!write(STDERR_FILENO, "exec failed\n", sizeof("exec failed\n") - 1);
		_exit(127);
	}
	close(fd);
	if (devnull >= 0)
		close(devnull);
	it_env_free(&env);
	if (p->pid < 0) {
		p->pid = 0;
		IT_FAIL("it_%s_start: fork: %s", what, strerror(errno));
	}
	it_started[it_started_count].pid = p->pid;
	snprintf(it_started[it_started_count].log_path, sizeof(it_started[0].log_path), "%s",
	         p->log_path);
	it_started_count++;

	while (it_now_ms() < deadline) {
		status = it_wait_pid(p->pid, 0);
		if (status >= 0) {
			it_forget(p->pid);
			p->pid = 0;
			it_print_tail(p->log_path, IT_LOG_TAIL_LINES);
			IT_FAIL("ferry-%s exited during start-up with status %d (log above)", what,
			        status);
		}
		if (p->port == 0)
			p->port = it_producer_port(p->log_path, &p->https);
		if (p->port > 0 && it_get(p, "/health", &health) == 200) {
			it_response_free(&health);
			return;
		}
		it_sleep_ms(50);
	}
	it_response_free(&health);
	it_print_tail(p->log_path, IT_LOG_TAIL_LINES);
	it_producer_kill(p);
	IT_FAIL("ferry-%s did not become healthy within %d s (port %d; log above)", what,
	        IT_START_TIMEOUT_MS / 1000, p->port);
}

void it_producer_start(struct it_producer *p, const struct it_db *db, const char *const *extra_env)
{
	it_service_start(p, db, extra_env, FERRY_PRODUCER_BIN, "producer");
}

void it_consumer_start(struct it_producer *c, const struct it_db *db, const char *const *extra_env)
{
	it_service_start(c, db, extra_env, FERRY_CONSUMER_BIN, "consumer");
}

void it_consumer_start_group(struct it_producer *c, const struct it_db *db,
                             const struct it_producer *producer, const char *group,
                             const char *topics, const char *const *extra_env)
{
	char g[512], t[1024], url[128];
	const char *env[32] = {g, t, url};
	size_t n = 3;

	snprintf(g, sizeof(g), "KAFKA_CONSUMER_GROUP=%s", group);
	snprintf(t, sizeof(t), "KAFKA_TOPICS=%s", topics);
	snprintf(url, sizeof(url), "ProducerService__BaseUrl=%s://127.0.0.1:%d",
	         producer->https ? "https" : "http", producer->port);
	for (; extra_env && *extra_env && n < 31; extra_env++)
		env[n++] = *extra_env;
	env[n] = NULL;
	it_consumer_start(c, db, env);
}

int64_t it_send_message(const struct it_producer *p, const char *topic, const char *key,
                        const char *payload)
{
	struct it_response r = {0};
	char body[1024];
	int64_t id;

	snprintf(body, sizeof(body),
	         "{\"topic\":\"%s\",\"key\":\"%s\",\"message\":\"%s\",\"useBatching\":false}",
	         topic, key, payload);
	if (it_post(p, "/api/messages/send", body, &r) != 201)
		fail_msg("send to %s answered %ld: %s", topic, r.status, r.text);
	id = (int64_t)json_integer_value(it_json_get(r.json, "id"));
	it_response_free(&r);
	return id;
}

char *it_scrape_metrics(const struct it_producer *svc)
{
	struct it_response r = {0};
	char *text;

	if (it_get(svc, "/metrics", &r) != 200)
		fail_msg("/metrics answered %ld: %s", r.status, r.text);
	assert_non_null(strstr(r.content_type, "text/plain"));
	text = strdup(r.text);
	assert_non_null(text);
	it_response_free(&r);
	return text;
}

double it_metric_sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return -1;
}

int it_producer_stop(struct it_producer *p)
{
	int status;

	if (p->pid == 0)
		return 0;
	status = it_terminate(p->pid, IT_STOP_TIMEOUT_MS, "ferry-producer");
	it_forget(p->pid);
	p->pid = 0;
	if (status != 0) {
		fprintf(stderr, "it: ferry-producer exited with status %d\n", status);
		it_print_tail(p->log_path, IT_LOG_TAIL_LINES);
	}
	return status;
}

void it_producer_kill(struct it_producer *p)
{
	if (p->pid == 0)
		return;
	kill(p->pid, SIGKILL);
	it_wait_pid(p->pid, 10000);
	it_forget(p->pid);
	p->pid = 0;
}

void it_producer_print_log(const struct it_producer *p, int lines)
{
	it_print_tail(p->log_path, lines);
}

int it_finish(int failed)
{
	char errstr[1024];
	size_t i;

	for (i = 0; i < it_started_count; i++) {
		if (it_started[i].pid == 0)
			continue;
		fprintf(stderr, "it: stopping ferry-producer %d, left running\n",
		        (int)it_started[i].pid);
		it_terminate(it_started[i].pid, 10000, "ferry-producer");
		it_started[i].pid = 0;
	}
	for (i = 0; i < IT_MAX_DBS; i++) {
		if (it_created_dbs[i][0] == '\0')
			continue;
		if (it_drop_database(it_created_dbs[i], errstr, sizeof(errstr)) != 0)
			fprintf(stderr, "it: %s\n", errstr);
		it_created_dbs[i][0] = '\0';
	}
	for (i = 0; i < it_started_count; i++) {
		if (failed > 0)
			it_print_tail(it_started[i].log_path, IT_LOG_TAIL_LINES);
		else
			unlink(it_started[i].log_path);
	}
	if (it_tmp_dir[0] != '\0') {
		if (failed > 0)
			fprintf(stderr, "it: producer logs kept in %s\n", it_tmp_dir);
		else
			rmdir(it_tmp_dir);
	}
	if (it_curl_ready)
		curl_global_cleanup();
	return failed;
}

/* --- HTTP ------------------------------------------------------------------------------------- */

static void it_curl_init(void)
{
	it_curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static size_t it_http_collect(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct it_response *r = opaque;
	size_t len = size * nmemb;
	char *p = realloc(r->text, r->text_len + len + 1);

	if (p == NULL)
		return 0;
	memcpy(p + r->text_len, data, len);
	r->text = p;
	r->text_len += len;
	p[r->text_len] = '\0';
	return len;
}

long it_http(const struct it_producer *p, const char *method, const char *path,
             const char *content_type, const char *body, size_t body_len, struct it_response *r)
{
	return it_http_with_headers(p, method, path, content_type, body, body_len, NULL, r);
}

/* it_http_set_tls's files; "" = not set. */
static char it_tls_ca[1024], it_tls_cert[1024], it_tls_key[1024];

void it_http_set_tls(const char *ca_file, const char *cert_file, const char *key_file)
{
	snprintf(it_tls_ca, sizeof(it_tls_ca), "%s", ca_file ? ca_file : "");
	snprintf(it_tls_cert, sizeof(it_tls_cert), "%s", cert_file ? cert_file : "");
	snprintf(it_tls_key, sizeof(it_tls_key), "%s", key_file ? key_file : "");
}

long it_http_with_headers(const struct it_producer *p, const char *method, const char *path,
                          const char *content_type, const char *body, size_t body_len,
                          const char *const *extra_headers, struct it_response *r)
{
	bool own_key = false;

	/* A test that sends a key header of its own sends only that one. */
	for (const char *const *h = extra_headers; h && *h; h++)
		if (strncasecmp(*h, "Authorization:", 14) == 0 ||
		    strncasecmp(*h, "X-Api-Key:", 10) == 0)
			own_key = true;
	return it_http_as(p, own_key ? NULL : IT_API_KEY, method, path, content_type, body,
	                  body_len, extra_headers, r);
}

long it_http_as(const struct it_producer *p, const char *key, const char *method, const char *path,
                const char *content_type, const char *body, size_t body_len,
                const char *const *extra_headers, struct it_response *r)
{
	char auth[512];
	struct curl_slist *headers = NULL;
	char url[2048], header[256], errbuf[CURL_ERROR_SIZE] = "";
	const char *ct = NULL;
	CURL *curl;
	CURLcode rc;

	it_response_free(r);
	r->text = calloc(1, 1);
	pthread_once(&it_curl_once, it_curl_init);
	curl = it_curl_ready ? curl_easy_init() : NULL;
	if (curl == NULL || r->text == NULL) {
		snprintf(r->error, sizeof(r->error), "libcurl could not be initialised");
		return 0;
	}
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", p->https ? "https" : "http", p->port,
	         path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (it_tls_ca[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAINFO, it_tls_ca);
	if (it_tls_cert[0] != '\0') {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, it_tls_cert);
		curl_easy_setopt(curl, CURLOPT_SSLKEY, it_tls_key);
	}
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)IT_HTTP_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, it_http_collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	if (strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	/* No "Expect: 100-continue" round trip for large bodies: send them straight away. */
	headers = curl_slist_append(headers, "Expect:");
	if (content_type) {
		snprintf(header, sizeof(header), "Content-Type: %s", content_type);
		headers = curl_slist_append(headers, header);
	}
	for (; extra_headers && *extra_headers; extra_headers++)
		headers = curl_slist_append(headers, *extra_headers);
	if (key != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
		headers = curl_slist_append(headers, auth);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
		if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
		r->json = json_loadb(r->text, r->text_len, JSON_DECODE_ANY, NULL);
	} else {
		r->status = 0;
		snprintf(r->error, sizeof(r->error), "%.8s %.100s: %.120s", method, url,
		         errbuf[0] ? errbuf : curl_easy_strerror(rc));
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	return r->status;
}

long it_get(const struct it_producer *p, const char *path, struct it_response *r)
{
	return it_http(p, "GET", path, NULL, NULL, 0, r);
}

long it_post(const struct it_producer *p, const char *path, const char *json, struct it_response *r)
{
	return it_http(p, "POST", path, "application/json", json, strlen(json), r);
}

void it_response_free(struct it_response *r)
{
	free(r->text);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

json_t *it_json_get(json_t *root, const char *dotted)
{
	char name[128];
	size_t len;

	while (root && *dotted) {
		len = strcspn(dotted, ".");
		if (len >= sizeof(name))
			return NULL;
		memcpy(name, dotted, len);
		name[len] = '\0';
		/* A segment of digits indexes an array ("results.0.id"). */
		if (json_is_array(root) && len > 0 && strspn(name, "0123456789") == len)
			root = json_array_get(root, strtoul(name, NULL, 10));
		else
			root = json_object_get(root, name);
		dotted += len + (dotted[len] == '.');
	}
	return root;
}

const char *it_json_string(json_t *root, const char *dotted)
{
	static _Thread_local char missing[160];
	json_t *v = it_json_get(root, dotted);

	if (json_is_string(v))
		return json_string_value(v);
	snprintf(missing, sizeof(missing), "(no string at %.128s)", dotted);
	return missing;
}

/* --- SQL -------------------------------------------------------------------------------------- */

PGconn *it_pg_connect(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);

	if (PQstatus(conn) != CONNECTION_OK) {
		char errstr[1024];

		snprintf(errstr, sizeof(errstr), "%s", PQerrorMessage(conn));
		PQfinish(conn);
		IT_FAIL("it_pg_connect: %s", errstr);
	}
	return conn;
}

/* Formats and runs; the caller PQclear()s. */
static PGresult *it_vquery(PGconn *conn, char **sql, const char *fmt, va_list ap)
{
	if (vasprintf(sql, fmt, ap) < 0)
		abort();
	return PQexec(conn, *sql);
}

/* Fails the test with the statement and PostgreSQL's message; frees both first. */
#define IT_SQL_FAIL(what, res, sql)                                                                \
	do {                                                                                       \
		char it_err_[1024];                                                                \
		snprintf(it_err_, sizeof(it_err_), "%s: %.300s: %s", what, sql,                    \
		         PQresultErrorMessage(res));                                               \
		PQclear(res);                                                                      \
		free(sql);                                                                         \
		IT_FAIL("%s", it_err_);                                                            \
	} while (0)

void it_sql_exec(PGconn *conn, const char *fmt, ...)
{
	char *sql = NULL;
	PGresult *res;
	va_list ap;

	va_start(ap, fmt);
	res = it_vquery(conn, &sql, fmt, ap);
	va_end(ap);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		IT_SQL_FAIL("it_sql_exec", res, sql);
	PQclear(res);
	free(sql);
}

/* The single value of a one-row, one-column result, or fails. NULL for SQL NULL. */
static char *it_single_value(PGresult *res, char *sql, const char *what)
{
	char *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		IT_SQL_FAIL(what, res, sql);
	if (PQntuples(res) != 1 || PQnfields(res) != 1) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s: %.300s: %d rows of %d columns, wanted 1 of 1", what,
		         sql, PQntuples(res), PQnfields(res));
		PQclear(res);
		free(sql);
		IT_FAIL("%s", msg);
	}
	v = PQgetisnull(res, 0, 0) ? NULL : strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	free(sql);
	return v;
}

int64_t it_sql_int(PGconn *conn, const char *fmt, ...)
{
	char *sql = NULL, *v, *end;
	PGresult *res;
	long long n;
	va_list ap;

	va_start(ap, fmt);
	res = it_vquery(conn, &sql, fmt, ap);
	va_end(ap);
	v = it_single_value(res, sql, "it_sql_int");
	if (v == NULL)
		IT_FAIL("it_sql_int: the query returned NULL");
	n = strtoll(v, &end, 10);
	if (*end != '\0') {
		char msg[128];

		snprintf(msg, sizeof(msg), "it_sql_int: '%.60s' is not an integer", v);
		free(v);
		IT_FAIL("%s", msg);
	}
	free(v);
	return n;
}

char *it_sql_text(PGconn *conn, const char *fmt, ...)
{
	char *sql = NULL;
	PGresult *res;
	va_list ap;

	va_start(ap, fmt);
	res = it_vquery(conn, &sql, fmt, ap);
	va_end(ap);
	return it_single_value(res, sql, "it_sql_text");
}

char *it_sql_fails(PGconn *conn, const char *sqlstate, const char *fmt, ...)
{
	char *sql = NULL, *msg;
	const char *state, *primary;
	PGresult *res;
	va_list ap;

	va_start(ap, fmt);
	res = it_vquery(conn, &sql, fmt, ap);
	va_end(ap);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) != PGRES_FATAL_ERROR || state == NULL ||
	    strcmp(state, sqlstate) != 0) {
		char err[1024];

		snprintf(err, sizeof(err), "it_sql_fails: %.300s: wanted SQLSTATE %s, got %s (%s)",
		         sql, sqlstate, state ? state : "success", PQresultErrorMessage(res));
		PQclear(res);
		free(sql);
		IT_FAIL("%s", err);
	}
	primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	msg = strdup(primary ? primary : "");
	PQclear(res);
	free(sql);
	return msg;
}

bool it_wait_sql_int(PGconn *conn, int64_t want, int timeout_ms, const char *fmt, ...)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	char *sql = NULL, *v, lost[512] = "";
	bool done = false;
	PGresult *res;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&sql, fmt, ap) < 0)
		abort();
	va_end(ap);
	for (;;) {
		res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK && PQstatus(conn) != CONNECTION_OK) {
			/* A restart broke the connection: reconnect and keep waiting. */
			snprintf(lost, sizeof(lost), "%s", PQerrorMessage(conn));
			PQclear(res);
			PQreset(conn);
		} else {
			v = it_single_value(res, strdup(sql), "it_wait_sql_int");
			done = v && strtoll(v, NULL, 10) == want;
			free(v);
			lost[0] = '\0';
		}
		if (done || it_now_ms() >= deadline)
			break;
		it_sleep_ms(50);
	}
	free(sql);
	if (lost[0])
		IT_FAIL("it_wait_sql_int: no connection to PostgreSQL at the deadline: %s", lost);
	return done;
}

/* --- Kafka ------------------------------------------------------------------------------------ */

/* A consumer handle with a made-up group that is never joined. NULL with errstr. */
static rd_kafka_t *it_kafka_consumer(char *errstr, size_t errstr_size)
{
	static unsigned seq;
	char group[96];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	const char *settings[][2] = {
	    {"bootstrap.servers", it_required_env("FERRY_TEST_KAFKA")},
	    {"group.id", group},
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    {"allow.auto.create.topics", "false"},
	    {"enable.partition.eof", "false"},
	    {"log_level", "3"},
	};
	size_t i;

	snprintf(group, sizeof(group), "ferry-it-reader-%d-%u", (int)getpid(), ++seq);
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, errstr_size) !=
		    RD_KAFKA_CONF_OK) {
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
	if (rk == NULL)
		rd_kafka_conf_destroy(conf);
	return rk;
}

/* Partition count of `topic`; 0 when it does not exist by `deadline` (asked at least once). */
static int it_kafka_partitions(rd_kafka_t *rk, const char *topic, int64_t deadline)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt;
	int n, wait;

	for (;;) {
		n = 0;
		md = NULL;
		wait = (int)(deadline - it_now_ms());
		rkt = rd_kafka_topic_new(rk, topic, NULL);
		if (rkt &&
		    rd_kafka_metadata(rk, 0, rkt, &md,
		                      wait < 2000   ? 2000
		                      : wait > 5000 ? 5000
		                                    : wait) == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
			n = md->topics[0].partition_cnt;
		if (md)
			rd_kafka_metadata_destroy(md);
		if (rkt)
			rd_kafka_topic_destroy(rkt);
		if (n > 0 || it_now_ms() >= deadline)
			return n;
		it_sleep_ms(100);
	}
}

static char *it_copy_bytes(const void *p, size_t len)
{
	char *s;

	if (p == NULL)
		return NULL;
	s = malloc(len + 1);
	if (s == NULL)
		abort();
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static void it_record_copy(struct it_record *rec, const rd_kafka_message_t *msg)
{
	rd_kafka_headers_t *hdrs = NULL;
	const char *name;
	const void *value;
	size_t size, i;

	memset(rec, 0, sizeof(*rec));
	rec->key = it_copy_bytes(msg->key, msg->key_len);
	rec->key_len = msg->key_len;
	rec->value = it_copy_bytes(msg->payload, msg->len);
	rec->value_len = msg->len;
	rec->partition = msg->partition;
	rec->offset = msg->offset;
	if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	rec->headers = calloc(rd_kafka_header_cnt(hdrs) + 1, sizeof(*rec->headers));
	if (rec->headers == NULL)
		abort();
	for (i = 0;
	     rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
	     i++) {
		rec->headers[i].name = it_copy_bytes(name, strlen(name));
		rec->headers[i].value = it_copy_bytes(value, size);
	}
	rec->header_count = i;
}

void it_kafka_read(const char *topic, size_t want, int timeout_ms, struct it_records *out)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_message_t *msg;
	rd_kafka_resp_err_t err;
	char errstr[512], last_error[512] = "";
	size_t cap = 0;
	rd_kafka_t *rk;
	int n, i;

	memset(out, 0, sizeof(*out));
	rk = it_kafka_consumer(errstr, sizeof(errstr));
	if (rk == NULL)
		IT_FAIL("it_kafka_read: %s", errstr);
	n = it_kafka_partitions(rk, topic, deadline);
	if (n > 0) {
		parts = rd_kafka_topic_partition_list_new(n);
		for (i = 0; i < n; i++)
			rd_kafka_topic_partition_list_add(parts, topic, i)->offset =
			    RD_KAFKA_OFFSET_BEGINNING;
		err = rd_kafka_assign(rk, parts);
		rd_kafka_topic_partition_list_destroy(parts);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			rd_kafka_destroy(rk);
			IT_FAIL("it_kafka_read: assign %s: %s", topic, rd_kafka_err2str(err));
		}
	}
	while (n > 0 && out->n < want && it_now_ms() < deadline) {
		msg = rd_kafka_consumer_poll(rk, 100);
		if (msg == NULL)
			continue;
		if (msg->err) {
			snprintf(last_error, sizeof(last_error), "%s",
			         rd_kafka_message_errstr(msg));
		} else {
			if (out->n == cap) {
				struct it_record *v;

				cap = cap ? cap * 2 : 64;
				v = realloc(out->v, cap * sizeof(*v));
				if (v == NULL)
					abort();
				out->v = v;
			}
			it_record_copy(&out->v[out->n++], msg);
		}
		rd_kafka_message_destroy(msg);
	}
	if (out->n < want && last_error[0])
		fprintf(stderr, "it: reading %s: %zu of %zu records; last consumer error: %s\n",
		        topic, out->n, want, last_error);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
}

int64_t it_kafka_count(const char *topic)
{
	char errstr[512];
	int64_t lo, hi, total = 0;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_t *rk;
	int n, i;

	rk = it_kafka_consumer(errstr, sizeof(errstr));
	if (rk == NULL)
		IT_FAIL("it_kafka_count: %s", errstr);
	n = it_kafka_partitions(rk, topic, it_now_ms());
	for (i = 0; i < n && err == RD_KAFKA_RESP_ERR_NO_ERROR; i++) {
		err = rd_kafka_query_watermark_offsets(rk, topic, i, &lo, &hi, 10000);
		total += hi - lo;
	}
	rd_kafka_destroy(rk);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		IT_FAIL("it_kafka_count: watermarks of %s [%d]: %s", topic, i - 1,
		        rd_kafka_err2str(err));
	return total;
}

const char *it_record_header(const struct it_record *rec, const char *name)
{
	size_t i;

	for (i = 0; i < rec->header_count; i++)
		if (strcmp(rec->headers[i].name, name) == 0)
			return rec->headers[i].value;
	return NULL;
}

void it_assert_header_at(const struct it_record *rec, const char *name, const char *want,
                         const char *file, int line)
{
	const char *got = it_record_header(rec, name);

	if (got != NULL && strcmp(got, want) == 0)
		return;
	if (got == NULL)
		print_error("ERROR: record %d/%lld has no header %s (wanted '%s')\n",
		            (int)rec->partition, (long long)rec->offset, name, want);
	else
		print_error("ERROR: record %d/%lld: header %s is '%s', wanted '%s'\n",
		            (int)rec->partition, (long long)rec->offset, name, got, want);
	_fail(file, line);
}

void it_records_free(struct it_records *recs)
{
	size_t i, h;

	for (i = 0; i < recs->n; i++) {
		for (h = 0; h < recs->v[i].header_count; h++) {
			free(recs->v[i].headers[h].name);
			free(recs->v[i].headers[h].value);
		}
		free(recs->v[i].headers);
		free(recs->v[i].key);
		free(recs->v[i].value);
	}
	free(recs->v);
	memset(recs, 0, sizeof(*recs));
}

void it_fixture_open(struct it_fixture *fx, const char *name, const char *const *extra_env)
{
	it_db_create(&fx->db, name);
	it_producer_start(&fx->producer, &fx->db, extra_env);
	fx->conn = it_pg_connect(fx->db.conninfo);
}

void it_fixture_close(struct it_fixture *fx)
{
	int status;

	PQfinish(fx->conn);
	fx->conn = NULL;
	status = it_producer_stop(&fx->producer);
	it_db_drop(&fx->db);
	assert_int_equal(status, 0);
}
