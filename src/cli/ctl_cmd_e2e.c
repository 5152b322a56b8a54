/*
 * ctl_cmd_e2e.c - `ferryctl e2e`: the original's end-to-end test against a running system.
 * Sends N messages to a topic, follows each (GET /api/messages/{id}) until every group of the
 * topic acknowledged it or the timeout passed, and prints latency percentiles and PASS/FAIL.
 *
 * Latency is measured on the producer's own timestamps, from the message's createdAt to the
 * last group's acknowledgedAt (sentAt for a group that does not require acknowledgment): it
 * does not depend on how often we poll nor on this machine's clock.
 *
 * Messages are sent one request at a time, in order: the figure to watch is the latency, not
 * the send rate (bench/ measures throughput).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/ctl_cmd.h"
#include "cli/ctl_stats.h"

#define CTL_E2E_DEFAULT_TIMEOUT "2m"
#define CTL_E2E_POLL_MS         100
#define CTL_E2E_BAR_WIDTH       30

static const struct ctl_opt ctl_e2e_opts[] = {
    {"count", 'n', "N", false, "messages to send (1..100000, default 100)"},
    {"batching", 0, NULL, false, "send with useBatching (group commit); default off"},
    {"topic", 't', "TOPIC", false, "topic to use (default: the first active one with groups)"},
    {"timeout", 0, "DURATION", false,
     "give up waiting for acknowledgments after this (default " CTL_E2E_DEFAULT_TIMEOUT ")"},
};

enum ctl_e2e_state { CTL_E2E_WAITING, CTL_E2E_DONE, CTL_E2E_FAILED };

struct ctl_e2e_msg {
	int64_t id;
	enum ctl_e2e_state state;
	double latency_ms; /* when DONE */
	char error[160];   /* when FAILED: which group and why */
};

static double ctl_e2e_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The active groups of a topic object, as a new array of their names. */
static json_t *ctl_e2e_active_groups(const json_t *topic)
{
	json_t *names = json_array(), *g;
	size_t i;

	json_array_foreach (json_object_get(topic, "consumerGroups"), i, g) {
		if (json_is_true(json_object_get(g, "isActive")))
			json_array_append(names, json_object_get(g, "consumerGroupName"));
	}
	return names;
}

/* Chooses the topic: --topic, or the first active registered topic with an active group.
 * Returns 0 with *topic (new reference), or an exit code (reported). */
static int ctl_e2e_topic(struct ctl_ctx *ctx, const char *want, json_t **topic)
{
	json_t *topics = NULL, *t, *groups;
	size_t i;
	int rc = 0;

	*topic = NULL;
	if (want) {
		if ((rc = ctl_cmd_get_topic(ctx, want, topic)) != 0)
			return rc;
		groups = ctl_e2e_active_groups(*topic);
		if (!json_is_true(json_object_get(*topic, "isActive")) ||
		    json_array_size(groups) == 0)
			rc = ctl_cmd_fail(ctx,
			                  "topic %s is inactive or has no active consumer group: "
			                  "nothing would acknowledge",
			                  want);
		json_decref(groups);
		if (rc != 0) {
			json_decref(*topic);
			*topic = NULL;
		}
		return rc;
	}
	if ((rc = ctl_cmd_call(ctx, "GET", "/api/topics", NULL, &topics)) != 0)
		return rc;
	json_array_foreach (topics, i, t) {
		groups = ctl_e2e_active_groups(t);
		if (json_is_true(json_object_get(t, "isActive")) && json_array_size(groups) > 0)
			*topic = json_incref(t);
		json_decref(groups);
		if (*topic)
			break;
	}
	json_decref(topics);
	if (*topic == NULL)
		return ctl_cmd_fail(ctx,
		                    "no active topic with an active consumer group is registered "
		                    "(ferryctl topics register ... --group ...)");
	return 0;
}

