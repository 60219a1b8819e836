/*
 * Field checks shared by the parsers of GameLift-shaped files
 * (configurations, queues, fleets): each fails by filling an fm_error that
 * names the field and the reason, and returns -1.
 */
#ifndef RALLY_MATCHMAKER_FIELDS_H
#define RALLY_MATCHMAKER_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ruleset.h"

/* Fills *err; always -1. */
int fm_fail(struct fm_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s is 1..max characters, each alphanumeric or in extra. */
bool fm_token(const char *s, size_t max, const char *extra);

/* Every key of body is one of `known` (NULL-terminated); `what` names the
 * API in the error ("CreateGameSessionQueue"). */
int fm_known_fields(json_t *body, const char *const *known, const char *what, struct fm_error *err);

/* Puts prefix before the field named in *err: "Policies[0]" + "Max" makes
 * "Policies[0].Max". */
void fm_field_prefix(struct fm_error *err, const char *prefix);

/* Optional fields: absent leaves *out alone and returns 0. */
int fm_int_field(json_t *body, const char *key, long lo, long hi, int *out, struct fm_error *err);
int fm_text_field(json_t *body, const char *key, size_t lo, size_t hi, const char **out,
                  struct fm_error *err);

#endif
