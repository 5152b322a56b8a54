/* fuzz_json_scan.c - the pre-scan of request bodies (json_scan), fed in two pieces split where
 * the first byte says, as bodies arrive; its value count must bound what jansson builds. */
#include "common/json_scan.h"

#include <jansson.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Values jansson built for v: v itself, its members and elements, recursively. */
static size_t fuzz_json_count(const json_t *v)
{
	size_t n = 1, i;
	const char *key;
	json_t *m;

	if (json_is_array(v)) {
		json_array_foreach (v, i, m)
			n += fuzz_json_count(m);
	} else if (json_is_object(v)) {
		json_object_foreach ((json_t *)v, key, m)
			n += fuzz_json_count(m);
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_scan scan;
	char errstr[128];
	size_t cut;
	json_t *doc;

	if (size == 0)
		return 0;
	cut = data[0] % size;
	data++;
	size--;
	if (cut > size)
		cut = size;
	json_scan_init(&scan, 0, 64);
	if (json_scan_feed(&scan, (const char *)data, cut, errstr, sizeof(errstr)) != 0 ||
	    json_scan_feed(&scan, (const char *)data + cut, size - cut, errstr, sizeof(errstr)) !=
	        0)
		return 0;
	if (memchr(data, '\0', size) != NULL)
		return 0;
	doc = json_loadb((const char *)data, size, 0, NULL);
	if (doc != NULL) {
		if (fuzz_json_count(doc) > scan.values)
			__builtin_trap(); /* the scan let through more values than it counted */
		json_decref(doc);
	}
	return 0;
}
