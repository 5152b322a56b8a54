/*
 * consume_error.c - see consume_error.h.
 */
#include "consumer/consume_error.h"

#include <string.h>

enum consume_error_action consume_error_classify(const char *sqlstate, bool connection_ok)
{
	/* Classes where the database, not the record, is at fault. */
	static const char *const retry_classes[] = {"08", "40", "53", "55", "57", "58",
	                                            "XX", "3D", "28", "F0", "HV"};
	size_t i;

	if (!connection_ok || sqlstate == NULL || strlen(sqlstate) != 5)
		return CONSUME_ERROR_RETRY;
	if (strcmp(sqlstate, "25006") == 0)
		return CONSUME_ERROR_RETRY;
	for (i = 0; i < sizeof(retry_classes) / sizeof(retry_classes[0]); i++)
		if (strncmp(sqlstate, retry_classes[i], 2) == 0)
			return CONSUME_ERROR_RETRY;
	return CONSUME_ERROR_RECORD;
}

const char *consume_error_action_name(enum consume_error_action a)
{
	return a == CONSUME_ERROR_RETRY ? "retry" : "record";
}
