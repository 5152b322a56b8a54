/*
 * Unit tests for the pure part of relay_lease.c: the fair share of shards and the plan that moves
 * a relay toward it, including a simulation of relays coming and going that checks the shares
 * cover every shard and never need a shard twice.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "producer/relay/relay_lease.h"

static void test_fair_share(void **state)
{
	(void)state;
	assert_int_equal(relay_lease_fair_share(64, 1), 64);
	assert_int_equal(relay_lease_fair_share(64, 2), 32);
	assert_int_equal(relay_lease_fair_share(64, 3), 22); /* 22 + 22 + 20: rounded up */
	assert_int_equal(relay_lease_fair_share(64, 64), 1);
	assert_int_equal(relay_lease_fair_share(64, 100), 1); /* more relays than shards */
	/* Not counted yet (or lost): everything is fair game, the try-locks arbitrate. */
	assert_int_equal(relay_lease_fair_share(64, 0), 64);
	assert_int_equal(relay_lease_fair_share(64, -1), 64);
}

static void test_plan(void **state)
{
	(void)state;
	assert_int_equal(relay_lease_plan(0, 22), 22);   /* a newcomer takes its share */
	assert_int_equal(relay_lease_plan(64, 22), -42); /* the first relay gives most back */
	assert_int_equal(relay_lease_plan(22, 22), 0);   /* balanced: nothing moves */
	assert_int_equal(relay_lease_plan(22, 32), 10);  /* a relay died: take its shards */
}

#define SIM_RELAYS 8

/* A toy model of the lock table: owner[s] = relay index or -1. Each tick every live relay,
 * in turn, drains down to its share (draining is instant here: no batches) and try-locks free
 * shards up to it, exactly as relay_lease_tick orders the steps. */
static void sim_tick(int *owner, const bool *live)
{
	int r, s, nlive = 0;

	for (r = 0; r < SIM_RELAYS; r++)
		nlive += live[r];
	for (r = 0; r < SIM_RELAYS; r++) {
		int held = 0, plan;

		if (!live[r])
			continue;
		for (s = 0; s < RELAY_LEASE_SHARDS; s++)
			held += owner[s] == r;
		plan = relay_lease_plan(held, relay_lease_fair_share(RELAY_LEASE_SHARDS, nlive));
		for (s = RELAY_LEASE_SHARDS - 1; s >= 0 && plan < 0; s--)
			if (owner[s] == r) {
				owner[s] = -1;
				plan++;
			}
		for (s = 0; s < RELAY_LEASE_SHARDS && plan > 0; s++)
			if (owner[s] == -1) {
				owner[s] = r;
				plan--;
			}
	}
}

static void sim_assert_balanced(const int *owner, const bool *live)
{
	int r, s, nlive = 0, count[SIM_RELAYS] = {0};

	for (r = 0; r < SIM_RELAYS; r++)
		nlive += live[r];
	for (s = 0; s < RELAY_LEASE_SHARDS; s++) {
		assert_true(owner[s] >= 0); /* every shard has an owner */
		assert_true(live[owner[s]]);
		count[owner[s]]++;
	}
	for (r = 0; r < SIM_RELAYS; r++)
		if (live[r])
			assert_true(count[r] <= relay_lease_fair_share(RELAY_LEASE_SHARDS, nlive));
}

static void test_relays_come_and_go(void **state)
{
	int owner[RELAY_LEASE_SHARDS];
	bool live[SIM_RELAYS] = {false};
	int step, t, r, s;
	/* Who joins (+r+1) or dies (-(r+1)) at each step: a kill -9 frees its shards at once. */
	static const int events[] = {+1, +2, +3, -2, +4, +5, +6, -1, -3, +7, +8, -4, -5, -6, -7};

	(void)state;
	for (s = 0; s < RELAY_LEASE_SHARDS; s++)
		owner[s] = -1;
	for (step = 0; step < (int)(sizeof(events) / sizeof(events[0])); step++) {
		r = (events[step] > 0 ? events[step] : -events[step]) - 1;
		live[r] = events[step] > 0;
		if (!live[r])
			for (s = 0; s < RELAY_LEASE_SHARDS; s++)
				if (owner[s] == r)
					owner[s] = -1;
		/* Converges within a few ticks whatever the order of joins and deaths. */
		for (t = 0; t < 3; t++)
			sim_tick(owner, live);
		sim_assert_balanced(owner, live);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fair_share),
	    cmocka_unit_test(test_plan),
	    cmocka_unit_test(test_relays_come_and_go),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
