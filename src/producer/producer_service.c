/*
 * producer_service.c - see producer_service.h. Builds the modules from the settings and wires
 * them together; no business logic here.
 */
#include "producer/producer_service.h"

#include <string.h>

#include "common/http_guard.h"
#include "common/log.h"
#include "common/migrate.h"
#include "producer/api/api_acks.h"
#include "producer/api/api_dashboard.h"
#include "ferry/version.h"

#define PRODUCER_NAME "ferry-producer"
/* Kept from the shutdown deadline after the relay's flush: purging what Kafka never confirmed,
 * rolling those claims back, destroying the Kafka handles. */
#define PRODUCER_SHUTDOWN_RESERVE_MS 3000
/* How long a request waits for a pooled connection. */
#define PRODUCER_POOL_TIMEOUT_MS 5000
#define N_ELEMS(a)               (sizeof(a) / sizeof((a)[0]))

/* The relay's producer. The FIXED ones are what the relay's guarantees rest on (relay.h): no
 * duplicate and no reordering within a partition across librdkafka's retries. */
static const struct kafka_conf_default producer_defaults[] = {
    {"client.id", "ferry-producer", KAFKA_CONF_TUNABLE},
    {"linger.ms", "2", KAFKA_CONF_TUNABLE},
    /* Never time a message out inside librdkafka: during a broker outage rows
     * wait in order instead of failing and being overtaken (relay.h). */
    {"message.timeout.ms", "0", KAFKA_CONF_FIXED},
    {"enable.idempotence", "true", KAFKA_CONF_FIXED},
    {"acks", "all", KAFKA_CONF_FIXED},
    {"max.in.flight", "5", KAFKA_CONF_AT_MOST},
};

/* The retry job's producer: the same guarantees for redeliveries. */
static const struct kafka_conf_default retry_defaults[] = {
    {"client.id", "ferry-retry", KAFKA_CONF_TUNABLE},
    {"enable.idempotence", "true", KAFKA_CONF_FIXED},
    {"acks", "all", KAFKA_CONF_FIXED},
    {"max.in.flight", "5", KAFKA_CONF_AT_MOST},
};

/* Topic registration's admin client. */
static const struct kafka_conf_default admin_defaults[] = {
    {"client.id", "ferry-admin", KAFKA_CONF_TUNABLE},
};

int producer_service_parse_args(struct producer_service *svc, int argc, char **argv,
                                void (*usage)(FILE *out))
{
	const struct config_setting *table;
	size_t ntable;

	memset(svc, 0, sizeof(*svc));
	svc->retry_job_index = -1;
	table = producer_config_table(&svc->cfg, &ntable);
	return service_boot_parse_args(&svc->boot, PRODUCER_NAME, argc, argv, usage, table, ntable);
}

/* Settings, logger, database connection string, where to listen, the instance id. */
static int producer_service_configure(struct producer_service *svc)
{
	struct producer_config *cfg = &svc->cfg;
	char errstr[512];

	if (service_boot_configure(&svc->boot, &cfg->log_level, &cfg->log_format) != 0 ||
	    service_boot_conninfo(&svc->boot, "ConnectionStrings__DefaultConnection",
	                          cfg->db_connection) != 0 ||
	    service_boot_migration_conninfo(&svc->boot, cfg->db_migration) != 0 ||
	    service_boot_listen(&svc->boot, cfg->urls, cfg->http_host, cfg->port) != 0 ||
	    service_boot_tls(&svc->boot, cfg->tls_cert_file, cfg->tls_key_file,
	                     cfg->tls_client_ca_file) != 0)
		return -1;
	if (http_guard_validate(cfg->allowed_hosts, cfg->cors_origins, errstr, sizeof(errstr)) != 0)
		return service_boot_fail(&svc->boot, errstr);
	service_boot_instance_id(&svc->boot, cfg->instance_id, svc->boot.port);
	return 0;
}

/* The producers' settings are checked before any Kafka client starts: a KAFKA_* that would
 * change one the guarantees rest on stops the start with one line. */
