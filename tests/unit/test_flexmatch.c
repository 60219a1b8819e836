/* Unit tests for the FlexMatch engine (matchmaker/): rule set validation,
 * the property expression language and every rule type, on hand-worked
 * matches. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "expr.h"
#include "jsonc.h"
#include "match.h"
#include "players.h"
#include "rules.h"
#include "ruleset.h"

static struct arena arena;

static void setup(void)
{
    memset(&arena, 0, sizeof(arena));
}

static void teardown(void)
{
    arena_destroy(&arena);
}

/* Parses rule set text written as AWS writes it (comments allowed). */
static struct fm_ruleset *parse(const char *text, struct fm_error *err)
{
    char *copy = arena_strdup(&arena, text);
    jsonc_normalise(copy, strlen(copy));
    json_error_t jerr;
    json_t *body = json_loads(copy, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(body != NULL, "test rule set is not JSON: %s", jerr.text);
    struct fm_ruleset *rs = fm_ruleset_parse(body, err);
    json_decref(body);
    return rs;
}

static struct fm_ruleset *load(const char *text)
{
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = parse(text, &err);
    ck_assert_msg(rs != NULL, "rule set refused: %s: %s", err.field, err.message);
    return rs;
}

static struct fm_ruleset *load_file(const char *path)
{
    json_error_t jerr;
    json_t *body = jsonc_load_file(path, &jerr);
    ck_assert_msg(body != NULL, "%s: %s", path, jerr.text);
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = fm_ruleset_parse(body, &err);
    json_decref(body);
    ck_assert_msg(rs != NULL, "%s refused: %s: %s", path, err.field, err.message);
    return rs;
}

/* A ticket from GameLift Player JSON. */
static struct fm_ticket *ticket(const struct fm_ruleset *rs, const char *id, double created,
                                const char *players)
{
    struct fm_ticket *t = arena_alloc(&arena, sizeof(*t));
    t->id = id;
    t->created = created;
    json_t *pj = json_loads(players, 0, NULL);
    ck_assert_ptr_nonnull(pj);
    const char *why = NULL;
    int rc = fm_ticket_from_json(&arena, rs, pj, t, &why);
    json_decref(pj);
    ck_assert_msg(rc == 0, "ticket %s: %s", id, why);
    return t;
}

/* ---- rule set validation ------------------------------------------------- */

START_TEST(test_shipped_rule_sets_load)
{
    struct fm_ruleset *rs = load_file("config/rulesets/SampleRuleSet.json");
    ck_assert_int_eq(rs->nteams, 1);
    ck_assert_int_eq(rs->max_players, 5);
    ck_assert_int_eq(rs->nrules, 2);
    ck_assert_int_eq(rs->rules[1].type, FM_RULE_LATENCY);
    ck_assert_int_eq(rs->nexpansions, 1);
    ck_assert_int_eq(rs->expansions[0].prop, FM_P_MAX_LATENCY);
    ck_assert(!rs->large);
    ck_assert_int_eq(rs->strategy, FM_EXHAUSTIVE);
    fm_ruleset_free(rs);
    fm_ruleset_free(load_file("config/rulesets/ModesRuleSet.json"));
}
END_TEST

START_TEST(test_minimal_and_doc_forms)
{
    /* The CLI tutorial's minimal rule set: no rules at all. */
    struct fm_ruleset *rs = load("{\"name\": \"aliens_vs_cowboys\", \"ruleLanguageVersion\": "
                                 "\"1.0\", \"teams\": [{\"name\": \"cowboys\", \"maxPlayers\": 8, "
                                 "\"minPlayers\":  4}]}");
    ck_assert_str_eq(rs->name, "aliens_vs_cowboys");
    ck_assert_int_eq(rs->nrules, 0);
    fm_ruleset_free(rs);

    /* As AWS's examples are written: comments, a trailing comma, a numeric
     * string, measurements as a bare string, team[...] for teams[...]. */
    rs = load("{\n"
              "  \"ruleLanguageVersion\": \"1.0\", // no name: it is optional\n"
              "  \"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\", \"default\": "
              "\"10\"}],\n"
              "  \"teams\": [{\"name\": \"red\", \"minPlayers\": 1, \"maxPlayers\": 2},\n"
              "            {\"name\": \"monster\", \"minPlayers\": 1, \"maxPlayers\": 1, "
              "\"quantity\": 3}],\n"
              "  \"rules\": [{\"name\": \"SimilarSkill\", \"type\": \"batchDistance\",\n"
              "              \"batchAttribute\": \"skill\", \"maxDistance\": \"500\"},\n"
              "             {\"name\": \"Close\", \"type\": \"distance\",\n"
              "              \"measurements\": \"avg(team[red].players.attributes[skill])\",\n"
              "              \"referenceValue\": 20, \"maxDistance\": 5},\n"
              "  ],\n"
              "}\n");
    ck_assert_str_eq(rs->name, "");
    ck_assert_double_eq(rs->rules[0].prop[FM_P_MAX_DISTANCE], 500);
    ck_assert_double_eq(rs->rules[1].prop[FM_P_REFERENCE], 20);
    ck_assert_int_eq(rs->nteams, 4);
    ck_assert_str_eq(rs->teams[0].name, "red");
    ck_assert_str_eq(rs->teams[1].name, "monster_1");
    ck_assert_str_eq(rs->teams[3].name, "monster_3");
    ck_assert_int_eq(rs->max_players, 5);
    char *def = json_dumps(rs->attrs[0].def, JSON_COMPACT);
    ck_assert_str_eq(def, "{\"N\":10.0}");
    free(def);
    fm_ruleset_free(rs);
}
END_TEST

/* Rule sets that must be refused, the field the error names, and a word of
 * its message. */
#define RS(body) "{\"ruleLanguageVersion\": \"1.0\", " body "}"
#define TEAMS                                                                                      \
    "\"teams\": [{\"name\": \"red\", \"maxPlayers\": 5, \"minPlayers\": 1}, "                      \
    "{\"name\": \"blue\", \"maxPlayers\": 5, \"minPlayers\": 1}]"
#define SKILL "\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}]"
static const struct {
    const char *body;
    const char *field;
    const char *says;
} refused[] = {
    {"{\"teams\": [{\"name\": \"a\", \"maxPlayers\": 1, \"minPlayers\": 1}]}",
     "ruleLanguageVersion", "1.0"},
    {RS("\"teams\": []"), "teams", "at least one"},
    {RS("\"nme\": \"x\", " TEAMS), "nme", "not a field"},
    {RS("\"teams\": [{\"name\": \"a\", \"maxPlayers\": 0, \"minPlayers\": 0}]"), "teams[0]",
     "maxPlayers"},
    {RS("\"teams\": [{\"name\": \"a\", \"maxPlayers\": 2, \"minPlayers\": 3}]"), "teams[0]",
     "minPlayers"},
    {RS("\"teams\": [{\"name\": \"a\", \"maxPlayers\": 2, \"minPlayers\": 1}, {\"name\": \"a\", "
        "\"maxPlayers\": 2, \"minPlayers\": 1}]"),
     "teams[1]", "another team"},
    {RS("\"playerAttributes\": [{\"name\": \"s\", \"type\": \"number\"}, {\"name\": \"s\", "
        "\"type\": \"string\"}], " TEAMS),
     "playerAttributes[1]", "second time"},
    {RS("\"playerAttributes\": [{\"name\": \"s\", \"type\": \"int\"}], " TEAMS),
     "playerAttributes[0]", "type must be"},
    {RS("\"playerAttributes\": [{\"name\": \"s\", \"type\": \"number\", \"default\": "
        "\"high\"}], " TEAMS),
     "playerAttributes[0]", "default"},
    {RS(TEAMS ", \"rules\": [{\"name\": \"r\", \"type\": \"closeness\"}]"), "rules[0]",
     "type must be"},
    {RS(SKILL ", " TEAMS
              ", \"rules\": [{\"name\": \"r\", \"type\": \"distance\", \"measurements\": "
              "[\"avg(teams[red].players.attributes[skill])\"], \"referenceValue\": 10}]"),
     "rules[0]", "maxDistance or minDistance"},
    {RS(SKILL ", " TEAMS
              ", \"rules\": [{\"name\": \"r\", \"type\": \"distance\", \"measurements\": "
              "[\"avg(teams[red].players.attributes[skil])\"], \"maxDistance\": 10}]"),
     "rules[0].measurements", "does not declare"},
    {RS(SKILL ", " TEAMS
              ", \"rules\": [{\"name\": \"r\", \"type\": \"distance\", \"measurements\": "
              "[\"avg(teams[green].players.attributes[skill])\"], \"maxDistance\": 10}]"),
     "rules[0].measurements", "does not define"},
    {RS(SKILL ", " TEAMS
              ", \"rules\": [{\"name\": \"r\", \"type\": \"distance\", \"measurements\": "
              "[\"avg(teams[red].players.attributes[skill])\"], \"maxDistance\": -1}]"),
     "rules[0].maxDistance", "0 or more"},
    {RS(SKILL ", " TEAMS
              ", \"rules\": [{\"name\": \"r\", \"type\": \"comparison\", \"measurements\": "
              "[\"teams[red].players.attributes[skill]\"], \"operation\": \">\"}]"),
     "rules[0].operation", "only = and !="},
    {RS(SKILL ", " TEAMS ", \"rules\": [{\"name\": \"c\", \"type\": \"compound\", \"statement\": "
              "\"and(a, b)\"}, {\"name\": \"a\", \"type\": \"latency\", \"maxLatency\": 50}]"),
     "rules[0].statement", "defined before"},
    {RS(SKILL ", " TEAMS ", \"rules\": [{\"name\": \"b\", \"type\": \"batchDistance\", "
              "\"batchAttribute\": \"skill\", \"maxDistance\": 5}, {\"name\": \"l\", \"type\": "
              "\"latency\", \"maxLatency\": 50}, {\"name\": \"c\", \"type\": \"compound\", "
              "\"statement\": \"or(b, l)\"}]"),
     "rules[2].statement", "batchDistance"},
    {RS(SKILL ", " TEAMS ", \"rules\": [{\"name\": \"l\", \"type\": \"latency\", \"maxLatency\": "
              "50}, {\"name\": \"c\", \"type\": \"compound\", \"statement\": \"not(l, l)\"}]"),
     "rules[1].statement", "one argument"},
    {RS(SKILL ", " TEAMS ", \"rules\": [{\"name\": \"l\", \"type\": \"latency\", \"maxLatency\": "
              "50}, {\"name\": \"l\", \"type\": \"latency\", \"maxLatency\": 60}]"),
     "rules[1]", "another rule"},
    {RS(TEAMS ", \"expansions\": [{\"target\": \"teams[*].minPlayers\", \"steps\": "
              "[{\"waitTimeSeconds\": 5, \"value\": 1}]}]"),
     "expansions[0]", "wildcards"},
    {RS(SKILL ", " TEAMS ", \"rules\": [{\"name\": \"l\", \"type\": \"latency\", \"maxLatency\": "
              "50}, {\"name\": \"c\", \"type\": \"compound\", \"statement\": \"not(l)\"}], "
              "\"expansions\": [{\"target\": \"rules[c].maxLatency\", \"steps\": "
              "[{\"waitTimeSeconds\": 5, \"value\": 1}]}]"),
     "expansions[0]", "compound"},
    {RS(SKILL
        ", " TEAMS ", \"rules\": [{\"name\": \"l\", \"type\": \"latency\", \"maxLatency\": "
        "50}], \"expansions\": [{\"target\": \"rules[l].maxLatency\", \"steps\": "
        "[{\"waitTimeSeconds\": 10, \"value\": 100}, {\"waitTimeSeconds\": 5, \"value\": 200}]}]"),
     "expansions[0].steps[1]", "grow"},
    {RS(SKILL ", " TEAMS ", \"rules\": [{\"name\": \"l\", \"type\": \"latency\", \"maxLatency\": "
              "50}], \"expansions\": [{\"target\": \"rules[l].maxDistance\", \"steps\": "
              "[{\"waitTimeSeconds\": 10, \"value\": 100}]}]"),
     "expansions[0]", "not a numeric property"},
    {RS(SKILL ", " TEAMS ", \"algorithm\": {\"batchingPreference\": \"sorted\"}"),
     "algorithm.sortByAttributes", "required"},
    {RS(SKILL ", " TEAMS ", \"algorithm\": {\"batchingPreference\": \"fastestRegion\"}"),
     "algorithm.batchingPreference", "random or sorted"},
    {RS(SKILL ", \"teams\": [{\"name\": \"a\", \"maxPlayers\": 30, \"minPlayers\": 1, "
              "\"quantity\": 2}], \"algorithm\": {\"strategy\": \"exhaustiveSearch\"}"),
     "algorithm.strategy", "balanced"},
    {RS(SKILL ", \"teams\": [{\"name\": \"a\", \"maxPlayers\": 30, \"minPlayers\": 1, "
              "\"quantity\": 2}], \"algorithm\": {\"strategy\": \"balanced\", "
              "\"balancedAttribute\": \"skill\"}, \"rules\": [{\"name\": \"d\", \"type\": "
              "\"distance\", \"measurements\": [\"avg(teams[a].players.attributes[skill])\"], "
              "\"maxDistance\": 3}]"),
     "rules[0]", "latency and batchDistance"},
    {RS(SKILL ", \"teams\": [{\"name\": \"a\", \"maxPlayers\": 150, \"minPlayers\": 1, "
              "\"quantity\": 2}]"),
     "teams", "200"},
    {RS("\"playerAttributes\": [{\"name\": \"mode\", \"type\": \"string\"}], " TEAMS
        ", \"rules\": [{\"name\": \"r\", \"type\": \"distance\", \"measurements\": "
        "[\"avg(teams[red].players.attributes[mode])\"], \"maxDistance\": 10}]"),
     "rules[0].measurements", "numbers"},
};
#define NREFUSED (int)(sizeof(refused) / sizeof(refused[0]))

START_TEST(test_refused_rule_sets)
{
    struct fm_error err = {{0}, {0}};
    struct fm_ruleset *rs = parse(refused[_i].body, &err);
    ck_assert_msg(rs == NULL, "case %d was accepted", _i);
    ck_assert_msg(strcmp(err.field, refused[_i].field) == 0, "case %d: field %s, want %s (%s)", _i,
                  err.field, refused[_i].field, err.message);
    ck_assert_msg(strstr(err.message, refused[_i].says) != NULL, "case %d: message '%s' lacks '%s'",
                  _i, err.message, refused[_i].says);
}
END_TEST

START_TEST(test_expansion_within_request_timeout)
{
    struct fm_ruleset *rs = load(RS(SKILL ", " TEAMS ", \"rules\": [{\"name\": \"l\", \"type\": "
                                          "\"latency\", \"maxLatency\": 50}], \"expansions\": "
                                          "[{\"target\": \"rules[l].maxLatency\", \"steps\": "
                                          "[{\"waitTimeSeconds\": 15, \"value\": 100}, "
                                          "{\"waitTimeSeconds\": 25, \"value\": 200}]}]"));
    struct fm_error err = {{0}, {0}};
    ck_assert_int_eq(fm_ruleset_check_timeout(rs, 30, &err), 0);
    ck_assert_int_eq(fm_ruleset_check_timeout(rs, 20, &err), -1);
    ck_assert_str_eq(err.field, "expansions[0].steps[1]");
    fm_ruleset_free(rs);
}
END_TEST

/* ---- expressions ---------------------------------------------------------- */

/* Teams red (3) and blue (3), and green (2) left empty. red: A (10) and the
 * party B (20), C (30); blue: D (40). */
#define EXPR_RS                                                                                    \
    RS("\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\"}, {\"name\": "           \
       "\"roles\", "                                                                               \
       "\"type\": \"string_list\", \"default\": []}, {\"name\": \"mode\", \"type\": \"string\", "  \
       "\"default\": \"ranked\"}], \"teams\": [{\"name\": \"red\", \"maxPlayers\": 3, "            \
       "\"minPlayers\": 1}, {\"name\": \"blue\", \"maxPlayers\": 3, \"minPlayers\": 1}, "          \
       "{\"name\": \"green\", \"maxPlayers\": 2, \"minPlayers\": 0}]")

static struct fm_ruleset *expr_rs;
static struct fm_match expr_match;

static void expr_setup(void)
{
    setup();
    expr_rs = load(EXPR_RS);
    fm_match_init(&expr_match, expr_rs);
    fm_match_push(&expr_match,
                  ticket(expr_rs, "t0", 100,
                         "[{\"PlayerId\": \"A\", \"PlayerAttributes\": {\"skill\": {\"N\": 10}, "
                         "\"roles\": {\"SL\": [\"a\", \"b\"]}}}]"),
                  0);
    fm_match_push(&expr_match,
                  ticket(expr_rs, "t1", 101,
                         "[{\"PlayerId\": \"B\", \"PlayerAttributes\": {\"skill\": {\"N\": 20}, "
                         "\"roles\": {\"SL\": [\"b\", \"c\"]}}}, {\"PlayerId\": \"C\", "
                         "\"PlayerAttributes\": {\"skill\": {\"N\": 30}, \"roles\": {\"SL\": "
                         "[\"b\", \"b\"]}}}]"),
                  0);
    fm_match_push(&expr_match,
                  ticket(expr_rs, "t2", 102,
                         "[{\"PlayerId\": \"D\", \"PlayerAttributes\": {\"skill\": {\"N\": 40}, "
                         "\"roles\": {\"SL\": [\"b\", \"d\"]}, \"mode\": {\"S\": \"casual\"}}}]"),
                  1);
}

static void expr_teardown(void)
{
    fm_match_free(&expr_match);
    fm_ruleset_free(expr_rs);
    teardown();
}

static struct fm_val eval(const char *text)
{
    const char *why = NULL;
    struct fm_expr *e = fm_expr_parse(&arena, expr_rs, text, &why);
    ck_assert_msg(e != NULL, "%s: %s", text, why);
    return fm_expr_eval(&arena, e, &expr_match);
}

static void expect_number(const char *text, double want)
{
    struct fm_val v = eval(text);
    ck_assert_msg(v.kind == FM_V_NUM && fabs(v.num - want) < 1e-9, "%s = kind %d %g, want %g", text,
                  v.kind, v.num, want);
}

/* A list of numbers written as "20,40" (NONE written as "-"). */
static void expect_numbers(const char *text, const char *want)
{
    struct fm_val v = eval(text);
    ck_assert_msg(v.kind == FM_V_LIST, "%s is not a list", text);
    char got[256] = "";
    for (size_t i = 0; i < v.len; i++) {
        char one[32];
        if (v.items[i].kind == FM_V_NUM)
            snprintf(one, sizeof(one), "%s%g", i ? "," : "", v.items[i].num);
        else
            snprintf(one, sizeof(one), "%s-", i ? "," : "");
        strcat(got, one);
    }
    ck_assert_msg(strcmp(got, want) == 0, "%s = [%s], want [%s]", text, got, want);
}

static void expect_strings(const char *text, const char *want)
{
    struct fm_val v = eval(text);
    ck_assert_msg(v.kind == FM_V_LIST, "%s is not a list", text);
    char got[256] = "";
    for (size_t i = 0; i < v.len; i++) {
        ck_assert_int_eq(v.items[i].kind, FM_V_STR);
        if (i)
            strcat(got, ",");
        strcat(got, v.items[i].str);
    }
    ck_assert_msg(strcmp(got, want) == 0, "%s = [%s], want [%s]", text, got, want);
}

START_TEST(test_expression_values)
{
    /* The documented examples, on this match. */
    expect_numbers("teams[red].players.attributes[skill]", "10,20,30");
    expect_number("avg(teams[red].players.attributes[skill])", 20);
    expect_numbers("avg(teams[*].players.attributes[skill])", "20,40,-"); /* green: no value */
    expect_number("avg(flatten(teams[*].players.attributes[skill]))", 25);
    expect_number("count(teams[red].players)", 3);
    expect_numbers("count (teams[*].players)", "3,1,0");
    expect_number("max(avg(teams[red, blue].players.attributes[skill]))", 40);
    expect_number("max(count(teams[*].players))", 3);
    expect_number("min(count(teams[*].players))", 0);
    expect_number("sum(flatten(teams[*].players.attributes[skill]))", 100);
    expect_number("median(flatten(teams[*].players.attributes[skill]))", 25);
    expect_number("median(teams[red].players.attributes[skill])", 20);
    expect_number("stddev(flatten(teams[*].players.attributes[skill]))", sqrt(125.0));
    expect_number("min(teams[red].players.attributes[skill])", 10);
    expect_number("count(flatten(teams[*].players))", 4);
    expect_number("42", 42);
    expect_strings("flatten(teams[*].players[playerId])", "A,B,C,D");
    expect_strings("team[blue].players[playerid]", "D");
    expect_strings("flatten(teams[*].players.attributes[mode])", "ranked,ranked,ranked,casual");
    /* Repeated values of a string list count once (AWS). */
    expect_strings("set_intersection(flatten(teams[*].players.attributes[roles]))", "b");
    expect_strings("set_intersection(teams[red].players.attributes[roles])", "b");
    struct fm_val v = eval("avg(teams[green].players.attributes[skill])");
    ck_assert_int_eq(v.kind, FM_V_NONE);
}
END_TEST

static const struct {
    const char *text;
    const char *why;
} bad_expressions[] = {
    {"avg(teams[red].players.attributes[mode])", "numbers"},
    {"avg(teams[purple].players.attributes[skill])", "does not define"},
    {"avg(teams[red].players.attributes[rank])", "does not declare"},
    {"mean(teams[red].players.attributes[skill])", "expected a function"},
    {"avg(teams[red].players.attributes[skill]", "expected )"},
    {"avg(teams[red].players.attributes[skill])) ", "unexpected text"},
    {"avg(42)", "needs a list"},
    {"set_intersection(teams[red].players.attributes[skill])", "string lists"},
    {"teams[red].players[name]", "playerId"},
};

START_TEST(test_expression_errors)
{
    const char *why = NULL;
    ck_assert_ptr_null(fm_expr_parse(&arena, expr_rs, bad_expressions[_i].text, &why));
    ck_assert_msg(why != NULL && strstr(why, bad_expressions[_i].why) != NULL, "%s: %s",
                  bad_expressions[_i].text, why);
}
END_TEST

START_TEST(test_expression_growth)
{
    const char *why;
    ck_assert(fm_expr_grows(fm_expr_parse(&arena, expr_rs, "max(count(teams[*].players))", &why)));
    ck_assert(fm_expr_grows(
        fm_expr_parse(&arena, expr_rs, "sum(teams[red].players.attributes[skill])", &why)));
    ck_assert(!fm_expr_grows(
        fm_expr_parse(&arena, expr_rs, "avg(teams[red].players.attributes[skill])", &why)));
}
END_TEST

/* ---- rules ---------------------------------------------------------------- */

/* One rule on two teams of up to 3, attributes skill, roles, mode, char. */
static struct fm_ruleset *rule_rs(const char *rules)
{
    char *body = arena_sprintf(
        &arena,
        RS("\"playerAttributes\": [{\"name\": \"skill\", \"type\": \"number\", \"default\": 10}, "
           "{\"name\": \"roles\", \"type\": \"string_list\", \"default\": []}, {\"name\": "
           "\"mode\", "
           "\"type\": \"string\", \"default\": \"ranked\"}, {\"name\": \"prefs\", \"type\": "
           "\"string_number_map\", \"default\": {}}], \"teams\": [{\"name\": \"red\", "
           "\"maxPlayers\": 3, \"minPlayers\": 1}, {\"name\": \"blue\", \"maxPlayers\": 3, "
           "\"minPlayers\": 1}], \"rules\": [%s]"),
        rules);
    return load(body);
}

/* A ticket of one player per skill given (roles, mode by defaults). */
static struct fm_ticket *skills(const struct fm_ruleset *rs, const char *id, int n, const int *s)
{
    char buf[1024] = "[";
    for (int i = 0; i < n; i++) {
        char one[128];
        snprintf(one, sizeof(one),
                 "%s{\"PlayerId\": \"%s-%d\", \"PlayerAttributes\": {\"skill\": {\"N\": %d}}}",
                 i ? "," : "", id, i, s[i]);
        strcat(buf, one);
    }
    strcat(buf, "]");
    return ticket(rs, id, 100, buf);
}

static int check(struct fm_match *m, bool complete)
{
    return fm_rules_check(&arena, m, complete, NULL);
}

START_TEST(test_distance_rules)
{
    /* AWS's sample: each player within 10 of the team's average. */
    struct fm_ruleset *rs =
        rule_rs("{\"name\": \"FairSkill\", \"type\": \"distance\", \"measurements\": "
                "[\"teams[red].players.attributes[skill]\"], \"referenceValue\": "
                "\"avg(teams[red].players.attributes[skill])\", \"maxDistance\": 10}");
    struct fm_match m;
    fm_match_init(&m, rs);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){10}), 0);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){30}), 0); /* avg 20: both 10 away */
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, skills(rs, "c", 1, (int[]){50}), 0); /* avg 30: 10 is 20 away */
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_pop(&m);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* partyAggregation: a party of 10 and 30 counts as 20 (avg), 10 (min)
     * or 30 (max) against a reference of 22 +- 3. */
    static const char *const party[] = {"avg", "min", "max"};
    static const int want[] = {-1, 0, 0};
    for (int k = 0; k < 3; k++) {
        char *r = arena_sprintf(&arena,
                                "{\"name\": \"d\", \"type\": \"distance\", \"measurements\": "
                                "[\"flatten(teams[*].players.attributes[skill])\"], "
                                "\"referenceValue\": 22, \"maxDistance\": 3, \"partyAggregation\": "
                                "\"%s\"}",
                                party[k]);
        rs = rule_rs(r);
        fm_match_init(&m, rs);
        fm_match_push(&m, skills(rs, "p", 2, (int[]){10, 30}), 0);
        ck_assert_msg(check(&m, false) == want[k], "partyAggregation %s", party[k]);
        fm_match_free(&m);
        fm_ruleset_free(rs);
    }

    /* minDistance, and no referenceValue: values pairwise 5..20 apart. */
    rs = rule_rs("{\"name\": \"spread\", \"type\": \"distance\", \"measurements\": "
                 "[\"flatten(teams[*].players.attributes[skill])\"], \"minDistance\": 5, "
                 "\"maxDistance\": 20}");
    fm_match_init(&m, rs);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){10}), 0);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){20}), 1);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, skills(rs, "c", 1, (int[]){22}), 1); /* 2 from 20 */
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_pop(&m);
    fm_match_push(&m, skills(rs, "d", 1, (int[]){31}), 1); /* 21 from 10 */
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_team_average_rule_waits_for_players)
{
    /* Example 1's FairTeamSkill: an empty team has no average, so it is
     * not judged while building, and fails a complete match. */
    struct fm_ruleset *rs =
        rule_rs("{\"name\": \"FairTeamSkill\", \"type\": \"distance\", \"measurements\": "
                "[\"avg(teams[*].players.attributes[skill])\"], \"referenceValue\": "
                "\"avg(flatten(teams[*].players.attributes[skill]))\", \"maxDistance\": 10}");
    struct fm_match m;
    fm_match_init(&m, rs);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){10}), 0);
    ck_assert_int_eq(check(&m, false), -1);
    ck_assert_int_eq(check(&m, true), 0);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){40}), 1); /* 10 vs 40, avg 25: 15 off */
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_pop(&m);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){25}), 1); /* 10 vs 25: 7.5 off */
    ck_assert_int_eq(check(&m, false), -1);
    ck_assert_int_eq(check(&m, true), -1);
    fm_match_free(&m);
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_comparison_rules)
{
    /* Equal team sizes: decided only on a complete match. */
    struct fm_ruleset *rs = rule_rs(
        "{\"name\": \"EqualTeamSizes\", \"type\": \"comparison\", \"measurements\": "
        "[\"count(teams[red].players)\"], \"referenceValue\": \"count(teams[blue].players)\", "
        "\"operation\": \"=\"}");
    ck_assert(rs->rules[0].needs_complete);
    struct fm_match m;
    fm_match_init(&m, rs);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){10}), 0);
    ck_assert_int_eq(check(&m, false), -1);
    ck_assert_int_eq(check(&m, true), 0);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){10}), 1);
    ck_assert_int_eq(check(&m, true), -1);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* Against a reference: every player's skill >= 15. */
    rs = rule_rs("{\"name\": \"Seasoned\", \"type\": \"comparison\", \"measurements\": "
                 "[\"flatten(teams[*].players.attributes[skill])\"], \"referenceValue\": 15, "
                 "\"operation\": \">=\", \"partyAggregation\": \"min\"}");
    fm_match_init(&m, rs);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){15}), 0);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, skills(rs, "b", 2, (int[]){30, 14}), 1); /* min 14 */
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* Across players: all the same mode; all different skills. */
    rs = rule_rs("{\"name\": \"SameMode\", \"type\": \"comparison\", \"measurements\": "
                 "[\"flatten(teams[*].players.attributes[mode])\"], \"operation\": \"=\"}, "
                 "{\"name\": \"Distinct\", \"type\": \"comparison\", \"measurements\": "
                 "[\"flatten(teams[*].players.attributes[skill])\"], \"operation\": \"!=\"}");
    fm_match_init(&m, rs);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){1}), 0);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){2}), 1);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, skills(rs, "c", 1, (int[]){2}), 1);
    ck_assert_int_eq(check(&m, false), 1);
    fm_match_pop(&m);
    fm_match_push(&m,
                  ticket(rs, "d", 100,
                         "[{\"PlayerId\": \"d\", \"PlayerAttributes\": {\"skill\": {\"N\": 3}, "
                         "\"mode\": {\"S\": \"casual\"}}}]"),
                  1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);
}
END_TEST

