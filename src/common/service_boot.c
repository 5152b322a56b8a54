/*
 * service_boot.c - see service_boot.h.
 */
#include "common/service_boot.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "common/conninfo.h"
#include "common/kafka_auth.h"
#include "common/log.h"
#include "common/pg.h"
#include "ferry/version.h"

#define SERVICE_BOOT_MIGRATION_VAR "ConnectionStrings__MigrationConnection"

/* --- the command line, the settings, where to listen, the signals --- */

static int service_boot_cli_parse(int argc, char **argv, const char *name, const char *version,
                                  void (*usage)(FILE *out), const struct config_setting *table,
                                  size_t n, const char **urls)
{
	int i;

	*urls = NULL;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", name, version);
			return 0;
		} else if (strcmp(argv[i], "--config-table") == 0) {
			config_print_markdown(table, n, stdout);
			return 0;
		} else if (strcmp(argv[i], "--urls") == 0 && i + 1 < argc) {
			*urls = argv[++i];
		} else if (strncmp(argv[i], "--urls=", 7) == 0) {
			*urls = argv[i] + 7;
		} else {
			fprintf(stderr, "%s: unknown argument '%s' (try --help)\n", name, argv[i]);
			return 2;
		}
	}
	return -1;
}

static int service_boot_cli_configure(const char *name, const struct config_setting *table,
                                      size_t n, char *const *log_level, char *const *log_format)
{
	enum log_level level;
	enum log_format format;
	char errstr[1024];

	if (config_load(table, n, NULL, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "%s: %s\n", name, errstr);
		return -1;
	}
	if (log_level_parse(*log_level, &level) != 0 ||
	    log_format_parse(*log_format, &format) != 0) {
		fprintf(stderr, "%s: FERRY_LOG_LEVEL/FERRY_LOG_FORMAT invalid\n", name);
		return -1;
	}
	log_init(level, format);
	return 0;
}

static int service_boot_cli_listen(const char *name, const char *urls_flag, const char *urls,
                                   const char *http_host, long port_setting, char *host,
                                   size_t host_size, int *port, bool *https)
{
	char errstr[512];

	*https = false;
	if (urls_flag || urls) {
		if (config_parse_listen_url(urls_flag ? urls_flag : urls, host, host_size, port,
		                            https, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "%s: %s: %s\n", name,
			        urls_flag ? "--urls" : "ASPNETCORE_URLS", errstr);
			return -1;
		}
		return 0;
	}
	snprintf(host, host_size, "%s", http_host);
	*port = (int)port_setting;
	return 0;
}

