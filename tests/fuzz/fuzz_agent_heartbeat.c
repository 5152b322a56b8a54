/* fuzz_agent_heartbeat.c - POST /api/agents/consumers/heartbeat bodies (details.partitions
 * included): agent_request_parse_heartbeat. */
#include "fuzz_body.h"
#include "producer/api/agent_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load(data, size);
	struct agent_heartbeat hb;
	char errstr[512];

	if (body == NULL)
		return 0;
	if (agent_request_parse_heartbeat(body, &hb, errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0'; /* refused: nothing to free either way */
	json_decref(body);
	return 0;
}
