/* fuzz_duration.c - durations ("7d", "90m": the olderThan query argument, duration settings):
 * duration_parse_s, whose result must stay in its documented range. */
#include "common/duration.h"
#include "fuzz_body.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_body_cstring(data, size);
	int64_t s = 0;

	if (text == NULL)
		return 0;
	if (duration_parse_s(text, &s) == 0 && (s < 1 || s > 100LL * 366 * 24 * 3600))
		__builtin_trap(); /* accepted a duration outside 1 s .. 100 years */
	free(text);
	return 0;
}
