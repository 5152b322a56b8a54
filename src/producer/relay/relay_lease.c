/*
 * relay_lease.c - see relay_lease.h. A handful of small queries per tick on the lease
 * connection, which stays outside any transaction so its session locks are the only thing it
 * holds.
 */
#include "producer/relay/relay_lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pg.h"
#include "common/strbuf.h"

#define RELAY_LEASE_STR_(x) #x
#define RELAY_LEASE_STR(x)  RELAY_LEASE_STR_(x)

struct relay_lease {
	char *conninfo;                         /* owned copy */
	PGconn *conn;                           /* the lease connection; NULL until connected */
	bool member;                            /* membership lock held on conn */
	bool held[RELAY_LEASE_SHARDS];          /* shard lock held on conn */
	bool draining[RELAY_LEASE_SHARDS];      /* held, no longer claimed, unlocked once marked */
	uint64_t drain_seq[RELAY_LEASE_SHARDS]; /* last claim that may hold rows of the shard */
	bool lost;           /* the connection failed: wait before taking again */
	uint64_t rejoin_seq; /* ... until the claims up to this one are marked */
	int live;            /* live relays at the last tick */
	unsigned start;      /* where this relay starts looking for free shards */
};

struct relay_lease *relay_lease_new(const char *conninfo)
{
	struct relay_lease *lease = calloc(1, sizeof(*lease));

	if (lease == NULL)
		return NULL;
	lease->conninfo = strdup(conninfo);
	if (lease->conninfo == NULL) {
		free(lease);
		return NULL;
	}
	/* Relays starting together look for free shards in different places, so their first
	 * try-locks mostly succeed instead of colliding. */
	lease->start = (unsigned)getpid() % RELAY_LEASE_SHARDS;
	return lease;
}

void relay_lease_destroy(struct relay_lease *lease)
{
	if (lease == NULL)
		return;
	if (lease->conn)
		PQfinish(lease->conn); /* the server drops the session's advisory locks */
	free(lease->conninfo);
	free(lease);
}

int relay_lease_fair_share(int shards, int live)
{
	if (live < 1)
		return shards;
	return (shards + live - 1) / live;
}

int relay_lease_plan(int claimable, int fair)
{
	return fair - claimable;
}

static void relay_lease_forget(struct relay_lease *lease)
{
	memset(lease->held, 0, sizeof(lease->held));
	memset(lease->draining, 0, sizeof(lease->draining));
	lease->member = false;
}

