/* The potential match: tickets on teams, and expanded rule properties. */
#include "match.h"

#include <stdlib.h>
#include <string.h>

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size);
    if (p == NULL)
        abort();
    return p;
}

void fm_match_init(struct fm_match *m, const struct fm_ruleset *rs)
{
    memset(m, 0, sizeof(*m));
    m->rs = rs;
    m->cap = FM_MAX_PLAYERS;
    m->tickets = xcalloc((size_t)m->cap, sizeof(const struct fm_ticket *));
    m->team = xcalloc((size_t)m->cap, sizeof(*m->team));
    m->team_players = xcalloc(rs->nteams, sizeof(int));
    m->props = xcalloc(rs->nrules * FM_NPROPS, sizeof(double));
    m->team_min = xcalloc(rs->nteams, sizeof(int));
    m->team_max = xcalloc(rs->nteams, sizeof(int));
    fm_match_clear(m);
}

void fm_match_free(struct fm_match *m)
{
    free(m->tickets);
    free(m->team);
    free(m->team_players);
    free(m->props);
    free(m->team_min);
    free(m->team_max);
    memset(m, 0, sizeof(*m));
}

void fm_match_clear(struct fm_match *m)
{
    m->n = 0;
    m->players = 0;
    m->region = -1;
    memset(m->team_players, 0, m->rs->nteams * sizeof(int));
    fm_match_expand(m, 0);
}

void fm_match_push(struct fm_match *m, const struct fm_ticket *t, int team)
{
    if (m->n == m->cap)
        abort(); /* callers stop at the rule set's player total */
    m->tickets[m->n] = t;
    m->team[m->n] = team;
    m->team_players[team] += t->nplayers;
    m->players += t->nplayers;
    m->n++;
}

void fm_match_pop(struct fm_match *m)
{
    m->n--;
    m->team_players[m->team[m->n]] -= m->tickets[m->n]->nplayers;
    m->players -= m->tickets[m->n]->nplayers;
}

/* The value of an expansion at `age` seconds, or `base` before its first
 * step. Steps are absolute wait times. */
static double step_value(const struct fm_expansion *x, double age, double base)
{
    double v = base;
    for (size_t i = 0; i < x->nsteps && x->steps[i].wait_seconds <= age; i++)
        v = x->steps[i].value;
    return v;
}

/* The age expansions go by: expansionAgeSelection runs the clock from the
 * newest ticket of the potential match (default) or from its oldest. */
static double expansion_age(const struct fm_match *m, double now)
{
    if (m->n == 0)
        return 0;
    double pick = m->tickets[0]->created;
    for (int i = 1; i < m->n; i++) {
        double c = m->tickets[i]->created;
        if (m->rs->expansion_age_oldest ? c < pick : c > pick)
            pick = c;
    }
    return now - pick;
}

int fm_match_expansions_in_force(const struct fm_match *m, double now)
{
    double age = expansion_age(m, now);
    int n = 0;
    for (size_t i = 0; i < m->rs->nexpansions; i++)
        n += m->rs->expansions[i].nsteps > 0 && m->rs->expansions[i].steps[0].wait_seconds <= age;
    return n;
}

void fm_match_expand(struct fm_match *m, double now)
{
    const struct fm_ruleset *rs = m->rs;
    double age = expansion_age(m, now);
    for (size_t r = 0; r < rs->nrules; r++)
        memcpy(&m->props[r * FM_NPROPS], rs->rules[r].prop, sizeof(rs->rules[r].prop));
    for (size_t t = 0; t < rs->nteams; t++) {
        const struct fm_team_def *d = &rs->team_defs[rs->teams[t].def];
        m->team_min[t] = d->min_players;
        m->team_max[t] = d->max_players;
    }
    for (size_t i = 0; i < rs->nexpansions; i++) {
        const struct fm_expansion *x = &rs->expansions[i];
        if (x->kind == FM_TARGET_RULE) {
            double *p = &m->props[(size_t)x->rule * FM_NPROPS + x->prop];
            *p = step_value(x, age, *p);
            continue;
        }
        for (size_t k = 0; k < x->nteam_defs; k++) {
            const struct fm_team_def *d = &rs->team_defs[x->team_defs[k]];
            for (int q = 0; q < d->quantity; q++) {
                int t = d->first_team + q;
                int *slot = x->kind == FM_TARGET_TEAM_MIN ? &m->team_min[t] : &m->team_max[t];
                *slot = (int)step_value(x, age, *slot);
            }
        }
    }
    for (size_t t = 0; t < rs->nteams; t++)
        if (m->team_min[t] > m->team_max[t])
            m->team_min[t] = m->team_max[t];
}
