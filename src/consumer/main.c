/*
 * ferry-consumer: wires the consumer service together and nothing else.
 *
 * Start-up: settings -> logger -> consumer groups -> PostgreSQL reachable -> migrations -> ack
 * sender -> one consume loop per group -> HTTP server -> registration/heartbeats. Shutdown on
 * SIGTERM/SIGINT, in reverse: stop polling (each loop finishes and commits its record, then
 * closes its Kafka consumer, leaving the group and committing offsets, within 2/5 of
 * FERRY_SHUTDOWN_DEADLINE_MS), send the pending acknowledgments (bounded by
 * FERRY_SHUTDOWN_TIMEOUT_MS and by what is left of the deadline), deregister, stop the HTTP
 * server. Exit 0 on a clean stop. A watchdog (shutdown_guard.h) ends the process at the
 * deadline should a stage hang anyway.
 */
#include <curl/curl.h>
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
#include "common/kafka_conf.h"
#include "common/log.h"
#include "common/service_cli.h"
#include "common/shutdown_guard.h"
#include "common/migrate.h"
#include "common/pg.h"
#include "consumer/ack_sender.h"
#include "consumer/agent_client.h"
#include "consumer/api_consumer.h"
#include "consumer/consume_loop.h"
#include "consumer/consumer_config.h"
#include "consumer/consumer_metrics.h"
#include "consumer/inbox_cleanup.h"
#include "ferry/version.h"

/* Kept from the shutdown deadline for the stages after the ack sender's drain (deregistering,
 * stopping the HTTP server, freeing). */
#define CONSUMER_SHUTDOWN_RESERVE_MS 3000
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

static void usage(FILE *out)
{
	fprintf(out, "usage: ferry-consumer [--urls http://host:port] [--help] [--config-table] "
	             "[--version]\n\n"
	             "The ferry consumer service: Kafka -> inbox + processor -> acknowledgments.\n"
	             "Settings come from the environment (see --config-table); any other KAFKA_* "
	             "variable is passed to librdkafka\n(KAFKA_SECURITY_PROTOCOL=ssl -> "
	             "security.protocol=ssl).\n");
}

