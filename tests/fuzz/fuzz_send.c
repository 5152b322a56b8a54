/* fuzz_send.c - POST /api/messages/send bodies: message_request_parse, then the traceparent of an
 * HTTP header put into the message's headers, as api_messages.c does. */
#include "fuzz_body.h"
#include "producer/api/message_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	json_t *body = fuzz_body_load(data, size);
	struct message_request req;
	char errstr[512];

	if (body == NULL)
		return 0;
	if (message_request_parse(body, "", &req, errstr, sizeof(errstr)) == 0) {
		if (message_request_set_traceparent(&req, tp, size % 2 == 0) != 0)
			__builtin_trap(); /* only out of memory may fail */
		message_request_clear(&req);
	}
	json_decref(body);
	return 0;
}
