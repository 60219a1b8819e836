/*
 * Tickets, players and the potential match the builder grows, as the rule
 * evaluator sees them.
 *
 * Ownership: tickets and players belong to the caller (the pool); a match
 * holds borrowed pointers to tickets and its own arrays (fm_match_init /
 * fm_match_free).
 */
#ifndef RALLY_MATCHMAKER_MATCH_H
#define RALLY_MATCHMAKER_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "ruleset.h"

#define FM_MAX_REGIONS 64 /* locations a matchmaker knows; a bit each */

/* A player attribute value, typed as declared by the rule set. */
enum fm_akind { FM_A_NONE, FM_A_NUMBER, FM_A_STRING, FM_A_LIST, FM_A_MAP };

struct fm_attrval {
    enum fm_akind kind;
    double num;
    const char *str;
    const char **strs; /* FM_A_LIST items, FM_A_MAP keys */
    double *nums;      /* FM_A_MAP values */
    size_t n;
};

struct fm_player {
    const char *id;
    struct fm_attrval *attrs;    /* one per rule set attribute, in its order */
    int latency[FM_MAX_REGIONS]; /* ms, or -1 when not reported */
};

struct fm_ticket {
    const char *id;
    double created; /* seconds since the epoch */
    struct fm_player *players;
    int nplayers;
    bool backfill;
    int pinned_team; /* backfill players' team, else -1 */
};

/* A potential match: tickets, each on one team. */
struct fm_match {
    const struct fm_ruleset *rs;
    const struct fm_ticket **tickets;
    int *team;         /* team index of each ticket */
    int *team_players; /* players per team */
    int n, cap;
    int players;
    /* Effective values after expansions, for the current ticket set. */
    double *props; /* nrules x FM_NPROPS */
    int *team_min; /* per team */
    int *team_max; /* per team */
    int region;    /* the location the latency rules agreed on, or -1 */
};

void fm_match_init(struct fm_match *m, const struct fm_ruleset *rs);
void fm_match_free(struct fm_match *m);
void fm_match_clear(struct fm_match *m);
void fm_match_push(struct fm_match *m, const struct fm_ticket *t, int team);
void fm_match_pop(struct fm_match *m);

/* Recomputes props/team_min/team_max for the tickets now in the match at
 * time `now`, per the rule set's expansions and expansionAgeSelection. */
void fm_match_expand(struct fm_match *m, double now);
/* How many of the rule set's expansions have a step in force for m at `now`. */
int fm_match_expansions_in_force(const struct fm_match *m, double now);

#endif