/* Runs `sql` (no parameters) and returns its result, or NULL with errstr. */
static PGresult *relay_lease_query(struct relay_lease *lease, const char *sql, char *errstr,
                                   size_t errstr_size)
{
	PGresult *res = PQexec(lease->conn, sql);

	if (!pg_result_ok(res)) {
		pg_error_line(lease->conn, res, errstr, errstr_size);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Unlocks the draining shards none of whose batches is still in flight. */
static int relay_lease_release_drained(struct relay_lease *lease, uint64_t oldest_active_seq,
                                       char *errstr, size_t errstr_size)
{
	struct strbuf sql = STRBUF_INIT;
	PGresult *res = NULL;
	int s, n = 0, rc = -1;

	strbuf_printf(&sql, "SELECT pg_advisory_unlock(" RELAY_LEASE_STR(
	                        RELAY_LEASE_SHARD_CLASS) ", s) FROM unnest('{");
	for (s = 0; s < RELAY_LEASE_SHARDS; s++) {
		/* Claims after drain_seq never included the shard: only older ones must be done. */
		if (lease->draining[s] && lease->drain_seq[s] < oldest_active_seq)
			strbuf_printf(&sql, "%s%d", n++ ? "," : "", s);
	}
	strbuf_printf(&sql, "}'::int[]) s");
	if (n == 0) {
		rc = 0;
		goto done;
	}
	if (sql.failed) {
		snprintf(errstr, errstr_size, "out of memory building the lease release");
		goto done;
	}
	res = relay_lease_query(lease, strbuf_str(&sql), errstr, errstr_size);
	if (res == NULL)
		goto done;
	for (s = 0; s < RELAY_LEASE_SHARDS; s++) {
		if (lease->draining[s] && lease->drain_seq[s] < oldest_active_seq) {
			lease->draining[s] = false;
			lease->held[s] = false;
		}
	}
	log_info("relay", "released %d shard(s) to other relays", n);
	rc = 0;
done:
	PQclear(res);
	strbuf_free(&sql);
	return rc;
}

/* Try-locks up to `want` shards nobody holds, then reads back from pg_locks which shards this
 * session holds: the server's word, not our bookkeeping, decides what we may claim. */
static int relay_lease_take(struct relay_lease *lease, int want, char *errstr, size_t errstr_size)
{
	struct strbuf sql = STRBUF_INIT;
	PGresult *res = NULL;
	int s, n = 0, i, rc = -1, before = 0, after = 0;

	/* OFFSET 0 keeps the subquery from being pulled up: flattened, the volatile try-lock
	 * would run below the sort, on every candidate, and lock them all whatever the LIMIT.
	 * Above it, it runs once per row the LIMIT asks for. Shards this session holds are left
	 * out, as a second lock on them would only stack. */
	strbuf_printf(&sql,
	              "SELECT s FROM (SELECT s FROM generate_series(0, %d) s"
	              " WHERE s <> ALL('{",
	              RELAY_LEASE_SHARDS - 1);
	for (s = 0; s < RELAY_LEASE_SHARDS; s++)
		if (lease->held[s])
			strbuf_printf(&sql, "%s%d", n++ ? "," : "", s);
	strbuf_printf(
	    &sql,
	    "}'::int[]) ORDER BY (s + %u) %% %d OFFSET 0) c"
	    " WHERE pg_try_advisory_lock(" RELAY_LEASE_STR(
	        RELAY_LEASE_SHARD_CLASS) ", s) LIMIT %d;"
	                                 "SELECT objid FROM pg_locks WHERE locktype = 'advisory'"
	                                 " AND pid = pg_backend_pid() AND classid = " RELAY_LEASE_STR(
	                                     RELAY_LEASE_SHARD_CLASS) " AND objsubid = 2 AND granted",
	    lease->start, RELAY_LEASE_SHARDS, want);
	if (sql.failed) {
		snprintf(errstr, errstr_size, "out of memory building the lease query");
		goto done;
	}
	/* PQexec returns the last statement's result: the locks held. */
	res = relay_lease_query(lease, strbuf_str(&sql), errstr, errstr_size);
	if (res == NULL)
		goto done;
	for (s = 0; s < RELAY_LEASE_SHARDS; s++)
		before += lease->held[s];
	for (i = 0; i < PQntuples(res); i++) {
		s = atoi(PQgetvalue(res, i, 0));
		if (s >= 0 && s < RELAY_LEASE_SHARDS && !lease->held[s]) {
			lease->held[s] = true;
			lease->draining[s] = false;
		}
	}
	for (s = 0; s < RELAY_LEASE_SHARDS; s++)
		after += lease->held[s];
	if (after > before)
		log_info("relay", "took %d shard(s)", after - before);
	rc = 0;
done:
	PQclear(res);
	strbuf_free(&sql);
	return rc;
}

int relay_lease_tick(struct relay_lease *lease, uint64_t last_claim_seq, uint64_t oldest_active_seq,
                     char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	int s, claimable = 0, plan;

	if (lease->lost) {
		/* Our own batches from before the loss may still hold rows of shards another relay
		 * can take now; we at least do not compete with them ourselves. */
		if (oldest_active_seq <= lease->rejoin_seq)
			return 0;
		lease->lost = false;
	}
	if (pg_ensure(&lease->conn, lease->conninfo, "ferry-relay-lease", errstr, errstr_size) != 0)
		goto lost;
	if (!lease->member) {
		res = relay_lease_query(lease,
		                        "SELECT pg_advisory_lock(" RELAY_LEASE_STR(
		                            RELAY_LEASE_MEMBER_CLASS) ", pg_backend_pid())",
		                        errstr, errstr_size);
		if (res == NULL)
			goto lost;
		PQclear(res);
		lease->member = true;
	}
	if (relay_lease_release_drained(lease, oldest_active_seq, errstr, errstr_size) != 0)
		goto lost;
	res = relay_lease_query(lease,
	                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
	                        " AND database = (SELECT oid FROM pg_database"
	                        "  WHERE datname = current_database())"
	                        " AND classid = " RELAY_LEASE_STR(
	                            RELAY_LEASE_MEMBER_CLASS) " AND objsubid = 2 AND granted",
	                        errstr, errstr_size);
	if (res == NULL)
		goto lost;
	lease->live = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;

	for (s = 0; s < RELAY_LEASE_SHARDS; s++)
		claimable += lease->held[s] && !lease->draining[s];
	plan = relay_lease_plan(claimable, relay_lease_fair_share(RELAY_LEASE_SHARDS, lease->live));
	/* Too many: stop claiming from the highest ones; they are unlocked once marked. */
	for (s = RELAY_LEASE_SHARDS - 1; s >= 0 && plan < 0; s--) {
		if (lease->held[s] && !lease->draining[s]) {
			lease->draining[s] = true;
			lease->drain_seq[s] = last_claim_seq;
			plan++;
		}
	}
	/* Too few: take back shards being drained first (still ours), then free ones. */
	for (s = 0; s < RELAY_LEASE_SHARDS && plan > 0; s++) {
		if (lease->draining[s]) {
			lease->draining[s] = false;
			plan--;
		}
	}
	if (plan > 0 && relay_lease_take(lease, plan, errstr, errstr_size) != 0)
		goto lost;
	return 0;
lost:
	/* Closing the connection is what releases the locks, whatever state the server is in. */
	if (lease->conn) {
		PQfinish(lease->conn);
		lease->conn = NULL;
	}
	relay_lease_forget(lease);
	lease->lost = true;
	lease->rejoin_seq = last_claim_seq;
	lease->live = 0;
	return -1;
}

size_t relay_lease_claimable(const struct relay_lease *lease, int *out)
{
	size_t n = 0;
	int s;

	for (s = 0; s < RELAY_LEASE_SHARDS; s++)
		if (lease->held[s] && !lease->draining[s])
			out[n++] = s;
	return n;
}

void relay_lease_counts(const struct relay_lease *lease, int *owned, int *draining, int *live)
{
	int s, o = 0, d = 0;

	for (s = 0; s < RELAY_LEASE_SHARDS; s++) {
		o += lease->held[s];
		d += lease->draining[s];
	}
	if (owned)
		*owned = o;
	if (draining)
		*draining = d;
	if (live)
		*live = lease->live;
}

void relay_lease_release_all(struct relay_lease *lease)
{
	PGresult *res;

	if (lease->conn && PQstatus(lease->conn) == CONNECTION_OK) {
		res = PQexec(lease->conn, "SELECT pg_advisory_unlock_all()");
		PQclear(res);
	}
	relay_lease_forget(lease);
}
