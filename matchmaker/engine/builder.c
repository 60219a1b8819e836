/* The match builder: exhaustiveSearch and balanced strategies. */
#include "builder.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 400
#define REASSIGN_BUDGET 2000 /* nodes of the team re-assignment search */
#define SWEEP_WORK 16        /* balanced: tickets tried per ticket of a group, over its sweeps */

struct builder {
    const struct fm_ruleset *rs;
    const struct fm_ticket *const *pool;
    size_t n;
    const struct fm_build_opts *opts;
    bool *used;
    struct fm_match m;
    size_t *idx; /* pool index of each ticket in m */
    struct arena scratch;
    struct fm_rule_metrics *metrics;
    fm_emit_fn emit;
    void *ctx;
    size_t emitted;
    int *order;       /* scratch: team choices */
    int *final_min;   /* the expanded minimum of each team for the tickets being dealt */
    int budget;       /* nodes left to the search under way */
    int allowance;    /* nodes left for mending this anchor's partial match */
    int string_batch; /* string_batch_attr() */
};

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size);
    if (p == NULL)
        abort();
    return p;
}

/* Players the match is complete at: every slot, less AdditionalPlayerCount. */
static int target(const struct builder *b)
{
    int total = 0;
    for (size_t t = 0; t < b->rs->nteams; t++)
        total += b->m.team_max[t];
    total -= b->opts->additional_player_count;
    return total > 0 ? total : 1;
}

static void push(struct builder *b, size_t i, int team)
{
    b->idx[b->m.n] = i;
    fm_match_push(&b->m, b->pool[i], team);
    fm_match_expand(&b->m, b->opts->now);
}

static void pop(struct builder *b)
{
    fm_match_pop(&b->m);
    fm_match_expand(&b->m, b->opts->now);
}

/* The first rule that fails on the match, or -1 if none does. */
static int first_failure(struct builder *b, bool complete)
{
    arena_reset(&b->scratch);
    return fm_rules_check(&b->scratch, &b->m, complete, b->metrics);
}

static bool rules_pass(struct builder *b, bool complete)
{
    return first_failure(b, complete) < 0;
}

/* Teams with room for t, in FlexMatch's fill order: teams short of their
 * minimum first, then the most open slots, then definition order. */
static int fill_order(struct builder *b, const struct fm_ticket *t, int *out)
{
    const struct fm_match *m = &b->m;
    int n = 0;
    for (size_t k = 0; k < b->rs->nteams; k++) {
        if (t->pinned_team >= 0 && (int)k != t->pinned_team)
            continue;
        if (m->team_players[k] + t->nplayers <= m->team_max[k])
            out[n++] = (int)k;
    }
    for (int i = 1; i < n; i++) { /* insertion sort: n is small */
        int k = out[i], j = i - 1;
        for (; j >= 0; j--) {
            int a = out[j];
            bool a_short = m->team_players[a] < m->team_min[a];
            bool k_short = m->team_players[k] < m->team_min[k];
            int a_open = m->team_max[a] - m->team_players[a];
            int k_open = m->team_max[k] - m->team_players[k];
            bool k_first = (k_short && !a_short) || (k_short == a_short && k_open > a_open);
            if (!k_first)
                break;
            out[j + 1] = a;
        }
        out[j + 1] = k;
    }
    return n;
}

enum placed {
    PLACED,    /* on a team, every rule passing */
    REFUSED,   /* no team would do, however the others were dealt */
    MISPLACED, /* no team would do as the teams stand: only room or rules that
                   look at teams were against it, so dealing again may do */
};

/* Open slots over every team. */
static int open_slots(const struct builder *b)
{
    int open = 0;
    for (size_t k = 0; k < b->rs->nteams; k++)
        open += b->m.team_max[k] - b->m.team_players[k];
    return open;
}

