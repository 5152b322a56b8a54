/*
 * kafka_conf.h - builds librdkafka configurations the same way for every ferry client.
 *
 * Order of precedence, lowest first: ferry's defaults for the role, the bootstrap servers from
 * ConnectionStrings__Kafka, then every KAFKA_* environment variable the user set (passed
 * through verbatim, so TLS and SASL need no code). librdkafka's own error text is reported
 * verbatim when it rejects a property. librdkafka's log lines go into ferry's logger.
 *
 * Some defaults are not tunables: ferry's guarantees rest on them (a producer's
 * enable.idempotence=true and acks=all, a consumer's enable.auto.offset.store=false, ...). Those
 * are marked KAFKA_CONF_FIXED (or KAFKA_CONF_AT_MOST), and a KAFKA_* variable that would change
 * them, under any of librdkafka's names for the property, stops the build with one line naming
 * the variable. The value is read back after every pass-through, so aliases
 * (request.required.acks for acks) are caught too; setting the same value is allowed.
 */
#ifndef FERRY_KAFKA_CONF_H
#define FERRY_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "common/config.h"

enum kafka_conf_rule {
	KAFKA_CONF_TUNABLE = 0, /* a default: KAFKA_* may override it */
	KAFKA_CONF_FIXED,       /* must keep `value` (as librdkafka reads it back) */
	KAFKA_CONF_AT_MOST,     /* an integer that must stay <= `value` */
};

struct kafka_conf_default {
	const char *name;          /* librdkafka property */
	const char *value;         /* ferry's value */
	enum kafka_conf_rule rule; /* whether KAFKA_* may change it */
};

/*
 * Returns a new rd_kafka_conf_t (caller owns it until handed to rd_kafka_new) holding
 * `defaults` (n_defaults entries), bootstrap.servers=`bootstrap`, then the KAFKA_* pass-through
 * of the environment (skipping the env names of `settings`, which are ferry's own), and
 * ferry's log callback. On a rejected property returns NULL with errstr such as
 * "KAFKA_SECURITY_PROTOCOL (security.protocol=tls): Invalid value ..."; on a variable that
 * changes a fixed default, NULL with errstr such as "KAFKA_ENABLE_AUTO_OFFSET_STORE
 * (enable.auto.offset.store=true): ferry requires enable.auto.offset.store=false ...".
 */
rd_kafka_conf_t *kafka_conf_build(const char *bootstrap, const struct kafka_conf_default *defaults,
                                  size_t n_defaults, const struct config_setting *settings,
                                  size_t n_settings, char *errstr, size_t errstr_size);

#endif
