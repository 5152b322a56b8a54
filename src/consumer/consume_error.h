/*
 * consume_error.h - what the consume loop does about a database error in a record's
 * transaction: retry the same record with backoff (the database or the moment is at fault), or
 * record the record as failed and move on (the record, or what the processor did with it, is at
 * fault, and retrying would fail the same way forever while the partition waits).
 * A pure function over the SQLSTATE, unit-tested.
 */
#ifndef FERRY_CONSUME_ERROR_H
#define FERRY_CONSUME_ERROR_H

#include <stdbool.h>

enum consume_error_action {
	CONSUME_ERROR_RETRY,  /* roll back, back off, try the same record again */
	CONSUME_ERROR_RECORD, /* roll back, record failed_message + negative ack, move on */
};

/*
 * Classifies an error. `sqlstate` is the five-character code of the failed statement ("" or
 * NULL when there was no server error: connection lost, out of memory); `connection_ok` is
 * whether the connection is still usable (PQstatus == CONNECTION_OK).
 *
 * Retried: no connection or no SQLSTATE; class 08 (connection), 40 (serialization failure,
 * deadlock), 53 (insufficient resources: disk full, out of memory, too many connections), 55
 * (lock not available, object in use), 57 (operator intervention, query cancelled, shutdown),
 * 58 (system/I-O error), XX (internal error), 3D and 28 (database or role missing: a
 * configuration problem, not the record's), F0, HV, and 25006 (read-only transaction: a
 * standby after a failover). Everything else (22 data exception, 23 integrity constraint, P0
 * raised by a trigger or function, 42 and 0A from a processor's statements, 25P02 after a
 * processor swallowed an error, 54 program limit such as an index row too big, ...) is about the
 * record: recorded. Recording needs failed_message and pending_ack to accept the row; if that
 * fails too, the caller retries, so nothing is dropped.
 */
enum consume_error_action consume_error_classify(const char *sqlstate, bool connection_ok);

/* "retry" or "record". */
const char *consume_error_action_name(enum consume_error_action a);

#endif