static int producer_service_check_kafka(struct producer_service *svc)
{
	if (svc->cfg.relay_enabled &&
	    service_boot_check_kafka(&svc->boot, svc->cfg.kafka_bootstrap, producer_defaults,
	                             N_ELEMS(producer_defaults)) != 0)
		return -1;
	if (svc->cfg.retry_enabled &&
	    service_boot_check_kafka(&svc->boot, svc->cfg.kafka_bootstrap, retry_defaults,
	                             N_ELEMS(retry_defaults)) != 0)
		return -1;
	return 0;
}

/* Topic registration creates Kafka topics through an admin client of its own, so it works on
 * instances that run no relay too. Built before PostgreSQL is awaited: a bad KAFKA_* setting
 * is a configuration error and must stop the start at once. */
static int producer_service_start_admin(struct producer_service *svc)
{
	char errstr[1024];
	rd_kafka_conf_t *conf =
	    kafka_conf_build(svc->cfg.kafka_bootstrap, admin_defaults, N_ELEMS(admin_defaults),
	                     svc->boot.table, svc->boot.ntable, errstr, sizeof(errstr));

	if (conf == NULL || (svc->admin = kafka_admin_new(conf, errstr, sizeof(errstr))) == NULL) {
		fprintf(stderr, PRODUCER_NAME ": Kafka admin client: %s\n", errstr);
		return -1;
	}
	return 0;
}

/* The metrics, and the request path's connections: every statement bounded. */
static int producer_service_start_pool(struct producer_service *svc)
{
	struct pg_session_limits limits = producer_config_db_limits(&svc->cfg);

	if (producer_metrics_init(&svc->metrics) != 0 ||
	    (svc->pool = pg_pool_new(svc->boot.conninfo, "ferry-producer-api",
	                             (int)svc->cfg.db_pool_size)) == NULL) {
		fprintf(stderr, PRODUCER_NAME ": out of memory\n");
		return -1;
	}
	pg_pool_set_limits(svc->pool, &limits);
	/* And bounded on our side too: a hung server (where statement_timeout never fires) costs
	 * a request FERRY_DB_REQUEST_TIMEOUT_MS per statement, then 503. */
	pg_pool_set_bound(svc->pool, svc->cfg.db_request_timeout_ms);
	return 0;
}

static int producer_service_start_relay(struct producer_service *svc)
{
	struct relay_options ro;
	rd_kafka_conf_t *conf;
	char errstr[1024];

	if (!svc->cfg.relay_enabled)
		return 0;
	relay_options_from_config(&svc->cfg, &ro);
	ro.conninfo = svc->boot.conninfo;
	ro.instance_id = svc->boot.instance;
	ro.published = svc->metrics.published;
	ro.commit_to_publish = svc->metrics.commit_to_publish;
	ro.batch_sizes = svc->metrics.batch_size;
	conf = kafka_conf_build(svc->cfg.kafka_bootstrap, producer_defaults,
	                        N_ELEMS(producer_defaults), svc->boot.table, svc->boot.ntable,
	                        errstr, sizeof(errstr));
	if (conf == NULL) {
		fprintf(stderr, PRODUCER_NAME ": %s\n", errstr);
		return -1;
	}
	svc->relay = relay_new(&ro, conf, errstr, sizeof(errstr)); /* owns conf, also on failure */
	if (svc->relay == NULL) {
		fprintf(stderr, PRODUCER_NAME ": Kafka producer: %s\n", errstr);
		return -1;
	}
	if (relay_start(svc->relay, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, PRODUCER_NAME ": %s\n", errstr);
		return -1;
	}
	return 0;
}

static int producer_service_start_batcher(struct producer_service *svc)
{
	struct batcher_options bo;
	char errstr[1024];

	batcher_options_from_config(&svc->cfg, &bo);
	bo.conninfo = svc->boot.conninfo;
	bo.instance_id = svc->boot.instance;
	svc->batcher = batcher_new(&bo, svc->relay);
	if (svc->batcher == NULL || batcher_start(svc->batcher, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, PRODUCER_NAME ": cannot start the batcher\n");
		return -1;
	}
	return 0;
}

