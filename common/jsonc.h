/*
 * Loading JSON files as AWS's own FlexMatch examples are written: with //
 * and block comments and trailing commas. The text is normalised to strict
 * JSON, then parsed by jansson with duplicate keys rejected.
 */
#ifndef RALLY_COMMON_JSONC_H
#define RALLY_COMMON_JSONC_H

#include <jansson.h>
#include <stddef.h>

/* Rewrites text (len bytes) in place into strict JSON: comments become
 * spaces, a comma followed only by whitespace before } or ] is removed.
 * Strings are left untouched. */
void jsonc_normalise(char *text, size_t len);

/* Reads and parses a file; NULL with err filled on failure. New reference. */
json_t *jsonc_load_file(const char *path, json_error_t *err);

#endif
