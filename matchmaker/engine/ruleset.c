/* Rule set parsing and validation: every error names its field. */
#include "ruleset.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

/* Parsing state: the rule set being built and the first error met. */
struct ctx {
    struct fm_ruleset *rs;
    struct fm_error *err;
    bool failed;
};

__attribute__((format(printf, 3, 4))) static bool fail(struct ctx *c, const char *field,
                                                       const char *fmt, ...)
{
    if (c->failed)
        return false;
    c->failed = true;
    snprintf(c->err->field, sizeof(c->err->field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
    va_end(ap);
    return false;
}

/* A JSON number, or a string holding one (AWS's own examples write
 * "maxDistance": "500"). */
static bool number_of(json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return isfinite(*out);
    }
    const char *s = json_string_value(v);
    if (s == NULL || *s == '\0')
        return false;
    char *end;
    *out = strtod(s, &end);
    return *end == '\0' && isfinite(*out);
}

/* Checks that obj has only the listed keys. */
static bool only_keys(struct ctx *c, json_t *obj, const char *field, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL && !known; i++)
            known = strcmp(k, keys[i]) == 0;
        if (!known) {
            char f[160];
            snprintf(f, sizeof(f), "%s%s%s", field, *field ? "." : "", k);
            return fail(c, f, "is not a field of a rule set here");
        }
    }
    return true;
}

