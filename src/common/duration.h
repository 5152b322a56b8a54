/*
 * duration.h - reads an operator's duration: "90" (seconds), "45s", "30m", "12h", "7d", "2w".
 * Pure; unit-tested (tests/unit/test_duration.c).
 */
#ifndef FERRY_DURATION_H
#define FERRY_DURATION_H

#include <stdint.h>

/* Parses `text` into seconds (1 .. 100 years). Returns 0, or -1 for anything else (empty, a
 * sign, junk after the unit, zero, overflow). */
int duration_parse_s(const char *text, int64_t *out_s);

#endif
