/*
 * ctl_cmd_messages.c - `ferryctl messages show|pending|failed|retry|purge`: one message with
 * its per-group deliveries, the relay's backlog, the dead letters (FAILED / EXPIRED per group),
 * redelivering them and deleting old ones.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctl_cmd.h"
#include "cli/ctl_stats.h"

static const struct ctl_opt ctl_messages_page_opts[] = {
    {"limit", 'n', "N", false, "at most N messages (1..1000, default 100)"},
    {"after-id", 0, "ID", false, "start after this message id (paging)"},
};

static const struct ctl_opt ctl_messages_failed_opts[] = {
    {"group", 'g', "GROUP", false, "only this consumer group"},
    {"status", 's', "STATUS", false, "FAILED or EXPIRED (default both)"},
    {"limit", 'n', "N", false, "at most N rows (1..1000, default 100)"},
    {"after-id", 0, "ID", false, "start after this message id (paging)"},
};

static const struct ctl_opt ctl_messages_retry_opts[] = {
    {"group", 'g', "GROUP", false, "redeliver to this consumer group only"},
    {"target", 't', "SERVICE", false, "one message: to this consumer service's instance"},
    {"status", 's', "STATUS", false, "no ID: only the group's FAILED or EXPIRED (default both)"},
    {"limit", 'n', "N", false, "no ID: at most N messages (1..10000, default 1000)"},
};

static const struct ctl_opt ctl_messages_purge_opts[] = {
    {"older-than", 0, "AGE|TIME", false, "delete dead letters older than 7d, 12h, or an ISO time"},
    {"group", 'g', "GROUP", false, "only this consumer group"},
};

/* The age of the timestamp at `key` ("3m12s"), or NULL when absent or unreadable. */
static const char *ctl_messages_age(const json_t *obj, const char *key, char *buf, size_t size)
{
	double t;

	if (ctl_stats_parse_timestamp(json_string_value(json_object_get(obj, key)), &t) != 0)
		return NULL;
	return ctl_table_format_age(ctl_stats_now() - t, buf, size);
}

/*
 * Adds the paging options (--limit, --after-id) to `path` and GETs that page into *page (the
 * caller frees it). With --json the page is printed as it came and *printed is set; otherwise the
 * caller prints it as a table. Returns 0, or the exit code of a usage error or failed call.
 */
static int ctl_messages_fetch_page(struct ctl_ctx *ctx, const struct ctl_args *args,
                                   struct strbuf *path, json_t **page, bool *printed)
{
	char errstr[1024];
	int64_t n;

	*page = NULL;
	*printed = false;
	if (ctl_args_get(args, "limit") &&
	    ctl_args_parse_int(ctl_args_get(args, "limit"), "--limit", 1, 1000, &n, errstr,
	                       sizeof(errstr)) != 0)
		return ctl_cmd_usage_error(ctx, "%s", errstr);
	if (ctl_args_get(args, "after-id") &&
	    ctl_args_parse_int(ctl_args_get(args, "after-id"), "--after-id", 0, INT64_MAX, &n,
	                       errstr, sizeof(errstr)) != 0)
		return ctl_cmd_usage_error(ctx, "%s", errstr);
	ctl_http_query_add(path, "limit", ctl_args_get(args, "limit"));
	ctl_http_query_add(path, "afterId", ctl_args_get(args, "after-id"));
	if (ctl_cmd_call(ctx, "GET", strbuf_str(path), NULL, page) != 0)
		return CTL_EXIT_FAIL;
	if (ctx->json) {
		ctl_cmd_print_json(ctx, *page);
		*printed = true;
	}
	return 0;
}

/* The line under a page that has more behind it. */
static void ctl_messages_more(struct ctl_ctx *ctx, const json_t *page)
{
	json_t *next = json_object_get(page, "nextAfterId");

	if (json_is_integer(next))
		fprintf(ctx->out, "more: --after-id %lld\n", (long long)json_integer_value(next));
}