static void service_boot_cli_block_signals(sigset_t *sigs)
{
	sigemptyset(sigs);
	sigaddset(sigs, SIGTERM);
	sigaddset(sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* --- the steps of a start and a stop --- */

int service_boot_parse_args(struct service_boot *b, const char *name, int argc, char **argv,
                            void (*usage)(FILE *out), const struct config_setting *table, size_t n)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	b->table = table;
	b->ntable = n;
	sigemptyset(&b->signals);
	return service_boot_cli_parse(argc, argv, name, FERRY_VERSION, usage, table, n,
	                              &b->urls_flag);
}

int service_boot_configure(struct service_boot *b, char *const *log_level, char *const *log_format)
{
	return service_boot_cli_configure(b->name, b->table, b->ntable, log_level, log_format);
}

int service_boot_conninfo(struct service_boot *b, const char *db_var, const char *connection)
{
	char errstr[1024];

	b->db_var = db_var;
	if (conninfo_translate(connection, b->conninfo, sizeof(b->conninfo), errstr,
	                       sizeof(errstr)) != 0) {
		fprintf(stderr, "%s: %s: %s\n", b->name, db_var, errstr);
		return -1;
	}
	return 0;
}

int service_boot_migration_conninfo(struct service_boot *b, const char *connection)
{
	char errstr[1024];

	b->migrate_conninfo[0] = '\0';
	if (connection == NULL || connection[0] == '\0')
		return 0;
	if (conninfo_translate(connection, b->migrate_conninfo, sizeof(b->migrate_conninfo), errstr,
	                       sizeof(errstr)) != 0) {
		fprintf(stderr, "%s: " SERVICE_BOOT_MIGRATION_VAR ": %s\n", b->name, errstr);
		return -1;
	}
	return 0;
}

int service_boot_listen(struct service_boot *b, const char *urls, const char *http_host,
                        long port_setting)
{
	return service_boot_cli_listen(b->name, b->urls_flag, urls, http_host, port_setting,
	                               b->host, sizeof(b->host), &b->port, &b->https);
}

static bool service_boot_is_set(const char *value)
{
	return value != NULL && value[0] != '\0';
}

int service_boot_tls(struct service_boot *b, const char *cert_file, const char *key_file,
                     const char *client_ca_file)
{
	char errstr[1024];

	if (!b->https) {
		if (service_boot_is_set(cert_file) || service_boot_is_set(key_file) ||
		    service_boot_is_set(client_ca_file)) {
			fprintf(stderr,
			        "%s: FERRY_TLS_* files are set but the listen URL is not https:// "
			        "(use --urls https://host:port, or unset them)\n",
			        b->name);
			return -1;
		}
		return 0;
	}
	if (!service_boot_is_set(cert_file) || !service_boot_is_set(key_file)) {
		fprintf(
		    stderr,
		    "%s: %s: https needs FERRY_TLS_CERT_FILE and FERRY_TLS_KEY_FILE (PEM files)\n",
		    b->name, b->urls_flag ? "--urls" : "ASPNETCORE_URLS");
		return -1;
	}
	b->tls = http_tls_load(cert_file, key_file, client_ca_file, errstr, sizeof(errstr));
	if (b->tls == NULL) {
		fprintf(stderr, "%s: %s\n", b->name, errstr);
		return -1;
	}
	return 0;
}

const char *service_boot_scheme(const struct service_boot *b)
{
	return b->https ? "https" : "http";
}

void service_boot_instance_id(struct service_boot *b, const char *configured, int port)
{
	char hn[200] = "localhost";

	if (configured != NULL && configured[0] != '\0') {
		snprintf(b->instance, sizeof(b->instance), "%s", configured);
		return;
	}
	gethostname(hn, sizeof(hn) - 1);
	if (port == 0)
		snprintf(b->instance, sizeof(b->instance), "%s-pid%d", hn, (int)getpid());
	else
		snprintf(b->instance, sizeof(b->instance), "%s-%d", hn, port);
}

void service_boot_block_signals(struct service_boot *b)
{
	service_boot_cli_block_signals(&b->signals);
}

int service_boot_fail(const struct service_boot *b, const char *reason)
{
	fprintf(stderr, "%s: %s\n", b->name, reason);
	return -1;
}

int service_boot_check_kafka(struct service_boot *b, const char *bootstrap,
                             const struct kafka_conf_default *defaults, size_t n)
{
	char errstr[1024];
	rd_kafka_conf_t *conf =
	    kafka_conf_build(bootstrap, defaults, n, b->table, b->ntable, errstr, sizeof(errstr));

	if (conf == NULL)
		return service_boot_fail(b, errstr);
	rd_kafka_conf_destroy(conf);
	return 0;
}

int service_boot_probe_kafka(struct service_boot *b, const char *bootstrap)
{
	static const struct kafka_conf_default probe_defaults[] = {
	    {"client.id", "ferry-probe", KAFKA_CONF_TUNABLE},
	};
	char errstr[1024];
	rd_kafka_conf_t *conf = kafka_conf_build(bootstrap, probe_defaults, 1, b->table, b->ntable,
	                                         errstr, sizeof(errstr));

	if (conf == NULL)
		return service_boot_fail(b, errstr);
	if (kafka_auth_probe(conf, SERVICE_BOOT_KAFKA_PROBE_MS, errstr, sizeof(errstr)) != 0)
		return service_boot_fail(b, errstr);
	return 0;
}

int service_boot_database(struct service_boot *b, long wait_s, bool migrate, const char *component,
                          const struct migration_source *migrations, size_t count,
                          const struct migration_source *functions, size_t nfunctions,
                          long lock_timeout_ms)
{
	char errstr[1024];
	PGconn *conn = NULL;
	bool separate = b->migrate_conninfo[0] != '\0'; /* migrations over the owner's */
	int rc = -1;

	conn = pg_connect_wait(b->conninfo, b->name, wait_s, errstr, sizeof(errstr));
	if (conn == NULL) {
		fprintf(stderr, "%s: cannot connect to PostgreSQL (%s): %s\n", b->name, b->db_var,
		        errstr);
		goto done;
	}
	if (migrate && separate) {
		/* The service's own role has logged in (a wrong password or a missing grant of
		 * CONNECT shows now, not after the migrations); the owner's connection migrates. */
		PQfinish(conn);
		conn =
		    pg_connect_wait(b->migrate_conninfo, b->name, wait_s, errstr, sizeof(errstr));
		if (conn == NULL) {
			fprintf(stderr,
			        "%s: cannot connect to PostgreSQL (" SERVICE_BOOT_MIGRATION_VAR
			        "): %s\n",
			        b->name, errstr);
			goto done;
		}
	}
	if (migrate && migrate_apply(conn, component, migrations, count, functions, nfunctions,
	                             lock_timeout_ms, wait_s * 1000, errstr, sizeof(errstr)) < 0) {
		/* 42501 and "must be owner": a service role that may not change the schema. */
		if (!separate && (strstr(errstr, "must be owner") != NULL ||
		                  strstr(errstr, "permission denied") != NULL))
			fprintf(
			    stderr,
			    "%s: %s (this role may not change the schema: set " SERVICE_BOOT_MIGRATION_VAR
			    " to the owner's connection, or "
			    "FERRY_MIGRATE=false once the schema is current)\n",
			    b->name, errstr);
		else
			service_boot_fail(b, errstr);
		goto done;
	}
	rc = 0;
done:
	if (conn != NULL)
		PQfinish(conn);
	return rc;
}

void service_boot_wait_signal(struct service_boot *b, long deadline_ms)
{
	int sig = 0;

	if (sigwait(&b->signals, &sig) != 0)
		sig = SIGTERM;
	log_info("main", "signal %d: shutting down within %ld ms", sig, deadline_ms);
	b->guard = shutdown_guard_start(b->name, deadline_ms);
}

void service_boot_stage(struct service_boot *b, const char *stage)
{
	shutdown_guard_stage(b->guard, stage);
}

int service_boot_finish(struct service_boot *b, int exit_code)
{
	int64_t elapsed;

	config_free(b->table, b->ntable);
	http_tls_free(b->tls);
	b->tls = NULL;
	elapsed = shutdown_guard_finish(b->guard);
	b->guard = NULL;
	if (exit_code == 0)
		log_info("main", "stopped cleanly in %lld ms", (long long)elapsed);
	return exit_code;
}
