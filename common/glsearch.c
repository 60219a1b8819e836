/* SearchGameSessions' expressions (glsearch.h): a tokenizer, a recursive
 * descent parser into a small tree, and its evaluation. */
#include "glsearch.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arena.h"

enum operand { O_NAME, O_ID, O_PROPERTY, O_MAXIMUM, O_CREATED, O_PLAYERS, O_AVAILABLE };
enum comparator { C_EQ, C_NE, C_LT, C_GT, C_LE, C_GE };
enum node_kind { N_AND, N_OR, N_NOT, N_CMP };
enum value_kind { V_STRING, V_NUMBER, V_BOOL };

struct node {
    enum node_kind kind;
    struct node *left, *right; /* N_NOT: left only */
    enum operand operand;
    const char *key; /* O_PROPERTY */
    enum comparator cmp;
    enum value_kind vkind;
    const char *s;
    double n;
    bool b;
};

struct gls_query {
    struct node *filter; /* NULL: all */
    bool sorted;
    enum operand sort_operand;
    const char *sort_key;
    bool descending;
};

/* ---- tokens ---------------------------------------------------------- */

enum token_kind { T_END, T_WORD, T_STRING, T_NUMBER, T_CMP, T_OPEN, T_CLOSE, T_BAD };

struct lexer {
    struct arena *a;
    const char *p;
    enum token_kind kind;
    const char *text; /* T_WORD, T_STRING (unescaped) */
    double number;
    enum comparator cmp;
};

static void next(struct lexer *l)
{
    while (isspace((unsigned char)*l->p))
        l->p++;
    const char *p = l->p;
    if (*p == '\0') {
        l->kind = T_END;
        return;
    }
    if (*p == '(' || *p == ')') {
        l->kind = *p == '(' ? T_OPEN : T_CLOSE;
        l->p++;
        return;
    }
    static const struct {
        const char *text;
        enum comparator cmp;
    } cmps[] = {{"<>", C_NE}, {"<=", C_LE}, {">=", C_GE}, {"=", C_EQ}, {"<", C_LT}, {">", C_GT}};
    for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++)
        if (strncmp(p, cmps[i].text, strlen(cmps[i].text)) == 0) {
            l->kind = T_CMP;
            l->cmp = cmps[i].cmp;
            l->p += strlen(cmps[i].text);
            return;
        }
    if (*p == '\'' || *p == '"') {
        char quote = *p++;
        size_t cap = strlen(p) + 1, n = 0;
        char *out = arena_alloc(l->a, cap);
        while (*p != '\0' && *p != quote) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            out[n++] = *p++;
        }
        out[n] = '\0';
        l->kind = *p == quote ? T_STRING : T_BAD;
        l->text = out;
        l->p = *p == quote ? p + 1 : p;
        return;
    }
    if (isdigit((unsigned char)*p) || (*p == '-' && isdigit((unsigned char)p[1]))) {
        char *end;
        l->number = strtod(p, &end);
        l->kind = T_NUMBER;
        l->p = end;
        return;
    }
    if (isalpha((unsigned char)*p)) {
        const char *start = p;
        while (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '-')
            p++;
        l->kind = T_WORD;
        l->text = arena_strndup(l->a, start, (size_t)(p - start));
        l->p = p;
        return;
    }
    l->kind = T_BAD;
}

static bool word_is(const struct lexer *l, const char *w)
{
    return l->kind == T_WORD && strcasecmp(l->text, w) == 0;
}

/* ---- parsing --------------------------------------------------------- */

struct parser {
    struct lexer l;
    const char *why;
};

#define PROPERTIES_PREFIX "gameSessionProperties."

/* An operand's name; false for a word that names none. */
static bool operand_of(const char *w, enum operand *op, const char **key)
{
    static const struct {
        const char *name;
        enum operand op;
    } names[] = {{"gameSessionName", O_NAME},       {"gameSessionId", O_ID},
                 {"maximumSessions", O_MAXIMUM},    {"creationTimeMillis", O_CREATED},
                 {"playerSessionCount", O_PLAYERS}, {"hasAvailablePlayerSessions", O_AVAILABLE}};
    *key = NULL;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(w, names[i].name) == 0) {
            *op = names[i].op;
            return true;
        }
    size_t plen = strlen(PROPERTIES_PREFIX);
    if (strncmp(w, PROPERTIES_PREFIX, plen) == 0 && w[plen] != '\0' &&
        strchr(w + plen, '.') == NULL) {
        *op = O_PROPERTY;
        *key = w + plen;
        return true;
    }
    return false;
}

