/*
 * auth_table.c - see auth_table.h.
 */
#include "common/auth_table.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth_roles.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/pg.h"

#define AUTH_TABLE_BOOTSTRAP_NAME "bootstrap"
#define AUTH_TABLE_KEY_MAX        1024 /* longer presented keys are unknown at once */
#define AUTH_TABLE_QUERY_BOUND_MS 5000 /* longest wait for the keys' SELECT */

struct auth_entry {
	char name[AUTH_KEY_NAME_MAX];     /* the key's name (the audit actor) */
	char hash[AUTH_KEY_HASH_LEN + 1]; /* SHA-256 hex of the key */
	unsigned roles;                   /* AUTH_ROLE_* bits */
};

struct auth_table {
	char *conninfo;
	char *table; /* "ferry.api_key", for messages */
	char *query; /* SELECT of the active keys of the table */
	char *app_name;
	long refresh_ms;
	bool has_bootstrap;
	struct auth_entry bootstrap; /* valid when has_bootstrap */
	PGconn *conn;                /* the refresh connection (refresh thread only, after new) */
	pthread_rwlock_t lock;       /* guards entries and n_entries */
	struct auth_entry *entries;  /* the table's active keys (owned) */
	size_t n_entries;
	pthread_mutex_t mutex; /* guards stop */
	pthread_cond_t cond;   /* wakes the thread to stop */
	bool stop;
	bool running; /* thread started */
	bool warned;  /* the last refresh failed (logged once until one succeeds) */
	pthread_t thread;
};

/* Reads the table's active keys into a new array. Returns 0, or -1 with errstr. */
static int auth_table_fetch(struct auth_table *t, struct auth_entry **out, size_t *nout,
                            char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	struct auth_entry *v = NULL;
	int n = 0, rc = -1;

	if (pg_ensure(&t->conn, t->conninfo, t->app_name, errstr, errstr_size) != 0)
		goto done;
	/* A database that stops answering must not hold this thread (and the shutdown that joins
	 * it): past the bound the connection is dropped and the next refresh connects anew. */
	if (pg_bound_ms(t->conn) == 0 && pg_set_bound(t->conn, AUTH_TABLE_QUERY_BOUND_MS) != 0) {
		snprintf(errstr, errstr_size, "out of memory");
		goto done;
	}
	res = pg_exec(t->conn, t->query, 0, NULL);
	if (!pg_result_ok(res)) {
		pg_error_line(t->conn, res, errstr, errstr_size);
		if (strcmp(pg_last_sqlstate(), "42P01") == 0) /* undefined_table */
			snprintf(errstr, errstr_size,
			         "reading the API keys: %s does not exist (the database is not "
			         "migrated: FERRY_MIGRATE=false?)",
			         t->table);
		goto done;
	}
	n = PQntuples(res);
	v = calloc(n > 0 ? (size_t)n : 1, sizeof(*v));
	if (v == NULL) {
		snprintf(errstr, errstr_size, "out of memory for %d API keys", n);
		goto done;
	}
	for (int i = 0; i < n; i++) {
		char roles_err[128];

		snprintf(v[i].name, sizeof(v[i].name), "%s", PQgetvalue(res, i, 0));
		snprintf(v[i].hash, sizeof(v[i].hash), "%s", PQgetvalue(res, i, 1));
		/* The CHECK constraint allows only known names; a row that fails anyway
		 * grants nothing. */
		if (auth_roles_parse(PQgetvalue(res, i, 2), &v[i].roles, roles_err,
		                     sizeof(roles_err)) != 0)
			v[i].roles = 0;
	}
	*out = v;
	*nout = (size_t)n;
	v = NULL;
	rc = 0;
done:
	PQclear(res);
	free(v);
	return rc;
}

/* One refresh: swaps in the fresh copy, or keeps the old one and warns. */
static int auth_table_refresh(struct auth_table *t, char *errstr, size_t errstr_size)
{
	struct auth_entry *fresh = NULL, *old = NULL;
	size_t n = 0;
	int rc = -1;

	if (auth_table_fetch(t, &fresh, &n, errstr, errstr_size) != 0)
		goto done;
	pthread_rwlock_wrlock(&t->lock);
	old = t->entries;
	t->entries = fresh;
	t->n_entries = n;
	pthread_rwlock_unlock(&t->lock);
	free(old);
	rc = 0;
done:
	return rc;
}

static void *auth_table_main(void *arg)
{
	struct auth_table *t = arg;

	pthread_mutex_lock(&t->mutex);
	while (!t->stop) {
		struct timespec until = clock_deadline(CLOCK_MONOTONIC, t->refresh_ms);
		char errstr[512];

		while (!t->stop && pthread_cond_timedwait(&t->cond, &t->mutex, &until) == 0)
			;
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->mutex);
		if (auth_table_refresh(t, errstr, sizeof(errstr)) != 0) {
			if (!t->warned)
				log_warn(
				    "auth",
				    "could not refresh the API keys, keeping the last good copy: %s",
				    errstr);
			t->warned = true;
		} else if (t->warned) {
			log_info("auth", "API keys refreshed again");
			t->warned = false;
		}
		pthread_mutex_lock(&t->mutex);
	}
	pthread_mutex_unlock(&t->mutex);
	return NULL;
}

