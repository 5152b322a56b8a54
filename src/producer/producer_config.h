/*
 * producer_config.h - the producer service's settings: one declarative table
 * (producer_config.c) that config_load() reads, --help prints, and docs/configuration.md carries
 * (checked by tests/unit/test_readme_config.c).
 */
#ifndef FERRY_PRODUCER_CONFIG_H
#define FERRY_PRODUCER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "common/pg.h"
#include "producer/store/message_store.h"

struct producer_config {
	char *db_connection;   /* ConnectionStrings__DefaultConnection, as given */
	char *db_migration;    /* ConnectionStrings__MigrationConnection (NULL: db_connection) */
	char *kafka_bootstrap; /* ConnectionStrings__Kafka */
	char *service_id;
	char *instance_id; /* "" = derived from host name and port */
	char *urls;        /* ASPNETCORE_URLS (--urls beats it) */
	long port;         /* PORT, when no URL is given */
	char *http_host;   /* bind address when only a port is given */

	/* HTTPS (service_boot_tls). */
	char *tls_cert_file;      /* FERRY_TLS_CERT_FILE */
	char *tls_key_file;       /* FERRY_TLS_KEY_FILE */
	char *tls_client_ca_file; /* FERRY_TLS_CLIENT_CA_FILE: mutual TLS; "" = off */

	char *allowed_hosts;     /* FERRY_ALLOWED_HOSTS (http_guard.h) */
	char *cors_origins;      /* FERRY_CORS_ORIGINS (http_guard.h) */
	bool auth;               /* FERRY_AUTH: API keys required */
	char *bootstrap_api_key; /* FERRY_BOOTSTRAP_API_KEY, or NULL */
	long auth_refresh_ms;    /* FERRY_AUTH_REFRESH_MS */
	long http_threads;
	long http_max_body_bytes;
	long http_max_connections;
	long http_idle_timeout_s;
	long http_max_connections_per_client;
	long http_request_timeout_s;
	long http_max_json_values;
	long http_max_json_depth;
	long db_statement_timeout_ms; /* request path: pool and batcher connections */
	long db_lock_timeout_ms;
	long db_idle_in_transaction_timeout_ms;
	long db_request_timeout_ms; /* client-side bound on a send's statement */
	long http_kafka_timeout_ms; /* per request's Kafka work */
	long http_delete_budget_ms; /* DELETE /api/messages/failed */
	long db_pool_size;
	long db_startup_wait_s;
	bool migrate;
	long migrate_lock_timeout_ms; /* FERRY_MIGRATE_LOCK_TIMEOUT_MS */
	long batch_max_messages;
	long batch_max_wait_ms;
	bool relay_enabled;
	bool auto_register_topics;
	long topic_partitions;
	long agent_heartbeat_interval_s; /* own beats; expected of consumer agents too */
	long relay_batch_size;
	long relay_inflight_batches;
	long relay_poll_min_ms;
	long relay_poll_idle_ms;
	long relay_max_attempts;
	long shutdown_timeout_ms;
	long shutdown_deadline_ms; /* FERRY_SHUTDOWN_DEADLINE_MS: the bound on a whole shutdown */
	long transaction_bound_ms; /* longest relay / retry-job transaction; stall threshold */
	bool retry_enabled;
	long retry_interval_ms;
	long retry_backoff_base_ms;
	long retry_backoff_max_ms;
	long retry_batch_size;
	bool cleanup_enabled;
	long cleanup_interval_s;
	long message_retention_hours;
	long health_check_retention_hours;
	long cleanup_batch_size;
	char *log_level;
	char *log_format;
};

/* The table, bound to `cfg`. Writes the entry count to *n. */
const struct config_setting *producer_config_table(struct producer_config *cfg, size_t *n);

/* The bounds on the request path's statements (pool and batcher connections), from
 * FERRY_DB_STATEMENT_TIMEOUT_MS, FERRY_DB_LOCK_TIMEOUT_MS and
 * FERRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS. Pure. */
struct pg_session_limits producer_config_db_limits(const struct producer_config *cfg);

/* How the REST API's sends treat the topic registry: AUTO with FERRY_AUTO_REGISTER_TOPICS,
 * else REQUIRE. Pure. */
enum outbox_registry_mode producer_config_registry(const struct producer_config *cfg);

#endif