static enum value_kind kind_of(enum operand op)
{
    switch (op) {
    case O_MAXIMUM:
    case O_CREATED:
    case O_PLAYERS: return V_NUMBER;
    case O_AVAILABLE: return V_BOOL;
    default: return V_STRING;
    }
}

static struct node *fail(struct parser *ps, const char *why)
{
    if (ps->why == NULL)
        ps->why = why;
    return NULL;
}

static struct node *parse_or(struct parser *ps);

static struct node *parse_comparison(struct parser *ps)
{
    struct lexer *l = &ps->l;
    struct node *n = arena_alloc(l->a, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = N_CMP;
    if (l->kind != T_WORD || !operand_of(l->text, &n->operand, &n->key))
        return fail(ps, arena_sprintf(l->a,
                                      "expected an operand (gameSessionName, gameSessionId, "
                                      "gameSessionProperties.<key>, maximumSessions, "
                                      "creationTimeMillis, playerSessionCount, "
                                      "hasAvailablePlayerSessions) at '%.40s'",
                                      l->kind == T_END ? "the end"
                                      : l->text        ? l->text
                                                       : "?"));
    next(l);
    if (l->kind != T_CMP)
        return fail(ps, "expected a comparator (=, <>, <, >, <=, >=) after the operand");
    n->cmp = l->cmp;
    next(l);
    if (l->kind == T_STRING) {
        n->vkind = V_STRING;
        n->s = l->text;
    } else if (l->kind == T_NUMBER) {
        n->vkind = V_NUMBER;
        n->n = l->number;
    } else if (word_is(l, "true") || word_is(l, "false")) {
        n->vkind = V_BOOL;
        n->b = word_is(l, "true");
    } else {
        return fail(ps, "expected a value: a number, true, false, or a quoted string");
    }
    if (n->vkind != kind_of(n->operand))
        return fail(ps, kind_of(n->operand) == V_NUMBER ? "this operand takes a number"
                        : kind_of(n->operand) == V_BOOL ? "this operand takes true or false"
                                                        : "this operand takes a quoted string");
    if (n->vkind != V_NUMBER && n->cmp != C_EQ && n->cmp != C_NE)
        return fail(ps, "strings and booleans compare with = and <> only");
    next(l);
    return n;
}

static struct node *parse_primary(struct parser *ps)
{
    struct lexer *l = &ps->l;
    if (l->kind == T_OPEN) {
        next(l);
        struct node *n = parse_or(ps);
        if (n == NULL)
            return NULL;
        if (l->kind != T_CLOSE)
            return fail(ps, "a parenthesis is not closed");
        next(l);
        return n;
    }
    return parse_comparison(ps);
}

static struct node *joined(struct arena *a, enum node_kind kind, struct node *left,
                           struct node *right)
{
    struct node *n = arena_alloc(a, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->left = left;
    n->right = right;
    return n;
}

static struct node *parse_not(struct parser *ps)
{
    if (word_is(&ps->l, "NOT")) {
        next(&ps->l);
        struct node *inner = parse_not(ps);
        return inner != NULL ? joined(ps->l.a, N_NOT, inner, NULL) : NULL;
    }
    return parse_primary(ps);
}

static struct node *parse_and(struct parser *ps)
{
    struct node *left = parse_not(ps);
    while (left != NULL && word_is(&ps->l, "AND")) {
        next(&ps->l);
        struct node *right = parse_not(ps);
        left = right != NULL ? joined(ps->l.a, N_AND, left, right) : NULL;
    }
    return left;
}

static struct node *parse_or(struct parser *ps)
{
    struct node *left = parse_and(ps);
    while (left != NULL && word_is(&ps->l, "OR")) {
        next(&ps->l);
        struct node *right = parse_and(ps);
        left = right != NULL ? joined(ps->l.a, N_OR, left, right) : NULL;
    }
    return left;
}

static bool parse_sort(struct arena *a, const char *sort, struct gls_query *q, const char **why)
{
    struct lexer l = {.a = a, .p = sort};
    next(&l);
    if (l.kind != T_WORD || !operand_of(l.text, &q->sort_operand, &q->sort_key)) {
        *why = "SortExpression must be an operand, then ASC or DESC";
        return false;
    }
    next(&l);
    if (!word_is(&l, "ASC") && !word_is(&l, "DESC")) {
        *why = "SortExpression must be an operand, then ASC or DESC";
        return false;
    }
    q->descending = word_is(&l, "DESC");
    next(&l);
    if (l.kind != T_END) {
        *why = "SortExpression has text after its order";
        return false;
    }
    q->sorted = true;
    return true;
}

struct gls_query *gls_compile(struct arena *a, const char *filter, const char *sort,
                              const char **why)
{
    struct gls_query *q = arena_alloc(a, sizeof(*q));
    memset(q, 0, sizeof(*q));
    if (filter != NULL) {
        struct parser ps = {.l = {.a = a, .p = filter}};
        next(&ps.l);
        q->filter = parse_or(&ps);
        if (q->filter != NULL && ps.l.kind != T_END)
            q->filter = fail(&ps, "FilterExpression has text it cannot read after a condition");
        if (q->filter == NULL) {
            *why = arena_sprintf(a, "FilterExpression: %s",
                                 ps.l.kind == T_BAD ? "an unknown or unclosed token" : ps.why);
            return NULL;
        }
    }
    if (sort != NULL && !parse_sort(a, sort, q, why))
        return NULL;
    return q;
}

/* ---- evaluation ------------------------------------------------------ */

static const char *property(const struct gls_session *s, const char *key)
{
    size_t i;
    json_t *p;
    json_array_foreach(s->properties, i, p)
    {
        const char *k = json_string_value(json_object_get(p, "Key"));
        if (k != NULL && strcmp(k, key) == 0)
            return json_string_value(json_object_get(p, "Value"));
    }
    return NULL;
}

/* The operand's value: a string (NULL if absent) or a number. */
static const char *text_of(const struct gls_session *s, enum operand op, const char *key)
{
    return op == O_NAME ? s->name : op == O_ID ? s->id : property(s, key);
}

static double number_of(const struct gls_session *s, enum operand op)
{
    switch (op) {
    case O_MAXIMUM: return s->maximum;
    case O_CREATED: return s->created_ms;
    case O_PLAYERS: return s->players;
    default: return s->players < s->maximum ? 1 : 0; /* O_AVAILABLE */
    }
}

static bool compared(int c, enum comparator cmp)
{
    switch (cmp) {
    case C_EQ: return c == 0;
    case C_NE: return c != 0;
    case C_LT: return c < 0;
    case C_GT: return c > 0;
    case C_LE: return c <= 0;
    default: return c >= 0;
    }
}

static bool eval(const struct node *n, const struct gls_session *s)
{
    switch (n->kind) {
    case N_AND: return eval(n->left, s) && eval(n->right, s);
    case N_OR: return eval(n->left, s) || eval(n->right, s);
    case N_NOT: return !eval(n->left, s);
    default: break;
    }
    if (n->vkind == V_STRING) {
        const char *v = text_of(s, n->operand, n->key);
        /* A session without the value is unequal to every string. */
        return v == NULL ? n->cmp == C_NE : compared(strcmp(v, n->s), n->cmp);
    }
    double v = number_of(s, n->operand);
    double want = n->vkind == V_BOOL ? (n->b ? 1 : 0) : n->n;
    return compared(v < want ? -1 : v > want ? 1 : 0, n->cmp);
}

bool gls_matches(const struct gls_query *q, const struct gls_session *s)
{
    return q->filter == NULL || eval(q->filter, s);
}

static const struct gls_query *sorting; /* qsort has no context argument */

static int by_sort(const void *x, const void *y)
{
    const struct gls_session *a = x, *b = y;
    enum operand op = sorting->sort_operand;
    int c;
    if (kind_of(op) == V_STRING) {
        const char *va = text_of(a, op, sorting->sort_key), *vb = text_of(b, op, sorting->sort_key);
        if (va == NULL || vb == NULL) /* absent values last, whatever the order */
            return (va == NULL) - (vb == NULL);
        c = strcmp(va, vb);
    } else {
        double va = number_of(a, op), vb = number_of(b, op);
        c = va < vb ? -1 : va > vb ? 1 : 0;
    }
    if (c == 0) /* stable: qsort is not */
        c = strcmp(a->id, b->id);
    return sorting->descending ? -c : c;
}

void gls_sort(const struct gls_query *q, struct gls_session *s, size_t n)
{
    if (!q->sorted || n < 2)
        return;
    sorting = q;
    qsort(s, n, sizeof(*s), by_sort);
    sorting = NULL;
}
