/* Property expressions: a recursive-descent parser and a tree evaluator. */
#include "expr.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum fm_func func;
    int natural_depth; /* the input depth the function consumes */
} funcs[] = {
    {"min", FM_F_MIN, 1},
    {"max", FM_F_MAX, 1},
    {"avg", FM_F_AVG, 1},
    {"median", FM_F_MEDIAN, 1},
    {"sum", FM_F_SUM, 1},
    {"count", FM_F_COUNT, 1},
    {"stddev", FM_F_STDDEV, 1},
    {"flatten", FM_F_FLATTEN, 2},
    {"set_intersection", FM_F_SET_INTERSECTION, 2},
};
#define NFUNCS (sizeof(funcs) / sizeof(funcs[0]))

static int natural_depth(enum fm_func f)
{
    for (size_t i = 0; i < NFUNCS; i++)
        if (funcs[i].func == f)
            return funcs[i].natural_depth;
    return 1;
}

/* ---- parsing ------------------------------------------------------------ */

struct parser {
    struct arena *a;
    const struct fm_ruleset *rs;
    const char *p;
    const char *why;
};

static void skip_ws(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

static bool eat(struct parser *ps, char c)
{
    skip_ws(ps);
    if (*ps->p != c)
        return false;
    ps->p++;
    return true;
}

/* Reads a selector or attribute name: anything but brackets, commas,
 * parentheses and blanks (team names such as "monster-kills" included). */
static const char *read_name(struct parser *ps)
{
    skip_ws(ps);
    const char *start = ps->p;
    while (*ps->p != '\0' && strchr("[](),", *ps->p) == NULL && !isspace((unsigned char)*ps->p))
        ps->p++;
    if (ps->p == start)
        return NULL;
    return arena_strndup(ps->a, start, (size_t)(ps->p - start));
}

/* Adds the teams `name` stands for: a team's own name ("Red_2"), or a
 * definition's (all of its teams). Returns how many, 0 if unknown. */
static size_t select_teams(const struct fm_ruleset *rs, const char *name, int *out, size_t n,
                           size_t cap)
{
    for (size_t i = 0; i < rs->nteams && n < cap; i++)
        if (strcmp(rs->teams[i].name, name) == 0) {
            out[n] = (int)i;
            return 1;
        }
    for (size_t d = 0; d < rs->nteam_defs; d++) {
        const struct fm_team_def *def = &rs->team_defs[d];
        if (strcmp(def->name, name) != 0 || n + (size_t)def->quantity > cap)
            continue;
        for (int q = 0; q < def->quantity; q++)
            out[n + (size_t)q] = def->first_team + q;
        return (size_t)def->quantity;
    }
    return 0;
}

static struct fm_expr *parse_expr(struct parser *ps);

static struct fm_expr *parse_path(struct parser *ps, struct fm_expr *e)
{
    const struct fm_ruleset *rs = ps->rs;
    e->kind = FM_E_PATH;
    e->teams = arena_alloc(ps->a, (rs->nteams + 1) * sizeof(int));
    if (!eat(ps, '[')) {
        ps->why = "expected [ after teams";
        return NULL;
    }
    size_t names = 0;
    if (eat(ps, '*')) {
        for (size_t i = 0; i < rs->nteams; i++)
            e->teams[i] = (int)i;
        e->nteams = rs->nteams;
        e->grouped = true;
    } else {
        do {
            const char *name = read_name(ps);
            if (name == NULL) {
                ps->why = "expected a team name";
                return NULL;
            }
            size_t k = select_teams(rs, name, e->teams, e->nteams, rs->nteams);
            if (k == 0) {
                ps->why = "names a team the rule set does not define, or one twice";
                return NULL;
            }
            e->nteams += k;
            names++;
        } while (eat(ps, ','));
        e->grouped = names > 1 || e->nteams > 1;
    }
    if (!eat(ps, ']')) {
        ps->why = "expected ] after the team selector";
        return NULL;
    }
    e->what = FM_PATH_TEAM;
    e->of_strings = true;
    e->depth = e->grouped ? 2 : 1;
    skip_ws(ps);
    if (strncmp(ps->p, ".players", 8) != 0)
        return e;
    ps->p += 8;
    e->what = FM_PATH_PLAYERS;
    if (strncmp(ps->p, ".attributes", 11) == 0) {
        ps->p += 11;
        const char *name = eat(ps, '[') ? read_name(ps) : NULL;
        if (name == NULL || !eat(ps, ']')) {
            ps->why = "expected .attributes[NAME]";
            return NULL;
        }
        e->attr = fm_attr_index(rs, name);
        if (e->attr < 0) {
            ps->why = "names an attribute the rule set does not declare";
            return NULL;
        }
        e->what = FM_PATH_ATTRIBUTE;
        enum fm_attr_type t = rs->attrs[e->attr].type;
        e->of_strings = t == FM_STRING || t == FM_STRING_LIST;
        if (t == FM_STRING_LIST)
            e->depth++;
        if (t == FM_STRING_NUMBER_MAP) {
            ps->why = "string_number_map attributes are usable in sort rules only";
            return NULL;
        }
    } else if (*ps->p == '[') {
        ps->p++;
        const char *name = read_name(ps);
        if (name == NULL || strcasecmp(name, "playerId") != 0 || !eat(ps, ']')) {
            ps->why = "expected players[playerId]";
            return NULL;
        }
        e->what = FM_PATH_PLAYER_ID;
    }
    return e;
}

static struct fm_expr *parse_expr(struct parser *ps)
{
    struct fm_expr *e = arena_alloc(ps->a, sizeof(*e));
    e->attr = -1;
    skip_ws(ps);
    char c = *ps->p;
    if (isdigit((unsigned char)c) || c == '-' || c == '+' || c == '.') {
        char *end;
        e->num = strtod(ps->p, &end);
        if (end == ps->p || !isfinite(e->num)) {
            ps->why = "malformed number";
            return NULL;
        }
        ps->p = end;
        e->kind = FM_E_NUMBER;
        return e;
    }
    const char *start = ps->p;
    while (isalpha((unsigned char)*ps->p) || *ps->p == '_')
        ps->p++;
    size_t len = (size_t)(ps->p - start);
    if ((len == 5 && strncmp(start, "teams", 5) == 0) ||
        (len == 4 && strncmp(start, "team", 4) == 0))
        return parse_path(ps, e);
    for (size_t i = 0; i < NFUNCS; i++) {
        if (strlen(funcs[i].name) != len || strncmp(start, funcs[i].name, len) != 0)
            continue;
        if (!eat(ps, '(')) {
            ps->why = "expected ( after a function name";
            return NULL;
        }
        e->kind = FM_E_FUNC;
        e->func = funcs[i].func;
        e->arg = parse_expr(ps);
        if (e->arg == NULL)
            return NULL;
        if (!eat(ps, ')')) {
            ps->why = "expected ) to close the function";
            return NULL;
        }
        int in = e->arg->depth;
        if (in < funcs[i].natural_depth && e->func != FM_F_FLATTEN) {
            ps->why = e->func == FM_F_SET_INTERSECTION
                          ? "set_intersection needs lists of string lists"
                          : "the function needs a list";
            return NULL;
        }
        bool numeric =
            e->func != FM_F_COUNT && e->func != FM_F_FLATTEN && e->func != FM_F_SET_INTERSECTION;
        if (numeric && e->arg->of_strings) {
            ps->why = "the function needs numbers, not strings";
            return NULL;
        }
        if (e->func == FM_F_SET_INTERSECTION && !e->arg->of_strings) {
            ps->why = "set_intersection needs strings";
            return NULL;
        }
        e->depth = in < funcs[i].natural_depth ? in : in - 1;
        e->of_strings = !numeric && e->func != FM_F_COUNT && e->arg->of_strings;
        return e;
    }
    ps->why = "expected a function, teams[...] or a number";
    return NULL;
}

struct fm_expr *fm_expr_parse(struct arena *a, const struct fm_ruleset *rs, const char *text,
                              const char **why)
{
    struct parser ps = {a, rs, text, NULL};
    struct fm_expr *e = parse_expr(&ps);
    skip_ws(&ps);
    if (e != NULL && *ps.p != '\0') {
        ps.why = "unexpected text after the expression";
        e = NULL;
    }
    *why = ps.why;
    return e;
}

bool fm_expr_grows(const struct fm_expr *e)
{
    if (e == NULL || e->kind != FM_E_FUNC)
        return false;
    return e->func == FM_F_COUNT || e->func == FM_F_SUM || fm_expr_grows(e->arg);
}

/* What an expression's value owes to the way tickets are dealt to teams. */
enum team_shape {
    SHAPE_BLIND,    /* nothing */
    SHAPE_PER_TEAM, /* one list per team, of every team: only its grouping */
    SHAPE_BY_TEAM,  /* its values */
};

static enum team_shape team_shape(const struct fm_expr *e, size_t nteams)
{
    switch (e->kind) {
    case FM_E_NUMBER: return SHAPE_BLIND;
    case FM_E_PATH:
        if (e->nteams < nteams)
            return SHAPE_BY_TEAM;
        return e->grouped ? SHAPE_PER_TEAM : SHAPE_BLIND;
    case FM_E_FUNC: break;
    }
    enum team_shape in = team_shape(e->arg, nteams);
    if (in != SHAPE_PER_TEAM)
        return in;
    /* flatten takes the team level away; every other function works on
     * each team's list apart. */
    return e->func == FM_F_FLATTEN ? SHAPE_BLIND : SHAPE_BY_TEAM;
}

bool fm_expr_by_team(const struct fm_expr *e, size_t nteams)
{
    /* A per-team grouping read directly by a rule is read leaf by leaf
     * (rules.c gathers the values), so only SHAPE_BY_TEAM counts. */
    return e != NULL && team_shape(e, nteams) == SHAPE_BY_TEAM;
}

/* ---- evaluation --------------------------------------------------------- */

static struct fm_val none(void)
{
    return (struct fm_val){.kind = FM_V_NONE, .ticket = -1};
}

static struct fm_val number(double n)
{
    return (struct fm_val){.kind = FM_V_NUM, .ticket = -1, .num = n};
}

static struct fm_val list(struct arena *a, size_t cap)
{
    struct fm_val v = {.kind = FM_V_LIST, .ticket = -1};
    v.items = arena_alloc(a, (cap + 1) * sizeof(*v.items));
    return v;
}

static struct fm_val attr_value(struct arena *a, const struct fm_attrval *av, int ticket)
{
    struct fm_val v = none();
    switch (av->kind) {
    case FM_A_NUMBER: v = number(av->num); break;
    case FM_A_STRING:
        v.kind = FM_V_STR;
        v.str = av->str;
        break;
    case FM_A_LIST:
        v = list(a, av->n);
        for (size_t i = 0; i < av->n; i++)
            v.items[v.len++] =
                (struct fm_val){.kind = FM_V_STR, .ticket = ticket, .str = av->strs[i]};
        break;
    default: break;
    }
    v.ticket = ticket;
    return v;
}

/* The values of one team's players. */
static struct fm_val team_values(struct arena *a, const struct fm_expr *e, const struct fm_match *m,
                                 int team)
{
    struct fm_val v = list(a, (size_t)m->team_players[team]);
    for (int t = 0; t < m->n; t++) {
        if (m->team[t] != team)
            continue;
        const struct fm_ticket *tk = m->tickets[t];
        for (int p = 0; p < tk->nplayers; p++) {
            const struct fm_player *pl = &tk->players[p];
            if (e->what == FM_PATH_ATTRIBUTE)
                v.items[v.len++] = attr_value(a, &pl->attrs[e->attr], t);
            else
                v.items[v.len++] = (struct fm_val){.kind = FM_V_STR, .ticket = t, .str = pl->id};
        }
    }
    return v;
}

static struct fm_val eval_path(struct arena *a, const struct fm_expr *e, const struct fm_match *m)
{
    if (!e->grouped)
        return team_values(a, e, m, e->teams[0]);
    struct fm_val v = list(a, e->nteams);
    for (size_t i = 0; i < e->nteams; i++)
        v.items[v.len++] = team_values(a, e, m, e->teams[i]);
    return v;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* min/max/avg/median/sum/stddev/count of a list of scalars. */
static struct fm_val aggregate(struct arena *a, enum fm_func f, const struct fm_val *v)
{
    if (v->kind != FM_V_LIST)
        return none();
    if (f == FM_F_COUNT)
        return number((double)v->len);
    double *xs = arena_alloc(a, (v->len + 1) * sizeof(double));
    size_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->items[i].kind != FM_V_NUM)
            return none(); /* a value missing or not a number */
        xs[n++] = v->items[i].num;
    }
    if (f == FM_F_SUM) {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += xs[i];
        return number(s);
    }
    if (n == 0)
        return none();
    double r = xs[0], s = 0;
    switch (f) {
    case FM_F_MIN:
        for (size_t i = 1; i < n; i++)
            r = xs[i] < r ? xs[i] : r;
        return number(r);
    case FM_F_MAX:
        for (size_t i = 1; i < n; i++)
            r = xs[i] > r ? xs[i] : r;
        return number(r);
    case FM_F_MEDIAN:
        qsort(xs, n, sizeof(double), cmp_double);
        return number(n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2);
    case FM_F_AVG:
    case FM_F_STDDEV: {
        for (size_t i = 0; i < n; i++)
            s += xs[i];
        double mean = s / (double)n;
        if (f == FM_F_AVG)
            return number(mean);
        double var = 0;
        for (size_t i = 0; i < n; i++)
            var += (xs[i] - mean) * (xs[i] - mean);
        return number(sqrt(var / (double)n));
    }
    default: return none();
    }
}

