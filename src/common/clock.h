/*
 * clock.h - the two time computations every thread of ferry's services does: milliseconds on
 * the monotonic clock (for intervals and timeouts), and an absolute deadline `ms` from now on a
 * given clock (for pthread_cond_timedwait: CLOCK_REALTIME unless the condition variable was made
 * with CLOCK_MONOTONIC).
 */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t clock_monotonic_ms(void);

/* Now on `clock`, plus ms (>= 0). */
struct timespec clock_deadline(clockid_t clock, long ms);

/*
 * Initialises `cond` so that pthread_cond_timedwait on it takes CLOCK_MONOTONIC deadlines
 * (clock_deadline(CLOCK_MONOTONIC, ms)): a wall-clock step cannot stretch or cut a wait.
 * Destroy it with pthread_cond_destroy.
 */
void clock_cond_init_monotonic(pthread_cond_t *cond);

#endif
