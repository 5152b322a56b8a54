/*
 * auth_roles.c - see auth_roles.h.
 */
#include "common/auth_roles.h"

#include <stdio.h>
#include <string.h>

static const struct {
	unsigned bit;
	const char *name;
} auth_roles_table[] = {
    {AUTH_ROLE_PRODUCER, "producer"},
    {AUTH_ROLE_CONSUMER, "consumer"},
    {AUTH_ROLE_OPERATOR, "operator"},
    {AUTH_ROLE_READER, "reader"},
};

#define AUTH_ROLES_N (sizeof(auth_roles_table) / sizeof(auth_roles_table[0]))

const char *auth_role_name(unsigned role)
{
	const char *name = NULL;

	for (size_t i = 0; i < AUTH_ROLES_N; i++)
		if (auth_roles_table[i].bit == role)
			name = auth_roles_table[i].name;
	return name;
}

int auth_roles_parse(const char *text, unsigned *roles, char *errstr, size_t errstr_size)
{
	const char *p = text != NULL ? text : "";
	unsigned out = 0;
	int rc = -1;

	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		unsigned bit = 0;

		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		while (len > 0 && p[len - 1] == ' ')
			len--;
		for (size_t i = 0; i < AUTH_ROLES_N && len > 0; i++)
			if (strlen(auth_roles_table[i].name) == len &&
			    memcmp(auth_roles_table[i].name, p, len) == 0)
				bit = auth_roles_table[i].bit;
		if (bit == 0) {
			snprintf(
			    errstr, errstr_size,
			    "unknown role '%.*s' (roles: producer, consumer, operator, reader)",
			    (int)(len > 64 ? 64 : len), p);
			goto done;
		}
		out |= bit;
		if (end == NULL)
			break;
		p = end + 1;
	}
	*roles = out;
	rc = 0;
done:
	return rc;
}

void auth_roles_format(unsigned roles, char *buf, size_t size)
{
	size_t used = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < AUTH_ROLES_N; i++) {
		int n;

		if ((roles & auth_roles_table[i].bit) == 0)
			continue;
		n = snprintf(buf + used, size - used, "%s%s", used > 0 ? "," : "",
		             auth_roles_table[i].name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}