static struct fm_ticket *roles(const struct fm_ruleset *rs, const char *id, const char *lists)
{
    /* lists: "a b|c" is two players with roles [a, b] and [c]. */
    char buf[1024] = "[";
    char *copy = arena_strdup(&arena, lists);
    int p = 0;
    for (char *save = NULL, *one = strtok_r(copy, "|", &save); one != NULL;
         one = strtok_r(NULL, "|", &save), p++) {
        char items[256] = "";
        for (char *s2 = NULL, *r = strtok_r(one, " ", &s2); r != NULL;
             r = strtok_r(NULL, " ", &s2)) {
            if (*items)
                strcat(items, ",");
            strcat(items, "\"");
            strcat(items, r);
            strcat(items, "\"");
        }
        char pl[400];
        snprintf(pl, sizeof(pl),
                 "%s{\"PlayerId\": \"%s-%d\", \"PlayerAttributes\": {\"roles\": {\"SL\": [%s]}}}",
                 p ? "," : "", id, p, items);
        strcat(buf, pl);
    }
    strcat(buf, "]");
    return ticket(rs, id, 100, buf);
}

START_TEST(test_collection_rules)
{
    /* Example 4: at least one role in common. */
    struct fm_ruleset *rs =
        rule_rs("{\"name\": \"Common\", \"type\": \"collection\", \"operation\": \"intersection\", "
                "\"measurements\": [\"flatten(teams[*].players.attributes[roles])\"], "
                "\"minCount\": 1}");
    struct fm_match m;
    fm_match_init(&m, rs);
    fm_match_push(&m, roles(rs, "a", "x y"), 0);
    fm_match_push(&m, roles(rs, "b", "y z"), 1);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, roles(rs, "c", "z"), 1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* Party union: a party of [x] and [z] offers x and z together. */
    rs =
        rule_rs("{\"name\": \"Common\", \"type\": \"collection\", \"operation\": \"intersection\", "
                "\"measurements\": [\"flatten(teams[*].players.attributes[roles])\"], "
                "\"minCount\": 1}");
    fm_match_init(&m, rs);
    fm_match_push(&m, roles(rs, "a", "x"), 0);
    fm_match_push(&m, roles(rs, "b", "q|x"), 1);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* Example 3: at most 2 medics; at least 1, judged when complete. */
    rs = rule_rs("{\"name\": \"Medics\", \"type\": \"collection\", \"operation\": \"contains\", "
                 "\"measurements\": [\"flatten(teams[*].players.attributes[roles])\"], "
                 "\"referenceValue\": \"medic\", \"minCount\": 1, \"maxCount\": 2}");
    fm_match_init(&m, rs);
    fm_match_push(&m, roles(rs, "a", "tank"), 0);
    ck_assert_int_eq(check(&m, false), -1);
    ck_assert_int_eq(check(&m, true), 0);
    /* A party is one collection (partyAggregation union): one medic. */
    fm_match_push(&m, roles(rs, "b", "medic|medic dps"), 1);
    ck_assert_int_eq(check(&m, true), -1);
    fm_match_push(&m, roles(rs, "c", "medic"), 1);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, roles(rs, "d", "medic"), 0);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* Example 11: nobody on anyone's block list (maxCount 0). */
    rs = rule_rs("{\"name\": \"Blocked\", \"type\": \"collection\", \"operation\": "
                 "\"reference_intersection_count\", \"measurements\": "
                 "[\"flatten(teams[*].players.attributes[roles])\"], \"referenceValue\": "
                 "[\"cheater\", \"griefer\"], \"maxCount\": 0}");
    fm_match_init(&m, rs);
    fm_match_push(&m, roles(rs, "a", "x"), 0);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, roles(rs, "b", "y griefer"), 1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);
}
END_TEST

