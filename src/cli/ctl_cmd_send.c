/*
 * ctl_cmd_send.c - `ferryctl send`: one message (POST /api/messages/send), or with --lines one
 * message per line of the text in a single atomic batch (POST /api/messages/send-batch).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ctl_cmd.h"

#define CTL_SEND_MAX_BATCH 5000 /* the API's limit for send-batch */

static const struct ctl_opt ctl_send_opts[] = {
    {"key", 'k', "KEY", false, "message key (same key: same partition, in order)"},
    {"header", 'H', "NAME=VALUE", true, "a header (the ferry- prefix is reserved)"},
    {"idempotency-key", 0, "KEY", false, "a second send with this key returns the first id"},
    {"group", 'g', "GROUP", false, "deliver to this consumer group of the topic only"},
    {"no-batching", 0, NULL, false, "commit alone (useBatching false) instead of group commit"},
    {"lines", 0, NULL, false, "one message per non-empty line, all in one atomic batch"},
};

/* Reads MESSAGE: text as is, "@path" a file's contents, "@-" standard input. */
static int ctl_send_read_message(struct ctl_ctx *ctx, const char *arg, struct strbuf *sb)
{
	FILE *f;
	char buf[65536];
	size_t n;
	int rc = 0;

	if (arg[0] != '@') {
		strbuf_puts(sb, arg);
		return 0;
	}
	f = strcmp(arg, "@-") == 0 ? stdin : fopen(arg + 1, "rb");
	if (f == NULL)
		return ctl_cmd_fail(ctx, "cannot read %s: %s", arg + 1, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_append(sb, buf, n);
	if (ferror(f))
		rc = ctl_cmd_fail(ctx, "cannot read %s: %s", arg + 1, strerror(errno));
	if (f != stdin)
		fclose(f);
	if (rc == 0 && sb->failed)
		rc = ctl_cmd_fail(ctx, "out of memory reading %s", arg + 1);
	return rc;
}

/* The fields every message of this invocation shares; NULL on a bad --header (reported). */
static json_t *ctl_send_base(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	json_t *base = json_object(), *headers = json_object();
	const char *v;
	size_t i;

	if (base == NULL || headers == NULL)
		goto fail;
	json_object_set_new(base, "topic", json_string(args->pos[0]));
	if ((v = ctl_args_get(args, "key")) != NULL)
		json_object_set_new(base, "key", json_string(v));
	if ((v = ctl_args_get(args, "idempotency-key")) != NULL)
		json_object_set_new(base, "idempotencyKey", json_string(v));
	if ((v = ctl_args_get(args, "group")) != NULL)
		json_object_set_new(base, "consumerGroup", json_string(v));
	json_object_set_new(base, "useBatching", json_boolean(!ctl_args_has(args, "no-batching")));
	for (i = 0; i < ctl_args_count(args, "header"); i++) {
		const char *h = ctl_args_value(args, "header", i), *eq = strchr(h, '=');
		char name[256];
		json_t *value;

		if (eq == NULL || eq == h || (size_t)(eq - h) >= sizeof(name)) {
			ctl_cmd_usage_error(ctx, "send: --header expects NAME=VALUE, got '%s'", h);
			goto fail;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - h), h);
		value = json_string(eq + 1);
		if (value == NULL || json_object_set_new(headers, name, value) != 0) {
			ctl_cmd_usage_error(ctx, "send: header '%s' is not valid UTF-8", name);
			goto fail;
		}
	}
	if (json_object_size(headers) > 0)
		json_object_set(base, "headers", headers);
	json_decref(headers);
	/* A topic or key that is not UTF-8 made json_string return NULL: the member is absent. */
	if (json_object_get(base, "topic") == NULL) {
		ctl_cmd_usage_error(ctx, "send: the topic is not valid UTF-8");
		json_decref(base);
		return NULL;
	}
	return base;
fail:
	json_decref(headers);
	json_decref(base);
	return NULL;
}

static int ctl_send_one(struct ctl_ctx *ctx, json_t *base, const struct strbuf *text)
{
	json_t *msg = json_stringn(text->data ? text->data : "", text->len), *reply = NULL;
	int rc;

	if (msg == NULL)
		return ctl_cmd_fail(ctx, "the message is not valid UTF-8 text");
	json_object_set_new(base, "message", msg);
	if (ctl_cmd_call(ctx, "POST", "/api/messages/send", base, &reply) != 0)
		return CTL_EXIT_FAIL;
	if (ctx->json)
		ctl_cmd_print_json(ctx, reply);
	else if (json_is_true(json_object_get(reply, "duplicate")))
		fprintf(ctx->out, "message %lld: duplicate idempotency key, nothing new written\n",
		        ctl_cmd_int(reply, "messageId"));
	else
		fprintf(ctx->out, "message %lld sent to %s (%s)\n", ctl_cmd_int(reply, "messageId"),
		        json_string_value(json_object_get(reply, "topic")),
		        json_string_value(json_object_get(reply, "status")));
	rc = CTL_EXIT_OK;
	json_decref(reply);
	return rc;
}

