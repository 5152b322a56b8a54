/*
 * ctl_cmd_agents.c - `ferryctl agents`: the consumer services registered with the producer
 * (GET /api/agents/consumers) and, where the producer serves it, its own instances
 * (GET /api/agents/producers; a producer without that endpoint answers 404 and the section is
 * left out rather than failing the command).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl_cmd.h"
#include "cli/ctl_stats.h"

/* A list answer as an array: either the array itself or {"agents": [...]}. Borrowed. */
static json_t *ctl_agents_array(json_t *reply)
{
	return json_is_array(reply) ? reply : json_object_get(reply, "agents");
}

static const char *ctl_agents_heartbeat(const json_t *a, char *buf, size_t size)
{
	double t;

	if (ctl_stats_parse_timestamp(json_string_value(json_object_get(a, "lastHeartbeatAt")),
	                              &t) != 0)
		return NULL;
	ctl_table_format_age(ctl_stats_now() - t, buf, size);
	strncat(buf, " ago", size - strlen(buf) - 1);
	return buf;
}

static const char *ctl_agents_address(const json_t *a, char *buf, size_t size)
{
	const char *host = json_string_value(json_object_get(a, "host"));

	if (host == NULL)
		return NULL;
	snprintf(buf, size, "%s:%lld", host, ctl_cmd_int(a, "port"));
	return buf;
}

static void ctl_agents_print_consumers(struct ctl_ctx *ctx, json_t *agents)
{
	static const char *const headers[] = {">ID",       "SERVICE", "INSTANCE", "GROUP",
	                                      "TOPICS",    "ADDRESS", "STATUS",   "HEALTH",
	                                      "HEARTBEAT", NULL};
	struct ctl_table t;
	json_t *a, *topic;
	size_t i, j;

	fprintf(ctx->out, "Consumer agents:\n");
	if (json_array_size(agents) == 0) {
		fprintf(ctx->out, "  none registered\n");
		return;
	}
	ctl_table_init(&t, headers);
	ctl_table_set_max_width(&t, 4, 48);
	json_array_foreach (agents, i, a) {
		struct strbuf topics = STRBUF_INIT;
		char id[32], addr[300], hb[48];
		const char *cells[9];

		json_array_foreach (json_object_get(a, "topics"), j, topic)
			strbuf_printf(&topics, "%s%s", j ? "," : "", json_string_value(topic));
		cells[0] = ctl_cmd_cell(a, "id", id, sizeof(id));
		cells[1] = ctl_cmd_cell(a, "serviceId", NULL, 0);
		cells[2] = ctl_cmd_cell(a, "instanceId", NULL, 0);
		cells[3] = ctl_cmd_cell(a, "consumerGroup", NULL, 0);
		cells[4] = strbuf_str(&topics);
		cells[5] = ctl_agents_address(a, addr, sizeof(addr));
		cells[6] = ctl_cmd_cell(a, "status", NULL, 0);
		cells[7] = ctl_cmd_cell(a, "health", NULL, 0);
		cells[8] = ctl_agents_heartbeat(a, hb, sizeof(hb));
		ctl_table_add_row(&t, cells);
		strbuf_free(&topics);
	}
	ctl_cmd_print_table(ctx, &t);
}

static void ctl_agents_print_producers(struct ctl_ctx *ctx, json_t *agents)
{
	static const char *const headers[] = {"SERVICE", "INSTANCE",  "ADDRESS", "STATUS",
	                                      "HEALTH",  "HEARTBEAT", NULL};
	struct ctl_table t;
	json_t *a;
	size_t i;

	fprintf(ctx->out, "\nProducer agents:\n");
	if (json_array_size(agents) == 0) {
		fprintf(ctx->out, "  none registered\n");
		return;
	}
	ctl_table_init(&t, headers);
	json_array_foreach (agents, i, a) {
		char addr[300], hb[48];
		const char *cells[6] = {ctl_cmd_cell(a, "serviceId", NULL, 0),
		                        ctl_cmd_cell(a, "instanceId", NULL, 0),
		                        ctl_agents_address(a, addr, sizeof(addr)),
		                        ctl_cmd_cell(a, "status", NULL, 0),
		                        ctl_cmd_cell(a, "health", NULL, 0),
		                        ctl_agents_heartbeat(a, hb, sizeof(hb))};

		ctl_table_add_row(&t, cells);
	}
	ctl_cmd_print_table(ctx, &t);
}

static int ctl_agents_run(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	json_t *consumers = NULL, *producers = NULL;
	char errstr[1024];
	long status;
	int rc = CTL_EXIT_OK;

	(void)args;
	if (ctl_cmd_call(ctx, "GET", "/api/agents/consumers", NULL, &consumers) != 0)
		return CTL_EXIT_FAIL;
	status = ctl_http_request(&ctx->http, "GET", "/api/agents/producers", NULL, &producers,
	                          errstr, sizeof(errstr));
	if (status < 0) {
		rc = ctl_cmd_fail(ctx, "%s", errstr);
		goto done;
	}
	if (status == 404) {
		/* This producer predates producer agents. */
		json_decref(producers);
		producers = NULL;
	} else if (status < 200 || status >= 300) {
		const char *e = json_string_value(json_object_get(producers, "error"));

		rc = ctl_cmd_fail(ctx, "GET /api/agents/producers: HTTP %ld%s%s", status,
		                  e ? ": " : "", e ? e : "");
		goto done;
	}
	if (ctx->json) {
		json_t *out = json_pack("{s:O, s:O?}", "consumers", ctl_agents_array(consumers),
		                        "producers", ctl_agents_array(producers));

		ctl_cmd_print_json(ctx, out);
		json_decref(out);
		goto done;
	}
	ctl_agents_print_consumers(ctx, ctl_agents_array(consumers));
	if (producers)
		ctl_agents_print_producers(ctx, ctl_agents_array(producers));
done:
	json_decref(producers);
	json_decref(consumers);
	return rc;
}

static const struct ctl_command ctl_agents_commands[] = {
    {"agents", NULL, "consumer (and producer) service instances with their health", NULL, NULL, 0,
     0, 0, ctl_agents_run},
};
const struct ctl_cmd_module ctl_cmd_agents_module = {ctl_agents_commands,
                                                     CTL_N(ctl_agents_commands)};