static struct fm_ticket *located(const struct fm_ruleset *rs, const char *id, const char *lat)
{
    char *players =
        arena_sprintf(&arena, "[{\"PlayerId\": \"%s\", \"LatencyInMs\": {%s}}]", id, lat);
    return ticket(rs, id, 100, players);
}

START_TEST(test_latency_rule)
{
    struct fm_ruleset *rs =
        rule_rs("{\"name\": \"Fast\", \"type\": \"latency\", \"maxLatency\": 100, "
                "\"maxDistance\": 30, \"distanceReference\": \"min\"}");
    int east = fm_region_index("test-east"), west = fm_region_index("test-west");
    struct fm_match m;
    fm_match_init(&m, rs);
    fm_match_push(&m, located(rs, "a", "\"test-east\": 40, \"test-west\": 90"), 0);
    ck_assert_int_eq(check(&m, false), -1);
    ck_assert_int_eq(m.region, east);
    /* b is fast in the west only: west is the one location in common. */
    fm_match_push(&m, located(rs, "b", "\"test-east\": 150, \"test-west\": 70"), 1);
    ck_assert_int_eq(check(&m, false), -1);
    ck_assert_int_eq(m.region, west);
    /* c: 130 in the west is over maxLatency; nothing in common is left. */
    fm_match_push(&m, located(rs, "c", "\"test-east\": 20, \"test-west\": 130"), 1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_pop(&m);
    /* d: 95 in the west is within maxLatency but 25 + 30 from b's 70... */
    fm_match_push(&m, located(rs, "d", "\"test-west\": 95"), 1);
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_pop(&m);
    /* ...and 101 is over maxLatency. A ticket without latency cannot match. */
    fm_match_push(&m, located(rs, "e", "\"test-west\": 101"), 1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_pop(&m);
    fm_match_push(&m, located(rs, "f", ""), 1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* maxDistance from the minimum: 40 and 71 are 31 apart. */
    rs = rule_rs("{\"name\": \"Close\", \"type\": \"latency\", \"maxDistance\": 30}");
    fm_match_init(&m, rs);
    fm_match_push(&m, located(rs, "a", "\"test-east\": 40"), 0);
    fm_match_push(&m, located(rs, "b", "\"test-east\": 71"), 1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_batch_distance_and_compound)
{
    struct fm_ruleset *rs =
        rule_rs("{\"name\": \"Skill\", \"type\": \"batchDistance\", \"batchAttribute\": \"skill\", "
                "\"maxDistance\": 5}, {\"name\": \"Mode\", \"type\": \"batchDistance\", "
                "\"batchAttribute\": \"mode\"}");
    struct fm_match m;
    fm_match_init(&m, rs);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){10}), 0);
    fm_match_push(&m, skills(rs, "b", 2, (int[]){12, 18}), 1); /* party avg 15 */
    ck_assert_int_eq(check(&m, false), -1);
    fm_match_push(&m, skills(rs, "c", 1, (int[]){16}), 1);
    ck_assert_int_eq(check(&m, false), 0);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    /* or(and(Serious, Close), and(not(Serious), Loose)): the rules used by a
     * compound are not mandatory on their own. */
    rs = rule_rs(
        "{\"name\": \"Serious\", \"type\": \"comparison\", \"measurements\": "
        "[\"flatten(teams[*].players.attributes[skill])\"], \"referenceValue\": 50, "
        "\"operation\": \">=\"}, {\"name\": \"Close\", \"type\": \"distance\", \"measurements\": "
        "[\"flatten(teams[*].players.attributes[skill])\"], \"maxDistance\": 5}, {\"name\": "
        "\"Loose\", \"type\": \"distance\", \"measurements\": "
        "[\"flatten(teams[*].players.attributes[skill])\"], \"maxDistance\": 30}, {\"name\": "
        "\"Either\", \"type\": \"compound\", \"statement\": \"or(and(Serious, Close), "
        "and(not(Serious), Loose))\"}, {\"name\": \"OneOf\", \"type\": \"compound\", "
        "\"statement\": \"xor(Close, Loose)\"}");
    ck_assert(rs->rules[0].in_compound && rs->rules[1].in_compound && rs->rules[2].in_compound);
    ck_assert(!rs->rules[3].in_compound);
    fm_match_init(&m, rs);
    struct fm_rule_metrics metrics[5] = {{0}};
    fm_match_push(&m, skills(rs, "a", 1, (int[]){60}), 0);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){63}), 1); /* serious and close; xor fails */
    ck_assert_int_eq(fm_rules_check(&arena, &m, false, metrics), 4);
    fm_match_pop(&m);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){80}), 1); /* serious, loose only: fails Either */
    ck_assert_int_eq(fm_rules_check(&arena, &m, false, metrics), 3);
    fm_match_clear(&m);
    fm_match_push(&m, skills(rs, "a", 1, (int[]){10}), 0);
    fm_match_push(&m, skills(rs, "b", 1, (int[]){30}), 1); /* casual and loose */
    ck_assert_int_eq(fm_rules_check(&arena, &m, false, metrics), -1);
    ck_assert_uint_eq(metrics[3].passed, 2);
    ck_assert_uint_eq(metrics[3].failed, 1);
    ck_assert_uint_eq(metrics[4].failed, 1);
    ck_assert_uint_eq(metrics[4].passed, 1);
    fm_match_free(&m);
    fm_ruleset_free(rs);
}
END_TEST

