/*
 * json_fields.h - reading the members of a JSON request body, with one line of error text.
 *
 * Every request parser (src/producer/ *_request.c) reads fields the same way: a member that is
 * absent or JSON null is "not given"; a given member of the wrong type or out of range fails
 * with "<where><field>: <what is expected>", where `where` is the path of the object inside the
 * body ("" for the body itself, "messages[3]." or "consumerGroups[0]." for an element; NULL is
 * taken as ""). These are the texts the REST API answers in {"error": ...}: they are part of
 * the contract, so a reader here never rewords one.
 *
 * The readers return 1 when the member was given and read (*out set), 0 when it was not given
 * and is optional (*out left as it was, or NULL for pointers), -1 with errstr filled otherwise.
 * Strings and objects returned point into `obj`, which must outlive them.
 *
 * Pure logic: no allocation, no I/O; any thread.
 */
#ifndef FERRY_JSON_FIELDS_H
#define FERRY_JSON_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The member `field` of obj, or NULL when obj is not an object, or the member is absent or
 * JSON null (all three mean "not given"). Borrowed reference. */
json_t *json_fields_get(const json_t *obj, const char *field);

/*
 * Fails unless `v` is a JSON object: "<where without its trailing '.'>: must be <noun>", or
 * "body: must be <noun>" when where is empty; noun NULL means "a JSON object". Returns 0 or -1.
 */
int json_fields_check_object(const json_t *v, const char *where, const char *noun, char *errstr,
                             size_t errstr_size) __attribute__((warn_unused_result));

/* The name of the first member of obj that is not in `known` (NULL-terminated), or NULL when
 * there is none (or obj is not an object). Borrowed from obj. */
const char *json_fields_unknown(const json_t *obj, const char *const *known);

/*
 * Fails on the first member of obj that is not in `known` (NULL-terminated):
 * "<where><name>: unknown field (expected <expected>)", with at most name_max bytes of the name
 * (0 = all of it; a client chose the name, so most parsers quote a bounded part) and `expected`
 * the list of known names joined by ", " when NULL. Returns 0 or -1.
 */
int json_fields_check_known(const json_t *obj, const char *where, const char *const *known,
                            const char *expected, int name_max, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* A given member, whatever its type. Not given and required: "<where><field>: is required". */
int json_fields_member(const json_t *obj, const char *where, const char *field, bool required,
                       json_t **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/*
 * A string of 1 to max_bytes bytes. Any other value fails with "<where><field>: must be a string
 * of 1 to <max_bytes> bytes"; with no_nul, a string holding a NUL fails too and the text ends
 * " (no NUL)". Not given and required: "is required".
 */
int json_fields_sized_string(const json_t *obj, const char *where, const char *field, bool required,
                             size_t max_bytes, bool no_nul, const char **out, char *errstr,
                             size_t errstr_size) __attribute__((warn_unused_result));

/*
 * A string of at most max_bytes bytes (empty allowed) without NUL, each failure with its own
 * text: "must be a string", "longer than <max_bytes> bytes", "must not contain NUL characters".
 * Not given and required: "is required".
 */
int json_fields_text(const json_t *obj, const char *where, const char *field, bool required,
                     size_t max_bytes, const char **out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* An integer from min to max: "<where><field>: must be an integer from <min> to <max>". Not
 * given and required: "is required". */
int json_fields_int(const json_t *obj, const char *where, const char *field, bool required, int min,
                    int max, int *out, char *errstr, size_t errstr_size)
    __attribute__((warn_unused_result));

/* true or false: "<where><field>: must be true or false". Never required. */
int json_fields_bool(const json_t *obj, const char *where, const char *field, bool *out,
                     char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

/* A JSON object: "<where><field>: must be a JSON object". Never required. */
int json_fields_object(const json_t *obj, const char *where, const char *field, json_t **out,
                       char *errstr, size_t errstr_size) __attribute__((warn_unused_result));

#endif
