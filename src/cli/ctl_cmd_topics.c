/*
 * ctl_cmd_topics.c - `ferryctl topics list|show|register|update|activate|deactivate`: the
 * topic and consumer-group registry (/api/topics...). Groups are named by topic and group name
 * on the command line; the API's numeric group ids are looked up here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl_cmd.h"

/* The options that describe a group, shared by register and update. */
#define CTL_TOPICS_GROUP_OPTS                                                                      \
	{"requires-ack", 0, "BOOL", false,                                                         \
	 "whether the group acknowledges (default true); false: done when sent"},                  \
	    {"ack-timeout", 0, "DURATION", false,                                                  \
	     "acknowledgment timeout, e.g. 30s, 5m (1s..7d; default 5m)"},                         \
	{                                                                                          \
		"max-retries", 0, "N", false,                                                      \
		    "redeliveries before FAILED (-1: forever; default 3)"                          \
	}

static const struct ctl_opt ctl_topics_register_opts[] = {
    {"description", 'd', "TEXT", false, "what the topic carries"},
    {"partitions", 'p', "N", false, "partitions of the Kafka topic (default: the producer's)"},
    {"group", 'g', "GROUP", true, "a consumer group of the topic"},
    CTL_TOPICS_GROUP_OPTS,
};

static const struct ctl_opt ctl_topics_update_opts[] = {
    {"group", 'g', "GROUP", false, "the consumer group to change"},
    {"add-group", 0, "GROUP", false, "add this consumer group to the topic instead"},
    {"rename", 0, "NAME", false, "new name of the group"},
    {"active", 0, "BOOL", false, "activate or deactivate the group"},
    CTL_TOPICS_GROUP_OPTS,
};

static const struct ctl_opt ctl_topics_active_opts[] = {
    {"group", 'g', "GROUP", false, "only this consumer group of the topic"},
};

/* The id of group `group` of topic `name`. Returns 0, or an exit code (reported). */
static int ctl_topics_group_id(struct ctl_ctx *ctx, const char *name, const char *group,
                               int64_t *id)
{
	json_t *topic = NULL, *g;
	size_t i;
	int rc = ctl_cmd_get_topic(ctx, name, &topic);

	if (rc != 0)
		return rc;
	rc = -1;
	json_array_foreach (json_object_get(topic, "consumerGroups"), i, g) {
		const char *n = json_string_value(json_object_get(g, "consumerGroupName"));

		if (n && strcmp(n, group) == 0) {
			*id = ctl_cmd_int(g, "id");
			rc = 0;
			break;
		}
	}
	json_decref(topic);
	if (rc != 0)
		rc = ctl_cmd_fail(ctx, "topic '%s' has no consumer group '%s'", name, group);
	return rc;
}

/* Adds the group options given on the command line to `obj`. Returns 0 or an exit code. */
static int ctl_topics_group_fields(struct ctl_ctx *ctx, const struct ctl_args *args, json_t *obj)
{
	const char *v;
	char errstr[256];
	int64_t n;
	bool b;

	if ((v = ctl_args_get(args, "requires-ack")) != NULL) {
		if (ctl_args_parse_bool(v, "--requires-ack", &b, errstr, sizeof(errstr)) != 0)
			return ctl_cmd_usage_error(ctx, "%s", errstr);
		json_object_set_new(obj, "requiresAcknowledgment", json_boolean(b));
	}
	if ((v = ctl_args_get(args, "ack-timeout")) != NULL) {
		if (ctl_args_parse_duration(v, "--ack-timeout", &n, errstr, sizeof(errstr)) != 0)
			return ctl_cmd_usage_error(ctx, "%s", errstr);
		if (n % 1000 != 0 || n < 1000 || n > 604800000LL)
			return ctl_cmd_usage_error(
			    ctx, "--ack-timeout: whole seconds from 1s to 7d, got '%s'", v);
		json_object_set_new(obj, "acknowledgmentTimeoutSeconds", json_integer(n / 1000));
	}
	if ((v = ctl_args_get(args, "max-retries")) != NULL) {
		if (ctl_args_parse_int(v, "--max-retries", -1, 1000, &n, errstr, sizeof(errstr)) !=
		    0)
			return ctl_cmd_usage_error(ctx, "%s", errstr);
		json_object_set_new(obj, "maxRetries", json_integer(n));
	}
	return 0;
}

