/*
 * kafka_conf.c - see kafka_conf.h.
 */
#include "common/kafka_conf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

static void kafka_conf_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* syslog levels: 0-3 error, 4 warning, 5-6 notice/info, 7 debug. */
	enum log_level lvl = level <= 3   ? LOG_LEVEL_ERROR
	                     : level == 4 ? LOG_LEVEL_WARN
	                     : level <= 6 ? LOG_LEVEL_INFO
	                                  : LOG_LEVEL_DEBUG;

	LOG_AT(lvl, "librdkafka", NULL, "%s %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

struct kafka_conf_passthrough_ctx {
	rd_kafka_conf_t *conf;
};

static int kafka_conf_set_one(const char *name, const char *value, void *opaque, char *errstr,
                              size_t errstr_size)
{
	struct kafka_conf_passthrough_ctx *ctx = opaque;
	char rkerr[512];

	if (rd_kafka_conf_set(ctx->conf, name, value, rkerr, sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
		char env[256];
		size_t i;

		/* Name the variable the user actually wrote, not only the property. */
		snprintf(env, sizeof(env), "KAFKA_%s", name);
		for (i = 6; env[i]; i++)
			env[i] = env[i] == '.' ? '_' : (char)toupper((unsigned char)env[i]);
		snprintf(errstr, errstr_size, "%s (%s=%s): %s", env, name, value, rkerr);
		return -1;
	}
	log_debug("kafka", "pass-through %s=%s", name,
	          strstr(name, "password") || strstr(name, "secret") ? "***" : value);
	return 0;
}

rd_kafka_conf_t *kafka_conf_build(const char *bootstrap, const struct kafka_conf_default *defaults,
                                  size_t n_defaults, const struct config_setting *settings,
                                  size_t n_settings, char *errstr, size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	struct kafka_conf_passthrough_ctx ctx = {conf};
	char rkerr[512];
	size_t i;

	for (i = 0; i < n_defaults; i++) {
		if (rd_kafka_conf_set(conf, defaults[i].name, defaults[i].value, rkerr,
		                      sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
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
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}
