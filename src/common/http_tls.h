/*
 * http_tls.h - the TLS material of a ferry HTTP server (http_server.h), read and checked once at
 * start-up: the server's certificate chain and private key (PEM), and optionally a CA whose
 * certificates clients must present (mutual TLS, for the consumer -> producer path).
 *
 * Why a module of its own: a certificate that does not parse, a key that does not match it, or
 * an unreadable file must stop the start with one line naming the file (never its contents),
 * not surface later as a handshake failure at the first client. And libmicrohttpd 0.9.75 only
 * *requests* a client certificate when given a trust CA (MHD_OPTION_HTTPS_MEM_TRUST); it never
 * checks one, so http_tls_verify_client does, per connection, with GnuTLS.
 *
 * Certificates are read at start only: rotating them means restarting the service.
 */
#ifndef FERRY_HTTP_TLS_H
#define FERRY_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* TLS 1.2 and 1.3 only, AEAD ciphers, forward-secret key exchange (see http_tls.c). */
#define HTTP_TLS_PRIORITIES                                                                        \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

struct http_tls; /* PEM texts, checked; owned by whoever loaded it */

/*
 * Reads `cert_file` (the server's certificate, possibly followed by intermediates) and
 * `key_file` (its unencrypted private key), both PEM, and `client_ca_file` (PEM CA
 * certificates; NULL or "" = no client certificates asked for). Checks that each parses and
 * that the key matches the certificate, and that this libmicrohttpd was built with TLS.
 * Returns the material, or NULL with one line in errstr naming the file and the reason
 * ("certificate file /etc/ferry/tls.crt: cannot read: No such file or directory"), never a
 * file's contents. Main thread, at start-up.
 */
struct http_tls *http_tls_load(const char *cert_file, const char *key_file,
                               const char *client_ca_file, char *errstr, size_t errstr_size);

/* Frees it; NULL is a no-op. Only after the server using it has stopped. */
void http_tls_free(struct http_tls *tls);

/* The PEM texts, NUL-terminated, owned by tls (what MHD_OPTION_HTTPS_MEM_* take). The client
 * CA is NULL when none was configured. */
const char *http_tls_cert_pem(const struct http_tls *tls);
const char *http_tls_key_pem(const struct http_tls *tls);
const char *http_tls_client_ca_pem(const struct http_tls *tls);

/* Whether client certificates are required (a client CA was configured). */
bool http_tls_requires_client_cert(const struct http_tls *tls);

/*
 * Checks the client certificate of the TLS session `session` (a gnutls_session_t, as
 * MHD_CONNECTION_INFO_GNUTLS_SESSION gives it) against the trust list the session's
 * credentials hold, which is the client CA given to libmicrohttpd. Returns 0 when the client
 * presented a certificate that chains to it and is currently valid; -1 otherwise with the
 * reason in why ("no client certificate", "client certificate not trusted: The certificate
 * issuer is unknown."). Any thread (the session is the calling connection's).
 */
int http_tls_verify_client(void *session, char *why, size_t why_size)
    __attribute__((warn_unused_result));

#endif