static const char *ctl_topics_timeout(const json_t *group, char *buf, size_t size)
{
	json_t *secs = json_object_get(group, "acknowledgmentTimeoutSeconds");

	if (!json_is_integer(secs))
		return NULL;
	return ctl_table_format_age((double)json_integer_value(secs), buf, size);
}

static int ctl_topics_list(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {"TOPIC",  "ACTIVE",      ">PARTITIONS",
	                                      "GROUPS", "DESCRIPTION", NULL};
	json_t *topics = NULL, *t, *g;
	char pbuf[32];
	struct ctl_table table;
	size_t i, j;

	(void)args;
	if (ctl_cmd_call(ctx, "GET", "/api/topics", NULL, &topics) != 0)
		return CTL_EXIT_FAIL;
	if (ctx->json) {
		ctl_cmd_print_json(ctx, topics);
		json_decref(topics);
		return CTL_EXIT_OK;
	}
	ctl_table_init(&table, headers);
	ctl_table_set_max_width(&table, 3, 60);
	ctl_table_set_max_width(&table, 4, 40);
	json_array_foreach (topics, i, t) {
		struct strbuf groups = STRBUF_INIT;
		const char *cells[5];

		json_array_foreach (json_object_get(t, "consumerGroups"), j, g) {
			strbuf_printf(&groups, "%s%s%s", j ? ", " : "",
			              json_string_value(json_object_get(g, "consumerGroupName")),
			              json_is_true(json_object_get(g, "isActive")) ? ""
			                                                           : " (inactive)");
		}
		cells[0] = json_string_value(json_object_get(t, "topicName"));
		cells[1] = ctl_cmd_cell(t, "isActive", NULL, 0);
		cells[2] = ctl_cmd_cell(t, "partitions", pbuf, sizeof(pbuf));
		cells[3] = groups.len ? strbuf_str(&groups) : "(none)";
		cells[4] = ctl_cmd_cell(t, "description", NULL, 0);
		ctl_table_add_row(&table, cells);
		strbuf_free(&groups);
	}
	ctl_cmd_print_table(ctx, &table);
	json_decref(topics);
	return CTL_EXIT_OK;
}

static void ctl_topics_print_groups(struct ctl_ctx *ctx, const json_t *groups)
{
	static const char *const headers[] = {
	    ">ID", "GROUP", "ACTIVE", "REQUIRES ACK", ">ACK TIMEOUT", ">MAX RETRIES", NULL};
	char idbuf[32], tbuf[32], rbuf[32];
	struct ctl_table table;
	json_t *g;
	size_t i;

	ctl_table_init(&table, headers);
	json_array_foreach (groups, i, g) {
		const char *cells[6] = {ctl_cmd_cell(g, "id", idbuf, sizeof(idbuf)),
		                        json_string_value(json_object_get(g, "consumerGroupName")),
		                        ctl_cmd_cell(g, "isActive", NULL, 0),
		                        ctl_cmd_cell(g, "requiresAcknowledgment", NULL, 0),
		                        ctl_topics_timeout(g, tbuf, sizeof(tbuf)),
		                        ctl_cmd_int(g, "maxRetries") < 0
		                            ? "forever"
		                            : ctl_cmd_cell(g, "maxRetries", rbuf, sizeof(rbuf))};

		ctl_table_add_row(&table, cells);
	}
	ctl_cmd_print_table(ctx, &table);
}

static void ctl_topics_print_topic(struct ctl_ctx *ctx, const json_t *t)
{
	char buf[32];
	const char *desc = ctl_cmd_cell(t, "description", NULL, 0);

	fprintf(ctx->out, "topic:       %s\n", json_string_value(json_object_get(t, "topicName")));
	fprintf(ctx->out, "active:      %s\n", ctl_cmd_cell(t, "isActive", NULL, 0));
	fprintf(ctx->out, "partitions:  %s\n", ctl_cmd_cell(t, "partitions", buf, sizeof(buf)));
	fprintf(ctx->out, "description: %s\n", desc ? desc : "-");
	fprintf(ctx->out, "created:     %s\n\n",
	        json_string_value(json_object_get(t, "createdAt")));
	if (json_array_size(json_object_get(t, "consumerGroups")) == 0)
		fprintf(ctx->out,
		        "no consumer groups: messages are published but tracked for none\n");
	else
		ctl_topics_print_groups(ctx, json_object_get(t, "consumerGroups"));
}

static int ctl_topics_show(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	json_t *topic = NULL;
	int rc = ctl_cmd_get_topic(ctx, args->pos[0], &topic);

	if (rc != 0)
		return rc;
	if (ctx->json)
		ctl_cmd_print_json(ctx, topic);
	else
		ctl_topics_print_topic(ctx, topic);
	json_decref(topic);
	return CTL_EXIT_OK;
}

