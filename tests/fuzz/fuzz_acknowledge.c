/* fuzz_acknowledge.c - POST /api/messages/acknowledge bodies: ack_request_parse. */
#include "fuzz_body.h"
#include "producer/api/ack_request.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load(data, size);
	struct delivery_ack *acks = NULL;
	size_t n = 0;
	char errstr[512];

	if (body == NULL)
		return 0;
	if (ack_request_parse(body, &acks, &n, errstr, sizeof(errstr)) == 0)
		free(acks);
	json_decref(body);
	return 0;
}
