/*
 * Forming matches from a pool of tickets, FlexMatch's way (docs/matchmaker.md):
 *
 * exhaustiveSearch (up to 40 players): the pool is ordered (by age, or by
 * sortByAttributes with batchingPreference sorted, backfill first or last per
 * backfillPriority), split into batches (one per value of a string
 * batchDistance attribute, then chunks of opts.batch_size), and in each batch
 * a match is built around the oldest ticket left: the other tickets, in the
 * order of the sort rules relative to it (else by age), are tried one at a
 * time, each whole ticket on one team, and kept when every rule still
 * passes. A match is emitted as soon as every player slot is filled, or
 * after a full pass when every team has its (expanded) minimum. When only
 * the way tickets were dealt to teams stands in the way (a ticket refused
 * by room or by rules that look at teams, a complete match failing a rule,
 * or a team short of its minimum while others hold the players), the teams
 * are dealt again by a bounded depth-first search.
 *
 * balanced (41 to 200 players): the pool is grouped by location
 * (largestPopulation: the location most tickets find acceptable;
 * fastestRegion: each ticket's fastest) and by string batchDistance value,
 * tickets fill teams oldest first in FlexMatch's order (teams short of their
 * minimum first, then the one with the most open slots), and each match is
 * then balanced on balancedAttribute by moving whole tickets between teams.
 * Tickets a tentative match refused are swept again without it, so a misfit
 * at the head of a group holds no one back.
 */
#ifndef RALLY_MATCHMAKER_BUILDER_H
#define RALLY_MATCHMAKER_BUILDER_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "match.h"
#include "rules.h"
#include "ruleset.h"

struct fm_build_opts {
    double now;                  /* seconds since the epoch, for expansions */
    int additional_player_count; /* slots kept open (AdditionalPlayerCount) */
    size_t batch_size;           /* tickets per batch; 0 means 400 */
};

/* Called for each match formed; m is valid only during the call. Its
 * tickets are the pool's (by pointer); their indices are in idx. */
typedef void (*fm_emit_fn)(void *ctx, const struct fm_match *m, const size_t *idx);

/* Forms as many matches as the pool allows. Tickets already in a match are
 * never reused. metrics (rs->nrules entries, may be NULL) accumulates the
 * rule outcomes. Returns the number of matches emitted. */
size_t fm_build(const struct fm_ruleset *rs, const struct fm_ticket *const *pool, size_t n,
                const struct fm_build_opts *opts, fm_emit_fn emit, void *ctx,
                struct fm_rule_metrics *metrics);

/* Backfill: at most one match that completes a running game session.
 * pool[0..nbase) are its players, a ticket per team (backfill, pinned_team
 * set: they stay on their teams); the match is grown from the other
 * tickets (none of them backfill) as exhaustiveSearch grows one around an
 * anchor, and emitted when every slot is filled, or after a full pass when
 * every team has its minimum, with at least one new ticket. Returns the
 * number of matches emitted (0 or 1). */
size_t fm_build_backfill(const struct fm_ruleset *rs, const struct fm_ticket *const *pool, size_t n,
                         size_t nbase, const struct fm_build_opts *opts, fm_emit_fn emit, void *ctx,
                         struct fm_rule_metrics *metrics);

#endif
