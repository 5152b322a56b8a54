/*
 * ctl_cmd_groups.c - `ferryctl groups status` (per group and topic: how many messages are
 * pending, sent, acknowledged, failed, expired, and the oldest unacknowledged age) and
 * `ferryctl verify` (the original's acknowledgment verification: did every active group of
 * every registered topic process every message?).
 *
 * verify's rule: a message is missing for a group when the group has not acknowledged it
 * (PENDING, SENT; for a group that does not require acknowledgment, PENDING only) and it was
 * created more than --grace ago, or when its delivery to the group FAILED or EXPIRED. Counts
 * come from /api/messages/stats; only a group with unfinished messages is paged through
 * (/api/messages/consumer-group/{group}) to tell old ones from young ones by createdAt against
 * this machine's clock (the producer's clock is not on offer over REST; keep them in sync or
 * use a grace larger than the skew).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl_cmd.h"
#include "cli/ctl_stats.h"

#define CTL_GROUPS_DEFAULT_GRACE "30s"
#define CTL_GROUPS_PAGE          "1000"

static const struct ctl_opt ctl_groups_status_opts[] = {
    {"topic", 't', "TOPIC", false, "only this topic's groups"},
};

static const struct ctl_opt ctl_groups_verify_opts[] = {
    {"topic", 't', "TOPIC", false, "only this topic's groups"},
    {"grace", 0, "DURATION", false,
     "messages younger than this may still be in flight (default " CTL_GROUPS_DEFAULT_GRACE ")"},
};

/* The stats row of (group, topic), or NULL. */
static json_t *ctl_groups_stats_row(json_t *stats, const char *group, const char *topic)
{
	json_t *row;
	size_t i;

	json_array_foreach (json_object_get(stats, "groups"), i, row) {
		const char *g = json_string_value(json_object_get(row, "consumerGroup"));
		const char *t = json_string_value(json_object_get(row, "topic"));

		if (g && t && strcmp(g, group) == 0 && strcmp(t, topic) == 0)
			return row;
	}
	return NULL;
}

/*
 * The registered consumer groups of `topics` (GET /api/topics's reply), of topic `only` alone
 * when it is not NULL: a new array (the caller decrefs it) of copies of the group objects, each
 * with its topic's name added as "topicName"; every one has a string "consumerGroupName".
 */
static json_t *ctl_groups_registered(const json_t *topics, const char *only)
{
	json_t *out = json_array(), *t, *g;
	size_t i, j;

	json_array_foreach (topics, i, t) {
		const char *topic = json_string_value(json_object_get(t, "topicName"));

		if (topic == NULL || (only && strcmp(topic, only) != 0))
			continue;
		json_array_foreach (json_object_get(t, "consumerGroups"), j, g) {
			json_t *copy;

			if (!json_is_string(json_object_get(g, "consumerGroupName")) ||
			    (copy = json_copy(g)) == NULL)
				continue;
			json_object_set_new(copy, "topicName", json_string(topic));
			json_array_append_new(out, copy);
		}
	}
	return out;
}

/* GET /api/topics and /api/messages/stats. Returns 0, or an exit code (reported). */
static int ctl_groups_fetch(struct ctl_ctx *ctx, json_t **topics, json_t **stats)
{
	int rc;

	*topics = *stats = NULL;
	if ((rc = ctl_cmd_call(ctx, "GET", "/api/topics", NULL, topics)) != 0 ||
	    (rc = ctl_cmd_call(ctx, "GET", "/api/messages/stats", NULL, stats)) != 0) {
		json_decref(*topics);
		*topics = NULL;
	}
	return rc;
}

