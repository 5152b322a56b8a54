/*
 * http_tls.c - see http_tls.h.
 *
 * Priorities (HTTP_TLS_PRIORITIES): TLS 1.2 is the floor because 1.0 and 1.1 are deprecated
 * (RFC 8996) and every client ferry has (libcurl, ferryctl, browsers for the dashboard) speaks
 * 1.2 or 1.3; 1.3-only would shut out older load balancers and health checkers for little gain.
 * Within 1.2 only AEAD ciphers (GCM, ChaCha20-Poly1305) with ECDHE key exchange are offered:
 * no CBC (padding-oracle history) and no static-RSA key exchange (no forward secrecy).
 */
#include "common/http_tls.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_TLS_MAX_FILE (1024 * 1024) /* a PEM bigger than this is not a certificate */

struct http_tls {
	char *cert_pem;      /* the server's certificate chain, PEM, NUL-terminated */
	char *key_pem;       /* its private key, PEM */
	char *client_ca_pem; /* CA for client certificates, or NULL */
};

/* Reads `path` whole into a NUL-terminated buffer the caller frees. NULL with errstr
 * "<what> <path>: <reason>" on failure. */
static char *http_tls_read_file(const char *what, const char *path, char *errstr,
                                size_t errstr_size)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t len = 0, got;
	char *result = NULL;

	f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(errstr, errstr_size, "%s %s: cannot read: %s", what, path,
		         strerror(errno));
		goto done;
	}
	buf = malloc(HTTP_TLS_MAX_FILE + 1);
	if (buf == NULL) {
		snprintf(errstr, errstr_size, "%s %s: out of memory", what, path);
		goto done;
	}
	while ((got = fread(buf + len, 1, HTTP_TLS_MAX_FILE + 1 - len, f)) > 0) {
		len += got;
		if (len > HTTP_TLS_MAX_FILE)
			break;
	}
	if (ferror(f)) {
		snprintf(errstr, errstr_size, "%s %s: cannot read: %s", what, path,
		         strerror(errno));
		goto done;
	}
	if (len > HTTP_TLS_MAX_FILE) {
		snprintf(errstr, errstr_size, "%s %s: larger than %d bytes, not a PEM file", what,
		         path, HTTP_TLS_MAX_FILE);
		goto done;
	}
	buf[len] = '\0';
	result = buf;
	buf = NULL;
done:
	free(buf);
	if (f != NULL)
		fclose(f);
	return result;
}

/* Counts the PEM certificates in `pem`; -1 with errstr when none parses. */
static int http_tls_check_certs(const char *what, const char *path, const char *pem, char *errstr,
                                size_t errstr_size)
{
	gnutls_datum_t d = {(unsigned char *)pem, (unsigned int)strlen(pem)};
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0, i;
	int rc;

	rc = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
	if (rc < 0 || n == 0) {
		snprintf(errstr, errstr_size, "%s %s: no PEM certificate in it (%s)", what, path,
		         rc < 0 ? gnutls_strerror(rc) : "empty");
		return -1;
	}
	for (i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	return (int)n;
}

/* Checks that the key parses and matches the certificate, the way the server will load them. */
static int http_tls_check_pair(const char *cert_file, const char *key_file,
                               const struct http_tls *t, char *errstr, size_t errstr_size)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_datum_t cd = {(unsigned char *)t->cert_pem, (unsigned int)strlen(t->cert_pem)};
	gnutls_datum_t kd = {(unsigned char *)t->key_pem, (unsigned int)strlen(t->key_pem)};
	int rc, ret = -1;

	rc = gnutls_certificate_allocate_credentials(&cred);
	if (rc < 0) {
		snprintf(errstr, errstr_size, "TLS: %s", gnutls_strerror(rc));
		goto done;
	}
	rc = gnutls_certificate_set_x509_key_mem2(cred, &cd, &kd, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH) {
		snprintf(errstr, errstr_size, "key file %s does not match certificate file %s",
		         key_file, cert_file);
		goto done;
	}
	if (rc < 0) {
		snprintf(errstr, errstr_size,
		         "key file %s: not an unencrypted PEM private key (%s)", key_file,
		         gnutls_strerror(rc));
		goto done;
	}
	ret = 0;
done:
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	return ret;
}

