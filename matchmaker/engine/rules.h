/*
 * Rule evaluation on a potential match.
 *
 * While a match is being built each tentative ticket is checked against
 * every rule (FlexMatch: "tentatively adds the player ... if the rule fails,
 * the player is not added"), except what cannot be judged before the match
 * is complete (decision, docs/matchmaker.md): rules using count or sum, the
 * lower bound of a contains and the upper bound of an intersection, and
 * aggregates of teams still empty. Those are judged when the match is
 * complete, where a value that cannot be computed fails the rule.
 *
 * Sort rules (absoluteSort, distanceSort) are not pass/fail: see
 * fm_sort_value(). Rules used by a compound rule count only through it.
 */
#ifndef RALLY_MATCHMAKER_RULES_H
#define RALLY_MATCHMAKER_RULES_H

#include <stdbool.h>

#include "arena.h"
#include "match.h"
#include "ruleset.h"

enum fm_outcome { FM_PASS, FM_FAIL, FM_UNKNOWN };

/* Per-rule evaluation counts: FlexMatch's ruleEvaluationMetrics. */
struct fm_rule_metrics {
    unsigned long passed, failed;
};

/* Checks every rule on m. Returns the index of the first rule that fails,
 * or -1 if none does. On success with a latency rule, m->region is the
 * location chosen. metrics (nrules entries) may be NULL. scratch is reset
 * by the caller. */
int fm_rules_check(struct arena *scratch, struct fm_match *m, bool complete,
                   struct fm_rule_metrics *metrics);

/* One rule's outcome, for explaining why a ticket does not match. */
enum fm_outcome fm_rule_eval(struct arena *scratch, struct fm_match *m, int rule, bool complete);

/* The party-aggregated value of a number attribute for a ticket (avg, min
 * or max of its players), or NAN when a player has none. */
double fm_ticket_number(const struct fm_ticket *t, int attr, enum fm_party party);

/* The sort value of ticket t under a sort rule, relative to the anchor. */
double fm_sort_value(const struct fm_ruleset *rs, int rule, const struct fm_ticket *anchor,
                     const struct fm_ticket *t);

/* The per-region latency of a ticket (party-aggregated), -1 where any of
 * its players reports none. */
void fm_ticket_latency(const struct fm_ticket *t, enum fm_party party, int out[FM_MAX_REGIONS]);

#endif
