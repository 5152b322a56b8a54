/* fuzz_send_batch.c - POST /api/messages/send-batch bodies: message_request_parse_batch. */
#include "fuzz_body.h"
#include "producer/api/message_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load(data, size);
	struct message_request *reqs = NULL;
	size_t n = 0;
	char errstr[512];

	if (body == NULL)
		return 0;
	if (message_request_parse_batch(body, &reqs, &n, errstr, sizeof(errstr)) == 0)
		message_request_free_array(reqs, n);
	json_decref(body);
	return 0;
}
