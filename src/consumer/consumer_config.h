/*
 * consumer_config.h - the consumer service's settings: one declarative table
 * (consumer_config.c) that config_load() reads, --config-table prints and docs/configuration.md
 * carries, plus the consumer groups this process serves (from KAFKA_CONSUMER_GROUP + KAFKA_TOPICS,
 * or from the seed's JSON file named by FERRY_CONSUMER_CONFIG).
 */
#ifndef FERRY_CONSUMER_CONFIG_H
#define FERRY_CONSUMER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

#define CONSUMER_MAX_GROUPS 32
#define CONSUMER_MAX_TOPICS 64

struct consumer_config {
	char *db_connection;     /* ConnectionStrings__ConsumerConnection, as given (may be NULL) */
	char *db_default;        /* ConnectionStrings__DefaultConnection (the fallback) */
	char *db_migration;      /* ConnectionStrings__MigrationConnection (NULL: the above) */
	char *kafka_bootstrap;   /* ConnectionStrings__Kafka */
	char *service_id;        /* SERVICE_ID */
	char *instance_id;       /* "" = <hostname>-<port> */
	char *group;             /* KAFKA_CONSUMER_GROUP */
	char *topics;            /* KAFKA_TOPICS, comma-separated */
	char *groups_file;       /* FERRY_CONSUMER_CONFIG: JSON file with ConsumerGroups */
	char *producer_url;      /* ProducerService__BaseUrl */
	char *urls;              /* ASPNETCORE_URLS (--urls beats it) */
	long port;               /* PORT, when no URL is given */
	char *http_host;         /* bind address when only a port is given */
	char *allowed_hosts;     /* FERRY_ALLOWED_HOSTS (http_guard.h) */
	char *cors_origins;      /* FERRY_CORS_ORIGINS (http_guard.h) */
	bool auth;               /* FERRY_AUTH: API keys required */
	char *bootstrap_api_key; /* FERRY_BOOTSTRAP_API_KEY, or NULL */
	long auth_refresh_ms;    /* FERRY_AUTH_REFRESH_MS */
	char *producer_api_key;  /* ProducerService__ApiKey, or NULL */
	char *processor;         /* log | webhook | plugin */
	char *webhook_url;       /* FERRY_WEBHOOK_URL */
	char *webhook_headers_file; /* FERRY_WEBHOOK_HEADERS_FILE */
	long webhook_timeout_ms;    /* FERRY_WEBHOOK_TIMEOUT_MS */
	char *plugin_path;          /* FERRY_PROCESSOR_PLUGIN */
	char *processor_config;     /* FERRY_PROCESSOR_CONFIG, passed to the plugin's init */
	long ack_batch_size;        /* acks per POST */
	long ack_flush_ms;          /* ack sender's period */
	long ack_max_body_bytes;    /* largest body of one ack POST */

	/* TLS: this service's own API on https, and the requests to the producer. */
	char *tls_cert_file;      /* FERRY_TLS_CERT_FILE */
	char *tls_key_file;       /* FERRY_TLS_KEY_FILE */
	char *tls_client_ca_file; /* FERRY_TLS_CLIENT_CA_FILE: mutual TLS; "" = off */
	char *producer_ca_file;   /* ProducerService__CaFile; "" = the system's CAs */
	char *producer_cert_file; /* ProducerService__ClientCertFile; "" = none */
	char *producer_key_file;  /* ProducerService__ClientKeyFile */

	long heartbeat_interval_s;
	long poll_timeout_ms;       /* rd_kafka_consumer_poll timeout */
	long db_request_timeout_ms; /* FERRY_DB_REQUEST_TIMEOUT_MS: the API pool's bound */
	long db_startup_wait_s;
	bool migrate;
	long migrate_lock_timeout_ms; /* FERRY_MIGRATE_LOCK_TIMEOUT_MS */
	long shutdown_timeout_ms;
	long shutdown_deadline_ms;  /* FERRY_SHUTDOWN_DEADLINE_MS: the bound on a whole shutdown */
	long inbox_retention_hours; /* processed/failed rows kept this long */
	long inbox_cleanup_interval_s; /* how often the inbox cleanup runs */
	char *log_level;
	char *log_format;
};

/* One consumer group served by this process and its topics. */
struct consumer_group_config {
	char *name;                        /* malloc'd */
	char *topics[CONSUMER_MAX_TOPICS]; /* malloc'd names */
	size_t topic_count;
};

struct consumer_groups {
	struct consumer_group_config v[CONSUMER_MAX_GROUPS];
	size_t n;
};

/* The table, bound to `cfg`. Writes the entry count to *n. */
const struct config_setting *consumer_config_table(struct consumer_config *cfg, size_t *n);

/*
 * Parses the seed's consumer configuration JSON text:
 *   {"ConsumerGroups":[{"GroupName":"g","Topics":["a","b"]}, ...]}
 * (also accepted nested under "KafkaConsumer" or "Kafka", as in an appsettings.json file) into
 * *out, appending. Returns 0, or -1 with one line in errstr (invalid JSON, no groups, a group
 * without name or topics, too many). On failure *out may hold some groups: call
 * consumer_groups_free. Pure; any thread.
 */
int consumer_groups_parse_json(const char *text, struct consumer_groups *out, char *errstr,
                               size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Adds one group named `group` with the comma-separated `topics` (spaces around names are
 * trimmed, empty items skipped). Returns 0, or -1 with errstr naming KAFKA_CONSUMER_GROUP /
 * KAFKA_TOPICS when either is missing or empty.
 */
int consumer_groups_from_env(const char *group, const char *topics, struct consumer_groups *out,
                             char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Fills *out from the loaded settings: FERRY_CONSUMER_CONFIG's file when set (replacing
 * KAFKA_CONSUMER_GROUP/KAFKA_TOPICS), else those two. Returns 0 or -1 with errstr.
 */
int consumer_groups_load(const struct consumer_config *cfg, struct consumer_groups *out,
                         char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* Frees the names; *groups is empty afterwards. */
void consumer_groups_free(struct consumer_groups *groups);

#endif
