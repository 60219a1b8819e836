/* Why a ticket does not match (explain.h). */
#include "explain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "players.h"
#include "rules.h"

/* The numeric limit of a rule that relaxing would help, and which way. */
struct limit {
    const char *name;
    enum fm_prop prop;
    bool raise; /* a larger value passes more */
};

static bool limit_of(const struct fm_rule *r, struct limit *out)
{
    static const struct limit limits[] = {
        {"maxDistance", FM_P_MAX_DISTANCE, true}, {"maxLatency", FM_P_MAX_LATENCY, true},
        {"maxCount", FM_P_MAX_COUNT, true},       {"minDistance", FM_P_MIN_DISTANCE, false},
        {"minCount", FM_P_MIN_COUNT, false},
    };
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
        if (r->has[limits[i].prop]) {
            *out = limits[i];
            return true;
        }
    return false;
}

static double *prop_at(struct fm_match *m, size_t rule, enum fm_prop p)
{
    return &m->props[rule * FM_NPROPS + p];
}

/* The least relaxed value of rule's limit with which it passes on m, or NAN
 * when no value within reach does. Leaves m's props as they were. */
static double needed(struct arena *scratch, struct fm_match *m, size_t rule, const struct limit *l)
{
    double *v = prop_at(m, rule, l->prop), now = *v;
    double lo = now, hi = l->raise ? (now > 1 ? now * 2 : 2) : 0;
    bool found = false;
    for (int i = 0; i < 40 && !found; i++) { /* find a value that passes */
        *v = hi;
        found = fm_rule_eval(scratch, m, (int)rule, false) != FM_FAIL;
        arena_reset(scratch);
        if (!found && l->raise)
            hi = hi * 2 + 1;
        else if (!found)
            break; /* even 0 fails: not a matter of this limit */
    }
    if (!found) {
        *v = now;
        return NAN;
    }
    for (int i = 0; i < 60 && fabs(hi - lo) > 1e-4; i++) { /* narrow it down */
        double mid = (lo + hi) / 2;
        *v = mid;
        bool pass = fm_rule_eval(scratch, m, (int)rule, false) != FM_FAIL;
        arena_reset(scratch);
        if (pass)
            hi = mid;
        else
            lo = mid;
    }
    /* To the hundredth, rounded the way that still passes. */
    double tidy = round(hi * 100) / 100;
    *v = tidy;
    bool pass = fm_rule_eval(scratch, m, (int)rule, false) != FM_FAIL;
    arena_reset(scratch);
    *v = now;
    if (pass)
        return tidy;
    return l->raise ? ceil(hi * 100) / 100 : floor(hi * 100) / 100;
}

/* What one rule did over the pool. */
struct tally {
    size_t fails, passes, undecided;
    double closest; /* the least relaxation one candidate needs; NAN none */
};

/* Tries the ticket and one candidate in every placement that fits: per
 * rule, the best outcome, and for failed rules the least relaxation. True
 * if every rule passed (or stayed undecided) in some placement. */
static bool try_pair(struct arena *scratch, struct fm_match *m, const struct fm_ticket *ticket,
                     const struct fm_ticket *c, double now, struct tally *tallies)
{
    const struct fm_ruleset *rs = m->rs;
    enum fm_outcome *best = calloc(rs->nrules, sizeof(*best));
    double *need = malloc(rs->nrules * sizeof(*need));
    if (best == NULL || need == NULL)
        abort();
    for (size_t r = 0; r < rs->nrules; r++) {
        best[r] = FM_FAIL;
        need[r] = NAN;
    }
    bool any_placement = false, all_pass = false;
    for (size_t ta = 0; ta < rs->nteams; ta++)
        for (size_t tc = 0; tc < rs->nteams; tc++) {
            fm_match_clear(m);
            fm_match_push(m, ticket, (int)ta);
            fm_match_push(m, c, (int)tc);
            fm_match_expand(m, now);
            if (m->team_players[ta] > m->team_max[ta] || m->team_players[tc] > m->team_max[tc])
                continue;
            any_placement = true;
            bool every = true;
            for (size_t r = 0; r < rs->nrules; r++) {
                const struct fm_rule *rule = &rs->rules[r];
                if (rule->type == FM_RULE_ABSOLUTE_SORT || rule->type == FM_RULE_DISTANCE_SORT)
                    continue;
                enum fm_outcome o = fm_rule_eval(scratch, m, (int)r, false);
                arena_reset(scratch);
                every &= o != FM_FAIL;
                if (o == FM_PASS || (o == FM_UNKNOWN && best[r] == FM_FAIL))
                    best[r] = o;
                struct limit l;
                if (o == FM_FAIL && limit_of(rule, &l)) {
                    double v = needed(scratch, m, r, &l);
                    if (!isnan(v) && (isnan(need[r]) || (l.raise ? v < need[r] : v > need[r])))
                        need[r] = v;
                }
            }
            all_pass |= every;
        }
    for (size_t r = 0; any_placement && r < rs->nrules; r++) {
        struct tally *t = &tallies[r];
        struct limit l;
        if (best[r] == FM_PASS)
            t->passes++;
        else if (best[r] == FM_UNKNOWN)
            t->undecided++;
        else
            t->fails++;
        if (best[r] == FM_FAIL && !isnan(need[r]) && limit_of(&rs->rules[r], &l) &&
            (isnan(t->closest) || (l.raise ? need[r] < t->closest : need[r] > t->closest)))
            t->closest = need[r];
    }
    free(best);
    free(need);
    return any_placement && all_pass;
}

