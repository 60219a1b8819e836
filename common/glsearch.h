/*
 * SearchGameSessions' FilterExpression and SortExpression, as GameLift
 * defines them: operands gameSessionName, gameSessionId,
 * gameSessionProperties.<key>, maximumSessions, creationTimeMillis,
 * playerSessionCount and hasAvailablePlayerSessions; comparators = <> < >
 * <= >=; numbers, true and false, and strings in single or double quotes
 * (a backslash escapes the next character); AND, OR, NOT and parentheses,
 * with comparisons binding tightest, then NOT, then AND, then OR. Strings
 * and booleans compare with = and <> only; property values are strings.
 * Sort: one operand, then ASC or DESC; sessions without a value for it
 * come last.
 *
 * A query is compiled once per request and run over the candidate game
 * sessions (ACTIVE ones of a fleet, read by the caller).
 *
 * Ownership: the query lives in the arena it was compiled in; sessions
 * are the caller's.
 */
#ifndef RALLY_COMMON_GLSEARCH_H
#define RALLY_COMMON_GLSEARCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct arena;

/* What a search sees of a game session. */
struct gls_session {
    const char *id;     /* its ARN */
    const char *name;   /* NULL when it has none */
    json_t *properties; /* [{"Key","Value"}], borrowed */
    double maximum;
    double created_ms;
    double players;
    const void *row; /* the caller's, carried along */
};

struct gls_query;

/* Compiles filter and sort (either may be NULL). NULL with *why (arena or
 * static words) when one is not a valid expression. */
struct gls_query *gls_compile(struct arena *a, const char *filter, const char *sort,
                              const char **why);

bool gls_matches(const struct gls_query *q, const struct gls_session *s);

/* Sorts by the query's sort expression (stable; no sort: left as is). */
void gls_sort(const struct gls_query *q, struct gls_session *s, size_t n);

#endif
