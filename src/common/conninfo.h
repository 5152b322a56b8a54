/*
 * conninfo.h - translate the seed's ADO.NET-style connection string into a libpq conninfo.
 *
 * The seed deployments set ConnectionStrings__DefaultConnection to
 *   "Host=localhost;Port=5432;Database=outbox_db;Username=outbox_user;Password=outbox_password"
 * ferry accepts that form as well as anything libpq accepts itself (a postgres:// or
 * postgresql:// URI, or a "key=value key=value" keyword string), so users of the original can
 * switch without rewriting their deployment. Pure functions: no I/O, any thread.
 */
#ifndef FERRY_CONNINFO_H
#define FERRY_CONNINFO_H

#include <stddef.h>

/*
 * Translates `in` into a libpq conninfo string written to `out` (NUL-terminated).
 * - URIs and keyword strings (anything without a ';' and with no "Key=" of the ADO.NET form,
 *   or starting with postgres:// / postgresql://) are copied unchanged.
 * - ADO.NET form: keys are case-insensitive and may contain spaces ("User ID"); known keys:
 *   Host/Server, Port, Database/Initial Catalog, Username/User ID/User, Password,
 *   SSL Mode/SslMode, Root Certificate (sslrootcert), SSL Certificate (sslcert), SSL Key
 *   (sslkey), Timeout/Connect Timeout (seconds), Application Name, Search Path.
 *   Empty segments (";;", trailing ';') are ignored. Values are quoted for libpq
 *   ('...' with \' and \\ escaped). Host may be "host1,host2" and is passed as is.
 *   Keys are compared with spaces removed ("UserId" = "User ID"). As in ADO.NET, a value may be
 *   enclosed in '...' or "..." (a doubled quote inside stands for one), which is how a
 *   password containing ';' is written; unquoted values are trimmed of surrounding spaces.
 *   SSL Mode accepts Npgsql's names (VerifyFull) and libpq's (verify-full); Search Path
 *   becomes options='-c search_path=...'. A string without ';' whose first key is spelled as
 *   libpq spells it ("host=db port=5432") is a libpq keyword string; one with ';' is always
 *   read as ADO.NET (give a URI, with ';' as %3B, if a libpq value must contain ';').
 *   Error lines never echo the Password value.
 * Returns 0 on success. On failure (unknown key, segment without '=', empty input, output
 * buffer too small) returns -1 and writes one readable line naming the problem into errstr.
 */
int conninfo_translate(const char *in, char *out, size_t out_size, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

#endif
