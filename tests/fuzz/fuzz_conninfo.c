/* fuzz_conninfo.c - connection strings (ConnectionStrings__*, FERRY_DATABASE_URL):
 * conninfo_translate, into a buffer of the size the services use and into a small one. */
#include "common/conninfo.h"
#include "fuzz_body.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_body_cstring(data, size), out[4096], small[16], errstr[512];

	if (in == NULL)
		return 0;
	if (conninfo_translate(in, out, sizeof(out), errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0';
	if (conninfo_translate(in, small, sizeof(small), errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0';
	free(in);
	return 0;
}
