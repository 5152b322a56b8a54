/*
 * config_common.h - the settings every ferry service has, written once. Each CONFIG_ROW_* is
 * every field of a struct config_setting but the value pointer, so a service's table reads
 *   S(CONFIG_ROW_LOG_LEVEL, &c->log_level);
 * with S(...) expanding to (struct config_setting){__VA_ARGS__}. Same names, defaults and
 * descriptions in every service, hence the same rows in docs/configuration.md's tables.
 */
#ifndef FERRY_CONFIG_COMMON_H
#define FERRY_CONFIG_COMMON_H

#include "common/config.h"

extern const char *const config_log_levels[];  /* debug, info, warn, error */
extern const char *const config_log_formats[]; /* text, json */

#define CONFIG_ROW_KAFKA_BOOTSTRAP                                                                 \
	"ConnectionStrings__Kafka", CONFIG_STRING, "localhost:9092", 0, 0, NULL,                   \
	    "Kafka bootstrap servers, comma-separated host:port."
#define CONFIG_ROW_INSTANCE_ID                                                                     \
	"INSTANCE_ID", CONFIG_STRING, "", 0, 0, NULL, "Instance id; empty means <hostname>-<port>."
#define CONFIG_ROW_URLS                                                                            \
	"ASPNETCORE_URLS", CONFIG_STRING, NULL, 0, 0, NULL,                                        \
	    "Listen URL as in the seed (http://host:port, or https://host:port with "              \
	    "FERRY_TLS_CERT_FILE and FERRY_TLS_KEY_FILE); the --urls flag takes precedence."
#define CONFIG_ROW_TLS_CERT_FILE                                                                   \
	"FERRY_TLS_CERT_FILE", CONFIG_STRING, "", 0, 0, NULL,                                      \
	    "PEM certificate (then any intermediates) served when the listen URL is https://; "    \
	    "read at start, so a new one needs a restart."
#define CONFIG_ROW_TLS_KEY_FILE                                                                    \
	"FERRY_TLS_KEY_FILE", CONFIG_STRING, "", 0, 0, NULL,                                       \
	    "PEM private key (unencrypted) of FERRY_TLS_CERT_FILE; a key that does not match "     \
	    "stops the start."
#define CONFIG_ROW_TLS_CLIENT_CA_FILE                                                              \
	"FERRY_TLS_CLIENT_CA_FILE", CONFIG_STRING, "", 0, 0, NULL,                                 \
	    "Mutual TLS: PEM CA certificate(s); when set, requests without a client certificate "  \
	    "signed by this CA are answered 403. Empty: no client certificates asked for."
#define CONFIG_ROW_HTTP_HOST                                                                       \
	"FERRY_HTTP_HOST", CONFIG_STRING, "127.0.0.1", 0, 0, NULL,                                 \
	    "Bind address when only PORT is given; 0.0.0.0 for all interfaces."
#define CONFIG_ROW_ALLOWED_HOSTS                                                                   \
	"FERRY_ALLOWED_HOSTS", CONFIG_STRING, "", 0, 0, NULL,                                      \
	    "Host names (comma-separated, no port) requests may be addressed to; others get 421 "  \
	    "(DNS rebinding). Empty: the bind address and this machine's host name. localhost "    \
	    "and IP addresses are always allowed; * allows any name."
#define CONFIG_ROW_CORS_ORIGINS                                                                     \
	"FERRY_CORS_ORIGINS", CONFIG_STRING, "", 0, 0, NULL,                                        \
	    "Origins (comma-separated scheme://host[:port]) whose browser pages may call the API; " \
	    "requests from any other foreign Origin get 403. Empty: none."
#define CONFIG_ROW_AUTH                                                                            \
	"FERRY_AUTH", CONFIG_BOOL, "on", 0, 0, NULL,                                               \
	    "on: every route but /health needs an API key (docs/security.md); off: every route "   \
	    "open, for development only (a warning at start-up)."
#define CONFIG_ROW_BOOTSTRAP_API_KEY                                                               \
	"FERRY_BOOTSTRAP_API_KEY", CONFIG_STRING, NULL, 0, 0, NULL,                                \
	    "An API key holding every role, named bootstrap, kept in memory only (hashed at "      \
	    "start): for the first start, before ferryctl keys create; at least 16 characters."
#define CONFIG_ROW_AUTH_REFRESH                                                                    \
	"FERRY_AUTH_REFRESH_MS", CONFIG_INT, "2000", 100, 60000, NULL,                             \
	    "How often the API keys are read again from the database: a revoked key stops "        \
	    "working within this long."
#define CONFIG_ROW_DB_STARTUP_WAIT                                                                 \
	"FERRY_DB_STARTUP_WAIT_S", CONFIG_INT, "60", 0, 3600, NULL,                                \
	    "How long start-up waits for PostgreSQL before giving up."
#define CONFIG_ROW_MIGRATE                                                                         \
	"FERRY_MIGRATE", CONFIG_BOOL, "true", 0, 0, NULL, "Apply the schema migrations at start-up."
#define CONFIG_ROW_MIGRATION_CONNECTION                                                            \
	"ConnectionStrings__MigrationConnection", CONFIG_STRING, NULL, 0, 0, NULL,                 \
	    "PostgreSQL connection the migrations run over, as the schema's owner; the service "   \
	    "itself then uses its own connection, whose role (a member of ferry_service) needs "   \
	    "no DDL rights. Unset: the migrations run over the service's connection. Same forms "  \
	    "as DefaultConnection."
#define CONFIG_ROW_MIGRATE_LOCK_TIMEOUT                                                            \
	"FERRY_MIGRATE_LOCK_TIMEOUT_MS", CONFIG_INT, "1000", 10, 60000, NULL,                      \
	    "A migration waits at most this long for a table lock (another session, say an old "   \
	    "relay's claim, holds the table), then rolls back, pauses and tries again, for up to " \
	    "FERRY_DB_STARTUP_WAIT_S: writers of that table wait behind it at most this long at "  \
	    "a time."
#define CONFIG_ROW_SHUTDOWN_DEADLINE                                                               \
	"FERRY_SHUTDOWN_DEADLINE_MS", CONFIG_INT, "20000", 1000, 600000, NULL,                     \
	    "On SIGTERM the process exits within this bound whatever Kafka and PostgreSQL do "     \
	    "(keep it under the orchestrator's grace period: 30 s on Kubernetes); what was not "   \
	    "flushed stays durable for the next start. Past it a watchdog logs the stage still "   \
	    "running and exits with status 3."
#define CONFIG_ROW_LOG_LEVEL                                                                       \
	"FERRY_LOG_LEVEL", CONFIG_ENUM, "info", 0, 0, config_log_levels,                           \
	    "debug, info, warn or error."
#define CONFIG_ROW_LOG_FORMAT                                                                      \
	"FERRY_LOG_FORMAT", CONFIG_ENUM, "text", 0, 0, config_log_formats,                         \
	    "text, or json for one JSON object per line."

#endif
