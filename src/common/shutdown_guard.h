/*
 * shutdown_guard.h - the bound on a service's shutdown (FERRY_SHUTDOWN_DEADLINE_MS).
 *
 * service_boot_wait_signal() starts a guard when SIGTERM/SIGINT arrives, and the service's stop
 * names each shutdown stage as it enters it. The stages size their own waits from what is left
 * (shutdown_guard_left_ms), so the normal path ends in time on its own whatever Kafka and
 * PostgreSQL do. The guard's thread is the last resort: if the deadline passes anyway (a call that
 * ignores its timeout), it logs the stage still running and ends the process with
 * _exit(SHUTDOWN_GUARD_EXIT_STATUS). Nothing committed is lost by that: what was not flushed (rows
 * PENDING, acknowledgments queued, offsets not committed) is durable and picked up by the next
 * start.
 */
#ifndef FERRY_SHUTDOWN_GUARD_H
#define FERRY_SHUTDOWN_GUARD_H

#include <stdint.h>

#define SHUTDOWN_GUARD_EXIT_STATUS 3 /* the watchdog's exit: the deadline passed */

struct shutdown_guard;

/*
 * Starts the watchdog for `service` (copied; for the log line): the process ends at most
 * deadline_ms from now. Returns the guard (freed by shutdown_guard_finish), or NULL when its
 * thread cannot be started (logged; the shutdown then goes on unguarded, the stages still
 * bounded). Main thread.
 */
struct shutdown_guard *shutdown_guard_start(const char *service, long deadline_ms);

/* Names the stage now running (copied, truncated to 200 bytes), for the watchdog's line.
 * NULL guard is a no-op. Any thread. */
void shutdown_guard_stage(struct shutdown_guard *g, const char *stage);

/*
 * Milliseconds left before the deadline minus `reserve_ms` (time kept for the later stages),
 * at least 0 and at most `cap_ms`. With a NULL guard returns cap_ms. Any thread.
 */
long shutdown_guard_left_ms(const struct shutdown_guard *g, long reserve_ms, long cap_ms);

/* Stops the watchdog and frees the guard. Returns the milliseconds since shutdown_guard_start
 * (0 for NULL). Main thread. */
int64_t shutdown_guard_finish(struct shutdown_guard *g);

#endif
