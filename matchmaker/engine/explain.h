/*
 * Why a ticket does not match: the debugging FlexMatch users ask for.
 *
 * The ticket is tried with each other ticket of the pool as a two-ticket
 * potential match, every team placement that fits, the expansions in force
 * now. For each rule: with how many of them it fails and, for a rule with a
 * numeric limit (maxDistance, minDistance, maxLatency, minCount, maxCount),
 * the value the closest of them would need, next to the value now and the
 * value once every expansion has run. Rules that a two-ticket match cannot
 * decide (counts, empty teams) are reported as undecided, not failed.
 */
#ifndef RALLY_MATCHMAKER_EXPLAIN_H
#define RALLY_MATCHMAKER_EXPLAIN_H

#include <jansson.h>
#include <stddef.h>

#include "match.h"
#include "ruleset.h"

/* A report for `ticket` against the other tickets of `pool` (n of them, the
 * ticket itself skipped if present), at time `now` (seconds since the
 * epoch). New reference:
 *   {"Players": int, "AgeSeconds": n, "PoolSize": n, "MatchNeeds": n,
 *    "CompatibleTickets": n, "Rules": [{"Name", "Type", "FailsWith",
 *    "PassesWith", "Undecided", "Limit"?: {"Property", "Now", "Eventually",
 *    "ClosestNeeds"?}}], "Summary": "..."} */
json_t *fm_explain(const struct fm_ruleset *rs, const struct fm_ticket *ticket,
                   const struct fm_ticket *const *pool, size_t n, double now);

#endif
