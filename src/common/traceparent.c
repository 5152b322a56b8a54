/*
 * traceparent.c - see traceparent.h.
 */
#include "common/traceparent.h"

#include <string.h>

/* n lowercase hex digits at s, not all '0' when nonzero is set. */
static bool traceparent_hex(const char *s, size_t n, bool nonzero)
{
	bool any = false;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
		any = any || c != '0';
	}
	return !nonzero || any;
}

bool traceparent_valid(const char *v)
{
	size_t len;

	if (v == NULL)
		return false;
	len = strlen(v);
	if (len < TRACEPARENT_LEN || !traceparent_hex(v, 2, false) || strncmp(v, "ff", 2) == 0 ||
	    v[2] != '-' || !traceparent_hex(v + 3, 32, true) || v[35] != '-' ||
	    !traceparent_hex(v + 36, 16, true) || v[52] != '-' ||
	    !traceparent_hex(v + 53, 2, false))
		return false;
	if (strncmp(v, "00", 2) == 0)
		return len == TRACEPARENT_LEN;
	return len == TRACEPARENT_LEN || v[TRACEPARENT_LEN] == '-';
}