struct http_tls *http_tls_load(const char *cert_file, const char *key_file,
                               const char *client_ca_file, char *errstr, size_t errstr_size)
{
	struct http_tls *t = NULL;
	gnutls_priority_t prio = NULL;
	const char *err_pos = NULL;

	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(errstr, errstr_size,
		         "this libmicrohttpd was built without TLS: https is not available");
		goto fail;
	}
	if (cert_file == NULL || cert_file[0] == '\0' || key_file == NULL || key_file[0] == '\0') {
		snprintf(errstr, errstr_size,
		         "https needs a certificate and a key: set FERRY_TLS_CERT_FILE and "
		         "FERRY_TLS_KEY_FILE");
		goto fail;
	}
	if (gnutls_priority_init(&prio, HTTP_TLS_PRIORITIES, &err_pos) < 0) {
		snprintf(errstr, errstr_size, "this GnuTLS rejects ferry's TLS priorities at '%s'",
		         err_pos ? err_pos : "?");
		goto fail;
	}
	gnutls_priority_deinit(prio);
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(errstr, errstr_size, "TLS: out of memory");
		goto fail;
	}
	t->cert_pem = http_tls_read_file("certificate file", cert_file, errstr, errstr_size);
	if (t->cert_pem == NULL || http_tls_check_certs("certificate file", cert_file, t->cert_pem,
	                                                errstr, errstr_size) < 0)
		goto fail;
	t->key_pem = http_tls_read_file("key file", key_file, errstr, errstr_size);
	if (t->key_pem == NULL ||
	    http_tls_check_pair(cert_file, key_file, t, errstr, errstr_size) != 0)
		goto fail;
	if (client_ca_file != NULL && client_ca_file[0] != '\0') {
		t->client_ca_pem =
		    http_tls_read_file("client CA file", client_ca_file, errstr, errstr_size);
		if (t->client_ca_pem == NULL ||
		    http_tls_check_certs("client CA file", client_ca_file, t->client_ca_pem, errstr,
		                         errstr_size) < 0)
			goto fail;
	}
	return t;
fail:
	http_tls_free(t);
	return NULL;
}

void http_tls_free(struct http_tls *tls)
{
	if (tls == NULL)
		return;
	if (tls->key_pem != NULL) /* the private key does not linger in freed memory */
		memset(tls->key_pem, 0, strlen(tls->key_pem));
	free(tls->key_pem);
	free(tls->cert_pem);
	free(tls->client_ca_pem);
	free(tls);
}

const char *http_tls_cert_pem(const struct http_tls *tls)
{
	return tls->cert_pem;
}

const char *http_tls_key_pem(const struct http_tls *tls)
{
	return tls->key_pem;
}

const char *http_tls_client_ca_pem(const struct http_tls *tls)
{
	return tls->client_ca_pem;
}

bool http_tls_requires_client_cert(const struct http_tls *tls)
{
	return tls != NULL && tls->client_ca_pem != NULL;
}

int http_tls_verify_client(void *session, char *why, size_t why_size)
{
	gnutls_session_t s = session;
	const gnutls_datum_t *peers;
	gnutls_datum_t text = {NULL, 0};
	unsigned int n = 0, status = 0;
	int rc;

	if (s == NULL) {
		snprintf(why, why_size, "not a TLS connection");
		return -1;
	}
	peers = gnutls_certificate_get_peers(s, &n);
	if (peers == NULL || n == 0) {
		snprintf(why, why_size, "client certificate required");
		return -1;
	}
	/* The session's credentials trust exactly the client CA (MHD_OPTION_HTTPS_MEM_TRUST);
	 * activation and expiry times are checked too. */
	rc = gnutls_certificate_verify_peers2(s, &status);
	if (rc < 0) {
		snprintf(why, why_size, "client certificate not verified: %s", gnutls_strerror(rc));
		return -1;
	}
	if (status != 0) {
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text,
		                                                 0) == 0 &&
		    text.data != NULL)
			snprintf(why, why_size, "client certificate not trusted: %s",
			         (const char *)text.data);
		else
			snprintf(why, why_size, "client certificate not trusted");
		gnutls_free(text.data);
		return -1;
	}
	return 0;
}
