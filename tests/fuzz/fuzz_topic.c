/* fuzz_topic.c - the topic registry's bodies: register a topic (POST /api/topics), add a group
 * (POST /api/topics/{name}/groups) and update a group (PUT .../groups/{group}), each given the
 * same input. */
#include "fuzz_body.h"
#include "producer/api/topic_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load(data, size);
	struct topic_request topic;
	struct topic_group_request group;
	struct topic_group_update update;
	char errstr[512];

	if (body == NULL)
		return 0;
	if (topic_request_parse_topic(body, 3, &topic, errstr, sizeof(errstr)) == 0)
		topic_request_clear(&topic);
	if (topic_request_parse_group(body, "", &group, errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0'; /* refused: nothing to free either way */
	if (topic_request_parse_update(body, &update, errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0';
	json_decref(body);
	return 0;
}
