/*
 * ferry-producer: wires the producer service together and nothing else.
 *
 * Start-up: settings -> logger -> PostgreSQL reachable -> migrations -> relay -> batcher ->
 * HTTP server -> agent (registers and beats). Shutdown on SIGTERM/SIGINT: at once, stop the
 * retry job's pass in progress (its claim rolled back); then in reverse: deregister the agent,
 * stop accepting requests, let the batcher commit what it holds (answering those requests),
 * stop the HTTP server, then let the relay flush and mark what is in flight
 * (FERRY_SHUTDOWN_TIMEOUT_MS, and never past FERRY_SHUTDOWN_DEADLINE_MS). Exit 0 on a clean
 * stop. A watchdog (shutdown_guard.h) ends the process at the deadline should a stage hang
 * anyway.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/conninfo.h"
#include "common/http_server.h"
#include "common/kafka_admin.h"
#include "common/kafka_conf.h"
#include "common/log.h"
#include "common/service_cli.h"
#include "common/shutdown_guard.h"
#include "common/migrate.h"
#include "common/pg.h"
#include "producer/api_acks.h"
#include "producer/api_agents.h"
#include "producer/api_dashboard.h"
#include "producer/api_messages.h"
#include "producer/api_redrive.h"
#include "producer/api_topics.h"
#include "producer/batcher.h"
#include "producer/cleanup_job.h"
#include "producer/producer_agent.h"
#include "producer/producer_config.h"
#include "producer/producer_metrics.h"
#include "producer/relay.h"
#include "producer/retry_job.h"
#include "producer/scheduler.h"
#include "ferry/version.h"

/* Kept from the shutdown deadline after the relay's flush: purging what Kafka never confirmed,
 * rolling those claims back, destroying the Kafka handles. */
#define PRODUCER_SHUTDOWN_RESERVE_MS 3000
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

static void usage(FILE *out)
{
	fprintf(out, "usage: ferry-producer [--urls http://host:port] [--help] [--config-table] "
	             "[--version]\n\n"
	             "The ferry producer service: REST API, outbox, relay to Kafka.\n"
	             "Settings come from the environment (see --config-table); any other KAFKA_* "
	             "variable is passed to librdkafka\n(KAFKA_SECURITY_PROTOCOL=ssl -> "
	             "security.protocol=ssl).\n");
}

