/*
 * JSON text written straight into a growing buffer, for the pages large
 * enough that building a jansson tree and dumping it would be most of the
 * request's cost (DescribeGameSessions: 100 game sessions, some 35 KB).
 * jansson stays the way to read JSON and to answer everything else.
 *
 * The writer places the commas: a key, or a value in an array, that follows
 * another in the same object or array gets one. Nesting is the caller's to
 * get right; keys are written as given (plain ASCII names, not escaped).
 */
#ifndef RALLY_COMMON_JSONW_H
#define RALLY_COMMON_JSONW_H

#include <stddef.h>

struct arena;

struct jsonw {
    char *text; /* malloc'd, NUL-terminated; freed at the arena's reset */
    size_t len, cap;
};

/* A writer whose text lives until the arena's reset; `hint` is the size
 * expected, to grow rarely. */
struct jsonw *jsonw_new(struct arena *a, size_t hint);

/* '{' or '[' to open, '}' or ']' to close. */
void jsonw_open(struct jsonw *w, char bracket);
void jsonw_close(struct jsonw *w, char bracket);
/* "key": */
void jsonw_key(struct jsonw *w, const char *key);
/* A string value, escaped as JSON requires; s must be UTF-8 (PostgreSQL's
 * text is). NULL writes null. */
void jsonw_string(struct jsonw *w, const char *s);
/* A value that is already JSON text (a jsonb column, a number PostgreSQL
 * printed), copied as is. */
void jsonw_raw(struct jsonw *w, const char *json);
/* Epoch milliseconds as PostgreSQL prints a bigint ("1764391234123")
 * written as GameLift's epoch seconds (1764391234.123). */
void jsonw_epoch_ms(struct jsonw *w, const char *ms);

/* key and value together, for the common cases. */
void jsonw_key_string(struct jsonw *w, const char *key, const char *s);
void jsonw_key_raw(struct jsonw *w, const char *key, const char *json);

#endif