static int ctl_send_lines(struct ctl_ctx *ctx, json_t *base, struct strbuf *text)
{
	json_t *messages = json_array(), *body = NULL, *reply = NULL, *results, *r;
	char *line, *save = NULL, idbuf[32];
	struct ctl_table t;
	static const char *const headers[] = {">ID", "STATUS", NULL};
	size_t i;
	int rc = CTL_EXIT_FAIL;

	if (messages == NULL)
		return ctl_cmd_fail(ctx, "out of memory");
	if (json_object_get(base, "idempotencyKey")) {
		json_decref(messages);
		return ctl_cmd_usage_error(ctx,
		                           "send: --idempotency-key would repeat on every line; "
		                           "not with --lines");
	}
	/* Batches are committed at once: useBatching means nothing for them. */
	json_object_del(base, "useBatching");
	for (line = strtok_r(text->data ? text->data : (char[]){'\0'}, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t len = strlen(line);
		json_t *m;

		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			continue;
		m = json_deep_copy(base);
		if (m == NULL || json_object_set_new(m, "message", json_stringn(line, len)) != 0) {
			json_decref(m);
			rc = ctl_cmd_fail(ctx, "line %zu is not valid UTF-8 text",
			                  json_array_size(messages) + 1);
			goto done;
		}
		json_array_append_new(messages, m);
	}
	if (json_array_size(messages) == 0 || json_array_size(messages) > CTL_SEND_MAX_BATCH) {
		rc = ctl_cmd_fail(ctx, "--lines needs 1 to %d non-empty lines, got %zu",
		                  CTL_SEND_MAX_BATCH, json_array_size(messages));
		goto done;
	}
	body = json_pack("{s:O}", "messages", messages);
	if ((rc = ctl_cmd_call(ctx, "POST", "/api/messages/send-batch", body, &reply)) != 0)
		goto done;
	if (ctx->json) {
		ctl_cmd_print_json(ctx, reply);
	} else {
		results = json_object_get(reply, "results");
		fprintf(ctx->out, "%lld message(s) sent to %s in one batch (%lld new)\n",
		        ctl_cmd_int(reply, "count"),
		        json_string_value(json_object_get(base, "topic")),
		        ctl_cmd_int(reply, "created"));
		ctl_table_init(&t, headers);
		json_array_foreach (results, i, r) {
			const char *cells[2] = {ctl_cmd_cell(r, "messageId", idbuf, sizeof(idbuf)),
			                        json_string_value(json_object_get(r, "status"))};

			ctl_table_add_row(&t, cells);
		}
		ctl_cmd_print_table(ctx, &t);
	}
	rc = CTL_EXIT_OK;
done:
	json_decref(reply);
	json_decref(body);
	json_decref(messages);
	return rc;
}

static int ctl_send_run(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	struct strbuf text = STRBUF_INIT;
	json_t *base = NULL;
	int rc;

	rc = ctl_send_read_message(ctx, args->pos[1], &text);
	if (rc != 0)
		goto done;
	base = ctl_send_base(ctx, args);
	if (base == NULL) {
		rc = CTL_EXIT_USAGE;
		goto done;
	}
	rc = ctl_args_has(args, "lines") ? ctl_send_lines(ctx, base, &text)
	                                 : ctl_send_one(ctx, base, &text);
done:
	json_decref(base);
	strbuf_free(&text);
	return rc;
}

static const struct ctl_command ctl_send_commands[] = {
    {"send", "TOPIC MESSAGE|@FILE|@-", "send a message (the text, a file's contents, or stdin)",
     "Examples:\n"
     "  ferryctl send user-events 'User created: ada' --key user-42 -H source=signup\n"
     "  ferryctl send order-events @order.json --idempotency-key order-7-placed\n"
     "  seq 1 100 | ferryctl send user-events @- --lines",
     ctl_send_opts, sizeof(ctl_send_opts) / sizeof(ctl_send_opts[0]), 2, 2, ctl_send_run},
};
const struct ctl_cmd_module ctl_cmd_send_module = {ctl_send_commands, CTL_N(ctl_send_commands)};