/* Which rules may be mended by dealing the same tickets to teams again:
 * those that name some teams, or aggregate each team apart. */
START_TEST(test_rules_that_look_at_teams)
{
    struct fm_ruleset *rs = rule_rs(
        "{\"name\": \"FairTeams\", \"type\": \"distance\", \"measurements\": "
        "[\"avg(teams[*].players.attributes[skill])\"], \"referenceValue\": "
        "\"avg(flatten(teams[*].players.attributes[skill]))\", \"maxDistance\": 10}, "
        "{\"name\": \"EqualSizes\", \"type\": \"comparison\", \"measurements\": "
        "[\"count(teams[red].players)\"], \"referenceValue\": \"count(teams[blue].players)\", "
        "\"operation\": \"=\"}, {\"name\": \"Everyone\", \"type\": \"distance\", "
        "\"measurements\": [\"teams[*].players.attributes[skill]\"], \"referenceValue\": 10, "
        "\"maxDistance\": 5}, {\"name\": \"Overall\", \"type\": \"comparison\", "
        "\"measurements\": [\"avg(flatten(teams[*].players.attributes[skill]))\"], "
        "\"referenceValue\": 50, \"operation\": \"<\"}, {\"name\": \"Roles\", \"type\": "
        "\"collection\", \"operation\": \"intersection\", \"measurements\": "
        "[\"set_intersection(teams[*].players.attributes[roles])\"], \"minCount\": 1}, "
        "{\"name\": \"Mode\", \"type\": \"batchDistance\", \"batchAttribute\": \"mode\"}, "
        "{\"name\": \"Fast\", \"type\": \"latency\", \"maxLatency\": 100}, {\"name\": "
        "\"Either\", \"type\": \"compound\", \"statement\": \"or(Overall, FairTeams)\"}, "
        "{\"name\": \"Both\", \"type\": \"compound\", \"statement\": \"and(Everyone, "
        "Fast)\"}");
    static const bool by_team[] = {true, true, false, false, true, false, false, true, false};
    ck_assert_uint_eq(rs->nrules, sizeof(by_team) / sizeof(by_team[0]));
    for (size_t i = 0; i < rs->nrules; i++)
        ck_assert_msg(rs->rules[i].by_team == by_team[i], "%s", rs->rules[i].name);
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_sort_values)
{
    struct fm_ruleset *rs =
        rule_rs("{\"name\": \"Near\", \"type\": \"distanceSort\", \"sortAttribute\": \"skill\"}, "
                "{\"name\": \"Top\", \"type\": \"absoluteSort\", \"sortAttribute\": \"skill\", "
                "\"sortDirection\": \"descending\"}, {\"name\": \"Map\", \"type\": "
                "\"absoluteSort\", \"sortAttribute\": \"prefs\", \"mapKey\": \"maxValue\"}");
    struct fm_ticket *anchor = skills(rs, "a", 1, (int[]){50});
    struct fm_ticket *low = skills(rs, "l", 1, (int[]){40});
    struct fm_ticket *high = skills(rs, "h", 1, (int[]){65});
    ck_assert_double_eq(fm_sort_value(rs, 0, anchor, low), 10);
    ck_assert_double_eq(fm_sort_value(rs, 0, anchor, high), 15);
    ck_assert_double_eq(fm_sort_value(rs, 1, anchor, high), -65);
    /* mapKey maxValue: the anchor's favourite key (dust), read from others. */
    struct fm_ticket *am = ticket(rs, "am", 100,
                                  "[{\"PlayerId\": \"x\", \"PlayerAttributes\": {\"prefs\": "
                                  "{\"SDM\": {\"dust\": 9, \"ice\": 2}}}}]");
    struct fm_ticket *bm = ticket(rs, "bm", 100,
                                  "[{\"PlayerId\": \"y\", \"PlayerAttributes\": {\"prefs\": "
                                  "{\"SDM\": {\"dust\": 4, \"ice\": 7}}}}]");
    ck_assert_double_eq(fm_sort_value(rs, 2, am, bm), 4);
    ck_assert(isinf(fm_sort_value(rs, 2, am, low))); /* no dust at all: last */
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_expansions)
{
    struct fm_ruleset *rs =
        load(RS(SKILL ", \"teams\": [{\"name\": \"red\", \"maxPlayers\": 4, \"minPlayers\": 4}, "
                      "{\"name\": \"blue\", \"maxPlayers\": 4, \"minPlayers\": 4}], \"rules\": "
                      "[{\"name\": \"SkillDelta\", \"type\": \"distance\", \"measurements\": "
                      "[\"flatten(teams[*].players.attributes[skill])\"], \"maxDistance\": 5}], "
                      "\"expansions\": [{\"target\": \"rules[SkillDelta].maxDistance\", "
                      "\"steps\": [{\"waitTimeSeconds\": 15, \"value\": 10}, {\"waitTimeSeconds\": "
                      "25, \"value\": 20}]}, {\"target\": \"teams[red, blue].minPlayers\", "
                      "\"steps\": [{\"waitTimeSeconds\": 30, \"value\": 2}]}]"));
    struct fm_match m;
    fm_match_init(&m, rs);
    struct fm_ticket *old = skills(rs, "o", 1, (int[]){10});
    struct fm_ticket *young = skills(rs, "y", 1, (int[]){10});
    old->created = 1000;
    young->created = 1020;
    fm_match_push(&m, old, 0);
    static const struct {
        double now, delta;
    } steps[] = {{1010, 5}, {1014.9, 5}, {1015, 10}, {1024, 10}, {1025, 20}, {1100, 20}};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        fm_match_expand(&m, steps[i].now);
        ck_assert_double_eq(m.props[FM_P_MAX_DISTANCE], steps[i].delta);
    }
    ck_assert_int_eq(m.team_min[0], 2);
    ck_assert_int_eq(m.team_min[1], 2);
    fm_match_expand(&m, 1029);
    ck_assert_int_eq(m.team_min[1], 4);
    /* The newest ticket restarts the clock (expansionAgeSelection newest). */
    fm_match_push(&m, young, 1);
    fm_match_expand(&m, 1030);
    ck_assert_double_eq(m.props[FM_P_MAX_DISTANCE], 5);
    fm_match_free(&m);
    fm_ruleset_free(rs);

    rs = load(RS(SKILL ", " TEAMS ", \"algorithm\": {\"expansionAgeSelection\": \"oldest\"}, "
                       "\"rules\": [{\"name\": \"d\", \"type\": \"distance\", \"measurements\": "
                       "[\"flatten(teams[*].players.attributes[skill])\"], \"maxDistance\": 5}], "
                       "\"expansions\": [{\"target\": \"rules[d].maxDistance\", \"steps\": "
                       "[{\"waitTimeSeconds\": 15, \"value\": 10}]}]"));
    fm_match_init(&m, rs);
    fm_match_push(&m, old, 0);
    fm_match_push(&m, young, 1);
    fm_match_expand(&m, 1016); /* oldest is 16 s old */
    ck_assert_double_eq(m.props[FM_P_MAX_DISTANCE], 10);
    fm_match_free(&m);
    fm_ruleset_free(rs);
}
END_TEST

