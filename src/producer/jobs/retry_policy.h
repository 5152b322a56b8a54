/*
 * retry_policy.h - the arithmetic of redelivery: how long a group waits after its r-th retry
 * before the next one may start. Pure functions, unit-tested (tests/unit/test_retry_policy.c).
 */
#ifndef FERRY_RETRY_POLICY_H
#define FERRY_RETRY_POLICY_H

#include <stdint.h>

/*
 * The wait after retry number `retry` (1 for the first retry): exponential with "equal
 * jitter", d = min(cap_ms, base_ms * 2^(retry-1)), result in [d/2, d], chosen by `random`
 * (any 32-bit value). Equal jitter keeps a floor under every wait, so waits never shrink from
 * one retry to the next (d/2 of the next is d of this one), while retries of many messages
 * that failed together spread out instead of hitting the consumers in one wave. The cap bounds
 * the rate of an infinite retry (max_retries -1). base_ms, cap_ms >= 1; retry 0 counts as 1.
 */
int64_t retry_policy_delay_ms(unsigned retry, int64_t base_ms, int64_t cap_ms, uint32_t random);

#endif
