/*
 * The FlexMatch property expression language:
 *
 *   expr     := func '(' expr ')' | path | number
 *   func     := min | max | avg | median | sum | count | stddev | flatten
 *             | set_intersection
 *   path     := (teams|team) '[' selector ']'
 *               [ '.players' [ '.attributes[' NAME ']' | '[' playerId ']' ] ]
 *   selector := '*' | NAME (',' NAME)*
 *
 * A selector of one team yields a list; '*', several names, or the base name
 * of a definition with quantity > 1 yield a list of per-team lists. Every
 * function applied to a list of lists works on each sublist (AWS's rule);
 * flatten removes one level. stddev is the population standard deviation
 * (decision: AWS does not say). Aggregates of an empty list have no value.
 */
#ifndef RALLY_MATCHMAKER_EXPR_H
#define RALLY_MATCHMAKER_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "match.h"
#include "ruleset.h"

enum fm_vkind { FM_V_NONE, FM_V_NUM, FM_V_STR, FM_V_LIST };

/* A value computed from a match. Player values remember their ticket (its
 * index in the match) so that rules can apply partyAggregation. */
struct fm_val {
    enum fm_vkind kind;
    int ticket; /* -1 unless this is one player's value */
    double num;
    const char *str;
    struct fm_val *items;
    size_t len;
};

enum fm_func {
    FM_F_MIN,
    FM_F_MAX,
    FM_F_AVG,
    FM_F_MEDIAN,
    FM_F_SUM,
    FM_F_COUNT,
    FM_F_STDDEV,
    FM_F_FLATTEN,
    FM_F_SET_INTERSECTION,
};

enum fm_path_what { FM_PATH_TEAM, FM_PATH_PLAYERS, FM_PATH_ATTRIBUTE, FM_PATH_PLAYER_ID };

struct fm_expr {
    enum { FM_E_NUMBER, FM_E_FUNC, FM_E_PATH } kind;
    double num;
    enum fm_func func;
    struct fm_expr *arg;
    /* path */
    int *teams; /* team indices selected, in order */
    size_t nteams;
    bool grouped; /* yields a list per team */
    enum fm_path_what what;
    int attr;
    int depth;       /* 0 a scalar, 1 a list, 2 a list of lists, ... */
    bool of_strings; /* its scalars are strings (ids, string attributes) */
};

/* Parses text into an expression allocated in a. NULL with *why (static
 * text) on a syntax error or an unknown team or attribute. */
struct fm_expr *fm_expr_parse(struct arena *a, const struct fm_ruleset *rs, const char *text,
                              const char **why);

/* True if e uses count or sum, whose value grows as players are added. */
bool fm_expr_grows(const struct fm_expr *e);

/* True if e's value, as a rule reads it, may change when the same tickets
 * are dealt to the rule set's nteams teams differently: it names some teams
 * but not all, or aggregates each team apart (avg(teams[*]...)). A path
 * over every team, flattened or read player by player, is not. NULL is
 * not. */
bool fm_expr_by_team(const struct fm_expr *e, size_t nteams);

/* Evaluates e over match m; values are allocated in a. */
struct fm_val fm_expr_eval(struct arena *a, const struct fm_expr *e, const struct fm_match *m);

#endif