/* What happened to the message after it was sent (retries, verdicts, re-drives), when the
 * producer keeps a history. */
static void ctl_messages_print_history(struct ctl_ctx *ctx, const json_t *history)
{
	static const char *const headers[] = {"AT", "EVENT", "GROUP", "ACTOR", "DETAIL", NULL};
	struct ctl_table t;
	json_t *e;
	size_t i;

	if (json_array_size(history) == 0)
		return;
	fprintf(ctx->out, "\nHistory:\n");
	ctl_table_init(&t, headers);
	ctl_table_set_max_width(&t, 4, 80);
	json_array_foreach (history, i, e) {
		json_t *detail = json_object_get(e, "detail");
		char *text = json_is_object(detail) && json_object_size(detail) > 0
		                 ? json_dumps(detail, JSON_COMPACT)
		                 : NULL;
		const char *cells[5] = {ctl_cmd_cell(e, "at", NULL, 0),
		                        ctl_cmd_cell(e, "event", NULL, 0),
		                        ctl_cmd_cell(e, "consumerGroup", NULL, 0),
		                        ctl_cmd_cell(e, "actor", NULL, 0), text};

		ctl_table_add_row(&t, cells);
		free(text);
	}
	ctl_cmd_print_table(ctx, &t);
}

static int ctl_messages_show(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {"GROUP",    "REQUIRES ACK", "STATUS",
	                                      "SENT",     "ACKNOWLEDGED", ">RETRIES",
	                                      "CONSUMER", "ERROR",        NULL};
	char path[64], errstr[1024], b1[32], b2[32], b3[32], b4[32];
	struct ctl_table t;
	json_t *msg = NULL, *g;
	int64_t id;
	size_t i;
	char *headers_text;

	if (ctl_args_parse_int(args->pos[0], "message id", 1, INT64_MAX, &id, errstr,
	                       sizeof(errstr)) != 0)
		return ctl_cmd_usage_error(ctx, "%s", errstr);
	snprintf(path, sizeof(path), "/api/messages/%" PRId64, id);
	if (ctl_cmd_call(ctx, "GET", path, NULL, &msg) != 0)
		return CTL_EXIT_FAIL;
	if (ctx->json) {
		ctl_cmd_print_json(ctx, msg);
		json_decref(msg);
		return CTL_EXIT_OK;
	}
	headers_text = json_dumps(json_object_get(msg, "headers"), JSON_COMPACT | JSON_ENCODE_ANY);
#define FIELD(label, value) fprintf(ctx->out, "%-16s %s\n", label, (value) ? (value) : "-")
	FIELD("id:", ctl_cmd_cell(msg, "id", b1, sizeof(b1)));
	FIELD("topic:", ctl_cmd_cell(msg, "topic", NULL, 0));
	FIELD("key:", ctl_cmd_cell(msg, "key", NULL, 0));
	FIELD("status:", ctl_cmd_cell(msg, "status", NULL, 0));
	FIELD("only for group:", ctl_cmd_cell(msg, "consumerGroup", NULL, 0));
	FIELD("created:", ctl_cmd_cell(msg, "createdAt", NULL, 0));
	FIELD("sent:", ctl_cmd_cell(msg, "sentAt", NULL, 0));
	FIELD("processed:", ctl_cmd_cell(msg, "processedAt", NULL, 0));
	FIELD("partition:", ctl_cmd_cell(msg, "partition", b2, sizeof(b2)));
	FIELD("offset:", ctl_cmd_cell(msg, "offset", b3, sizeof(b3)));
	FIELD("attempts:", ctl_cmd_cell(msg, "publishAttempts", b4, sizeof(b4)));
	FIELD("idempotency key:", ctl_cmd_cell(msg, "idempotencyKey", NULL, 0));
	FIELD("error:", ctl_cmd_cell(msg, "errorMessage", NULL, 0));
	FIELD("headers:", headers_text);
	FIELD("message:", ctl_cmd_cell(msg, "message", NULL, 0));
#undef FIELD
	free(headers_text);
	fputc('\n', ctx->out);
	ctl_table_init(&t, headers);
	ctl_table_set_max_width(&t, 7, 60);
	json_array_foreach (json_object_get(msg, "groups"), i, g) {
		char consumer[300];
		const char *svc = ctl_cmd_cell(g, "consumerServiceId", NULL, 0),
		           *inst = ctl_cmd_cell(g, "consumerInstanceId", NULL, 0);
		const char *cells[8];

		snprintf(consumer, sizeof(consumer), "%s%s%s", svc ? svc : "-", inst ? "/" : "",
		         inst ? inst : "");
		cells[0] = ctl_cmd_cell(g, "consumerGroup", NULL, 0);
		cells[1] = ctl_cmd_cell(g, "requiresAcknowledgment", NULL, 0);
		cells[2] = ctl_cmd_cell(g, "status", NULL, 0);
		cells[3] = ctl_cmd_cell(g, "sentAt", NULL, 0);
		cells[4] = ctl_cmd_cell(g, "acknowledgedAt", NULL, 0);
		cells[5] = ctl_cmd_cell(g, "retryCount", b1, sizeof(b1));
		cells[6] = svc || inst ? consumer : NULL;
		cells[7] = ctl_cmd_cell(g, "errorMessage", NULL, 0);
		ctl_table_add_row(&t, cells);
	}
	if (t.n_rows == 0)
		fprintf(ctx->out, "tracked for no consumer group\n");
	else
		ctl_cmd_print_table(ctx, &t);
	ctl_table_free(&t);
	ctl_messages_print_history(ctx, json_object_get(msg, "history"));
	json_decref(msg);
	return CTL_EXIT_OK;
}

