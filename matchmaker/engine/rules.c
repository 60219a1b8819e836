/* Rule evaluation: one function per rule type, three-valued compounds. */
#include "rules.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "players.h"

static double prop(const struct fm_match *m, int rule, enum fm_prop p)
{
    return m->props[(size_t)rule * FM_NPROPS + p];
}

/* Leaves of a value (numbers, strings, nothing), fully flattened. */
struct leaves {
    struct fm_val *v;
    size_t n, cap;
};

static void leaves_add(struct arena *a, struct leaves *l, struct fm_val v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        struct fm_val *bigger = arena_alloc(a, cap * sizeof(*bigger));
        if (l->n > 0)
            memcpy(bigger, l->v, l->n * sizeof(*bigger));
        l->v = bigger;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

static void gather_leaves(struct arena *a, struct leaves *l, const struct fm_val *v)
{
    if (v->kind != FM_V_LIST) {
        leaves_add(a, l, *v);
        return;
    }
    for (size_t i = 0; i < v->len; i++)
        gather_leaves(a, l, &v->items[i]);
}

static double combine(enum fm_party party, double acc, double x, int k)
{
    switch (party) {
    case FM_PARTY_MIN: return x < acc ? x : acc;
    case FM_PARTY_MAX: return x > acc ? x : acc;
    default: return acc + (x - acc) / (k + 1); /* running mean */
    }
}

/* partyAggregation: the numbers of one ticket's players become one value.
 * Strings and computed values (no ticket) pass through. */
static struct leaves party_numbers(struct arena *a, const struct leaves *in, enum fm_party party)
{
    struct leaves out = {0};
    /* For each ticket met: its leaf in out and how many values it holds. */
    int *ticket = arena_alloc(a, (in->n + 1) * sizeof(int));
    size_t *slot = arena_alloc(a, (in->n + 1) * sizeof(size_t));
    int *count = arena_alloc(a, (in->n + 1) * sizeof(int));
    size_t nseen = 0;
    for (size_t i = 0; i < in->n; i++) {
        const struct fm_val *x = &in->v[i];
        size_t k = 0;
        while (k < nseen && ticket[k] != x->ticket)
            k++;
        if (x->kind != FM_V_NUM || x->ticket < 0 || k == nseen) {
            if (x->kind == FM_V_NUM && x->ticket >= 0) {
                ticket[nseen] = x->ticket;
                slot[nseen] = out.n;
                count[nseen++] = 1;
            }
            leaves_add(a, &out, *x);
            continue;
        }
        out.v[slot[k]].num = combine(party, out.v[slot[k]].num, x->num, count[k]++);
    }
    return out;
}

static struct leaves measured(struct arena *a, const struct fm_match *m, const struct fm_rule *r)
{
    struct leaves l = {0};
    for (size_t i = 0; i < r->nmeasurements; i++) {
        struct fm_val v = fm_expr_eval(a, r->measurements[i], m);
        gather_leaves(a, &l, &v);
    }
    return party_numbers(a, &l, r->party);
}

/* The numeric reference of a rule: its (expanded) number, or its
 * expression's value. false if it has none; *ok false if not computable. */
static bool numeric_reference(struct arena *a, const struct fm_match *m, int rule, double *out,
                              bool *ok)
{
    const struct fm_rule *r = &m->rs->rules[rule];
    *ok = true;
    if (r->has[FM_P_REFERENCE]) {
        *out = prop(m, rule, FM_P_REFERENCE);
        return true;
    }
    if (r->reference == NULL)
        return false;
    struct fm_val v = fm_expr_eval(a, r->reference, m);
    *ok = v.kind == FM_V_NUM;
    *out = v.num;
    return true;
}

static bool any_missing(const struct leaves *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == FM_V_NONE)
            return true;
    return false;
}