static struct fm_val flatten(struct arena *a, const struct fm_val *v)
{
    if (v->kind != FM_V_LIST)
        return *v;
    size_t total = 0;
    for (size_t i = 0; i < v->len; i++)
        total += v->items[i].kind == FM_V_LIST ? v->items[i].len : 1;
    struct fm_val out = list(a, total);
    for (size_t i = 0; i < v->len; i++) {
        const struct fm_val *it = &v->items[i];
        if (it->kind != FM_V_LIST) {
            out.items[out.len++] = *it;
            continue;
        }
        if (it->len > 0)
            memcpy(out.items + out.len, it->items, it->len * sizeof(*it->items));
        out.len += it->len;
    }
    return out;
}

static bool has_string(const struct fm_val *l, const char *s)
{
    for (size_t i = 0; i < l->len; i++)
        if (l->items[i].kind == FM_V_STR && strcmp(l->items[i].str, s) == 0)
            return true;
    return false;
}

/* The strings found in every one of a list of string lists (each once). */
static struct fm_val set_intersection(struct arena *a, const struct fm_val *v)
{
    if (v->kind != FM_V_LIST || v->len == 0 || v->items[0].kind != FM_V_LIST)
        return list(a, 0);
    const struct fm_val *first = &v->items[0];
    struct fm_val out = list(a, first->len);
    for (size_t i = 0; i < first->len; i++) {
        const struct fm_val *s = &first->items[i];
        if (s->kind != FM_V_STR || has_string(&out, s->str))
            continue;
        bool everywhere = true;
        for (size_t j = 1; j < v->len && everywhere; j++)
            everywhere = v->items[j].kind == FM_V_LIST && has_string(&v->items[j], s->str);
        if (everywhere)
            out.items[out.len++] = (struct fm_val){.kind = FM_V_STR, .ticket = -1, .str = s->str};
    }
    return out;
}

/* Applies f to v of the given depth: to each sublist while v is deeper than
 * what f consumes (AWS: "operate on each sublist individually"). */
static struct fm_val apply(struct arena *a, enum fm_func f, const struct fm_val *v, int depth)
{
    /* flatten always takes the outermost level away. */
    if (depth > natural_depth(f) && f != FM_F_FLATTEN && v->kind == FM_V_LIST) {
        struct fm_val out = list(a, v->len);
        for (size_t i = 0; i < v->len; i++)
            out.items[out.len++] = apply(a, f, &v->items[i], depth - 1);
        return out;
    }
    switch (f) {
    case FM_F_FLATTEN: return flatten(a, v);
    case FM_F_SET_INTERSECTION: return set_intersection(a, v);
    default: return aggregate(a, f, v);
    }
}

struct fm_val fm_expr_eval(struct arena *a, const struct fm_expr *e, const struct fm_match *m)
{
    switch (e->kind) {
    case FM_E_NUMBER: return number(e->num);
    case FM_E_PATH: return eval_path(a, e, m);
    case FM_E_FUNC: {
        struct fm_val in = fm_expr_eval(a, e->arg, m);
        return apply(a, e->func, &in, e->arg->depth);
    }
    }
    return none();
}
