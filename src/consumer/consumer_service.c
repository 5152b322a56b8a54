/*
 * consumer_service.c - see consumer_service.h. Builds the modules from the settings and wires
 * them together; no business logic here.
 */
#include "consumer/consumer_service.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "common/http_client.h"
#include "common/http_guard.h"
#include "common/log.h"
#include "common/migrate.h"
#include "consumer/processor.h"
#include "ferry/version.h"

#define CONSUMER_NAME "ferry-consumer"
/* Kept from the shutdown deadline for the stages after the ack sender's drain (deregistering,
 * stopping the HTTP server, freeing). */
#define CONSUMER_SHUTDOWN_RESERVE_MS 3000
/* How long a request waits for a pooled connection. */
#define CONSUMER_POOL_TIMEOUT_MS 3000
#define N_ELEMS(a)               (sizeof(a) / sizeof((a)[0]))

/* Every group's consumer. The FIXED ones are what exactly-once and "nothing committed is lost"
 * rest on (consume_loop.h): offsets are stored only after the inbox commit and then committed by
 * librdkafka, and a group without a committed offset starts from the beginning. */
static const struct kafka_conf_default consumer_defaults[] = {
    {"client.id", "ferry-consumer", KAFKA_CONF_TUNABLE},
    {"auto.offset.reset", "earliest", KAFKA_CONF_FIXED},
    {"enable.auto.offset.store", "false", KAFKA_CONF_FIXED},
    {"enable.auto.commit", "true", KAFKA_CONF_FIXED},
    /* Topics created after we subscribed are found within this period. */
    {"topic.metadata.refresh.interval.ms", "10000", KAFKA_CONF_TUNABLE},
};

int consumer_service_parse_args(struct consumer_service *svc, int argc, char **argv,
                                void (*usage)(FILE *out))
{
	const struct config_setting *table;
	size_t ntable;

	memset(svc, 0, sizeof(*svc));
	table = consumer_config_table(&svc->cfg, &ntable);
	return service_boot_parse_args(&svc->boot, CONSUMER_NAME, argc, argv, usage, table, ntable);
}

/* The TLS files of the requests to the producer (ack sender, registration): checked now, so a
 * missing CA file stops the start instead of failing every acknowledgment later. */
static int consumer_service_configure_client_tls(struct consumer_service *svc)
{
	const struct consumer_config *cfg = &svc->cfg;
	const struct http_client_tls tls = {
	    .ca_file = cfg->producer_ca_file,
	    .cert_file = cfg->producer_cert_file,
	    .key_file = cfg->producer_key_file,
	};
	char errstr[1024], line[1200];

	if (http_client_set_tls(&tls, errstr, sizeof(errstr)) != 0) {
		snprintf(line, sizeof(line), "ProducerService__*File settings: %s", errstr);
		return service_boot_fail(&svc->boot, line);
	}
	return 0;
}

/* Settings, logger, the groups, the database connection string, where to listen, TLS. */
static int consumer_service_configure(struct consumer_service *svc)
{
	struct consumer_config *cfg = &svc->cfg;
	char errstr[1024];

	if (service_boot_configure(&svc->boot, &cfg->log_level, &cfg->log_format) != 0)
		return -1;
	if (consumer_groups_load(cfg, &svc->groups, errstr, sizeof(errstr)) != 0)
		return service_boot_fail(&svc->boot, errstr);
	if (service_boot_conninfo(&svc->boot,
	                          cfg->db_connection ? "ConnectionStrings__ConsumerConnection"
	                                             : "ConnectionStrings__DefaultConnection",
	                          cfg->db_connection ? cfg->db_connection : cfg->db_default) != 0 ||
	    service_boot_migration_conninfo(&svc->boot, cfg->db_migration) != 0)
		return -1;
	if (http_guard_validate(cfg->allowed_hosts, cfg->cors_origins, errstr, sizeof(errstr)) != 0)
		return service_boot_fail(&svc->boot, errstr);
	if (service_boot_listen(&svc->boot, cfg->urls, cfg->http_host, cfg->port) != 0 ||
	    service_boot_tls(&svc->boot, cfg->tls_cert_file, cfg->tls_key_file,
	                     cfg->tls_client_ca_file) != 0)
		return -1;
	return consumer_service_configure_client_tls(svc);
}

/* The HTTP server starts before the loops so that the instance id can name the bound port;
 * the handlers see the loops once they exist (loop_count set by the start). */