/* Adds pool ticket i on the first team where every rule still passes. */
static enum placed try_add(struct builder *b, size_t i)
{
    const struct fm_ticket *t = b->pool[i];
    if (b->m.players + t->nplayers > target(b))
        return REFUSED;
    if (t->backfill)
        for (int k = 0; k < b->m.n; k++)
            if (b->m.tickets[k]->backfill)
                return REFUSED; /* FlexMatch: one backfill ticket per match */
    int *order = b->order;
    int n = fill_order(b, t, order);
    bool by_team = b->rs->nteams > 1 && open_slots(b) >= t->nplayers;
    for (int k = 0; k < n; k++) {
        push(b, i, order[k]);
        int failed = first_failure(b, false);
        if (failed < 0)
            return PLACED;
        /* A team-blind rule fails wherever the ticket goes. (Only the
         * first failing rule is known: a blind one after it would make
         * dealing again vain, which the search's budget bounds.) */
        by_team &= b->rs->rules[failed].by_team;
        pop(b);
    }
    return by_team ? MISPLACED : REFUSED;
}

/* A new ticket is in the match: a backfill ticket is never matched alone. */
static bool has_new_ticket(const struct builder *b)
{
    for (int k = 0; k < b->m.n; k++)
        if (!b->m.tickets[k]->backfill)
            return true;
    return false;
}

/* Every team has its minimum and no more than its maximum, and a backfill
 * ticket is not alone. */
static bool viable(const struct builder *b)
{
    const struct fm_match *m = &b->m;
    if (!has_new_ticket(b))
        return false;
    for (size_t t = 0; t < b->rs->nteams; t++)
        if (m->team_players[t] < m->team_min[t] || m->team_players[t] > m->team_max[t])
            return false;
    return true;
}

/* Enough players for every team's minimum, however they are dealt. */
static bool minimums_in_reach(const struct builder *b)
{
    int need = 0;
    for (size_t t = 0; t < b->rs->nteams; t++)
        need += b->m.team_min[t];
    return has_new_ticket(b) && b->m.players >= need;
}

/* A search for another way to deal a match's tickets to teams. */
struct deal {
    const size_t *tickets; /* pool indices, dealt in this order */
    int count;
    int players;   /* of all the tickets */
    bool complete; /* the dealt match must be complete (else a partial one) */
    bool prune;    /* give up on a branch as soon as a rule fails on it */
};

/* Depth-first over the teams of tickets[k..], in fill order. Pruning on
 * rules is fast but may miss: a rule on team averages can fail on the
 * first tickets of a deal that passes once all are dealt, so the caller
 * searches again without it. */
static bool deal_from(struct builder *b, const struct deal *d, int k)
{
    if (b->budget-- <= 0)
        return false;
    if (k == d->count) {
        if (d->complete)
            return viable(b) && rules_pass(b, true);
        return d->prune || rules_pass(b, false); /* pruning has checked it */
    }
    if (d->complete) {
        int short_by = 0;
        for (size_t t = 0; t < b->rs->nteams; t++)
            if (b->m.team_players[t] < b->final_min[t])
                short_by += b->final_min[t] - b->m.team_players[t];
        if (short_by > d->players - b->m.players) /* the match holds tickets[..k-1] */
            return false;
    }
    const struct fm_ticket *t = b->pool[d->tickets[k]];
    int order[FM_MAX_PLAYERS];
    int n = fill_order(b, t, order);
    for (int j = 0; j < n; j++) {
        push(b, d->tickets[k], order[j]);
        if ((!d->prune || rules_pass(b, false)) && deal_from(b, d, k + 1))
            return true;
        pop(b);
    }
    return false;
}

static void clear_match(struct builder *b)
{
    while (b->m.n > 0)
        fm_match_pop(&b->m);
}

/* Searches team assignments of the match's tickets plus `extra` (a pool
 * index, or SIZE_MAX for none) under which the match, complete or not,
 * passes every rule, within `budget` nodes. On failure the match is left as
 * it was. Returns the nodes spent through *spent (may be NULL). */
static bool reassign(struct builder *b, size_t extra, bool complete, int budget, int *spent)
{
    if (spent != NULL)
        *spent = 0;
    if (b->rs->nteams < 2)
        return false;
    int count = b->m.n;
    size_t tickets[FM_MAX_PLAYERS + 1] = {0};
    int teams[FM_MAX_PLAYERS + 1] = {0};
    for (int k = 0; k < count; k++) {
        tickets[k] = b->idx[k];
        teams[k] = b->m.team[k];
    }
    int all = count, players = b->m.players;
    if (extra != SIZE_MAX) {
        tickets[all++] = extra;
        players += b->pool[extra]->nplayers;
    }
    /* Expansions follow the tickets' ages, not their teams: the minimums
     * of the whole deal, known before it is dealt. */
    if (extra != SIZE_MAX)
        push(b, extra, 0);
    memcpy(b->final_min, b->m.team_min, b->rs->nteams * sizeof(int));
    if (extra != SIZE_MAX)
        pop(b);

    struct deal d = {tickets, all, players, complete, true};
    clear_match(b);
    b->budget = budget;
    bool found = deal_from(b, &d, 0);
    if (!found) {
        clear_match(b);
        d.prune = false;
        found = deal_from(b, &d, 0);
    }
    if (spent != NULL)
        *spent = budget - (b->budget > 0 ? b->budget : 0);
    if (found)
        return true;
    clear_match(b);
    for (int k = 0; k < count; k++)
        push(b, tickets[k], teams[k]);
    return false;
}

