/*
 * consumer_config.c - the consumer's settings table and consumer-group lists. Names of the seed
 * (ConnectionStrings__*, SERVICE_ID, INSTANCE_ID, KAFKA_CONSUMER_GROUP, KAFKA_TOPICS,
 * ProducerService__BaseUrl, ASPNETCORE_URLS) are kept so its deployments switch unchanged;
 * ferry's own tunables are FERRY_*. Every other KAFKA_* variable goes to librdkafka
 * (KAFKA_CONSUMER_GROUP and KAFKA_TOPICS are settings of the table, so they are not passed).
 */
#include "consumer/consumer_config.h"

#include "common/config_common.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const processors[] = {"log", "webhook", "plugin", NULL};

const struct config_setting *consumer_config_table(struct consumer_config *c, size_t *n)
{
	/* Rebuilt on each call because the value pointers depend on `c`. */
	static struct config_setting t[64];
	size_t i = 0;

#define S(...) t[i++] = (struct config_setting){__VA_ARGS__}

	S("ConnectionStrings__ConsumerConnection", CONFIG_STRING, NULL, 0, 0, NULL,
	  "PostgreSQL holding the inbox (schema ferry_consumer); unset means "
	  "ConnectionStrings__DefaultConnection. Seed form, postgres:// URI or libpq keywords.",
	  &c->db_connection);
	S("ConnectionStrings__DefaultConnection", CONFIG_STRING,
	  "Host=localhost;Port=5432;Database=outbox_db;Username=outbox_user;Password=outbox_password",
	  0, 0, NULL, "Fallback PostgreSQL connection when ConsumerConnection is unset.",
	  &c->db_default);
	S(CONFIG_ROW_MIGRATION_CONNECTION, &c->db_migration);
	S(CONFIG_ROW_KAFKA_BOOTSTRAP, &c->kafka_bootstrap);
	S("SERVICE_ID", CONFIG_STRING, "consumer-service-1", 0, 0, NULL,
	  "Service id sent with acknowledgments and registration.", &c->service_id);
	S(CONFIG_ROW_INSTANCE_ID, &c->instance_id);
	S("KAFKA_CONSUMER_GROUP", CONFIG_STRING, NULL, 0, 0, NULL,
	  "Consumer group served (unless FERRY_CONSUMER_CONFIG is set).", &c->group);
	S("KAFKA_TOPICS", CONFIG_STRING, NULL, 0, 0, NULL,
	  "Comma-separated topics of KAFKA_CONSUMER_GROUP.", &c->topics);
	S("FERRY_CONSUMER_CONFIG", CONFIG_STRING, NULL, 0, 0, NULL,
	  "Path of a JSON file {\"ConsumerGroups\":[{\"GroupName\":..,\"Topics\":[..]}]} to serve "
	  "several groups; replaces KAFKA_CONSUMER_GROUP/KAFKA_TOPICS.",
	  &c->groups_file);
	S("ProducerService__BaseUrl", CONFIG_STRING, "http://127.0.0.1:5301", 0, 0, NULL,
	  "Producer service receiving acknowledgments, registration and heartbeats.",
	  &c->producer_url);
	S("ProducerService__CaFile", CONFIG_STRING, "", 0, 0, NULL,
	  "PEM CA certificate(s) trusted for an https ProducerService__BaseUrl; empty: the "
	  "system's CAs. The producer's certificate is always verified.",
	  &c->producer_ca_file);
	S("ProducerService__ClientCertFile", CONFIG_STRING, "", 0, 0, NULL,
	  "Mutual TLS: PEM client certificate presented to the producer (its "
	  "FERRY_TLS_CLIENT_CA_FILE must trust it); empty: none.",
	  &c->producer_cert_file);
	S("ProducerService__ClientKeyFile", CONFIG_STRING, "", 0, 0, NULL,
	  "Mutual TLS: PEM private key of ProducerService__ClientCertFile.", &c->producer_key_file);
	S(CONFIG_ROW_URLS, &c->urls);
	S("PORT", CONFIG_INT, "5401", 0, 65535, NULL,
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
	S("ProducerService__ApiKey", CONFIG_STRING, NULL, 0, 0, NULL,
	  "API key (consumer role) sent as a Bearer token with acknowledgments, registration "
	  "and heartbeats; never logged.",
	  &c->producer_api_key);
	S("FERRY_PROCESSOR", CONFIG_ENUM, "log", 0, 0, processors,
	  "What handles a message: log, webhook (FERRY_WEBHOOK_URL) or plugin "
	  "(FERRY_PROCESSOR_PLUGIN).",
	  &c->processor);
	S("FERRY_WEBHOOK_URL", CONFIG_STRING, NULL, 0, 0, NULL,
	  "webhook processor: URL receiving a JSON POST per message; 2xx means processed. Shown "
	  "as scheme://host[:port] only.",
	  &c->webhook_url);
	S("FERRY_WEBHOOK_HEADERS_FILE", CONFIG_STRING, NULL, 0, 0, NULL,
	  "webhook processor: file of 'Name: value' lines (e.g. Authorization) added to every POST; "
	  "the values are never logged.",
	  &c->webhook_headers_file);
	S("FERRY_WEBHOOK_TIMEOUT_MS", CONFIG_INT, "10000", 1, 600000, NULL,
	  "webhook processor: timeout of one POST.", &c->webhook_timeout_ms);
	S("FERRY_PROCESSOR_PLUGIN", CONFIG_STRING, NULL, 0, 0, NULL,
	  "plugin processor: path of the shared library (see include/ferry/processor.h).",
	  &c->plugin_path);
	S("FERRY_PROCESSOR_CONFIG", CONFIG_STRING, NULL, 0, 0, NULL,
	  "plugin processor: text passed to ferry_processor_init.", &c->processor_config);
	S("FERRY_ACK_BATCH_SIZE", CONFIG_INT, "100", 1, 1000, NULL,
	  "Acknowledgments sent per POST to the producer.", &c->ack_batch_size);
	S("FERRY_ACK_MAX_BODY_BYTES", CONFIG_INT, "262144", 4096, 67108864, NULL,
	  "Largest body of one acknowledgment POST; keep it at or below the producer's "
	  "FERRY_HTTP_MAX_BODY_BYTES. A batch that would be larger goes out in several POSTs.",
	  &c->ack_max_body_bytes);
	S("FERRY_ACK_FLUSH_MS", CONFIG_INT, "50", 1, 60000, NULL,
	  "The ack sender looks for pending acknowledgments at least this often.",
	  &c->ack_flush_ms);
	S("FERRY_HEARTBEAT_INTERVAL_S", CONFIG_INT, "30", 1, 3600, NULL,
	  "Seconds between heartbeats to the producer.", &c->heartbeat_interval_s);
	S("FERRY_POLL_TIMEOUT_MS", CONFIG_INT, "200", 1, 10000, NULL,
	  "Kafka poll timeout (how soon a stop is noticed when no records arrive).",
	  &c->poll_timeout_ms);
	S("FERRY_INBOX_RETENTION_HOURS", CONFIG_INT, "336", 1, 876000, NULL,
	  "Processed and failed inbox rows older than this are deleted. Keep it longer than any "
	  "redelivery can come (the producer keeps unacknowledged messages until acknowledged, "
	  "FAILED or EXPIRED): a processed row that is gone can no longer stop a duplicate.",
	  &c->inbox_retention_hours);
	S("FERRY_INBOX_CLEANUP_INTERVAL_S", CONFIG_INT, "3600", 1, 31536000, NULL,
	  "How often the inbox cleanup runs (first run one minute after start, or sooner if this "
	  "is shorter).",
	  &c->inbox_cleanup_interval_s);
	S("FERRY_DB_REQUEST_TIMEOUT_MS", CONFIG_INT, "5000", 0, 3600000, NULL,
	  "Client-side bound on each statement the HTTP API makes (health, /metrics): past it the "
	  "connection is dropped and the request answers as with the database down (0: no bound).",
	  &c->db_request_timeout_ms);
	S(CONFIG_ROW_DB_STARTUP_WAIT, &c->db_startup_wait_s);
	S(CONFIG_ROW_MIGRATE, &c->migrate);
	S(CONFIG_ROW_MIGRATE_LOCK_TIMEOUT, &c->migrate_lock_timeout_ms);
	S("FERRY_SHUTDOWN_TIMEOUT_MS", CONFIG_INT, "10000", 0, 600000, NULL,
	  "On SIGTERM, how long to keep sending pending acknowledgments.", &c->shutdown_timeout_ms);
	S(CONFIG_ROW_SHUTDOWN_DEADLINE, &c->shutdown_deadline_ms);
	S(CONFIG_ROW_LOG_LEVEL, &c->log_level);
	S(CONFIG_ROW_LOG_FORMAT, &c->log_format);
#undef S
	*n = i;
	return t;
}

static int consumer_groups_add(struct consumer_groups *out, const char *name, char *errstr,
                               size_t errstr_size, struct consumer_group_config **added)
{
	size_t i;

	for (i = 0; i < out->n; i++) {
		if (strcmp(out->v[i].name, name) == 0) {
			snprintf(errstr, errstr_size, "consumer group '%s' is configured twice",
			         name);
			return -1;
		}
	}
	if (out->n == CONSUMER_MAX_GROUPS) {
		snprintf(errstr, errstr_size, "more than %d consumer groups", CONSUMER_MAX_GROUPS);
		return -1;
	}
	*added = &out->v[out->n];
	memset(*added, 0, sizeof(**added));
	(*added)->name = strdup(name);
	if ((*added)->name == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	out->n++;
	return 0;
}

static int consumer_groups_add_topic(struct consumer_group_config *g, const char *topic, size_t len,
                                     char *errstr, size_t errstr_size)
{
	size_t i;

	for (i = 0; i < g->topic_count; i++)
		if (strlen(g->topics[i]) == len && strncmp(g->topics[i], topic, len) == 0)
			return 0; /* listed twice: once is enough */
	if (g->topic_count == CONSUMER_MAX_TOPICS) {
		snprintf(errstr, errstr_size, "consumer group '%s' has more than %d topics",
		         g->name, CONSUMER_MAX_TOPICS);
		return -1;
	}
	g->topics[g->topic_count] = strndup(topic, len);
	if (g->topics[g->topic_count] == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		return -1;
	}
	g->topic_count++;
	return 0;
}

int consumer_groups_from_env(const char *group, const char *topics, struct consumer_groups *out,
                             char *errstr, size_t errstr_size)
{
	struct consumer_group_config *g = NULL;
	const char *p = topics;

	if (group == NULL || group[0] == '\0' || topics == NULL ||
	    strspn(topics, ", \t") == strlen(topics)) {
		snprintf(errstr, errstr_size,
		         "no consumer group configured: set KAFKA_CONSUMER_GROUP and KAFKA_TOPICS "
		         "(comma-separated), or FERRY_CONSUMER_CONFIG (%s is missing)",
		         group == NULL || group[0] == '\0' ? "KAFKA_CONSUMER_GROUP"
		                                           : "KAFKA_TOPICS");
		return -1;
	}
	if (consumer_groups_add(out, group, errstr, errstr_size, &g) != 0)
		return -1;
	while (*p) {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ",");
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0 && consumer_groups_add_topic(g, p, len, errstr, errstr_size) != 0)
			return -1;
		p += strcspn(p, ",");
	}
	return 0;
}

