/*
 * auth_key.c - see auth_key.h.
 */
#include "common/auth_key.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

bool auth_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a;
	const volatile unsigned char *y = b;
	unsigned char diff = 0;

	/* Every byte is looked at whatever came before; volatile keeps the compiler from
	 * turning the loop into an early-exit memcmp. */
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(x[i] ^ y[i]);
	return diff == 0;
}

static void auth_key_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int auth_key_hash(const char *key, char out[AUTH_KEY_HASH_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	int rc = -1;

	out[0] = '\0';
	if (EVP_Digest(key, strlen(key), md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32)
		goto done;
	auth_key_hex(md, md_len, out);
	rc = 0;
done:
	return rc;
}

int auth_key_generate(char out[AUTH_KEY_LEN + 1], char *errstr, size_t errstr_size)
{
	unsigned char bytes[32];
	size_t got = 0;
	int rc = -1;

	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(errstr, errstr_size, "getrandom: %s", strerror(errno));
			goto done;
		}
		got += (size_t)n;
	}
	memcpy(out, AUTH_KEY_PREFIX, 3);
	auth_key_hex(bytes, sizeof(bytes), out + 3);
	rc = 0;
done:
	return rc;
}

/* Trims spaces and tabs around [*p, *p + *len). */
static void auth_key_trim(const char **p, size_t *len)
{
	while (*len > 0 && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 && ((*p)[*len - 1] == ' ' || (*p)[*len - 1] == '\t'))
		(*len)--;
}

const char *auth_key_from_headers(const char *authorization, const char *x_api_key, size_t *len)
{
	const char *p = NULL;
	size_t n = 0;

	if (authorization != NULL) {
		p = authorization;
		n = strlen(p);
		auth_key_trim(&p, &n);
		if (n > 7 && strncasecmp(p, "Bearer", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
			p += 7;
			n -= 7;
			auth_key_trim(&p, &n);
		} else {
			n = 0;
		}
	}
	if (n == 0 && x_api_key != NULL) {
		p = x_api_key;
		n = strlen(p);
		auth_key_trim(&p, &n);
	}
	*len = n;
	return n > 0 ? p : NULL;
}

bool auth_key_name_valid(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;
	bool ok = n >= 1 && n < AUTH_KEY_NAME_MAX;

	for (size_t i = 0; ok && i < n; i++) {
		char c = name[i];

		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '.' || c == '_' || c == '-';
	}
	return ok;
}