/* Checks the complete match, dealing the teams again if a rule fails or a
 * team is short of its minimum while others hold the players it needs. */
static bool finish(struct builder *b)
{
    if (viable(b))
        return rules_pass(b, true) || reassign(b, SIZE_MAX, true, REASSIGN_BUDGET, NULL);
    return minimums_in_reach(b) && reassign(b, SIZE_MAX, true, REASSIGN_BUDGET, NULL);
}

/* Ticket i was MISPLACED: deals the match again with it. A deal that
 * completes the match is searched in full; one that only takes it in draws
 * on the anchor's allowance, so that a pool of misfits costs each anchor a
 * bounded search. */
static bool mend(struct builder *b, size_t i)
{
    if (b->m.players + b->pool[i]->nplayers == target(b))
        return reassign(b, i, true, REASSIGN_BUDGET, NULL);
    if (b->allowance <= 0)
        return false;
    int spent;
    int budget = b->allowance < REASSIGN_BUDGET ? b->allowance : REASSIGN_BUDGET;
    bool found = reassign(b, i, false, budget, &spent);
    b->allowance -= spent;
    return found;
}

static void emit(struct builder *b)
{
    arena_reset(&b->scratch);
    fm_rules_check(&b->scratch, &b->m, true, NULL); /* settles m.region */
    for (int k = 0; k < b->m.n; k++)
        b->used[b->idx[k]] = true;
    b->emit(b->ctx, &b->m, b->idx);
    b->emitted++;
}

/* ---- exhaustiveSearch ----------------------------------------------------- */

struct keyed {
    size_t i;
    double key[4];
    const char *batch; /* string batchDistance value, or "" */
};

static int backfill_rank(const struct fm_ruleset *rs, const struct fm_ticket *t)
{
    if (rs->backfill_priority == FM_BACKFILL_HIGH)
        return t->backfill ? 0 : 1;
    if (rs->backfill_priority == FM_BACKFILL_LOW)
        return t->backfill ? 1 : 0;
    return 0;
}

