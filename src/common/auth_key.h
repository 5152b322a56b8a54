/*
 * auth_key.h - API keys: making one, hashing one, comparing hashes, finding one in a request.
 *
 * A key is "fk_" followed by 64 hex digits (32 bytes from getrandom): 256 bits of entropy, so
 * a fast hash (SHA-256) is enough to store it; a slow password KDF guards low-entropy secrets
 * against guessing, which a random key does not need (docs/security.md). Only the hash is kept
 * (database or memory); keys and hashes are never logged.
 *
 * Pure functions but auth_key_generate (the kernel's random bytes); any thread.
 */
#ifndef FERRY_AUTH_KEY_H
#define FERRY_AUTH_KEY_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_KEY_PREFIX   "fk_"
#define AUTH_KEY_LEN      (3 + 64) /* "fk_" + 64 hex digits */
#define AUTH_KEY_HASH_LEN 64       /* SHA-256 as lowercase hex */
#define AUTH_KEY_NAME_MAX 64       /* a key's name: 1..63 of [A-Za-z0-9._-] */

/*
 * Compares n bytes of a and b in time that depends on n only, never on where they differ (no
 * early exit), so the answer's timing tells nothing about a stored hash. True when equal.
 */
bool auth_ct_equal(const void *a, const void *b, size_t n);

/*
 * SHA-256 of the NUL-terminated `key`, as 64 lowercase hex digits and a NUL into
 * out[AUTH_KEY_HASH_LEN + 1]. Returns 0, or -1 when libcrypto fails (out is then "").
 */
int auth_key_hash(const char *key, char out[AUTH_KEY_HASH_LEN + 1])
    __attribute__((warn_unused_result));

/*
 * A new random key into out[AUTH_KEY_LEN + 1] ("fk_<64 hex>"). Returns 0, or -1 with errstr
 * when the kernel gives no random bytes.
 */
int auth_key_generate(char out[AUTH_KEY_LEN + 1], char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * The key a request presents: the token of "Authorization: Bearer <token>" (scheme matched
 * case-insensitively, surrounding spaces ignored), else the X-Api-Key header's value. Returns
 * a pointer into one of the header values and its length in *len, or NULL when neither holds a
 * non-empty token (an Authorization header of another scheme counts as none).
 */
const char *auth_key_from_headers(const char *authorization, const char *x_api_key, size_t *len);

/* Whether `name` is a valid key name: 1..63 characters of [A-Za-z0-9._-]. */
bool auth_key_name_valid(const char *name);

#endif