int consumer_groups_parse_json(const char *text, struct consumer_groups *out, char *errstr,
                               size_t errstr_size)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr), *groups, *g, *topics, *t;
	size_t i, j;
	int rc = -1;

	if (root == NULL) {
		snprintf(errstr, errstr_size, "invalid JSON: %s at line %d column %d", jerr.text,
		         jerr.line, jerr.column);
		return -1;
	}
	groups = json_object_get(root, "ConsumerGroups");
	if (groups == NULL)
		groups = json_object_get(json_object_get(root, "KafkaConsumer"), "ConsumerGroups");
	if (groups == NULL)
		groups = json_object_get(json_object_get(root, "Kafka"), "ConsumerGroups");
	if (!json_is_array(groups) || json_array_size(groups) == 0) {
		snprintf(errstr, errstr_size, "expected a non-empty \"ConsumerGroups\" array");
		goto done;
	}
	json_array_foreach (groups, i, g) {
		struct consumer_group_config *cg = NULL;
		const char *name = json_string_value(json_object_get(g, "GroupName"));

		if (name == NULL || name[0] == '\0') {
			snprintf(errstr, errstr_size,
			         "ConsumerGroups[%zu]: \"GroupName\" is required", i);
			goto done;
		}
		topics = json_object_get(g, "Topics");
		if (!json_is_array(topics) || json_array_size(topics) == 0) {
			snprintf(errstr, errstr_size,
			         "ConsumerGroups[%zu] (%s): \"Topics\" must be a non-empty array",
			         i, name);
			goto done;
		}
		if (consumer_groups_add(out, name, errstr, errstr_size, &cg) != 0)
			goto done;
		json_array_foreach (topics, j, t) {
			const char *topic = json_string_value(t);

			if (topic == NULL || topic[0] == '\0') {
				snprintf(
				    errstr, errstr_size,
				    "ConsumerGroups[%zu] (%s): Topics[%zu] is not a topic name", i,
				    name, j);
				goto done;
			}
			if (consumer_groups_add_topic(cg, topic, strlen(topic), errstr,
			                              errstr_size) != 0)
				goto done;
		}
	}
	rc = 0;