/* The names in `names` joined by ", ", as a string the caller frees (NULL: out of memory). */
static char *ctl_e2e_join(const json_t *names)
{
	struct strbuf sb = STRBUF_INIT;
	json_t *n;
	size_t i;

	json_array_foreach (names, i, n)
		strbuf_printf(&sb, "%s%s", i ? ", " : "", json_string_value(n));
	if (sb.failed || sb.data == NULL) {
		strbuf_free(&sb);
		return NULL;
	}
	return sb.data; /* the buffer is a malloc'd string: handed over */
}

static void ctl_e2e_progress(struct ctl_ctx *ctx, bool tty, const char *what, size_t done,
                             size_t total, double t0)
{
	char bar[256];

	if (!tty)
		return;
	ctl_stats_progress(done, total, ctl_e2e_now() - t0, CTL_E2E_BAR_WIDTH, bar, sizeof(bar));
	fprintf(ctx->err, "\r%-13s %s", what, bar);
	fflush(ctx->err);
}

static void ctl_e2e_progress_end(struct ctl_ctx *ctx, bool tty)
{
	if (tty) {
		fputc('\n', ctx->err);
		fflush(ctx->err);
	}
}

/* Sends the messages in order. Returns 0, or an exit code (reported). */
static int ctl_e2e_send(struct ctl_ctx *ctx, const char *topic, bool batching,
                        struct ctl_e2e_msg *msgs, size_t n, bool tty)
{
	double t0 = ctl_e2e_now();
	char errstr[1024], text[128], key[64];
	size_t i;

	for (i = 0; i < n; i++) {
		json_t *body, *reply = NULL;

		snprintf(text, sizeof(text), "ferryctl e2e %ld-%d message %zu of %zu",
		         (long)time(NULL), (int)getpid(), i + 1, n);
		/* Distinct keys spread the messages over the partitions (and so the consumers). */
		snprintf(key, sizeof(key), "e2e-%zu", i);
		body = json_pack("{s:s, s:s, s:s, s:b, s:{s:s}}", "topic", topic, "message", text,
		                 "key", key, "useBatching", batching, "headers", "source",
		                 "ferryctl-e2e");
		if (ctl_http_call(&ctx->http, "POST", "/api/messages/send", body, &reply, errstr,
		                  sizeof(errstr)) < 0) {
			json_decref(body);
			ctl_e2e_progress_end(ctx, tty);
			return ctl_cmd_fail(ctx, "sending message %zu of %zu: %s", i + 1, n,
			                    errstr);
		}
		msgs[i].id = ctl_cmd_int(reply, "messageId");
		json_decref(reply);
		json_decref(body);
		if (i % 10 == 9 || i + 1 == n)
			ctl_e2e_progress(ctx, tty, "sending", i + 1, n, t0);
	}
	ctl_e2e_progress_end(ctx, tty);
	return 0;
}

/* Looks at one message's groups: DONE with its latency, FAILED, or still WAITING. */
static void ctl_e2e_judge(struct ctl_e2e_msg *m, const json_t *msg)
{
	double created, last = 0, at;
	json_t *g;
	size_t i;

	if (ctl_stats_parse_timestamp(json_string_value(json_object_get(msg, "createdAt")),
	                              &created) != 0)
		return;
	if (json_array_size(json_object_get(msg, "groups")) == 0) {
		m->state = CTL_E2E_FAILED;
		snprintf(m->error, sizeof(m->error), "tracked for no consumer group");
		return;
	}
	json_array_foreach (json_object_get(msg, "groups"), i, g) {
		const char *status = json_string_value(json_object_get(g, "status"));
		const char *name = json_string_value(json_object_get(g, "consumerGroup"));
		bool acks = json_is_true(json_object_get(g, "requiresAcknowledgment"));
		const char *stamp = NULL;

		if (status == NULL)
			return;
		if (strcmp(status, "FAILED") == 0 || strcmp(status, "EXPIRED") == 0) {
			const char *err = json_string_value(json_object_get(g, "errorMessage"));

			m->state = CTL_E2E_FAILED;
			snprintf(m->error, sizeof(m->error), "group %s: %s%s%s", name ? name : "?",
			         status, err ? ": " : "", err ? err : "");
			return;
		}
		if (strcmp(status, "ACKNOWLEDGED") == 0)
			stamp = json_string_value(json_object_get(g, "acknowledgedAt"));
		else if (!acks && strcmp(status, "SENT") == 0)
			stamp = json_string_value(json_object_get(g, "sentAt"));
		if (stamp == NULL || ctl_stats_parse_timestamp(stamp, &at) != 0)
			return; /* this group is not done yet */
		if (at > last)
			last = at;
	}
	m->state = CTL_E2E_DONE;
	m->latency_ms = (last - created) * 1000.0;
	if (m->latency_ms < 0)
		m->latency_ms = 0;
}

