/*
 * agent_client.c - see agent_client.h.
 */
#include "consumer/agent_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/http_client.h"
#include "common/log.h"
#include "consumer/consumer_config.h"
#include "ferry/wire.h"

#define AGENT_CLIENT_TIMEOUT_MS 5000

struct agent_client {
	char *base;
	char *auth_header; /* "Authorization: Bearer <ProducerService__ApiKey>", or NULL */
	char *service_id;
	char *instance_id;
	char *host;
	char *version;
	int port;
	long interval_s;
	const struct consumer_groups *groups;
	struct consume_loop *const *loops;
	bool registered[CONSUMER_MAX_GROUPS];
	bool warned; /* a failure was logged at warn; the next ones go to debug */

	CURL *curl;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop; /* under mu */
};

/* The abort hook of a registration or heartbeat (http_client.h): the client is stopping, so a
 * producer that does not answer cannot hold the shutdown for AGENT_CLIENT_TIMEOUT_MS. */
static bool agent_client_stopping(void *arg)
{
	struct agent_client *a = arg;
	bool stop;

	pthread_mutex_lock(&a->mu);
	stop = a->stop;
	pthread_mutex_unlock(&a->mu);
	return stop;
}

/* POSTs body to base+path, aborted when the client stops if `abortable`. Returns the HTTP
 * status, or 0 on a transport error. */
static long agent_client_post(struct agent_client *a, const char *path, json_t *body,
                              long timeout_ms, bool abortable)
{
	char url[1024], errstr[512];
	char *text = json_dumps(body, JSON_COMPACT);
	long status = 0;
	const char *auth_headers[] = {a->auth_header, NULL}; /* empty when no key */

	json_decref(body);
	if (text == NULL)
		return 0;
	snprintf(url, sizeof(url), "%s%s", a->base, path);
	if (http_client_post_json_abortable(a->curl, url, text, auth_headers, timeout_ms,
	                                    abortable ? agent_client_stopping : NULL, a,
	                                    "shutting down", &status, NULL, errstr,
	                                    sizeof(errstr)) != 0)
		status = 0;
	if (status < 200 || status > 299) {
		char why[600];

		if (status)
			snprintf(why, sizeof(why), "HTTP %ld", status);
		else
			snprintf(why, sizeof(why), "%s", errstr);
		if (!a->warned)
			log_warn("agent", "%s: %s (will retry every %ld s)", url, why,
			         a->interval_s);
		else
			log_debug("agent", "%s: %s", url, why);
		a->warned = true;
	} else {
		a->warned = false;
	}
	free(text);
	return status;
}

static void agent_client_register(struct agent_client *a, size_t g)
{
	const struct consumer_group_config *cg = &a->groups->v[g];
	json_t *topics = json_array();
	size_t i;
	long status;

	for (i = 0; i < cg->topic_count; i++)
		json_array_append_new(topics, json_string(cg->topics[i]));
	status = agent_client_post(
	    a, FERRY_PATH_AGENT_REGISTER,
	    json_pack("{s:s, s:s, s:s, s:o, s:s, s:i, s:s}", FERRY_AGENT_SERVICE_ID, a->service_id,
	              FERRY_AGENT_INSTANCE_ID, a->instance_id, FERRY_AGENT_CONSUMER_GROUP, cg->name,
	              FERRY_AGENT_TOPICS, topics, FERRY_AGENT_HOST, a->host, FERRY_AGENT_PORT,
	              a->port, FERRY_AGENT_VERSION, a->version),
	    AGENT_CLIENT_TIMEOUT_MS, true);
	a->registered[g] = status >= 200 && status <= 299;
	if (a->registered[g])
		log_info("agent", "registered group %s with the producer service", cg->name);
}

