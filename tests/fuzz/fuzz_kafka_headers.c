/* fuzz_kafka_headers.c - the headers of a Kafka record as the consumer reads them:
 * consume_record_classify (ferry-message-id, ferry-idempotency-key, ferry-target-group,
 * traceparent, ...) and consume_record_is_text on every value.
 *
 * Input: a group name (1 length byte, then the bytes), then headers, each a name (1 length byte,
 * bytes) and a value (2 length bytes little-endian, 0xffff = a null value, then the bytes).
 * Names and values are copied into buffers of their exact size, as librdkafka hands them out
 * (names NUL-terminated, values not), so that AddressSanitizer sees any read past one. */
#include "consumer/consume_record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_HEADERS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Takes `len` bytes from the input into a new buffer (NUL-terminated when `terminate`); NULL
 * when the input is too short or out of memory. */
static char *fuzz_take(const uint8_t **data, size_t *size, size_t len, int terminate)
{
	char *s;

	if (len > *size)
		return NULL;
	s = malloc(terminate || len == 0 ? len + 1 : len);
	if (s == NULL)
		return NULL;
	memcpy(s, *data, len);
	if (terminate)
		s[len] = '\0';
	*data += len;
	*size -= len;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_header headers[FUZZ_MAX_HEADERS];
	struct consume_headers out;
	size_t n = 0, glen;
	char *group;

	if (size == 0)
		return 0;
	glen = data[0];
	data++;
	size--;
	group = fuzz_take(&data, &size, glen, 1);
	if (group == NULL)
		return 0;
	while (n < FUZZ_MAX_HEADERS && size >= 3) {
		size_t nlen = data[0], vlen;
		char *name;

		data++;
		size--;
		name = fuzz_take(&data, &size, nlen, 1);
		if (name == NULL || size < 2) {
			free(name);
			break;
		}
		vlen = (size_t)data[0] | (size_t)data[1] << 8;
		data += 2;
		size -= 2;
		headers[n].name = name;
		headers[n].value = NULL;
		headers[n].value_len = 0;
		if (vlen != 0xffff) {
			size_t take =
			    vlen < size ? vlen : size; /* a short last value: what is left */
			char *value = fuzz_take(&data, &size, take, 0);

			if (value == NULL) {
				free(name);
				break;
			}
			headers[n].value = value;
			headers[n].value_len = take;
		}
		n++;
	}
	(void)consume_record_classify(headers, n, group, &out);
	for (size_t i = 0; i < n; i++) {
		if (headers[i].value != NULL)
			(void)consume_record_is_text(headers[i].value, headers[i].value_len);
		free((void *)headers[i].name);
		free((void *)headers[i].value);
	}
	free(group);
	return 0;
}