/* Polls until every message is DONE or FAILED, or the deadline. Returns 0 or an exit code. */
static int ctl_e2e_wait(struct ctl_ctx *ctx, struct ctl_e2e_msg *msgs, size_t n, int64_t timeout_ms,
                        bool tty, size_t *settled)
{
	double t0 = ctl_e2e_now(), deadline = t0 + (double)timeout_ms / 1000.0;
	char path[64], errstr[1024];
	size_t i;

	*settled = 0;
	for (;;) {
		for (i = 0; i < n; i++) {
			json_t *msg = NULL;

			if (msgs[i].state != CTL_E2E_WAITING)
				continue;
			snprintf(path, sizeof(path), "/api/messages/%" PRId64, msgs[i].id);
			if (ctl_http_call(&ctx->http, "GET", path, NULL, &msg, errstr,
			                  sizeof(errstr)) < 0) {
				ctl_e2e_progress_end(ctx, tty);
				return ctl_cmd_fail(ctx, "%s", errstr);
			}
			ctl_e2e_judge(&msgs[i], msg);
			json_decref(msg);
			if (msgs[i].state != CTL_E2E_WAITING)
				(*settled)++;
		}
		ctl_e2e_progress(ctx, tty, "acknowledged", *settled, n, t0);
		if (*settled == n || ctl_e2e_now() >= deadline)
			break;
		usleep(CTL_E2E_POLL_MS * 1000);
	}
	ctl_e2e_progress_end(ctx, tty);
	return 0;
}