static int cmp_keyed(const void *x, const void *y, void *arg)
{
    const struct builder *bl = arg;
    const struct keyed *a = x, *b = y;
    int c = strcmp(a->batch, b->batch);
    if (c != 0)
        return c;
    for (int k = 0; k < 4; k++)
        if (a->key[k] != b->key[k])
            return a->key[k] < b->key[k] ? -1 : 1;
    const struct fm_ticket *ta = bl->pool[a->i], *tb = bl->pool[b->i];
    if (ta->created != tb->created)
        return ta->created < tb->created ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* The attribute of the first batchDistance rule on a string, or -1: tickets
 * with different values of it never share a match, so they never share a
 * batch. */
static int string_batch_attr(const struct fm_ruleset *rs)
{
    for (size_t r = 0; r < rs->nrules; r++) {
        const struct fm_rule *rule = &rs->rules[r];
        if (rule->type == FM_RULE_BATCH_DISTANCE && rs->attrs[rule->attr].type == FM_STRING)
            return rule->attr;
    }
    return -1;
}

/* A ticket's value of that attribute (its first player's), or "". */
static const char *batch_value(const struct fm_ticket *t, int attr)
{
    if (attr >= 0 && t->players[0].attrs[attr].kind == FM_A_STRING)
        return t->players[0].attrs[attr].str;
    return "";
}

/* The pool in batch order: string batchDistance value, backfill priority,
 * then sortByAttributes or a number batchDistance attribute, then age. */
static struct keyed *batch_order(struct builder *b)
{
    const struct fm_ruleset *rs = b->rs;
    struct keyed *ks = xcalloc(b->n, sizeof(*ks));
    int sort_attrs[3];
    int nsort = 0;
    for (size_t k = 0; k < rs->nsort_attrs && nsort < 3; k++)
        if (rs->attrs[rs->sort_attrs[k]].type == FM_NUMBER && rs->batching == FM_BATCH_SORTED)
            sort_attrs[nsort++] = rs->sort_attrs[k];
    int string_batch = string_batch_attr(rs);
    for (size_t r = 0; r < rs->nrules; r++) {
        const struct fm_rule *rule = &rs->rules[r];
        if (rule->type == FM_RULE_BATCH_DISTANCE && rs->attrs[rule->attr].type == FM_NUMBER &&
            nsort < 3 && rs->nsort_attrs == 0)
            sort_attrs[nsort++] = rule->attr;
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct fm_ticket *t = b->pool[i];
        ks[i].i = i;
        ks[i].batch = batch_value(t, string_batch);
        ks[i].key[0] = backfill_rank(rs, t);
        for (int k = 0; k < nsort; k++) {
            double v = fm_ticket_number(t, sort_attrs[k], FM_PARTY_AVG);
            ks[i].key[k + 1] = isnan(v) ? INFINITY : v;
        }
    }
    qsort_r(ks, b->n, sizeof(*ks), cmp_keyed, b);
    return ks;
}

struct candidate {
    size_t i;
    double key[3];
    double created;
};

static int cmp_candidate(const void *x, const void *y)
{
    const struct candidate *a = x, *b = y;
    for (int k = 0; k < 3; k++)
        if (a->key[k] != b->key[k])
            return a->key[k] < b->key[k] ? -1 : 1;
    if (a->created != b->created)
        return a->created < b->created ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Grows the match (holding the anchor) from the batch's other tickets,
 * nearest the anchor by the sort rules first; true if one was emitted. */
static bool grow(struct builder *b, size_t anchor, const struct keyed *batch, size_t len,
                 struct candidate *cands, const int *sorts, int nsorts)
{
    size_t n = 0;
    for (size_t k = 0; k < len; k++) {
        size_t i = batch[k].i;
        if (i == anchor || b->used[i])
            continue;
        cands[n].i = i;
        cands[n].created = b->pool[i]->created;
        for (int s = 0; s < 3; s++)
            cands[n].key[s] =
                s < nsorts ? fm_sort_value(b->rs, sorts[s], b->pool[anchor], b->pool[i]) : 0;
        n++;
    }
    qsort(cands, n, sizeof(*cands), cmp_candidate);
    b->allowance = REASSIGN_BUDGET;
    for (size_t k = 0; k < n; k++) {
        enum placed p = try_add(b, cands[k].i);
        /* It fits no team as they stand: the teams may need to be dealt
         * differently. */
        if (p == REFUSED || (p == MISPLACED && !mend(b, cands[k].i)))
            continue;
        if (b->m.players < target(b))
            continue;
        if (finish(b)) {
            emit(b);
            return true;
        }
        pop(b); /* full but failing as a whole: try others in its place */
    }
    /* A full pass without filling every slot: the minimums may do. */
    if (finish(b)) {
        emit(b);
        return true;
    }
    return false;
}

/* Builds a match around anchor from the batch; true if one was emitted. */
static bool build_around(struct builder *b, size_t anchor, const struct keyed *batch, size_t len,
                         struct candidate *cands, const int *sorts, int nsorts)
{
    fm_match_clear(&b->m);
    if (try_add(b, anchor) != PLACED)
        return false;
    return grow(b, anchor, batch, len, cands, sorts, nsorts);
}

/* The sort rules, the first three: candidates are ordered by them. */
static int sort_rules(const struct fm_ruleset *rs, int sorts[3])
{
    int nsorts = 0;
    for (size_t r = 0; r < rs->nrules && nsorts < 3; r++)
        if (rs->rules[r].type == FM_RULE_ABSOLUTE_SORT ||
            rs->rules[r].type == FM_RULE_DISTANCE_SORT)
            sorts[nsorts++] = (int)r;
    return nsorts;
}

static void build_exhaustive(struct builder *b)
{
    size_t batch_size = b->opts->batch_size ? b->opts->batch_size : DEFAULT_BATCH;
    struct keyed *ks = batch_order(b);
    struct candidate *cands = xcalloc(batch_size, sizeof(*cands));
    int sorts[3];
    int nsorts = sort_rules(b->rs, sorts);

    size_t start = 0;
    while (start < b->n) {
        /* A batch: same string batch value, at most batch_size tickets. */
        size_t end = start + 1;
        while (end < b->n && end - start < batch_size &&
               strcmp(ks[end].batch, ks[start].batch) == 0)
            end++;
        /* Anchors oldest first. */
        struct candidate *anchors = xcalloc(end - start, sizeof(*anchors));
        for (size_t k = start; k < end; k++) {
            anchors[k - start].i = ks[k].i;
            anchors[k - start].created = b->pool[ks[k].i]->created;
        }
        qsort(anchors, end - start, sizeof(*anchors), cmp_candidate);
        for (size_t k = 0; k < end - start; k++)
            if (!b->used[anchors[k].i])
                build_around(b, anchors[k].i, ks + start, end - start, cands, sorts, nsorts);
        free(anchors);
        start = end;
    }
    free(cands);
    free(ks);
}

/* ---- balanced --------------------------------------------------------------- */

static double team_average(const struct builder *b, int team)
{
    double sum = 0;
    int count = 0;
    for (int k = 0; k < b->m.n; k++) {
        if (b->m.team[k] != team)
            continue;
        const struct fm_ticket *t = b->m.tickets[k];
        for (int p = 0; p < t->nplayers; p++)
            sum += t->players[p].attrs[b->rs->balanced_attr].num;
        count += t->nplayers;
    }
    return count > 0 ? sum / count : 0;
}

static double spread(const struct builder *b)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t t = 0; t < b->rs->nteams; t++) {
        if (b->m.team_players[t] == 0)
            continue;
        double avg = team_average(b, (int)t);
        lo = avg < lo ? avg : lo;
        hi = avg > hi ? avg : hi;
    }
    return hi > lo ? hi - lo : 0;
}

