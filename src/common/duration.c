/*
 * duration.c - see duration.h.
 */
#include "common/duration.h"

#include <stddef.h>

#define DURATION_MAX_S (100LL * 366 * 24 * 3600)

int duration_parse_s(const char *text, int64_t *out_s)
{
	int64_t v = 0, unit = 1;
	const char *p = text;

	if (text == NULL || *p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > DURATION_MAX_S)
			return -1;
	}
	switch (*p) {
	case '\0':
		break;
	case 's':
		unit = 1;
		p++;
		break;
	case 'm':
		unit = 60;
		p++;
		break;
	case 'h':
		unit = 3600;
		p++;
		break;
	case 'd':
		unit = 86400;
		p++;
		break;
	case 'w':
		unit = 7 * 86400;
		p++;
		break;
	default:
		return -1;
	}
	if (*p != '\0' || v == 0 || v > DURATION_MAX_S / unit)
		return -1;
	*out_s = v * unit;
	return 0;
}
