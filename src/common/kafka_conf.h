/*
 * kafka_conf.h - builds librdkafka configurations the same way for every ferry client.
 *
 * Order of precedence, lowest first: ferry's defaults for the role (for a producer:
 * enable.idempotence=true, acks=all, ...), the bootstrap servers from
 * ConnectionStrings__Kafka, then every KAFKA_* environment variable the user set (passed
 * through verbatim, so TLS and SASL need no code). librdkafka's own error text is reported
 * verbatim when it rejects a property. librdkafka's log lines go into ferry's logger.
 */
#ifndef FERRY_KAFKA_CONF_H
#define FERRY_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "common/config.h"

struct kafka_conf_default {
	const char *name; /* librdkafka property */
	const char *value;
};

/*
 * Returns a new rd_kafka_conf_t (caller owns it until handed to rd_kafka_new) holding
 * `defaults` (n_defaults entries), bootstrap.servers=`bootstrap`, then the KAFKA_* pass-through
 * of the environment (skipping the env names of `settings`, which are ferry's own), and
 * ferry's log callback. On a rejected property returns NULL with errstr such as
 * "KAFKA_SECURITY_PROTOCOL (security.protocol=tls): Invalid value ...".
 */
rd_kafka_conf_t *kafka_conf_build(const char *bootstrap, const struct kafka_conf_default *defaults,
                                  size_t n_defaults, const struct config_setting *settings,
                                  size_t n_settings, char *errstr, size_t errstr_size);

#endif