/*
 * The body of a listing command: fetches the page at `path` (ctl_messages_fetch_page: with
 * --json printed as it came); else prints its array `items_key` as a table of `headers`, a row
 * per item from add_row, with column 2 (KEY) cut to 32 characters and the last (ERROR) to 60,
 * or the line `empty` when the page has no item; then the paging hint. Returns 0 or an exit
 * code (reported).
 */
static int ctl_messages_list(struct ctl_ctx *ctx, const struct ctl_args *args, struct strbuf *path,
                             const char *items_key, const char *const *headers,
                             void (*add_row)(struct ctl_table *t, const json_t *item),
                             const char *empty)
{
	struct ctl_table t;
	json_t *page = NULL, *item;
	bool printed;
	size_t i;
	int rc;

	rc = ctl_messages_fetch_page(ctx, args, path, &page, &printed);
	if (rc != 0 || printed)
		goto done;
	ctl_table_init(&t, headers);
	ctl_table_set_max_width(&t, 2, 32);
	ctl_table_set_max_width(&t, t.n_cols - 1, 60);
	json_array_foreach (json_object_get(page, items_key), i, item)
		add_row(&t, item);
	if (t.n_rows == 0)
		fprintf(ctx->out, "%s\n", empty);
	else
		ctl_cmd_print_table(ctx, &t);
	ctl_table_free(&t);
	ctl_messages_more(ctx, page);
done:
	json_decref(page);
	return rc;
}

static void ctl_messages_pending_row(struct ctl_table *t, const json_t *m)
{
	char idbuf[32], agebuf[32], abuf[32];
	const char *cells[6] = {ctl_cmd_cell(m, "id", idbuf, sizeof(idbuf)),
	                        ctl_cmd_cell(m, "topic", NULL, 0),
	                        ctl_cmd_cell(m, "key", NULL, 0),
	                        ctl_messages_age(m, "createdAt", agebuf, sizeof(agebuf)),
	                        ctl_cmd_cell(m, "publishAttempts", abuf, sizeof(abuf)),
	                        ctl_cmd_cell(m, "errorMessage", NULL, 0)};

	ctl_table_add_row(t, cells);
}

