/*
 * retry_policy.c - see retry_policy.h.
 */
#include "producer/jobs/retry_policy.h"

int64_t retry_policy_delay_ms(unsigned retry, int64_t base_ms, int64_t cap_ms, uint32_t random)
{
	int64_t d = base_ms < 1 ? 1 : base_ms, half;
	unsigned i;

	if (cap_ms < 1)
		cap_ms = 1;
	/* Doubling stops at the cap, so no overflow however large retry grows. */
	for (i = 1; i < retry && d < cap_ms; i++)
		d = d > cap_ms / 2 ? cap_ms : d * 2;
	if (d > cap_ms)
		d = cap_ms;
	half = d / 2;
	return d - half + (int64_t)(random % (uint64_t)(half + 1));
}
