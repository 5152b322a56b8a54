/*
 * kafka_conf.c - see kafka_conf.h.
 */
#include "common/kafka_conf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kafka_auth.h"
#include "common/kafka_secret.h"
#include "common/log.h"

static void kafka_conf_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug. */
	enum log_level lvl = level <= 3   ? LOG_LEVEL_ERROR
	                     : level == 4 ? LOG_LEVEL_WARN
	                     : level <= 6 ? LOG_LEVEL_INFO
	                                  : LOG_LEVEL_DEBUG;
	char text[1024];

	if ((int)lvl < log_threshold)
		return;
	/* librdkafka's debug lines may echo the configuration (debug=conf), secrets included. */
	snprintf(text, sizeof(text), "%s", buf);
	kafka_secret_scrub_env(text, sizeof(text));
	LOG_AT(lvl, "librdkafka", NULL, "%s %s: %s", rk ? rd_kafka_name(rk) : "-", fac, text);
}

/* Every client's errors, unless its module sets its own callback (the relay's calls
 * kafka_auth_note too). An authentication failure is noted for health (and logged there);
 * anything else is a warning: librdkafka reconnects by itself. */
static void kafka_conf_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char text[512];

	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
		kafka_auth_note((rd_kafka_resp_err_t)err, reason);
		return;
	}
	snprintf(text, sizeof(text), "%s", reason ? reason : "");
	kafka_secret_scrub_env(text, sizeof(text));
	log_warn("kafka", "%s: %s: %s", rd_kafka_name(rk),
	         rd_kafka_err2name((rd_kafka_resp_err_t)err), text);
}

#define KAFKA_CONF_VALUE_MAX 128

struct kafka_conf_passthrough_ctx {
	rd_kafka_conf_t *conf;
	const struct kafka_conf_default *defaults;
	size_t n_defaults;
	char (*fixed)[KAFKA_CONF_VALUE_MAX]; /* read-back value of each default after setting it */
};

/* The variable the user actually wrote for a property (KAFKA_ + upper case, '.' -> '_'). */
static void kafka_conf_env_name(const char *name, char *env, size_t env_size)
{
	size_t i;

	snprintf(env, env_size, "KAFKA_%s", name);
	for (i = 6; env[i]; i++)
		env[i] = env[i] == '.' ? '_' : (char)toupper((unsigned char)env[i]);
}

/*
 * After a pass-through: 0 when every fixed default still reads back as ferry set it, else -1
 * with errstr. Reading back (instead of comparing names) also catches librdkafka's aliases.
 */
static int kafka_conf_check_fixed(struct kafka_conf_passthrough_ctx *ctx, const char *env,
                                  const char *name, const char *value, char *errstr,
                                  size_t errstr_size)
{
	size_t i;

	for (i = 0; i < ctx->n_defaults; i++) {
		const struct kafka_conf_default *d = &ctx->defaults[i];
		char now[KAFKA_CONF_VALUE_MAX];
		size_t now_size = sizeof(now);
		bool broken;

		if (d->rule == KAFKA_CONF_TUNABLE)
			continue;
		if (rd_kafka_conf_get(ctx->conf, d->name, now, &now_size) != RD_KAFKA_CONF_OK)
			now[0] = '\0';
		if (d->rule == KAFKA_CONF_AT_MOST)
			broken = strtoll(now, NULL, 10) > strtoll(d->value, NULL, 10);
		else
			broken = strcmp(now, ctx->fixed[i]) != 0;
		if (broken) {
			snprintf(
			    errstr, errstr_size,
			    "%s (%s=%s): ferry requires %s%s%s, its guarantees rest on it; remove "
			    "the variable (docs/configuration.md, \"Kafka settings ferry fixes\")",
			    env, name, value, d->name, d->rule == KAFKA_CONF_AT_MOST ? " <= " : "=",
			    d->value);
			return -1;
		}
	}
	return 0;
}

static int kafka_conf_set_one(const char *name, const char *value, void *opaque, char *errstr,
                              size_t errstr_size)
{
	struct kafka_conf_passthrough_ctx *ctx = opaque;
	char rkerr[512], env[256];
	/* A secret is never shown, and librdkafka's text quoting a rejected value is scrubbed. */
	const char *shown = kafka_secret_property(name) ? KAFKA_SECRET_MASK : value;

	/* Name the variable the user actually wrote, not only the property. */
	kafka_conf_env_name(name, env, sizeof(env));
	if (rd_kafka_conf_set(ctx->conf, name, value, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "%s (%s=%s): %s", env, name, shown, rkerr);
		kafka_secret_scrub_env(errstr, errstr_size);
		return -1;
	}
	if (kafka_conf_check_fixed(ctx, env, name, shown, errstr, errstr_size) != 0)
		return -1;
	log_debug("kafka", "pass-through %s=%s", name, shown);
	return 0;
}

rd_kafka_conf_t *kafka_conf_build(const char *bootstrap, const struct kafka_conf_default *defaults,
                                  size_t n_defaults, const struct config_setting *settings,
                                  size_t n_settings, char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	struct kafka_conf_passthrough_ctx ctx = {conf, defaults, n_defaults, NULL};
	char rkerr[512] = "";
	size_t i;

	ctx.fixed = calloc(n_defaults ? n_defaults : 1, sizeof(*ctx.fixed));
	if (ctx.fixed == NULL) {
		snprintf(errstr, errstr_size, "out of memory building a Kafka configuration");
		goto fail;
	}
	for (i = 0; i < n_defaults; i++) {
		size_t size = sizeof(ctx.fixed[i]);

		if (rd_kafka_conf_set(conf, defaults[i].name, defaults[i].value, rkerr,
		                      sizeof(rkerr)) != RD_KAFKA_CONF_OK ||
		    rd_kafka_conf_get(conf, defaults[i].name, ctx.fixed[i], &size) !=
		        RD_KAFKA_CONF_OK) {
			snprintf(errstr, errstr_size, "built-in Kafka default %s=%s rejected: %s",
			         defaults[i].name, defaults[i].value, rkerr);
			goto fail;
		}
	}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, rkerr, sizeof(rkerr)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "ConnectionStrings__Kafka: %s", rkerr);
		goto fail;
	}
	if (config_kafka_passthrough(settings, n_settings, kafka_conf_set_one, &ctx, errstr,
	                             errstr_size) != 0)
		goto fail;
	rd_kafka_conf_set_log_cb(conf, kafka_conf_log_cb);
	rd_kafka_conf_set_error_cb(conf, kafka_conf_error_cb);
	free(ctx.fixed);
	return conf;
fail:
	free(ctx.fixed);
	rd_kafka_conf_destroy(conf);
	return NULL;
}