static int ctl_messages_pending(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {">ID",       "TOPIC", "KEY", ">AGE",
	                                      ">ATTEMPTS", "ERROR", NULL};
	struct strbuf path = STRBUF_INIT;
	int rc;

	strbuf_puts(&path, "/api/messages/pending");
	rc = ctl_messages_list(ctx, args, &path, "items", headers, ctl_messages_pending_row,
	                       "no PENDING messages: the relay has published everything");
	strbuf_free(&path);
	return rc;
}

/* Checks --status: FAILED or EXPIRED (any case), upper-cased into buf. */
static int ctl_messages_status(struct ctl_ctx *ctx, const char *v, char *buf, size_t size)
{
	size_t i;

	for (i = 0; v[i] && i + 1 < size; i++)
		buf[i] = (char)(v[i] >= 'a' && v[i] <= 'z' ? v[i] - 32 : v[i]);
	buf[i] = '\0';
	if (strcmp(buf, "FAILED") != 0 && strcmp(buf, "EXPIRED") != 0)
		return ctl_cmd_usage_error(ctx, "--status: expected FAILED or EXPIRED, got '%s'",
		                           v);
	return 0;
}

static void ctl_messages_failed_row(struct ctl_table *t, const json_t *m)
{
	char idbuf[32], rbuf[32];
	const char *cells[8] = {ctl_cmd_cell(m, "messageId", idbuf, sizeof(idbuf)),
	                        ctl_cmd_cell(m, "topic", NULL, 0),
	                        ctl_cmd_cell(m, "key", NULL, 0),
	                        ctl_cmd_cell(m, "consumerGroup", NULL, 0),
	                        ctl_cmd_cell(m, "status", NULL, 0),
	                        ctl_cmd_cell(m, "retryCount", rbuf, sizeof(rbuf)),
	                        ctl_cmd_cell(m, "lastRetryAt", NULL, 0),
	                        ctl_cmd_cell(m, "errorMessage", NULL, 0)};

	ctl_table_add_row(t, cells);
}

static int ctl_messages_failed(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {">ID",      "TOPIC",      "KEY",   "GROUP", "STATUS",
	                                      ">RETRIES", "LAST RETRY", "ERROR", NULL};
	struct strbuf path = STRBUF_INIT;
	char status[16];
	int rc = 0;

	strbuf_puts(&path, "/api/messages/failed");
	if (ctl_args_get(args, "status")) {
		rc = ctl_messages_status(ctx, ctl_args_get(args, "status"), status, sizeof(status));
		if (rc != 0)
			goto done;
		ctl_http_query_add(&path, "status", status);
	}
	ctl_http_query_add(&path, "consumerGroup", ctl_args_get(args, "group"));
	rc = ctl_messages_list(ctx, args, &path, "failed", headers, ctl_messages_failed_row,
	                       "no dead letters (FAILED or EXPIRED deliveries)");
done:
	strbuf_free(&path);
	return rc;
}