/* Swaps tickets of equal size between teams while that narrows the spread
 * of team averages of balancedAttribute. Team sizes never change. */
static void balance(struct builder *b)
{
    struct fm_match *m = &b->m;
    double best = spread(b);
    for (int round = 0; round < 8 && best > 0; round++) {
        bool improved = false;
        for (int i = 0; i < m->n; i++)
            for (int j = i + 1; j < m->n; j++) {
                if (m->team[i] == m->team[j] ||
                    m->tickets[i]->nplayers != m->tickets[j]->nplayers ||
                    m->tickets[i]->pinned_team >= 0 || m->tickets[j]->pinned_team >= 0)
                    continue;
                int ti = m->team[i];
                m->team[i] = m->team[j];
                m->team[j] = ti;
                double s = spread(b);
                if (s + 1e-9 < best) {
                    best = s;
                    improved = true;
                } else {
                    m->team[j] = m->team[i];
                    m->team[i] = ti;
                }
            }
        if (!improved)
            break;
    }
}

/* The locations a lone ticket finds acceptable under the first latency
 * rule (expanded for its own age), as a bit mask; all ones without one. */
static uint64_t acceptable(struct builder *b, size_t i, int rule, int *fastest)
{
    int lat[FM_MAX_REGIONS];
    const struct fm_rule *r = &b->rs->rules[rule];
    fm_ticket_latency(b->pool[i], r->party, lat);
    fm_match_clear(&b->m);
    push(b, i, 0);
    double maxlat = r->has[FM_P_MAX_LATENCY]
                        ? b->m.props[(size_t)rule * FM_NPROPS + FM_P_MAX_LATENCY]
                        : INFINITY;
    fm_match_clear(&b->m);
    uint64_t mask = 0;
    *fastest = -1;
    for (int g = 0; g < FM_MAX_REGIONS; g++) {
        if (lat[g] < 0 || lat[g] > maxlat)
            continue;
        mask |= (uint64_t)1 << g;
        if (*fastest < 0 || lat[g] < lat[*fastest])
            *fastest = g;
    }
    return mask;
}

/* One sweep of fill_group: fills matches from pending (pool indices, oldest
 * first) and returns how many tickets are left for another sweep, moved to
 * its front in the same order. A tentative match that cannot be completed
 * sets aside the ticket that opened it, and its other tickets go on: the
 * opener may be the misfit that kept them from a match. When the last such
 * match refused no one, holds every ticket left and is short of the teams'
 * minimums, no later sweep can do better: the sweep then leaves none. */
