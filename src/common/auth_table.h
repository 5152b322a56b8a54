/*
 * auth_table.h - a service's API keys in memory: the active keys of its database table
 * (ferry.api_key for the producer, ferry_consumer.api_key for the consumer service), plus an
 * optional bootstrap key held in memory only, refreshed every refresh_ms by a thread of its
 * own. Requests are checked against the copy, never with a query each: a key revoked in the
 * table stops working on every instance within refresh_ms (plus one query). A refresh that
 * fails keeps the last good copy and logs a warning.
 *
 * Only hashes are held (auth_key.h); keys and hashes are never logged.
 *
 * Threads: auth_table_new/start/destroy on one thread (the service's main thread);
 * auth_table_authenticate and auth_table_active from any thread (a read lock).
 */
#ifndef FERRY_AUTH_TABLE_H
#define FERRY_AUTH_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/auth_key.h"

struct auth_table;

struct auth_table_options {
	const char *conninfo;      /* the service's database (copied) */
	const char *table;         /* "ferry.api_key" or "ferry_consumer.api_key" (copied) */
	const char *app_name;      /* application_name of the refresh connection (copied) */
	const char *bootstrap_key; /* FERRY_BOOTSTRAP_API_KEY, or NULL/"" for none: hashed at
	                            * once, the text itself is not kept */
	long refresh_ms;           /* FERRY_AUTH_REFRESH_MS */
};

/*
 * Builds the table and loads the keys once, synchronously. Returns it (the caller owns it:
 * auth_table_destroy), or NULL with errstr when the first load fails (the database's table
 * missing or unreachable) or the bootstrap key is not usable.
 */
struct auth_table *auth_table_new(const struct auth_table_options *opts, char *errstr,
                                  size_t errstr_size);

/* Starts the refresh thread. Returns 0, or -1 with errstr. */
int auth_table_start(struct auth_table *t, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Active keys now held (the bootstrap key included). */
size_t auth_table_active(struct auth_table *t);

/*
 * The http_server authenticate callback (opaque = the table): looks up the `len` bytes of
 * `key`. Returns true with the key's roles and name (copied into name, name_size bytes) when
 * it is an active key; false otherwise. Every active hash is compared, in constant time each,
 * whatever matched before.
 */
bool auth_table_authenticate(void *opaque, const char *key, size_t len, unsigned *roles, char *name,
                             size_t name_size);

/* Stops the thread, closes the connection, frees. NULL is a no-op. */
void auth_table_destroy(struct auth_table *t);

#endif
