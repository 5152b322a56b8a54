/*
 * producer_config.c - the producer's settings table. Names of the seed (ConnectionStrings__*,
 * SERVICE_ID, INSTANCE_ID, ASPNETCORE_URLS) are kept so its deployments switch unchanged;
 * ferry's own tunables are FERRY_*. Every other KAFKA_* variable goes to librdkafka.
 */
#include "producer/producer_config.h"

#include "common/config_common.h"

const struct config_setting *producer_config_table(struct producer_config *c, size_t *n)
{
	/* Rebuilt on each call because the value pointers depend on `c`. */
	static struct config_setting t[64];
	size_t i = 0;

#define S(...) t[i++] = (struct config_setting){__VA_ARGS__}

	S("ConnectionStrings__DefaultConnection", CONFIG_STRING,
	  "Host=localhost;Port=5432;Database=outbox_db;Username=outbox_user;Password=outbox_password",
	  0, 0, NULL,
	  "PostgreSQL holding the outbox: the seed's Host=...;Port=...;Database=...;Username=...;"
	  "Password=... form, a postgres:// URI, or a libpq keyword string.",
	  &c->db_connection);
	S(CONFIG_ROW_MIGRATION_CONNECTION, &c->db_migration);
	S(CONFIG_ROW_KAFKA_BOOTSTRAP, &c->kafka_bootstrap);
	S("SERVICE_ID", CONFIG_STRING, "producer-service-1", 0, 0, NULL,
	  "Service id stamped on every message this service enqueues.", &c->service_id);
	S(CONFIG_ROW_INSTANCE_ID, &c->instance_id);
	S(CONFIG_ROW_URLS, &c->urls);
	S("PORT", CONFIG_INT, "5301", 0, 65535, NULL,
	  "Listen port when no URL is given (0 picks a free port).", &c->port);
	S(CONFIG_ROW_HTTP_HOST, &c->http_host);
	S(CONFIG_ROW_TLS_CERT_FILE, &c->tls_cert_file);
	S(CONFIG_ROW_TLS_KEY_FILE, &c->tls_key_file);
	S(CONFIG_ROW_TLS_CLIENT_CA_FILE, &c->tls_client_ca_file);
	S(CONFIG_ROW_ALLOWED_HOSTS, &c->allowed_hosts);
	S(CONFIG_ROW_CORS_ORIGINS, &c->cors_origins);
	S(CONFIG_ROW_AUTH, &c->auth);
	S(CONFIG_ROW_BOOTSTRAP_API_KEY, &c->bootstrap_api_key);
	S(CONFIG_ROW_AUTH_REFRESH, &c->auth_refresh_ms);
	S("FERRY_HTTP_THREADS", CONFIG_INT, "8", 1, 256, NULL, "HTTP worker threads.",
	  &c->http_threads);
	S("FERRY_HTTP_MAX_BODY_BYTES", CONFIG_INT, "1048576", 1024, 67108864, NULL,
	  "Largest request body accepted; larger ones get 413.", &c->http_max_body_bytes);
	S("FERRY_HTTP_MAX_CONNECTIONS", CONFIG_INT, "512", 1, 65536, NULL,
	  "Concurrent HTTP connections; more are refused.", &c->http_max_connections);
	S("FERRY_HTTP_IDLE_TIMEOUT_S", CONFIG_INT, "30", 1, 3600, NULL,
	  "Idle HTTP connections are closed after this many seconds.", &c->http_idle_timeout_s);
	S("FERRY_HTTP_MAX_CONNECTIONS_PER_CLIENT", CONFIG_INT, "128", 0, 65536, NULL,
	  "Concurrent HTTP connections one client address may hold; more are closed (0: no "
	  "limit).",
	  &c->http_max_connections_per_client);
	S("FERRY_HTTP_REQUEST_TIMEOUT_S", CONFIG_INT, "30", 0, 3600, NULL,
	  "A request must arrive whole within this many seconds, else its connection is closed "
	  "(0: no deadline).",
	  &c->http_request_timeout_s);
	S("FERRY_HTTP_MAX_JSON_VALUES", CONFIG_INT, "50000", 16, 10000000, NULL,
	  "Request bodies whose JSON holds more values get 413 before being parsed.",
	  &c->http_max_json_values);
	S("FERRY_HTTP_MAX_JSON_DEPTH", CONFIG_INT, "64", 2, 2048, NULL,
	  "Request bodies whose JSON nests deeper get 400 before being parsed.",
	  &c->http_max_json_depth);
	S("FERRY_DB_STATEMENT_TIMEOUT_MS", CONFIG_INT, "10000", 0, 3600000, NULL,
	  "statement_timeout of the request path's connections; past it the request gets 503 "
	  "(0: none).",
	  &c->db_statement_timeout_ms);
	S("FERRY_DB_LOCK_TIMEOUT_MS", CONFIG_INT, "5000", 0, 3600000, NULL,
	  "lock_timeout of the request path's connections; past it the request gets 503 (0: "
	  "none).",
	  &c->db_lock_timeout_ms);
	S("FERRY_DB_REQUEST_TIMEOUT_MS", CONFIG_INT, "15000", 0, 3600000, NULL,
	  "Client-side bound on each statement a request makes (sends, acknowledgments, heartbeats, "
	  "registry, listings, health, /metrics): past it the connection is dropped and the request "
	  "gets 503 'database did not answer within N ms' ('outcome unknown' for a change). Catches "
	  "a hung server, where statement_timeout never fires (0: no bound).",
	  &c->db_request_timeout_ms);
	S("FERRY_HTTP_KAFKA_TIMEOUT_MS", CONFIG_INT, "5000", 100, 60000, NULL,
	  "Bound on the Kafka calls one request makes (topic registration creating its Kafka "
	  "topic; the health check's broker probe waits at most 1 s); past it the request gets 503.",
	  &c->http_kafka_timeout_ms);
	S("FERRY_HTTP_DELETE_BUDGET_MS", CONFIG_INT, "10000", 1, 600000, NULL,
	  "DELETE /api/messages/failed stops starting new batches after this many ms and answers "
	  "with \"complete\": false (call again to go on).",
	  &c->http_delete_budget_ms);
	S("FERRY_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", CONFIG_INT, "60000", 0, 3600000, NULL,
	  "idle_in_transaction_session_timeout of the request path's connections (0: none).",
	  &c->db_idle_in_transaction_timeout_ms);
	S("FERRY_DB_POOL_SIZE", CONFIG_INT, "8", 1, 256, NULL,
	  "PostgreSQL connections shared by the HTTP threads.", &c->db_pool_size);
	S(CONFIG_ROW_DB_STARTUP_WAIT, &c->db_startup_wait_s);
	S(CONFIG_ROW_MIGRATE, &c->migrate);
	S(CONFIG_ROW_MIGRATE_LOCK_TIMEOUT, &c->migrate_lock_timeout_ms);
	S("FERRY_BATCH_MAX_MESSAGES", CONFIG_INT, "500", 1, 10000, NULL,
	  "useBatching: commit when this many requests are waiting.", &c->batch_max_messages);
	S("FERRY_BATCH_MAX_WAIT_MS", CONFIG_INT, "5", 0, 10000, NULL,
	  "useBatching: or this many milliseconds after the first one arrived.",
	  &c->batch_max_wait_ms);
	S("FERRY_AUTO_REGISTER_TOPICS", CONFIG_BOOL, "false", 0, 0, NULL,
	  "Development only: sending to an unregistered topic registers it (with no groups) "
	  "instead of answering 404.",
	  &c->auto_register_topics);
	S("FERRY_TOPIC_PARTITIONS", CONFIG_INT, "6", 1, 1000, NULL,
	  "Partitions of a Kafka topic created by topic registration, unless the request says.",
	  &c->topic_partitions);
	S("FERRY_AGENT_HEARTBEAT_INTERVAL_S", CONFIG_INT, "30", 1, 3600, NULL,
	  "Heartbeat interval of this producer's own agent row and the one expected of consumer "
	  "agents: GET /api/agents/... calls an agent healthy when its last heartbeat is at most 3 "
	  "intervals old, unhealthy at most 6, else inactive.",
	  &c->agent_heartbeat_interval_s);
	S("FERRY_RELAY_ENABLED", CONFIG_BOOL, "true", 0, 0, NULL,
	  "Run the relay in this process (false: API only).", &c->relay_enabled);
	S("FERRY_RELAY_BATCH_SIZE", CONFIG_INT, "500", 1, 100000, NULL,
	  "Rows the relay claims per batch.", &c->relay_batch_size);
	S("FERRY_RELAY_INFLIGHT_BATCHES", CONFIG_INT, "2", 1, 16, NULL,
	  "Batches in flight to Kafka at once (each holds one PostgreSQL connection).",
	  &c->relay_inflight_batches);
	S("FERRY_RELAY_POLL_MIN_MS", CONFIG_INT, "5", 1, 60000, NULL,
	  "Poll interval for rows enqueued by other processes while rows flow.",
	  &c->relay_poll_min_ms);
	S("FERRY_RELAY_POLL_IDLE_MS", CONFIG_INT, "1000", 1, 600000, NULL,
	  "Fallback poll interval when idle: a missed wake-up delays a row at most this long.",
	  &c->relay_poll_idle_ms);
	S("FERRY_RELAY_MAX_ATTEMPTS", CONFIG_INT, "5", 1, 1000, NULL,
	  "A message Kafka refuses (too large, invalid topic, not authorised) is retried with "
	  "backoff (1 s doubling to 5 min) and becomes FAILED after this many attempts; meanwhile "
	  "only later messages with its key wait.",
	  &c->relay_max_attempts);
	S("FERRY_TRANSACTION_BOUND_MS", CONFIG_INT, "30000", 1000, 3600000, NULL,
	  "Longest a relay or retry-job database transaction stays open, whatever Kafka does (rows "
	  "a partition has not confirmed by a third of it wait outside any transaction); a "
	  "partition with rows waiting longer is reported stalled by health and metrics.",
	  &c->transaction_bound_ms);
	S("FERRY_SHUTDOWN_TIMEOUT_MS", CONFIG_INT, "10000", 0, 600000, NULL,
	  "On SIGTERM, how long to wait for deliveries in flight.", &c->shutdown_timeout_ms);
	S(CONFIG_ROW_SHUTDOWN_DEADLINE, &c->shutdown_deadline_ms);
	S("FERRY_RETRY_ENABLED", CONFIG_BOOL, "true", 0, 0, NULL,
	  "Run the retry job (the seed's ProcessRetryMessagesJob) in this process. Any number of "
	  "instances may run it: they never republish the same attempt twice.",
	  &c->retry_enabled);
	S("FERRY_RETRY_INTERVAL_MS", CONFIG_INT, "10000", 10, 3600000, NULL,
	  "How often the retry job looks for deliveries that were negatively acknowledged or not "
	  "acknowledged within their group's timeout.",
	  &c->retry_interval_ms);
	S("FERRY_RETRY_BACKOFF_BASE_MS", CONFIG_INT, "1000", 1, 86400000, NULL,
	  "Backoff after the first retry; it doubles with each retry (with jitter: between half and "
	  "all of it). The next retry never starts before it has passed.",
	  &c->retry_backoff_base_ms);
	S("FERRY_RETRY_BACKOFF_MAX_MS", CONFIG_INT, "300000", 1, 604800000, NULL,
	  "Cap of the backoff: bounds the rate of infinite retry (maxRetries -1).",
	  &c->retry_backoff_max_ms);
	S("FERRY_RETRY_BATCH_SIZE", CONFIG_INT, "500", 1, 100000, NULL,
	  "Deliveries the retry job republishes per transaction.", &c->retry_batch_size);
	S("FERRY_CLEANUP_ENABLED", CONFIG_BOOL, "true", 0, 0, NULL,
	  "Run the cleanup job (the seed's CleanupOldMessagesJob) in this process.",
	  &c->cleanup_enabled);
	S("FERRY_CLEANUP_INTERVAL_S", CONFIG_INT, "86400", 1, 31536000, NULL,
	  "How often the cleanup job runs (first run one minute after start, or sooner if this "
	  "is shorter).",
	  &c->cleanup_interval_s);
	S("FERRY_MESSAGE_RETENTION_HOURS", CONFIG_INT, "168", 1, 876000, NULL,
	  "Finished messages (acknowledged by every group, or for no group) older than this are "
	  "deleted with their acknowledgments and history. FAILED/EXPIRED ones are kept until an "
	  "operator deletes them.",
	  &c->message_retention_hours);
	S("FERRY_HEALTH_CHECK_RETENTION_HOURS", CONFIG_INT, "24", 1, 876000, NULL,
	  "Health-check rows older than this are deleted.", &c->health_check_retention_hours);
	S("FERRY_CLEANUP_BATCH_SIZE", CONFIG_INT, "1000", 1, 100000, NULL,
	  "Rows deleted per transaction by the cleanup job and DELETE /api/messages/failed.",
	  &c->cleanup_batch_size);
	S(CONFIG_ROW_LOG_LEVEL, &c->log_level);
	S(CONFIG_ROW_LOG_FORMAT, &c->log_format);
#undef S
	*n = i;
	return t;
}

struct pg_session_limits producer_config_db_limits(const struct producer_config *cfg)
{
	return (struct pg_session_limits){
	    .statement_timeout_ms = cfg->db_statement_timeout_ms,
	    .lock_timeout_ms = cfg->db_lock_timeout_ms,
	    .idle_in_tx_ms = cfg->db_idle_in_transaction_timeout_ms,
	};
}

enum outbox_registry_mode producer_config_registry(const struct producer_config *cfg)
{
	return cfg->auto_register_topics ? OUTBOX_REGISTRY_AUTO : OUTBOX_REGISTRY_REQUIRE;
}