static size_t sweep(struct builder *b, size_t *pending, size_t len, bool *aside)
{
    size_t opener = SIZE_MAX;
    bool refused_any = false, hopeless = false;
    int members = 0;
    fm_match_clear(&b->m);
    for (size_t k = 0; k <= len; k++) {
        bool last = k == len;
        if (!last) {
            size_t i = pending[k];
            if (b->used[i])
                continue;
            if (b->m.n == 0) {
                opener = i;
                refused_any = false;
            }
            if (try_add(b, i) != PLACED) {
                if (b->m.n == 0)
                    aside[i] = true; /* refused by an empty match */
                else
                    refused_any = true;
                continue;
            }
            if (b->m.players < target(b))
                continue;
        } else if (b->m.n == 0) {
            break;
        }
        balance(b);
        if (finish(b)) {
            emit(b);
        } else {
            aside[opener] = true;
            hopeless = last && !refused_any && !minimums_in_reach(b);
            members = b->m.n;
        }
        fm_match_clear(&b->m);
    }
    size_t left = 0;
    for (size_t k = 0; k < len; k++)
        if (!b->used[pending[k]] && !aside[pending[k]])
            pending[left++] = pending[k]; /* left <= k: compacts in place */
    return hopeless && left == (size_t)members - 1 ? 0 : left;
}

/* Fills matches from group (pool indices, oldest first; reordered). The
 * oldest ticket opens a tentative match that the others join in age order;
 * what is left gets another sweep, so that a ticket nobody accepts (an
 * older one for another map, say) holds back no one: it is set aside.
 * Every sweep sets aside or matches at least one ticket; the tickets tried
 * over all sweeps are bounded by SWEEP_WORK times the group. */
static void fill_group(struct builder *b, size_t *group, size_t len)
{
    bool *aside = xcalloc(b->n, sizeof(bool));
    size_t work = SWEEP_WORK * len;
    while (len > 0 && work >= len) {
        work -= len;
        len = sweep(b, group, len, aside);
    }
    free(aside);
}

/* Runs of equal string batchDistance values, oldest first within each. */
static int cmp_group(const void *x, const void *y, void *arg)
{
    const struct builder *b = arg;
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    const struct fm_ticket *a = b->pool[i], *c = b->pool[j];
    int by_value = strcmp(batch_value(a, b->string_batch), batch_value(c, b->string_batch));
    if (by_value != 0)
        return by_value;
    if (a->created != c->created)
        return a->created < c->created ? -1 : 1;
    return (i > j) - (i < j);
}

/* Fills matches from a location group, one batch per string batchDistance
 * value (as exhaustiveSearch batches): tickets of different values never
 * share a match. */
static void fill_batches(struct builder *b, size_t *group, size_t len)
{
    qsort_r(group, len, sizeof(size_t), cmp_group, b);
    size_t start = 0;
    while (start < len) {
        const char *value = batch_value(b->pool[group[start]], b->string_batch);
        size_t end = start + 1;
        while (end < len && strcmp(batch_value(b->pool[group[end]], b->string_batch), value) == 0)
            end++;
        fill_group(b, group + start, end - start);
        start = end;
    }
}