int main(int argc, char **argv)
{
	struct consumer_config cfg;
	struct consumer_groups groups;
	const struct config_setting *table;
	size_t ntable, nroutes = 0, g, nloops = 0;
	char errstr[1024], conninfo[4096], host[256], instance[256];
	const char *urls_flag = NULL, *db_var;
	struct consume_loop *loops[CONSUMER_MAX_GROUPS];
	struct ack_sender *acks = NULL;
	struct inbox_cleanup *cleanup = NULL;
	struct agent_client *agent = NULL;
	struct pg_pool *pool = NULL;
	struct http_server *http = NULL;
	const struct http_route *routes;
	struct api_consumer_context api;
	struct api_consumer_metrics_context metrics_api;
	struct consumer_metrics metrics;
	struct http_route all_routes[16];
	PGconn *conn = NULL;
	sigset_t sigs;
	int port = 0, sig = 0, rc = 1;
	bool curl_ready = false;
	struct shutdown_guard *guard = NULL;
	int64_t elapsed;

	memset(&cfg, 0, sizeof(cfg));
	memset(&metrics, 0, sizeof(metrics));
	memset(&groups, 0, sizeof(groups));
	memset(loops, 0, sizeof(loops));
	instance[0] = '\0';
	table = consumer_config_table(&cfg, &ntable);
	rc = service_cli_parse(argc, argv, "ferry-consumer", FERRY_VERSION, usage, table, ntable,
	                       &urls_flag);
	if (rc >= 0)
		return rc;
	rc = 1;

	if (service_cli_configure("ferry-consumer", table, ntable, &cfg.log_level,
	                          &cfg.log_format) != 0)
		goto done;
	if (consumer_groups_load(&cfg, &groups, errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "ferry-consumer: %s\n", errstr);
		goto done;
	}
	db_var = cfg.db_connection ? "ConnectionStrings__ConsumerConnection"
	                           : "ConnectionStrings__DefaultConnection";
	if (conninfo_translate(cfg.db_connection ? cfg.db_connection : cfg.db_default, conninfo,
	                       sizeof(conninfo), errstr, sizeof(errstr)) != 0) {
		fprintf(stderr, "ferry-consumer: %s: %s\n", db_var, errstr);
		goto done;
	}
	if (service_cli_listen("ferry-consumer", urls_flag, cfg.urls, cfg.http_host, cfg.port, host,
	                       sizeof(host), &port) != 0)
		goto done;

	/* A bad or forbidden KAFKA_* setting is a configuration error: say so before waiting for
	 * PostgreSQL. */
	{
		rd_kafka_conf_t *kconf =
		    kafka_conf_build(cfg.kafka_bootstrap, consumer_defaults,
		                     sizeof(consumer_defaults) / sizeof(consumer_defaults[0]),
		                     table, ntable, errstr, sizeof(errstr));

		if (kconf == NULL) {
			fprintf(stderr, "ferry-consumer: %s\n", errstr);
			goto done;
		}
		rd_kafka_conf_destroy(kconf);
	}

	service_cli_block_signals(&sigs);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "ferry-consumer: libcurl initialisation failed\n");
		goto done;
	}
	curl_ready = true;

	conn = pg_connect_wait(conninfo, "ferry-consumer", cfg.db_startup_wait_s, errstr,
	                       sizeof(errstr));
	if (conn == NULL) {
		fprintf(stderr, "ferry-consumer: cannot connect to PostgreSQL (%s): %s\n", db_var,
		        errstr);
		goto done;
	}
	if (cfg.migrate) {
		int applied = migrate_apply(conn, "consumer", migrations_consumer,
		                            migrations_consumer_count, functions_consumer,
		                            functions_consumer_count, cfg.migrate_lock_timeout_ms,
		                            cfg.db_startup_wait_s * 1000, errstr, sizeof(errstr));
		if (applied < 0) {
			fprintf(stderr, "ferry-consumer: %s\n", errstr);
			goto done;
		}
	}
	PQfinish(conn);
	conn = NULL;

	/* The HTTP server starts first so that the instance id can name the bound port. */
	pool = pg_pool_new(conninfo, "ferry-consumer-api", 4);
	if (pool == NULL) {
		fprintf(stderr, "ferry-consumer: out of memory\n");
		goto done;
	}
	/* A hung server must not hold an HTTP thread (health, /metrics) beyond the bound. */
	pg_pool_set_bound(pool, cfg.db_request_timeout_ms);
	api = (struct api_consumer_context){
	    .pool = pool,
	    .loops = loops,
	    .loop_count = 0, /* set once the loops exist */
	    .service_id = cfg.service_id,
	    .instance_id = instance,
	    .pool_timeout_ms = 3000,
	};
	if (consumer_metrics_init(&metrics) != 0) {
		fprintf(stderr, "ferry-consumer: out of memory\n");
		goto done;
	}
	metrics_api = (struct api_consumer_metrics_context){
	    .metrics = &metrics,
	    .pool = pool,
	    .pool_timeout_ms = 3000,
	    .loops = loops,
	    .loop_count = 0, /* set once the loops exist */
	};
	{
		const struct http_route *part;
		size_t k, nk;

		nroutes = 0;
		part = api_consumer_metrics_routes(&metrics_api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		part = api_consumer_routes(&api, &nk);
		for (k = 0; k < nk; k++)
			all_routes[nroutes++] = part[k];
		routes = all_routes;
	}
	{
		struct http_server_options ho = {
		    .host = host,
		    .port = port,
		    .threads = 2,
		    .max_body_bytes = 65536,
		    .max_connections = 64,
		    .idle_timeout_s = 30,
		    .requests_total = metrics.http_requests,
		};

		http = http_server_start(&ho, routes, nroutes, errstr, sizeof(errstr));
		if (http == NULL) {
			fprintf(stderr, "ferry-consumer: %s\n", errstr);
			goto done;
		}
		port = http_server_port(http);
	}
	if (cfg.instance_id[0] == '\0') {
		char hn[200] = "localhost";

		gethostname(hn, sizeof(hn) - 1);
		snprintf(instance, sizeof(instance), "%s-%d", hn, port);
	} else {
		snprintf(instance, sizeof(instance), "%s", cfg.instance_id);
	}

	{
		struct ack_sender_options ao = {
		    .conninfo = conninfo,
		    .producer_url = cfg.producer_url,
		    .service_id = cfg.service_id,
		    .instance_id = instance,
		    .batch_size = (size_t)cfg.ack_batch_size,
		    .flush_ms = cfg.ack_flush_ms,
		    .max_body_bytes = (size_t)cfg.ack_max_body_bytes,
		    .http_timeout_ms = 10000,
		};

		acks = ack_sender_new(&ao);
		if (acks == NULL || ack_sender_start(acks, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "ferry-consumer: cannot start the ack sender\n");
			goto done;
		}
	}
	{
		struct inbox_cleanup_options co = {
		    .conninfo = conninfo,
		    .retention_s = (int64_t)cfg.inbox_retention_hours * 3600,
		    .interval_ms = cfg.inbox_cleanup_interval_s * 1000,
		    .first_delay_ms = cfg.inbox_cleanup_interval_s < 60
		                          ? cfg.inbox_cleanup_interval_s * 1000
		                          : 60000,
		};

		cleanup = inbox_cleanup_start(&co, errstr, sizeof(errstr));
		if (cleanup == NULL) {
			fprintf(stderr, "ferry-consumer: %s\n", errstr);
			goto done;
		}
	}
	for (g = 0; g < groups.n; g++) {
		struct processor_options po = {
		    .kind = cfg.processor,
		    .webhook_url = cfg.webhook_url,
		    .webhook_timeout_ms = cfg.webhook_timeout_ms,
		    .plugin_path = cfg.plugin_path,
		    .config = cfg.processor_config,
		};
		struct consume_loop_options lo = {
		    .group = groups.v[g].name,
		    .topics = (const char *const *)groups.v[g].topics,
		    .topic_count = groups.v[g].topic_count,
		    .conninfo = conninfo,
		    .service_id = cfg.service_id,
		    .instance_id = instance,
		    .poll_timeout_ms = cfg.poll_timeout_ms,
		    .ack_sender = acks,
		    .processor = &po,
		    /* The first stage of a shutdown; the rest needs time too. */
		    .close_timeout_ms = cfg.shutdown_deadline_ms * 2 / 5,
		};
		char rkerr[512];
		rd_kafka_conf_t *kconf =
		    kafka_conf_build(cfg.kafka_bootstrap, consumer_defaults,
		                     sizeof(consumer_defaults) / sizeof(consumer_defaults[0]),
		                     table, ntable, errstr, sizeof(errstr));

		if (kconf == NULL) {
			fprintf(stderr, "ferry-consumer: %s\n", errstr);
			goto done;
		}
		/* The group is ferry's setting, not a pass-through: it always wins. */
		if (rd_kafka_conf_set(kconf, "group.id", groups.v[g].name, rkerr, sizeof(rkerr)) !=
		    RD_KAFKA_CONF_OK) {
			fprintf(stderr, "ferry-consumer: group %s: %s\n", groups.v[g].name, rkerr);
			rd_kafka_conf_destroy(kconf);
			goto done;
		}
		loops[g] = consume_loop_new(&lo, kconf, errstr, sizeof(errstr));
		if (loops[g] == NULL) {
			fprintf(stderr, "ferry-consumer: %s\n", errstr);
			goto done;
		}
		nloops++;
	}
	for (g = 0; g < nloops; g++) {
		if (consume_loop_start(loops[g], errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "ferry-consumer: %s\n", errstr);
			goto done;
		}
	}
	api.loop_count = nloops;
	metrics_api.cleanup = cleanup;
	metrics_api.loop_count = nloops;
	{
		struct agent_client_options ago = {
		    .producer_url = cfg.producer_url,
		    .service_id = cfg.service_id,
		    .instance_id = instance,
		    .host = host[0] ? host : "0.0.0.0",
		    .port = port,
		    .version = FERRY_VERSION,
		    .interval_s = cfg.heartbeat_interval_s,
		    .groups = &groups,
		    .loops = loops,
		};

		agent = agent_client_new(&ago);
		if (agent == NULL || agent_client_start(agent, errstr, sizeof(errstr)) != 0) {
			fprintf(stderr, "ferry-consumer: cannot start registration/heartbeats\n");
			goto done;
		}
	}
	/* One line a supervisor or a test can wait for; the port matters when PORT=0. */
	log_info("main",
	         "ferry-consumer %s listening on http://%s:%d (service %s, instance %s, %zu "
	         "group(s), processor %s)",
	         FERRY_VERSION, host[0] ? host : "0.0.0.0", port, cfg.service_id, instance,
	         groups.n, cfg.processor);

	if (sigwait(&sigs, &sig) != 0)
		sig = SIGTERM;
	log_info("main", "signal %d: shutting down within %ld ms", sig, cfg.shutdown_deadline_ms);
	guard = shutdown_guard_start("ferry-consumer", cfg.shutdown_deadline_ms);
	rc = 0;
done:
	shutdown_guard_stage(guard, "stopping the consume loops and closing their Kafka consumers");
	for (g = 0; g < nloops; g++)
		consume_loop_request_stop(loops[g]);
	for (g = 0; g < nloops; g++)
		consume_loop_join(loops[g]);
	if (acks) {
		long left;

		shutdown_guard_stage(guard, "sending the pending acknowledgments");
		/* Whatever is left after the deadline's reserve for the later stages. */
		left = ack_sender_stop(
		    acks, rc == 0 ? shutdown_guard_left_ms(guard, CONSUMER_SHUTDOWN_RESERVE_MS,
		                                           cfg.shutdown_timeout_ms)
		                  : 0);
		if (left > 0)
			log_warn("main", "%ld acknowledgment(s) still pending; sent after restart",
			         left);
	}
	shutdown_guard_stage(guard, "deregistering from the producer");
	agent_client_stop_and_destroy(
	    agent,
	    rc == 0 ? shutdown_guard_left_ms(guard, CONSUMER_SHUTDOWN_RESERVE_MS / 2, 2000) : 0);
	shutdown_guard_stage(guard, "stopping the HTTP server and freeing");
	http_server_stop(http);
	api.loop_count = 0;
	metrics_api.loop_count = 0;
	for (g = 0; g < nloops; g++)
		consume_loop_destroy(loops[g]);
	ack_sender_destroy(acks);
	inbox_cleanup_stop(cleanup);
	consumer_metrics_destroy(&metrics);
	pg_pool_destroy(pool);
	if (conn)
		PQfinish(conn);
	consumer_groups_free(&groups);
	config_free(table, ntable);
	if (curl_ready)
		curl_global_cleanup();
	elapsed = shutdown_guard_finish(guard);
	if (rc == 0)
		log_info("main", "stopped cleanly in %lld ms", (long long)elapsed);
	return rc;
}