/* The periodic jobs share one thread (docs/architecture.md, "Threads"). */
static int producer_service_start_jobs(struct producer_service *svc)
{
	const struct producer_config *cfg = &svc->cfg;
	char errstr[1024];

	svc->scheduler = scheduler_new();
	if (svc->scheduler == NULL) {
		fprintf(stderr, PRODUCER_NAME ": out of memory\n");
		return -1;
	}
	if (cfg->retry_enabled) {
		struct retry_job_options rjo;
		rd_kafka_conf_t *conf;

		retry_job_options_from_config(cfg, &rjo);
		rjo.conninfo = svc->boot.conninfo;
		rjo.instance_id = svc->boot.instance;
		rjo.retried = svc->metrics.retried;
		rjo.failed = svc->metrics.failed;
		rjo.expired = svc->metrics.expired;
		rjo.publish_errors = svc->metrics.retry_errors;
		conf =
		    kafka_conf_build(cfg->kafka_bootstrap, retry_defaults, N_ELEMS(retry_defaults),
		                     svc->boot.table, svc->boot.ntable, errstr, sizeof(errstr));
		if (conf == NULL ||
		    (svc->retry_job = retry_job_new(&rjo, conf, errstr, sizeof(errstr))) == NULL) {
			fprintf(stderr, PRODUCER_NAME ": retry job: %s\n", errstr);
			return -1;
		}
		svc->retry_job_index =
		    scheduler_add(svc->scheduler, "retry", cfg->retry_interval_ms,
		                  cfg->retry_interval_ms, retry_job_run, svc->retry_job);
	}
	if (cfg->cleanup_enabled) {
		struct cleanup_job_options cjo;

		cleanup_job_options_from_config(cfg, &cjo);
		cjo.conninfo = svc->boot.conninfo;
		cjo.deleted = svc->metrics.cleanup_deleted;
		svc->cleanup_job = cleanup_job_new(&cjo);
		if (svc->cleanup_job == NULL) {
			fprintf(stderr, PRODUCER_NAME ": out of memory\n");
			return -1;
		}
		/* The first run a minute after start, or sooner if the interval is shorter. */
		(void)scheduler_add(svc->scheduler, "cleanup", cfg->cleanup_interval_s * 1000,
		                    cfg->cleanup_interval_s < 60 ? cfg->cleanup_interval_s * 1000
		                                                 : 60000,
		                    cleanup_job_run, svc->cleanup_job);
	}
	if (scheduler_start(svc->scheduler, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, PRODUCER_NAME ": %s\n", errstr);
		return -1;
	}
	return 0;
}

/* The handlers' contexts; they live in svc, which outlives the HTTP server. */
static void producer_service_wire_api(struct producer_service *svc)
{
	const struct producer_config *cfg = &svc->cfg;

	svc->api = (struct api_context){
	    .pool = svc->pool,
	    .batcher = svc->batcher,
	    .relay = svc->relay,
	    .service_id = cfg->service_id,
	    .instance_id = svc->boot.instance,
	    .pool_timeout_ms = PRODUCER_POOL_TIMEOUT_MS,
	    .db_timeout_ms = cfg->db_request_timeout_ms,
	    .kafka_timeout_ms = (int)cfg->http_kafka_timeout_ms,
	    .registry = producer_config_registry(cfg),
	    .metrics = &svc->metrics,
	};
	svc->topics_api = (struct api_topics_context){
	    .registry =
	        {
	            .pool = svc->pool,
	            .admin = svc->admin,
	            .pool_timeout_ms = PRODUCER_POOL_TIMEOUT_MS,
	            .kafka_timeout_ms = (int)cfg->http_kafka_timeout_ms,
	        },
	    .default_partitions = (int)cfg->topic_partitions,
	};
	svc->agents_api = (struct api_agents_context){
	    .pool = svc->pool,
	    .pool_timeout_ms = PRODUCER_POOL_TIMEOUT_MS,
	    .heartbeat_interval_s = (int)cfg->agent_heartbeat_interval_s,
	};
	svc->redrive_api = (struct api_redrive_context){
	    .pool = svc->pool,
	    .pool_timeout_ms = PRODUCER_POOL_TIMEOUT_MS,
	    .heartbeat_interval_s = (int)cfg->agent_heartbeat_interval_s,
	    .delete_batch_size = (int)cfg->cleanup_batch_size,
	    .delete_budget_ms = cfg->http_delete_budget_ms,
	    .scheduler = svc->retry_job ? svc->scheduler : NULL,
	    .retry_job = svc->retry_job_index,
	};
	svc->metrics_api = (struct api_metrics_context){
	    .metrics = &svc->metrics,
	    .pool = svc->pool,
	    .pool_timeout_ms = PRODUCER_POOL_TIMEOUT_MS,
	    .relay = svc->relay,
	};
}