static void build_balanced(struct builder *b)
{
    int rule = -1;
    for (size_t r = 0; r < b->rs->nrules && rule < 0; r++)
        if (b->rs->rules[r].type == FM_RULE_LATENCY)
            rule = (int)r;
    size_t *group = xcalloc(b->n, sizeof(size_t));
    if (rule < 0) {
        for (size_t i = 0; i < b->n; i++)
            group[i] = i;
        fill_batches(b, group, b->n);
        free(group);
        return;
    }
    uint64_t *masks = xcalloc(b->n, sizeof(uint64_t));
    int *fastest = xcalloc(b->n, sizeof(int));
    for (size_t i = 0; i < b->n; i++)
        masks[i] = acceptable(b, i, rule, &fastest[i]);
    uint64_t tried = 0;
    for (;;) {
        /* largestPopulation: the location most remaining tickets accept;
         * fastestRegion: the tickets whose fastest location it is. */
        int counts[FM_MAX_REGIONS] = {0};
        for (size_t i = 0; i < b->n; i++) {
            if (b->used[i])
                continue;
            for (int g = 0; g < FM_MAX_REGIONS; g++) {
                bool in = b->rs->batching == FM_BATCH_FASTEST_REGION ? fastest[i] == g
                                                                     : (masks[i] >> g & 1) != 0;
                counts[g] += in;
            }
        }
        int best = -1;
        for (int g = 0; g < FM_MAX_REGIONS; g++)
            if (!(tried >> g & 1) && counts[g] > 0 && (best < 0 || counts[g] > counts[best]))
                best = g;
        if (best < 0)
            break;
        tried |= (uint64_t)1 << best;
        size_t len = 0;
        for (size_t i = 0; i < b->n; i++) {
            bool in = b->rs->batching == FM_BATCH_FASTEST_REGION ? fastest[i] == best
                                                                 : (masks[i] >> best & 1) != 0;
            if (!b->used[i] && in)
                group[len++] = i;
        }
        fill_batches(b, group, len);
    }
    free(masks);
    free(fastest);
    free(group);
}

static void builder_init(struct builder *b, const struct fm_ruleset *rs,
                         const struct fm_ticket *const *pool, size_t n,
                         const struct fm_build_opts *opts, fm_emit_fn emit_fn, void *ctx,
                         struct fm_rule_metrics *metrics)
{
    *b = (struct builder){.rs = rs,
                          .pool = pool,
                          .n = n,
                          .opts = opts,
                          .metrics = metrics,
                          .emit = emit_fn,
                          .ctx = ctx};
    b->used = xcalloc(n + 1, sizeof(bool));
    b->idx = xcalloc(FM_MAX_PLAYERS, sizeof(size_t));
    b->order = xcalloc(rs->nteams + 1, sizeof(int));
    b->final_min = xcalloc(rs->nteams + 1, sizeof(int));
    b->string_batch = string_batch_attr(rs);
    fm_match_init(&b->m, rs);
}

static size_t builder_done(struct builder *b)
{
    fm_match_free(&b->m);
    arena_destroy(&b->scratch);
    free(b->order);
    free(b->final_min);
    free(b->idx);
    free(b->used);
    return b->emitted;
}

size_t fm_build(const struct fm_ruleset *rs, const struct fm_ticket *const *pool, size_t n,
                const struct fm_build_opts *opts, fm_emit_fn emit_fn, void *ctx,
                struct fm_rule_metrics *metrics)
{
    struct builder b;
    builder_init(&b, rs, pool, n, opts, emit_fn, ctx, metrics);
    if (rs->strategy == FM_BALANCED)
        build_balanced(&b);
    else
        build_exhaustive(&b);
    return builder_done(&b);
}

size_t fm_build_backfill(const struct fm_ruleset *rs, const struct fm_ticket *const *pool, size_t n,
                         size_t nbase, const struct fm_build_opts *opts, fm_emit_fn emit_fn,
                         void *ctx, struct fm_rule_metrics *metrics)
{
    struct builder b;
    builder_init(&b, rs, pool, n, opts, emit_fn, ctx, metrics);
    bool seated = nbase > 0;
    for (size_t k = 0; k < nbase && seated; k++) {
        const struct fm_ticket *t = pool[k];
        seated = t->pinned_team >= 0 && (size_t)t->pinned_team < rs->nteams &&
                 b.m.team_players[t->pinned_team] + t->nplayers <= b.m.team_max[t->pinned_team];
        if (seated) {
            push(&b, k, t->pinned_team);
            b.used[k] = true;
        }
    }
    /* Candidates: every other ticket, none of them a backfill one (a match
     * holds one backfill ticket, FlexMatch's rule), in the pool's order. */
    struct keyed *batch = xcalloc(n + 1, sizeof(*batch));
    size_t len = 0;
    for (size_t i = nbase; i < n; i++)
        if (!pool[i]->backfill)
            batch[len++].i = i;
    struct candidate *cands = xcalloc(len + 1, sizeof(*cands));
    int sorts[3];
    int nsorts = sort_rules(rs, sorts);
    if (seated && len > 0)
        grow(&b, 0, batch, len, cands, sorts, nsorts);
    free(cands);
    free(batch);
    return builder_done(&b);
}
