/*
 * kafka_auth.c - see kafka_auth.h.
 */
#include "common/kafka_auth.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/kafka_secret.h"
#include "common/log.h"

/* When the last authentication failure was seen (clock_monotonic_ms), 0 for never. */
static _Atomic int64_t kafka_auth_last_failure_ms;

void kafka_auth_note(rd_kafka_resp_err_t err, const char *reason)
{
	char text[512];

	if (err != RD_KAFKA_RESP_ERR__AUTHENTICATION)
		return;
	snprintf(text, sizeof(text), "%s", reason ? reason : "");
	kafka_secret_scrub_env(text, sizeof(text));
	atomic_store(&kafka_auth_last_failure_ms, clock_monotonic_ms());
	log_error("kafka",
	          "Kafka authentication failed: %s (health answers 503 while this lasts; "
	          "librdkafka keeps retrying; check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD)",
	          text);
}

bool kafka_auth_failing(void)
{
	int64_t last = atomic_load(&kafka_auth_last_failure_ms);

	return last != 0 && clock_monotonic_ms() - last < KAFKA_AUTH_FAILING_MS;
}

/* What the probe's error callback saw; the callback runs in the probing thread (rd_kafka_poll). */
struct kafka_auth_probe_state {
	rd_kafka_resp_err_t refused; /* __AUTHENTICATION or __SSL, else NO_ERROR */
	bool all_down;               /* every broker unreachable */
	char reason[512];            /* librdkafka's text for `refused`, scrubbed */
};

static void kafka_auth_probe_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_auth_probe_state *st = opaque;

	(void)rk;
	if ((err == RD_KAFKA_RESP_ERR__AUTHENTICATION || err == RD_KAFKA_RESP_ERR__SSL) &&
	    st->refused == RD_KAFKA_RESP_ERR_NO_ERROR) {
		st->refused = (rd_kafka_resp_err_t)err;
		snprintf(st->reason, sizeof(st->reason), "%s", reason ? reason : "");
		kafka_secret_scrub_env(st->reason, sizeof(st->reason));
	} else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		st->all_down = true;
	}
}

/* conf's value of `name`, or "" */
static void kafka_auth_conf_get(rd_kafka_conf_t *conf, const char *name, char *out, size_t out_size)
{
	size_t size = out_size;

	if (rd_kafka_conf_get(conf, name, out, &size) != RD_KAFKA_CONF_OK)
		out[0] = '\0';
}

int kafka_auth_probe(rd_kafka_conf_t *conf, int timeout_ms, char *errstr, size_t errstr_size)
{
	struct kafka_auth_probe_state st = {RD_KAFKA_RESP_ERR_NO_ERROR, false, ""};
	char protocol[32], user[256], mechanism[64], bootstrap[512], rkerr[512];
	rd_kafka_t *rk = NULL;
	int64_t deadline, down_since = 0;
	int rc = 0;

	kafka_auth_conf_get(conf, "security.protocol", protocol, sizeof(protocol));
	kafka_auth_conf_get(conf, "sasl.username", user, sizeof(user));
	kafka_auth_conf_get(conf, "sasl.mechanisms", mechanism, sizeof(mechanism));
	kafka_auth_conf_get(conf, "bootstrap.servers", bootstrap, sizeof(bootstrap));
	if (protocol[0] == '\0' || strcasecmp(protocol, "plaintext") == 0) {
		rd_kafka_conf_destroy(conf);
		return 0;
	}
	rd_kafka_conf_set_opaque(conf, &st);
	rd_kafka_conf_set_error_cb(conf, kafka_auth_probe_error_cb);
	/* The verdict below is the one line; librdkafka's own log lines would repeat it. */
	(void)rd_kafka_conf_set(conf, "log_level", "0", rkerr, sizeof(rkerr));
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf); /* rd_kafka_new owns conf only on success */
		kafka_secret_scrub_env(rkerr, sizeof(rkerr));
		snprintf(errstr, errstr_size, "Kafka client: %s", rkerr);
		return -1;
	}
	deadline = clock_monotonic_ms() + timeout_ms;
	while (clock_monotonic_ms() < deadline) {
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, 200);

		if (md != NULL)
			rd_kafka_metadata_destroy(md);
		rd_kafka_poll(rk, 0); /* serves the error callback */
		if (st.refused != RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			goto done;
		/* All brokers down with no refusal: an outage. A moment's grace lets a refusal
		 * that closed the connection arrive first. */
		if (st.all_down && down_since == 0)
			down_since = clock_monotonic_ms();
		if (down_since != 0 && clock_monotonic_ms() - down_since >= 500) {
			log_warn("kafka",
			         "Kafka at %s is not reachable; starting anyway (sends wait "
			         "PENDING until it is)",
			         bootstrap);
			goto done;
		}
	}
	if (st.refused == RD_KAFKA_RESP_ERR__AUTHENTICATION &&
	    strncasecmp(protocol, "sasl", 4) == 0) {
		snprintf(errstr, errstr_size,
		         "Kafka authentication failed for user %s at %s (SASL/%s): check "
		         "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
		         user[0] ? user : "(none)", bootstrap, mechanism[0] ? mechanism : "?");
		rc = -1;
	} else if (st.refused == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
		snprintf(errstr, errstr_size,
		         "Kafka authentication failed at %s (TLS client certificate): %s: check "
		         "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION",
		         bootstrap, st.reason);
		rc = -1;
	} else if (st.refused == RD_KAFKA_RESP_ERR__SSL) {
		snprintf(
		    errstr, errstr_size,
		    "Kafka TLS handshake failed at %s: %s: check KAFKA_SSL_CA_LOCATION and the "
		    "other KAFKA_SSL_* settings",
		    bootstrap, st.reason);
		rc = -1;
	} else {
		log_warn("kafka", "no answer from Kafka at %s within %d ms; starting anyway",
		         bootstrap, timeout_ms);
	}
done:
	rd_kafka_destroy(rk);
	return rc;
}