/* API keys (service_auth.h): checked against ferry.api_key unless FERRY_AUTH=off. */
static int producer_service_start_auth(struct producer_service *svc)
{
	const struct producer_config *cfg = &svc->cfg;
	struct service_auth_options ao = {
	    .enabled = cfg->auth,
	    .bootstrap_key = cfg->bootstrap_api_key,
	    .refresh_ms = cfg->auth_refresh_ms,
	    .conninfo = svc->boot.conninfo,
	    .table = "ferry.api_key",
	    .app_name = "ferry-producer-auth",
	    .host = svc->boot.host,
	};
	char errstr[1024];

	if (service_auth_start(&ao, &svc->auth, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, PRODUCER_NAME ": %s\n", errstr);
		return -1;
	}
	return 0;
}

static int producer_service_start_http(struct producer_service *svc)
{
	const struct producer_config *cfg = &svc->cfg;
	struct http_server_options ho = {
	    .host = svc->boot.host,
	    .port = svc->boot.port,
	    .threads = (int)cfg->http_threads,
	    .max_body_bytes = (size_t)cfg->http_max_body_bytes,
	    .max_connections = (unsigned)cfg->http_max_connections,
	    .idle_timeout_s = (unsigned)cfg->http_idle_timeout_s,
	    .requests_total = svc->metrics.http_requests,
	    .max_json_values = (size_t)cfg->http_max_json_values,
	    .max_json_depth = (unsigned)cfg->http_max_json_depth,
	    .max_connections_per_client = (unsigned)cfg->http_max_connections_per_client,
	    .request_timeout_s = (unsigned)cfg->http_request_timeout_s,
	    .tls = svc->boot.tls,
	    .browser_guard = true,
	    .allowed_hosts = cfg->allowed_hosts,
	    .cors_origins = cfg->cors_origins,
	    .authenticate = svc->auth != NULL ? auth_table_authenticate : NULL,
	    .auth_opaque = svc->auth,
	};
	/* Tried in this order: the fixed paths before api_messages' "/api/messages/{id}". */
	struct http_route_group groups[7];
	char errstr[1024];

	producer_service_wire_api(svc);
	groups[0].routes = api_metrics_routes(&svc->metrics_api, &groups[0].n);
	groups[1].routes = api_topics_routes(&svc->topics_api, &groups[1].n);
	groups[2].routes = api_agents_routes(&svc->agents_api, &groups[2].n);
	groups[3].routes = api_acks_routes(&svc->api, &groups[3].n);
	groups[4].routes = api_redrive_routes(&svc->redrive_api, &groups[4].n);
	groups[5].routes = api_messages_routes(&svc->api, &groups[5].n);
	groups[6].routes = api_dashboard_routes(&groups[6].n);
	ho.route_limits = api_limits_table(&ho.n_route_limits);
	svc->http = http_server_start_groups(&ho, groups, N_ELEMS(groups), errstr, sizeof(errstr));
	if (svc->http == NULL) {
		fprintf(stderr, PRODUCER_NAME ": %s\n", errstr);
		return -1;
	}
	/* One line a supervisor or a test can wait for; the port matters when PORT=0. */
	log_info("main", "ferry-producer %s listening on %s://%s:%d (service %s, instance %s)",
	         FERRY_VERSION, service_boot_scheme(&svc->boot),
	         svc->boot.host[0] ? svc->boot.host : "0.0.0.0", http_server_port(svc->http),
	         cfg->service_id, svc->boot.instance);
	return 0;
}

static int producer_service_start_agent(struct producer_service *svc)
{
	struct heartbeat_job_options ao;
	char errstr[1024];

	heartbeat_job_options_from_config(&svc->cfg, &ao);
	ao.conninfo = svc->boot.conninfo;
	ao.instance_id = svc->boot.instance;
	ao.host = svc->boot.host;
	ao.port = http_server_port(svc->http);
	ao.version = FERRY_VERSION;
	ao.relay = svc->relay;
	svc->heartbeat = heartbeat_job_new(&ao, errstr, sizeof(errstr));
	if (svc->heartbeat == NULL ||
	    heartbeat_job_start(svc->heartbeat, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, PRODUCER_NAME ": producer agent: %s\n", errstr);
		return -1;
	}
	return 0;
}