static int ctl_messages_retry_one(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	static const char *const headers[] = {"GROUP",    "WAS",      "TARGET", "SERVICE",
	                                      "INSTANCE", "FALLBACK", NULL};
	const char *group = ctl_args_get(args, "group"), *target = ctl_args_get(args, "target");
	json_t *body = json_object(), *reply = NULL, *r;
	char path[64], errstr[1024];
	struct ctl_table t;
	int64_t id;
	size_t i;
	int rc = CTL_EXIT_OK;

	if (body == NULL)
		return ctl_cmd_fail(ctx, "out of memory");
	if (ctl_args_parse_int(args->pos[0], "message id", 1, INT64_MAX, &id, errstr,
	                       sizeof(errstr)) != 0) {
		rc = ctl_cmd_usage_error(ctx, "%s", errstr);
		goto done;
	}
	if (ctl_args_has(args, "status") || ctl_args_has(args, "limit")) {
		rc = ctl_cmd_usage_error(ctx,
		                         "messages retry: --status and --limit are for all of a "
		                         "group's messages, not with a message id");
		goto done;
	}
	if (target && group == NULL) {
		rc = ctl_cmd_usage_error(ctx, "messages retry: --target needs --group");
		goto done;
	}
	if (group)
		json_object_set_new(body, "consumerGroup", json_string(group));
	if (target)
		json_object_set_new(body, "targetConsumerServiceId", json_string(target));
	snprintf(path, sizeof(path), "/api/messages/%" PRId64 "/retry", id);
	if ((rc = ctl_cmd_call(ctx, "POST", path, body, &reply)) != 0)
		goto done;
	if (ctx->json) {
		ctl_cmd_print_json(ctx, reply);
		goto done;
	}
	fprintf(ctx->out, "message %" PRId64 " queued for redelivery\n", id);
	ctl_table_init(&t, headers);
	json_array_foreach (json_object_get(reply, "redeliveries"), i, r) {
		const char *cells[6] = {ctl_cmd_cell(r, "consumerGroup", NULL, 0),
		                        ctl_cmd_cell(r, "previousStatus", NULL, 0),
		                        ctl_cmd_cell(r, "target", NULL, 0),
		                        ctl_cmd_cell(r, "targetConsumerServiceId", NULL, 0),
		                        ctl_cmd_cell(r, "targetInstanceId", NULL, 0),
		                        ctl_cmd_cell(r, "fallbackReason", NULL, 0)};

		ctl_table_add_row(&t, cells);
	}
	ctl_cmd_print_table(ctx, &t);
done:
	json_decref(reply);
	json_decref(body);
	return rc;
}

static int ctl_messages_retry(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	const char *group = ctl_args_get(args, "group"), *st = ctl_args_get(args, "status");
	json_t *body = NULL, *reply = NULL;
	char errstr[1024], status[16];
	int64_t limit = 0;
	int rc;

	if (args->n_pos == 1)
		return ctl_messages_retry_one(ctx, args);
	if (group == NULL)
		return ctl_cmd_usage_error(ctx,
		                           "messages retry: give a message ID, or --group GROUP "
		                           "for all of a group's FAILED/EXPIRED messages");
	if (ctl_args_has(args, "target"))
		return ctl_cmd_usage_error(ctx, "messages retry: --target is for one message ID");
	if (st && (rc = ctl_messages_status(ctx, st, status, sizeof(status))) != 0)
		return rc;
	if (ctl_args_get(args, "limit") &&
	    ctl_args_parse_int(ctl_args_get(args, "limit"), "--limit", 1, 10000, &limit, errstr,
	                       sizeof(errstr)) != 0)
		return ctl_cmd_usage_error(ctx, "%s", errstr);
	body = json_pack("{s:s}", "consumerGroup", group);
	if (body == NULL)
		return ctl_cmd_usage_error(ctx, "messages retry: the group is not valid UTF-8");
	if (st)
		json_object_set_new(body, "status", json_string(status));
	if (limit > 0)
		json_object_set_new(body, "limit", json_integer(limit));
	if ((rc = ctl_cmd_call(ctx, "POST", "/api/messages/retry", body, &reply)) != 0)
		goto done;
	if (ctx->json)
		ctl_cmd_print_json(ctx, reply);
	else
		fprintf(ctx->out, "requeued %lld %s message(s) of group %s for redelivery\n",
		        ctl_cmd_int(reply, "requeued"), st ? status : "FAILED/EXPIRED", group);
done:
	json_decref(reply);
	json_decref(body);
	return rc;
}

