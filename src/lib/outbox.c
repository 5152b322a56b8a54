/*
 * outbox.c - libferry: the C door into the outbox (include/ferry/outbox.h). It calls the same
 * SQL function as the SQL door, ferry.enqueue(), so validation and idempotency live in one
 * place. Deliberately depends on libpq only.
 */
#include "ferry/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ferry_outbox_enqueue(PGconn *conn, const struct ferry_message *msg, int64_t *id, char *errstr,
                         size_t errstr_size)
{
	const char *params[5];
	PGresult *res;
	int rc = -1;

	if (conn == NULL || msg == NULL || msg->topic == NULL || msg->payload == NULL) {
		snprintf(errstr, errstr_size,
		         "ferry_outbox_enqueue: conn, topic and payload are required");
		return -1;
	}
	if (msg->idempotency_key &&
	    strlen(msg->idempotency_key) > FERRY_IDEMPOTENCY_KEY_MAX_BYTES) {
		/* Checked here too (ferry.enqueue refuses it as well) so the caller's transaction
		 * survives a mistake it can correct. */
		snprintf(errstr, errstr_size,
		         "ferry_outbox_enqueue: idempotency_key is %zu bytes, over the limit of %d",
		         strlen(msg->idempotency_key), FERRY_IDEMPOTENCY_KEY_MAX_BYTES);
		return -1;
	}
	params[0] = msg->topic;
	params[1] = msg->key;
	params[2] = msg->payload;
	params[3] = msg->headers_json ? msg->headers_json : "{}";
	params[4] = msg->idempotency_key;
	res = PQexecParams(conn, "SELECT ferry.enqueue($1, $2, $3, $4::jsonb, $5)", 5, NULL, params,
	                   NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		const char *m = PQresultErrorMessage(res);

		snprintf(errstr, errstr_size, "%s", m && *m ? m : PQerrorMessage(conn));
		errstr[strcspn(errstr, "\n")] = '\0';
		goto done;
	}
	if (id)
		*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	rc = 0;
done:
	PQclear(res);
	return rc;
}
