/*
 * service_boot.h - what both services do the same way around their own modules: the command
 * line and the environment, where to listen, the database connection string, the instance id,
 * waiting for PostgreSQL and applying the migrations, and the signal that starts the shutdown
 * with its deadline watchdog (shutdown_guard.h).
 *
 * A service keeps one struct service_boot in its service struct and calls these from its
 * *_service_start and *_service_stop, on the main thread. Each failing step writes one line
 * "<name>: <reason>" on stderr (the start then fails with exit code 1) and nothing else: the
 * service's stop frees what was built. Knows nothing of producers or consumers.
 */
#ifndef FERRY_SERVICE_BOOT_H
#define FERRY_SERVICE_BOOT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/config.h"
#include "common/http_tls.h"
#include "common/kafka_conf.h"
#include "common/migrate.h"
#include "common/shutdown_guard.h"

struct service_boot {
	const char *name;                   /* "ferry-producer": stderr, logs, app name */
	const struct config_setting *table; /* the service's settings, bound to its config */
	size_t ntable;                      /* entries of table */
	const char *urls_flag;              /* --urls, or NULL (points into argv) */
	const char *db_var;                 /* the setting conninfo comes from, for messages */
	char conninfo[4096];                /* libpq conninfo (service_boot_conninfo) */
	char migrate_conninfo[4096];        /* the migrations' conninfo; "" = conninfo */
	char host[256];                     /* bind address; "" = all interfaces */
	int port;                           /* port to bind; 0 = the kernel picks */
	bool https;                         /* the listen URL was https:// */
	struct http_tls *tls;               /* service_boot_tls's material (owned), or NULL */
	char instance[256];                 /* instance id (service_boot_instance_id) */
	sigset_t signals;                   /* SIGTERM and SIGINT, taken by sigwait */
	struct shutdown_guard *guard;       /* the shutdown's watchdog; NULL before the signal */
};

/*
 * Clears *b and parses argv: `name` and `table` (n entries, bound to the service's config
 * struct) are kept, not copied. The flags every ferry service takes: --help/-h (prints
 * `usage`), --version ("<name> <version>"), --config-table (the settings table as Markdown,
 * which docs/configuration.md carries) and --urls URL (the listen address). Everything else is
 * configured through the environment (config.h). Returns -1 when the service should start, or
 * the exit code to return at once (0 after --help, --version, --config-table; 2 after one line
 * on stderr naming an unknown argument).
 */
int service_boot_parse_args(struct service_boot *b, const char *name, int argc, char **argv,
                            void (*usage)(FILE *out), const struct config_setting *table, size_t n)
    __attribute__((warn_unused_result));

/* Loads the settings from the environment and starts logging at the configured level and
 * format (*log_level and *log_format are read after the load). Returns 0 or -1 (one line on
 * stderr). */
int service_boot_configure(struct service_boot *b, char *const *log_level, char *const *log_format)
    __attribute__((warn_unused_result));

/* Translates `connection` (taken from the setting named db_var, kept) into b->conninfo.
 * Returns 0, or -1 after "<name>: <db_var>: <reason>". */
int service_boot_conninfo(struct service_boot *b, const char *db_var, const char *connection)
    __attribute__((warn_unused_result));

/* Translates `connection` (ConnectionStrings__MigrationConnection, kept; NULL or "" = none) into
 * b->migrate_conninfo: the owner's connection the migrations run over, so that the service's
 * own role needs no DDL rights. Returns 0, or -1 after "<name>: <setting>: <reason>". */
int service_boot_migration_conninfo(struct service_boot *b, const char *connection)
    __attribute__((warn_unused_result));

/* Where to listen: the --urls flag, else ASPNETCORE_URLS (`urls`), else `http_host` and
 * `port_setting`; into b->host and b->port. Returns 0, or -1 after one line on stderr naming
 * the source that was invalid. */
int service_boot_listen(struct service_boot *b, const char *urls, const char *http_host,
                        long port_setting) __attribute__((warn_unused_result));