static int cmp_num(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static enum fm_outcome eval_distance(struct arena *a, const struct fm_match *m, int rule)
{
    const struct fm_rule *r = &m->rs->rules[rule];
    struct leaves l = measured(a, m, r);
    double ref;
    bool ok;
    bool has_ref = numeric_reference(a, m, rule, &ref, &ok);
    if (!ok || any_missing(&l))
        return FM_UNKNOWN;
    double maxd = r->has[FM_P_MAX_DISTANCE] ? prop(m, rule, FM_P_MAX_DISTANCE) : INFINITY;
    double mind = r->has[FM_P_MIN_DISTANCE] ? prop(m, rule, FM_P_MIN_DISTANCE) : 0;
    if (has_ref) {
        for (size_t i = 0; i < l.n; i++) {
            double d = fabs(l.v[i].num - ref);
            if (d > maxd || d < mind)
                return FM_FAIL;
        }
        return FM_PASS;
    }
    /* decision: without a referenceValue, the distance between any two
     * measured values. */
    double *xs = arena_alloc(a, (l.n + 1) * sizeof(double));
    for (size_t i = 0; i < l.n; i++)
        xs[i] = l.v[i].num;
    qsort(xs, l.n, sizeof(double), cmp_num);
    if (l.n > 1 && xs[l.n - 1] - xs[0] > maxd)
        return FM_FAIL;
    for (size_t i = 1; i < l.n; i++)
        if (xs[i] - xs[i - 1] < mind)
            return FM_FAIL;
    return FM_PASS;
}

static bool compare(enum fm_op op, int c)
{
    switch (op) {
    case FM_OP_LT: return c < 0;
    case FM_OP_LE: return c <= 0;
    case FM_OP_EQ: return c == 0;
    case FM_OP_NE: return c != 0;
    case FM_OP_GT: return c > 0;
    case FM_OP_GE: return c >= 0;
    default: return false;
    }
}

/* -1, 0, 1 for two leaves of the same kind; 2 if they cannot compare. */
static int order(const struct fm_val *x, const struct fm_val *y)
{
    if (x->kind == FM_V_NUM && y->kind == FM_V_NUM)
        return (x->num > y->num) - (x->num < y->num);
    if (x->kind == FM_V_STR && y->kind == FM_V_STR) {
        int c = strcmp(x->str, y->str);
        return (c > 0) - (c < 0);
    }
    return 2;
}

static enum fm_outcome eval_comparison(struct arena *a, const struct fm_match *m, int rule)
{
    const struct fm_rule *r = &m->rs->rules[rule];
    struct leaves l = measured(a, m, r);
    if (any_missing(&l))
        return FM_UNKNOWN;
    struct fm_val ref = {.kind = FM_V_NONE};
    bool ok = true;
    if (r->ref_string != NULL) {
        ref.kind = FM_V_STR;
        ref.str = r->ref_string;
    } else if (numeric_reference(a, m, rule, &ref.num, &ok)) {
        ref.kind = FM_V_NUM;
    }
    if (!ok)
        return FM_UNKNOWN;
    if (ref.kind != FM_V_NONE) {
        for (size_t i = 0; i < l.n; i++) {
            int c = order(&l.v[i], &ref);
            if (c == 2 || !compare(r->op, c))
                return FM_FAIL;
        }
        return FM_PASS;
    }
    /* Across players: = all the same, != all different. */
    for (size_t i = 0; i < l.n; i++)
        for (size_t j = i + 1; j < l.n; j++) {
            int c = order(&l.v[i], &l.v[j]);
            if (c == 2 || (r->op == FM_OP_EQ) != (c == 0))
                return FM_FAIL;
        }
    return FM_PASS;
}

/* ---- collection ---------------------------------------------------------- */

struct collection {
    const char **s;
    size_t n;
    int ticket;
};

struct collections {
    struct collection *c;
    size_t n, cap;
};

static void coll_add(struct arena *a, struct collections *cs, struct collection c)
{
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 16;
        struct collection *bigger = arena_alloc(a, cap * sizeof(*bigger));
        if (cs->n > 0)
            memcpy(bigger, cs->c, cs->n * sizeof(*bigger));
        cs->c = bigger;
        cs->cap = cap;
    }
    cs->c[cs->n++] = c;
}

static bool contains(const struct collection *c, const char *s)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->s[i], s) == 0)
            return true;
    return false;
}

