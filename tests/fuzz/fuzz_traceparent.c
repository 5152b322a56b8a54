/* fuzz_traceparent.c - the W3C traceparent header: traceparent_valid, whose accepted values are
 * at least 55 characters, and exactly 55 for version 00. */
#include "common/traceparent.h"
#include "fuzz_body.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_body_cstring(data, size);

	if (text == NULL)
		return 0;
	if (traceparent_valid(text) &&
	    (strlen(text) < 55 || (strncmp(text, "00", 2) == 0 && strlen(text) != 55)))
		__builtin_trap(); /* accepted a value of the wrong shape */
	free(text);
	return 0;
}