START_TEST(test_ticket_attributes)
{
    struct fm_ruleset *rs = load(EXPR_RS);
    struct fm_ticket t;
    const char *why = NULL;
    json_t *pj = json_loads("[{\"PlayerId\": \"x\", \"PlayerAttributes\": {\"skill\": {\"S\": "
                            "\"ten\"}}}]",
                            0, NULL);
    ck_assert_int_eq(fm_ticket_from_json(&arena, rs, pj, &t, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "type"));
    json_decref(pj);
    pj = json_loads("[{\"PlayerId\": \"x\"}]", 0, NULL); /* skill has no default */
    ck_assert_int_eq(fm_ticket_from_json(&arena, rs, pj, &t, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "default"));
    json_decref(pj);
    fm_ruleset_free(rs);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("flexmatch");
    TCase *tc = tcase_create("ruleset");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_shipped_rule_sets_load);
    tcase_add_test(tc, test_minimal_and_doc_forms);
    tcase_add_loop_test(tc, test_refused_rule_sets, 0, NREFUSED);
    tcase_add_test(tc, test_expansion_within_request_timeout);
    suite_add_tcase(s, tc);

    tc = tcase_create("expressions");
    tcase_add_checked_fixture(tc, expr_setup, expr_teardown);
    tcase_add_test(tc, test_expression_values);
    tcase_add_loop_test(tc, test_expression_errors, 0,
                        (int)(sizeof(bad_expressions) / sizeof(bad_expressions[0])));
    tcase_add_test(tc, test_expression_growth);
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_distance_rules);
    tcase_add_test(tc, test_team_average_rule_waits_for_players);
    tcase_add_test(tc, test_comparison_rules);
    tcase_add_test(tc, test_collection_rules);
    tcase_add_test(tc, test_latency_rule);
    tcase_add_test(tc, test_batch_distance_and_compound);
    tcase_add_test(tc, test_rules_that_look_at_teams);
    tcase_add_test(tc, test_sort_values);
    tcase_add_test(tc, test_expansions);
    tcase_add_test(tc, test_ticket_attributes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