/* Returns the index of s in names (NULL-terminated), or -1. */
static int choice(const char *s, const char *const *names)
{
    for (int i = 0; s != NULL && names[i] != NULL; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

int fm_attr_index(const struct fm_ruleset *rs, const char *name)
{
    for (size_t i = 0; i < rs->nattrs; i++)
        if (strcmp(rs->attrs[i].name, name) == 0)
            return (int)i;
    return -1;
}

int fm_rule_index(const struct fm_ruleset *rs, const char *name)
{
    for (size_t i = 0; i < rs->nrules; i++)
        if (rs->rules[i].name != NULL && strcmp(rs->rules[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- playerAttributes --------------------------------------------------- */

static const char *const attr_types[] = {"string", "number", "string_list", "string_number_map",
                                         NULL};

/* The typed form ({"N": 10}) of a declared default, or NULL if the default
 * does not fit the type. An empty string means no default (AWS). */
static json_t *typed_default(enum fm_attr_type t, json_t *d, bool *none)
{
    double n;
    *none = false;
    switch (t) {
    case FM_NUMBER: return number_of(d, &n) ? json_pack("{s:f}", "N", n) : NULL;
    case FM_STRING:
        if (json_is_string(d) && json_string_length(d) == 0) {
            *none = true;
            return NULL;
        }
        return json_is_string(d) && json_string_length(d) <= 100 ? json_pack("{s:O}", "S", d)
                                                                 : NULL;
    case FM_STRING_LIST: {
        size_t i;
        json_t *v;
        if (!json_is_array(d) || json_array_size(d) > 100)
            return NULL;
        json_array_foreach(d, i, v)
        {
            if (!json_is_string(v))
                return NULL;
        }
        return json_pack("{s:O}", "SL", d);
    }
    case FM_STRING_NUMBER_MAP: {
        const char *k;
        json_t *v;
        if (!json_is_object(d) || json_object_size(d) > 10)
            return NULL;
        json_t *m = json_object();
        json_object_foreach(d, k, v)
        {
            if (!number_of(v, &n)) {
                json_decref(m);
                return NULL;
            }
            json_object_set_new(m, k, json_real(n));
        }
        return json_pack("{s:o}", "SDM", m);
    }
    }
    return NULL;
}

static void free_default(void *p)
{
    json_decref(p);
}

static bool parse_attributes(struct ctx *c, json_t *list)
{
    struct fm_ruleset *rs = c->rs;
    if (list == NULL)
        return true;
    if (!json_is_array(list))
        return fail(c, "playerAttributes", "must be an array");
    rs->attrs = arena_alloc(&rs->arena, (json_array_size(list) + 1) * sizeof(*rs->attrs));
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        char f[64];
        snprintf(f, sizeof(f), "playerAttributes[%zu]", i);
        static const char *const keys[] = {"name", "type", "default", NULL};
        if (!json_is_object(a))
            return fail(c, f, "must be an object");
        if (!only_keys(c, a, f, keys))
            return false;
        const char *name = json_string_value(json_object_get(a, "name"));
        int type = choice(json_string_value(json_object_get(a, "type")), attr_types);
        if (name == NULL || *name == '\0')
            return fail(c, f, "needs a name");
        if (fm_attr_index(rs, name) >= 0)
            return fail(c, f, "declares %s a second time", name);
        if (type < 0)
            return fail(c, f, "type must be string, number, string_list or string_number_map");
        struct fm_attr *at = &rs->attrs[rs->nattrs];
        at->name = arena_strdup(&rs->arena, name);
        at->type = (enum fm_attr_type)type;
        json_t *d = json_object_get(a, "default");
        if (d != NULL) {
            bool none;
            at->def = typed_default(at->type, d, &none);
            if (at->def == NULL && !none)
                return fail(c, f, "default does not have the attribute's type");
            if (at->def != NULL)
                arena_defer(&rs->arena, free_default, at->def);
        }
        rs->nattrs++;
    }
    return true;
}

/* ---- teams -------------------------------------------------------------- */

static bool whole(double v, double lo, double hi)
{
    return v == floor(v) && v >= lo && v <= hi;
}

static bool parse_teams(struct ctx *c, json_t *list)
{
    struct fm_ruleset *rs = c->rs;
    if (!json_is_array(list) || json_array_size(list) == 0)
        return fail(c, "teams", "must be an array of at least one team");
    size_t n = json_array_size(list);
    rs->team_defs = arena_alloc(&rs->arena, n * sizeof(*rs->team_defs));
    size_t i;
    json_t *t;
    int total_teams = 0;
    json_array_foreach(list, i, t)
    {
        char f[64];
        snprintf(f, sizeof(f), "teams[%zu]", i);
        static const char *const keys[] = {"name", "maxPlayers", "minPlayers", "quantity", NULL};
        if (!json_is_object(t))
            return fail(c, f, "must be an object");
        if (!only_keys(c, t, f, keys))
            return false;
        const char *name = json_string_value(json_object_get(t, "name"));
        double max, min, q = 1;
        if (name == NULL || *name == '\0')
            return fail(c, f, "needs a name");
        for (size_t j = 0; j < rs->nteam_defs; j++)
            if (strcmp(rs->team_defs[j].name, name) == 0)
                return fail(c, f, "name %s is used by another team", name);
        if (!number_of(json_object_get(t, "maxPlayers"), &max) || !whole(max, 1, FM_MAX_PLAYERS))
            return fail(c, f, "maxPlayers must be a whole number from 1 to %d", FM_MAX_PLAYERS);
        if (!number_of(json_object_get(t, "minPlayers"), &min) || !whole(min, 0, max))
            return fail(c, f, "minPlayers must be a whole number from 0 to maxPlayers");
        if (json_object_get(t, "quantity") != NULL &&
            (!number_of(json_object_get(t, "quantity"), &q) || !whole(q, 1, FM_MAX_PLAYERS)))
            return fail(c, f, "quantity must be a whole number from 1 to %d", FM_MAX_PLAYERS);
        struct fm_team_def *d = &rs->team_defs[rs->nteam_defs++];
        d->name = arena_strdup(&rs->arena, name);
        d->max_players = (int)max;
        d->min_players = (int)min;
        d->quantity = (int)q;
        d->first_team = total_teams;
        total_teams += d->quantity;
        rs->max_players += d->max_players * d->quantity;
        if (rs->max_players > FM_MAX_PLAYERS)
            return fail(c, "teams", "hold more than %d players in all", FM_MAX_PLAYERS);
    }
    /* decision: teams of a definition with quantity > 1 are <name>_1.. */
    rs->teams = arena_alloc(&rs->arena, (size_t)total_teams * sizeof(*rs->teams));
    for (size_t d = 0; d < rs->nteam_defs; d++) {
        const struct fm_team_def *def = &rs->team_defs[d];
        for (int k = 0; k < def->quantity; k++) {
            struct fm_team *tm = &rs->teams[rs->nteams++];
            tm->def = (int)d;
            tm->name = def->quantity == 1 ? def->name
                                          : arena_sprintf(&rs->arena, "%s_%d", def->name, k + 1);
        }
    }
    rs->large = rs->max_players > FM_SMALL_MATCH_MAX;
    return true;
}

/* ---- algorithm ---------------------------------------------------------- */

static bool parse_algorithm(struct ctx *c, json_t *alg)
{
    struct fm_ruleset *rs = c->rs;
    static const char *const keys[] = {"strategy",
                                       "batchingPreference",
                                       "sortByAttributes",
                                       "balancedAttribute",
                                       "expansionAgeSelection",
                                       "backfillPriority",
                                       NULL};
    static const char *const strategies[] = {"exhaustiveSearch", "balanced", NULL};
    static const char *const batching[] = {"random", "sorted", "largestPopulation", "fastestRegion",
                                           NULL};
    static const char *const ages[] = {"newest", "oldest", NULL};
    static const char *const priorities[] = {"normal", "high", "low", NULL};

    rs->balanced_attr = -1;
    /* decision: strategy is optional: balanced above 40 players, else
     * exhaustiveSearch. */
    rs->strategy = rs->large ? FM_BALANCED : FM_EXHAUSTIVE;
    if (alg == NULL) {
        rs->batching = rs->large ? FM_BATCH_LARGEST_POPULATION : FM_BATCH_RANDOM;
        return rs->large ? fail(c, "algorithm",
                                "a match of more than %d players needs strategy "
                                "balanced and a balancedAttribute",
                                FM_SMALL_MATCH_MAX)
                         : true;
    }
    if (!json_is_object(alg))
        return fail(c, "algorithm", "must be an object");
    if (!only_keys(c, alg, "algorithm", keys))
        return false;
    json_t *v;
    if ((v = json_object_get(alg, "strategy")) != NULL) {
        int s = choice(json_string_value(v), strategies);
        if (s < 0)
            return fail(c, "algorithm.strategy", "must be exhaustiveSearch or balanced");
        rs->strategy = (enum fm_strategy)s;
    }
    if (rs->large && rs->strategy != FM_BALANCED)
        return fail(c, "algorithm.strategy", "must be balanced for more than %d players",
                    FM_SMALL_MATCH_MAX);
    rs->batching = rs->strategy == FM_BALANCED ? FM_BATCH_LARGEST_POPULATION : FM_BATCH_RANDOM;
    if ((v = json_object_get(alg, "batchingPreference")) != NULL) {
        int b = choice(json_string_value(v), batching);
        if (b < 0)
            return fail(c, "algorithm.batchingPreference",
                        "must be random, sorted, largestPopulation or fastestRegion");
        rs->batching = (enum fm_batching)b;
        bool balanced_kind = b >= FM_BATCH_LARGEST_POPULATION;
        if (balanced_kind != (rs->strategy == FM_BALANCED))
            return fail(c, "algorithm.batchingPreference",
                        rs->strategy == FM_BALANCED
                            ? "must be largestPopulation or fastestRegion with strategy balanced"
                            : "must be random or sorted with strategy exhaustiveSearch");
    }
    if ((v = json_object_get(alg, "sortByAttributes")) != NULL) {
        if (!json_is_array(v))
            return fail(c, "algorithm.sortByAttributes", "must be an array of attribute names");
        rs->sort_attrs = arena_alloc(&rs->arena, (json_array_size(v) + 1) * sizeof(int));
        size_t i;
        json_t *name;
        json_array_foreach(v, i, name)
        {
            int a = json_is_string(name) ? fm_attr_index(rs, json_string_value(name)) : -1;
            if (a < 0)
                return fail(c, "algorithm.sortByAttributes",
                            "entry %zu names no declared player attribute", i);
            rs->sort_attrs[rs->nsort_attrs++] = a;
        }
    }
    if (rs->batching == FM_BATCH_SORTED && rs->nsort_attrs == 0)
        return fail(c, "algorithm.sortByAttributes", "is required with batchingPreference sorted");
    if ((v = json_object_get(alg, "balancedAttribute")) != NULL) {
        int a = json_is_string(v) ? fm_attr_index(rs, json_string_value(v)) : -1;
        if (a < 0 || rs->attrs[a].type != FM_NUMBER)
            return fail(c, "algorithm.balancedAttribute", "must name a number attribute");
        rs->balanced_attr = a;
    }
    if (rs->strategy == FM_BALANCED && rs->balanced_attr < 0)
        return fail(c, "algorithm.balancedAttribute", "is required with strategy balanced");
    if ((v = json_object_get(alg, "expansionAgeSelection")) != NULL) {
        int a = choice(json_string_value(v), ages);
        if (a < 0)
            return fail(c, "algorithm.expansionAgeSelection", "must be newest or oldest");
        rs->expansion_age_oldest = a == 1;
    }
    if ((v = json_object_get(alg, "backfillPriority")) != NULL) {
        int p = choice(json_string_value(v), priorities);
        if (p < 0)
            return fail(c, "algorithm.backfillPriority", "must be normal, high or low");
        rs->backfill_priority = (enum fm_backfill_priority)p;
        if (p != FM_BACKFILL_NORMAL && rs->strategy != FM_EXHAUSTIVE)
            return fail(c, "algorithm.backfillPriority",
                        "high and low need strategy exhaustiveSearch");
    }
    return true;
}

/* ---- rules -------------------------------------------------------------- */

static const char *const rule_types[] = {"distance",     "comparison",    "collection",
                                         "latency",      "batchDistance", "absoluteSort",
                                         "distanceSort", "compound",      NULL};
static const char *const rule_keys[] = {"name",
                                        "description",
                                        "type",
                                        "measurements",
                                        "referenceValue",
                                        "maxDistance",
                                        "minDistance",
                                        "operation",
                                        "minCount",
                                        "maxCount",
                                        "maxLatency",
                                        "distanceReference",
                                        "partyAggregation",
                                        "batchAttribute",
                                        "sortDirection",
                                        "sortAttribute",
                                        "mapKey",
                                        "statement",
                                        NULL};
static const char *const prop_names[FM_NPROPS] = {"referenceValue", "maxDistance", "minDistance",
                                                  "minCount",       "maxCount",    "maxLatency"};

static struct fm_expr *parse_expression(struct ctx *c, const char *field, const char *text)
{
    const char *why = NULL;
    struct fm_expr *e = fm_expr_parse(&c->rs->arena, c->rs, text, &why);
    if (e == NULL)
        fail(c, field, "%s: %s", text, why);
    return e;
}

static bool parse_measurements(struct ctx *c, const char *f, json_t *m, struct fm_rule *r)
{
    char field[160];
    snprintf(field, sizeof(field), "%s.measurements", f);
    /* decision: a string or an array of strings (AWS writes both). */
    if (json_is_string(m)) {
        r->measurements = arena_alloc(&c->rs->arena, sizeof(struct fm_expr *));
        r->measurements[0] = parse_expression(c, field, json_string_value(m));
        r->nmeasurements = 1;
        return r->measurements[0] != NULL;
    }
    if (!json_is_array(m) || json_array_size(m) == 0)
        return fail(c, field, "is required: an expression or an array of expressions");
    r->measurements = arena_alloc(&c->rs->arena, json_array_size(m) * sizeof(struct fm_expr *));
    size_t i;
    json_t *v;
    json_array_foreach(m, i, v)
    {
        if (!json_is_string(v))
            return fail(c, field, "entry %zu must be an expression string", i);
        r->measurements[i] = parse_expression(c, field, json_string_value(v));
        if (r->measurements[i] == NULL)
            return false;
        r->nmeasurements++;
    }
    return true;
}

static bool is_expression(const char *s)
{
    while (*s == ' ')
        s++;
    static const char *const heads[] = {"teams[",
                                        "team[",
                                        "min(",
                                        "max(",
                                        "avg(",
                                        "median(",
                                        "sum(",
                                        "count(",
                                        "stddev(",
                                        "flatten(",
                                        "set_intersection(",
                                        NULL};
    for (size_t i = 0; heads[i] != NULL; i++)
        if (strncmp(s, heads[i], strlen(heads[i])) == 0 || (strncmp(s, "count (", 7) == 0))
            return true;
    return false;
}

static bool parse_reference(struct ctx *c, const char *f, json_t *v, struct fm_rule *r)
{
    char field[160];
    snprintf(field, sizeof(field), "%s.referenceValue", f);
    double n;
    if (number_of(v, &n)) {
        r->prop[FM_P_REFERENCE] = n;
        r->has[FM_P_REFERENCE] = true;
        return true;
    }
    if (json_is_string(v) && is_expression(json_string_value(v))) {
        r->reference = parse_expression(c, field, json_string_value(v));
        return r->reference != NULL;
    }
    if (json_is_string(v)) {
        r->ref_string = arena_strdup(&c->rs->arena, json_string_value(v));
        return true;
    }
    if (json_is_array(v)) {
        r->ref_strings = arena_alloc(&c->rs->arena, (json_array_size(v) + 1) * sizeof(char *));
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s)
        {
            if (!json_is_string(s))
                return fail(c, field, "a list reference must hold strings only");
            r->ref_strings[r->nref_strings++] = arena_strdup(&c->rs->arena, json_string_value(s));
        }
        return true;
    }
    return fail(c, field, "must be a number, a string, a list of strings or an expression");
}

/* Compound statements: NAME | op '(' stmt (',' stmt)* ')'. */
struct stmt_parser {
    struct ctx *c;
    const char *field;
    const char *p;
    int self; /* the compound rule's own index: only rules before it */
};

static void st_ws(struct stmt_parser *sp)
{
    while (*sp->p == ' ' || *sp->p == '\t' || *sp->p == '\n')
        sp->p++;
}

static struct fm_stmt *parse_stmt(struct stmt_parser *sp, int depth)
{
    struct fm_ruleset *rs = sp->c->rs;
    st_ws(sp);
    const char *start = sp->p;
    while (*sp->p != '\0' && strchr("(), \t\n", *sp->p) == NULL)
        sp->p++;
    char *word = arena_strndup(&rs->arena, start, (size_t)(sp->p - start));
    st_ws(sp);
    struct fm_stmt *s = arena_alloc(&rs->arena, sizeof(*s));
    static const char *const ops[] = {"and", "or", "not", "xor", NULL};
    int op = choice(word, ops);
    if (depth > 32) {
        fail(sp->c, sp->field, "is nested too deeply");
        return NULL;
    }
    if (op >= 0 && *sp->p == '(') {
        sp->p++;
        s->op = (enum fm_stmt_op)(op + 1);
        s->args = arena_alloc(&rs->arena, 64 * sizeof(struct fm_stmt *));
        do {
            if (s->nargs == 64) {
                fail(sp->c, sp->field, "has an operator with too many arguments");
                return NULL;
            }
            struct fm_stmt *arg = parse_stmt(sp, depth + 1);
            if (arg == NULL)
                return NULL;
            s->args[s->nargs++] = arg;
            st_ws(sp);
        } while (*sp->p == ',' && sp->p++);
        if (*sp->p != ')') {
            fail(sp->c, sp->field, "expected ) after the arguments of %s", word);
            return NULL;
        }
        sp->p++;
        bool arity_ok = s->op == FM_ST_NOT ? s->nargs == 1 : s->nargs >= 2;
        if (!arity_ok) {
            fail(sp->c, sp->field, "%s takes %s", word,
                 s->op == FM_ST_NOT ? "one argument" : "two or more arguments");
            return NULL;
        }
        return s;
    }
    int r = *word != '\0' ? fm_rule_index(rs, word) : -1;
    if (r < 0 || r >= sp->self) {
        fail(sp->c, sp->field, "%s is not a rule defined before this one",
             *word ? word : "(empty)");
        return NULL;
    }
    if (rs->rules[r].type == FM_RULE_BATCH_DISTANCE) {
        fail(sp->c, sp->field, "%s is a batchDistance rule, which compound rules cannot use", word);
        return NULL;
    }
    s->op = FM_ST_RULE;
    s->rule = r;
    rs->rules[r].in_compound = true;
    return s;
}

static bool parse_party(struct ctx *c, const char *f, json_t *v, struct fm_rule *r)
{
    static const char *const numeric[] = {"avg", "min", "max", NULL};
    static const char *const sets[] = {"union", "intersection", NULL};
    bool collection = r->type == FM_RULE_COLLECTION;
    r->party = collection ? FM_PARTY_UNION : FM_PARTY_AVG;
    if (v == NULL)
        return true;
    int p = choice(json_string_value(v), collection ? sets : numeric);
    char field[160];
    snprintf(field, sizeof(field), "%s.partyAggregation", f);
    if (p < 0)
        return fail(c, field,
                    collection ? "must be union or intersection" : "must be avg, min or max");
    r->party = collection ? (enum fm_party)(FM_PARTY_UNION + p) : (enum fm_party)p;
    return true;
}

static bool measurements_numeric(const struct fm_rule *r)
{
    for (size_t i = 0; i < r->nmeasurements; i++)
        if (r->measurements[i]->of_strings)
            return false;
    return true;
}

static bool rule_grows(const struct fm_rule *r)
{
    for (size_t i = 0; i < r->nmeasurements; i++)
        if (fm_expr_grows(r->measurements[i]))
            return true;
    return fm_expr_grows(r->reference);
}

static bool stmt_by_team(const struct fm_ruleset *rs, const struct fm_stmt *s)
{
    if (s->op == FM_ST_RULE)
        return rs->rules[s->rule].by_team;
    for (size_t i = 0; i < s->nargs; i++)
        if (stmt_by_team(rs, s->args[i]))
            return true;
    return false;
}

/* Latency, batchDistance and sort rules never look at teams; the others do
 * through their expressions, and a compound through the rules it uses
 * (all defined before it, so already classified). */
static bool rule_by_team(const struct fm_ruleset *rs, const struct fm_rule *r)
{
    if (r->type == FM_RULE_COMPOUND)
        return stmt_by_team(rs, r->statement);
    for (size_t i = 0; i < r->nmeasurements; i++)
        if (fm_expr_by_team(r->measurements[i], rs->nteams))
            return true;
    return fm_expr_by_team(r->reference, rs->nteams);
}

/* The checks particular to each rule type, after the common fields. */
static bool check_rule_type(struct ctx *c, const char *f, json_t *j, struct fm_rule *r, int index)
{
    struct fm_ruleset *rs = c->rs;
    static const char *const cmp_ops[] = {"<", "<=", "=", "!=", ">", ">=", NULL};
    static const char *const coll_ops[] = {"intersection", "contains",
                                           "reference_intersection_count", NULL};
    char field[160];
    switch (r->type) {
    case FM_RULE_DISTANCE:
        if (!parse_measurements(c, f, json_object_get(j, "measurements"), r))
            return false;
        if (!measurements_numeric(r))
            return fail(c, f, "a distance rule measures numbers");
        if (!r->has[FM_P_MAX_DISTANCE] && !r->has[FM_P_MIN_DISTANCE])
            return fail(c, f, "a distance rule needs maxDistance or minDistance");
        if (r->ref_string != NULL || r->ref_strings != NULL)
            return fail(c, f, "a distance rule's referenceValue must be a number or an expression");
        break;
    case FM_RULE_COMPARISON: {
        if (!parse_measurements(c, f, json_object_get(j, "measurements"), r))
            return false;
        int op = choice(json_string_value(json_object_get(j, "operation")), cmp_ops);
        snprintf(field, sizeof(field), "%s.operation", f);
        if (op < 0)
            return fail(c, field, "must be one of < <= = != > >=");
        r->op = (enum fm_op)(FM_OP_LT + op);
        bool has_ref = r->has[FM_P_REFERENCE] || r->reference != NULL || r->ref_string != NULL;
        if (!has_ref && r->op != FM_OP_EQ && r->op != FM_OP_NE)
            return fail(c, field, "without a referenceValue only = and != compare players");
        if (r->ref_strings != NULL)
            return fail(c, f, "a comparison's referenceValue cannot be a list");
        break;
    }
    case FM_RULE_COLLECTION: {
        if (!parse_measurements(c, f, json_object_get(j, "measurements"), r))
            return false;
        int op = choice(json_string_value(json_object_get(j, "operation")), coll_ops);
        snprintf(field, sizeof(field), "%s.operation", f);
        if (op < 0)
            return fail(c, field, "must be intersection, contains or reference_intersection_count");
        r->op = (enum fm_op)(FM_OP_INTERSECTION + op);
        if (!r->has[FM_P_MIN_COUNT] && !r->has[FM_P_MAX_COUNT])
            return fail(c, f, "a collection rule needs minCount or maxCount");
        if (r->op == FM_OP_CONTAINS && r->ref_string == NULL && !r->has[FM_P_REFERENCE])
            return fail(c, f, "contains needs a referenceValue");
        if (r->op == FM_OP_REFERENCE_INTERSECTION_COUNT && r->ref_strings == NULL &&
            r->reference == NULL)
            return fail(c, f, "reference_intersection_count needs a referenceValue list");
        break;
    }
    case FM_RULE_LATENCY:
        if (!r->has[FM_P_MAX_LATENCY] && !r->has[FM_P_MAX_DISTANCE])
            return fail(c, f, "a latency rule needs maxLatency or maxDistance");
        if (json_object_get(j, "distanceReference") != NULL) {
            /* decision: "min" or "avg", as the text says (the schema's
             * number type is a doc error). */
            static const char *const refs[] = {"min", "avg", NULL};
            int d = choice(json_string_value(json_object_get(j, "distanceReference")), refs);
            if (d < 0)
                return fail(c, f, "distanceReference must be min or avg");
            r->reference_is_avg = d == 1;
        }
        break;
    case FM_RULE_BATCH_DISTANCE: {
        const char *name = json_string_value(json_object_get(j, "batchAttribute"));
        r->attr = name != NULL ? fm_attr_index(rs, name) : -1;
        if (r->attr < 0)
            return fail(c, f, "batchAttribute must name a declared player attribute");
        enum fm_attr_type t = rs->attrs[r->attr].type;
        if (t == FM_NUMBER && !r->has[FM_P_MAX_DISTANCE])
            return fail(c, f, "a batchDistance rule on a number needs maxDistance");
        if (t != FM_NUMBER && t != FM_STRING)
            return fail(c, f, "batchAttribute must be a number or string attribute");
        break;
    }
    case FM_RULE_ABSOLUTE_SORT:
    case FM_RULE_DISTANCE_SORT: {
        static const char *const dirs[] = {"ascending", "descending", NULL};
        static const char *const keys[] = {"minValue", "maxValue", NULL};
        json_t *dir = json_object_get(j, "sortDirection");
        int d = dir != NULL ? choice(json_string_value(dir), dirs) : 0;
        if (d < 0)
            return fail(c, f, "sortDirection must be ascending or descending");
        r->descending = d == 1;
        const char *name = json_string_value(json_object_get(j, "sortAttribute"));
        r->attr = name != NULL ? fm_attr_index(rs, name) : -1;
        if (r->attr < 0)
            return fail(c, f, "sortAttribute must name a declared player attribute");
        enum fm_attr_type t = rs->attrs[r->attr].type;
        json_t *mk = json_object_get(j, "mapKey");
        if (t == FM_STRING_NUMBER_MAP) {
            int k = choice(json_string_value(mk), keys);
            if (k < 0)
                return fail(c, f, "mapKey must be minValue or maxValue for a string_number_map");
            r->map_key = k + 1;
        } else if (t != FM_NUMBER) {
            return fail(c, f, "sortAttribute must be a number or string_number_map attribute");
        } else if (mk != NULL) {
            return fail(c, f, "mapKey applies to string_number_map attributes only");
        }
        break;
    }
    case FM_RULE_COMPOUND: {
        const char *st = json_string_value(json_object_get(j, "statement"));
        snprintf(field, sizeof(field), "%s.statement", f);
        if (st == NULL)
            return fail(c, field, "is required");
        if (rs->large)
            return fail(c, f, "compound rules are for matches of %d players or fewer",
                        FM_SMALL_MATCH_MAX);
        struct stmt_parser sp = {c, field, st, index};
        r->statement = parse_stmt(&sp, 0);
        if (r->statement == NULL)
            return false;
        st_ws(&sp);
        if (*sp.p != '\0')
            return fail(c, field, "unexpected text after the statement");
        break;
    }
    }
    return true;
}

static bool parse_rule(struct ctx *c, json_t *j, size_t index)
{
    struct fm_ruleset *rs = c->rs;
    char f[64];
    snprintf(f, sizeof(f), "rules[%zu]", index);
    if (!json_is_object(j))
        return fail(c, f, "must be an object");
    if (!only_keys(c, j, f, rule_keys))
        return false;
    struct fm_rule *r = &rs->rules[index];
    r->attr = -1;
    const char *name = json_string_value(json_object_get(j, "name"));
    if (name == NULL || *name == '\0')
        return fail(c, f, "needs a name");
    if (fm_rule_index(rs, name) >= 0)
        return fail(c, f, "name %s is used by another rule", name);
    int type = choice(json_string_value(json_object_get(j, "type")), rule_types);
    if (type < 0)
        return fail(c, f,
                    "type must be one of distance, comparison, collection, latency, "
                    "batchDistance, absoluteSort, distanceSort, compound");
    r->type = (enum fm_rule_type)type;
    if (rs->large && r->type != FM_RULE_LATENCY && r->type != FM_RULE_BATCH_DISTANCE)
        return fail(c, f,
                    "matches of more than %d players allow latency and batchDistance rules "
                    "only",
                    FM_SMALL_MATCH_MAX);
    for (int p = FM_P_MAX_DISTANCE; p < FM_NPROPS; p++) {
        json_t *v = json_object_get(j, prop_names[p]);
        if (v == NULL)
            continue;
        if (!number_of(v, &r->prop[p]) || r->prop[p] < 0) {
            char field[160];
            snprintf(field, sizeof(field), "%s.%s", f, prop_names[p]);
            return fail(c, field, "must be a number of 0 or more");
        }
        r->has[p] = true;
    }
    json_t *ref = json_object_get(j, "referenceValue");
    if (ref != NULL && !parse_reference(c, f, ref, r))
        return false;
    if (!parse_party(c, f, json_object_get(j, "partyAggregation"), r))
        return false;
    if (!check_rule_type(c, f, j, r, (int)index))
        return false;
    r->name = arena_strdup(&rs->arena, name); /* named last: not visible to itself */
    r->needs_complete = rule_grows(r);
    r->by_team = rule_by_team(rs, r);
    return true;
}

static bool parse_rules(struct ctx *c, json_t *list)
{
    struct fm_ruleset *rs = c->rs;
    if (list == NULL)
        return true;
    if (!json_is_array(list))
        return fail(c, "rules", "must be an array");
    rs->rules = arena_alloc(&rs->arena, (json_array_size(list) + 1) * sizeof(*rs->rules));
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r)
    {
        if (!parse_rule(c, r, i))
            return false;
        rs->nrules++;
    }
    return true;
}

/* ---- expansions --------------------------------------------------------- */

/* Parses "rules[NAME].prop" or "teams[A, B].minPlayers". */
static bool parse_target(struct ctx *c, const char *f, const char *text, struct fm_expansion *x)
{
    struct fm_ruleset *rs = c->rs;
    const char *open = strchr(text, '[');
    const char *close = open != NULL ? strchr(open, ']') : NULL;
    if (close == NULL || close[1] != '.')
        return fail(c, f, "target must look like rules[NAME].property or teams[NAME].minPlayers");
    size_t head = (size_t)(open - text);
    const char *prop = close + 2;
    char *inside = arena_strndup(&rs->arena, open + 1, (size_t)(close - open - 1));
    if (head == 5 && strncmp(text, "rules", 5) == 0) {
        while (*inside == ' ')
            inside++;
        x->kind = FM_TARGET_RULE;
        x->rule = fm_rule_index(rs, inside);
        if (x->rule < 0)
            return fail(c, f, "target names no rule %s", inside);
        const struct fm_rule *r = &rs->rules[x->rule];
        if (r->type == FM_RULE_COMPOUND)
            return fail(c, f, "compound rules cannot be expanded; expand the rules they use");
        int p = choice(prop, prop_names);
        if (p < 0 || !r->has[p])
            return fail(c, f, "%s is not a numeric property set on rule %s", prop, r->name);
        x->prop = (enum fm_prop)p;
        return true;
    }
    if ((head == 5 && strncmp(text, "teams", 5) == 0) ||
        (head == 4 && strncmp(text, "team", 4) == 0)) {
        if (strcmp(prop, "minPlayers") == 0)
            x->kind = FM_TARGET_TEAM_MIN;
        else if (strcmp(prop, "maxPlayers") == 0)
            x->kind = FM_TARGET_TEAM_MAX;
        else
            return fail(c, f, "a team target must end in .minPlayers or .maxPlayers");
        x->team_defs = arena_alloc(&rs->arena, rs->nteam_defs * sizeof(int) + sizeof(int));
        for (char *save = NULL, *name = strtok_r(inside, ",", &save); name != NULL;
             name = strtok_r(NULL, ",", &save)) {
            while (*name == ' ')
                name++;
            size_t n = strlen(name);
            while (n > 0 && name[n - 1] == ' ')
                name[--n] = '\0';
            if (strcmp(name, "*") == 0)
                return fail(c, f,
                            "wildcards are not allowed in expansion targets (as in FlexMatch)");
            int d = -1;
            for (size_t k = 0; k < rs->nteam_defs && d < 0; k++)
                if (strcmp(rs->team_defs[k].name, name) == 0)
                    d = (int)k;
            if (d < 0)
                return fail(c, f, "target names no team %s", name);
            if (x->nteam_defs < rs->nteam_defs)
                x->team_defs[x->nteam_defs++] = d;
        }
        if (x->nteam_defs == 0)
            return fail(c, f, "target names no team");
        return true;
    }
    return fail(c, f, "target must start with rules[ or teams[");
}

static bool parse_expansions(struct ctx *c, json_t *list)
{
    struct fm_ruleset *rs = c->rs;
    if (list == NULL)
        return true;
    if (!json_is_array(list))
        return fail(c, "expansions", "must be an array");
    rs->expansions = arena_alloc(&rs->arena, (json_array_size(list) + 1) * sizeof(*rs->expansions));
    size_t i;
    json_t *j;
    json_array_foreach(list, i, j)
    {
        char f[64], sf[96];
        snprintf(f, sizeof(f), "expansions[%zu]", i);
        static const char *const keys[] = {"target", "steps", NULL};
        if (!json_is_object(j))
            return fail(c, f, "must be an object");
        if (!only_keys(c, j, f, keys))
            return false;
        struct fm_expansion *x = &rs->expansions[rs->nexpansions];
        const char *target = json_string_value(json_object_get(j, "target"));
        if (target == NULL)
            return fail(c, f, "needs a target");
        if (!parse_target(c, f, target, x))
            return false;
        json_t *steps = json_object_get(j, "steps");
        snprintf(sf, sizeof(sf), "%s.steps", f);
        if (!json_is_array(steps) || json_array_size(steps) == 0)
            return fail(c, sf, "must be an array of at least one step");
        x->steps = arena_alloc(&rs->arena, json_array_size(steps) * sizeof(*x->steps));
        size_t k;
        json_t *s;
        json_array_foreach(steps, k, s)
        {
            struct fm_step *st = &x->steps[k];
            snprintf(sf, sizeof(sf), "%s.steps[%zu]", f, k);
            if (!json_is_object(s) ||
                !number_of(json_object_get(s, "waitTimeSeconds"), &st->wait_seconds) ||
                !number_of(json_object_get(s, "value"), &st->value))
                return fail(c, sf, "needs numbers waitTimeSeconds and value");
            if (st->wait_seconds < 0 || (k > 0 && st->wait_seconds <= x->steps[k - 1].wait_seconds))
                return fail(c, sf,
                            "waitTimeSeconds must grow from step to step (they are absolute)");
            if (x->kind != FM_TARGET_RULE && !whole(st->value, 0, FM_MAX_PLAYERS))
                return fail(c, sf, "a team size must be a whole number");
            x->nsteps++;
        }
        rs->nexpansions++;
    }
    return true;
}

/* ---- the whole -------------------------------------------------------- */

struct fm_ruleset *fm_ruleset_parse(json_t *body, struct fm_error *err)
{
    static const char *const keys[] = {"name",
                                       "ruleLanguageVersion",
                                       "playerAttributes",
                                       "algorithm",
                                       "teams",
                                       "rules",
                                       "expansions",
                                       NULL};
    struct fm_ruleset *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        abort();
    struct ctx c = {rs, err, false};
    memset(err, 0, sizeof(*err));
    json_t *v;

    if (!json_is_object(body))
        fail(&c, "(rule set)", "must be a JSON object");
    else if (!only_keys(&c, body, "", keys))
        ;
    else if ((v = json_object_get(body, "ruleLanguageVersion")) == NULL || !json_is_string(v) ||
             strcmp(json_string_value(v), "1.0") != 0)
        fail(&c, "ruleLanguageVersion", "must be \"1.0\"");
    else if ((v = json_object_get(body, "name")) != NULL && !json_is_string(v))
        fail(&c, "name", "must be a string");
    else if (parse_attributes(&c, json_object_get(body, "playerAttributes")) &&
             parse_teams(&c, json_object_get(body, "teams")) &&
             parse_algorithm(&c, json_object_get(body, "algorithm")) &&
             parse_rules(&c, json_object_get(body, "rules")))
        parse_expansions(&c, json_object_get(body, "expansions"));

    if (c.failed) {
        fm_ruleset_free(rs);
        return NULL;
    }
    rs->name = arena_strdup(&rs->arena, json_string_value(json_object_get(body, "name")) != NULL
                                            ? json_string_value(json_object_get(body, "name"))
                                            : "");
    return rs;
}

void fm_ruleset_free(struct fm_ruleset *rs)
{
    if (rs == NULL)
        return;
    arena_destroy(&rs->arena);
    free(rs);
}

int fm_ruleset_check_timeout(const struct fm_ruleset *rs, double request_timeout,
                             struct fm_error *err)
{
    for (size_t i = 0; i < rs->nexpansions; i++) {
        const struct fm_expansion *x = &rs->expansions[i];
        if (x->steps[x->nsteps - 1].wait_seconds > request_timeout) {
            snprintf(err->field, sizeof(err->field), "expansions[%zu].steps[%zu]", i,
                     x->nsteps - 1);
            snprintf(err->message, sizeof(err->message),
                     "waits %g s, longer than RequestTimeoutSeconds %g",
                     x->steps[x->nsteps - 1].wait_seconds, request_timeout);
            return -1;
        }
    }
    return 0;
}

const char *fm_rule_type_name(enum fm_rule_type type)
{
    return rule_types[type];
}
