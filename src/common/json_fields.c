/*
 * json_fields.c - see json_fields.h.
 */
#include "common/json_fields.h"

#include <stdio.h>
#include <string.h>

json_t *json_fields_get(const json_t *obj, const char *field)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, field) : NULL;

	return v == NULL || json_is_null(v) ? NULL : v;
}

int json_fields_check_object(const json_t *v, const char *where, const char *noun, char *errstr,
                             size_t errstr_size)
{
	size_t len = where ? strlen(where) : 0;

	if (json_is_object(v))
		return 0;
	/* where is "" (the body) or ends in '.', dropped here: "consumerGroups[1]: must be". */
	if (len == 0)
		snprintf(errstr, errstr_size, "body: must be %s", noun ? noun : "a JSON object");
	else
		snprintf(errstr, errstr_size, "%.*s: must be %s", (int)len - 1, where,
		         noun ? noun : "a JSON object");
	return -1;
}

const char *json_fields_unknown(const json_t *obj, const char *const *known)
{
	const char *name;
	json_t *value;
	size_t i;

	if (!json_is_object(obj))
		return NULL;
	/* json_object_foreach takes a non-const object; it only reads it here. */
	json_object_foreach ((json_t *)obj, name, value) {
		for (i = 0; known[i]; i++)
			if (strcmp(name, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return name;
	}
	return NULL;
}

int json_fields_check_known(const json_t *obj, const char *where, const char *const *known,
                            const char *expected, int name_max, char *errstr, size_t errstr_size)
{
	const char *name = json_fields_unknown(obj, known);
	char joined[256];
	size_t i, off;

	if (name == NULL)
		return 0;
	if (expected == NULL) {
		joined[0] = '\0';
		for (i = 0, off = 0; known[i] && off < sizeof(joined); i++)
			off += (size_t)snprintf(joined + off, sizeof(joined) - off, "%s%s",
			                        i ? ", " : "", known[i]);
		expected = joined;
	}
	snprintf(errstr, errstr_size, "%s%.*s: unknown field (expected %s)", where ? where : "",
	         name_max > 0 ? name_max : (int)strlen(name), name, expected);
	return -1;
}

int json_fields_member(const json_t *obj, const char *where, const char *field, bool required,
                       json_t **out, char *errstr, size_t errstr_size)
{
	*out = json_fields_get(obj, field);
	if (*out)
		return 1;
	if (!required)
		return 0;
	snprintf(errstr, errstr_size, "%s%s: is required", where ? where : "", field);
	return -1;
}

int json_fields_sized_string(const json_t *obj, const char *where, const char *field, bool required,
                             size_t max_bytes, bool no_nul, const char **out, char *errstr,
                             size_t errstr_size)
{
	json_t *v;
	size_t len;
	int rc = json_fields_member(obj, where, field, required, &v, errstr, errstr_size);

	*out = NULL;
	if (rc <= 0)
		return rc;
	len = json_is_string(v) ? json_string_length(v) : 0;
	/* An embedded NUL would hide the rest of the string from C. */
	if (len == 0 || len > max_bytes || (no_nul && strlen(json_string_value(v)) != len)) {
		snprintf(errstr, errstr_size, "%s%s: must be a string of 1 to %zu bytes%s",
		         where ? where : "", field, max_bytes, no_nul ? " (no NUL)" : "");
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

int json_fields_text(const json_t *obj, const char *where, const char *field, bool required,
                     size_t max_bytes, const char **out, char *errstr, size_t errstr_size)
{
	json_t *v;
	int rc = json_fields_member(obj, where, field, required, &v, errstr, errstr_size);

	*out = NULL;
	if (rc <= 0)
		return rc;
	where = where ? where : "";
	if (!json_is_string(v)) {
		snprintf(errstr, errstr_size, "%s%s: must be a string", where, field);
		return -1;
	}
	if (json_string_length(v) > max_bytes) {
		snprintf(errstr, errstr_size, "%s%s: longer than %zu bytes", where, field,
		         max_bytes);
		return -1;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(errstr, errstr_size, "%s%s: must not contain NUL characters", where,
		         field);
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

int json_fields_int(const json_t *obj, const char *where, const char *field, bool required, int min,
                    int max, int *out, char *errstr, size_t errstr_size)
{
	json_t *v;
	int rc = json_fields_member(obj, where, field, required, &v, errstr, errstr_size);

	if (rc <= 0)
		return rc;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(errstr, errstr_size, "%s%s: must be an integer from %d to %d",
		         where ? where : "", field, min, max);
		return -1;
	}
	*out = (int)json_integer_value(v);
	return 1;
}

/* The given member `field`, when its type is `type` (JSON_TRUE standing for either boolean):
 * 1 with *out set, 0 when not given, -1 "<where><field>: must be <what>". */
static int json_fields_typed(const json_t *obj, const char *where, const char *field,
                             json_type type, const char *what, json_t **out, char *errstr,
                             size_t errstr_size)
{
	json_t *v = json_fields_get(obj, field);
	json_type t = v && json_is_boolean(v) ? JSON_TRUE : v ? json_typeof(v) : JSON_NULL;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (t != type) {
		snprintf(errstr, errstr_size, "%s%s: must be %s", where ? where : "", field, what);
		return -1;
	}
	*out = v;
	return 1;
}

int json_fields_bool(const json_t *obj, const char *where, const char *field, bool *out,
                     char *errstr, size_t errstr_size)
{
	json_t *v;
	int rc = json_fields_typed(obj, where, field, JSON_TRUE, "true or false", &v, errstr,
	                           errstr_size);

	if (rc > 0)
		*out = json_is_true(v);
	return rc;
}

int json_fields_object(const json_t *obj, const char *where, const char *field, json_t **out,
                       char *errstr, size_t errstr_size)
{
	return json_fields_typed(obj, where, field, JSON_OBJECT, "a JSON object", out, errstr,
	                         errstr_size);
}