static int min_players(const struct fm_ruleset *rs)
{
    int n = 0;
    for (size_t i = 0; i < rs->nteam_defs; i++)
        n += rs->team_defs[i].min_players * rs->team_defs[i].quantity;
    return n;
}

json_t *fm_explain(const struct fm_ruleset *rs, const struct fm_ticket *ticket,
                   const struct fm_ticket *const *pool, size_t n, double now)
{
    struct arena scratch = {0};
    struct fm_match m;
    fm_match_init(&m, rs);
    struct tally *tallies = calloc(rs->nrules + 1, sizeof(*tallies));
    if (tallies == NULL)
        abort();
    for (size_t r = 0; r < rs->nrules; r++)
        tallies[r].closest = NAN;
    size_t others = 0, compatible = 0;
    for (size_t i = 0; i < n; i++) {
        if (pool[i] == ticket ||
            (pool[i]->id != NULL && ticket->id != NULL && strcmp(pool[i]->id, ticket->id) == 0))
            continue;
        others++;
        compatible += try_pair(&scratch, &m, ticket, pool[i], now, tallies);
    }

    /* The limits now (this ticket alone sets the expansion clock) and once
     * every expansion has run. */
    fm_match_clear(&m);
    fm_match_push(&m, ticket, 0);
    fm_match_expand(&m, now);
    double *props_now = malloc((rs->nrules + 1) * FM_NPROPS * sizeof(double));
    if (props_now == NULL)
        abort();
    for (size_t i = 0; i < rs->nrules * FM_NPROPS; i++)
        props_now[i] = m.props[i];
    fm_match_expand(&m, now + 1e9);

    json_t *rules = json_array();
    const char *worst = NULL;
    size_t worst_fails = 0;
    for (size_t r = 0; r < rs->nrules; r++) {
        const struct fm_rule *rule = &rs->rules[r];
        if (rule->type == FM_RULE_ABSOLUTE_SORT || rule->type == FM_RULE_DISTANCE_SORT)
            continue;
        const struct tally *t = &tallies[r];
        json_t *j =
            json_pack("{s:s, s:s, s:I, s:I, s:I}", "Name", rule->name, "Type",
                      fm_rule_type_name(rule->type), "FailsWith", (json_int_t)t->fails,
                      "PassesWith", (json_int_t)t->passes, "Undecided", (json_int_t)t->undecided);
        struct limit l;
        if (limit_of(rule, &l)) {
            json_t *lim = json_pack("{s:s, s:f, s:f}", "Property", l.name, "Now",
                                    props_now[r * FM_NPROPS + l.prop], "Eventually",
                                    m.props[r * FM_NPROPS + l.prop]);
            if (!isnan(t->closest))
                json_object_set_new(lim, "ClosestNeeds", json_real(t->closest));
            json_object_set_new(j, "Limit", lim);
        }
        json_array_append_new(rules, j);
        if (t->fails > worst_fails) {
            worst_fails = t->fails;
            worst = rule->name;
        }
    }

    char summary[512];
    int needs = min_players(rs);
    if (others == 0)
        snprintf(summary, sizeof(summary),
                 "No other ticket is searching in this configuration; a match needs at least %d "
                 "players and this ticket has %d.",
                 needs, ticket->nplayers);
    else if (compatible > 0)
        snprintf(summary, sizeof(summary),
                 "Every rule passes with %zu of the %zu other tickets: the match is waiting for "
                 "enough players (at least %d).",
                 compatible, others, needs);
    else if (worst != NULL)
        snprintf(summary, sizeof(summary),
                 "No other ticket passes every rule with this one; %s fails with %zu of %zu.",
                 worst, worst_fails, others);
    else
        snprintf(summary, sizeof(summary),
                 "No other ticket fits on a team with this one (team sizes).");

    json_t *out = json_pack("{s:i, s:f, s:I, s:i, s:I, s:o, s:s}", "Players", ticket->nplayers,
                            "AgeSeconds", round((now - ticket->created) * 10) / 10, "PoolSize",
                            (json_int_t)others, "MatchNeeds", needs, "CompatibleTickets",
                            (json_int_t)compatible, "Rules", rules, "Summary", summary);
    free(props_now);
    free(tallies);
    fm_match_free(&m);
    arena_destroy(&scratch);
    return out;
}