/* Registered topics exist on Kafka before anyone needs them. Kafka being down is not fatal
 * here: the relay waits for it anyway, and registration creates topics too. */
static void producer_service_ensure_topics(struct producer_service *svc)
{
	char errstr[1024];
	int created =
	    topic_registry_ensure_kafka_topics(&svc->topics_api.registry, errstr, sizeof(errstr));

	if (created < 0)
		log_warn("main", "could not ensure the registered Kafka topics: %s", errstr);
	else if (created > 0)
		log_info("main", "created %d registered topic(s) on Kafka", created);
}

int producer_service_start(struct producer_service *svc)
{
	const struct producer_config *cfg = &svc->cfg;

	if (producer_service_configure(svc) != 0)
		return -1;
	/* Signals are taken synchronously by the main thread; every thread started below
	 * inherits the mask, so none is interrupted. */
	service_boot_block_signals(&svc->boot);
	if (producer_service_check_kafka(svc) != 0 ||
	    service_boot_probe_kafka(&svc->boot, cfg->kafka_bootstrap) != 0 ||
	    producer_service_start_admin(svc) != 0 ||
	    service_boot_database(&svc->boot, cfg->db_startup_wait_s, cfg->migrate, "producer",
	                          migrations_producer, migrations_producer_count,
	                          functions_producer, functions_producer_count,
	                          cfg->migrate_lock_timeout_ms) != 0 ||
	    producer_service_start_pool(svc) != 0 || producer_service_start_relay(svc) != 0 ||
	    producer_service_start_batcher(svc) != 0 || producer_service_start_jobs(svc) != 0 ||
	    producer_service_start_auth(svc) != 0 || producer_service_start_http(svc) != 0 ||
	    producer_service_start_agent(svc) != 0)
		return -1;
	producer_service_ensure_topics(svc);
	svc->started = true;
	return 0;
}

int producer_service_stop(struct producer_service *svc)
{
	struct service_boot *boot = &svc->boot;

	/* At once: a retry pass waiting for Kafka ends (rolled back) while the stages below run. */
	retry_job_request_stop(svc->retry_job);
	cleanup_job_request_stop(svc->cleanup_job); /* and a cleanup pass starts no new batch */
	if (svc->started) {
		service_boot_stage(boot, "deregistering the producer agent");
		heartbeat_job_stop(svc->heartbeat); /* deregisters: this instance is going away */
		service_boot_stage(boot, "closing the listener");
		http_server_quiesce(svc->http);
		service_boot_stage(boot, "committing the batched requests");
		batcher_stop(svc->batcher); /* commits and answers what it holds */
	}
	heartbeat_job_destroy(svc->heartbeat); /* before the relay it probes */
	service_boot_stage(boot, "stopping the HTTP server");
	http_server_stop(svc->http);
	auth_table_destroy(svc->auth); /* after the server that asks it */
	service_boot_stage(boot, "waiting for the periodic job in progress");
	scheduler_destroy(svc->scheduler); /* waits for a job pass in progress (stopped above) */
	retry_job_destroy(svc->retry_job);
	cleanup_job_destroy(svc->cleanup_job);
	batcher_destroy(svc->batcher);
	if (svc->relay) {
		service_boot_stage(boot, "flushing the relay's deliveries in flight");
		/* What is left of the deadline, less a reserve for purging and freeing; batches
		 * not confirmed by then are rolled back and stay PENDING. */
		relay_stop_within(svc->relay,
		                  shutdown_guard_left_ms(boot->guard, PRODUCER_SHUTDOWN_RESERVE_MS,
		                                         svc->cfg.shutdown_timeout_ms));
	}
	service_boot_stage(boot, "freeing");
	relay_destroy(svc->relay); /* flushes and marks deliveries in flight */
	pg_pool_destroy(svc->pool);
	kafka_admin_destroy(svc->admin);
	producer_metrics_destroy(&svc->metrics);
	return service_boot_finish(boot, svc->started ? 0 : 1);
}
