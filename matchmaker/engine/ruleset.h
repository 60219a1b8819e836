/*
 * FlexMatch rule sets: parsed, validated and compiled once, then evaluated
 * many times by the match builder.
 *
 * fm_ruleset_parse() takes a rule set body exactly as FlexMatch accepts it
 * (plus the leniencies of AWS's own published examples: numeric strings,
 * `measurements` as a string or an array, `team[...]` for `teams[...]`) and
 * either returns a compiled rule set or names the field that is wrong and
 * why. Decisions where AWS's documents disagree are listed in
 * docs/matchmaker.md; each is marked "decision" where it is implemented.
 *
 * Ownership: a struct fm_ruleset owns everything it points to (one arena);
 * fm_ruleset_free() releases it all.
 */
#ifndef RALLY_MATCHMAKER_RULESET_H
#define RALLY_MATCHMAKER_RULESET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

#define FM_MAX_PLAYERS 200    /* large matches go up to 200 players */
#define FM_SMALL_MATCH_MAX 40 /* above this total, large-match rules apply */

enum fm_attr_type { FM_STRING, FM_NUMBER, FM_STRING_LIST, FM_STRING_NUMBER_MAP };

struct fm_attr {
    const char *name;
    enum fm_attr_type type;
    json_t *def; /* typed default ({"N": 10}, ...), or NULL; owned */
};

/* A team definition; quantity > 1 makes teams <name>_1 .. <name>_<quantity>. */
struct fm_team_def {
    const char *name;
    int min_players, max_players, quantity;
    int first_team; /* index of its first team in fm_ruleset.teams */
};

struct fm_team {
    const char *name; /* "<def>" or "<def>_<n>" */
    int def;
};

enum fm_rule_type {
    FM_RULE_DISTANCE,
    FM_RULE_COMPARISON,
    FM_RULE_COLLECTION,
    FM_RULE_LATENCY,
    FM_RULE_BATCH_DISTANCE,
    FM_RULE_ABSOLUTE_SORT,
    FM_RULE_DISTANCE_SORT,
    FM_RULE_COMPOUND,
};

enum fm_op {
    FM_OP_NONE,
    FM_OP_LT,
    FM_OP_LE,
    FM_OP_EQ,
    FM_OP_NE,
    FM_OP_GT,
    FM_OP_GE,
    FM_OP_INTERSECTION,
    FM_OP_CONTAINS,
    FM_OP_REFERENCE_INTERSECTION_COUNT,
};

enum fm_party { FM_PARTY_AVG, FM_PARTY_MIN, FM_PARTY_MAX, FM_PARTY_UNION, FM_PARTY_INTERSECTION };

/* The numeric properties of a rule; expansions may retarget any of them. */
enum fm_prop {
    FM_P_REFERENCE, /* referenceValue when it is a number */
    FM_P_MAX_DISTANCE,
    FM_P_MIN_DISTANCE,
    FM_P_MIN_COUNT,
    FM_P_MAX_COUNT,
    FM_P_MAX_LATENCY,
    FM_NPROPS,
};

struct fm_expr; /* expr.h */

/* A compound rule's statement: rule names joined by and/or/not/xor. */
enum fm_stmt_op { FM_ST_RULE, FM_ST_AND, FM_ST_OR, FM_ST_NOT, FM_ST_XOR };
struct fm_stmt {
    enum fm_stmt_op op;
    int rule; /* FM_ST_RULE */
    struct fm_stmt **args;
    size_t nargs;
};

struct fm_rule {
    const char *name;
    enum fm_rule_type type;
    struct fm_expr **measurements; /* distance, comparison, collection */
    size_t nmeasurements;
    struct fm_expr *reference; /* a referenceValue that is an expression */
    const char *ref_string;    /* a referenceValue that is a string */
    const char **ref_strings;  /* a referenceValue that is a list of strings */
    size_t nref_strings;
    double prop[FM_NPROPS];
    bool has[FM_NPROPS];
    enum fm_op op;
    enum fm_party party;
    int attr;                  /* batchAttribute / sortAttribute, else -1 */
    bool descending;           /* sorts */
    int map_key;               /* sorts on a string_number_map: 0, 1 minValue, 2 maxValue */
    bool reference_is_avg;     /* latency distanceReference: avg (else min) */
    struct fm_stmt *statement; /* compound */
    bool in_compound;          /* referenced by a compound: decided there, not alone */
    bool needs_complete;       /* its outcome depends on players yet to come */
    bool by_team;              /* its outcome may change when the same tickets are dealt to
                                  teams differently (fm_expr_by_team), so a failure may be
                                  mended by dealing them again */
};

/* One expansion: a numeric property (of rules or of team definitions) and
 * its absolute wait-time steps. */
enum fm_target_kind { FM_TARGET_RULE, FM_TARGET_TEAM_MIN, FM_TARGET_TEAM_MAX };

struct fm_step {
    double wait_seconds;
    double value;
};

struct fm_expansion {
    enum fm_target_kind kind;
    int rule;          /* FM_TARGET_RULE */
    enum fm_prop prop; /* FM_TARGET_RULE */
    int *team_defs;    /* FM_TARGET_TEAM_*: the definitions named */
    size_t nteam_defs;
    struct fm_step *steps;
    size_t nsteps;
};

enum fm_strategy { FM_EXHAUSTIVE, FM_BALANCED };
enum fm_batching {
    FM_BATCH_RANDOM,
    FM_BATCH_SORTED,
    FM_BATCH_LARGEST_POPULATION,
    FM_BATCH_FASTEST_REGION
};
enum fm_backfill_priority { FM_BACKFILL_NORMAL, FM_BACKFILL_HIGH, FM_BACKFILL_LOW };

struct fm_ruleset {
    struct arena arena; /* owns everything below */
    const char *name;
    struct fm_attr *attrs;
    size_t nattrs;
    struct fm_team_def *team_defs;
    size_t nteam_defs;
    struct fm_team *teams;
    size_t nteams;
    struct fm_rule *rules;
    size_t nrules;
    struct fm_expansion *expansions;
    size_t nexpansions;
    enum fm_strategy strategy;
    enum fm_batching batching;
    int *sort_attrs; /* sortByAttributes */
    size_t nsort_attrs;
    int balanced_attr; /* -1 unless balanced */
    bool expansion_age_oldest;
    enum fm_backfill_priority backfill_priority;
    int max_players; /* sum of maxPlayers x quantity */
    bool large;      /* max_players > FM_SMALL_MATCH_MAX */
};

/* Where and why a rule set (or configuration) was refused. */
struct fm_error {
    char field[160];   /* "rules[2].maxDistance" */
    char message[256]; /* "must be a number" */
};

/* Parses and validates a rule set body. Returns a new rule set, or NULL
 * with *err filled. Takes no reference to body. */
struct fm_ruleset *fm_ruleset_parse(json_t *body, struct fm_error *err);
void fm_ruleset_free(struct fm_ruleset *rs);

/* Checks what depends on the configuration using the rule set: expansion
 * wait times within RequestTimeoutSeconds. 0, or -1 with *err filled. */
int fm_ruleset_check_timeout(const struct fm_ruleset *rs, double request_timeout,
                             struct fm_error *err);

int fm_attr_index(const struct fm_ruleset *rs, const char *name);
int fm_rule_index(const struct fm_ruleset *rs, const char *name);

/* "distance", "latency", ...: a rule type as rule sets write it. */
const char *fm_rule_type_name(enum fm_rule_type type);

#endif