static int consumer_service_start_http(struct consumer_service *svc)
{
	struct http_server_options ho = {
	    .host = svc->boot.host,
	    .port = svc->boot.port,
	    .threads = 2,
	    .max_body_bytes = 65536,
	    .max_connections = 64,
	    .idle_timeout_s = 30,
	    .tls = svc->boot.tls,
	    .browser_guard = true,
	    .allowed_hosts = svc->cfg.allowed_hosts,
	    .cors_origins = svc->cfg.cors_origins,
	};
	struct http_route_group groups[2];
	char errstr[1024];

	svc->pool = pg_pool_new(svc->boot.conninfo, "ferry-consumer-api", 4);
	if (svc->pool == NULL || consumer_metrics_init(&svc->metrics) != 0)
		return service_boot_fail(&svc->boot, "out of memory");
	/* A hung server must not hold an HTTP thread (health, /metrics) beyond the bound. */
	pg_pool_set_bound(svc->pool, svc->cfg.db_request_timeout_ms);
	svc->api = (struct api_consumer_context){
	    .pool = svc->pool,
	    .loops = svc->loops,
	    .loop_count = 0, /* set once the loops exist */
	    .service_id = svc->cfg.service_id,
	    .instance_id = svc->boot.instance,
	    .pool_timeout_ms = CONSUMER_POOL_TIMEOUT_MS,
	};
	svc->metrics_api = (struct api_consumer_metrics_context){
	    .metrics = &svc->metrics,
	    .pool = svc->pool,
	    .pool_timeout_ms = CONSUMER_POOL_TIMEOUT_MS,
	    .loops = svc->loops,
	    .loop_count = 0, /* set once the loops exist */
	};
	/* API keys of the consumer's own table (service_auth.h), before anything listens. */
	{
		struct service_auth_options ao = {
		    .enabled = svc->cfg.auth,
		    .bootstrap_key = svc->cfg.bootstrap_api_key,
		    .refresh_ms = svc->cfg.auth_refresh_ms,
		    .conninfo = svc->boot.conninfo,
		    .table = "ferry_consumer.api_key",
		    .app_name = "ferry-consumer-auth",
		    .host = svc->boot.host,
		};

		if (service_auth_start(&ao, &svc->auth, errstr, sizeof(errstr)) != 0)
			return service_boot_fail(&svc->boot, errstr);
	}
	ho.authenticate = svc->auth != NULL ? auth_table_authenticate : NULL;
	ho.auth_opaque = svc->auth;
	groups[0].routes = api_consumer_metrics_routes(&svc->metrics_api, &groups[0].n);
	groups[1].routes = api_consumer_routes(&svc->api, &groups[1].n);
	ho.requests_total = svc->metrics.http_requests;
	svc->http = http_server_start_groups(&ho, groups, N_ELEMS(groups), errstr, sizeof(errstr));
	if (svc->http == NULL)
		return service_boot_fail(&svc->boot, errstr);
	svc->boot.port = http_server_port(svc->http);
	service_boot_instance_id(&svc->boot, svc->cfg.instance_id, svc->boot.port);
	return 0;
}

static int consumer_service_start_acks(struct consumer_service *svc)
{
	struct ack_sender_options ao;
	char errstr[1024];

	ack_sender_options_from_config(&svc->cfg, &ao);
	ao.conninfo = svc->boot.conninfo;
	ao.instance_id = svc->boot.instance;
	svc->acks = ack_sender_new(&ao);
	if (svc->acks == NULL || ack_sender_start(svc->acks, errstr, sizeof(errstr)) != 0)
		return service_boot_fail(&svc->boot, "cannot start the ack sender");
	return 0;
}

static int consumer_service_start_cleanup(struct consumer_service *svc)
{
	struct inbox_cleanup_options co;
	char errstr[1024];

	inbox_cleanup_options_from_config(&svc->cfg, &co);
	co.conninfo = svc->boot.conninfo;
	svc->cleanup = inbox_cleanup_start(&co, errstr, sizeof(errstr));
	if (svc->cleanup == NULL)
		return service_boot_fail(&svc->boot, errstr);
	return 0;
}

/* One consume loop per group, each with its own Kafka consumer and processor; all built
 * before any starts. */
static int consumer_service_start_loops(struct consumer_service *svc)
{
	char errstr[1024], rkerr[512];
	size_t g;

	for (g = 0; g < svc->groups.n; g++) {
		const struct consumer_group_config *group = &svc->groups.v[g];
		struct processor_options po;
		struct consume_loop_options lo;
		rd_kafka_conf_t *conf;

		processor_options_from_config(&svc->cfg, &po);
		consume_loop_options_from_config(&svc->cfg, &lo);
		lo.group = group->name;
		lo.topics = (const char *const *)group->topics;
		lo.topic_count = group->topic_count;
		lo.conninfo = svc->boot.conninfo;
		lo.instance_id = svc->boot.instance;
		lo.ack_sender = svc->acks;
		lo.processor = &po;
		conf = kafka_conf_build(svc->cfg.kafka_bootstrap, consumer_defaults,
		                        N_ELEMS(consumer_defaults), svc->boot.table,
		                        svc->boot.ntable, errstr, sizeof(errstr));
		if (conf == NULL)
			return service_boot_fail(&svc->boot, errstr);
		/* The group is ferry's setting, not a pass-through: it always wins. */
		if (rd_kafka_conf_set(conf, "group.id", group->name, rkerr, sizeof(rkerr)) !=
		    RD_KAFKA_CONF_OK) {
			fprintf(stderr, CONSUMER_NAME ": group %s: %s\n", group->name, rkerr);
			rd_kafka_conf_destroy(conf);
			return -1;
		}
		svc->loops[g] = consume_loop_new(&lo, conf, errstr, sizeof(errstr));
		if (svc->loops[g] == NULL)
			return service_boot_fail(&svc->boot, errstr);
		svc->nloops++;
	}
	for (g = 0; g < svc->nloops; g++) {
		if (consume_loop_start(svc->loops[g], errstr, sizeof(errstr)) != 0)
			return service_boot_fail(&svc->boot, errstr);
	}
	svc->api.loop_count = svc->nloops;
	svc->metrics_api.cleanup = svc->cleanup;
	svc->metrics_api.loop_count = svc->nloops;
	return 0;
}