static int ctl_groups_status(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {
	    "GROUP",   "TOPIC",    ">PENDING",        ">SENT",  ">ACKNOWLEDGED",
	    ">FAILED", ">EXPIRED", ">OLDEST UNACKED", "ACTIVE", NULL};
	static const char *const keys[] = {"PENDING", "SENT", "ACKNOWLEDGED", "FAILED", "EXPIRED"};
	const char *only = ctl_args_get(args, "topic");
	json_t *topics = NULL, *stats = NULL, *rows = json_array(), *registered = NULL, *g, *row;
	struct ctl_table table;
	size_t i, j, k;
	int rc;

	if (rows == NULL)
		return ctl_cmd_fail(ctx, "out of memory");
	rc = ctl_groups_fetch(ctx, &topics, &stats);
	if (rc != 0)
		goto done;
	/* The stats rows (groups with messages), then registered groups that have none yet, so
	 * that a new group shows up with zeros rather than not at all. */
	json_array_foreach (json_object_get(stats, "groups"), i, row) {
		const char *topic = json_string_value(json_object_get(row, "topic"));

		if (only == NULL || (topic && strcmp(topic, only) == 0))
			json_array_append(rows, row);
	}
	registered = ctl_groups_registered(topics, only);
	json_array_foreach (registered, i, g) {
		const char *topic = ctl_cmd_cell(g, "topicName", NULL, 0);
		const char *name = ctl_cmd_cell(g, "consumerGroupName", NULL, 0);

		if (ctl_groups_stats_row(stats, name, topic))
			continue;
		json_array_append_new(rows,
		                      json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i}",
		                                "consumerGroup", name, "topic", topic, "PENDING", 0,
		                                "SENT", 0, "ACKNOWLEDGED", 0, "FAILED", 0,
		                                "EXPIRED", 0, "oldestUnacknowledgedAgeSeconds", 0));
	}
	/* Whether each group is active, from the registry (a group of an unregistered topic has
	 * none: "-"). */
	json_array_foreach (rows, i, row) {
		const char *name = json_string_value(json_object_get(row, "consumerGroup"));
		const char *topic = json_string_value(json_object_get(row, "topic"));

		json_array_foreach (registered, j, g) {
			if (name && topic &&
			    strcmp(name, ctl_cmd_cell(g, "consumerGroupName", NULL, 0)) == 0 &&
			    strcmp(topic, ctl_cmd_cell(g, "topicName", NULL, 0)) == 0)
				json_object_set(row, "isActive", json_object_get(g, "isActive"));
		}
	}
	if (ctx->json) {
		json_t *out = json_pack("{s:O}", "groups", rows);

		ctl_cmd_print_json(ctx, out);
		json_decref(out);
		goto done;
	}
	ctl_table_init(&table, headers);
	json_array_foreach (rows, i, row) {
		char nums[5][32], age[32];
		const char *cells[9];

		cells[0] = ctl_cmd_cell(row, "consumerGroup", NULL, 0);
		cells[1] = ctl_cmd_cell(row, "topic", NULL, 0);
		for (k = 0; k < 5; k++)
			cells[2 + k] = ctl_cmd_cell(row, keys[k], nums[k], sizeof(nums[k]));
		cells[7] = ctl_cmd_int(row, "SENT") > 0
		               ? ctl_table_format_age(json_number_value(json_object_get(
		                                          row, "oldestUnacknowledgedAgeSeconds")),
		                                      age, sizeof(age))
		               : NULL;
		cells[8] = ctl_cmd_cell(row, "isActive", NULL, 0);
		ctl_table_add_row(&table, cells);
	}
	if (table.n_rows == 0)
		fprintf(ctx->out, "no consumer groups%s%s\n", only ? " for topic " : "",
		        only ? only : "");
	else
		ctl_cmd_print_table(ctx, &table);
	ctl_table_free(&table);
done:
	json_decref(registered);
	json_decref(rows);
	json_decref(stats);
	json_decref(topics);
	return rc;
}

/*
 * Counts the messages of `topic` that `group` has in `status` (PENDING or SENT) created before
 * `cutoff` (epoch seconds), paging through the group's messages. Returns 0, or an exit code.
 */
static int ctl_groups_count_old(struct ctl_ctx *ctx, const char *group, const char *topic,
                                const char *status, double cutoff, int64_t *count)
{
	char after[32] = "0", *esc = ctl_http_escape(group);
	struct strbuf path = STRBUF_INIT;
	json_t *page = NULL, *m, *next;
	size_t i;
	int rc = 0;

	if (esc == NULL)
		return ctl_cmd_fail(ctx, "out of memory");
	for (;;) {
		double created;

		strbuf_reset(&path);
		strbuf_printf(&path, "/api/messages/consumer-group/%s", esc);
		ctl_http_query_add(&path, "status", status);
		ctl_http_query_add(&path, "limit", CTL_GROUPS_PAGE);
		ctl_http_query_add(&path, "afterId", after);
		json_decref(page);
		page = NULL;
		if ((rc = ctl_cmd_call(ctx, "GET", strbuf_str(&path), NULL, &page)) != 0)
			break;
		json_array_foreach (json_object_get(page, "items"), i, m) {
			const char *t = json_string_value(json_object_get(m, "topic"));

			if (t && strcmp(t, topic) == 0 &&
			    ctl_stats_parse_timestamp(
			        json_string_value(json_object_get(m, "createdAt")), &created) ==
			        0 &&
			    created < cutoff)
				(*count)++;
		}
		next = json_object_get(page, "nextAfterId");
		if (!json_is_integer(next))
			break;
		snprintf(after, sizeof(after), "%" JSON_INTEGER_FORMAT, json_integer_value(next));
	}
	json_decref(page);
	strbuf_free(&path);
	free(esc);
	return rc;
}