int main(int argc, char **argv)
{
	struct producer_config cfg;
	const struct config_setting *table;
	size_t ntable, nroutes = 0;
	char errstr[1024], conninfo[4096], host[256], instance[256];
	const char *urls_flag = NULL;
	struct pg_pool *pool = NULL;
	struct pg_session_limits db_limits;
	struct relay *relay = NULL;
	struct batcher *batcher = NULL;
	struct producer_agent *agent = NULL;
	struct http_server *http = NULL;
	const struct http_route *routes;
	struct http_route all_routes[64];
	enum outbox_registry_mode registry;
	struct api_context api;
	struct api_topics_context topics_api;
	struct api_agents_context agents_api;
	struct api_redrive_context redrive_api;
	struct api_metrics_context metrics_api;
	struct producer_metrics metrics;
	struct scheduler *scheduler = NULL;
	struct retry_job *retry_job = NULL;
	struct cleanup_job *cleanup_job = NULL;
	int retry_job_index = -1;
	struct kafka_admin *admin = NULL;
	rd_kafka_conf_t *kconf = NULL;
	PGconn *conn = NULL;
	sigset_t sigs;
	int port = 0, sig = 0, rc = 1;
	struct shutdown_guard *guard = NULL;
	int64_t elapsed;

	memset(&cfg, 0, sizeof(cfg));
	memset(&metrics, 0, sizeof(metrics));
	table = producer_config_table(&cfg, &ntable);
	rc = service_cli_parse(argc, argv, "ferry-producer", FERRY_VERSION, usage, table, ntable,
	                       &urls_flag);
	if (rc >= 0)
		return rc;
	rc = 1;

	if (service_cli_configure("ferry-producer", table, ntable, &cfg.log_level,
	                          &cfg.log_format) != 0)
		goto done;
	if (conninfo_translate(cfg.db_connection, conninfo, sizeof(conninfo), errstr,
	                       sizeof(errstr)) != 0) {
		fprintf(stderr, "ferry-producer: ConnectionStrings__DefaultConnection: %s\n",
		        errstr);
		goto done;
	}
	if (service_cli_listen("ferry-producer", urls_flag, cfg.urls, cfg.http_host, cfg.port, host,
	                       sizeof(host), &port) != 0)
		goto done;
	registry = cfg.auto_register_topics ? OUTBOX_REGISTRY_AUTO : OUTBOX_REGISTRY_REQUIRE;
	if (cfg.instance_id[0] == '\0') {
		char hn[200] = "localhost";

		gethostname(hn, sizeof(hn) - 1);
		/* With PORT=0 the kernel picks the port later: the pid tells instances apart. */
		if (port == 0)
			snprintf(instance, sizeof(instance), "%s-pid%d", hn, (int)getpid());
		else
			snprintf(instance, sizeof(instance), "%s-%d", hn, port);
	} else {
		snprintf(instance, sizeof(instance), "%s", cfg.instance_id);
	}

	/* Signals are taken synchronously by this thread; every thread started below inherits
	 * the mask, so none is interrupted. A client that hangs up must not kill us either. */
	service_cli_block_signals(&sigs);

	/* The producers' settings are checked first, before any Kafka client starts: a KAFKA_*
	 * that would change one the guarantees rest on stops the start with one line. */
	{
		const struct {
			bool enabled;
			const struct kafka_conf_default *defaults;
			size_t n;
		} roles[] = {
		    {cfg.relay_enabled, producer_defaults,
		     sizeof(producer_defaults) / sizeof(producer_defaults[0])},
		    {cfg.retry_enabled, retry_defaults,
		     sizeof(retry_defaults) / sizeof(retry_defaults[0])},
		};
		size_t r;

		for (r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
			rd_kafka_conf_t *check;

			if (!roles[r].enabled)
				continue;
			check = kafka_conf_build(cfg.kafka_bootstrap, roles[r].defaults, roles[r].n,
			                         table, ntable, errstr, sizeof(errstr));
			if (check == NULL) {
				fprintf(stderr, "ferry-producer: %s\n", errstr);
				goto done;
			}
			rd_kafka_conf_destroy(check);
		}
	}
	/* Topic registration creates Kafka topics through an admin client of its own, so it
	 * works on instances that run no relay too. Built before PostgreSQL is awaited: a bad
	 * KAFKA_* setting is a configuration error and must stop the start at once. */
	{
		static const struct kafka_conf_default admin_defaults[] = {
		    {"client.id", "ferry-admin", KAFKA_CONF_TUNABLE},
		};
		rd_kafka_conf_t *aconf = kafka_conf_build(cfg.kafka_bootstrap, admin_defaults, 1,
		                                          table, ntable, errstr, sizeof(errstr));

		if (aconf == NULL ||
		    (admin = kafka_admin_new(aconf, errstr, sizeof(errstr))) == NULL) {
			fprintf(stderr, "ferry-producer: Kafka admin client: %s\n", errstr);
			goto done;
		}
	}
	conn = pg_connect_wait(conninfo, "ferry-producer", cfg.db_startup_wait_s, errstr,
	                       sizeof(errstr));
	if (conn == NULL) {
		fprintf(stderr,
		        "ferry-producer: cannot connect to PostgreSQL "
		        "(ConnectionStrings__DefaultConnection): %s\n",
		        errstr);
		goto done;
	}
	if (cfg.migrate) {
		int applied = migrate_apply(conn, "producer", migrations_producer,
		                            migrations_producer_count, functions_producer,
		                            functions_producer_count, cfg.migrate_lock_timeout_ms,
		                            cfg.db_startup_wait_s * 1000, errstr, sizeof(errstr));
		if (applied < 0) {
			fprintf(stderr, "ferry-producer: %s\n", errstr);
			goto done;
		}
	}
	PQfinish(conn);
	conn = NULL;

	if (producer_metrics_init(&metrics) != 0) {
		fprintf(stderr, "ferry-producer: out of memory\n");
		goto done;
	}
	/* The request path's connections (pool, batcher): every statement bounded. */
	db_limits = (struct pg_session_limits){
	    .statement_timeout_ms = cfg.db_statement_timeout_ms,
	    .lock_timeout_ms = cfg.db_lock_timeout_ms,
	    .idle_in_tx_ms = cfg.db_idle_in_transaction_timeout_ms,
	};
	pool = pg_pool_new(conninfo, "ferry-producer-api", (int)cfg.db_pool_size);
	if (pool == NULL) {
		fprintf(stderr, "ferry-producer: out of memory\n");
		goto done;
	}
	pg_pool_set_limits(pool, &db_limits);
	/* And bounded on our side too: a hung server (where statement_timeout never fires) costs
	 * a request FERRY_DB_REQUEST_TIMEOUT_MS per statement, then 503. */
	pg_pool_set_bound(pool, cfg.db_request_timeout_ms);
	if (cfg.relay_enabled) {
		struct relay_options ro = {
		    .conninfo = conninfo,
		    .service_id = cfg.service_id,
		    .instance_id = instance,
		    .batch_size = (size_t)cfg.relay_batch_size,
		    .inflight_batches = (int)cfg.relay_inflight_batches,
		    .poll_min_ms = cfg.relay_poll_min_ms,
		    .poll_idle_ms = cfg.relay_poll_idle_ms,
		    .shutdown_timeout_ms = cfg.shutdown_timeout_ms,
		    .max_attempts = (int)cfg.relay_max_attempts,
		    .txn_bound_ms = cfg.transaction_bound_ms,
		    .published = metrics.published,
		    .commit_to_publish = metrics.commit_to_publish,
		    .batch_sizes = metrics.batch_size,
		};

		kconf = kafka_conf_build(cfg.kafka_bootstrap, producer_defaults,
		                         sizeof(producer_defaults) / sizeof(producer_defaults[0]),
		                         table, ntable, errstr, sizeof(errstr));
		if (kconf == NULL) {
			fprintf(stderr, "ferry-producer: %s\n", errstr);
			goto done;
		}
		relay = relay_new(&ro, kconf, errstr, sizeof(errstr));
		kconf = NULL; /* the relay owns it, also on failure */
		if (relay == NULL) {
			fprintf(stderr, "ferry-producer: Kafka producer: %s\n", errstr);
			goto done;
		}
		if (relay_start(relay, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "ferry-producer: %s\n", errstr);
			goto done;
		}
	}
	{
		struct batcher_options bo = {
		    .conninfo = conninfo,
		    .service_id = cfg.service_id,
		    .instance_id = instance,
		    .max_messages = (size_t)cfg.batch_max_messages,
		    .max_wait_ms = cfg.batch_max_wait_ms,
		    .max_queue = (size_t)cfg.batch_max_messages * 20,
		    .registry = registry,
		    .limits = db_limits,
		    .db_timeout_ms = cfg.db_request_timeout_ms,
		};

		batcher = batcher_new(&bo, relay);
		if (batcher == NULL || batcher_start(batcher, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "ferry-producer: cannot start the batcher\n");
			goto done;
		}
	}

	/* The periodic jobs share one thread (docs/architecture.md, "Threads"). */
	scheduler = scheduler_new();
	if (scheduler == NULL) {
		fprintf(stderr, "ferry-producer: out of memory\n");
		goto done;
	}
	if (cfg.retry_enabled) {
		struct retry_job_options rjo = {
		    .conninfo = conninfo,
		    .service_id = cfg.service_id,
		    .instance_id = instance,
		    .batch_size = (int)cfg.retry_batch_size,
		    .backoff_base_ms = cfg.retry_backoff_base_ms,
		    .backoff_max_ms = cfg.retry_backoff_max_ms,
		    /* The pass's transaction waits for Kafka at most this long (retry_job.h), so it
		     * stays within the bound with room for the claim and the record. */
		    .publish_timeout_ms = cfg.transaction_bound_ms / 2,
		    .txn_bound_ms = cfg.transaction_bound_ms,
		    .retried = metrics.retried,
		    .failed = metrics.failed,
		    .expired = metrics.expired,
		    .publish_errors = metrics.retry_errors,
		};
		rd_kafka_conf_t *rconf =
		    kafka_conf_build(cfg.kafka_bootstrap, retry_defaults,
		                     sizeof(retry_defaults) / sizeof(retry_defaults[0]), table,
		                     ntable, errstr, sizeof(errstr));

		if (rconf == NULL ||
		    (retry_job = retry_job_new(&rjo, rconf, errstr, sizeof(errstr))) == NULL) {
			fprintf(stderr, "ferry-producer: retry job: %s\n", errstr);
			goto done;
		}
		retry_job_index = scheduler_add(scheduler, "retry", cfg.retry_interval_ms,
		                                cfg.retry_interval_ms, retry_job_run, retry_job);
	}
	if (cfg.cleanup_enabled) {
		struct cleanup_job_options cjo = {
		    .conninfo = conninfo,
		    .message_retention_s = (int64_t)cfg.message_retention_hours * 3600,
		    .health_check_retention_s = (int64_t)cfg.health_check_retention_hours * 3600,
		    .batch_size = (int)cfg.cleanup_batch_size,
		    .deleted = metrics.cleanup_deleted,
		};

		cleanup_job = cleanup_job_new(&cjo);
		if (cleanup_job == NULL) {
			fprintf(stderr, "ferry-producer: out of memory\n");
			goto done;
		}
		(void)scheduler_add(scheduler, "cleanup", cfg.cleanup_interval_s * 1000,
		                    cfg.cleanup_interval_s < 60 ? cfg.cleanup_interval_s * 1000
		                                                : 60000,
		                    cleanup_job_run, cleanup_job);
	}
	if (scheduler_start(scheduler, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "ferry-producer: %s\n", errstr);
		goto done;
	}
	api = (struct api_context){
	    .pool = pool,
	    .batcher = batcher,
	    .relay = relay,
	    .service_id = cfg.service_id,
	    .instance_id = instance,
	    .pool_timeout_ms = 5000,
	    .db_timeout_ms = cfg.db_request_timeout_ms,
	    .kafka_timeout_ms = (int)cfg.http_kafka_timeout_ms,
	    .registry = registry,
	    .metrics = &metrics,
	};
	topics_api = (struct api_topics_context){
	    .pool = pool,
	    .admin = admin,
	    .default_partitions = (int)cfg.topic_partitions,
	    .pool_timeout_ms = 5000,
	    .kafka_timeout_ms = (int)cfg.http_kafka_timeout_ms,
	};
	agents_api = (struct api_agents_context){
	    .pool = pool,
	    .pool_timeout_ms = 5000,
	    .heartbeat_interval_s = (int)cfg.agent_heartbeat_interval_s,
	};
	redrive_api = (struct api_redrive_context){
	    .pool = pool,
	    .pool_timeout_ms = 5000,
	    .heartbeat_interval_s = (int)cfg.agent_heartbeat_interval_s,
	    .delete_batch_size = (int)cfg.cleanup_batch_size,
	    .delete_budget_ms = cfg.http_delete_budget_ms,
	    .scheduler = retry_job ? scheduler : NULL,
	    .retry_job = retry_job_index,
	};
	metrics_api = (struct api_metrics_context){
	    .metrics = &metrics,
	    .pool = pool,
	    .pool_timeout_ms = 5000,
	    .relay = relay,
	};
	/* One table: the fixed paths before api_messages' "/api/messages/{id}". */
	{
		const struct http_route *part;
		size_t k, nk;

		part = api_metrics_routes(&metrics_api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		part = api_topics_routes(&topics_api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		part = api_agents_routes(&agents_api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		part = api_acks_routes(&api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		part = api_redrive_routes(&redrive_api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		part = api_messages_routes(&api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		part = api_dashboard_routes(&nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
	}
	routes = all_routes;
	{
		struct http_server_options ho = {
		    .host = host,
		    .port = port,
		    .threads = (int)cfg.http_threads,
		    .max_body_bytes = (size_t)cfg.http_max_body_bytes,
		    .max_connections = (unsigned)cfg.http_max_connections,
		    .idle_timeout_s = (unsigned)cfg.http_idle_timeout_s,
		    .requests_total = metrics.http_requests,
		    .max_json_values = (size_t)cfg.http_max_json_values,
		    .max_json_depth = (unsigned)cfg.http_max_json_depth,
		    .max_connections_per_client = (unsigned)cfg.http_max_connections_per_client,
		    .request_timeout_s = (unsigned)cfg.http_request_timeout_s,
		};

		ho.route_limits = api_route_limits(&ho.n_route_limits);

		http = http_server_start(&ho, routes, nroutes, errstr, sizeof(errstr));
		if (http == NULL) {
			fprintf(stderr, "ferry-producer: %s\n", errstr);
			goto done;
		}
	}
	/* One line a supervisor or a test can wait for; the port matters when PORT=0. */
	log_info("main", "ferry-producer %s listening on http://%s:%d (service %s, instance %s)",
	         FERRY_VERSION, host[0] ? host : "0.0.0.0", http_server_port(http), cfg.service_id,
	         instance);

	{
		struct producer_agent_options ao = {
		    .conninfo = conninfo,
		    .service_id = cfg.service_id,
		    .instance_id = instance,
		    .host = host,
		    .port = http_server_port(http),
		    .version = FERRY_VERSION,
		    .heartbeat_interval_s = (int)cfg.agent_heartbeat_interval_s,
		    .relay = relay,
		};

		agent = producer_agent_new(&ao, errstr, sizeof(errstr));
		if (agent == NULL || producer_agent_start(agent, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "ferry-producer: producer agent: %s\n", errstr);
			goto done;
		}
	}

	/* Registered topics exist on Kafka before anyone needs them. Kafka being down is not fatal
	 * here: the relay waits for it anyway, and registration creates topics too. */
	{
		int created = api_topics_ensure_kafka_topics(&topics_api, errstr, sizeof(errstr));

		if (created < 0)
			log_warn("main", "could not ensure the registered Kafka topics: %s",
			         errstr);
		else if (created > 0)
			log_info("main", "created %d registered topic(s) on Kafka", created);
	}

	if (sigwait(&sigs, &sig) != 0)
		sig = SIGTERM;
	log_info("main", "signal %d: shutting down within %ld ms", sig, cfg.shutdown_deadline_ms);
	guard = shutdown_guard_start("ferry-producer", cfg.shutdown_deadline_ms);
	/* At once: a retry pass waiting for Kafka ends (rolled back) while the stages below run. */
	retry_job_request_stop(retry_job);
	shutdown_guard_stage(guard, "deregistering the producer agent");
	producer_agent_stop(agent); /* deregisters: this instance is going away */
	shutdown_guard_stage(guard, "closing the listener");
	http_server_quiesce(http);
	shutdown_guard_stage(guard, "committing the batched requests");
	batcher_stop(batcher); /* commits and answers what it holds */
	rc = 0;
done:
	producer_agent_destroy(agent); /* before the relay it probes */
	shutdown_guard_stage(guard, "stopping the HTTP server");
	http_server_stop(http);
	shutdown_guard_stage(guard, "waiting for the periodic job in progress");
	retry_job_request_stop(retry_job); /* also when the start failed */
	scheduler_destroy(scheduler);      /* waits for a job pass in progress */
	retry_job_destroy(retry_job);
	cleanup_job_destroy(cleanup_job);
	batcher_destroy(batcher);
	if (relay) {
		shutdown_guard_stage(guard, "flushing the relay's deliveries in flight");
		/* What is left of the deadline, less a reserve for purging and freeing; batches
		 * not confirmed by then are rolled back and stay PENDING. */
		relay_stop_within(relay, shutdown_guard_left_ms(guard, PRODUCER_SHUTDOWN_RESERVE_MS,
		                                                cfg.shutdown_timeout_ms));
	}
	shutdown_guard_stage(guard, "freeing");
	relay_destroy(relay); /* flushes and marks deliveries in flight */
	pg_pool_destroy(pool);
	kafka_admin_destroy(admin);
	if (conn)
		PQfinish(conn);
	if (kconf)
		rd_kafka_conf_destroy(kconf);
	producer_metrics_destroy(&metrics);
	config_free(table, ntable);
	elapsed = shutdown_guard_finish(guard);
	if (rc == 0)
		log_info("main", "stopped cleanly in %lld ms", (long long)elapsed);
	return rc;
}