static int ctl_e2e_run(struct ctl_ctx *ctx, const struct ctl_args *args)
{
	const char *timeout_text = ctl_args_get(args, "timeout");
	bool batching = ctl_args_has(args, "batching"), tty = isatty(fileno(ctx->err)) == 1;
	struct ctl_e2e_msg *msgs = NULL;
	json_t *topic = NULL, *groups = NULL, *out = NULL;
	double *lat = NULL, t_send, send_s, wait_s, p50 = 0, p90 = 0, p99 = 0, pmax = 0;
	int64_t count = 100, timeout_ms;
	size_t i, settled = 0, done = 0, failed = 0, n_lat = 0;
	const char *topic_name, *first_error = NULL;
	char errstr[256], *group_list = NULL;
	bool pass;
	int rc;

	if (ctl_args_get(args, "count") &&
	    ctl_args_parse_int(ctl_args_get(args, "count"), "--count", 1, 100000, &count, errstr,
	                       sizeof(errstr)) != 0)
		return ctl_cmd_usage_error(ctx, "%s", errstr);
	if (timeout_text == NULL)
		timeout_text = CTL_E2E_DEFAULT_TIMEOUT;
	if (ctl_args_parse_duration(timeout_text, "--timeout", &timeout_ms, errstr,
	                            sizeof(errstr)) != 0)
		return ctl_cmd_usage_error(ctx, "%s", errstr);
	rc = ctl_e2e_topic(ctx, ctl_args_get(args, "topic"), &topic);
	if (rc != 0)
		return rc;
	topic_name = json_string_value(json_object_get(topic, "topicName"));
	groups = ctl_e2e_active_groups(topic);
	group_list = ctl_e2e_join(groups);
	msgs = calloc((size_t)count, sizeof(*msgs));
	lat = calloc((size_t)count, sizeof(*lat));
	if (msgs == NULL || lat == NULL || group_list == NULL) {
		rc = ctl_cmd_fail(ctx, "out of memory");
		goto done;
	}
	if (!ctx->json)
		fprintf(ctx->out, "e2e: %" PRId64 " message(s) to %s (groups: %s), batching %s\n",
		        count, topic_name, group_list, batching ? "on" : "off");
	fflush(ctx->out);
	t_send = ctl_e2e_now();
	rc = ctl_e2e_send(ctx, topic_name, batching, msgs, (size_t)count, tty);
	if (rc != 0)
		goto done;
	send_s = ctl_e2e_now() - t_send;
	if (!ctx->json)
		fprintf(ctx->out, "sent %" PRId64 " in %.2fs (%.0f msg/s)\n", count, send_s,
		        send_s > 0 ? (double)count / send_s : 0);
	fflush(ctx->out);
	rc = ctl_e2e_wait(ctx, msgs, (size_t)count, timeout_ms, tty, &settled);
	if (rc != 0)
		goto done;
	wait_s = ctl_e2e_now() - t_send;
	for (i = 0; i < (size_t)count; i++) {
		if (msgs[i].state == CTL_E2E_DONE) {
			done++;
			lat[n_lat++] = msgs[i].latency_ms;
		} else if (msgs[i].state == CTL_E2E_FAILED) {
			failed++;
			if (first_error == NULL)
				first_error = msgs[i].error;
		}
	}
	ctl_stats_sort(lat, n_lat);
	if (n_lat > 0) {
		p50 = ctl_stats_percentile(lat, n_lat, 50);
		p90 = ctl_stats_percentile(lat, n_lat, 90);
		p99 = ctl_stats_percentile(lat, n_lat, 99);
		pmax = lat[n_lat - 1];
	}
	pass = done == (size_t)count;
	if (ctx->json) {
		out = json_pack(
		    "{s:s, s:O, s:I, s:b, s:f, s:f, s:I, s:I, s:I, s:{s:f, s:f, s:f, s:f}, "
		    "s:s?, s:b}",
		    "topic", topic_name, "groups", groups, "count", (json_int_t)count, "batching",
		    batching, "sendSeconds", send_s, "totalSeconds", wait_s, "acknowledged",
		    (json_int_t)done, "failed", (json_int_t)failed, "timedOut",
		    (json_int_t)((size_t)count - done - failed), "latencyMs", "p50", p50, "p90",
		    p90, "p99", p99, "max", pmax, "firstError", first_error, "pass", pass);
		ctl_cmd_print_json(ctx, out);
	} else {
		fprintf(ctx->out, "acknowledged by every group: %zu/%" PRId64 " after %.2fs\n",
		        done, count, wait_s);
		if (n_lat > 0)
			fprintf(
			    ctx->out,
			    "latency, send to all acknowledged: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, "
			    "max %.0f ms\n",
			    p50, p90, p99, pmax);
		if (first_error)
			fprintf(ctx->out, "first failure: message %s\n", first_error);
		if (pass)
			fprintf(ctx->out,
			        "PASS: %zu/%" PRId64 " messages acknowledged by every group\n",
			        done, count);
		else
			fprintf(ctx->out,
			        "FAIL: %zu/%" PRId64
			        " acknowledged, %zu failed, %zu not acknowledged "
			        "within %s\n",
			        done, count, failed, (size_t)count - done - failed, timeout_text);
	}
	rc = pass ? CTL_EXIT_OK : CTL_EXIT_FAIL;
done:
	json_decref(out);
	free(group_list);
	free(lat);
	free(msgs);
	json_decref(groups);
	json_decref(topic);
	return rc;
}

static const struct ctl_command ctl_e2e_commands[] = {
    {"e2e", NULL, "end-to-end test: send N messages, wait for every group's ack, print latency",
     "A progress bar is drawn on stderr when it is a terminal. Exit 0 on PASS, 1 on FAIL.\n"
     "Example:\n"
     "  ferryctl e2e --count 1000 --batching --timeout 5m",
     ctl_e2e_opts, sizeof(ctl_e2e_opts) / sizeof(ctl_e2e_opts[0]), 0, 0, ctl_e2e_run},
};
const struct ctl_cmd_module ctl_cmd_e2e_module = {ctl_e2e_commands, CTL_N(ctl_e2e_commands)};