static int ctl_groups_verify(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {"TOPIC",   "GROUP",    ">PROCESSED", ">IN FLIGHT",
	                                      ">FAILED", ">MISSING", "RESULT",     NULL};
	const char *only = ctl_args_get(args, "topic"), *grace_text = ctl_args_get(args, "grace");
	json_t *topics = NULL, *stats = NULL, *results = json_array(), *registered = NULL, *g;
	struct ctl_table table;
	char errstr[256];
	int64_t grace_ms, groups_missing = 0, groups_checked = 0;
	double cutoff;
	size_t i;
	int rc;

	if (results == NULL)
		return ctl_cmd_fail(ctx, "out of memory");
	if (grace_text == NULL)
		grace_text = CTL_GROUPS_DEFAULT_GRACE;
	if (ctl_args_parse_duration(grace_text, "--grace", &grace_ms, errstr, sizeof(errstr)) !=
	    0) {
		rc = ctl_cmd_usage_error(ctx, "%s", errstr);
		goto done;
	}
	cutoff = ctl_stats_now() - (double)grace_ms / 1000.0;
	rc = ctl_groups_fetch(ctx, &topics, &stats);
	if (rc != 0)
		goto done;
	registered = ctl_groups_registered(topics, only);
	json_array_foreach (registered, i, g) {
		const char *topic = ctl_cmd_cell(g, "topicName", NULL, 0);
		const char *name = ctl_cmd_cell(g, "consumerGroupName", NULL, 0);
		bool acks = json_is_true(json_object_get(g, "requiresAcknowledgment"));
		json_t *row;
		int64_t pending, sent, processed, failed, in_flight, missing = 0;

		if (!json_is_true(json_object_get(g, "isActive")))
			continue;
		row = ctl_groups_stats_row(stats, name, topic);
		pending = ctl_cmd_int(row, "PENDING");
		sent = ctl_cmd_int(row, "SENT");
		/* Without acknowledgments a group is done once its message is on Kafka. */
		processed = ctl_cmd_int(row, "ACKNOWLEDGED") + (acks ? 0 : sent);
		in_flight = pending + (acks ? sent : 0);
		failed = ctl_cmd_int(row, "FAILED") + ctl_cmd_int(row, "EXPIRED");
		if (pending > 0)
			rc = ctl_groups_count_old(ctx, name, topic, "PENDING", cutoff, &missing);
		if (rc == 0 && acks && sent > 0)
			rc = ctl_groups_count_old(ctx, name, topic, "SENT", cutoff, &missing);
		if (rc != 0)
			goto done;
		missing += failed;
		groups_checked++;
		groups_missing += missing > 0;
		json_array_append_new(
		    results,
		    json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:b}", "topic", topic,
		              "consumerGroup", name, "requiresAcknowledgment", acks, "processed",
		              (json_int_t)processed, "inFlight", (json_int_t)in_flight, "failed",
		              (json_int_t)failed, "olderThanGrace", (json_int_t)(missing - failed),
		              "missing", (json_int_t)missing, "ok", missing == 0));
	}
	if (ctx->json) {
		json_t *out = json_pack("{s:f, s:O, s:I, s:b}", "graceSeconds", grace_ms / 1000.0,
		                        "groups", results, "groupsMissing",
		                        (json_int_t)groups_missing, "ok", groups_missing == 0);

		ctl_cmd_print_json(ctx, out);
		json_decref(out);
	} else {
		json_t *r;

		ctl_table_init(&table, headers);
		json_array_foreach (results, i, r) {
			char n[4][32];
			const char *cells[7] = {ctl_cmd_cell(r, "topic", NULL, 0),
			                        ctl_cmd_cell(r, "consumerGroup", NULL, 0),
			                        ctl_cmd_cell(r, "processed", n[0], sizeof(n[0])),
			                        ctl_cmd_cell(r, "inFlight", n[1], sizeof(n[1])),
			                        ctl_cmd_cell(r, "failed", n[2], sizeof(n[2])),
			                        ctl_cmd_cell(r, "missing", n[3], sizeof(n[3])),
			                        json_is_true(json_object_get(r, "ok")) ? "ok"
			                                                               : "MISSING"};

			ctl_table_add_row(&table, cells);
		}
		if (table.n_rows > 0)
			ctl_cmd_print_table(ctx, &table);
		ctl_table_free(&table);
		if (groups_checked == 0)
			fprintf(ctx->out, "no active consumer groups%s%s: nothing to verify\n",
			        only ? " for topic " : "", only ? only : "");
		else if (groups_missing == 0)
			fprintf(ctx->out,
			        "OK: %" PRId64 " group(s) processed every message older than %s\n",
			        groups_checked, grace_text);
		else
			fprintf(ctx->out,
			        "FAIL: %" PRId64 " of %" PRId64 " group(s) are missing messages "
			        "(unacknowledged after %s, failed or expired)\n",
			        groups_missing, groups_checked, grace_text);
	}
	rc = groups_missing > 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
done:
	json_decref(registered);
	json_decref(results);
	json_decref(stats);
	json_decref(topics);
	return rc;
}

static const struct ctl_command ctl_groups_commands[] = {
    {"groups status", NULL,
     "per group and topic: pending, sent, acknowledged, failed, expired, oldest unacked", NULL,
     ctl_groups_status_opts, CTL_N(ctl_groups_status_opts), 0, 0, ctl_groups_status},
    {"verify", NULL, "check every active group processed every message; exit 1 if not",
     "A message is missing for a group when the group has not acknowledged it within the\n"
     "grace period (counted from its creation), or when its delivery FAILED or EXPIRED.\n"
     "Example:\n"
     "  ferryctl verify --grace 1m || echo 'some group is missing messages'",
     ctl_groups_verify_opts, CTL_N(ctl_groups_verify_opts), 0, 0, ctl_groups_verify},
};
const struct ctl_cmd_module ctl_cmd_groups_module = {ctl_groups_commands,
                                                     CTL_N(ctl_groups_commands)};