static int ctl_topics_register(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	json_t *body = json_object(), *groups = json_array(), *proto = json_object(), *reply = NULL;
	const char *v;
	char errstr[1024];
	int64_t n;
	size_t i;
	int rc;

	if (body == NULL || groups == NULL || proto == NULL) {
		rc = ctl_cmd_fail(ctx, "out of memory");
		goto done;
	}
	rc = ctl_topics_group_fields(ctx, args, proto);
	if (rc != 0)
		goto done;
	if (ctl_args_count(args, "group") == 0 && json_object_size(proto) > 0) {
		rc = ctl_cmd_usage_error(ctx, "topics register: group options need --group");
		goto done;
	}
	json_object_set_new(body, "topicName", json_string(args->pos[0]));
	if ((v = ctl_args_get(args, "description")) != NULL)
		json_object_set_new(body, "description", json_string(v));
	if ((v = ctl_args_get(args, "partitions")) != NULL) {
		if (ctl_args_parse_int(v, "--partitions", 1, 100000, &n, errstr, sizeof(errstr)) !=
		    0) {
			rc = ctl_cmd_usage_error(ctx, "%s", errstr);
			goto done;
		}
		json_object_set_new(body, "partitions", json_integer(n));
	}
	for (i = 0; i < ctl_args_count(args, "group"); i++) {
		json_t *g = json_deep_copy(proto);

		json_object_set_new(g, "consumerGroupName",
		                    json_string(ctl_args_value(args, "group", i)));
		json_array_append_new(groups, g);
	}
	json_object_set(body, "consumerGroups", groups);
	if ((rc = ctl_cmd_call(ctx, "POST", "/api/topics/register", body, &reply)) != 0)
		goto done;
	if (ctx->json) {
		ctl_cmd_print_json(ctx, reply);
	} else {
		json_t *kt = json_object_get(reply, "kafkaTopic");

		fprintf(ctx->out, "registered topic %s with %zu consumer group(s)%s\n",
		        args->pos[0], json_array_size(json_object_get(reply, "consumerGroups")),
		        json_is_true(json_object_get(kt, "created"))
		            ? "; Kafka topic created"
		            : (json_is_object(kt) ? "; the Kafka topic existed already" : ""));
		if (json_array_size(json_object_get(reply, "consumerGroups")) > 0)
			ctl_topics_print_groups(ctx, json_object_get(reply, "consumerGroups"));
	}
	rc = CTL_EXIT_OK;
done:
	json_decref(reply);
	json_decref(proto);
	json_decref(groups);
	json_decref(body);
	return rc;
}

static int ctl_topics_update(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	const char *topic = args->pos[0], *group = ctl_args_get(args, "group"),
	           *add = ctl_args_get(args, "add-group"), *v;
	json_t *body = json_object(), *reply = NULL;
	char path[1024], errstr[1024];
	int64_t id = 0;
	bool b;
	int rc;

	if (body == NULL)
		return ctl_cmd_fail(ctx, "out of memory");
	if ((group == NULL) == (add == NULL)) {
		rc = ctl_cmd_usage_error(ctx,
		                         "topics update: say which group: --group GROUP to change "
		                         "one, or --add-group GROUP to add one");
		goto done;
	}
	rc = ctl_topics_group_fields(ctx, args, body);
	if (rc != 0)
		goto done;
	if ((v = ctl_args_get(args, "active")) != NULL) {
		if (add) {
			rc = ctl_cmd_usage_error(ctx, "topics update: --active is for --group");
			goto done;
		}
		if (ctl_args_parse_bool(v, "--active", &b, errstr, sizeof(errstr)) != 0) {
			rc = ctl_cmd_usage_error(ctx, "%s", errstr);
			goto done;
		}
		json_object_set_new(body, "isActive", json_boolean(b));
	}
	if ((v = ctl_args_get(args, "rename")) != NULL) {
		if (add) {
			rc = ctl_cmd_usage_error(ctx, "topics update: --rename is for --group");
			goto done;
		}
		json_object_set_new(body, "consumerGroupName", json_string(v));
	}
	if (add) {
		char *esc = ctl_http_escape(topic);

		json_object_set_new(body, "consumerGroupName", json_string(add));
		snprintf(path, sizeof(path), "/api/topics/%s/consumer-groups", esc ? esc : "");
		free(esc);
		if ((rc = ctl_cmd_call(ctx, "POST", path, body, &reply)) != 0)
			goto done;
	} else {
		if (json_object_size(body) == 0) {
			rc = ctl_cmd_usage_error(ctx, "topics update: nothing to change (--rename, "
			                              "--active, --requires-ack, --ack-timeout, "
			                              "--max-retries)");
			goto done;
		}
		rc = ctl_topics_group_id(ctx, topic, group, &id);
		if (rc != 0)
			goto done;
		snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" PRId64, id);
		if ((rc = ctl_cmd_call(ctx, "PUT", path, body, &reply)) != 0)
			goto done;
	}
	if (ctx->json) {
		ctl_cmd_print_json(ctx, reply);
	} else {
		json_t *one = json_array();

		fprintf(ctx->out, "%s consumer group %s of topic %s\n", add ? "added" : "updated",
		        json_string_value(json_object_get(reply, "consumerGroupName")), topic);
		json_array_append(one, reply);
		ctl_topics_print_groups(ctx, one);
		json_decref(one);
	}
	rc = CTL_EXIT_OK;
done:
	json_decref(reply);
	json_decref(body);
	return rc;
}