static struct collection strings_of(struct arena *a, const struct fm_val *v, int ticket)
{
    struct collection c = {NULL, 0, ticket};
    if (v->kind == FM_V_STR) {
        c.s = arena_alloc(a, sizeof(char *));
        c.s[c.n++] = v->str;
        return c;
    }
    c.s = arena_alloc(a, (v->len + 1) * sizeof(char *));
    for (size_t i = 0; i < v->len; i++)
        if (v->items[i].kind == FM_V_STR)
            c.s[c.n++] = v->items[i].str;
    return c;
}

/* A player's value (string or string list) is one collection; a computed
 * list of strings is one collection; other lists are searched inside. */
static void gather_collections(struct arena *a, struct collections *cs, const struct fm_val *v)
{
    if (v->ticket >= 0 && (v->kind == FM_V_STR || v->kind == FM_V_LIST)) {
        coll_add(a, cs, strings_of(a, v, v->ticket));
        return;
    }
    if (v->kind != FM_V_LIST)
        return;
    bool computed = true;
    for (size_t i = 0; i < v->len && computed; i++)
        computed = v->items[i].kind == FM_V_STR && v->items[i].ticket < 0;
    if (computed && v->len > 0) {
        coll_add(a, cs, strings_of(a, v, -1));
        return;
    }
    for (size_t i = 0; i < v->len; i++)
        gather_collections(a, cs, &v->items[i]);
}

/* partyAggregation union / intersection of each ticket's collections. */
static struct collections party_collections(struct arena *a, const struct collections *in,
                                            enum fm_party party)
{
    struct collections out = {0};
    bool *used = arena_alloc(a, in->n + 1);
    for (size_t i = 0; i < in->n; i++) {
        if (used[i])
            continue;
        struct collection c = in->c[i];
        if (c.ticket >= 0) {
            size_t cap = c.n;
            for (size_t j = i + 1; j < in->n; j++)
                if (in->c[j].ticket == c.ticket)
                    cap += in->c[j].n;
            const char **s = arena_alloc(a, (cap + 1) * sizeof(char *));
            size_t n = 0;
            for (size_t k = 0; k < c.n; k++)
                s[n++] = c.s[k];
            for (size_t j = i + 1; j < in->n; j++) {
                if (in->c[j].ticket != c.ticket)
                    continue;
                used[j] = true;
                if (party == FM_PARTY_UNION) {
                    for (size_t k = 0; k < in->c[j].n; k++) {
                        struct collection sofar = {s, n, c.ticket};
                        if (!contains(&sofar, in->c[j].s[k]))
                            s[n++] = in->c[j].s[k];
                    }
                } else {
                    size_t kept = 0;
                    for (size_t k = 0; k < n; k++)
                        if (contains(&in->c[j], s[k]))
                            s[kept++] = s[k];
                    n = kept;
                }
            }
            c.s = s;
            c.n = n;
        }
        coll_add(a, &out, c);
    }
    return out;
}

static enum fm_outcome counted(const struct fm_match *m, int rule, double count, bool check_min,
                               bool check_max)
{
    const struct fm_rule *r = &m->rs->rules[rule];
    if (check_min && r->has[FM_P_MIN_COUNT] && count < prop(m, rule, FM_P_MIN_COUNT))
        return FM_FAIL;
    if (check_max && r->has[FM_P_MAX_COUNT] && count > prop(m, rule, FM_P_MAX_COUNT))
        return FM_FAIL;
    return FM_PASS;
}

