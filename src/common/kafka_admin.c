/*
 * kafka_admin.c - see kafka_admin.h.
 *
 * Each call makes a temporary queue, sends its request with that queue as the reply queue and
 * polls only it: the answer cannot go to another thread's call, so no lock is needed.
 */
#include "common/kafka_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The result event is awaited for the whole timeout; the request's own timeout is shorter by
 * this much (at most a fifth of it), so that a timed-out request is normally reported with
 * librdkafka's error rather than ours, and the call still returns within its timeout. */
#define KAFKA_ADMIN_POLL_SLACK_MS 2000

static int kafka_admin_request_timeout(int timeout_ms)
{
	int slack =
	    timeout_ms / 5 < KAFKA_ADMIN_POLL_SLACK_MS ? timeout_ms / 5 : KAFKA_ADMIN_POLL_SLACK_MS;

	return timeout_ms - slack > 0 ? timeout_ms - slack : 1;
}

struct kafka_admin {
	rd_kafka_t *rk; /* a producer handle used only for admin and metadata requests */
};

struct kafka_admin *kafka_admin_new(rd_kafka_conf_t *conf, char *errstr, size_t errstr_size)
{
	struct kafka_admin *admin = NULL;
	char rkerr[512];

	if (conf == NULL) {
		snprintf(errstr, errstr_size, "no Kafka configuration");
		return NULL;
	}
	/* Asking about a topic must never create it (a producer's default would let a broker
	 * with auto.create.topics.enable create it with the broker's partition count). */
	if (rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", rkerr, sizeof(rkerr)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "allow.auto.create.topics=false rejected: %s", rkerr);
		goto fail;
	}
	admin = calloc(1, sizeof(*admin));
	if (admin == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	admin->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
	if (admin->rk == NULL) {
		snprintf(errstr, errstr_size, "%s", rkerr);
		goto fail; /* rd_kafka_new owns conf only on success */
	}
	return admin;
fail:
	free(admin);
	rd_kafka_conf_destroy(conf);
	return NULL;
}

void kafka_admin_destroy(struct kafka_admin *admin)
{
	if (admin == NULL)
		return;
	rd_kafka_destroy(admin->rk);
	free(admin);
}

int kafka_admin_create_topic(struct kafka_admin *admin, const char *name, int partitions,
                             int timeout_ms, char *errstr, size_t errstr_size)
{
	rd_kafka_NewTopic_t *topic = NULL;
	rd_kafka_AdminOptions_t *options = NULL;
	rd_kafka_queue_t *queue = NULL;
	rd_kafka_event_t *ev = NULL;
	const rd_kafka_CreateTopics_result_t *result;
	const rd_kafka_topic_result_t **topics;
	rd_kafka_resp_err_t err;
	size_t n = 0;
	char rkerr[512];
	int rc = -1;

	/* -1: the broker's default replication factor (brokers >= 2.4). */
	topic = rd_kafka_NewTopic_new(name, partitions, -1, rkerr, sizeof(rkerr));
	if (topic == NULL) {
		snprintf(errstr, errstr_size, "%s", rkerr);
		goto done;
	}
	options = rd_kafka_AdminOptions_new(admin->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	if (options == NULL) {
		snprintf(errstr, errstr_size, "cannot allocate admin options");
		goto done;
	}
	/* The request's timeout, and how long the controller may take to create the topic
	 * before answering (so that "created" means the topic is there). */
	if (rd_kafka_AdminOptions_set_request_timeout(
	        options, kafka_admin_request_timeout(timeout_ms), rkerr, sizeof(rkerr)) !=
	        RD_KAFKA_RESP_ERR_NO_ERROR ||
	    rd_kafka_AdminOptions_set_operation_timeout(
	        options, kafka_admin_request_timeout(timeout_ms), rkerr, sizeof(rkerr)) !=
	        RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errstr_size, "%s", rkerr);
		goto done;
	}
	queue = rd_kafka_queue_new(admin->rk);
	if (queue == NULL) {
		snprintf(errstr, errstr_size, "cannot create a reply queue");
		goto done;
	}
	rd_kafka_CreateTopics(admin->rk, &topic, 1, options, queue);
	ev = rd_kafka_queue_poll(queue, timeout_ms);
	if (ev == NULL) {
		snprintf(errstr, errstr_size, "no answer to CreateTopics within %d ms", timeout_ms);
		rc = KAFKA_ADMIN_TIMED_OUT;
		goto done;
	}
	err = rd_kafka_event_error(ev);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errstr_size, "%s", rd_kafka_event_error_string(ev));
		if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
			rc = KAFKA_ADMIN_TIMED_OUT;
		goto done;
	}
	result = rd_kafka_event_CreateTopics_result(ev);
	topics = result ? rd_kafka_CreateTopics_result_topics(result, &n) : NULL;
	if (topics == NULL || n != 1) {
		snprintf(errstr, errstr_size, "unexpected CreateTopics result (%zu topics)", n);
		goto done;
	}
	err = rd_kafka_topic_result_error(topics[0]);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		rc = 0;
	} else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
		rc = 1;
	} else {
		const char *text = rd_kafka_topic_result_error_string(topics[0]);

		snprintf(errstr, errstr_size, "%s", text && *text ? text : rd_kafka_err2str(err));
		if (err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
		    err == RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
			rc = KAFKA_ADMIN_TIMED_OUT;
	}
done:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (queue)
		rd_kafka_queue_destroy(queue);
	if (options)
		rd_kafka_AdminOptions_destroy(options);
	if (topic)
		rd_kafka_NewTopic_destroy(topic);
	return rc;
}

int kafka_admin_topic_partitions(struct kafka_admin *admin, const char *name, int timeout_ms,
                                 char *errstr, size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t err;
	int rc = -1, i;

	/* A topic handle only names the topic for the request; it creates nothing. */
	rkt = rd_kafka_topic_new(admin->rk, name, NULL);
	if (rkt == NULL) {
		snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	err = rd_kafka_metadata(admin->rk, 0, rkt, &md, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(err));
		goto done;
	}
	for (i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];

		if (strcmp(t->topic, name) != 0)
			continue;
		if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errstr, errstr_size, "%s", rd_kafka_err2str(t->err));
			goto done;
		}
		if (t->partition_cnt < 1) {
			snprintf(errstr, errstr_size, "topic %s has no partitions yet", name);
			goto done;
		}
		rc = t->partition_cnt;
		goto done;
	}
	snprintf(errstr, errstr_size, "%s",
	         rd_kafka_err2str(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
done:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return rc;
}