/*
 * After service_boot_listen: for an https listen URL, reads and checks the certificate, key and
 * optional client CA files (the FERRY_TLS_* settings, http_tls.h) into b->tls, which the HTTP
 * server is given and service_boot_finish frees. For plain http, any of them set is an error
 * (a certificate configured but not served is a mistake better said at start). Returns 0, or
 * -1 after one line on stderr naming the setting or the file.
 */
int service_boot_tls(struct service_boot *b, const char *cert_file, const char *key_file,
                     const char *client_ca_file) __attribute__((warn_unused_result));

/* "https" or "http": the scheme the service listens with, for its "listening on" line. */
const char *service_boot_scheme(const struct service_boot *b);

/*
 * Sets b->instance: `configured` when not empty, else "<hostname>-<port>", or
 * "<hostname>-pid<pid>" when port is 0 (the kernel picks the port later: the pid tells
 * instances apart).
 */
void service_boot_instance_id(struct service_boot *b, const char *configured, int port);

/* Blocks SIGTERM and SIGINT in this thread and every thread it starts after this, and ignores
 * SIGPIPE (a client that hangs up must not kill the service). Call before starting any
 * thread. */
void service_boot_block_signals(struct service_boot *b);

/*
 * Builds and drops one Kafka configuration of the role `defaults` (n entries): a bad or
 * forbidden KAFKA_* setting is a configuration error, said before any waiting. Returns 0, or
 * -1 after "<name>: <reason>".
 */
int service_boot_check_kafka(struct service_boot *b, const char *bootstrap,
                             const struct kafka_conf_default *defaults, size_t n)
    __attribute__((warn_unused_result));

/*
 * Over TLS or SASL (security.protocol other than plaintext), connects to Kafka once with the
 * KAFKA_* settings, for at most SERVICE_BOOT_KAFKA_PROBE_MS: refused credentials or a refused
 * TLS handshake end the start with "<name>: Kafka authentication failed for user ... at ...:
 * check ..." (kafka_auth_probe); Kafka down does not (a warning, and the start goes on).
 * Returns 0 or -1 after that line.
 */
#define SERVICE_BOOT_KAFKA_PROBE_MS 10000
int service_boot_probe_kafka(struct service_boot *b, const char *bootstrap)
    __attribute__((warn_unused_result));

/*
 * Waits up to wait_s seconds for PostgreSQL (pg_connect_wait) on the service's connection, so
 * that its own role is known to log in; applies the migrations of `component` and then its
 * function files when `migrate` (migrate_apply, table locks bounded by lock_timeout_ms,
 * retried within wait_s), over b->migrate_conninfo when set, else over that same connection;
 * and closes what it opened. Returns 0, or -1 after one line on stderr (a migration refused for
 * want of privilege names the settings that fix it).
 */
int service_boot_database(struct service_boot *b, long wait_s, bool migrate, const char *component,
                          const struct migration_source *migrations, size_t count,
                          const struct migration_source *functions, size_t nfunctions,
                          long lock_timeout_ms) __attribute__((warn_unused_result));

/*
 * Blocks until SIGTERM or SIGINT (signals blocked by service_boot_block_signals), logs
 * "signal N: shutting down within D ms" and starts the shutdown watchdog (b->guard) with
 * deadline_ms. Main thread.
 */
void service_boot_wait_signal(struct service_boot *b, long deadline_ms);

/*
 * A start-up step failed: prints "<service name>: <reason>" on stderr (the one readable line a
 * failed start promises) and returns -1, for `return service_boot_fail(b, errstr);`.
 */
int service_boot_fail(const struct service_boot *b, const char *reason);

/* Names the shutdown stage now running, for the watchdog's line (no-op before the signal). */
void service_boot_stage(struct service_boot *b, const char *stage);

/*
 * The last step of a stop: frees the settings and the TLS material, stops the watchdog and, when
 * exit_code is 0, logs "stopped cleanly in N ms". Returns exit_code.
 */
int service_boot_finish(struct service_boot *b, int exit_code);

#endif
