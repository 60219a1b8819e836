/*
 * Tickets from their JSON form (GameLift's Player objects, as the pool
 * stores them) into the evaluator's fm_ticket, and the location registry.
 *
 * Ownership: everything a ticket points to is allocated in the arena given.
 */
#ifndef RALLY_MATCHMAKER_PLAYERS_H
#define RALLY_MATCHMAKER_PLAYERS_H

#include <jansson.h>

#include "arena.h"
#include "match.h"
#include "ruleset.h"

/* The bit of a location name, registering it on first use; -1 once
 * FM_MAX_REGIONS locations are known. */
int fm_region_index(const char *name);
/* The bit of a registered location, or -1: names that come from requests
 * are looked up, never registered, so they cannot fill the registry. */
int fm_region_find(const char *name);
/* How many locations are registered: loops over locations stop here. */
int fm_region_count(void);
/* The name of a registered location (static until exit). */
const char *fm_region_name(int index);

/* Fills *t from players: [{"PlayerId", "PlayerAttributes": {"skill": {"N":
 * 10}}, "LatencyInMs": {"us-east-1": 20}}]. Attributes the rule set does not
 * declare are ignored; a declared one missing takes its default. Returns 0,
 * or -1 with *why (static text) when a player cannot be matched under rs:
 * an attribute of the wrong type, or missing without a default. */
int fm_ticket_from_json(struct arena *a, const struct fm_ruleset *rs, json_t *players,
                        struct fm_ticket *t, const char **why);

#endif
