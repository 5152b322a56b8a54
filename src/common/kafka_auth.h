/*
 * kafka_auth.h - a Kafka authentication failure is a configuration error, not an outage.
 *
 * At start-up, kafka_auth_probe() connects once with the service's settings: a broker that
 * refuses the credentials (or the TLS handshake) ends the start with one line naming the user,
 * the bootstrap address and the setting to check, while a broker that is merely down does not
 * (sends wait PENDING until it is back, as always). After start-up every Kafka client's error
 * callback reports to kafka_auth_note(): an authentication failure (a password rotated on the
 * broker) is logged as an error, health answers 503 while kafka_auth_failing() holds, and
 * librdkafka keeps reconnecting, so service resumes by itself once the credentials match again.
 */
#ifndef FERRY_KAFKA_AUTH_H
#define FERRY_KAFKA_AUTH_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* How long after the last authentication failure kafka_auth_failing() stays true. librdkafka
 * retries a refused connection every reconnect.backoff.max.ms (10 s) but reports identical
 * errors only about every 30 s (measured with 2.0.2), so twice that keeps a persisting failure
 * true without a gap. */
#define KAFKA_AUTH_FAILING_MS 60000

/*
 * Records an error from any Kafka client's error callback (any thread). An authentication
 * failure is logged as an error (its text scrubbed of secrets) and remembered for
 * kafka_auth_failing(); other errors are ignored here.
 */
void kafka_auth_note(rd_kafka_resp_err_t err, const char *reason);

/* True while the last authentication failure is younger than KAFKA_AUTH_FAILING_MS. */
bool kafka_auth_failing(void);

/*
 * The start-up check. Takes ownership of `conf` (built by kafka_conf_build; its callbacks and
 * opaque are replaced). When security.protocol is plaintext there is nothing to authenticate
 * and it returns 0 at once. Otherwise it connects and asks for metadata for at most
 * timeout_ms: returns 0 when the broker answers, and also when it cannot be reached at all
 * (a warning is logged: Kafka down is not fatal); returns -1 with errstr such as "Kafka
 * authentication failed for user ferry at 127.0.0.1:9192 (SASL/SCRAM-SHA-512): check
 * KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" when the broker refused the credentials or the
 * TLS handshake. No secret value appears in errstr.
 */
int kafka_auth_probe(rd_kafka_conf_t *conf, int timeout_ms, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