static int ctl_messages_purge(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	const char *older = ctl_args_get(args, "older-than");
	struct strbuf path = STRBUF_INIT;
	json_t *reply = NULL;
	char errstr[1024];
	int64_t ms;
	json_int_t deliveries = 0, messages = 0;
	int rc = CTL_EXIT_OK;

	if (older == NULL)
		return ctl_cmd_usage_error(ctx,
		                           "messages purge: --older-than is required (e.g. 7d)");
	/* The API takes a duration or a time (which PostgreSQL judges); refuse here what is
	 * neither, with the flag named. */
	if (ctl_args_parse_duration(older, "--older-than", &ms, errstr, sizeof(errstr)) != 0 &&
	    !(older[0] >= '0' && older[0] <= '9' && strchr(older, '-') != NULL))
		return ctl_cmd_usage_error(ctx,
		                           "--older-than: expected a duration like 7d or 12h, "
		                           "or an ISO time like 2026-11-01T00:00:00Z, got '%s'",
		                           older);
	strbuf_puts(&path, "/api/messages/failed");
	ctl_http_query_add(&path, "olderThan", older);
	ctl_http_query_add(&path, "consumerGroup", ctl_args_get(args, "group"));
	/* The producer bounds each call's time and says "complete": false when it stopped with
	 * more to delete (every batch it did is committed): call again until it is done. */
	for (;;) {
		long long d, m;
		json_t *complete;

		json_decref(reply);
		reply = NULL;
		if ((rc = ctl_cmd_call(ctx, "DELETE", strbuf_str(&path), NULL, &reply)) != 0)
			goto done;
		d = ctl_cmd_int(reply, "deletedDeliveries");
		m = ctl_cmd_int(reply, "deletedMessages");
		deliveries += d;
		messages += m;
		complete = json_object_get(reply, "complete");
		if (!json_is_false(complete) || d + m == 0)
			break;
	}
	json_object_set_new(reply, "deletedDeliveries", json_integer(deliveries));
	json_object_set_new(reply, "deletedMessages", json_integer(messages));
	if (ctx->json)
		ctl_cmd_print_json(ctx, reply);
	else
		fprintf(ctx->out,
		        "deleted %lld dead delivery(ies) and %lld message(s) the relay gave up on, "
		        "older than %s\n",
		        (long long)deliveries, (long long)messages, older);
done:
	json_decref(reply);
	strbuf_free(&path);
	return rc;
}

static const struct ctl_command ctl_messages_commands[] = {
    {"messages show", "ID", "one message: status, Kafka position, and each group's delivery", NULL,
     NULL, 0, 1, 1, ctl_messages_show},
    {"messages pending", NULL, "PENDING messages (not yet published), oldest first", NULL,
     ctl_messages_page_opts, CTL_N(ctl_messages_page_opts), 0, 0, ctl_messages_pending},
    {"messages failed", NULL, "dead letters: deliveries that FAILED or EXPIRED, per group",
     "GROUP '-' is a message the relay itself gave up on (Kafka refused it).",
     ctl_messages_failed_opts, CTL_N(ctl_messages_failed_opts), 0, 0, ctl_messages_failed},
    {"messages retry", "[ID]", "redeliver one message, or all FAILED/EXPIRED of a group",
     "Examples:\n"
     "  ferryctl messages retry 42                       # every group that has not acknowledged\n"
     "  ferryctl messages retry 42 -g audit -t consumer-service-2\n"
     "  ferryctl messages retry -g audit --status FAILED --limit 100\n"
     "The producer records each re-drive in the message's history as asked by ferryctl/$USER.",
     ctl_messages_retry_opts, CTL_N(ctl_messages_retry_opts), 0, 1, ctl_messages_retry},
    {"messages purge", NULL, "delete FAILED/EXPIRED deliveries older than an age or time", NULL,
     ctl_messages_purge_opts, CTL_N(ctl_messages_purge_opts), 0, 0, ctl_messages_purge},
};
const struct ctl_cmd_module ctl_cmd_messages_module = {ctl_messages_commands,
                                                       CTL_N(ctl_messages_commands)};
