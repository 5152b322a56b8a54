/*
 * relay_lease.h - which shards of the outbox this relay may publish, shared fairly among the
 * relays running on one database.
 *
 * Every outbox row belongs to one of RELAY_LEASE_SHARDS shards (sql/producer/006_relay_shards.sql:
 * all rows of a key in the same shard). A relay publishes a shard's rows only while it holds the
 * shard's lease: a session-level PostgreSQL advisory lock, pg_try_advisory_lock(
 * RELAY_LEASE_SHARD_CLASS, shard), taken on a connection of its own that never runs a
 * transaction. Session locks vanish when the connection ends, so a relay killed with -9 (its
 * socket closes, its backend exits) frees its shards at once and for good: no timeout to wait out,
 * no stale owner to fence.
 *
 * Membership: each relay also holds pg_advisory_lock(RELAY_LEASE_MEMBER_CLASS, its backend pid)
 * on that connection; the live relays are the granted locks of that class in this database
 * (pg_locks), which vanish the same way. Nothing to heartbeat, nothing to clean up.
 *
 * Rebalancing, every tick (about a second): fair = ceil(RELAY_LEASE_SHARDS / live relays). A
 * relay holding fewer claimable shards than `fair` takes free ones (try-locks, so two relays
 * racing for one shard cannot both win); one holding more stops claiming from the extra ones at
 * once ("draining") and unlocks them only when every batch claimed before that moment is marked
 * and committed. Otherwise a new owner could publish a key's later rows while this relay still
 * has earlier ones in flight: the claim skips rows locked by another claim (SKIP LOCKED), so it
 * would pass over them. Relays that come and go converge in a few ticks; while they do, a shard
 * is owned by at most one relay, and a free shard merely waits.
 *
 * A database restart or a network cut ends the lease connection and the relay's batch
 * transactions together, so their rows are unlocked when the shard becomes free and the next owner
 * republishes from the shard's lowest PENDING row (later copies are duplicates, never reorders).
 * What this does not cover: the lease connection alone ending while the relay and its batch
 * connections live on (an operator's pg_terminate_backend on it). The relay then stops claiming
 * at its next tick, but until its batches in flight are marked another relay may take the shards
 * and, skipping their locked rows, publish a later row of a key first.
 *
 * One thread (the relay's) owns a struct relay_lease and calls every function but the pure ones.
 */
#ifndef FERRY_RELAY_LEASE_H
#define FERRY_RELAY_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RELAY_LEASE_SHARDS 64 /* must match sql/producer/006_relay_shards.sql */
/* Advisory lock classes (the two-int4 form; migrate.c's one-bigint lock cannot collide). */
#define RELAY_LEASE_MEMBER_CLASS 1718973042 /* "fery" + 0: one per live relay */
#define RELAY_LEASE_SHARD_CLASS  1718973043 /* one per owned shard */

struct relay_lease;

/* Creates a lease holder; connects lazily on the first tick. conninfo is copied. NULL on out of
 * memory. */
struct relay_lease *relay_lease_new(const char *conninfo);

/* Closes the lease connection (releasing every lease) and frees. NULL is a no-op. */
void relay_lease_destroy(struct relay_lease *lease);

/*
 * One rebalancing step. `last_claim_seq` is the relay's most recent claim sequence number,
 * `oldest_active_seq` the smallest claim sequence of a batch still in flight (UINT64_MAX when
 * none): draining shards whose batches are all marked are unlocked, then shards are taken or
 * set draining toward the fair share. Returns 0, or -1 with errstr when the database failed: then
 * every lease is considered lost (the connection is dropped, which releases them), nothing is
 * claimable, and no shard is taken again until the batches claimed before the loss are marked.
 */
int relay_lease_tick(struct relay_lease *lease, uint64_t last_claim_seq, uint64_t oldest_active_seq,
                     char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/*
 * Writes the shards this relay may claim from now, ascending, into out (RELAY_LEASE_SHARDS
 * entries) and returns their count: 0 means claim nothing, RELAY_LEASE_SHARDS means every shard.
 */
size_t relay_lease_claimable(const struct relay_lease *lease, int *out);

/* Shards locked (claimable or draining), those of them draining, and the live relays counted
 * at the last tick (0 before the first). Any pointer may be NULL. */
void relay_lease_counts(const struct relay_lease *lease, int *owned, int *draining, int *live);

/* Unlocks every shard and leaves the membership, keeping nothing claimable: for a clean stop,
 * after the last batch is marked. Errors are ignored (closing the connection does it too). */
void relay_lease_release_all(struct relay_lease *lease);

/* --- pure, for tests ------------------------------------------------------------------------ */

/* The fair share: ceil(shards / live); all of them when live < 1 (not counted yet). */
int relay_lease_fair_share(int shards, int live);

/*
 * How many shards to act on: positive = take that many more (draining ones come back first),
 * negative = drain that many, 0 = keep. `claimable` are the non-draining shards held.
 */
int relay_lease_plan(int claimable, int fair);

#endif