done:
	json_decref(root);
	return rc;
}

int consumer_groups_load(const struct consumer_config *cfg, struct consumer_groups *out,
                         char *errstr, size_t errstr_size)
{
	char inner[512];
	FILE *f = NULL;
	char *text = NULL;
	long size;
	int rc = -1;

	if (cfg->groups_file == NULL)
		return consumer_groups_from_env(cfg->group, cfg->topics, out, errstr, errstr_size);
	f = fopen(cfg->groups_file, "rb");
	if (f == NULL) {
		snprintf(errstr, errstr_size, "FERRY_CONSUMER_CONFIG: cannot open %s: %m",
		         cfg->groups_file);
		goto done;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (text = malloc((size_t)size + 1)) == NULL ||
	    fread(text, 1, (size_t)size, f) != (size_t)size) {
		snprintf(errstr, errstr_size, "FERRY_CONSUMER_CONFIG: cannot read %s",
		         cfg->groups_file);
		goto done;
	}
	text[size] = '\0';
	if (consumer_groups_parse_json(text, out, inner, sizeof(inner)) != 0) {
		snprintf(errstr, errstr_size, "FERRY_CONSUMER_CONFIG (%s): %s", cfg->groups_file,
		         inner);
		goto done;
	}
	rc = 0;
done:
	free(text);
	if (f)
		fclose(f);
	return rc;
}

void consumer_groups_free(struct consumer_groups *groups)
{
	size_t i, j;

	for (i = 0; i < groups->n; i++) {
		free(groups->v[i].name);
		for (j = 0; j < groups->v[i].topic_count; j++)
			free(groups->v[i].topics[j]);
	}
	memset(groups, 0, sizeof(*groups));
}
