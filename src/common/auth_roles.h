/*
 * auth_roles.h - the four roles an API key may hold, as bits, and their names.
 *
 * A key holds any set of roles; a route asks for any one of a set (an any-of bitmask). The
 * names are the ones the database's CHECK constraint, ferryctl and the docs use: producer,
 * consumer, operator, reader. Pure functions; any thread.
 */
#ifndef FERRY_AUTH_ROLES_H
#define FERRY_AUTH_ROLES_H

#include <stddef.h>

#define AUTH_ROLE_PRODUCER 0x1u /* send, send-batch */
#define AUTH_ROLE_CONSUMER 0x2u /* acknowledge, agent register/heartbeat/deregister */
#define AUTH_ROLE_OPERATOR 0x4u /* topics and groups, re-drives, dead-letter deletion */
#define AUTH_ROLE_READER   0x8u /* every GET, the dashboard's data, /metrics */
#define AUTH_ROLE_ALL      0xfu /* the four above (the bootstrap key's) */

/* The name of one role bit ("producer"), or NULL when `role` is not exactly one known bit. */
const char *auth_role_name(unsigned role);

/*
 * Parses a comma-separated list of role names ("producer,reader"; spaces around names allowed,
 * repeats harmless) into *roles. Returns 0, or -1 with errstr naming the bad entry (an unknown
 * name, an empty list or entry).
 */
int auth_roles_parse(const char *text, unsigned *roles, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* Writes the names of the bits of `roles` as "producer,reader" (in bit order) into buf; ""
 * when none. Truncates to size. */
void auth_roles_format(unsigned roles, char *buf, size_t size);

#endif