static int consumer_service_start_agent(struct consumer_service *svc)
{
	struct agent_client_options ao;
	char errstr[1024];

	agent_client_options_from_config(&svc->cfg, &ao);
	ao.instance_id = svc->boot.instance;
	ao.host = svc->boot.host[0] ? svc->boot.host : "0.0.0.0";
	ao.port = svc->boot.port;
	ao.version = FERRY_VERSION;
	ao.groups = &svc->groups;
	ao.loops = svc->loops;
	svc->agent = agent_client_new(&ao);
	if (svc->agent == NULL || agent_client_start(svc->agent, errstr, sizeof(errstr)) != 0)
		return service_boot_fail(&svc->boot, "cannot start registration/heartbeats");
	return 0;
}

int consumer_service_start(struct consumer_service *svc)
{
	const struct consumer_config *cfg = &svc->cfg;

	/* A bad or forbidden KAFKA_* setting is a configuration error: said before waiting for
	 * PostgreSQL. */
	if (consumer_service_configure(svc) != 0 ||
	    service_boot_check_kafka(&svc->boot, cfg->kafka_bootstrap, consumer_defaults,
	                             N_ELEMS(consumer_defaults)) != 0 ||
	    service_boot_probe_kafka(&svc->boot, cfg->kafka_bootstrap) != 0)
		return -1;
	service_boot_block_signals(&svc->boot);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return service_boot_fail(&svc->boot, "libcurl initialisation failed");
	svc->curl_ready = true;
	if (service_boot_database(&svc->boot, cfg->db_startup_wait_s, cfg->migrate, "consumer",
	                          migrations_consumer, migrations_consumer_count,
	                          functions_consumer, functions_consumer_count,
	                          cfg->migrate_lock_timeout_ms) != 0 ||
	    consumer_service_start_http(svc) != 0 || consumer_service_start_acks(svc) != 0 ||
	    consumer_service_start_cleanup(svc) != 0 || consumer_service_start_loops(svc) != 0 ||
	    consumer_service_start_agent(svc) != 0)
		return -1;
	/* One line a supervisor or a test can wait for; the port matters when PORT=0. */
	log_info("main",
	         "ferry-consumer %s listening on %s://%s:%d (service %s, instance %s, %zu "
	         "group(s), processor %s)",
	         FERRY_VERSION, service_boot_scheme(&svc->boot),
	         svc->boot.host[0] ? svc->boot.host : "0.0.0.0", svc->boot.port, cfg->service_id,
	         svc->boot.instance, svc->groups.n, cfg->processor);
	svc->started = true;
	return 0;
}

int consumer_service_stop(struct consumer_service *svc)
{
	struct service_boot *boot = &svc->boot;
	size_t g;

	service_boot_stage(boot, "stopping the consume loops and closing their Kafka consumers");
	for (g = 0; g < svc->nloops; g++)
		consume_loop_request_stop(svc->loops[g]);
	for (g = 0; g < svc->nloops; g++)
		consume_loop_join(svc->loops[g]);
	if (svc->acks) {
		long left;

		service_boot_stage(boot, "sending the pending acknowledgments");
		/* Whatever is left after the deadline's reserve for the later stages. */
		left = ack_sender_stop(
		    svc->acks,
		    svc->started ? shutdown_guard_left_ms(boot->guard, CONSUMER_SHUTDOWN_RESERVE_MS,
		                                          svc->cfg.shutdown_timeout_ms)
		                 : 0);
		if (left > 0)
			log_warn("main", "%ld acknowledgment(s) still pending; sent after restart",
			         left);
	}
	service_boot_stage(boot, "deregistering from the producer");
	agent_client_stop_and_destroy(
	    svc->agent, svc->started ? shutdown_guard_left_ms(
	                                   boot->guard, CONSUMER_SHUTDOWN_RESERVE_MS / 2, 2000)
	                             : 0);
	service_boot_stage(boot, "stopping the HTTP server and freeing");
	http_server_stop(svc->http);
	auth_table_destroy(svc->auth); /* after the server that asks it */
	svc->api.loop_count = 0;
	svc->metrics_api.loop_count = 0;
	for (g = 0; g < svc->nloops; g++)
		consume_loop_destroy(svc->loops[g]);
	ack_sender_destroy(svc->acks);
	inbox_cleanup_stop(svc->cleanup);
	consumer_metrics_destroy(&svc->metrics);
	pg_pool_destroy(svc->pool);
	consumer_groups_free(&svc->groups);
	if (svc->curl_ready)
		curl_global_cleanup();
	return service_boot_finish(boot, svc->started ? 0 : 1);
}