struct auth_table *auth_table_new(const struct auth_table_options *opts, char *errstr,
                                  size_t errstr_size)
{
	struct auth_table *t = calloc(1, sizeof(*t));
	char query[256];

	if (t == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	pthread_rwlock_init(&t->lock, NULL);
	pthread_mutex_init(&t->mutex, NULL);
	clock_cond_init_monotonic(&t->cond);
	snprintf(query, sizeof(query),
	         "SELECT name, key_hash, array_to_string(roles, ',') FROM %s "
	         "WHERE revoked_at IS NULL",
	         opts->table);
	t->conninfo = strdup(opts->conninfo);
	t->query = strdup(query);
	t->table = strdup(opts->table);
	t->app_name = strdup(opts->app_name);
	t->refresh_ms = opts->refresh_ms;
	if (t->conninfo == NULL || t->query == NULL || t->table == NULL || t->app_name == NULL) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	if (opts->bootstrap_key != NULL && opts->bootstrap_key[0] != '\0') {
		if (strlen(opts->bootstrap_key) < 16) {
			snprintf(errstr, errstr_size,
			         "FERRY_BOOTSTRAP_API_KEY: too short (at least 16 characters; "
			         "ferryctl keys generate makes one)");
			goto fail;
		}
		if (auth_key_hash(opts->bootstrap_key, t->bootstrap.hash) != 0) {
			snprintf(errstr, errstr_size, "FERRY_BOOTSTRAP_API_KEY: SHA-256 failed");
			goto fail;
		}
		snprintf(t->bootstrap.name, sizeof(t->bootstrap.name), "%s",
		         AUTH_TABLE_BOOTSTRAP_NAME);
		t->bootstrap.roles = AUTH_ROLE_ALL;
		t->has_bootstrap = true;
	}
	if (auth_table_refresh(t, errstr, errstr_size) != 0)
		goto fail;
	return t;
fail:
	auth_table_destroy(t);
	return NULL;
}

int auth_table_start(struct auth_table *t, char *errstr, size_t errstr_size)
{
	int err = pthread_create(&t->thread, NULL, auth_table_main, t);

	if (err != 0) {
		snprintf(errstr, errstr_size, "cannot start the API key refresh thread: %s",
		         strerror(err));
		return -1;
	}
	t->running = true;
	return 0;
}

size_t auth_table_active(struct auth_table *t)
{
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->n_entries + (t->has_bootstrap ? 1 : 0);
	pthread_rwlock_unlock(&t->lock);
	return n;
}

/* Compares one entry; records the first match without ending the scan early. */
static void auth_table_compare(const struct auth_entry *e, const char *hash, bool *found,
                               unsigned *roles, char *name, size_t name_size)
{
	bool eq = auth_ct_equal(e->hash, hash, AUTH_KEY_HASH_LEN);

	if (eq && !*found) {
		*found = true;
		*roles = e->roles;
		snprintf(name, name_size, "%s", e->name);
	}
}

bool auth_table_authenticate(void *opaque, const char *key, size_t len, unsigned *roles, char *name,
                             size_t name_size)
{
	struct auth_table *t = opaque;
	char copy[AUTH_TABLE_KEY_MAX + 1];
	char hash[AUTH_KEY_HASH_LEN + 1];
	bool found = false;

	*roles = 0;
	if (len == 0 || len > AUTH_TABLE_KEY_MAX || memchr(key, '\0', len) != NULL)
		goto done;
	memcpy(copy, key, len);
	copy[len] = '\0';
	if (auth_key_hash(copy, hash) != 0) {
		log_error("auth", "SHA-256 failed: request refused");
		goto done;
	}
	if (t->has_bootstrap)
		auth_table_compare(&t->bootstrap, hash, &found, roles, name, name_size);
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->n_entries; i++)
		auth_table_compare(&t->entries[i], hash, &found, roles, name, name_size);
	pthread_rwlock_unlock(&t->lock);
done:
	memset(copy, 0, sizeof(copy));
	return found;
}

void auth_table_destroy(struct auth_table *t)
{
	if (t == NULL)
		return;
	if (t->running) {
		pthread_mutex_lock(&t->mutex);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->mutex);
		pthread_join(t->thread, NULL);
	}
	if (t->conn != NULL)
		PQfinish(t->conn);
	free(t->entries);
	free(t->conninfo);
	free(t->query);
	free(t->table);
	free(t->app_name);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->mutex);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}