static enum fm_outcome eval_collection(struct arena *a, const struct fm_match *m, int rule,
                                       bool complete)
{
    const struct fm_rule *r = &m->rs->rules[rule];
    struct collections raw = {0};
    for (size_t i = 0; i < r->nmeasurements; i++) {
        struct fm_val v = fm_expr_eval(a, r->measurements[i], m);
        gather_collections(a, &raw, &v);
    }
    struct collections cs = party_collections(a, &raw, r->party);

    if (r->op == FM_OP_INTERSECTION) {
        /* Values in every collection: can only shrink as players come. */
        if (cs.n == 0)
            return complete ? FM_FAIL : FM_UNKNOWN;
        size_t common = 0;
        for (size_t k = 0; k < cs.c[0].n; k++) {
            bool all = true;
            for (size_t j = 1; j < cs.n && all; j++)
                all = contains(&cs.c[j], cs.c[0].s[k]);
            bool dup = false;
            for (size_t p = 0; p < k && !dup; p++)
                dup = strcmp(cs.c[0].s[p], cs.c[0].s[k]) == 0;
            common += all && !dup;
        }
        enum fm_outcome o = counted(m, rule, (double)common, true, complete);
        return o == FM_PASS && !complete && r->has[FM_P_MAX_COUNT] ? FM_UNKNOWN : o;
    }
    if (r->op == FM_OP_CONTAINS) {
        /* Collections holding the reference: can only grow. */
        char num[64];
        const char *ref = r->ref_string;
        if (ref == NULL) {
            snprintf(num, sizeof(num), "%g", prop(m, rule, FM_P_REFERENCE));
            ref = num;
        }
        size_t n = 0;
        for (size_t j = 0; j < cs.n; j++)
            n += contains(&cs.c[j], ref);
        enum fm_outcome o = counted(m, rule, (double)n, complete, true);
        return o == FM_PASS && !complete && r->has[FM_P_MIN_COUNT] ? FM_UNKNOWN : o;
    }
    /* reference_intersection_count: each collection against the reference. */
    struct collection ref = {r->ref_strings, r->nref_strings, -1};
    if (r->reference != NULL) {
        struct fm_val v = fm_expr_eval(a, r->reference, m);
        struct leaves l = {0};
        gather_leaves(a, &l, &v);
        ref.s = arena_alloc(a, (l.n + 1) * sizeof(char *));
        ref.n = 0;
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i].kind == FM_V_STR)
                ref.s[ref.n++] = l.v[i].str;
    }
    for (size_t j = 0; j < cs.n; j++) {
        size_t n = 0;
        for (size_t k = 0; k < cs.c[j].n; k++)
            n += contains(&ref, cs.c[j].s[k]);
        if (counted(m, rule, (double)n, true, true) == FM_FAIL)
            return FM_FAIL;
    }
    return FM_PASS;
}

/* ---- latency ---------------------------------------------------------- */

void fm_ticket_latency(const struct fm_ticket *t, enum fm_party party, int out[FM_MAX_REGIONS])
{
    int regions = fm_region_count();
    for (int r = regions; r < FM_MAX_REGIONS; r++)
        out[r] = -1;
    for (int r = 0; r < regions; r++) {
        double acc = 0;
        bool all = t->nplayers > 0;
        for (int p = 0; p < t->nplayers && all; p++) {
            int ms = t->players[p].latency[r];
            all = ms >= 0;
            acc = p == 0 ? ms : combine(party, acc, ms, p);
        }
        out[r] = all ? (int)(acc + 0.5) : -1;
    }
}

static enum fm_outcome eval_latency(struct arena *a, struct fm_match *m, int rule)
{
    const struct fm_rule *r = &m->rs->rules[rule];
    int(*lat)[FM_MAX_REGIONS] = arena_alloc(a, (size_t)(m->n + 1) * sizeof(*lat));
    double maxlat = r->has[FM_P_MAX_LATENCY] ? prop(m, rule, FM_P_MAX_LATENCY) : INFINITY;
    uint64_t common = ~(uint64_t)0;
    for (int t = 0; t < m->n; t++) {
        fm_ticket_latency(m->tickets[t], r->party, lat[t]);
        uint64_t ok = 0;
        for (int g = 0; g < fm_region_count(); g++)
            if (lat[t][g] >= 0 && lat[t][g] <= maxlat)
                ok |= (uint64_t)1 << g;
        if (ok == 0)
            return FM_FAIL; /* no location under maxLatency */
        common &= ok;
    }
    if (m->n == 0)
        return FM_UNKNOWN;
    /* decision: the players of a match must share an acceptable location;
     * of those that pass maxDistance, the lowest average latency wins. */
    int best = -1;
    double best_avg = INFINITY;
    for (int g = 0; g < fm_region_count(); g++) {
        if (!(common >> g & 1))
            continue;
        double lo = INFINITY, sum = 0;
        for (int t = 0; t < m->n; t++) {
            lo = lat[t][g] < lo ? lat[t][g] : lo;
            sum += lat[t][g];
        }
        double avg = sum / m->n;
        if (r->has[FM_P_MAX_DISTANCE]) {
            double ref = r->reference_is_avg ? avg : lo;
            double maxd = prop(m, rule, FM_P_MAX_DISTANCE);
            bool within = true;
            for (int t = 0; t < m->n && within; t++)
                within = lat[t][g] - ref <= maxd;
            if (!within)
                continue;
        }
        if (avg < best_avg) {
            best_avg = avg;
            best = g;
        }
    }
    if (best < 0)
        return FM_FAIL;
    m->region = best;
    return FM_PASS;
}