static void agent_client_heartbeat(struct agent_client *a, size_t g)
{
	struct consume_loop_status st;
	long status;
	char details[256];

	consume_loop_status(a->loops[g], &st);
	snprintf(details, sizeof(details), "assigned=%d processed=%lld failed=%lld duplicates=%lld",
	         st.assigned_partitions, (long long)st.processed, (long long)st.failed,
	         (long long)st.duplicates);
	status = agent_client_post(
	    a, FERRY_PATH_AGENT_HEARTBEAT,
	    json_pack(
	        "{s:s, s:s, s:s, s:b, s:{s:i, s:o, s:I, s:I, s:I, s:s}}", FERRY_AGENT_SERVICE_ID,
	        a->service_id, FERRY_AGENT_INSTANCE_ID, a->instance_id, FERRY_AGENT_CONSUMER_GROUP,
	        a->groups->v[g].name, FERRY_AGENT_HEALTHY, st.running, FERRY_AGENT_DETAILS,
	        FERRY_AGENT_DETAILS_ASSIGNED_PARTITIONS, st.assigned_partitions,
	        FERRY_AGENT_DETAILS_PARTITIONS, consume_loop_assignment(a->loops[g]),
	        FERRY_AGENT_DETAILS_PROCESSED, (json_int_t)st.processed, FERRY_AGENT_DETAILS_FAILED,
	        (json_int_t)st.failed, FERRY_AGENT_DETAILS_DUPLICATES, (json_int_t)st.duplicates,
	        FERRY_AGENT_DETAILS_SUMMARY, details),
	    AGENT_CLIENT_TIMEOUT_MS, true);
	if (status == 404)
		agent_client_register(a, g);
}

static void *agent_client_main(void *arg)
{
	struct agent_client *a = arg;
	size_t g;

	for (;;) {
		struct timespec ts;
		bool stop;

		for (g = 0; g < a->groups->n && !agent_client_stopping(a); g++) {
			if (!a->registered[g])
				agent_client_register(a, g);
			else
				agent_client_heartbeat(a, g);
		}
		pthread_mutex_lock(&a->mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += a->interval_s;
		while (!a->stop && pthread_cond_timedwait(&a->cond, &a->mu, &ts) == 0)
			;
		stop = a->stop;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
	}
	return NULL;
}

struct agent_client *agent_client_new(const struct agent_client_options *opts)
{
	struct agent_client *a = calloc(1, sizeof(*a));
	size_t len;

	if (a == NULL)
		return NULL;
	pthread_mutex_init(&a->mu, NULL);
	clock_cond_init_monotonic(&a->cond);
	len = strlen(opts->producer_url);
	while (len > 0 && opts->producer_url[len - 1] == '/')
		len--;
	a->base = strndup(opts->producer_url, len);
	a->service_id = strdup(opts->service_id);
	a->instance_id = strdup(opts->instance_id);
	a->host = strdup(opts->host);
	a->version = strdup(opts->version);
	a->curl = curl_easy_init();
	a->auth_header = http_client_bearer_header(opts->api_key);
	a->port = opts->port;
	a->interval_s = opts->interval_s;
	a->groups = opts->groups;
	a->loops = opts->loops;
	if (!a->base || !a->service_id || !a->instance_id || !a->host || !a->version || !a->curl ||
	    (opts->api_key != NULL && opts->api_key[0] != '\0' && a->auth_header == NULL)) {
		agent_client_stop_and_destroy(a, 0);
		return NULL;
	}
	return a;
}

int agent_client_start(struct agent_client *a, char *errstr, size_t errstr_size)
{
	int err = pthread_create(&a->thread, NULL, agent_client_main, a);

	if (err != 0) {
		snprintf(errstr, errstr_size, "cannot start the agent thread: %s", strerror(err));
		return -1;
	}
	a->started = true;
	return 0;
}

void agent_client_stop_and_destroy(struct agent_client *a, long timeout_ms)
{
	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
		if (timeout_ms > 0) {
			long status = agent_client_post(
			    a, FERRY_PATH_AGENT_DEREGISTER,
			    json_pack("{s:s, s:s}", FERRY_AGENT_SERVICE_ID, a->service_id,
			              FERRY_AGENT_INSTANCE_ID, a->instance_id),
			    timeout_ms, false);

			if (status >= 200 && status <= 299)
				log_info("agent", "deregistered from the producer service");
		}
	}
	if (a->curl)
		curl_easy_cleanup(a->curl);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cond);
	free(a->base);
	free(a->auth_header);
	free(a->service_id);
	free(a->instance_id);
	free(a->host);
	free(a->version);
	free(a);
}

void agent_client_options_from_config(const struct consumer_config *cfg,
                                      struct agent_client_options *out)
{
	*out = (struct agent_client_options){
	    .producer_url = cfg->producer_url,
	    .api_key = cfg->producer_api_key,
	    .service_id = cfg->service_id,
	    .interval_s = cfg->heartbeat_interval_s,
	};
}
