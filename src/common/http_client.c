/*
 * http_client.c - see http_client.h.
 */
#include "common/http_client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The process's TLS files (http_client_set_tls): "" = not set. Written before threads start,
 * read-only afterwards. */
static struct {
	char ca_file[PATH_MAX];
	char cert_file[PATH_MAX];
	char key_file[PATH_MAX];
} http_client_tls_files;

static bool http_client_is_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* 0 when `path` is unset or readable; else -1 with errstr "<what> <path>: <reason>". */
static int http_client_check_file(const char *what, const char *path, char *errstr,
                                  size_t errstr_size)
{
	FILE *f;

	if (!http_client_is_set(path))
		return 0;
	if (strlen(path) >= PATH_MAX) {
		snprintf(errstr, errstr_size, "%s path is too long", what);
		return -1;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(errstr, errstr_size, "%s %s: cannot read: %s", what, path,
		         strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

int http_client_set_tls(const struct http_client_tls *tls, char *errstr, size_t errstr_size)
{
	if (http_client_is_set(tls->cert_file) != http_client_is_set(tls->key_file)) {
		snprintf(errstr, errstr_size,
		         "a client certificate needs its key and a key its certificate (got %s "
		         "only)",
		         http_client_is_set(tls->cert_file) ? "the certificate" : "the key");
		return -1;
	}
	if (http_client_check_file("CA file", tls->ca_file, errstr, errstr_size) != 0 ||
	    http_client_check_file("client certificate file", tls->cert_file, errstr,
	                           errstr_size) != 0 ||
	    http_client_check_file("client key file", tls->key_file, errstr, errstr_size) != 0)
		return -1;
	snprintf(http_client_tls_files.ca_file, PATH_MAX, "%s", tls->ca_file ? tls->ca_file : "");
	snprintf(http_client_tls_files.cert_file, PATH_MAX, "%s",
	         tls->cert_file ? tls->cert_file : "");
	snprintf(http_client_tls_files.key_file, PATH_MAX, "%s",
	         tls->key_file ? tls->key_file : "");
	return 0;
}

/* TLS options after curl_easy_reset: verification on (libcurl's default, said again so no
 * one mistakes it for an omission), TLS 1.2 at least, and the process's files. */
static void http_client_apply_tls(CURL *curl)
{
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (http_client_tls_files.ca_file[0] != '\0')
		curl_easy_setopt(curl, CURLOPT_CAINFO, http_client_tls_files.ca_file);
	if (http_client_tls_files.cert_file[0] != '\0') {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, http_client_tls_files.cert_file);
		curl_easy_setopt(curl, CURLOPT_SSLKEY, http_client_tls_files.key_file);
	}
}

/* TLS failures, whose generic text ("SSL peer certificate or SSH remote key was not OK") hides
 * the reason libcurl's error buffer has. */
static bool http_client_is_tls_error(CURLcode cc)
{
	switch (cc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

static size_t http_client_collect(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct strbuf *sb = opaque;

	if (sb)
		strbuf_append(sb, data, size * nmemb);
	return size * nmemb;
}

/* What the progress callback needs to ask whether to abort. */
struct http_client_abort {
	http_client_abort_fn fn;
	void *arg;
};

static int http_client_progress(void *opaque, curl_off_t dltotal, curl_off_t dlnow,
                                curl_off_t ultotal, curl_off_t ulnow)
{
	const struct http_client_abort *a = opaque;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return a->fn(a->arg) ? 1 : 0; /* non-zero: CURLE_ABORTED_BY_CALLBACK */
}

static int http_client_perform(CURL *curl, const char *method, const char *url, const char *json,
                               const char *const *extra_headers, long timeout_ms,
                               const struct http_client_abort *abort, const char *abort_reason,
                               long *status, struct strbuf *reply, char *errstr, size_t errstr_size)
{
	struct curl_slist *headers = NULL;
	char detail[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	int rc = -1;

	*status = 0;
	for (; extra_headers && *extra_headers; extra_headers++)
		headers = curl_slist_append(headers, *extra_headers);
	/* Every write carries the JSON type, body or not: ferry's services refuse a POST, PUT or
	 * DELETE without it (415, http_guard.h: what a cross-site form can send). */
	if (json || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0))
		headers = curl_slist_append(headers, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip for larger batches. */
	if (json)
		headers = curl_slist_append(headers, "Expect:");
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (json) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	}
	/* After POSTFIELDS, which would turn a GET into a POST; "GET" without a body is curl's
	 * default and needs no custom request line. */
	if (strcmp(method, "GET") != 0 && !(json && strcmp(method, "POST") == 0))
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_client_collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, reply);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
	http_client_apply_tls(curl);
	if (abort && abort->fn) {
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_client_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, abort);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	}
	cc = curl_easy_perform(curl);
	if (cc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(errstr, errstr_size, "%s %s: aborted: %s", method, url,
		         abort_reason ? abort_reason : "stopping");
		goto done;
	}
	if (cc != CURLE_OK) {
		snprintf(errstr, errstr_size, "%s %s: %s", method, url,
		         http_client_is_tls_error(cc) && detail[0] != '\0'
		             ? detail
		             : curl_easy_strerror(cc));
		goto done;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	rc = 0;
done:
	/* The buffer is this frame's: libcurl must not write to it after the return. */
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(headers);
	return rc;
}

int http_client_post_json(CURL *curl, const char *url, const char *json, long timeout_ms,
                          long *status, struct strbuf *reply, char *errstr, size_t errstr_size)
{
	return http_client_perform(curl, "POST", url, json, NULL, timeout_ms, NULL, NULL, status,
	                           reply, errstr, errstr_size);
}

int http_client_post_json_abortable(CURL *curl, const char *url, const char *json,
                                    const char *const *headers, long timeout_ms,
                                    http_client_abort_fn should_abort, void *abort_arg,
                                    const char *abort_reason, long *status, struct strbuf *reply,
                                    char *errstr, size_t errstr_size)
{
	const struct http_client_abort abort = {should_abort, abort_arg};

	return http_client_perform(curl, "POST", url, json, headers, timeout_ms, &abort,
	                           abort_reason, status, reply, errstr, errstr_size);
}

char *http_client_bearer_header(const char *key)
{
	static const char prefix[] = "Authorization: Bearer ";
	char *line = NULL;
	size_t n;

	if (key == NULL || key[0] == '\0')
		goto done;
	n = strlen(key);
	line = malloc(sizeof(prefix) + n);
	if (line == NULL)
		goto done;
	memcpy(line, prefix, sizeof(prefix) - 1);
	memcpy(line + sizeof(prefix) - 1, key, n + 1);
done:
	return line;
}

int http_client_request(CURL *curl, const char *method, const char *url, const char *json,
                        const char *const *extra_headers, long timeout_ms, long *status,
                        struct strbuf *reply, char *errstr, size_t errstr_size)
{
	return http_client_perform(curl, method, url, json, extra_headers, timeout_ms, NULL, NULL,
	                           status, reply, errstr, errstr_size);
}
