/*
 * ctl_http.c - see ctl_http.h.
 */
#include "cli/ctl_http.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/http_client.h"
#include "common/strbuf.h"

/* The actor header: ferryctl and the login name, if it is plain enough to put in a header
 * (anything else could split the header line). */
static void ctl_http_actor(char *buf, size_t size)
{
	const char *user = getenv("USER");
	size_t i;

	for (i = 0; user && user[i]; i++)
		if (!isalnum((unsigned char)user[i]) && strchr("._@-", user[i]) == NULL)
			user = NULL;
	if (user && (*user == '\0' || strlen(user) > 64))
		user = NULL;
	snprintf(buf, size, "X-Ferry-Actor: ferryctl%s%s", user ? "/" : "", user ? user : "");
}

int ctl_http_open(struct ctl_http *h, const char *base_url, long timeout_ms, char *errstr,
                  size_t errstr_size)
{
	size_t len;

	memset(h, 0, sizeof(*h));
	h->timeout_ms = timeout_ms;
	len = strlen(base_url);
	/* Catch "127.0.0.1:5301" or "htp://..." here, with the URL named, rather than as a
	 * puzzling libcurl error after the fact. */
	if ((strncasecmp(base_url, "http://", 7) != 0 &&
	     strncasecmp(base_url, "https://", 8) != 0) ||
	    len >= sizeof(h->base_url) || strchr(base_url, '?') || strchr(base_url, '#') ||
	    strcspn(base_url, " \t\r\n") != len || strlen(strstr(base_url, "//") + 2) == 0) {
		snprintf(errstr, errstr_size,
		         "invalid URL '%s': expected http://host:port (--url or FERRY_URL)",
		         base_url);
		return -1;
	}
	memcpy(h->base_url, base_url, len + 1);
	ctl_http_actor(h->actor, sizeof(h->actor));
	while (len > 0 && h->base_url[len - 1] == '/')
		h->base_url[--len] = '\0';
	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		snprintf(errstr, errstr_size, "cannot initialise libcurl");
		return -1;
	}
	return 0;
}

int ctl_http_set_token(struct ctl_http *h, const char *token)
{
	free(h->auth_header);
	h->auth_header = http_client_bearer_header(token);
	return (token != NULL && token[0] != '\0' && h->auth_header == NULL) ? -1 : 0;
}

void ctl_http_close(struct ctl_http *h)
{
	free(h->auth_header);
	h->auth_header = NULL;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

long ctl_http_request(struct ctl_http *h, const char *method, const char *path, json_t *body,
                      json_t **reply, char *errstr, size_t errstr_size)
{
	struct strbuf url = STRBUF_INIT, text = STRBUF_INIT;
	const char *headers[] = {h->actor, h->auth_header, NULL}; /* no token: ends early */
	char *json = NULL, curl_err[512];
	long status = -1;

	*reply = NULL;
	if (body)
		json = json_dumps(body, JSON_COMPACT);
	else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
		json = strdup("{}");
	strbuf_puts(&url, h->base_url);
	strbuf_puts(&url, path);
	if (url.failed ||
	    ((body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) && json == NULL)) {
		snprintf(errstr, errstr_size, "out of memory building the request");
		goto done;
	}
	if (http_client_request(h->curl, method, strbuf_str(&url), json, headers, h->timeout_ms,
	                        &status, &text, curl_err, sizeof(curl_err)) != 0) {
		/* curl_err is "<METHOD> <url>: <reason>"; say what an operator needs: where. */
		const char *reason = strstr(curl_err, ": ");

		snprintf(errstr, errstr_size, "cannot reach %s: %s", h->base_url,
		         reason ? reason + 2 : curl_err);
		status = -1;
		goto done;
	}
	if (text.failed) {
		snprintf(errstr, errstr_size, "out of memory reading the answer");
		status = -1;
		goto done;
	}
	if (text.len > 0)
		*reply = json_loadb(text.data, text.len, 0, NULL);
done:
	free(json);
	strbuf_free(&url);
	strbuf_free(&text);
	return status;
}

long ctl_http_call(struct ctl_http *h, const char *method, const char *path, json_t *body,
                   json_t **reply, char *errstr, size_t errstr_size)
{
	long status = ctl_http_request(h, method, path, body, reply, errstr, errstr_size);
	const char *api_error;

	if (status < 0 || (status >= 200 && status < 300))
		return status;
	api_error = json_string_value(json_object_get(*reply, "error"));
	snprintf(errstr, errstr_size, "%s %s: HTTP %ld%s%s", method, path, status,
	         api_error ? ": " : "", api_error ? api_error : "");
	json_decref(*reply);
	*reply = NULL;
	return -1;
}

char *ctl_http_escape(const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(text), o = 0, i;
	char *out = malloc(len * 3 + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

void ctl_http_query_add(struct strbuf *sb, const char *name, const char *value)
{
	char *esc;

	if (value == NULL)
		return;
	esc = ctl_http_escape(value);
	if (esc == NULL) {
		sb->failed = true;
		return;
	}
	strbuf_printf(sb, "%c%s=%s", strchr(strbuf_str(sb), '?') ? '&' : '?', name, esc);
	free(esc);
}
