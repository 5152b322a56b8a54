/*
 * test_https.c - HTTPS on both services and mutual TLS on the consumer -> producer path.
 *
 * The setup makes a throw-away CA with openssl (a server certificate for localhost and
 * 127.0.0.1, a client certificate) and a second, unrelated CA with a client certificate of its
 * own, in a temporary directory. Then:
 *  - a producer on https: a send through the CA works; a client trusting the other CA gets a
 *    certificate error and writes no row; ferryctl works with --cacert (or FERRY_CA_FILE) and
 *    without it fails with one line and exit 1;
 *  - a consumer, itself on https, acknowledging to that producer over https: ACKNOWLEDGED;
 *  - a producer requiring client certificates (FERRY_TLS_CLIENT_CA_FILE): requests without a
 *    certificate, or with one of the other CA, get 403; a consumer with the right certificate
 *    gets its acks through, consumers without one or with the other CA's keep theirs pending;
 *  - bad TLS settings (missing file, key of another certificate, https without a certificate):
 *    exit 1 with one line naming the file or the settings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 30000
#define RUN_MS  30000

static char dir[256];
static struct it_db db;
static char ca[320], server_crt[320], server_key[320], client_crt[320], client_key[320];
static char other_ca[320], other_crt[320], other_key[320];

/* What a command printed and how it ended. */
struct run {
	int status; /* exit code; 128 + signal when killed */
	char out[16384];
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

/* Runs argv with exactly the environment `env` (NULL-terminated), at most RUN_MS. */
static void run(struct run *r, char *const *argv, char *const *env)
{
	char tout[] = "/tmp/ferry-https-out-XXXXXX", terr[] = "/tmp/ferry-https-err-XXXXXX";
	int fo = mkstemp(tout), fe = mkstemp(terr), st = 0;
	int64_t deadline = it_now_ms() + RUN_MS;
	pid_t pid, done;

	if (fo < 0 || fe < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	unlink(tout);
	unlink(terr);
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(fo, STDOUT_FILENO);
		dup2(fe, STDERR_FILENO);
		execve(argv[0], argv, env);
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
	read_into(fo, r->out, sizeof(r->out));
	read_into(fe, r->err, sizeof(r->err));
	close(fo);
	close(fe);
	if (done == 0)
		fail_msg("%s did not finish within %d s", argv[0], RUN_MS / 1000);
}

/* Fails unless `text` is exactly one line containing `needle`. */
static void assert_one_line(const char *text, const char *needle)
{
	size_t len = strlen(text);

	if (len == 0 || text[len - 1] != '\n' || strchr(text, '\n') != text + len - 1 ||
	    strstr(text, needle) == NULL)
		fail_msg("want one line with '%s', got:\n%s", needle, text);
}

/* A port nothing listens on now (the kernel's pick, released): listen URLs need a port. */
static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		fail_msg("cannot find a free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Runs one shell line (openssl); fails the test unless it exits 0. */
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		fail_msg("command failed (%d): %s", st, cmd);
}

/* A CA `name` (name.pem, name.key) in dir. */
static void make_ca(const char *name)
{
	sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout %s.key -out %s.pem "
	   "-days 2 -subj /CN=%s -addext basicConstraints=critical,CA:TRUE "
	   "-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null",
	   dir, name, name, name);
}

/* A certificate `name` (name.pem, name.key) signed by CA `ca_name`, with extensions `ext`. */
static void make_cert(const char *name, const char *ca_name, const char *ext)
{
	sh("cd %s && printf '%%s\\n' '%s' > %s.ext && "
	   "openssl req -newkey rsa:2048 -nodes -keyout %s.key -out %s.csr -subj /CN=%s "
	   "2>/dev/null && "
	   "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -out %s.pem "
	   "-days 2 -extfile %s.ext 2>/dev/null",
	   dir, ext, name, name, name, name, name, ca_name, ca_name, name, name);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/ferry-https-XXXXXX";

	(void)state;
	if (mkdtemp(tmpl) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(dir, sizeof(dir), "%s", tmpl);
	make_ca("ca");
	make_cert("server", "ca",
	          "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth");
	make_cert("client", "ca", "extendedKeyUsage=clientAuth");
	make_ca("otherca");
	make_cert("other", "otherca", "extendedKeyUsage=clientAuth");
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(server_crt, sizeof(server_crt), "%s/server.pem", dir);
	snprintf(server_key, sizeof(server_key), "%s/server.key", dir);
	snprintf(client_crt, sizeof(client_crt), "%s/client.pem", dir);
	snprintf(client_key, sizeof(client_key), "%s/client.key", dir);
	snprintf(other_ca, sizeof(other_ca), "%s/otherca.pem", dir);
	snprintf(other_crt, sizeof(other_crt), "%s/other.pem", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
	it_db_create(&db, "https");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	it_db_drop(&db);
	sh("rm -rf %s", dir);
	return 0;
}

/* The env entries of a service listening on https at `port` with the server certificate. */
struct tls_env {
	char urls[96], cert[400], key[400], client_ca[400];
};

static void tls_env_fill(struct tls_env *e, int port)
{
	snprintf(e->urls, sizeof(e->urls), "ASPNETCORE_URLS=https://127.0.0.1:%d", port);
	snprintf(e->cert, sizeof(e->cert), "FERRY_TLS_CERT_FILE=%s", server_crt);
	snprintf(e->key, sizeof(e->key), "FERRY_TLS_KEY_FILE=%s", server_key);
	snprintf(e->client_ca, sizeof(e->client_ca), "FERRY_TLS_CLIENT_CA_FILE=%s", ca);
}

/* Starts a producer on https; with mutual TLS when `mtls`. */
static void start_https_producer(struct it_producer *p, struct tls_env *e, bool mtls)
{
	const char *env[] = {e->urls, e->cert, e->key, mtls ? e->client_ca : NULL, NULL};

	tls_env_fill(e, free_port());
	it_producer_start(p, &db, env);
	assert_true(p->https);
}

/* Registers `topic` (1 partition) for `group`. */
static void register_topic(const struct it_producer *p, const char *topic, const char *group)
{
	struct it_response r = {0};
	char body[512];

	snprintf(body, sizeof(body),
	         "{\"topicName\":\"%s\",\"partitions\":1,\"consumerGroups\":"
	         "[{\"consumerGroupName\":\"%s\"}]}",
	         topic, group);
	it_post(p, "/api/topics/register", body, &r);
	if (r.status != 201 && r.status != 200)
		fail_msg("registering %s answered %ld: %s", topic, r.status, r.text);
	it_response_free(&r);
}

static bool delivery_acknowledged(PGconn *conn, int64_t id, const char *group)
{
	return it_wait_sql_int(conn, 1, WAIT_MS,
	                       "SELECT count(*) FROM ferry.message_delivery WHERE message_id = "
	                       "%" PRId64 " AND consumer_group = '%s' AND status = 'ACKNOWLEDGED'",
	                       id, group);
}

/* Runs ferryctl `args...` against `url` with FERRY_CA_FILE=`ca_env` (NULL: unset). */
static void ferryctl(struct run *r, const char *url, const char *ca_env, const char *a1,
                     const char *a2, const char *a3, const char *a4)
{
	char u[128], c[400];
	char *env[] = {u, (char *)"FERRY_TOKEN=" IT_API_KEY, ca_env ? c : NULL, NULL};
	char *argv[] = {FERRY_CTL_BIN, (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};

	snprintf(u, sizeof(u), "FERRY_URL=%s", url);
	snprintf(c, sizeof(c), "FERRY_CA_FILE=%s", ca_env ? ca_env : "");
	run(r, argv, env);
}

/* Runs ferryctl --cacert topics list against `url`, with the client certificate when
 * `with_cert`. */
static void ferryctl_mtls(struct run *r, const char *url, bool with_cert)
{
	char u[128];
	char *env[] = {u, (char *)"FERRY_TOKEN=" IT_API_KEY, NULL};
	char *argv[] = {
	    FERRY_CTL_BIN, "--cacert",   ca,         "topics", "list", with_cert ? "--cert" : NULL,
	    client_crt,    "--cert-key", client_key, NULL};

	snprintf(u, sizeof(u), "FERRY_URL=%s", url);
	run(r, argv, env);
}

static void test_producer_https(void **state)
{
	struct it_producer p;
	struct tls_env e;
	struct it_response r = {0};
	struct run cr;
	char topic[IT_TOPIC_MAX], body[512], url[64];
	PGconn *conn;
	int64_t before;

	(void)state;
	it_http_set_tls(ca, NULL, NULL);
	start_https_producer(&p, &e, false);
	conn = it_pg_connect(db.conninfo);
	it_topic(topic, sizeof(topic), "https");

	/* Trusting the CA: sent. */
	assert_true(it_send_message(&p, topic, "k", "over-tls") > 0);
	before =
	    it_sql_int(conn, "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'", topic);
	assert_int_equal(before, 1);

	/* Trusting another CA: the handshake fails and nothing is written. */
	it_http_set_tls(other_ca, NULL, NULL);
	snprintf(body, sizeof(body), "{\"topic\":\"%s\",\"message\":\"x\",\"key\":\"k\"}", topic);
	assert_int_equal(it_post(&p, "/api/messages/send", body, &r), 0);
	if (strstr(r.error, "certificate") == NULL)
		fail_msg("expected a certificate error, got: %s", r.error);
	it_response_free(&r);
	assert_int_equal(
	    it_sql_int(conn, "SELECT count(*) FROM ferry.outbox_message WHERE topic = '%s'", topic),
	    1);
	it_http_set_tls(ca, NULL, NULL);

	/* ferryctl: --cacert or FERRY_CA_FILE works; without a CA, one clear line and exit 1. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", p.port);
	ferryctl(&cr, url, NULL, "topics", "list", "--cacert", ca);
	if (cr.status != 0)
		fail_msg("ferryctl --cacert exited %d: %s", cr.status, cr.err);
	ferryctl(&cr, url, NULL, "--cacert", ca, "topics", "list");
	assert_int_equal(cr.status, 0);
	ferryctl(&cr, url, ca, "topics", "list", NULL, NULL);
	assert_int_equal(cr.status, 0);
	ferryctl(&cr, url, NULL, "topics", "list", NULL, NULL);
	assert_int_equal(cr.status, 1);
	assert_one_line(cr.err, "cannot reach https://127.0.0.1");
	assert_one_line(cr.err, "SSL certificate problem: unable to get local issuer certificate");
	ferryctl(&cr, url, NULL, "topics", "list", "--cacert", "/nonexistent/ca.pem");
	assert_int_equal(cr.status, 1);
	assert_one_line(cr.err, "CA file /nonexistent/ca.pem: cannot read");

	PQfinish(conn);
	assert_int_equal(it_producer_stop(&p), 0);
	it_http_set_tls(NULL, NULL, NULL);
}

/* A consumer on https, acknowledging over https: the producer sees ACKNOWLEDGED. */
static void test_consumer_https_acks(void **state)
{
	struct it_producer p, c;
	struct tls_env e, ce;
	struct it_response r = {0};
	char topic[IT_TOPIC_MAX], group[160], cafile[400];
	PGconn *conn;
	int64_t id;

	(void)state;
	it_http_set_tls(ca, NULL, NULL);
	start_https_producer(&p, &e, false);
	conn = it_pg_connect(db.conninfo);
	it_topic(topic, sizeof(topic), "https-acks");
	snprintf(group, sizeof(group), "%s-g", topic);
	register_topic(&p, topic, group);
	id = it_send_message(&p, topic, "k", "ack-me");

	tls_env_fill(&ce, free_port());
	snprintf(cafile, sizeof(cafile), "ProducerService__CaFile=%s", ca);
	{
		const char *env[] = {ce.urls, ce.cert, ce.key, cafile, NULL};

		it_consumer_start_group(&c, &db, &p, group, topic, env);
	}
	assert_true(c.https); /* its own API on https too: the harness's health check passed */
	assert_true(delivery_acknowledged(conn, id, group));
	assert_int_equal(it_get(&c, "/health", &r), 200);
	it_response_free(&r);

	assert_int_equal(it_producer_stop(&c), 0);
	PQfinish(conn);
	assert_int_equal(it_producer_stop(&p), 0);
	it_http_set_tls(NULL, NULL, NULL);
}

/* Waits until the consumer database `conn` holds a pending ack for `group` that failed with
 * `why` in its last error; true when it did. */
static bool ack_refused(PGconn *conn, const char *group, const char *why)
{
	return it_wait_sql_int(
	    conn, 1, WAIT_MS,
	    "SELECT count(*) FROM ferry_consumer.pending_ack WHERE "
	    "consumer_group = '%s' AND attempts > 0 AND last_error LIKE '%%%s%%'",
	    group, why);
}

/* A consumer for a fresh group on db2 with the client certificate env `cert_env`/`key_env`
 * (NULL: none); sends one message for it and returns its id. */
static int64_t start_consumer_for(struct it_producer *c, const struct it_producer *p,
                                  const struct it_db *on, const char *prefix, char *group,
                                  size_t group_size, const char *cert, const char *key)
{
	char topic[IT_TOPIC_MAX], cafile[400], certenv[400], keyenv[400];
	const char *env[] = {cafile, cert ? certenv : NULL, keyenv, NULL};

	it_topic(topic, sizeof(topic), prefix);
	snprintf(group, group_size, "%s-g", topic);
	register_topic(p, topic, group);
	snprintf(cafile, sizeof(cafile), "ProducerService__CaFile=%s", ca);
	snprintf(certenv, sizeof(certenv), "ProducerService__ClientCertFile=%s", cert ? cert : "");
	snprintf(keyenv, sizeof(keyenv), "ProducerService__ClientKeyFile=%s", key ? key : "");
	it_consumer_start_group(c, on, p, group, topic, env);
	return it_send_message(p, topic, "k", "mtls");
}

/* How many lines of the log at `path` contain `needle`. */
static int count_log_lines(const char *path, const char *needle)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		fail_msg("cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

static void test_mutual_tls(void **state)
{
	struct it_producer p, good, none, other;
	struct tls_env e;
	struct it_response r = {0};
	struct it_db db2, db3;
	char g_good[160], g_none[160], g_other[160];
	PGconn *conn, *conn2, *conn3;
	int64_t id_good, id_none, id_other;
	struct run cr;
	char url[64];

	(void)state;
	it_http_set_tls(ca, client_crt, client_key);
	start_https_producer(&p, &e, true);
	conn = it_pg_connect(db.conninfo);

	/* Without a client certificate, or with one of another CA: 403 and a JSON reason. */
	it_http_set_tls(ca, NULL, NULL);
	assert_int_equal(it_get(&p, "/health", &r), 403);
	assert_string_equal(it_json_string(r.json, "error"), "client certificate required");
	it_http_set_tls(ca, other_crt, other_key);
	assert_int_equal(it_get(&p, "/health", &r), 403);
	if (strstr(it_json_string(r.json, "error"), "not trusted") == NULL)
		fail_msg("want 'not trusted', got %s", r.text);
	it_http_set_tls(ca, client_crt, client_key);
	assert_int_equal(it_get(&p, "/health", &r), 200);
	it_response_free(&r);

	/* ferryctl: with --cert and --cert-key it works; without, the 403 is its one line. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d", p.port);
	ferryctl_mtls(&cr, url, true);
	if (cr.status != 0)
		fail_msg("ferryctl --cert exited %d: %s", cr.status, cr.err);
	ferryctl_mtls(&cr, url, false);
	assert_int_equal(cr.status, 1);
	assert_one_line(cr.err, "HTTP 403: client certificate required");

	/* The consumer with the CA's client certificate: acknowledged. */
	id_good = start_consumer_for(&good, &p, &db, "mtls-good", g_good, sizeof(g_good),
	                             client_crt, client_key);
	assert_true(delivery_acknowledged(conn, id_good, g_good));

	/* Without a certificate, and with the other CA's: refused, the acks stay pending (each in
	 * a database of its own, so the good consumer does not deliver them). */
	it_db_create(&db2, "https_none");
	it_db_create(&db3, "https_other");
	id_none =
	    start_consumer_for(&none, &p, &db2, "mtls-none", g_none, sizeof(g_none), NULL, NULL);
	id_other = start_consumer_for(&other, &p, &db3, "mtls-other", g_other, sizeof(g_other),
	                              other_crt, other_key);
	conn2 = it_pg_connect(db2.conninfo);
	conn3 = it_pg_connect(db3.conninfo);
	assert_true(ack_refused(conn2, g_none, "HTTP 403"));
	assert_true(ack_refused(conn3, g_other, "HTTP 403"));
	/* Refused on every attempt, warned about once. */
	assert_true(it_wait_sql_int(conn2, 1, WAIT_MS,
	                            "SELECT count(*) FROM ferry_consumer.pending_ack WHERE "
	                            "consumer_group = '%s' AND attempts >= 3",
	                            g_none));
	assert_int_equal(count_log_lines(none.log_path, "not delivered, will retry"), 1);
	assert_int_equal(it_sql_int(conn,
	                            "SELECT count(*) FROM ferry.message_delivery WHERE message_id "
	                            "IN (%" PRId64 ", %" PRId64 ") AND status = 'ACKNOWLEDGED'",
	                            id_none, id_other),
	                 0);

	assert_int_equal(it_producer_stop(&other), 0);
	assert_int_equal(it_producer_stop(&none), 0);
	assert_int_equal(it_producer_stop(&good), 0);
	PQfinish(conn3);
	PQfinish(conn2);
	PQfinish(conn);
	it_db_drop(&db3);
	it_db_drop(&db2);
	assert_int_equal(it_producer_stop(&p), 0);
	it_http_set_tls(NULL, NULL, NULL);
}

/* Runs ferry-producer with `env` and expects exit 1 with one line containing `needle`. */
static void expect_start_failure(char *const *env, const char *needle)
{
	char *argv[] = {FERRY_PRODUCER_BIN, NULL};
	struct run r;

	run(&r, argv, env);
	if (r.status != 1)
		fail_msg("want exit 1, got %d:\n%s%s", r.status, r.out, r.err);
	assert_one_line(r.err, needle);
	if (strstr(r.err, "PRIVATE KEY") || strstr(r.err, "BEGIN CERTIFICATE"))
		fail_msg("the error shows a file's contents: %s", r.err);
}

static void test_bad_tls_settings(void **state)
{
	char urls[] = "ASPNETCORE_URLS=https://127.0.0.1:5999";
	char missing[] = "FERRY_TLS_CERT_FILE=/nonexistent/server.pem";
	char cert[400], key[400], other_keyenv[400], client_ca[400];
	char *no_file[] = {urls, missing, key, NULL};
	char *mismatch[] = {urls, cert, other_keyenv, NULL};
	char *no_cert[] = {urls, NULL};
	char *plain_http[] = {cert, key, NULL};
	char *bad_ca[] = {urls, cert, key, client_ca, NULL};

	(void)state;
	snprintf(cert, sizeof(cert), "FERRY_TLS_CERT_FILE=%s", server_crt);
	snprintf(key, sizeof(key), "FERRY_TLS_KEY_FILE=%s", server_key);
	snprintf(other_keyenv, sizeof(other_keyenv), "FERRY_TLS_KEY_FILE=%s", other_key);
	/* A key file is not a certificate: the CA check names the file. */
	snprintf(client_ca, sizeof(client_ca), "FERRY_TLS_CLIENT_CA_FILE=%s", server_key);
	expect_start_failure(no_file, "certificate file /nonexistent/server.pem: cannot read");
	expect_start_failure(mismatch, "does not match certificate file");
	expect_start_failure(no_cert, "https needs FERRY_TLS_CERT_FILE and FERRY_TLS_KEY_FILE");
	expect_start_failure(plain_http, "not https://");
	expect_start_failure(bad_ca, "client CA file");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_tls_settings),
	    cmocka_unit_test(test_producer_https),
	    cmocka_unit_test(test_consumer_https_acks),
	    cmocka_unit_test(test_mutual_tls),
	};

	return it_finish(cmocka_run_group_tests(tests, setup, teardown));
}