static int ctl_topics_set_active(struct ctl_ctx *ctx, const struct ctl_args *args, bool active)
{
	const char *topic = args->pos[0], *group = ctl_args_get(args, "group");
	const char *verb = active ? "activate" : "deactivate";
	char path[1024];
	json_t *reply = NULL;
	int64_t id;
	int rc;

	if (group) {
		rc = ctl_topics_group_id(ctx, topic, group, &id);
		if (rc != 0)
			return rc;
		snprintf(path, sizeof(path), "/api/topics/consumer-groups/%" PRId64 "/%s", id,
		         verb);
	} else {
		char *esc = ctl_http_escape(topic);

		if (esc == NULL)
			return ctl_cmd_fail(ctx, "out of memory");
		snprintf(path, sizeof(path), "/api/topics/%s/%s", esc, verb);
		free(esc);
	}
	if (ctl_cmd_call(ctx, "POST", path, NULL, &reply) != 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_cmd_print_json(ctx, reply);
	else if (group)
		fprintf(ctx->out, "consumer group %s of topic %s %sd\n", group, topic, verb);
	else
		fprintf(ctx->out, "topic %s %sd%s\n", topic, verb,
		        active ? "" : ": new messages to it are refused (404)");
	json_decref(reply);
	return CTL_EXIT_OK;
}

static int ctl_topics_activate(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	return ctl_topics_set_active(ctx, args, true);
}

static int ctl_topics_deactivate(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	return ctl_topics_set_active(ctx, args, false);
}

static const struct ctl_command ctl_topics_commands[] = {
    {"topics list", NULL, "registered topics and their consumer groups", NULL, NULL, 0, 0, 0,
     ctl_topics_list},
    {"topics show", "TOPIC", "one topic with its consumer groups' settings", NULL, NULL, 0, 1, 1,
     ctl_topics_show},
    {"topics register", "TOPIC", "register a topic (and create it in Kafka) with its groups",
     "Group options apply to every --group given.\n"
     "Example:\n"
     "  ferryctl topics register payment-events -p 6 -g payment-processor -g audit "
     "--ack-timeout 5m --max-retries 3",
     ctl_topics_register_opts, CTL_N(ctl_topics_register_opts), 1, 1, ctl_topics_register},
    {"topics update", "TOPIC", "change a consumer group of a topic, or add one",
     "Examples:\n"
     "  ferryctl topics update payment-events --group audit --max-retries -1 --ack-timeout 10m\n"
     "  ferryctl topics update payment-events --add-group fraud-check --requires-ack false",
     ctl_topics_update_opts, CTL_N(ctl_topics_update_opts), 1, 1, ctl_topics_update},
    {"topics activate", "TOPIC", "activate a topic, or one of its groups with --group", NULL,
     ctl_topics_active_opts, CTL_N(ctl_topics_active_opts), 1, 1, ctl_topics_activate},
    {"topics deactivate", "TOPIC",
     "deactivate a topic (REST sends refused), or one of its groups with --group", NULL,
     ctl_topics_active_opts, CTL_N(ctl_topics_active_opts), 1, 1, ctl_topics_deactivate},
};
const struct ctl_cmd_module ctl_cmd_topics_module = {ctl_topics_commands,
                                                     CTL_N(ctl_topics_commands)};