/* ---- batchDistance -------------------------------------------------------- */

double fm_ticket_number(const struct fm_ticket *t, int attr, enum fm_party party)
{
    double acc = NAN;
    for (int p = 0; p < t->nplayers; p++) {
        const struct fm_attrval *v = &t->players[p].attrs[attr];
        if (v->kind != FM_A_NUMBER)
            return NAN;
        acc = p == 0 ? v->num : combine(party, acc, v->num, p);
    }
    return acc;
}

static enum fm_outcome eval_batch_distance(const struct fm_match *m, int rule)
{
    const struct fm_rule *r = &m->rs->rules[rule];
    if (m->rs->attrs[r->attr].type == FM_STRING) {
        const char *first = NULL;
        for (int t = 0; t < m->n; t++)
            for (int p = 0; p < m->tickets[t]->nplayers; p++) {
                const struct fm_attrval *v = &m->tickets[t]->players[p].attrs[r->attr];
                if (v->kind != FM_A_STRING)
                    return FM_FAIL;
                if (first == NULL)
                    first = v->str;
                else if (strcmp(first, v->str) != 0)
                    return FM_FAIL;
            }
        return FM_PASS;
    }
    double lo = INFINITY, hi = -INFINITY;
    for (int t = 0; t < m->n; t++) {
        double x = fm_ticket_number(m->tickets[t], r->attr, r->party);
        if (isnan(x))
            return FM_FAIL;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    return m->n == 0 || hi - lo <= prop(m, rule, FM_P_MAX_DISTANCE) ? FM_PASS : FM_FAIL;
}

/* ---- sorting -------------------------------------------------------------- */

/* The key of a string_number_map the anchor values least or most. */
static const char *anchor_key(const struct fm_ticket *anchor, int attr, int map_key)
{
    const struct fm_attrval *v = &anchor->players[0].attrs[attr];
    const char *key = NULL;
    double best = 0;
    for (size_t i = 0; v->kind == FM_A_MAP && i < v->n; i++) {
        bool better = map_key == 1 ? v->nums[i] < best : v->nums[i] > best;
        if (key == NULL || better) {
            key = v->strs[i];
            best = v->nums[i];
        }
    }
    return key;
}

static double map_value(const struct fm_ticket *t, int attr, const char *key, enum fm_party party)
{
    double acc = NAN;
    for (int p = 0; p < t->nplayers; p++) {
        const struct fm_attrval *v = &t->players[p].attrs[attr];
        double x = NAN;
        for (size_t i = 0; v->kind == FM_A_MAP && key != NULL && i < v->n; i++)
            if (strcmp(v->strs[i], key) == 0)
                x = v->nums[i];
        if (isnan(x))
            return NAN;
        acc = p == 0 ? x : combine(party, acc, x, p);
    }
    return acc;
}

double fm_sort_value(const struct fm_ruleset *rs, int rule, const struct fm_ticket *anchor,
                     const struct fm_ticket *t)
{
    const struct fm_rule *r = &rs->rules[rule];
    double x, ax;
    if (r->map_key != 0) {
        const char *key = anchor_key(anchor, r->attr, r->map_key);
        x = map_value(t, r->attr, key, r->party);
        ax = map_value(anchor, r->attr, key, r->party);
    } else {
        x = fm_ticket_number(t, r->attr, r->party);
        ax = fm_ticket_number(anchor, r->attr, r->party);
    }
    if (isnan(x))
        return INFINITY; /* tickets without the value sort last */
    double key = r->type == FM_RULE_DISTANCE_SORT ? fabs(x - ax) : x;
    return r->descending ? -key : key;
}

/* ---- putting it together ------------------------------------------------- */

static enum fm_outcome eval_one(struct arena *a, struct fm_match *m, int rule, bool complete,
                                enum fm_outcome *memo);

static enum fm_outcome eval_stmt(struct arena *a, struct fm_match *m, const struct fm_stmt *s,
                                 bool complete, enum fm_outcome *memo)
{
    if (s->op == FM_ST_RULE)
        return eval_one(a, m, s->rule, complete, memo);
    if (s->op == FM_ST_NOT) {
        enum fm_outcome o = eval_stmt(a, m, s->args[0], complete, memo);
        return o == FM_UNKNOWN ? o : o == FM_PASS ? FM_FAIL : FM_PASS;
    }
    size_t pass = 0, unknown = 0;
    for (size_t i = 0; i < s->nargs; i++) {
        enum fm_outcome o = eval_stmt(a, m, s->args[i], complete, memo);
        pass += o == FM_PASS;
        unknown += o == FM_UNKNOWN;
    }
    size_t fail = s->nargs - pass - unknown;
    switch (s->op) {
    case FM_ST_AND: return fail > 0 ? FM_FAIL : unknown > 0 ? FM_UNKNOWN : FM_PASS;
    case FM_ST_OR: return pass > 0 ? FM_PASS : unknown > 0 ? FM_UNKNOWN : FM_FAIL;
    default: /* xor: exactly one true */
        return unknown > 0 ? FM_UNKNOWN : pass == 1 ? FM_PASS : FM_FAIL;
    }
}

static enum fm_outcome eval_one(struct arena *a, struct fm_match *m, int rule, bool complete,
                                enum fm_outcome *memo)
{
    if (memo != NULL && memo[rule] != (enum fm_outcome) - 1)
        return memo[rule];
    const struct fm_rule *r = &m->rs->rules[rule];
    enum fm_outcome o = FM_PASS;
    if (r->needs_complete && !complete) {
        o = FM_UNKNOWN;
    } else {
        switch (r->type) {
        case FM_RULE_DISTANCE: o = eval_distance(a, m, rule); break;
        case FM_RULE_COMPARISON: o = eval_comparison(a, m, rule); break;
        case FM_RULE_COLLECTION: o = eval_collection(a, m, rule, complete); break;
        case FM_RULE_LATENCY: o = eval_latency(a, m, rule); break;
        case FM_RULE_BATCH_DISTANCE: o = eval_batch_distance(m, rule); break;
        case FM_RULE_COMPOUND: o = eval_stmt(a, m, r->statement, complete, memo); break;
        case FM_RULE_ABSOLUTE_SORT:
        case FM_RULE_DISTANCE_SORT: o = FM_PASS; break;
        }
    }
    if (complete && o == FM_UNKNOWN)
        o = FM_FAIL;
    if (memo != NULL)
        memo[rule] = o;
    return o;
}

enum fm_outcome fm_rule_eval(struct arena *scratch, struct fm_match *m, int rule, bool complete)
{
    return eval_one(scratch, m, rule, complete, NULL);
}

int fm_rules_check(struct arena *scratch, struct fm_match *m, bool complete,
                   struct fm_rule_metrics *metrics)
{
    const struct fm_ruleset *rs = m->rs;
    enum fm_outcome *memo = arena_alloc(scratch, (rs->nrules + 1) * sizeof(*memo));
    for (size_t i = 0; i < rs->nrules; i++)
        memo[i] = (enum fm_outcome) - 1;
    int first_failed = -1;
    for (size_t i = 0; i < rs->nrules; i++) {
        const struct fm_rule *r = &rs->rules[i];
        if (r->in_compound || r->type == FM_RULE_ABSOLUTE_SORT || r->type == FM_RULE_DISTANCE_SORT)
            continue;
        if (eval_one(scratch, m, (int)i, complete, memo) == FM_FAIL) {
            first_failed = (int)i;
            break;
        }
    }
    if (metrics != NULL)
        for (size_t i = 0; i < rs->nrules; i++) {
            metrics[i].passed += memo[i] == FM_PASS;
            metrics[i].failed += memo[i] == FM_FAIL;
        }
    return first_failed;
}
