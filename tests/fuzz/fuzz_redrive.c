/* fuzz_redrive.c - the re-drive bodies (POST /api/messages/{id}/redrive and
 * /api/messages/redrive) and the status query argument of the dead-letter routes. */
#include "fuzz_body.h"
#include "producer/api/redrive_request.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load(data, size);
	struct redrive_one_request one;
	struct redrive_bulk_request bulk;
	char errstr[512], *text = fuzz_body_cstring(data, size);

	if (text != NULL) {
		(void)redrive_request_status_valid(text);
		free(text);
	}
	if (body == NULL)
		return 0;
	if (redrive_request_parse_one(body, &one, errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0'; /* refused: nothing to free either way */
	if (redrive_request_parse_bulk(body, &bulk, errstr, sizeof(errstr)) != 0)
		errstr[0] = '\0';
	json_decref(body);
	return 0;
}
