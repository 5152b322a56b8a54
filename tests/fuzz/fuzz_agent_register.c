/* fuzz_agent_register.c - POST /api/agents/consumers/register and .../deregister bodies. */
#include "fuzz_body.h"
#include "producer/api/agent_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load(data, size);
	struct agent_registration reg;
	struct agent_deregistration dereg;
	char errstr[512];

	if (body == NULL)
		return 0;
	if (agent_request_parse_registration(body, &reg, errstr, sizeof(errstr)) == 0)
		agent_registration_clear(&reg);
	if (agent_request_parse_deregistration(body, &dereg, errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0'; /* refused: nothing to free either way */
	json_decref(body);
	return 0;
}
